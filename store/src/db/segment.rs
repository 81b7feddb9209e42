//! One SEGMENTS value: up to [`MAX`] records of one sensor from one commit, with
//! consecutive store ids (the key is the first) and strictly ascending seqs.
//!
//! ```text
//! 0   count u32 | sensor no u32 | 8 bytes zero
//! 16  count × (seq u64 | offset u32 | len u32)
//! ..  records, each at an offset that is a multiple of 16
//! ```
//!
//! Offsets are 16-aligned from the start of the value, so the value copied whole into an
//! `AlignedVec<16>` holds every record at an address `record::access` accepts; readers
//! copy one record at a time into its own `AlignedVec<16>`, which is aligned anyway.

/// Records per segment: 64 measured 1.85x a plain per-record table (see `schema`).
pub const MAX: usize = 64;
const HEAD: usize = 16;
const ENTRY: usize = 16;

fn align16(n: usize) -> usize {
    (n + 15) & !15
}

/// Writes a segment of `records` (seq, archived bytes) into `out` (cleared first). The
/// caller guarantees 1..=MAX records with strictly ascending seqs.
pub fn encode<'a>(
    out: &mut Vec<u8>,
    sensor: u32,
    records: impl ExactSizeIterator<Item = (u64, &'a [u8])> + Clone,
) {
    let n = records.len();
    debug_assert!((1..=MAX).contains(&n));
    out.clear();
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&sensor.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    let mut off = HEAD + n * ENTRY;
    for (seq, bytes) in records.clone() {
        off = align16(off);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(off as u32).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        off += bytes.len();
    }
    for (_, bytes) in records {
        out.resize(align16(out.len()), 0);
        out.extend_from_slice(bytes);
    }
}

/// A checked view of one stored segment.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    b: &'a [u8],
    n: usize,
}

impl<'a> Segment<'a> {
    /// `None` when the header or any record's span does not fit (a damaged file).
    pub fn parse(b: &'a [u8]) -> Option<Segment<'a>> {
        if b.len() < HEAD {
            return None;
        }
        let n = u32::from_le_bytes(b[..4].try_into().ok()?) as usize;
        if n == 0 || n > MAX || b.len() < HEAD + n * ENTRY {
            return None;
        }
        let s = Segment { b, n };
        let mut prev = None;
        for i in 0..n {
            let (seq, off, len) = s.entry(i);
            if off.checked_add(len).is_none_or(|end| end > b.len()) || prev >= Some(seq) {
                return None;
            }
            prev = Some(seq);
        }
        Some(s)
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn sensor(&self) -> u32 {
        u32::from_le_bytes(self.b[4..8].try_into().unwrap())
    }

    fn entry(&self, i: usize) -> (u64, usize, usize) {
        let e = &self.b[HEAD + i * ENTRY..HEAD + (i + 1) * ENTRY];
        (
            u64::from_le_bytes(e[..8].try_into().unwrap()),
            u32::from_le_bytes(e[8..12].try_into().unwrap()) as usize,
            u32::from_le_bytes(e[12..16].try_into().unwrap()) as usize,
        )
    }

    pub fn seq(&self, i: usize) -> u64 {
        self.entry(i).0
    }

    /// The archived bytes of record `i` (as the sensor sent them).
    pub fn record(&self, i: usize) -> &'a [u8] {
        let (_, off, len) = self.entry(i);
        &self.b[off..off + len]
    }

    /// Whether `seq` is one of this segment's records (seqs are ascending).
    pub fn holds(&self, seq: u64) -> bool {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.seq(mid).cmp(&seq) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_aligned_with_their_seqs_and_damage_is_refused() {
        let recs: Vec<(u64, Vec<u8>)> = [(3u64, 5usize), (7, 16), (8, 1), (20, 33)]
            .iter()
            .map(|&(s, n)| (s, (0..n).map(|i| (i as u8).wrapping_add(s as u8)).collect()))
            .collect();
        let mut out = Vec::new();
        encode(&mut out, 9, recs.iter().map(|(s, b)| (*s, b.as_slice())));
        let seg = Segment::parse(&out).unwrap();
        assert_eq!((seg.len(), seg.sensor()), (4, 9));
        for (i, (s, b)) in recs.iter().enumerate() {
            assert_eq!(seg.seq(i), *s);
            assert_eq!(seg.record(i), b.as_slice());
            let off = seg.record(i).as_ptr() as usize - out.as_ptr() as usize;
            assert_eq!(off % 16, 0, "record {i} at {off}");
        }
        for q in 0..25 {
            assert_eq!(seg.holds(q), [3, 7, 8, 20].contains(&q), "{q}");
        }
        assert!(Segment::parse(&out[..out.len() - 1]).is_none());
        assert!(Segment::parse(&out[..HEAD]).is_none());
        let mut unordered = out.clone();
        unordered[HEAD..HEAD + 8].copy_from_slice(&8u64.to_le_bytes());
        assert!(Segment::parse(&unordered).is_none());
    }
}
