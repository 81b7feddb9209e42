//! Ethernet II with up to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, the older QinQ
//! 0x9100). Yields the inner EtherType and where the layer-3 header starts.

use super::bytes::be16;
use super::{DecodeError, DecodeReason};

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
pub(crate) const ETHERTYPE_MPLS: u16 = 0x8847;
pub(crate) const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const HEADER_LEN: usize = 14;
const TAG_LEN: usize = 4;

/// The Ethernet layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ethernet {
    pub ethertype: u16,
    pub l3_offset: usize,
    pub vlan: [u16; 2],
    pub vlan_count: u8,
}

#[inline(always)]
fn is_vlan(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    )
}

/// Parses the MAC header and VLAN tags; the EtherType returned is never a VLAN type.
#[inline]
pub(crate) fn parse(frame: &[u8]) -> Result<Ethernet, DecodeError> {
    parse_at(frame, 0)
}

/// [`parse`] for an Ethernet header at `at` (inside a tunnel); offsets stay frame offsets.
#[inline]
pub(crate) fn parse_at(frame: &[u8], at: usize) -> Result<Ethernet, DecodeError> {
    let Some(mut ethertype) = be16(frame, at + 12) else {
        return Err(DecodeError {
            reason: DecodeReason::EthernetTruncated,
            offset: at,
        });
    };
    let mut off = at + HEADER_LEN;
    let mut vlan = [0u16; 2];
    let mut vlan_count = 0u8;
    while is_vlan(ethertype) {
        let slot = match vlan.get_mut(usize::from(vlan_count)) {
            Some(slot) => slot,
            None => {
                return Err(DecodeError {
                    reason: DecodeReason::VlanTooDeep,
                    offset: off,
                })
            }
        };
        let (Some(tci), Some(inner)) = (be16(frame, off), be16(frame, off + 2)) else {
            return Err(DecodeError {
                reason: DecodeReason::VlanTruncated,
                offset: off,
            });
        };
        *slot = tci & 0x0fff;
        vlan_count += 1;
        ethertype = inner;
        off += TAG_LEN;
    }
    Ok(Ethernet {
        ethertype,
        l3_offset: off,
        vlan,
        vlan_count,
    })
}
