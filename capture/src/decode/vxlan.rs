//! VXLAN (RFC 7348): an 8-byte header with the I flag and a 24-bit VNI, then an Ethernet
//! frame. As in Suricata 7, the I flag must be set and the reserved word after the flags
//! must be zero.

use super::bytes::array;
use super::tunnel::{Layer, Next, TunnelKind};
use super::{DecodeError, DecodeReason};

const HEADER_LEN: usize = 8;
const FLAG_I: u8 = 0x08;

/// The VXLAN header at `at` (UDP payload ending at `end`): the inner Ethernet layer.
#[inline]
pub(crate) fn inner(frame: &[u8], at: usize, end: usize) -> Result<Layer, DecodeError> {
    let h = match frame.get(at..end).and_then(|s| array::<HEADER_LEN>(s, 0)) {
        Some(h) => h,
        None => {
            return Err(DecodeError {
                reason: DecodeReason::VxlanTruncated,
                offset: at,
            })
        }
    };
    if h[0] & FLAG_I == 0 || h[1..4] != [0, 0, 0] {
        return Err(DecodeError {
            reason: DecodeReason::VxlanBadFlags,
            offset: at,
        });
    }
    Ok(Layer {
        kind: TunnelKind::Vxlan,
        next: Next::Ethernet(at + HEADER_LEN),
        src_port: 0,
        dst_port: 0,
        id: Some(u32::from_be_bytes([0, h[4], h[5], h[6]])),
    })
}
