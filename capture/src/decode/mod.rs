//! Zero-copy packet decoding: a frame in, a [`Packet`] view out.
//!
//! The decoder never allocates and never panics: every header is bounds-checked, and a
//! frame that cannot be decoded yields a [`DecodeError`] whose [`DecodeReason`] is counted
//! by the caller in a [`DecodeStats`]. Payload and header fields borrow from the frame.
//!
//! INTERFACE CONTRACT (shared with detect/): the field names below are what the matcher
//! reads. Implementation lives in the submodules.

use std::net::IpAddr;

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
    /// length (Ethernet padding excluded). For `L4::Other`, the bytes after the IP header.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
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
}

impl DecodeReason {
    pub const ALL: [DecodeReason; 19] = [
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
/// [`transport_checksum_ok`] because only some callers want to pay for them.
pub fn decode(link: LinkType, frame: &[u8], verify_ip_checksum: bool) -> Result<Packet<'_>, DecodeError> {
    let _ = (link, frame, verify_ip_checksum);
    todo!("implemented by the decoder work")
}

/// True when the TCP/UDP/ICMP checksum of a decoded, unfragmented packet is valid (a UDP
/// checksum of zero over IPv4 counts as valid).
pub fn transport_checksum_ok(p: &Packet<'_>) -> bool {
    let _ = p;
    todo!("implemented by the decoder work")
}
