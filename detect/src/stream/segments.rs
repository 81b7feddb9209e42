//! One direction's reassembly buffer: the bytes of a window of the stream, copied out of
//! the packets (so no capture frame is held), and the pieces of that window that were
//! actually received. Holes between pieces are gaps or data not yet arrived.
//!
//! Offsets are stream offsets (bytes since the direction's first sequence number), so
//! they never wrap. In-order data extends the last piece in place, the common case; a
//! segment overlapping held bytes is resolved by [`super::policy`].

use super::memcap::{Memcap, Pool};
use super::policy::new_wins;

/// Initial capacity of a buffer's bytes and pieces.
const INITIAL_BYTES: usize = 4096;
const INITIAL_PIECES: usize = 8;
/// A buffer returned to the pool above this capacity is shrunk back first.
const POOLED_MAX_BYTES: usize = 64 << 10;
/// Separate pieces (runs of received bytes with holes between them) per direction.
pub(crate) const MAX_PIECES: usize = 64;
/// Candidate rules kept from prefiltering bytes on arrival, before a rescan is cheaper.
const MAX_CANDS: usize = 1024;

/// A run of received bytes `[start, end)`, and where the segment that brought its first
/// byte started (for the overlap policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub start: u64,
    pub end: u64,
    pub seg_start: u64,
}

/// Why a segment was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It ends more than the per-direction window past the oldest byte held.
    Window,
    /// Storing it would pass the memcap.
    Memcap,
    /// The direction already holds [`MAX_PIECES`] separate runs of data.
    Pieces,
}

/// What an insertion did with the segment's bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Bytes not held before.
    pub new: u64,
    /// Bytes already held with the same value (retransmission).
    pub same: u64,
    /// Bytes already held with another value (overlap; the policy chose).
    pub different: u64,
}

#[derive(Debug)]
pub(crate) struct SegmentBuf {
    /// Stream offset of `data[0]`.
    base: u64,
    data: Vec<u8>,
    /// Sorted, disjoint, never adjacent (adjacent runs are merged).
    pieces: Vec<Piece>,
    /// Rules whose fast pattern occurred in bytes prefiltered on arrival (up to
    /// `scanned_to`); stream inspection verifies these instead of scanning again.
    cands: Vec<u32>,
    scanned_to: u64,
    /// Bytes arrived out of order or overlapping: inspection must scan.
    rescan: bool,
}

impl SegmentBuf {
    pub(crate) fn new() -> SegmentBuf {
        SegmentBuf {
            base: 0,
            data: Vec::with_capacity(INITIAL_BYTES),
            pieces: Vec::with_capacity(INITIAL_PIECES),
            cands: Vec::with_capacity(16),
            scanned_to: 0,
            rescan: false,
        }
    }

    /// The candidates prefiltered on arrival, when they cover every byte held.
    pub(crate) fn candidates(&self) -> Option<&[u32]> {
        (!self.rescan && self.scanned_to >= self.right_edge()).then_some(&self.cands[..])
    }

    /// Prefilters the bytes that arrived since the last call (in order, one run held):
    /// `scan` gets them with `lookback` bytes before them, and where in what it gets the
    /// new bytes start, and adds candidates.
    pub(crate) fn prefilter_new(
        &mut self,
        lookback: usize,
        scan: impl FnOnce(&[u8], usize, &mut Vec<u32>),
    ) {
        let (Some(p), false, 1) = (self.pieces.first().copied(), self.rescan, self.pieces.len())
        else {
            self.rescan = true;
            return;
        };
        if self.scanned_to >= p.end {
            return;
        }
        let from = self.scanned_to.saturating_sub(lookback as u64).max(p.start);
        let (a, b) = ((from - self.base) as usize, (p.end - self.base) as usize);
        if let Some(hay) = self.data.get(a..b) {
            // After a gap the run starts past `scanned_to`: every byte of it is new.
            scan(
                hay,
                self.scanned_to.saturating_sub(from) as usize,
                &mut self.cands,
            );
        }
        self.scanned_to = p.end;
        if self.cands.len() > MAX_CANDS {
            self.cands.clear();
            self.rescan = true;
        }
    }

    /// Bytes of memory this buffer holds, as charged to the memcap.
    pub(crate) fn footprint(&self) -> u64 {
        (self.data.capacity()
            + self.pieces.capacity() * std::mem::size_of::<Piece>()
            + self.cands.capacity() * 4
            + std::mem::size_of::<SegmentBuf>()) as u64
    }

    /// Empties the buffer, keeping its capacity, with `base` as the next offset.
    pub(crate) fn clear(&mut self, base: u64) {
        self.data.clear();
        self.pieces.clear();
        self.cands.clear();
        self.base = base;
        self.scanned_to = base;
        self.rescan = false;
    }

