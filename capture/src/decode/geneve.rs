//! GENEVE (RFC 8926): an 8-byte header (version 0, options length in 4-byte words, a
//! protocol type, a 24-bit VNI), variable options, then Ethernet (0x6558), IPv4 or IPv6.

use super::bytes::array;
use super::gre::{PROTO_IPV4, PROTO_IPV6, PROTO_TEB};
use super::tunnel::{Layer, Next, TunnelKind};
use super::{DecodeError, DecodeReason};

const HEADER_LEN: usize = 8;

/// The GENEVE header at `at` (UDP payload ending at `end`): the inner layer.
#[inline]
pub(crate) fn inner(frame: &[u8], at: usize, end: usize) -> Result<Layer, DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    let Some(h) = frame.get(at..end).and_then(|s| array::<HEADER_LEN>(s, 0)) else {
        return err(DecodeReason::GeneveTruncated, at);
    };
    if h[0] >> 6 != 0 {
        return err(DecodeReason::GeneveBadVersion, at);
    }
    let options = usize::from(h[0] & 0x3f) * 4;
    let start = at + HEADER_LEN + options;
    if start > end {
        return err(DecodeReason::GeneveTruncated, at);
    }
    let next = match u16::from_be_bytes([h[2], h[3]]) {
        PROTO_TEB => Next::Ethernet(start),
        PROTO_IPV4 => Next::Ipv4(start),
        PROTO_IPV6 => Next::Ipv6(start),
        _ => return err(DecodeReason::GeneveBadProtocol, at + 2),
    };
    Ok(Layer {
        kind: TunnelKind::Geneve,
        next,
        src_port: 0,
        dst_port: 0,
        id: Some(u32::from_be_bytes([0, h[4], h[5], h[6]])),
    })
}
