//! The overlap policy: which bytes win when a TCP segment covers bytes already held.
//!
//! Suricata 7's default (`host-os-policy` unset, i.e. BSD), found by experiment on the
//! stream golden pcap (`xtask/src/golden_stream.rs`, flows 5, 6, 7, 18 and 20):
//!
//! - a segment that starts at the same sequence number as the held one, or after it, keeps
//!   the held bytes (an identical retransmission changes nothing; a retransmission with
//!   different bytes is ignored where it overlaps, and only its new tail is taken);
//! - a segment that starts *before* a held segment overwrites the overlapping bytes, both
//!   when it covers the held one entirely and when it ends inside it;
//! - bytes that were already inspected and released are never revisited: a later
//!   retransmission of them, with any bytes, is counted and dropped.
//!
//! Consecutive in-order segments are merged into one held piece that keeps the sequence
//! number of its first segment, so a segment starting inside such a run keeps the held
//! bytes even where it starts after the later segment's start. Suricata compares with the
//! individual segment there; the case needs an overlap that starts after one in-order
//! segment and before the next one with different bytes, and is documented here instead of
//! tracked, to keep memory per flow bounded.

/// Whether a new segment starting at `new_start` overwrites bytes of a held piece whose
/// segment started at `held_seg_start` (both stream offsets).
#[inline]
pub(crate) fn new_wins(new_start: u64, held_seg_start: u64) -> bool {
    new_start < held_seg_start
}

#[cfg(test)]
mod tests {
    use super::new_wins;

    #[test]
    fn only_a_segment_starting_earlier_overwrites() {
        assert!(new_wins(0, 10));
        assert!(!new_wins(10, 10));
        assert!(!new_wins(11, 10));
    }
}
