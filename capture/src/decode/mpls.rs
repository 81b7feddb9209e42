//! MPLS label stacks (EtherType 0x8847/0x8848): labels up to the bottom-of-stack bit,
//! then, as Suricata 7 decides, IPv4 for the IPv4 explicit-null label (0), IPv6 for the
//! IPv6 explicit-null label (2), else by the first nibble: 4 IPv4, 6 IPv6, 0 an Ethernet
//! pseudowire after a 4-byte control word.

use super::bytes::be32;
use super::tunnel::Next;
use super::{DecodeError, DecodeReason};

const ENTRY_LEN: usize = 4;
const BOTTOM_OF_STACK: u32 = 0x100;
const LABEL_IPV4_NULL: u32 = 0;
const LABEL_IPV6_NULL: u32 = 2;
const CONTROL_WORD_LEN: usize = 4;

/// Walks the label stack at `at`: where the payload continues and the bottom label.
/// The walk is bounded by the frame: every entry advances four bytes.
#[inline]
pub(crate) fn parse(frame: &[u8], at: usize) -> Result<(Next, u32), DecodeError> {
    let err = |reason, offset| Err(DecodeError { reason, offset });
    let mut off = at;
    let label = loop {
        let Some(entry) = be32(frame, off) else {
            return err(DecodeReason::MplsTruncated, off);
        };
        off += ENTRY_LEN;
        if entry & BOTTOM_OF_STACK != 0 {
            break entry >> 12;
        }
    };
    let next = match label {
        LABEL_IPV4_NULL => Next::Ipv4(off),
        LABEL_IPV6_NULL => Next::Ipv6(off),
        _ => match frame.get(off).map(|b| b >> 4) {
            Some(4) => Next::Ipv4(off),
            Some(6) => Next::Ipv6(off),
            Some(0) => Next::Ethernet(off + CONTROL_WORD_LEN),
            Some(_) => return err(DecodeReason::MplsBadPayload, off),
            None => return err(DecodeReason::MplsTruncated, off),
        },
    };
    Ok((next, label))
}
