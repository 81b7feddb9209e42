//! Building well-formed frames (Ethernet, VLAN, IPv4/IPv6, TCP/UDP/ICMP with correct
//! checksums) for generated traffic: golden pcaps, benchmarks and the load generator.
//!
//! A [`FrameSpec`] is a small `Copy` description of one frame (borrowing its payload and IP
//! options); [`FrameSpec::write`] clears a caller-provided buffer and writes the frame into
//! it, so generators reuse one allocation for millions of frames. [`TcpSession`] keeps the
//! sequence numbers of one connection so generated TCP flows have a real handshake, data
//! with the right seq/ack in both directions, and a FIN teardown.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::decode::tcp_flags;

/// EtherTypes written by the builder.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
}

/// IP protocol numbers written by the builder.
pub mod proto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_FRAG: u8 = 44;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NONXT: u8 = 59;
    pub const IPV6_DSTOPTS: u8 = 60;
}

/// Ethernet header with up to two VLAN tags (one = 802.1Q, two = QinQ with an 802.1ad outer
/// tag). `None` in [`FrameSpec::eth`] writes a raw IP frame (pcap link type 101).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthSpec {
    pub src: [u8; 6],
    pub dst: [u8; 6],
    /// VLAN ids, outermost first; zero ids are not written.
    pub vlans: [u16; 2],
    pub vlan_count: u8,
}

impl Default for EthSpec {
    fn default() -> Self {
        EthSpec {
            src: [0x02, 0, 0, 0, 0, 0x01],
            dst: [0x02, 0, 0, 0, 0, 0x02],
            vlans: [0; 2],
            vlan_count: 0,
        }
    }
}

/// IPv4 header fields. Options are padded with EOL (zero) bytes to a multiple of four and
/// may be at most 40 bytes (longer options are truncated to 40).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Spec<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub id: u16,
    pub tos: u8,
    pub options: &'a [u8],
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units (13 bits; higher bits are dropped).
    pub frag_offset: u16,
}

/// An IPv6 extension header placed between the fixed header and the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options, 8 bytes, padded with PadN.
    HopByHop,
    /// Destination options, 8 bytes, padded with PadN.
    DestOpts,
    /// Fragment header: offset in 8-byte units, more-fragments flag, identification.
    Fragment { offset: u16, more: bool, id: u32 },
}

/// IPv6 header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Spec {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits; higher bits are dropped.
    pub flow_label: u32,
    pub ext: Option<Ipv6Ext>,
}

/// The network layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSpec<'a> {
    V4(Ipv4Spec<'a>),
    V6(Ipv6Spec),
}

/// TCP options the builder knows; written in the order MSS, SACK-permitted, timestamps,
/// window scale (Linux order), NOP-padded to a multiple of four.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: Option<(u32, u32)>,
}

/// TCP header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSpec {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Flag bits as in byte 13 (see [`tcp_flags`]).
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
}

impl TcpSpec {
    /// A segment with the given ports and flags, window 64240, no options.
    pub fn new(src_port: u16, dst_port: u16, flags: u8) -> Self {
        TcpSpec {
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags,
            window: 64240,
            urgent: 0,
            options: TcpOptions::default(),
        }
    }
}

/// The transport layer of a frame. `Raw` writes only the payload after the IP header with
/// the given protocol number (non-first fragments, unknown protocols).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Spec {
    Tcp(TcpSpec),
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMPv4 with an id/sequence rest-of-header (echo style).
    Icmp {
        icmp_type: u8,
        code: u8,
        id: u16,
        seq: u16,
    },
    /// ICMPv6 with an id/sequence rest-of-header (echo style).
    Icmpv6 {
        icmp_type: u8,
        code: u8,
        id: u16,
        seq: u16,
    },
    Raw {
        proto: u8,
    },
}

impl L4Spec {
    /// A UDP header from `src_port` to `dst_port`: the spelling most test traffic needs.
    pub fn udp(src_port: u16, dst_port: u16) -> L4Spec {
        L4Spec::Udp { src_port, dst_port }
    }

