//! Zero-copy packet decoding: a frame in, a [`Packet`] view out.
//!
//! The decoder never allocates and never panics: every header is bounds-checked, and a
//! frame that cannot be decoded yields a [`DecodeError`] whose [`DecodeReason`] is counted
//! by the caller in a [`DecodeStats`]. Payload and header fields borrow from the frame.
//!
//! INTERFACE CONTRACT (shared with detect/): the field names below are what the matcher
//! reads. Implementation lives in the submodules.

pub use checksum::internet_checksum;
use std::net::IpAddr;
use tunnel::Next;
pub use tunnel::{Tunnel, TunnelConfig, TunnelKind, MAX_TUNNEL_DEPTH};

/// How a captured frame starts; pcap link types 1 (Ethernet) and 101/228/229 (raw IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    Ethernet,
    /// Raw IPv4 or IPv6, version taken from the first nibble.
    RawIp,
}

/// TCP flag bits as they sit in byte 13 of the TCP header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Fields of a TCP header the engine uses; options are summarised, not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Header length in bytes (data offset * 4).
    pub header_len: u8,
    /// The eight flag bits (see [`tcp_flags`]).
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub length: u16,
}

/// ICMP (v4) or ICMPv6 type and code; the rest of the header stays in `Packet::l4_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IcmpHeader {
    pub icmp_type: u8,
    pub code: u8,
}

/// The transport header, if one was decoded. `Other` covers protocols we do not parse and
/// non-first fragments (whose transport header is in another fragment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L4 {
    Tcp(TcpHeader),
    Udp(UdpHeader),
    Icmp(IcmpHeader),
    Icmpv6(IcmpHeader),
    #[default]
    Other,
}

/// IPv4 or IPv6 fragment information, when the packet is a fragment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    pub more: bool,
    pub id: u32,
}

/// A decoded frame. Everything borrows from `frame`; `Copy` so workers can keep it on the
/// stack. Offsets are into `frame`.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub frame: &'a [u8],
    /// Up to two VLAN ids, outermost first (802.1Q and 802.1ad/QinQ).
    pub vlan: [u16; 2],
    pub vlan_count: u8,
    /// Offset of the IP header in `frame`.
    pub l3_offset: u16,
    /// Offset of the transport header in `frame` (equal to the payload offset when the
    /// transport is `Other`).
    pub l4_offset: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The final IPv4 protocol or IPv6 next header after extension headers.
    pub ip_proto: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    pub tos: u8,
    /// True when IPv4 had options or IPv6 had extension headers (for reporting only).
    pub ip_options: bool,
    pub fragment: Option<Fragment>,
    pub l4: L4,
    /// Application payload: the bytes after the transport header, clipped to the IP total
    /// length (Ethernet padding excluded). For `L4::Other`: after the ESP or SCTP header;
    /// none for other protocols (Suricata's payloads); a non-first fragment's IP data.
    pub payload: &'a [u8],
    /// The tunnel this packet arrived in; every other field describes the inner packet.
    pub tunnel: Option<Tunnel>,
    /// Why a tunnel in this frame could not be followed (a malformed tunnel header or inner
    /// packet, or nesting beyond [`MAX_TUNNEL_DEPTH`]): the packet is then the last IP
    /// packet that decoded — the tunnel's outer packet — as Suricata inspects it, and the
    /// reason is counted by [`DecodeStats::observe`].
    pub tunnel_error: Option<DecodeError>,
}

impl<'a> Packet<'a> {
    /// Where [`Packet::payload`] starts in [`Packet::frame`] (`None` for an empty payload
    /// that is not a slice of the frame): tells a protocol header that ends exactly where
    /// the IP data does from one that was cut short.
    pub fn payload_offset(&self) -> Option<usize> {
        let at = (self.payload.as_ptr() as usize).checked_sub(self.frame.as_ptr() as usize)?;
        (at <= self.frame.len()).then_some(at)
    }

