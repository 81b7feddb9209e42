//! TCP: the fixed header plus a summary of the options the engine uses (MSS, window
//! scale, SACK-permitted, timestamps).

use super::bytes::array;
use super::{DecodeError, DecodeReason, TcpHeader};

const MIN_HEADER_LEN: usize = 20;
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_PERMITTED: u8 = 4;
const OPT_TIMESTAMP: u8 = 8;

/// Parses the TCP header at `l4`. `data_end` is where captured IP data ends and
/// `claimed_end` where the IP header says it ends; a header longer than the claimed
/// segment is malformed, one merely cut off by the snap length is truncated.
/// Returns the header and the offset of the payload.
#[inline]
pub(crate) fn parse(
    frame: &[u8],
    l4: usize,
    data_end: usize,
    claimed_end: usize,
) -> Result<(TcpHeader, usize), DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    let seg = frame.get(l4..data_end).unwrap_or_default();
    let Some(h) = array::<MIN_HEADER_LEN>(seg, 0) else {
        return err(DecodeReason::TcpTruncated, l4);
    };
    let header_len = usize::from(h[12] >> 4) * 4;
    if header_len < MIN_HEADER_LEN || l4 + header_len > claimed_end {
        return err(DecodeReason::TcpBadHeaderLength, l4 + 12);
    }
    let Some(options) = seg.get(MIN_HEADER_LEN..header_len) else {
        return err(DecodeReason::TcpTruncated, l4);
    };
    let mut tcp = TcpHeader {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        header_len: header_len as u8,
        flags: h[13],
        window: u16::from_be_bytes([h[14], h[15]]),
        urgent: u16::from_be_bytes([h[18], h[19]]),
        ..TcpHeader::default()
    };
    if !options.is_empty() {
        if let Err(at) = parse_options(options, &mut tcp) {
            return err(DecodeReason::TcpBadOptions, l4 + MIN_HEADER_LEN + at);
        }
    }
    Ok((tcp, l4 + header_len))
}

/// Walks the options area; on a malformed option returns its offset within `opts`.
#[inline]
fn parse_options(opts: &[u8], tcp: &mut TcpHeader) -> Result<(), usize> {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            OPT_EOL => break,
            OPT_NOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = match opts.get(i + 1) {
            Some(&len) if len >= 2 => usize::from(len),
            _ => return Err(i),
        };
        let Some(body) = opts.get(i + 2..i + len) else {
            return Err(i);
        };
        match (kind, body.len()) {
            (OPT_MSS, 2) => tcp.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (OPT_WSCALE, 1) => tcp.wscale = Some(body[0]),
            (OPT_SACK_PERMITTED, 0) => tcp.sack_permitted = true,
            (OPT_TIMESTAMP, 8) => {
                let val = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let ecr = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                tcp.timestamp = Some((val, ecr));
            }
            (OPT_MSS | OPT_WSCALE | OPT_SACK_PERMITTED | OPT_TIMESTAMP, _) => return Err(i),
            _ => {}
        }
        i += len;
    }
    Ok(())
}
