//! Header keywords: addresses and ports (both ways for `<>`), `flow`, `dsize`, `ttl`,
//! `itype`, `icode`, `ip_proto` and `flags`, with Suricata's semantics.

use super::AppProto;
use capture::decode::{tcp_flags, Packet, L4};

use super::FlowInfo;
use crate::rules::{FlagsMatch, FlagsModifier, FlowMatch, NumMatch, Rule};

/// Addresses and ports in the rule's direction, or the other way round for `<>`. The
/// engine normalized every rule's address sets when it was built.
pub(crate) fn addresses_ports(rule: &Rule, pkt: &Packet<'_>) -> bool {
    addresses_ports_on(rule, pkt, super::groups::BOTH_SIDES)
}

/// [`addresses_ports`] in the orientations `sides` allows (bit 0 as written, bit 1
/// swapped, for `<>`; see `groups::to_client_sides`).
pub(crate) fn addresses_ports_on(rule: &Rule, pkt: &Packet<'_>, sides: u8) -> bool {
    let (sp, dp) = (pkt.src_port(), pkt.dst_port());
    let fwd = sides & 1 != 0
        && rule.src.contains_normalized(&pkt.src)
        && rule.dst.contains_normalized(&pkt.dst)
        && rule.src_ports.contains(sp)
        && rule.dst_ports.contains(dp);
    fwd || (rule.bidirectional
        && sides & 2 != 0
        && rule.src.contains_normalized(&pkt.dst)
        && rule.dst.contains_normalized(&pkt.src)
        && rule.src_ports.contains(dp)
        && rule.dst_ports.contains(sp))
}

/// Suricata's `FlagsMatch` (detect-flags.c); `Not` is "not all of these", as its code does.
pub(crate) fn flags(f: &FlagsMatch, pkt_flags: u8) -> bool {
    if f.flags == 0 && pkt_flags != 0 {
        return f.modifier == FlagsModifier::Not;
    }
    let v = pkt_flags & !f.ignore;
    match f.modifier {
        FlagsModifier::Any => v & f.flags != 0,
        FlagsModifier::All => v & f.flags == f.flags,
        FlagsModifier::Not => v & f.flags != f.flags,
        FlagsModifier::Exact => v == f.flags,
    }
}

/// Suricata 7's signature mask for `flags` (`SignatureCreateMask`): a rule naming SYN, RST
/// or FIN runs only on packets carrying one of those three, and one naming URG, ECE or CWR
/// only on packets carrying one of those, whatever the modifier. So `flags:!S` matches
/// FIN and RST packets without SYN, never a bare ACK, and `flags:!U` matches nothing
/// ordinary. The ignored flags after the comma take no part.
pub(crate) fn flags_mask(f: &FlagsMatch, pkt_flags: u8) -> bool {
    const INIT_DEINIT: u8 = tcp_flags::SYN | tcp_flags::RST | tcp_flags::FIN;
    const UNUSUAL: u8 = tcp_flags::URG | tcp_flags::ECE | tcp_flags::CWR;
    [INIT_DEINIT, UNUSUAL]
        .iter()
        .all(|&class| f.flags & class == 0 || pkt_flags & class != 0)
}

/// Whether Suricata files the rule as needing SYN packets
/// (`DetectFlagsSignatureNeedsSynPackets`: a `flags` naming SYN without `!`). A rule of
/// that kind without a prefilter pattern is verified on SYN packets only (its
/// non-prefilter list for others leaves it out), so `flags:*SF;` alone never matches a
/// FIN without SYN.
pub(crate) fn needs_syn_packets(rule: &Rule) -> bool {
    rule.flags
        .iter()
        .any(|f| f.modifier != FlagsModifier::Not && f.flags & tcp_flags::SYN != 0)
}

fn flow(f: &FlowMatch, info: &FlowInfo) -> bool {
    f.to_server.is_none_or(|ts| ts == info.to_server)
        && f.established
            .is_none_or(|e| !info.flowless && e == info.established)
}

/// Whether Suricata 7 counts a `dsize` as a payload keyword (`SIG_MASK_REQUIRE_PAYLOAD`:
/// `!=`, `>`, `>=`, a range, or `=` above 0). Such a rule never matches a packet whose
/// payload is not inspected.
fn dsize_needs_payload(m: NumMatch) -> bool {
    match m {
        NumMatch::Ne(_) | NumMatch::Gt(_) | NumMatch::Ge(_) | NumMatch::Between(..) => true,
        NumMatch::Eq(n) => n > 0,
        NumMatch::Lt(_) | NumMatch::Le(_) => false,
    }
}

/// Whether Suricata 7 counts a `dsize` as wanting no payload (`SIG_MASK_REQUIRE_NO_PAYLOAD`:
/// `dsize:0`). Such a rule is skipped on an empty TCP packet whose stream has bytes to
/// inspect at it: Suricata gives that packet the payload mask instead.
fn dsize_needs_no_payload(m: NumMatch) -> bool {
    matches!(m, NumMatch::Eq(0))
}