    /// Shrinks a large buffer back to its initial size (before pooling), giving the
    /// difference back to the memcap.
    pub(crate) fn shrink(&mut self, mem: &mut Memcap) {
        if self.data.capacity() > POOLED_MAX_BYTES {
            let before = self.footprint();
            self.data = Vec::with_capacity(INITIAL_BYTES);
            mem.release(before.saturating_sub(self.footprint()));
        }
    }

    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    pub(crate) fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// End of the furthest byte held, or `base` when empty.
    pub(crate) fn right_edge(&self) -> u64 {
        self.pieces.last().map_or(self.base, |p| p.end)
    }

    /// The held bytes `[start, end)`; callers pass ranges inside one piece.
    pub(crate) fn bytes(&self, start: u64, end: u64) -> &[u8] {
        let (a, b) = ((start - self.base) as usize, (end - self.base) as usize);
        self.data.get(a..b).unwrap_or(&[])
    }

    /// Makes room for bytes up to stream offset `end`, charging growth to the memcap.
    fn reserve_to(
        &mut self,
        end: u64,
        window: u64,
        mem: &mut Memcap,
        pool: &mut Pool,
    ) -> Result<(), Refused> {
        let need = self.capacity_to(end, window, mem, pool)?;
        if need > self.data.len() {
            self.data.resize(need, 0);
        }
        Ok(())
    }

    /// Capacity for bytes up to stream offset `end` (returned as a length from `base`).
    fn capacity_to(
        &mut self,
        end: u64,
        window: u64,
        mem: &mut Memcap,
        pool: &mut Pool,
    ) -> Result<usize, Refused> {
        let need = end - self.base;
        if need > window {
            return Err(Refused::Window);
        }
        let need = need as usize;
        if need > self.data.capacity() {
            let new_cap = need.next_power_of_two().min(window as usize).max(need);
            let grow = (new_cap - self.data.capacity()) as u64;
            if !pool.make_room(grow, mem) || !mem.try_reserve(grow) {
                return Err(Refused::Memcap);
            }
            self.data.reserve_exact(new_cap - self.data.len());
        }
        Ok(need)
    }

    /// Stores a segment starting at stream offset `start` (not before `base`). Either the
    /// whole segment is resolved into the buffer or nothing changes.
    pub(crate) fn insert(
        &mut self,
        start: u64,
        bytes: &[u8],
        window: u64,
        mem: &mut Memcap,
        pool: &mut Pool,
    ) -> Result<Inserted, Refused> {
        debug_assert!(start >= self.base);
        let end = start + bytes.len() as u64;
        if bytes.is_empty() {
            return Ok(Inserted::default());
        }
        // In order: extend the last piece (appending, without zero-filling first, when it
        // ends the buffer).
        let first_run = self.pieces.is_empty() && start == self.base && self.data.is_empty();
        if first_run {
            self.capacity_to(end, window, mem, pool)?;
            self.data.extend_from_slice(bytes);
            self.pieces.push(Piece {
                start,
                end,
                seg_start: start,
            });
            return Ok(Inserted {
                new: bytes.len() as u64,
                ..Inserted::default()
            });
        }
        if let Some(last) = self.pieces.last() {
            if last.end == start {
                let at = (start - self.base) as usize;
                if at == self.data.len() {
                    self.capacity_to(end, window, mem, pool)?;
                    self.data.extend_from_slice(bytes);
                } else {
                    self.reserve_to(end, window, mem, pool)?;
                    self.data[at..at + bytes.len()].copy_from_slice(bytes);
                }
                if let Some(last) = self.pieces.last_mut() {
                    last.end = end;
                }
                return Ok(Inserted {
                    new: bytes.len() as u64,
                    ..Inserted::default()
                });
            }
        }
        // Anything but a first run not before the bytes already prefiltered upsets the
        // candidates gathered on arrival.
        if !(self.pieces.is_empty() && start >= self.scanned_to) {
            self.rescan = true;
        }
        let first = self.pieces.partition_point(|p| p.end <= start);
        // The segment fills every hole in [start, end), so it and every piece it overlaps
        // or touches become one piece: check the limit on that count before any change.
        let touching = self
            .pieces
            .iter()
            .skip(first.saturating_sub(1))
            .filter(|p| p.end >= start && p.start <= end)
            .count();
        let after = self.pieces.len() + 1 - touching;
        if after > MAX_PIECES {
            return Err(Refused::Pieces);
        }
        // Room for the holes before they merge.
        let holes = self.pieces.len() + touching + 1;
        if holes > self.pieces.capacity() {
            let cap = holes.next_power_of_two();
            let grow = (cap - self.pieces.capacity()) * std::mem::size_of::<Piece>();
            if !pool.make_room(grow as u64, mem) || !mem.try_reserve(grow as u64) {
                return Err(Refused::Memcap);
            }
            self.pieces.reserve_exact(cap - self.pieces.len());
        }
        self.reserve_to(end.max(self.right_edge()), window, mem, pool)?;

        let mut out = Inserted::default();
        let mut i = first;
        let mut cursor = start;
        while cursor < end {
            let next = self.pieces.get(i).copied().filter(|p| p.start < end);
            match next {
                Some(p) if cursor >= p.start => {
                    // Overlap with a held piece.
                    let oe = p.end.min(end);
                    let (a, b) = ((cursor - self.base) as usize, (oe - self.base) as usize);
                    let new = &bytes[(cursor - start) as usize..(oe - start) as usize];
                    if self.data[a..b] == *new {
                        out.same += oe - cursor;
                    } else {
                        out.different += oe - cursor;
                        if new_wins(start, p.seg_start) {
                            self.data[a..b].copy_from_slice(new);
                        }
                    }
                    cursor = oe;
                    i += 1;
                }
                _ => {
                    // A hole up to the next piece (or the segment's end).
                    let he = next.map_or(end, |p| p.start);
                    let (a, b) = ((cursor - self.base) as usize, (he - self.base) as usize);
                    self.data[a..b]
                        .copy_from_slice(&bytes[(cursor - start) as usize..(he - start) as usize]);
                    self.pieces.insert(
                        i,
                        Piece {
                            start: cursor,
                            end: he,
                            seg_start: start,
                        },
                    );
                    out.new += he - cursor;
                    cursor = he;
                    i += 1;
                }
            }
        }
        self.merge_adjacent();
        Ok(out)
    }

