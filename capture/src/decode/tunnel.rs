//! Tunnels: which encapsulation an IP packet carries, and the descriptor a decoded inner
//! packet keeps of it.
//!
//! Mirrored and cloud traffic arrives wrapped (GRE, ERSPAN, VXLAN, GENEVE, MPLS, IP-in-IP):
//! rules and the flow table must see the inner flow, while the alert still says which
//! tunnel it came through. The decoder follows encapsulations in place — an inner header
//! is only an offset further into the same frame — so tunnels cost no copy.
//!
//! The descriptor records the **outermost** IP tunnel (its addresses, protocol, ports and
//! id) and the **depth** (how many IP-level encapsulations were crossed), as Suricata 7's
//! EVE `tunnel` object does (it describes the root packet and `recursion_level`).

use super::bytes::be16;
use super::{erspan, geneve, gre, udp, vxlan, DecodeError, L3};
use std::net::IpAddr;

/// Encapsulations followed before decoding stops with
/// [`super::DecodeReason::TunnelTooDeep`] (Suricata's default limit is 16 layers; four
/// tunnels inside each other is already beyond what real deployments send).
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// Layers (Ethernet, MPLS stacks, IP headers) walked in one frame at most: a second,
/// looser bound so that no chain of layers can loop without limit.
pub(crate) const MAX_LAYERS: usize = 16;

/// The kind of encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TunnelKind {
    /// GRE (version 0) carrying IPv4, IPv6 or Ethernet (transparent Ethernet bridging).
    Gre = 0,
    /// ERSPAN type I: GRE 0x88BE without sequence number and without ERSPAN header.
    ErspanI = 1,
    /// ERSPAN type II: GRE 0x88BE with sequence number and an 8-byte ERSPAN header.
    ErspanII = 2,
    /// ERSPAN type III: GRE 0x22EB with a 12-byte (or 20-byte) ERSPAN header.
    ErspanIII = 3,
    /// VXLAN over UDP (port 4789 by default).
    Vxlan = 4,
    /// GENEVE over UDP (port 6081 by default).
    Geneve = 5,
    /// An MPLS label stack over Ethernet (no outer IP header).
    Mpls = 6,
    /// IPv4 in IPv4 or IPv6 (IP protocol 4).
    IpInIp = 7,
    /// IPv6 in IPv4 or IPv6 (IP protocol 41).
    Ipv6InIp = 8,
}

impl TunnelKind {
    pub const ALL: [TunnelKind; 9] = [
        TunnelKind::Gre,
        TunnelKind::ErspanI,
        TunnelKind::ErspanII,
        TunnelKind::ErspanIII,
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::Mpls,
        TunnelKind::IpInIp,
        TunnelKind::Ipv6InIp,
    ];

    /// Stable lower-case name (alert records, EVE `tunnel.kind`).
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::ErspanI => "erspan1",
            TunnelKind::ErspanII => "erspan2",
            TunnelKind::ErspanIII => "erspan3",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Mpls => "mpls",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Ipv6InIp => "ipv6inip",
        }
    }

    /// The kind with this `repr(u8)` value.
    pub fn from_u8(v: u8) -> Option<TunnelKind> {
        TunnelKind::ALL.get(usize::from(v)).copied()
    }
}

/// The tunnel a decoded packet arrived in: the outermost encapsulation that has an IP
/// header (or, when MPLS over Ethernet is the only one, the MPLS stack), and the depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// Outer IP addresses; `None` for MPLS over Ethernet, which has no outer IP header.
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// Outer IP protocol: 47 (GRE, ERSPAN), 17 (VXLAN, GENEVE), 4 or 41; 0 for MPLS.
    pub proto: u8,
    /// Outer UDP ports for VXLAN and GENEVE, else 0.
    pub src_port: u16,
    pub dst_port: u16,
    /// VXLAN/GENEVE VNI, GRE key, ERSPAN session id, or the MPLS bottom-of-stack label.
    pub id: Option<u32>,
    /// IP-level encapsulations crossed to reach the inner packet (1 for one tunnel; MPLS
    /// label stacks do not count, as in Suricata, so an MPLS-only packet has depth 0).
    pub depth: u8,
    /// Where the outermost tunnel's IP header starts in the frame, and how many of the
    /// packet's VLAN tags lie outside it: what [`crate::decode::decode_outer`] re-reads
    /// (0 and 0 for MPLS over Ethernet).
    pub outer_l3: u16,
    pub outer_vlans: u8,
}