/// Every non-payload keyword of the rule, addresses and ports included.
pub(crate) fn matches(rule: &Rule, pkt: &Packet<'_>, info: &FlowInfo) -> bool {
    if !addresses_ports(rule, pkt) || !flow(&rule.flow, info) {
        return false;
    }
    // An app-layer rule needs its protocol on the flow (Suricata's `s->alproto` check).
    let needs = match rule.proto {
        crate::rules::Proto::Dns => AppProto::Dns,
        crate::rules::Proto::Tls => AppProto::Tls,
        crate::rules::Proto::Http => AppProto::Http,
        _ => AppProto::Unknown,
    };
    if needs != AppProto::Unknown && info.app != needs {
        return false;
    }
    // Suricata skips a rule needing a payload when the packet has none to inspect: a
    // tunnel's outer packet, or an empty one, unless (TCP) its stream has bytes to
    // inspect at it.
    let no_payload =
        info.header_only || ((pkt.payload.is_empty() || info.payload_unread) && !info.stream_data);
    if rule.dsize.is_some_and(|m| {
        !m.matches(pkt.payload.len() as u64)
            || if no_payload {
                dsize_needs_payload(m)
            } else {
                dsize_needs_no_payload(m)
            }
    }) {
        return false;
    }
    if !rule.ttl.iter().all(|m| m.matches(pkt.ttl as u64)) {
        return false;
    }
    if rule
        .ip_proto
        .is_some_and(|m| !m.0.matches(pkt.ip_proto as u64))
    {
        return false;
    }
    if !rule.itype.is_empty() || !rule.icode.is_empty() {
        let (L4::Icmp(h) | L4::Icmpv6(h)) = pkt.l4 else {
            return false;
        };
        if !rule.itype.iter().all(|m| m.matches(h.icmp_type as u64))
            || !rule.icode.iter().all(|m| m.matches(h.code as u64))
        {
            return false;
        }
    }
    if !rule.stream_size.is_empty()
        && !info
            .stream_size
            .is_some_and(|sizes| rule.stream_size.iter().all(|m| m.matches(sizes)))
    {
        return false;
    }
    if !rule.flags.is_empty() {
        let Some(tcp) = pkt.tcp() else {
            return false;
        };
        if !rule
            .flags
            .iter()
            .all(|f| flags_mask(f, tcp.flags) && flags(f, tcp.flags))
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::decode::tcp_flags::*;

    type Row = (u8, u8, FlagsModifier, u8, bool);

    fn check(rows: &[Row], f: fn(&FlagsMatch, u8) -> bool) {
        for &(fl, ignore, modifier, pkt, want) in rows {
            let m = FlagsMatch {
                flags: fl,
                ignore,
                modifier,
            };
            assert_eq!(f(&m, pkt), want, "{m:?} on {pkt:#04x}");
        }
    }

    #[test]
    fn flags_table() {
        let rows: &[Row] = &[
            // rule flags, ignore, modifier, packet flags, want
            (SYN, 0, FlagsModifier::Exact, SYN, true),
            (SYN, 0, FlagsModifier::Exact, SYN | ACK, false),
            (SYN, ECE | CWR, FlagsModifier::Exact, SYN | ECE | CWR, true),
            (SYN | ACK, 0, FlagsModifier::All, SYN | ACK | PSH, true),
            (SYN | ACK, 0, FlagsModifier::All, SYN, false),
            (SYN | FIN, 0, FlagsModifier::Any, FIN | ACK, true),
            (SYN | FIN, 0, FlagsModifier::Any, ACK, false),
            (SYN, 0, FlagsModifier::Not, ACK, true),
            (SYN, 0, FlagsModifier::Not, SYN | ACK, false),
            (SYN | ACK, 0, FlagsModifier::Not, SYN, true),
            (0, 0, FlagsModifier::Exact, 0, true),
            (0, 0, FlagsModifier::Exact, ACK, false),
            (0, 0, FlagsModifier::Not, ACK, true),
        ];
        check(rows, flags);
    }

    #[test]
    fn flags_mask_table() {
        // Suricata 7's signature mask, checked with suricata -r on the golden pcaps.
        let rows: &[Row] = &[
            // rule flags, ignore, modifier, packet flags, passes the mask
            (SYN, 0, FlagsModifier::Not, ACK, false),
            (SYN, 0, FlagsModifier::Not, FIN | ACK, true),
            (SYN, 0, FlagsModifier::Not, RST, true),
            (SYN, CWR | ECE, FlagsModifier::Not, PSH | ACK, false),
            (URG, 0, FlagsModifier::Not, SYN, false),
            (URG, 0, FlagsModifier::Not, SYN | ECE | CWR, true),
            (ACK, 0, FlagsModifier::Not, PSH | ACK, true),
            (PSH, 0, FlagsModifier::Any, ACK, true),
            (SYN | URG, 0, FlagsModifier::Any, SYN, false),
            (SYN | URG, 0, FlagsModifier::Any, FIN | URG, true),
            (0, 0, FlagsModifier::Exact, 0, true),
        ];
        check(rows, flags_mask);
    }
}
