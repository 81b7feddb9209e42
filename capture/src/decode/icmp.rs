//! ICMP and ICMPv6: type and code; the rest of the 8-byte header stays in the frame.

use super::bytes::array;
use super::{DecodeError, DecodeReason, IcmpHeader};

const HEADER_LEN: usize = 8;

/// Parses an ICMP (or, with `v6`, ICMPv6) header at `l4`; returns it and the payload start.
#[inline]
pub(crate) fn parse(
    frame: &[u8],
    l4: usize,
    data_end: usize,
    v6: bool,
) -> Result<(IcmpHeader, usize), DecodeError> {
    let seg = frame.get(l4..data_end).unwrap_or_default();
    match array::<HEADER_LEN>(seg, 0) {
        Some(h) => Ok((
            IcmpHeader {
                icmp_type: h[0],
                code: h[1],
            },
            l4 + HEADER_LEN,
        )),
        None => Err(DecodeError {
            reason: if v6 {
                DecodeReason::Icmpv6Truncated
            } else {
                DecodeReason::IcmpTruncated
            },
            offset: l4,
        }),
    }
}
