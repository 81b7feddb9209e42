//! Wrapping crafted packets in the encapsulations mirrored and cloud traffic arrives in
//! (GRE, ERSPAN I/II/III, VXLAN, GENEVE, MPLS, IP-in-IP), for the tunnel golden pcaps and
//! decoder tests.
//!
//! [`Encap::wrap`] takes an inner packet (raw IP, or an Ethernet frame) and writes one
//! Ethernet frame carrying it; wrapping the result again (its IP part with
//! [`Inner::Ip`]`(&frame[14..])`, or the whole frame with [`Inner::Ethernet`]) nests
//! tunnels. Outer headers are built with [`crate::craft::FrameSpec`], so lengths and
//! checksums are right.

use crate::craft::{fold, ones_add, EthSpec, FrameSpec, L4Spec};
use std::net::IpAddr;

/// EtherTypes / GRE protocol types written here.
pub mod proto_type {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const TEB: u16 = 0x6558;
    pub const ERSPAN: u16 = 0x88be;
    pub const ERSPAN3: u16 = 0x22eb;
    pub const MPLS: u16 = 0x8847;
}

/// What is being wrapped.
#[derive(Clone, Copy, Debug)]
pub enum Inner<'a> {
    /// An IPv4 or IPv6 packet (version from the first nibble).
    Ip(&'a [u8]),
    /// A whole Ethernet frame.
    Ethernet(&'a [u8]),
}

/// The outer IP header of a tunnel: addresses (both of one family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// One encapsulation.
#[derive(Clone, Copy, Debug)]
pub enum Encap<'a> {
    /// GRE version 0: IP inner as 0x0800/0x86DD, Ethernet inner as transparent Ethernet
    /// bridging (0x6558). With `checksum` the GRE checksum is written.
    Gre {
        outer: Outer,
        checksum: bool,
        key: Option<u32>,
        seq: Option<u32>,
    },
    /// ERSPAN type I: GRE 0x88BE, no sequence number, no ERSPAN header.
    ErspanI { outer: Outer },
    /// ERSPAN type II: GRE 0x88BE with a sequence number and the 8-byte header.
    ErspanII {
        outer: Outer,
        session: u16,
        seq: u32,
    },
    /// ERSPAN type III: GRE 0x22EB with a sequence number and the 12-byte header.
    ErspanIII {
        outer: Outer,
        session: u16,
        seq: u32,
    },
    Vxlan {
        outer: Outer,
        src_port: u16,
        dst_port: u16,
        vni: u32,
    },
    /// GENEVE with `option_words` 4-byte words of options (one TLV of that length).
    Geneve {
        outer: Outer,
        src_port: u16,
        dst_port: u16,
        vni: u32,
        option_words: u8,
    },
    /// An MPLS label stack over Ethernet, outermost label first; an Ethernet inner is a
    /// pseudowire with a zero control word.
    Mpls { labels: &'a [u32] },
    /// IPv4 (protocol 4) or IPv6 (protocol 41) in an outer IPv4 or IPv6 header.
    IpInIp { outer: Outer },
}

/// The default Ethernet header put around an IP packet that a tunnel carries as Ethernet.
const INNER_ETH: EthSpec = EthSpec {
    src: [0x02, 0, 0, 0, 0x77, 0x01],
    dst: [0x02, 0, 0, 0, 0x77, 0x02],
    vlans: [0; 2],
    vlan_count: 0,
};

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;

fn ip_type(ip: &[u8]) -> u16 {
    if ip.first().map(|b| b >> 4) == Some(6) {
        proto_type::IPV6
    } else {
        proto_type::IPV4
    }
}

/// An Ethernet frame for `inner` (given one, or the default header around an IP packet).
fn as_ethernet(inner: Inner<'_>, out: &mut Vec<u8>) {
    match inner {
        Inner::Ethernet(f) => out.extend_from_slice(f),
        Inner::Ip(ip) => {
            out.extend_from_slice(&INNER_ETH.dst);
            out.extend_from_slice(&INNER_ETH.src);
            out.extend_from_slice(&ip_type(ip).to_be_bytes());
            out.extend_from_slice(ip);
        }
    }
}

/// An Ethernet frame (fixed MAC addresses) around an IP packet, for tunnels that carry
/// Ethernet.
pub fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ip.len() + 14);
    as_ethernet(Inner::Ip(ip), &mut out);
    out
}