    pub fn src_port(&self) -> u16 {
        match self.l4 {
            L4::Tcp(t) => t.src_port,
            L4::Udp(u) => u.src_port,
            _ => 0,
        }
    }
    pub fn dst_port(&self) -> u16 {
        match self.l4 {
            L4::Tcp(t) => t.dst_port,
            L4::Udp(u) => u.dst_port,
            _ => 0,
        }
    }
    pub fn tcp(&self) -> Option<&TcpHeader> {
        match &self.l4 {
            L4::Tcp(t) => Some(t),
            _ => None,
        }
    }
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// Why a frame could not be decoded. Each reason is a counter in [`DecodeStats`] and a
/// `reason` label in the `tidewatch_decode_errors_total` metric, so names are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DecodeReason {
    EthernetTruncated,
    VlanTruncated,
    /// More VLAN tags than we follow (two).
    VlanTooDeep,
    /// An EtherType that is not IPv4, IPv6 or VLAN (ARP, LLDP, ...): counted, not an error.
    UnsupportedEtherType,
    Ipv4Truncated,
    Ipv4BadVersion,
    Ipv4BadHeaderLength,
    Ipv4BadTotalLength,
    Ipv4BadChecksum,
    Ipv6Truncated,
    Ipv6BadVersion,
    Ipv6ExtensionTruncated,
    TcpTruncated,
    TcpBadHeaderLength,
    TcpBadOptions,
    UdpTruncated,
    UdpBadLength,
    IcmpTruncated,
    Icmpv6Truncated,
    /// A GRE header cut short (flags, protocol, or the optional checksum/key/sequence).
    GreTruncated,
    /// GRE version above 1.
    GreBadVersion,
    /// GRE with the routing bit (the deprecated source-route list), which we do not walk.
    GreBadFlags,
    ErspanTruncated,
    /// An ERSPAN header whose version does not match its type (II: 1, III: 2).
    ErspanBadVersion,
    VxlanTruncated,
    /// VXLAN without the I (valid VNI) flag, or with reserved bits set.
    VxlanBadFlags,
    /// A GENEVE header or its options cut short.
    GeneveTruncated,
    GeneveBadVersion,
    /// A GENEVE protocol type other than Ethernet, IPv4 or IPv6.
    GeneveBadProtocol,
    MplsTruncated,
    /// After the bottom label, neither IPv4, IPv6 nor an Ethernet pseudowire.
    MplsBadPayload,
    /// More nested encapsulations than [`tunnel::MAX_TUNNEL_DEPTH`], more layers than we
    /// walk, or an inner header beyond the 16-bit offsets a `Packet` holds.
    TunnelTooDeep,
}

impl DecodeReason {
    pub const ALL: [DecodeReason; 32] = [
        DecodeReason::EthernetTruncated,
        DecodeReason::VlanTruncated,
        DecodeReason::VlanTooDeep,
        DecodeReason::UnsupportedEtherType,
        DecodeReason::Ipv4Truncated,
        DecodeReason::Ipv4BadVersion,
        DecodeReason::Ipv4BadHeaderLength,
        DecodeReason::Ipv4BadTotalLength,
        DecodeReason::Ipv4BadChecksum,
        DecodeReason::Ipv6Truncated,
        DecodeReason::Ipv6BadVersion,
        DecodeReason::Ipv6ExtensionTruncated,
        DecodeReason::TcpTruncated,
        DecodeReason::TcpBadHeaderLength,
        DecodeReason::TcpBadOptions,
        DecodeReason::UdpTruncated,
        DecodeReason::UdpBadLength,
        DecodeReason::IcmpTruncated,
        DecodeReason::Icmpv6Truncated,
        DecodeReason::GreTruncated,
        DecodeReason::GreBadVersion,
        DecodeReason::GreBadFlags,
        DecodeReason::ErspanTruncated,
        DecodeReason::ErspanBadVersion,
        DecodeReason::VxlanTruncated,
        DecodeReason::VxlanBadFlags,
        DecodeReason::GeneveTruncated,
        DecodeReason::GeneveBadVersion,
        DecodeReason::GeneveBadProtocol,
        DecodeReason::MplsTruncated,
        DecodeReason::MplsBadPayload,
        DecodeReason::TunnelTooDeep,
    ];

