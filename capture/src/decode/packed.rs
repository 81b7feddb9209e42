//! A decoded packet in about half the bytes of a [`Packet`], for the handoff between a
//! thread that decodes and one that inspects.
//!
//! Replay's reader decodes every frame and hands it to a worker on another core; each
//! byte handed over is written on one core and read on the other, so its cache line
//! crosses between them twice per packet. A [`Packet`] is 200 bytes, mostly for what
//! few packets have (a tunnel, a fragment, a tunnel error); [`Packed`] keeps what a
//! plain packet has (Ethernet or raw IP, VLANs, IPv4 or IPv6, its transport header) and
//! is lossless: [`Packed::unpack`] gives back the very packet [`Packed::pack`] took, its
//! slices pointing at the same frame bytes. Packets it cannot hold are handed over whole.

use super::{Packet, L4};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A plain packet, packed; see the module text.
#[derive(Clone, Copy, Debug)]
pub struct Packed<'a> {
    frame: &'a [u8],
    /// IPv4 addresses in the first four bytes.
    src: [u8; 16],
    dst: [u8; 16],
    l4: L4,
    vlan: [u16; 2],
    l3_offset: u16,
    l4_offset: u16,
    payload_offset: u16,
    payload_len: u16,
    ip_id: u16,
    vlan_count: u8,
    ip_proto: u8,
    ttl: u8,
    tos: u8,
    /// [`Packed::V6`] and [`Packed::OPTIONS`].
    bits: u8,
}

impl<'a> Packed<'a> {
    const V6: u8 = 1;
    const OPTIONS: u8 = 2;

    /// `p` packed, or `None` when it has what a packed packet cannot hold: a tunnel, a
    /// tunnel error, a fragment, or a frame longer than 64 KiB.
    #[inline]
    pub fn pack(p: &Packet<'a>) -> Option<Packed<'a>> {
        if p.tunnel.is_some() || p.tunnel_error.is_some() || p.fragment.is_some() {
            return None;
        }
        let payload_offset = u16::try_from(p.payload_offset()?).ok()?;
        u16::try_from(p.frame.len()).ok()?;
        let payload_len = p.payload.len() as u16;
        let (src, dst, v6) = match (p.src, p.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (v4_bytes(s), v4_bytes(d), false),
            (IpAddr::V6(s), IpAddr::V6(d)) => (s.octets(), d.octets(), true),
            _ => return None,
        };
        Some(Packed {
            frame: p.frame,
            src,
            dst,
            l4: p.l4,
            vlan: p.vlan,
            l3_offset: p.l3_offset,
            l4_offset: p.l4_offset,
            payload_offset,
            payload_len,
            ip_id: p.ip_id,
            vlan_count: p.vlan_count,
            ip_proto: p.ip_proto,
            ttl: p.ttl,
            tos: p.tos,
            bits: if v6 { Self::V6 } else { 0 } | if p.ip_options { Self::OPTIONS } else { 0 },
        })
    }

    /// The packet [`Packed::pack`] was given.
    #[inline]
    pub fn unpack(&self) -> Packet<'a> {
        let (src, dst) = if self.bits & Self::V6 != 0 {
            (
                IpAddr::V6(Ipv6Addr::from(self.src)),
                IpAddr::V6(Ipv6Addr::from(self.dst)),
            )
        } else {
            (
                IpAddr::V4(v4_addr(&self.src)),
                IpAddr::V4(v4_addr(&self.dst)),
            )
        };
        Packet {
            frame: self.frame,
            vlan: self.vlan,
            vlan_count: self.vlan_count,
            l3_offset: self.l3_offset,
            l4_offset: self.l4_offset,
            src,
            dst,
            ip_proto: self.ip_proto,
            ttl: self.ttl,
            ip_id: self.ip_id,
            tos: self.tos,
            ip_options: self.bits & Self::OPTIONS != 0,
            fragment: None,
            l4: self.l4,
            payload: self.payload(),
            tunnel: None,
            tunnel_error: None,
        }
    }

    /// The packet's payload, without unpacking the rest (for prefetching it).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let at = usize::from(self.payload_offset);
        // In range by construction (`pack` took the offset and length of a slice of
        // the frame); `get` keeps that a checked fact rather than an assumption.
        self.frame
            .get(at..at + usize::from(self.payload_len))
            .unwrap_or_default()
    }

    /// Whether the packet is TCP, without unpacking it.
    #[inline]
    pub fn is_tcp(&self) -> bool {
        matches!(self.l4, L4::Tcp(_))
    }

    /// Whether the packet is a TCP SYN without ACK (a connection's first packet), without
    /// unpacking it.
    #[inline]
    pub fn is_syn(&self) -> bool {
        use super::tcp_flags::{ACK, SYN};
        matches!(self.l4, L4::Tcp(t) if t.flags & (SYN | ACK) == SYN)
    }
}

fn v4_bytes(a: Ipv4Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a.octets());
    b
}

fn v4_addr(b: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Whether `b` is `a` field for field, its slices the same bytes of the same frame (the
/// test of [`Packed`]'s round trip, shared by the decoder's tests and its fuzz target).
pub fn same_packet(a: &Packet<'_>, b: &Packet<'_>) -> bool {
    format!("{a:?}") == format!("{b:?}")
        && a.frame.as_ptr() == b.frame.as_ptr()
        && a.payload.as_ptr() == b.payload.as_ptr()
        && a.payload.len() == b.payload.len()
}

/// Checks `p`'s round trip through [`Packed`]: a plain packet packs and unpacks to
/// itself; any other does not pack. Panics with what differs (tests and fuzzing).
pub fn check_round_trip(p: &Packet<'_>) {
    match Packed::pack(p) {
        Some(k) => {
            let u = k.unpack();
            assert!(same_packet(p, &u), "{p:?} packed and unpacked as {u:?}");
            assert_eq!(k.is_tcp(), p.tcp().is_some());
            assert_eq!(k.payload().as_ptr(), p.payload.as_ptr());
        }
        None => assert!(
            p.tunnel.is_some()
                || p.tunnel_error.is_some()
                || p.fragment.is_some()
                || p.frame.len() > usize::from(u16::MAX),
            "a plain packet did not pack: {p:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_with_a_timestamp_and_frame_number_fits_two_cache_lines() {
        let (k, p) = (
            std::mem::size_of::<Packed<'static>>(),
            std::mem::size_of::<Packet<'static>>(),
        );
        assert!(k + 16 <= 128, "Packed {k} bytes (Packet {p})");
    }
}
