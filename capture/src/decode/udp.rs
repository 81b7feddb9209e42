//! UDP: ports and a length that must agree with the IP length (as Suricata requires).

use super::bytes::array;
use super::{DecodeError, DecodeReason, UdpHeader};

const HEADER_LEN: usize = 8;

/// Parses the UDP header at `l4`; returns it and the payload range `(start, end)`.
/// In a first fragment the UDP length covers the whole datagram, so it is only checked
/// for being at least a header.
#[inline]
pub(crate) fn parse(
    frame: &[u8],
    l4: usize,
    data_end: usize,
    claimed_end: usize,
    first_fragment: bool,
) -> Result<(UdpHeader, usize, usize), DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    let seg = frame.get(l4..data_end).unwrap_or_default();
    let Some(h) = array::<HEADER_LEN>(seg, 0) else {
        return err(DecodeReason::UdpTruncated, l4);
    };
    let length = u16::from_be_bytes([h[4], h[5]]);
    let len = usize::from(length);
    let claimed = claimed_end.saturating_sub(l4);
    if len < HEADER_LEN || (!first_fragment && len != claimed) {
        return err(DecodeReason::UdpBadLength, l4 + 4);
    }
    let udp = UdpHeader {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        length,
    };
    Ok((udp, l4 + HEADER_LEN, data_end))
}