    /// Stable snake_case name used in summaries and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            DecodeReason::EthernetTruncated => "ethernet_truncated",
            DecodeReason::VlanTruncated => "vlan_truncated",
            DecodeReason::VlanTooDeep => "vlan_too_deep",
            DecodeReason::UnsupportedEtherType => "unsupported_ethertype",
            DecodeReason::Ipv4Truncated => "ipv4_truncated",
            DecodeReason::Ipv4BadVersion => "ipv4_bad_version",
            DecodeReason::Ipv4BadHeaderLength => "ipv4_bad_header_length",
            DecodeReason::Ipv4BadTotalLength => "ipv4_bad_total_length",
            DecodeReason::Ipv4BadChecksum => "ipv4_bad_checksum",
            DecodeReason::Ipv6Truncated => "ipv6_truncated",
            DecodeReason::Ipv6BadVersion => "ipv6_bad_version",
            DecodeReason::Ipv6ExtensionTruncated => "ipv6_extension_truncated",
            DecodeReason::TcpTruncated => "tcp_truncated",
            DecodeReason::TcpBadHeaderLength => "tcp_bad_header_length",
            DecodeReason::TcpBadOptions => "tcp_bad_options",
            DecodeReason::UdpTruncated => "udp_truncated",
            DecodeReason::UdpBadLength => "udp_bad_length",
            DecodeReason::IcmpTruncated => "icmp_truncated",
            DecodeReason::Icmpv6Truncated => "icmpv6_truncated",
            DecodeReason::GreTruncated => "gre_truncated",
            DecodeReason::GreBadVersion => "gre_bad_version",
            DecodeReason::GreBadFlags => "gre_bad_flags",
            DecodeReason::ErspanTruncated => "erspan_truncated",
            DecodeReason::ErspanBadVersion => "erspan_bad_version",
            DecodeReason::VxlanTruncated => "vxlan_truncated",
            DecodeReason::VxlanBadFlags => "vxlan_bad_flags",
            DecodeReason::GeneveTruncated => "geneve_truncated",
            DecodeReason::GeneveBadVersion => "geneve_bad_version",
            DecodeReason::GeneveBadProtocol => "geneve_bad_protocol",
            DecodeReason::MplsTruncated => "mpls_truncated",
            DecodeReason::MplsBadPayload => "mpls_bad_payload",
            DecodeReason::TunnelTooDeep => "tunnel_too_deep",
        }
    }
}

/// A decode failure: the reason and the byte offset in the frame where decoding stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} at frame offset {offset}", reason.name())]
pub struct DecodeError {
    pub reason: DecodeReason,
    pub offset: usize,
}

/// Per-worker decode counters, indexed by [`DecodeReason`]; plain integers, merged at the end.
#[derive(Clone, Debug, Default)]
pub struct DecodeStats {
    pub by_reason: [u64; DecodeReason::ALL.len()],
    /// IPv4/IPv6 fragments seen (not errors; reassembly is the stream issue's).
    pub fragments: u64,
}

impl DecodeStats {
    pub fn count(&mut self, reason: DecodeReason) {
        self.by_reason[reason as usize] += 1;
    }
    /// Counts one [`decode`] outcome: its failure reason, or a fragment when it is one.
    #[inline]
    pub fn observe(&mut self, result: &Result<Packet<'_>, DecodeError>) {
        match result {
            Ok(p) => {
                if p.fragment.is_some() {
                    self.fragments += 1;
                }
                if let Some(e) = p.tunnel_error {
                    self.count(e.reason);
                }
            }
            Err(e) => self.count(e.reason),
        }
    }
    pub fn merge(&mut self, other: &DecodeStats) {
        for (a, b) in self.by_reason.iter_mut().zip(other.by_reason.iter()) {
            *a += *b;
        }
        self.fragments += other.fragments;
    }
    pub fn total(&self) -> u64 {
        self.by_reason.iter().sum()
    }
    /// Non-zero counters, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DecodeReason::ALL
            .iter()
            .map(move |r| (r.name(), self.by_reason[*r as usize]))
            .filter(|(_, n)| *n > 0)
    }
}