    fn merge_adjacent(&mut self) {
        let mut w = 0;
        for r in 1..self.pieces.len() {
            if self.pieces[w].end == self.pieces[r].start {
                self.pieces[w].end = self.pieces[r].end;
            } else {
                w += 1;
                self.pieces[w] = self.pieces[r];
            }
        }
        self.pieces.truncate(w + 1);
    }

    /// Forgets every byte before stream offset `off` (already inspected).
    pub(crate) fn release_before(&mut self, off: u64) {
        if off <= self.base {
            return;
        }
        let drop = ((off - self.base) as usize).min(self.data.len());
        if drop == self.data.len() {
            self.data.clear();
        } else {
            self.data.drain(..drop);
        }
        self.base = off;
        self.scanned_to = self.scanned_to.max(off);
        let keep = self.pieces.partition_point(|p| p.end <= off);
        self.pieces.drain(..keep);
        if let Some(p) = self.pieces.first_mut() {
            p.start = p.start.max(off);
        }
        if self.pieces.is_empty() {
            self.data.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SegmentBuf, Memcap, Pool) {
        (
            SegmentBuf::new(),
            Memcap::new(1 << 20),
            Pool::with_capacity(4),
        )
    }

    fn contents(b: &SegmentBuf) -> Vec<(u64, Vec<u8>)> {
        b.pieces()
            .iter()
            .map(|p| (p.start, b.bytes(p.start, p.end).to_vec()))
            .collect()
    }

    const W: u64 = 1 << 16;

    #[test]
    fn in_order_and_out_of_order_segments_form_one_run() {
        let (mut b, mut m, mut p) = setup();
        b.insert(0, b"abc", W, &mut m, &mut p).unwrap();
        b.insert(6, b"ghi", W, &mut m, &mut p).unwrap();
        assert_eq!(b.pieces().len(), 2);
        let r = b.insert(3, b"def", W, &mut m, &mut p).unwrap();
        assert_eq!(r.new, 3);
        assert_eq!(contents(&b), vec![(0, b"abcdefghi".to_vec())]);
    }

    #[test]
    fn overlaps_follow_the_policy() {
        // Same start: the held bytes stay.
        let (mut b, mut m, mut p) = setup();
        b.insert(0, b"ORIG", W, &mut m, &mut p).unwrap();
        let r = b.insert(0, b"EVIL", W, &mut m, &mut p).unwrap();
        assert_eq!((r.new, r.different), (0, 4));
        assert_eq!(contents(&b), vec![(0, b"ORIG".to_vec())]);
        // Starting inside: held bytes stay, the tail is new.
        let r = b.insert(2, b"xxyy", W, &mut m, &mut p).unwrap();
        assert_eq!((r.new, r.different), (2, 2));
        assert_eq!(contents(&b), vec![(0, b"ORIGyy".to_vec())]);
        // Starting before a held piece: new bytes win over it.
        let (mut b, mut m, mut p) = setup();
        b.insert(10, b"XXXXX", W, &mut m, &mut p).unwrap();
        b.insert(5, b"YYYYYYYY", W, &mut m, &mut p).unwrap();
        assert_eq!(contents(&b), vec![(5, b"YYYYYYYYXX".to_vec())]);
        // Identical retransmission.
        let r = b.insert(5, b"YYYYY", W, &mut m, &mut p).unwrap();
        assert_eq!((r.new, r.same, r.different), (0, 5, 0));
    }

    #[test]
    fn release_drops_inspected_bytes_and_keeps_the_rest() {
        let (mut b, mut m, mut p) = setup();
        b.insert(0, b"0123456789", W, &mut m, &mut p).unwrap();
        b.insert(20, b"abc", W, &mut m, &mut p).unwrap();
        b.release_before(4);
        assert_eq!(b.base(), 4);
        assert_eq!(
            contents(&b),
            vec![(4, b"456789".to_vec()), (20, b"abc".to_vec())]
        );
        b.release_before(15);
        assert_eq!(contents(&b), vec![(20, b"abc".to_vec())]);
        b.release_before(30);
        assert!(b.pieces().is_empty());
        assert_eq!(b.right_edge(), 30);
    }

    /// The bytes after a gap are all new to the prefilter (found by the stream fuzz
    /// target: the split was `scanned_to - from`, which underflowed).
    #[test]
    fn a_run_after_a_gap_is_prefiltered_as_all_new() {
        let (mut b, mut m, mut p) = setup();
        let mut seen = Vec::new();
        b.insert(0, b"abc", W, &mut m, &mut p).unwrap();
        b.prefilter_new(2, |hay, split, _| seen.push((hay.to_vec(), split)));
        b.release_before(3);
        b.insert(10, b"defg", W, &mut m, &mut p).unwrap();
        b.prefilter_new(2, |hay, split, _| seen.push((hay.to_vec(), split)));
        b.insert(14, b"hi", W, &mut m, &mut p).unwrap();
        b.prefilter_new(2, |hay, split, _| seen.push((hay.to_vec(), split)));
        assert_eq!(
            seen,
            vec![
                (b"abc".to_vec(), 0),
                (b"defg".to_vec(), 0),
                (b"fghi".to_vec(), 2)
            ]
        );
    }

    #[test]
    fn window_memcap_and_piece_limits_refuse_without_changes() {
        let (mut b, mut m, mut p) = setup();
        assert_eq!(
            b.insert(W, b"x", W, &mut m, &mut p).unwrap_err(),
            Refused::Window
        );
        for i in 0..MAX_PIECES as u64 {
            b.insert(i * 2, b"x", W, &mut m, &mut p).unwrap();
        }
        assert_eq!(
            b.insert(1000, b"x", W, &mut m, &mut p).unwrap_err(),
            Refused::Pieces
        );
        // Filling a hole merges two pieces: allowed at the limit.
        b.insert(1, b"y", W, &mut m, &mut p).unwrap();
        let mut small = Memcap::new(1024);
        let mut c = SegmentBuf::new();
        assert_eq!(
            c.insert(0, &[0u8; 8192], W, &mut small, &mut p)
                .unwrap_err(),
            Refused::Memcap
        );
        assert!(c.pieces().is_empty());
    }

    /// Against a model: random segments cut from one reference stream, delivered in any
    /// order with duplicates and partial overlaps, leave exactly the union of their
    /// ranges held, with the reference bytes.
    #[test]
    fn random_segments_match_a_byte_array_model() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let reference: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
        for _round in 0..300 {
            let (mut b, mut m, mut p) = setup();
            let mut present = [false; 256];
            for _ in 0..16 {
                let start = rnd(200) as usize;
                let len = 1 + rnd(50) as usize;
                let r = b
                    .insert(
                        start as u64,
                        &reference[start..start + len],
                        W,
                        &mut m,
                        &mut p,
                    )
                    .unwrap();
                assert_eq!(r.different, 0);
                let fresh = present[start..start + len].iter().filter(|x| !**x).count();
                assert_eq!(r.new as usize, fresh);
                present[start..start + len].fill(true);
            }
            let mut got = [false; 256];
            for pc in b.pieces() {
                assert_eq!(
                    b.bytes(pc.start, pc.end),
                    &reference[pc.start as usize..pc.end as usize]
                );
                got[pc.start as usize..pc.end as usize].fill(true);
            }
            assert_eq!(got, present);
            // Pieces are maximal runs.
            for w in b.pieces().windows(2) {
                assert!(w[0].end < w[1].start);
            }
        }
    }
}