    fn proto(&self) -> u8 {
        match self {
            L4Spec::Tcp(_) => proto::TCP,
            L4Spec::Udp { .. } => proto::UDP,
            L4Spec::Icmp { .. } => proto::ICMP,
            L4Spec::Icmpv6 { .. } => proto::ICMPV6,
            L4Spec::Raw { proto } => *proto,
        }
    }
}

/// A complete frame description; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpec<'a> {
    pub eth: Option<EthSpec>,
    pub ip: IpSpec<'a>,
    pub l4: L4Spec,
    pub payload: &'a [u8],
}

impl<'a> FrameSpec<'a> {
    /// An Ethernet/IPv4 frame (TTL 64) carrying `l4` and no payload.
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, l4: L4Spec) -> Self {
        FrameSpec {
            eth: Some(EthSpec::default()),
            ip: IpSpec::V4(Ipv4Spec {
                src,
                dst,
                ttl: 64,
                id: 1,
                tos: 0,
                options: &[],
                dont_fragment: true,
                more_fragments: false,
                frag_offset: 0,
            }),
            l4,
            payload: &[],
        }
    }

    /// An Ethernet/IPv6 frame (hop limit 64) carrying `l4` and no payload.
    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, l4: L4Spec) -> Self {
        FrameSpec {
            eth: Some(EthSpec::default()),
            ip: IpSpec::V6(Ipv6Spec {
                src,
                dst,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
                ext: None,
            }),
            l4,
            payload: &[],
        }
    }

    /// An Ethernet frame for either address family. Mixed families fall back to IPv6 with
    /// the IPv4 address mapped (`::ffff:a.b.c.d`).
    pub fn ip(src: IpAddr, dst: IpAddr, l4: L4Spec) -> Self {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Self::ipv4(s, d, l4),
            (s, d) => Self::ipv6(to_v6(s), to_v6(d), l4),
        }
    }

    pub fn payload(mut self, payload: &'a [u8]) -> Self {
        self.payload = payload;
        self
    }

    /// Adds a VLAN tag inside the existing ones (the first call gives 802.1Q, the second
    /// makes the first the outer 802.1ad tag). A third tag is ignored.
    pub fn vlan(mut self, id: u16) -> Self {
        let eth = self.eth.get_or_insert_with(EthSpec::default);
        if let Some(slot) = eth.vlans.get_mut(usize::from(eth.vlan_count)) {
            *slot = id & 0x0fff;
            eth.vlan_count += 1;
        }
        self
    }

    /// Drops the Ethernet header: the frame starts with the IP header (link type raw IP).
    pub fn raw_ip(mut self) -> Self {
        self.eth = None;
        self
    }

    /// Sets the IPv4 TTL or IPv6 hop limit.
    pub fn ttl(mut self, ttl: u8) -> Self {
        match &mut self.ip {
            IpSpec::V4(v4) => v4.ttl = ttl,
            IpSpec::V6(v6) => v6.hop_limit = ttl,
        }
        self
    }

    /// Sets the IPv4 identification (ignored for IPv6).
    pub fn ip_id(mut self, id: u16) -> Self {
        if let IpSpec::V4(v4) = &mut self.ip {
            v4.id = id;
        }
        self
    }

    /// Sets the IPv4 TOS or IPv6 traffic class.
    pub fn tos(mut self, tos: u8) -> Self {
        match &mut self.ip {
            IpSpec::V4(v4) => v4.tos = tos,
            IpSpec::V6(v6) => v6.traffic_class = tos,
        }
        self
    }

    /// Sets IPv4 options (ignored for IPv6).
    pub fn ip_options(mut self, options: &'a [u8]) -> Self {
        if let IpSpec::V4(v4) = &mut self.ip {
            v4.options = options;
        }
        self
    }

    /// Sets an IPv6 extension header (ignored for IPv4).
    pub fn ipv6_ext(mut self, ext: Ipv6Ext) -> Self {
        if let IpSpec::V6(v6) = &mut self.ip {
            v6.ext = Some(ext);
        }
        self
    }

    /// Sets the IPv4 fragment fields (offset in 8-byte units); clears DF.
    pub fn ipv4_fragment(mut self, offset_units: u16, more: bool, id: u16) -> Self {
        if let IpSpec::V4(v4) = &mut self.ip {
            v4.frag_offset = offset_units & 0x1fff;
            v4.more_fragments = more;
            v4.dont_fragment = false;
            v4.id = id;
        }
        self
    }

    /// Length of the frame [`FrameSpec::write`] produces.
    pub fn len(&self) -> usize {
        let l2 = self
            .eth
            .map_or(0, |e| 14 + 4 * usize::from(e.vlan_count.min(2)));
        l2 + self.ip_header_len() + self.l4_header_len() + self.payload.len()
    }

    /// Never true: every frame has at least an IP header.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn ip_header_len(&self) -> usize {
        match &self.ip {
            IpSpec::V4(v4) => 20 + v4_options_len(v4.options),
            IpSpec::V6(v6) => 40 + if v6.ext.is_some() { 8 } else { 0 },
        }
    }

    fn l4_header_len(&self) -> usize {
        match &self.l4 {
            L4Spec::Tcp(t) => 20 + tcp_options_len(&t.options),
            L4Spec::Udp { .. } | L4Spec::Icmp { .. } | L4Spec::Icmpv6 { .. } => 8,
            L4Spec::Raw { .. } => 0,
        }
    }

    /// Clears `out` and writes the frame with correct IPv4 header and transport checksums.
    /// Lengths that do not fit their 16-bit fields (payloads near 64 KiB) are written
    /// saturated; callers generating such frames get a malformed frame, not a panic.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.len());
        if let Some(eth) = &self.eth {
            out.extend_from_slice(&eth.dst);
            out.extend_from_slice(&eth.src);
            let n = usize::from(eth.vlan_count.min(2));
            for (i, vid) in eth.vlans.iter().take(n).enumerate() {
                let tpid = if n == 2 && i == 0 {
                    ethertype::QINQ
                } else {
                    ethertype::VLAN
                };
                out.extend_from_slice(&tpid.to_be_bytes());
                out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
            }
            let et = match self.ip {
                IpSpec::V4(_) => ethertype::IPV4,
                IpSpec::V6(_) => ethertype::IPV6,
            };
            out.extend_from_slice(&et.to_be_bytes());
        }
        let l4_len = self.l4_header_len() + self.payload.len();
        let l4_proto = self.l4.proto();
        match &self.ip {
            IpSpec::V4(v4) => write_ipv4(out, v4, l4_proto, l4_len),
            IpSpec::V6(v6) => write_ipv6(out, v6, l4_proto, l4_len),
        }
        let l4 = out.len();
        match &self.l4 {
            L4Spec::Tcp(t) => write_tcp(out, t),
            L4Spec::Udp { src_port, dst_port } => {
                out.extend_from_slice(&src_port.to_be_bytes());
                out.extend_from_slice(&dst_port.to_be_bytes());
                out.extend_from_slice(&len16(l4_len).to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            L4Spec::Icmp {
                icmp_type,
                code,
                id,
                seq,
            }
            | L4Spec::Icmpv6 {
                icmp_type,
                code,
                id,
                seq,
            } => {
                out.extend_from_slice(&[*icmp_type, *code, 0, 0]);
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
            }
            L4Spec::Raw { .. } => {}
        }
        out.extend_from_slice(self.payload);

        // Transport checksum over the pseudo header (not for ICMPv4, not for Raw).
        let csum_at = match &self.l4 {
            L4Spec::Tcp(_) => Some(16),
            L4Spec::Udp { .. } => Some(6),
            L4Spec::Icmp { .. } | L4Spec::Icmpv6 { .. } => Some(2),
            L4Spec::Raw { .. } => None,
        };
        if let Some(at) = csum_at {
            let seg = &out[l4..];
            let mut sum = match &self.l4 {
                L4Spec::Icmp { .. } => 0,
                _ => pseudo_header_sum(&self.ip, l4_proto, seg.len()),
            };
            sum = ones_add(sum, seg);
            let mut c = fold(sum);
            if c == 0 && matches!(self.l4, L4Spec::Udp { .. }) {
                c = 0xffff;
            }
            out[l4 + at..l4 + at + 2].copy_from_slice(&c.to_be_bytes());
        }
        debug_assert_eq!(out.len(), self.len());
    }
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn v4_options_len(opts: &[u8]) -> usize {
    opts.len().min(40).div_ceil(4) * 4
}

fn tcp_options_len(o: &TcpOptions) -> usize {
    let raw: usize = o.mss.map_or(0, |_| 4)
        + if o.sack_permitted { 2 } else { 0 }
        + o.timestamps.map_or(0, |_| 10)
        + o.wscale.map_or(0, |_| 3);
    raw.div_ceil(4) * 4
}

fn write_ipv4(out: &mut Vec<u8>, v4: &Ipv4Spec<'_>, l4_proto: u8, l4_len: usize) {
    let start = out.len();
    let opt_len = v4_options_len(v4.options);
    let hl = 20 + opt_len;
    out.push(0x40 | (hl / 4) as u8);
    out.push(v4.tos);
    out.extend_from_slice(&len16(hl + l4_len).to_be_bytes());
    out.extend_from_slice(&v4.id.to_be_bytes());
    let mut ff = v4.frag_offset & 0x1fff;
    if v4.dont_fragment {
        ff |= 0x4000;
    }
    if v4.more_fragments {
        ff |= 0x2000;
    }
    out.extend_from_slice(&ff.to_be_bytes());
    out.push(v4.ttl);
    out.push(l4_proto);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&v4.src.octets());
    out.extend_from_slice(&v4.dst.octets());
    let opts = &v4.options[..v4.options.len().min(40)];
    out.extend_from_slice(opts);
    out.resize(start + hl, 0);
    let c = fold(ones_add(0, &out[start..start + hl]));
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

fn write_ipv6(out: &mut Vec<u8>, v6: &Ipv6Spec, l4_proto: u8, l4_len: usize) {
    let word = (6u32 << 28) | (u32::from(v6.traffic_class) << 20) | (v6.flow_label & 0x000f_ffff);
    out.extend_from_slice(&word.to_be_bytes());
    let ext_len = if v6.ext.is_some() { 8 } else { 0 };
    out.extend_from_slice(&len16(ext_len + l4_len).to_be_bytes());
    let first_next = match v6.ext {
        None => l4_proto,
        Some(Ipv6Ext::HopByHop) => proto::HOPOPT,
        Some(Ipv6Ext::DestOpts) => proto::IPV6_DSTOPTS,
        Some(Ipv6Ext::Fragment { .. }) => proto::IPV6_FRAG,
    };
    out.push(first_next);
    out.push(v6.hop_limit);
    out.extend_from_slice(&v6.src.octets());
    out.extend_from_slice(&v6.dst.octets());
    match v6.ext {
        None => {}
        Some(Ipv6Ext::HopByHop) | Some(Ipv6Ext::DestOpts) => {
            // Next header, length 0 (8 bytes in all), one PadN option filling the other 6.
            out.extend_from_slice(&[l4_proto, 0, 1, 4, 0, 0, 0, 0]);
        }
        Some(Ipv6Ext::Fragment { offset, more, id }) => {
            out.push(l4_proto);
            out.push(0);
            let f = ((offset & 0x1fff) << 3) | u16::from(more);
            out.extend_from_slice(&f.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
}

fn write_tcp(out: &mut Vec<u8>, t: &TcpSpec) {
    let opt_len = tcp_options_len(&t.options);
    out.extend_from_slice(&t.src_port.to_be_bytes());
    out.extend_from_slice(&t.dst_port.to_be_bytes());
    out.extend_from_slice(&t.seq.to_be_bytes());
    out.extend_from_slice(&t.ack.to_be_bytes());
    out.push((((20 + opt_len) / 4) as u8) << 4);
    out.push(t.flags);
    out.extend_from_slice(&t.window.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&t.urgent.to_be_bytes());
    let start = out.len();
    let o = &t.options;
    if let Some(mss) = o.mss {
        out.extend_from_slice(&[2, 4]);
        out.extend_from_slice(&mss.to_be_bytes());
    }
    if o.sack_permitted {
        out.extend_from_slice(&[4, 2]);
    }
    if let Some((val, ecr)) = o.timestamps {
        out.extend_from_slice(&[8, 10]);
        out.extend_from_slice(&val.to_be_bytes());
        out.extend_from_slice(&ecr.to_be_bytes());
    }
    if let Some(ws) = o.wscale {
        out.extend_from_slice(&[3, 3, ws]);
    }
    // NOP padding (before EOL semantics are not needed: NOPs are valid anywhere).
    while out.len() < start + opt_len {
        out.push(1);
    }
}

fn pseudo_header_sum(ip: &IpSpec<'_>, l4_proto: u8, l4_len: usize) -> u32 {
    let mut sum = 0u32;
    match ip {
        IpSpec::V4(v4) => {
            sum = ones_add(sum, &v4.src.octets());
            sum = ones_add(sum, &v4.dst.octets());
            sum = ones_add(sum, &[0, l4_proto]);
            sum = ones_add(sum, &len16(l4_len).to_be_bytes());
        }
        IpSpec::V6(v6) => {
            sum = ones_add(sum, &v6.src.octets());
            sum = ones_add(sum, &v6.dst.octets());
            let len = u32::try_from(l4_len).unwrap_or(u32::MAX);
            sum = ones_add(sum, &len.to_be_bytes());
            sum = ones_add(sum, &[0, 0, 0, l4_proto]);
        }
    }
    sum
}

/// Adds `data` as big-endian 16-bit words (odd tail padded with zero) to a running sum,
/// folding as it goes so the sum never overflows.
pub(crate) fn ones_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        if sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
        if sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    sum
}

pub(crate) fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One side of a [`TcpSession`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// Sequence-number bookkeeping for one generated TCP connection, so its frames form a real
/// handshake, data exchange and FIN teardown that a stateful IDS tracks as established.
///
/// Every method writes exactly one frame into `out` (cleared first) and advances state;
/// the client sends with `ttl_client`, the server with `ttl_server`.
#[derive(Clone, Copy, Debug)]
pub struct TcpSession {
    pub client: Endpoint,
    pub server: Endpoint,
    /// Next sequence number the client sends.
    pub client_seq: u32,
    /// Next sequence number the server sends.
    pub server_seq: u32,
    pub eth: Option<EthSpec>,
    pub ttl_client: u8,
    pub ttl_server: u8,
    /// IPv4 identification counter, incremented per frame.
    pub ip_id: u16,
}

impl TcpSession {
    /// A session between `client` and `server` with the given initial sequence numbers,
    /// over plain Ethernet with TTL 64 both ways.
    pub fn new(
        client: (IpAddr, u16),
        server: (IpAddr, u16),
        client_isn: u32,
        server_isn: u32,
    ) -> Self {
        TcpSession {
            client: Endpoint {
                ip: client.0,
                port: client.1,
            },
            server: Endpoint {
                ip: server.0,
                port: server.1,
            },
            client_seq: client_isn,
            server_seq: server_isn,
            eth: Some(EthSpec::default()),
            ttl_client: 64,
            ttl_server: 64,
            ip_id: 1,
        }
    }

    /// Adds a VLAN tag to every frame of the session (twice for QinQ).
    pub fn vlan(mut self, id: u16) -> Self {
        let eth = self.eth.get_or_insert_with(EthSpec::default);
        if let Some(slot) = eth.vlans.get_mut(usize::from(eth.vlan_count)) {
            *slot = id & 0x0fff;
            eth.vlan_count += 1;
        }
        self
    }

    /// Writes any segment with explicit flags and payload in the given direction using the
    /// session's current numbers, then advances the sender's sequence number by the payload
    /// length plus one for SYN and FIN.
    pub fn segment(&mut self, out: &mut Vec<u8>, from_client: bool, flags: u8, payload: &[u8]) {
        let (src, dst, seq, ack, ttl) = if from_client {
            (
                self.client,
                self.server,
                self.client_seq,
                self.server_seq,
                self.ttl_client,
            )
        } else {
            (
                self.server,
                self.client,
                self.server_seq,
                self.client_seq,
                self.ttl_server,
            )
        };
        let mut t = TcpSpec::new(src.port, dst.port, flags);
        t.seq = seq;
        t.ack = if flags & tcp_flags::ACK != 0 { ack } else { 0 };
        if flags & tcp_flags::SYN != 0 {
            t.options = TcpOptions {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                timestamps: None,
            };
        }
        let mut f = FrameSpec::ip(src.ip, dst.ip, L4Spec::Tcp(t))
            .payload(payload)
            .ttl(ttl)
            .ip_id(self.ip_id);
        f.eth = self.eth;
        f.write(out);
        self.ip_id = self.ip_id.wrapping_add(1);
        let mut adv = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        if flags & (tcp_flags::SYN | tcp_flags::FIN) != 0 {
            adv = adv.wrapping_add(1);
        }
        if from_client {
            self.client_seq = self.client_seq.wrapping_add(adv);
        } else {
            self.server_seq = self.server_seq.wrapping_add(adv);
        }
    }

    /// Writes the three handshake frames (SYN, SYN-ACK, ACK), handing each to `emit`.
    pub fn handshake(&mut self, out: &mut Vec<u8>, emit: &mut dyn FnMut(&[u8])) {
        use tcp_flags::{ACK, SYN};
        self.segment(out, true, SYN, &[]);
        emit(out);
        self.segment(out, false, SYN | ACK, &[]);
        emit(out);
        self.segment(out, true, ACK, &[]);
        emit(out);
    }

    /// Writes a PSH-ACK data segment from one side followed by the other side's pure ACK.
    pub fn data(
        &mut self,
        out: &mut Vec<u8>,
        from_client: bool,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        use tcp_flags::{ACK, PSH};
        self.segment(out, from_client, PSH | ACK, payload);
        emit(out);
        self.segment(out, !from_client, ACK, &[]);
        emit(out);
    }

    /// Writes the teardown: client FIN-ACK, server FIN-ACK, client ACK.
    pub fn teardown(&mut self, out: &mut Vec<u8>, emit: &mut dyn FnMut(&[u8])) {
        use tcp_flags::{ACK, FIN};
        self.segment(out, true, FIN | ACK, &[]);
        emit(out);
        self.segment(out, false, FIN | ACK, &[]);
        emit(out);
        self.segment(out, true, ACK, &[]);
        emit(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent RFC 1071 checksum: sum of 16-bit words with end-around carry.
    fn rfc1071(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            sum += u64::from(data[i]) << 8 | u64::from(data[i + 1]);
            i += 2;
        }
        if i < data.len() {
            sum += u64::from(data[i]) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn v4_transport_ok(ip: &[u8]) -> bool {
        let hl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let seg = &ip[hl..total];
        let mut buf = Vec::new();
        buf.extend_from_slice(&ip[12..20]);
        buf.extend_from_slice(&[0, ip[9]]);
        buf.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        buf.extend_from_slice(seg);
        rfc1071(&buf) == 0
    }

    fn v6_transport_ok(ip: &[u8], l4_off: usize, next: u8) -> bool {
        let seg = &ip[l4_off..];
        let mut buf = Vec::new();
        buf.extend_from_slice(&ip[8..40]);
        buf.extend_from_slice(&(seg.len() as u32).to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, next]);
        buf.extend_from_slice(seg);
        rfc1071(&buf) == 0
    }

    const A: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const B: Ipv4Addr = Ipv4Addr::new(8, 8, 4, 4);

    #[test]
    fn ipv4_tcp_fields_and_checksums() {
        let mut t = TcpSpec::new(40000, 80, tcp_flags::PSH | tcp_flags::ACK);
        t.seq = 0x01020304;
        t.ack = 0x0a0b0c0d;
        t.window = 512;
        t.options = TcpOptions {
            mss: Some(1460),
            wscale: Some(7),
            sack_permitted: true,
            timestamps: Some((7, 9)),
        };
        let f = FrameSpec::ipv4(A, B, L4Spec::Tcp(t))
            .payload(b"GET / HTTP/1.1\r\n\r\nx")
            .ttl(33)
            .ip_id(0xbeef)
            .tos(0x10)
            .ip_options(&[0x94, 0x04, 0, 0, 1]);
        let mut out = vec![0xaa; 3];
        f.write(&mut out);
        assert_eq!(out.len(), f.len());
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        let ip = &out[14..];
        assert_eq!(ip[0], 0x47, "IHL 7 with 5 option bytes padded to 8");
        assert_eq!(ip[1], 0x10);
        assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, ip.len());
        assert_eq!(&ip[4..6], &[0xbe, 0xef]);
        assert_eq!(&ip[6..8], &[0x40, 0]);
        assert_eq!(ip[8], 33);
        assert_eq!(ip[9], 6);
        assert_eq!(&ip[12..16], &A.octets());
        assert_eq!(&ip[20..28], &[0x94, 0x04, 0, 0, 1, 0, 0, 0]);
        assert_eq!(rfc1071(&ip[..28]), 0, "IPv4 header checksum");
        let tcp = &ip[28..];
        assert_eq!(&tcp[0..4], &[0x9c, 0x40, 0, 80]);
        assert_eq!(&tcp[4..8], &[1, 2, 3, 4]);
        assert_eq!(&tcp[8..12], &[0x0a, 0x0b, 0x0c, 0x0d]);
        // 4 MSS + 2 SACK + 10 TS + 3 WS = 19 -> 20 option bytes, data offset 10.
        assert_eq!(tcp[12] >> 4, 10);
        assert_eq!(tcp[13], 0x18);
        assert_eq!(&tcp[14..16], &[2, 0]);
        assert_eq!(&tcp[20..24], &[2, 4, 0x05, 0xb4]);
        assert_eq!(&tcp[24..26], &[4, 2]);
        assert_eq!(&tcp[26..28], &[8, 10]);
        assert_eq!(&tcp[36..39], &[3, 3, 7]);
        assert_eq!(tcp[39], 1);
        assert_eq!(&tcp[40..], b"GET / HTTP/1.1\r\n\r\nx");
        assert!(v4_transport_ok(ip));
    }

    #[test]
    fn vlan_and_qinq_tags() {
        let f = FrameSpec::ipv4(
            A,
            B,
            L4Spec::Udp {
                src_port: 1,
                dst_port: 53,
            },
        )
        .vlan(100);
        let mut out = Vec::new();
        f.write(&mut out);
        assert_eq!(&out[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
        f.vlan(200).write(&mut out);
        assert_eq!(
            &out[12..22],
            &[0x88, 0xa8, 0x00, 100, 0x81, 0x00, 0x00, 200, 0x08, 0x00]
        );
        assert!(v4_transport_ok(&out[22..]));
        // A third tag is ignored rather than corrupting the frame.
        let f3 = f.vlan(200).vlan(300);
        assert_eq!(f3.eth.map(|e| e.vlan_count), Some(2));
    }

    #[test]
    fn udp_icmp_checksums_table() {
        let payloads: [&[u8]; 3] = [b"", b"odd", b"even"];
        for p in payloads {
            let mut out = Vec::new();
            FrameSpec::ipv4(
                A,
                B,
                L4Spec::Udp {
                    src_port: 5353,
                    dst_port: 53,
                },
            )
            .payload(p)
            .write(&mut out);
            let ip = &out[14..];
            assert!(v4_transport_ok(ip), "udp payload {p:?}");
            assert_eq!(u16::from_be_bytes([ip[24], ip[25]]) as usize, 8 + p.len());

            FrameSpec::ipv4(
                A,
                B,
                L4Spec::Icmp {
                    icmp_type: 8,
                    code: 0,
                    id: 0x1234,
                    seq: 7,
                },
            )
            .payload(p)
            .write(&mut out);
            let icmp = &out[34..];
            assert_eq!(rfc1071(icmp), 0, "icmp payload {p:?}");
            assert_eq!(&icmp[..2], &[8, 0]);
            assert_eq!(&icmp[4..8], &[0x12, 0x34, 0, 7]);
            assert_eq!(out[14 + 9], 1);
        }
    }

    #[test]
    fn ipv6_with_and_without_extension() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let cases = [
            (None, 54usize, 58u8),
            (Some(Ipv6Ext::HopByHop), 62, 0),
            (Some(Ipv6Ext::DestOpts), 62, 60),
            (
                Some(Ipv6Ext::Fragment {
                    offset: 0,
                    more: true,
                    id: 5,
                }),
                62,
                44,
            ),
        ];
        for (ext, l4_off, first_next) in cases {
            let mut f = FrameSpec::ipv6(
                s,
                d,
                L4Spec::Icmpv6 {
                    icmp_type: 128,
                    code: 0,
                    id: 1,
                    seq: 2,
                },
            )
            .payload(b"ping6")
            .ttl(3)
            .tos(0xb8);
            if let Some(e) = ext {
                f = f.ipv6_ext(e);
            }
            let mut out = Vec::new();
            f.write(&mut out);
            assert_eq!(out.len(), f.len());
            assert_eq!(&out[12..14], &[0x86, 0xdd]);
            let ip = &out[14..];
            assert_eq!(ip[0], 0x6b, "version 6, traffic class high nibble");
            assert_eq!(ip[1] >> 4, 0x8);
            assert_eq!(u16::from_be_bytes([ip[4], ip[5]]) as usize, ip.len() - 40);
            assert_eq!(ip[6], first_next);
            assert_eq!(ip[7], 3);
            if ext.is_some() {
                assert_eq!(ip[40], 58, "extension's next header is ICMPv6");
            }
            assert_eq!(out[l4_off], 128);
            assert!(v6_transport_ok(ip, l4_off - 14, 58), "ext {ext:?}");
        }
        let mut out = Vec::new();
        let t = TcpSpec::new(1234, 443, tcp_flags::SYN);
        FrameSpec::ipv6(s, d, L4Spec::Tcp(t))
            .payload(b"x")
            .raw_ip()
            .write(&mut out);
        assert_eq!(out[0] >> 4, 6);
        assert!(v6_transport_ok(&out, 40, 6));
    }

    #[test]
    fn ipv4_fragment_fields() {
        let mut out = Vec::new();
        FrameSpec::ipv4(A, B, L4Spec::Raw { proto: 17 })
            .ipv4_fragment(185, false, 0x4242)
            .payload(&[7; 16])
            .write(&mut out);
        let ip = &out[14..];
        assert_eq!(&ip[4..6], &[0x42, 0x42]);
        assert_eq!(u16::from_be_bytes([ip[6], ip[7]]), 185);
        assert_eq!(ip.len(), 36);
        assert_eq!(rfc1071(&ip[..20]), 0);
    }

    #[test]
    fn tcp_session_numbers() {
        let mut s = TcpSession::new((IpAddr::V4(A), 50000), (IpAddr::V4(B), 80), 1000, 5000);
        let mut out = Vec::new();
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut emit = |f: &[u8]| frames.push(f.to_vec());
        s.handshake(&mut out, &mut emit);
        s.data(&mut out, true, b"hello", &mut emit);
        s.data(&mut out, false, b"world!", &mut emit);
        s.teardown(&mut out, &mut emit);
        // (seq, ack, flags, sport)
        let want: [(u32, u32, u8, u16); 10] = [
            (1000, 0, 0x02, 50000),
            (5000, 1001, 0x12, 80),
            (1001, 5001, 0x10, 50000),
            (1001, 5001, 0x18, 50000),
            (5001, 1006, 0x10, 80),
            (5001, 1006, 0x18, 80),
            (1006, 5007, 0x10, 50000),
            (1006, 5007, 0x11, 50000),
            (5007, 1007, 0x11, 80),
            (1007, 5008, 0x10, 50000),
        ];
        assert_eq!(frames.len(), want.len());
        for (i, (f, w)) in frames.iter().zip(want).enumerate() {
            let ip = &f[14..];
            let hl = usize::from(ip[0] & 0xf) * 4;
            let tcp = &ip[hl..];
            let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
            let ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
            assert_eq!(
                (seq, ack, tcp[13], u16::from_be_bytes([tcp[0], tcp[1]])),
                w,
                "frame {i}"
            );
            assert!(v4_transport_ok(ip), "frame {i}");
            assert_eq!(rfc1071(&ip[..hl]), 0, "frame {i}");
        }
    }
}