/// Decodes one frame. Never panics, never allocates.
///
/// IPv4 header checksums are verified only when `verify_ip_checksum` is set (Suricata's
/// `checksum-checks`); transport checksums are checked separately with
/// [`transport_checksum_ok`] because only some callers want to pay for them. Tunnels are
/// followed with Suricata 7's default ports ([`TunnelConfig::DEFAULT`]).
#[inline]
pub fn decode(
    link: LinkType,
    frame: &[u8],
    verify_ip_checksum: bool,
) -> Result<Packet<'_>, DecodeError> {
    decode_with(link, frame, verify_ip_checksum, &TunnelConfig::DEFAULT)
}

/// [`decode`] with explicit tunnel settings.
///
/// Encapsulations (GRE, ERSPAN, VXLAN, GENEVE, MPLS, IP-in-IP) are followed in place: the
/// returned packet's addresses, transport and payload are the innermost packet's, its
/// `l3_offset`/`l4_offset` point at the inner headers in the same frame, and
/// [`Packet::tunnel`] describes the outermost tunnel. Fragmented outer packets are not
/// followed (their inner headers may be in another fragment); they decode as themselves.
#[inline]
pub fn decode_with<'a>(
    link: LinkType,
    frame: &'a [u8],
    verify_ip_checksum: bool,
    cfg: &TunnelConfig,
) -> Result<Packet<'a>, DecodeError> {
    let (next, vlan, vlan_count) = match link {
        LinkType::Ethernet => {
            let eth = ethernet::parse(frame)?;
            (network(&eth)?, eth.vlan, eth.vlan_count)
        }
        LinkType::RawIp => (
            if matches!(frame.first(), Some(b) if b >> 4 == 6) {
                Next::Ipv6(0)
            } else {
                Next::Ipv4(0)
            },
            [0; 2],
            0,
        ),
    };
    // Fast path: a plain IPv4/IPv6 packet (nearly all traffic) decodes straight through;
    // only a packet that may carry a tunnel takes the layer walk.
    let walk = || {
        decode_tunnelled(
            frame,
            next,
            vlan,
            vlan_count,
            verify_ip_checksum,
            cfg,
            u8::MAX,
        )
    };
    let (l3_offset, l3) = match next {
        Next::Ipv4(off) => (off, ipv4::parse(frame, off, verify_ip_checksum)?),
        Next::Ipv6(off) => (off, ipv6::parse(frame, off)?),
        _ => return walk(),
    };
    if l3.fragment.is_none() && tunnel::may_carry(frame, &l3, cfg) {
        return walk();
    }
    let (l4, payload_start, payload_end) = transport(frame, &l3)?;
    Ok(Packet {
        frame,
        vlan,
        vlan_count,
        // Both offsets are bounded: L2 is at most 22 bytes, IPv4 headers 60, and the IPv6
        // walk stops at 65535.
        l3_offset: l3_offset as u16,
        l4_offset: l3.l4_offset as u16,
        src: l3.src,
        dst: l3.dst,
        ip_proto: l3.proto,
        ttl: l3.ttl,
        ip_id: l3.id,
        tos: l3.tos,
        ip_options: l3.options,
        fragment: l3.fragment,
        l4,
        payload: frame.get(payload_start..payload_end).unwrap_or_default(),
        tunnel: None,
        tunnel_error: None,
    })
}

