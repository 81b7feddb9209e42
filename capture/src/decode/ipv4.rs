//! IPv4: header length and options, total length (Ethernet padding excluded, snaplen
//! truncation tolerated), fragments, and the optional header checksum check.

use super::bytes::{array, be16};
use super::checksum;
use super::{DecodeError, DecodeReason, Fragment, L3};
use std::net::{IpAddr, Ipv4Addr};

const MIN_HEADER_LEN: usize = 20;
const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// Parses the IPv4 header at `l3` in `frame`.
#[inline]
pub(crate) fn parse(frame: &[u8], l3: usize, verify_checksum: bool) -> Result<L3, DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    // The version is checked first: it says more about a wrong frame than its length.
    match frame.get(l3) {
        None => return err(DecodeReason::Ipv4Truncated, l3),
        Some(b) if b >> 4 != 4 => return err(DecodeReason::Ipv4BadVersion, l3),
        Some(_) => {}
    }
    let Some(h) = frame.get(l3..).and_then(|b| array::<MIN_HEADER_LEN>(b, 0)) else {
        return err(DecodeReason::Ipv4Truncated, l3);
    };
    let header_len = usize::from(h[0] & 0x0f) * 4;
    if header_len < MIN_HEADER_LEN {
        return err(DecodeReason::Ipv4BadHeaderLength, l3);
    }
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total_len < header_len {
        return err(DecodeReason::Ipv4BadTotalLength, l3 + 2);
    }
    let header_end = l3 + header_len;
    let Some(header) = frame.get(l3..header_end) else {
        return err(DecodeReason::Ipv4Truncated, l3);
    };
    if verify_checksum && checksum::fold(checksum::sum(header, 0)) != 0xffff {
        return err(DecodeReason::Ipv4BadChecksum, l3 + 10);
    }
    let claimed_end = l3 + total_len;
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let id = u16::from_be_bytes([h[4], h[5]]);
    let fragment = (frag & (FLAG_MORE_FRAGMENTS | OFFSET_MASK) != 0).then_some(Fragment {
        offset: (frag & OFFSET_MASK) << 3,
        more: frag & FLAG_MORE_FRAGMENTS != 0,
        id: u32::from(id),
    });
    Ok(L3 {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        proto: h[9],
        ttl: h[8],
        id,
        tos: h[1],
        options: header_len > MIN_HEADER_LEN,
        fragment,
        l4_offset: header_end,
        end: claimed_end.min(frame.len()),
        claimed_end,
    })
}

/// The IPv4 total length claimed by the header at `l3`, for checksum callers.
#[inline]
pub(crate) fn total_len(frame: &[u8], l3: usize) -> Option<usize> {
    be16(frame, l3 + 2).map(usize::from)
}