impl Encap<'_> {
    /// Clears `out` and writes one Ethernet frame carrying `inner` in this encapsulation.
    pub fn wrap(&self, inner: Inner<'_>, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(64 + inner_len(inner));
        match *self {
            Encap::Gre {
                outer,
                checksum,
                key,
                seq,
            } => {
                let (ptype, data) = match inner {
                    Inner::Ip(ip) => (ip_type(ip), ip),
                    Inner::Ethernet(f) => (proto_type::TEB, f),
                };
                gre_header(&mut body, ptype, checksum, key, seq);
                body.extend_from_slice(data);
                if checksum {
                    let c = fold(ones_add(0, &body));
                    body[4..6].copy_from_slice(&c.to_be_bytes());
                }
                outer_ip(outer, L4Spec::Raw { proto: IPPROTO_GRE }, &body, out);
            }
            Encap::ErspanI { outer } => {
                gre_header(&mut body, proto_type::ERSPAN, false, None, None);
                as_ethernet(inner, &mut body);
                outer_ip(outer, L4Spec::Raw { proto: IPPROTO_GRE }, &body, out);
            }
            Encap::ErspanII {
                outer,
                session,
                seq,
            } => {
                gre_header(&mut body, proto_type::ERSPAN, false, None, Some(seq));
                // Version 1, VLAN 0; COS 0, En 3 (tags preserved), T 0, session id.
                body.extend_from_slice(&0x1000u16.to_be_bytes());
                body.extend_from_slice(&(0x1800 | (session & 0x03ff)).to_be_bytes());
                body.extend_from_slice(&[0, 0, 0, 1]);
                as_ethernet(inner, &mut body);
                outer_ip(outer, L4Spec::Raw { proto: IPPROTO_GRE }, &body, out);
            }
            Encap::ErspanIII {
                outer,
                session,
                seq,
            } => {
                gre_header(&mut body, proto_type::ERSPAN3, false, None, Some(seq));
                // Version 2, VLAN 0; session id; timestamp; SGT 0, flags 0 (no subheader).
                body.extend_from_slice(&0x2000u16.to_be_bytes());
                body.extend_from_slice(&(session & 0x03ff).to_be_bytes());
                body.extend_from_slice(&0x0102_0304u32.to_be_bytes());
                body.extend_from_slice(&[0, 0, 0, 0]);
                as_ethernet(inner, &mut body);
                outer_ip(outer, L4Spec::Raw { proto: IPPROTO_GRE }, &body, out);
            }
            Encap::Vxlan {
                outer,
                src_port,
                dst_port,
                vni,
            } => {
                body.extend_from_slice(&[0x08, 0, 0, 0]);
                body.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
                as_ethernet(inner, &mut body);
                outer_ip(outer, L4Spec::Udp { src_port, dst_port }, &body, out);
            }
            Encap::Geneve {
                outer,
                src_port,
                dst_port,
                vni,
                option_words,
            } => {
                let words = option_words & 0x3f;
                body.push(words);
                body.push(0);
                body.extend_from_slice(&proto_type::TEB.to_be_bytes());
                body.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
                if words > 0 {
                    // One option TLV: class 0x0101, type 0x01, length in words (minus the
                    // 4-byte option header), data zero.
                    body.extend_from_slice(&[0x01, 0x01, 0x01, (words - 1) & 0x1f]);
                    body.resize(body.len() + usize::from(words - 1) * 4, 0);
                }
                as_ethernet(inner, &mut body);
                outer_ip(outer, L4Spec::Udp { src_port, dst_port }, &body, out);
            }
            Encap::Mpls { labels } => {
                out.clear();
                out.extend_from_slice(&INNER_ETH.dst);
                out.extend_from_slice(&[0x02, 0, 0, 0, 0x88, 0x01]);
                out.extend_from_slice(&proto_type::MPLS.to_be_bytes());
                for (i, l) in labels.iter().enumerate() {
                    let bos = if i + 1 == labels.len() { 0x100 } else { 0 };
                    let entry = ((l & 0x000f_ffff) << 12) | bos | 64;
                    out.extend_from_slice(&entry.to_be_bytes());
                }
                match inner {
                    Inner::Ip(ip) => out.extend_from_slice(ip),
                    Inner::Ethernet(f) => {
                        out.extend_from_slice(&[0, 0, 0, 0]);
                        out.extend_from_slice(f);
                    }
                }
            }
            Encap::IpInIp { outer } => {
                let ip = match inner {
                    Inner::Ip(ip) => ip,
                    // IP-in-IP carries IP: an Ethernet frame's IP part is used.
                    Inner::Ethernet(f) => f.get(14..).unwrap_or_default(),
                };
                let proto = if ip_type(ip) == proto_type::IPV6 {
                    IPPROTO_IPV6
                } else {
                    IPPROTO_IPIP
                };
                outer_ip(outer, L4Spec::Raw { proto }, ip, out);
            }
        }
    }
}