/// The layer walk through encapsulations, from `next` (the frame's first network layer).
#[inline(never)]
fn decode_tunnelled<'a>(
    frame: &'a [u8],
    mut next: Next,
    mut vlan: [u16; 2],
    mut vlan_count: u8,
    verify_ip_checksum: bool,
    cfg: &TunnelConfig,
    stop: u8,
) -> Result<Packet<'a>, DecodeError> {
    let mut tunnel: Option<Tunnel> = None;
    // The data of the packet being decoded: an inner packet never reads past its outer
    // packet's end (Ethernet padding and trailers stay outside). Offsets stay frame offsets.
    let mut bound = frame;
    // The last IP packet a tunnel was followed out of: what is inspected when the tunnel
    // turns out malformed, as Suricata inspects a tunnel's outer packet whatever its
    // inner packet is.
    let mut outer: Option<Outer<'a>> = None;
    let mut walk = || -> Result<(usize, L3, &'a [u8]), DecodeError> {
        for _ in 0..tunnel::MAX_LAYERS {
            let (l3_offset, l3) = match next {
                Next::Ipv4(off) => (off, ipv4::parse(bound, off, verify_ip_checksum)?),
                Next::Ipv6(off) => (off, ipv6::parse(bound, off)?),
                Next::Ethernet(off) => {
                    let eth = ethernet::parse_at(bound, off)?;
                    // Inner tags follow the outer ones, as far as two are kept.
                    for &id in eth.vlan.iter().take(usize::from(eth.vlan_count)) {
                        if let Some(slot) = vlan.get_mut(usize::from(vlan_count)) {
                            *slot = id;
                            vlan_count += 1;
                        }
                    }
                    next = network(&eth)?;
                    continue;
                }
                Next::Mpls(off) => {
                    let (inner, label) = mpls::parse(bound, off)?;
                    tunnel.get_or_insert(Tunnel {
                        kind: TunnelKind::Mpls,
                        src: None,
                        dst: None,
                        proto: 0,
                        src_port: 0,
                        dst_port: 0,
                        id: Some(label),
                        depth: 0,
                        outer_l3: 0,
                        outer_vlans: 0,
                    });
                    next = inner;
                    continue;
                }
            };
            if l3.fragment.is_some() || ip_depth(&tunnel) >= stop {
                return Ok((l3_offset, l3, bound));
            }
            let layer = match tunnel::inner(bound, &l3, cfg) {
                Ok(Some(layer)) => layer,
                Ok(None) => return Ok((l3_offset, l3, bound)),
                Err(e) => {
                    outer = Some((l3_offset, l3, bound, tunnel));
                    return Err(e);
                }
            };
            outer = Some((l3_offset, l3, bound, tunnel));
            let depth = tunnel.map_or(0, |t| t.depth) + 1;
            if depth > MAX_TUNNEL_DEPTH {
                return Err(DecodeError {
                    reason: DecodeReason::TunnelTooDeep,
                    offset: l3.l4_offset,
                });
            }
            match &mut tunnel {
                // The outermost IP tunnel is recorded (an MPLS stack outside it is not).
                Some(t) if t.src.is_some() => t.depth = depth,
                t => {
                    *t = Some(Tunnel {
                        kind: layer.kind,
                        src: Some(l3.src),
                        dst: Some(l3.dst),
                        proto: l3.proto,
                        src_port: layer.src_port,
                        dst_port: layer.dst_port,
                        id: layer.id,
                        depth,
                        // Bounded as `l3_offset` below: tunnels start within 64 KiB.
                        outer_l3: u16::try_from(l3_offset).unwrap_or(u16::MAX),
                        outer_vlans: vlan_count,
                    })
                }
            }
            bound = bound.get(..l3.end).unwrap_or(bound);
            next = layer.next;
        }
        Err(DecodeError {
            reason: DecodeReason::TunnelTooDeep,
            offset: 0,
        })
    };
    let failed = walk()
        .and_then(|(off, l3, bound)| transport(bound, &l3).map(|t| (off, l3, bound, tunnel, t)));
    // A malformed inner packet or tunnel header: the outer packet is what is inspected.
    let (l3_offset, l3, bound, tunnel, (l4, payload_start, payload_end), tunnel_error) =
        match (failed, outer) {
            (Ok((o, l3, b, t, l4)), _) => (o, l3, b, t, l4, None),
            // The outer packet of a tunnel (GRE, IP-in-IP) has no payload of its own, as in
            // Suricata: its content rules never see the tunnel's bytes.
            (Err(e), Some((o, l3, b, t))) => {
                let (l4, start, end) = transport(b, &l3)?;
                let end = if l4 == L4::Other { start } else { end };
                (o, l3, b, t, (l4, start, end), Some(e))
            }
            (Err(e), None) => return Err(e),
        };
    // Offsets beyond 16 bits only arise inside tunnels of IPv6 jumbograms.
    let (Ok(l3_off), Ok(l4_off)) = (u16::try_from(l3_offset), u16::try_from(l3.l4_offset)) else {
        return Err(DecodeError {
            reason: DecodeReason::TunnelTooDeep,
            offset: l3_offset,
        });
    };
    Ok(Packet {
        frame,
        vlan,
        vlan_count,
        l3_offset: l3_off,
        l4_offset: l4_off,
        src: l3.src,
        dst: l3.dst,
        ip_proto: l3.proto,
        ttl: l3.ttl,
        ip_id: l3.id,
        tos: l3.tos,
        ip_options: l3.options,
        fragment: l3.fragment,
        l4,
        payload: bound.get(payload_start..payload_end).unwrap_or_default(),
        tunnel,
        tunnel_error,
    })
}

