//! ICMP and ICMPv6: type and code; the rest of the 8-byte header stays in the frame.

use super::bytes::array;
use super::{DecodeError, DecodeReason, IcmpHeader};

const HEADER_LEN: usize = 8;

/// Parses an ICMP (or, with `v6`, ICMPv6) header at `l4`; returns it and where its
/// payload starts and ends, as Suricata 7 has them (content rules see what it sees).
#[inline]
pub(crate) fn parse(
    frame: &[u8],
    l4: usize,
    data_end: usize,
    v6: bool,
) -> Result<(IcmpHeader, usize, usize), DecodeError> {
    let seg = frame.get(l4..data_end).unwrap_or_default();
    match array::<HEADER_LEN>(seg, 0) {
        Some(h) => {
            let header = IcmpHeader {
                icmp_type: h[0],
                code: h[1],
            };
            let (start, end) = if v6 {
                v6_payload(&header, l4, data_end)
            } else {
                (l4 + v4_header_len(&header, seg), data_end)
            };
            Ok((header, start, end))
        }
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

/// Suricata's ICMPv4 header length (`icmpv4vars.hlen`): 8 bytes, plus the three
/// timestamps of a timestamp request or reply (types 13, 14), plus a router
/// advertisement's addresses (type 9: count times entry size in words), each only when
/// the message holds them.
fn v4_header_len(h: &IcmpHeader, seg: &[u8]) -> usize {
    let extra = match h.icmp_type {
        13 | 14 => 12,
        9 => usize::from(seg[4]) * usize::from(seg[5]) * 4,
        _ => 0,
    };
    if seg.len() >= HEADER_LEN + extra {
        HEADER_LEN + extra
    } else {
        HEADER_LEN
    }
}

/// Suricata's ICMPv6 payload. Errors and echoes with a known code have the 8-byte
/// header; every other message is an "info message" to Suricata's decoder, which moves
/// the payload's start back to byte 4 but shortens the length past the 8-byte header by
/// 4 (`payload_len -= 4`), so the payload is `len - 12` bytes from byte 4 (empty below
/// 12 bytes): an MLD query of 14 bytes has a 2-byte payload, bytes 4 and 5.
fn v6_payload(h: &IcmpHeader, l4: usize, end: usize) -> (usize, usize) {
    let full_header = match h.icmp_type {
        1 => h.code <= 6,
        2 => h.code == 0,
        3 => h.code <= 1,
        4 => h.code <= 2,
        128 | 129 => h.code == 0,
        _ => false,
    };
    let after = l4 + HEADER_LEN;
    if full_header {
        (after, end)
    } else if end >= after + 4 {
        (l4 + 4, end - 8)
    } else {
        (end, end)
    }
}