fn inner_len(inner: Inner<'_>) -> usize {
    match inner {
        Inner::Ip(b) | Inner::Ethernet(b) => b.len() + 14,
    }
}

/// The GRE header: flags, protocol, then checksum (zero for now), key and sequence.
fn gre_header(out: &mut Vec<u8>, ptype: u16, checksum: bool, key: Option<u32>, seq: Option<u32>) {
    let mut flags = 0u16;
    if checksum {
        flags |= 0x8000;
    }
    if key.is_some() {
        flags |= 0x2000;
    }
    if seq.is_some() {
        flags |= 0x1000;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&ptype.to_be_bytes());
    if checksum {
        out.extend_from_slice(&[0, 0, 0, 0]);
    }
    if let Some(k) = key {
        out.extend_from_slice(&k.to_be_bytes());
    }
    if let Some(s) = seq {
        out.extend_from_slice(&s.to_be_bytes());
    }
}

/// The outer Ethernet + IP (+ UDP) frame around `body`.
fn outer_ip(outer: Outer, l4: L4Spec, body: &[u8], out: &mut Vec<u8>) {
    FrameSpec::ip(outer.src, outer.dst, l4)
        .payload(body)
        .ttl(62)
        .write(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{tcp_flags, TcpSpec};
    use crate::decode::{decode, DecodeReason, LinkType, TunnelKind, L4};

    fn inner_tcp(v6: bool) -> Vec<u8> {
        let (s, d): (IpAddr, IpAddr) = if v6 {
            ("fd00:77::1".parse().unwrap(), "fd00:77::2".parse().unwrap())
        } else {
            ("10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap())
        };
        let mut out = Vec::new();
        FrameSpec::ip(s, d, L4Spec::Tcp(TcpSpec::new(40000, 8080, tcp_flags::ACK)))
            .payload(b"inner payload")
            .raw_ip()
            .write(&mut out);
        out
    }

    fn outer(v6: bool) -> Outer {
        if v6 {
            Outer {
                src: "2001:db8::1".parse().unwrap(),
                dst: "2001:db8::2".parse().unwrap(),
            }
        } else {
            Outer {
                src: "198.51.100.1".parse().unwrap(),
                dst: "198.51.100.2".parse().unwrap(),
            }
        }
    }

    /// Every encapsulation decodes to the inner TCP packet, with the outer tunnel
    /// recorded; truncating the frame anywhere yields an error or a packet, never a panic.
    #[test]
    fn every_encapsulation_decodes_to_the_inner_packet() {
        let o = outer(false);
        let cases: Vec<(Encap<'_>, TunnelKind, Option<u32>)> = vec![
            (
                Encap::Gre {
                    outer: o,
                    checksum: true,
                    key: Some(7),
                    seq: Some(9),
                },
                TunnelKind::Gre,
                Some(7),
            ),
            (Encap::ErspanI { outer: o }, TunnelKind::ErspanI, None),
            (
                Encap::ErspanII {
                    outer: o,
                    session: 100,
                    seq: 1,
                },
                TunnelKind::ErspanII,
                Some(100),
            ),
            (
                Encap::ErspanIII {
                    outer: o,
                    session: 200,
                    seq: 1,
                },
                TunnelKind::ErspanIII,
                Some(200),
            ),
            (
                Encap::Vxlan {
                    outer: o,
                    src_port: 50000,
                    dst_port: 4789,
                    vni: 0x123456,
                },
                TunnelKind::Vxlan,
                Some(0x123456),
            ),
            (
                Encap::Geneve {
                    outer: o,
                    src_port: 50000,
                    dst_port: 6081,
                    vni: 42,
                    option_words: 2,
                },
                TunnelKind::Geneve,
                Some(42),
            ),
            (
                Encap::Mpls { labels: &[16, 17] },
                TunnelKind::Mpls,
                Some(17),
            ),
            (Encap::IpInIp { outer: o }, TunnelKind::IpInIp, None),
        ];
        for v6 in [false, true] {
            let ip = inner_tcp(v6);
            for (e, kind, id) in &cases {
                let mut frame = Vec::new();
                e.wrap(Inner::Ip(&ip), &mut frame);
                let p = decode(LinkType::Ethernet, &frame, true).unwrap();
                assert_eq!(p.is_ipv6(), v6, "{kind:?}");
                assert_eq!(p.dst_port(), 8080, "{kind:?}");
                assert_eq!(p.payload, b"inner payload", "{kind:?}");
                assert!(matches!(p.l4, L4::Tcp(_)));
                let t = p.tunnel.unwrap();
                let want = if *kind == TunnelKind::IpInIp && v6 {
                    TunnelKind::Ipv6InIp
                } else {
                    *kind
                };
                assert_eq!(t.kind, want);
                assert_eq!(t.id, *id, "{kind:?}");
                if *kind == TunnelKind::Mpls {
                    assert_eq!((t.src, t.depth), (None, 0));
                } else {
                    assert_eq!(t.src, Some(o.src));
                    assert_eq!(t.dst, Some(o.dst));
                    assert_eq!(t.depth, 1);
                }
                assert!(crate::decode::transport_checksum_ok(&p), "{kind:?}");
                for cut in 0..frame.len() {
                    let _ = decode(LinkType::Ethernet, &frame[..cut], true);
                }
            }
        }
    }

    /// `ip` in VXLAN (outer(false), VNI 5) in GRE (outer(true)).
    fn vxlan_in_gre(ip: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        Encap::Vxlan {
            outer: outer(false),
            src_port: 1,
            dst_port: 4789,
            vni: 5,
        }
        .wrap(Inner::Ip(ip), &mut frame);
        let once = frame.clone();
        Encap::Gre {
            outer: outer(true),
            checksum: false,
            key: None,
            seq: None,
        }
        .wrap(Inner::Ip(&once[14..]), &mut frame);
        frame
    }

    #[test]
    fn nesting_is_followed_to_the_limit_and_no_further() {
        let ip = inner_tcp(false);
        let mut frame = vxlan_in_gre(&ip);
        let p = decode(LinkType::Ethernet, &frame, true).unwrap();
        let t = p.tunnel.unwrap();
        assert_eq!(
            (t.kind, t.depth, t.src),
            (TunnelKind::Gre, 2, Some(outer(true).src))
        );
        assert_eq!(p.dst_port(), 8080);
        // IP-in-IP four deep decodes; five deep is refused.
        let ipip = Encap::IpInIp {
            outer: outer(false),
        };
        let mut cur = ip.clone();
        for depth in 1..=5u8 {
            ipip.wrap(Inner::Ip(&cur), &mut frame);
            let p = decode(LinkType::Ethernet, &frame, true).unwrap();
            if depth <= 4 {
                assert_eq!(p.tunnel.unwrap().depth, depth);
                assert_eq!(p.tunnel_error, None);
            } else {
                // The fifth tunnel is not followed: its outer packet is what is left.
                assert_eq!(p.tunnel_error.unwrap().reason, DecodeReason::TunnelTooDeep);
                assert_eq!((p.ip_proto, p.tunnel.unwrap().depth), (4, 4));
            }
            cur = frame[14..].to_vec();
        }
    }

    #[test]
    fn each_outer_packet_of_a_nested_tunnel_decodes_on_its_own() {
        use crate::decode::{decode_outer, TunnelConfig};
        let ip = inner_tcp(false);
        let frame = vxlan_in_gre(&ip);
        let p = decode(LinkType::Ethernet, &frame, true).unwrap();
        let cfg = TunnelConfig::DEFAULT;
        // Depth 0: the outer GRE packet, with no payload and no tunnel around it.
        let gre = decode_outer(&p, 0, true, &cfg).unwrap().unwrap();
        assert_eq!((gre.ip_proto, gre.src), (47, outer(true).src));
        assert!(gre.payload.is_empty() && gre.tunnel.is_none());
        // Depth 1: the VXLAN UDP packet inside, with its payload, in the GRE tunnel.
        let udp = decode_outer(&p, 1, true, &cfg).unwrap().unwrap();
        assert_eq!((udp.src, udp.dst_port()), (outer(false).src, 4789));
        assert_eq!(udp.payload.len(), 8 + 14 + ip.len());
        let t = udp.tunnel.unwrap();
        assert_eq!((t.kind, t.depth), (TunnelKind::Gre, 1));
        // Depth 2 is the inner packet itself: not an outer one.
        assert!(decode_outer(&p, 2, true, &cfg).is_none());
        // A packet without a tunnel has no outer packet.
        let plain = decode(LinkType::RawIp, &ip, true).unwrap();
        assert!(decode_outer(&plain, 0, true, &cfg).is_none());
    }

    /// The reason a tunnel was not followed; the packet is then the outer one.
    fn malformed(frame: &[u8]) -> crate::decode::DecodeError {
        match decode(LinkType::Ethernet, frame, false) {
            Ok(p) => {
                assert_eq!(p.src, outer(false).src, "the outer packet is inspected");
                p.tunnel_error.expect("a tunnel error")
            }
            // MPLS has no outer IP packet to fall back to.
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_tunnel_headers_are_named() {
        let ip = inner_tcp(false);
        let o = outer(false);
        let mut frame = Vec::new();
        let at = 14 + 20;
        // VXLAN without the I flag.
        Encap::Vxlan {
            outer: o,
            src_port: 1,
            dst_port: 4789,
            vni: 5,
        }
        .wrap(Inner::Ip(&ip), &mut frame);
        frame[at + 8] = 0;
        let e = malformed(&frame);
        assert_eq!(e.reason, DecodeReason::VxlanBadFlags);
        // GRE version 2.
        Encap::Gre {
            outer: o,
            checksum: false,
            key: None,
            seq: None,
        }
        .wrap(Inner::Ip(&ip), &mut frame);
        frame[at + 1] = 2;
        let e = malformed(&frame);
        assert_eq!(e.reason, DecodeReason::GreBadVersion);
        // ERSPAN II header with the type III version.
        Encap::ErspanII {
            outer: o,
            session: 1,
            seq: 1,
        }
        .wrap(Inner::Ip(&ip), &mut frame);
        frame[at + 8] = 0x20;
        let e = malformed(&frame);
        assert_eq!(e.reason, DecodeReason::ErspanBadVersion);
        // GENEVE whose options run past the packet.
        Encap::Geneve {
            outer: o,
            src_port: 1,
            dst_port: 6081,
            vni: 1,
            option_words: 0,
        }
        .wrap(Inner::Ip(&ip), &mut frame);
        frame[at + 8] = 0x3f;
        let e = malformed(&frame);
        assert_eq!(e.reason, DecodeReason::GeneveTruncated);
        // MPLS whose payload is neither IP nor a pseudowire.
        Encap::Mpls { labels: &[100] }.wrap(Inner::Ip(&ip), &mut frame);
        frame[18] = 0x50;
        let e = malformed(&frame);
        assert_eq!(e.reason, DecodeReason::MplsBadPayload);
        // A GRE packet of a protocol we do not follow is inspected as GRE.
        Encap::Gre {
            outer: o,
            checksum: false,
            key: None,
            seq: None,
        }
        .wrap(Inner::Ip(&ip), &mut frame);
        frame[at + 2..at + 4].copy_from_slice(&0x880bu16.to_be_bytes());
        let p = decode(LinkType::Ethernet, &frame, false).unwrap();
        assert_eq!((p.ip_proto, p.tunnel), (47, None));
    }
}