/// IP-level encapsulations crossed so far (an MPLS stack does not count).
fn ip_depth(t: &Option<Tunnel>) -> u8 {
    t.filter(|t| t.src.is_some()).map_or(0, |t| t.depth)
}

/// The packet `depth` IP encapsulations into `p`'s tunnel, 0 being the outermost IP
/// packet; `None` when `p` has no IP tunnel that deep. Suricata inspects each such outer
/// packet too (header keywords only: its payload is the packet inside, inspected on its
/// own). As there, an outer packet whose transport is the tunnel itself (GRE, IP in IP)
/// has no payload; a VXLAN or GENEVE outer packet keeps its UDP payload, for `dsize`.
/// Its `tunnel` is the tunnel it arrived in (`None` for the outermost).
pub fn decode_outer<'a>(
    p: &Packet<'a>,
    depth: u8,
    verify_ip_checksum: bool,
    cfg: &TunnelConfig,
) -> Option<Result<Packet<'a>, DecodeError>> {
    let t = p.tunnel.filter(|t| t.src.is_some() && depth < t.depth)?;
    let off = usize::from(t.outer_l3);
    let next = match p.frame.get(off)? >> 4 {
        6 => Next::Ipv6(off),
        _ => Next::Ipv4(off),
    };
    let mut vlan = [0u16; 2];
    let n = usize::from(t.outer_vlans).min(2);
    vlan[..n].copy_from_slice(&p.vlan[..n]);
    let r = decode_tunnelled(p.frame, next, vlan, n as u8, verify_ip_checksum, cfg, depth);
    Some(r.map(|q| match q.l4 {
        L4::Other => Packet { payload: &[], ..q },
        _ => q,
    }))
}

/// An IP packet a tunnel was followed out of: its offset, header, bounding data and the
/// tunnel it itself arrived in.
type Outer<'a> = (usize, L3, &'a [u8], Option<Tunnel>);

/// Where an Ethernet frame's network layer starts, by its EtherType.
#[inline]
fn network(eth: &ethernet::Ethernet) -> Result<Next, DecodeError> {
    match eth.ethertype {
        ethernet::ETHERTYPE_IPV4 => Ok(Next::Ipv4(eth.l3_offset)),
        ethernet::ETHERTYPE_IPV6 => Ok(Next::Ipv6(eth.l3_offset)),
        ethernet::ETHERTYPE_MPLS | ethernet::ETHERTYPE_MPLS_MULTICAST => {
            Ok(Next::Mpls(eth.l3_offset))
        }
        _ => Err(DecodeError {
            reason: DecodeReason::UnsupportedEtherType,
            offset: eth.l3_offset - 2,
        }),
    }
}

