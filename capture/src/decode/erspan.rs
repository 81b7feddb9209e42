//! ERSPAN, the mirrored-traffic encapsulation of Cisco and cloud taps, inside GRE:
//! type I has no header (the mirrored Ethernet frame follows GRE at once), type II an
//! 8-byte header (version 1), type III a 12-byte header (version 2) plus an optional
//! 8-byte platform-specific subheader. Yields where the mirrored frame starts and the
//! 10-bit session id.

use super::bytes::be16;
use super::tunnel::TunnelKind;
use super::{DecodeError, DecodeReason};

const TYPE2_LEN: usize = 8;
const TYPE3_LEN: usize = 12;
const TYPE3_SUBHEADER_LEN: usize = 8;
const VERSION_TYPE2: u8 = 1;
const VERSION_TYPE3: u8 = 2;
/// The O bit (optional subheader present) in the last byte of the type III header.
const TYPE3_FLAG_O: u8 = 0x01;

/// Parses the ERSPAN header of `kind` at `at` (data ends at `end`): the offset of the
/// mirrored Ethernet frame and the session id (none for type I).
#[inline]
pub(crate) fn parse(
    frame: &[u8],
    at: usize,
    end: usize,
    kind: TunnelKind,
) -> Result<(usize, Option<u32>), DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    let (len, version) = match kind {
        TunnelKind::ErspanII => (TYPE2_LEN, VERSION_TYPE2),
        TunnelKind::ErspanIII => (TYPE3_LEN, VERSION_TYPE3),
        _ => return Ok((at, None)),
    };
    let (Some(word0), Some(word1)) = (be16(frame, at), be16(frame, at + 2)) else {
        return err(DecodeReason::ErspanTruncated, at);
    };
    if at + len > end {
        return err(DecodeReason::ErspanTruncated, at);
    }
    if (word0 >> 12) as u8 != version {
        return err(DecodeReason::ErspanBadVersion, at);
    }
    let session = u32::from(word1 & 0x03ff);
    let mut inner = at + len;
    if kind == TunnelKind::ErspanIII {
        let flags = frame.get(at + TYPE3_LEN - 1).copied().unwrap_or_default();
        if flags & TYPE3_FLAG_O != 0 {
            inner += TYPE3_SUBHEADER_LEN;
            if inner > end {
                return err(DecodeReason::ErspanTruncated, at);
            }
        }
    }
    Ok((inner, Some(session)))
}
