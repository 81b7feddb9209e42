//! GRE (RFC 2784/2890): version 0 with optional checksum, key and sequence number,
//! carrying IPv4, IPv6, Ethernet (transparent Ethernet bridging) or ERSPAN.
//!
//! As in Suricata 7, a GRE packet whose protocol we do not follow (PPTP's version 1 with
//! PPP, or an unknown protocol) is not an error: the GRE packet itself is what is
//! inspected. A version above 1, routing (the deprecated source-route list), or a header
//! cut short are errors.

use super::bytes::{be16, be32};
use super::tunnel::{erspan_layer, Layer, Next, TunnelKind};
use super::{DecodeError, DecodeReason};

const FLAG_CHECKSUM: u16 = 0x8000;
const FLAG_ROUTING: u16 = 0x4000;
const FLAG_KEY: u16 = 0x2000;
const FLAG_SEQ: u16 = 0x1000;
const VERSION_MASK: u16 = 0x0007;

pub(crate) const PROTO_IPV4: u16 = 0x0800;
pub(crate) const PROTO_IPV6: u16 = 0x86dd;
/// Transparent Ethernet bridging: an Ethernet frame follows.
pub(crate) const PROTO_TEB: u16 = 0x6558;
/// ERSPAN type I (no sequence number) or II (with one).
pub(crate) const PROTO_ERSPAN: u16 = 0x88be;
/// ERSPAN type III.
pub(crate) const PROTO_ERSPAN3: u16 = 0x22eb;

/// The layer inside the GRE header at `at` (data ends at `end`), or `None` for a GRE
/// packet that carries nothing we follow.
#[inline]
pub(crate) fn inner(frame: &[u8], at: usize, end: usize) -> Result<Option<Layer>, DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    let (Some(flags), Some(proto)) = (be16(frame, at), be16(frame, at + 2)) else {
        return err(DecodeReason::GreTruncated, at);
    };
    if at + 4 > end {
        return err(DecodeReason::GreTruncated, at);
    }
    match flags & VERSION_MASK {
        0 => {}
        // PPTP's enhanced GRE carries PPP, which we do not decode: inspect the GRE packet.
        1 => return Ok(None),
        _ => return err(DecodeReason::GreBadVersion, at + 1),
    }
    if flags & FLAG_ROUTING != 0 {
        return err(DecodeReason::GreBadFlags, at);
    }
    let mut off = at + 4;
    if flags & FLAG_CHECKSUM != 0 {
        off += 4;
    }
    let key = if flags & FLAG_KEY != 0 {
        let k = be32(frame, off);
        off += 4;
        k
    } else {
        None
    };
    let seq = flags & FLAG_SEQ != 0;
    if seq {
        off += 4;
    }
    if off > end {
        return err(DecodeReason::GreTruncated, at);
    }
    let layer = |next| Layer {
        kind: TunnelKind::Gre,
        next,
        src_port: 0,
        dst_port: 0,
        id: key,
    };
    Ok(Some(match proto {
        PROTO_IPV4 => layer(Next::Ipv4(off)),
        PROTO_IPV6 => layer(Next::Ipv6(off)),
        PROTO_TEB => layer(Next::Ethernet(off)),
        // Type I and II share the protocol; the sequence bit tells them apart (as in
        // Suricata's decode-gre.c).
        PROTO_ERSPAN if seq => erspan_layer(frame, off, end, TunnelKind::ErspanII)?,
        PROTO_ERSPAN => erspan_layer(frame, off, end, TunnelKind::ErspanI)?,
        PROTO_ERSPAN3 => erspan_layer(frame, off, end, TunnelKind::ErspanIII)?,
        _ => return Ok(None),
    }))
}