/// Decodes the transport header after `l3`; returns it and the payload range.
#[inline]
fn transport(frame: &[u8], l3: &L3) -> Result<(L4, usize, usize), DecodeError> {
    let other = Ok((L4::Other, l3.l4_offset, l3.end));
    let first_fragment = match l3.fragment {
        None => false,
        Some(f) if f.offset == 0 => true,
        // The transport header is in the first fragment.
        Some(_) => return other,
    };
    let (start, end) = (l3.l4_offset, l3.end);
    let decoded = match l3.proto {
        IPPROTO_TCP => {
            tcp::parse(frame, start, end, l3.claimed_end).map(|(t, p)| (L4::Tcp(t), p, end))
        }
        IPPROTO_UDP => udp::parse(frame, start, end, l3.claimed_end, first_fragment)
            .map(|(u, p, e)| (L4::Udp(u), p, e)),
        IPPROTO_ICMP if l3.src.is_ipv4() => {
            icmp::parse(frame, start, end, false).map(|(i, p, e)| (L4::Icmp(i), p, e))
        }
        IPPROTO_ICMPV6 if l3.src.is_ipv6() => {
            icmp::parse(frame, start, end, true).map(|(i, p, e)| (L4::Icmpv6(i), p, e))
        }
        // Suricata decodes ESP and SCTP headers and gives every other protocol (GRE, an
        // unknown number) no payload: content rules see what it sees.
        IPPROTO_ESP | IPPROTO_SCTP => {
            let header = if l3.proto == IPPROTO_ESP { 8 } else { 12 };
            let from = start.saturating_add(header);
            let payload = if from <= end { from } else { end };
            return Ok((L4::Other, payload, end));
        }
        _ => return Ok((L4::Other, start, start)),
    };
    match decoded {
        // A first fragment too short for its transport header still carries IP data.
        Err(_) if first_fragment => other,
        r => r,
    }
}

/// True when the TCP/UDP/ICMP checksum of a decoded, unfragmented packet is valid (a UDP
/// checksum of zero over IPv4 counts as valid).
///
/// Fragments, transports without a checksum we know, and packets whose capture is shorter
/// than the IP length (the snap length cut the segment, so it cannot be verified) count as
/// valid; a `Packet` not produced by [`decode`] for this frame counts as invalid.
#[inline]
pub fn transport_checksum_ok(p: &Packet<'_>) -> bool {
    if p.fragment.is_some() {
        return true;
    }
    let (proto, pseudo) = match p.l4 {
        L4::Tcp(_) => (IPPROTO_TCP, true),
        L4::Udp(_) => (IPPROTO_UDP, true),
        L4::Icmp(_) => (IPPROTO_ICMP, false),
        L4::Icmpv6(_) => (IPPROTO_ICMPV6, true),
        L4::Other => return true,
    };
    let l3 = usize::from(p.l3_offset);
    let l4 = usize::from(p.l4_offset);
    let claimed_end = if p.is_ipv6() {
        ipv6::claimed_end(p.frame, l3)
    } else {
        ipv4::total_len(p.frame, l3).map(|n| l3 + n)
    };
    let Some(claimed_end) = claimed_end else {
        return false;
    };
    if claimed_end > p.frame.len() {
        return true;
    }
    let Some(segment) = p.frame.get(l4..claimed_end) else {
        return false;
    };
    // Checksum field offsets: TCP 16, UDP 6, ICMP/ICMPv6 2.
    if proto == IPPROTO_UDP {
        match bytes::be16(segment, 6) {
            Some(0) => return p.src.is_ipv4(),
            Some(_) => {}
            None => return false,
        }
    }
    let initial = if pseudo {
        checksum::pseudo_header(&p.src, &p.dst, proto, segment.len())
    } else {
        0
    };
    checksum::fold(checksum::sum(segment, initial)) == 0xffff
}

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ESP: u8 = 50;
const IPPROTO_SCTP: u8 = 132;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

/// What the IPv4 or IPv6 layer found; offsets are into the frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct L3 {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub ttl: u8,
    pub id: u16,
    pub tos: u8,
    pub options: bool,
    pub fragment: Option<Fragment>,
    /// End of the IP header chain, where the transport header starts.
    pub l4_offset: usize,
    /// End of the captured IP data: the IP length clipped to the frame.
    pub end: usize,
    /// End of the IP data as the IP header claims it (may exceed the frame on snaplen).
    pub claimed_end: usize,
}

mod bytes;
mod checksum;
mod erspan;
mod ethernet;
mod geneve;
mod gre;
mod icmp;
mod ipv4;
mod ipv6;
mod mpls;
pub mod packed;
mod tcp;
#[cfg(test)]
mod tests;
pub mod tunnel;
mod udp;
mod vxlan;
