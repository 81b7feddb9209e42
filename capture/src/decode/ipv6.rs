//! IPv6: the fixed header and the extension-header chain (hop-by-hop, routing, fragment,
//! destination options, AH), payload length clipping and fragment information.

use super::bytes::{array, be16, be32, u8_at};
use super::{DecodeError, DecodeReason, Fragment, L3};
use std::net::{IpAddr, Ipv6Addr};

const HEADER_LEN: usize = 40;
pub(crate) const NEXT_HOP_BY_HOP: u8 = 0;
pub(crate) const NEXT_ROUTING: u8 = 43;
pub(crate) const NEXT_FRAGMENT: u8 = 44;
pub(crate) const NEXT_DEST_OPTS: u8 = 60;
pub(crate) const NEXT_AH: u8 = 51;

/// Parses the IPv6 header at `l3` and walks its extension headers.
#[inline]
pub(crate) fn parse(frame: &[u8], l3: usize) -> Result<L3, DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    // The version is checked first: it says more about a wrong frame than its length.
    match frame.get(l3) {
        None => return err(DecodeReason::Ipv6Truncated, l3),
        Some(b) if b >> 4 != 6 => return err(DecodeReason::Ipv6BadVersion, l3),
        Some(_) => {}
    }
    let Some(h) = frame.get(l3..).and_then(|b| array::<HEADER_LEN>(b, 0)) else {
        return err(DecodeReason::Ipv6Truncated, l3);
    };
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let mut next = h[6];
    let header_end = l3 + HEADER_LEN;
    // A zero payload length after a hop-by-hop header is a jumbogram (RFC 2675): the
    // frame itself bounds the packet.
    let claimed_end = if payload_len == 0 && next == NEXT_HOP_BY_HOP {
        frame.len()
    } else {
        header_end + payload_len
    };
    let end = claimed_end.min(frame.len());
    let mut off = header_end;
    let mut fragment = None;
    loop {
        let ext_len = match next {
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS => {
                u8_at(frame, off + 1).map(|l| (usize::from(l) + 1) * 8)
            }
            NEXT_AH => u8_at(frame, off + 1).map(|l| (usize::from(l) + 2) * 4),
            NEXT_FRAGMENT => Some(8),
            _ => break,
        };
        let ext_end = match ext_len {
            Some(len) if off + len <= end && off + len <= usize::from(u16::MAX) => off + len,
            _ => return err(DecodeReason::Ipv6ExtensionTruncated, off),
        };
        let following = u8_at(frame, off).unwrap_or_default();
        if next == NEXT_FRAGMENT {
            let field = be16(frame, off + 2).unwrap_or_default();
            let f = Fragment {
                offset: field & 0xfff8,
                more: field & 1 != 0,
                id: be32(frame, off + 4).unwrap_or_default(),
            };
            fragment = Some(f);
            if f.offset != 0 {
                // A later fragment: what follows is the middle of the datagram, not headers.
                next = following;
                off = ext_end;
                break;
            }
        }
        next = following;
        off = ext_end;
    }
    Ok(L3 {
        src: IpAddr::V6(Ipv6Addr::from(array::<16>(&h, 8).unwrap_or_default())),
        dst: IpAddr::V6(Ipv6Addr::from(array::<16>(&h, 24).unwrap_or_default())),
        proto: next,
        ttl: h[7],
        id: 0,
        tos: (u16::from_be_bytes([h[0], h[1]]) >> 4) as u8,
        options: off > header_end,
        fragment,
        l4_offset: off,
        end,
        claimed_end,
    })
}

/// The end of the IPv6 packet at `l3` as its header claims, for checksum callers.
#[inline]
pub(crate) fn claimed_end(frame: &[u8], l3: usize) -> Option<usize> {
    let payload_len = usize::from(be16(frame, l3 + 4)?);
    let next = u8_at(frame, l3 + 6)?;
    Some(if payload_len == 0 && next == NEXT_HOP_BY_HOP {
        frame.len()
    } else {
        l3 + HEADER_LEN + payload_len
    })
}