/// Which tunnels are decoded, with Suricata 7's defaults (`decoder.vxlan.ports`,
/// `decoder.geneve.ports`); a zero port is an unused slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    pub vxlan_ports: [u16; 4],
    pub geneve_ports: [u16; 4],
}

impl TunnelConfig {
    /// Suricata 7's defaults: VXLAN on 4789, GENEVE on 6081.
    pub const DEFAULT: TunnelConfig = TunnelConfig {
        vxlan_ports: [4789, 0, 0, 0],
        geneve_ports: [6081, 0, 0, 0],
    };
}

impl Default for TunnelConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where decoding continues inside a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Ipv4(usize),
    Ipv6(usize),
    Ethernet(usize),
    Mpls(usize),
}

/// One encapsulation found after an IP header: what it is and where the inner data is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer {
    pub kind: TunnelKind,
    pub next: Next,
    pub src_port: u16,
    pub dst_port: u16,
    pub id: Option<u32>,
}

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;

/// Whether an unfragmented IP packet may carry a tunnel: a cheap test on the protocol
/// (and the UDP destination port) that keeps plain traffic off the layer walk.
#[inline(always)]
pub(crate) fn may_carry(frame: &[u8], l3: &L3, cfg: &TunnelConfig) -> bool {
    match l3.proto {
        IPPROTO_IPIP | IPPROTO_IPV6 | IPPROTO_GRE => true,
        IPPROTO_UDP => match be16(frame, l3.l4_offset + 2) {
            Some(0) | None => false,
            Some(p) => cfg.vxlan_ports.contains(&p) || cfg.geneve_ports.contains(&p),
        },
        _ => false,
    }
}

/// The encapsulation an unfragmented IP packet carries, if any. `Ok(None)` means the
/// packet is not a tunnel we follow (its own transport is what gets decoded); an error
/// means it is one, and its tunnel header is malformed.
#[inline]
pub(crate) fn inner(
    frame: &[u8],
    l3: &L3,
    cfg: &TunnelConfig,
) -> Result<Option<Layer>, DecodeError> {
    let at = l3.l4_offset;
    let layer = |kind, next| Layer {
        kind,
        next,
        src_port: 0,
        dst_port: 0,
        id: None,
    };
    match l3.proto {
        IPPROTO_IPIP => Ok(Some(layer(TunnelKind::IpInIp, Next::Ipv4(at)))),
        IPPROTO_IPV6 => Ok(Some(layer(TunnelKind::Ipv6InIp, Next::Ipv6(at)))),
        IPPROTO_GRE => gre::inner(frame, at, l3.end),
        IPPROTO_UDP => {
            let Some(dport) = be16(frame, at + 2).filter(|_| at + 8 <= l3.end) else {
                return Ok(None);
            };
            let vx = cfg.vxlan_ports.contains(&dport);
            let gn = !vx && cfg.geneve_ports.contains(&dport);
            if dport == 0 || !(vx || gn) {
                return Ok(None);
            }
            // The UDP header must be sound before its payload is trusted as a tunnel.
            let (u, start, end) = udp::parse(frame, at, l3.end, l3.claimed_end, false)?;
            let mut l = if vx {
                vxlan::inner(frame, start, end)?
            } else {
                geneve::inner(frame, start, end)?
            };
            l.src_port = u.src_port;
            l.dst_port = u.dst_port;
            Ok(Some(l))
        }
        _ => Ok(None),
    }
}

/// ERSPAN (GRE 0x88BE or 0x22EB) inner layer; kept here so `gre` stays about GRE.
#[inline]
pub(crate) fn erspan_layer(
    frame: &[u8],
    at: usize,
    end: usize,
    kind: TunnelKind,
) -> Result<Layer, DecodeError> {
    let (inner, session) = erspan::parse(frame, at, end, kind)?;
    Ok(Layer {
        kind,
        next: Next::Ethernet(inner),
        src_port: 0,
        dst_port: 0,
        id: session,
    })
}
