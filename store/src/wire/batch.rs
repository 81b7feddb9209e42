//! Batches of archived records. Layout of the payload (all integers little-endian):
//! `count: u32`, 12 zero bytes, then `count` entries, each `len: u32`, 4 zero bytes,
//! `seq: u64`, `len` record bytes, zero padding to a multiple of 16. Every entry therefore
//! starts 16-aligned in a 16-aligned payload buffer and is validated in place, no copy.

use super::frame::{malformed, Header, Kind, Limits, WireError, HEADER_LEN};
use crate::record::{self, ArchivedAlertRecord};

const BATCH_HEAD: usize = 16;
const ENTRY_HEAD: usize = 16;

fn pad16(n: usize) -> usize {
    (n + 15) & !15
}

/// Builds a Batch frame in a reused buffer: the sender copies each spooled record once,
/// into the frame it writes to the socket.
#[derive(Default)]
pub struct BatchEncoder {
    buf: Vec<u8>,
    count: u32,
    first: u64,
    last: u64,
}

impl BatchEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new batch, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; HEADER_LEN + BATCH_HEAD]);
        self.count = 0;
    }

    /// Appends one archived record. Seqs must rise within a batch (the receiver checks).
    pub fn push(&mut self, seq: u64, bytes: &[u8]) {
        if self.buf.is_empty() {
            self.clear();
        }
        if self.count == 0 {
            self.first = seq;
        }
        self.last = seq;
        self.buf
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.extend_from_slice(bytes);
        let padded = self.buf.len() + (pad16(bytes.len()) - bytes.len());
        self.buf.resize(padded, 0);
        self.count += 1;
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Payload bytes so far (what counts against `Limits::max_frame`).
    pub fn payload_len(&self) -> usize {
        self.buf.len().saturating_sub(HEADER_LEN)
    }

    /// First and last seq in the batch (meaningless when empty).
    pub fn seq_range(&self) -> (u64, u64) {
        (self.first, self.last)
    }

    /// The whole frame, header included, ready to write.
    pub fn frame(&mut self) -> &[u8] {
        if self.buf.is_empty() {
            self.clear();
        }
        let len = (self.buf.len() - HEADER_LEN) as u32;
        self.buf[..HEADER_LEN].copy_from_slice(&Header::encode(Kind::Batch, len));
        self.buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&self.count.to_le_bytes());
        &self.buf
    }
}

/// A batch payload whose every entry has been validated (see [`Batch::parse`]).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    payload: &'a [u8],
    count: u32,
    first_seq: u64,
    last_seq: u64,
}

/// One validated record of a batch.
pub struct Entry<'a> {
    pub seq: u64,
    /// The archived bytes as the sensor wrote them (what the store keeps).
    pub bytes: &'a [u8],
    pub record: &'a ArchivedAlertRecord,
}

impl<'a> Batch<'a> {
    /// Validates the whole payload: layout, limits, zero padding, every record (rkyv
    /// bytecheck), each entry's seq equal to its record's, seqs strictly rising. `payload`
    /// must start 16-aligned (the frame readers keep it in an `AlignedVec`).
    pub fn parse(payload: &'a [u8], limits: &Limits) -> Result<Batch<'a>, WireError> {
        let at = |o: usize| HEADER_LEN + o;
        if !(payload.as_ptr() as usize).is_multiple_of(16) {
            return Err(malformed(
                at(0),
                "batch payload buffer not 16-aligned (receiver bug)",
            ));
        }
        if payload.len() < BATCH_HEAD {
            return Err(malformed(
                at(0),
                format!(
                    "batch of {} bytes, shorter than its 16-byte head",
                    payload.len()
                ),
            ));
        }
        let count = u32::from_le_bytes(payload[..4].try_into().unwrap_or_default());
        if payload[4..BATCH_HEAD].iter().any(|&b| b != 0) {
            return Err(malformed(at(4), "nonzero reserved bytes in batch head"));
        }
        if count == 0 {
            return Err(malformed(at(0), "empty batch"));
        }
        if count > limits.max_records {
            return Err(malformed(
                at(0),
                format!("{count} records, limit {}", limits.max_records),
            ));
        }
        let mut b = Batch {
            payload,
            count,
            first_seq: 0,
            last_seq: 0,
        };
        let mut prev: Option<u64> = None;
        let mut off = BATCH_HEAD;
        for i in 0..count {
            let (e, next) = entry(payload, off, limits, true)?;
            if let Some(p) = prev {
                if e.seq <= p {
                    return Err(malformed(
                        at(off + 8),
                        format!("record {i}: seq {} not above the previous {p}", e.seq),
                    ));
                }
            } else {
                b.first_seq = e.seq;
            }
            prev = Some(e.seq);
            off = next;
        }
        if off != payload.len() {
            return Err(malformed(
                at(off),
                format!(
                    "{} trailing bytes after {count} records",
                    payload.len() - off
                ),
            ));
        }
        b.last_seq = prev.unwrap_or(0);
        Ok(b)
    }

    /// A batch [`Batch::parse`] already accepted, rebuilt from what it reported, for the
    /// collector's writer: the buffer moved to it unchanged, so the whole-layout pass is
    /// not repeated (the records are still checked one by one in [`Batch::entries`]).
    pub(crate) fn accepted(payload: &'a [u8], count: u32, first_seq: u64, last_seq: u64) -> Self {
        Batch {
            payload,
            count,
            first_seq,
            last_seq,
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The entries, validated again on the way (25 ns each; cheaper than trusting a buffer
    /// that crossed a thread, and no `unsafe`).
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry<'a>, WireError>> + 'a {
        let payload = self.payload;
        let limits = Limits::default();
        let mut off = BATCH_HEAD;
        let mut left = self.count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            Some(entry(payload, off, &limits, false).map(|(e, next)| {
                off = next;
                e
            }))
        })
    }
}

fn entry<'a>(
    payload: &'a [u8],
    off: usize,
    limits: &Limits,
    strict: bool,
) -> Result<(Entry<'a>, usize), WireError> {
    let at = |o: usize| HEADER_LEN + o;
    let head = payload
        .get(off..off + ENTRY_HEAD)
        .ok_or_else(|| malformed(at(off), "record head past the end of the batch"))?;
    let len = u32::from_le_bytes(head[..4].try_into().unwrap_or_default());
    if strict && head[4..8].iter().any(|&b| b != 0) {
        return Err(malformed(
            at(off + 4),
            "nonzero reserved bytes in record head",
        ));
    }
    let seq = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    if len == 0 || (strict && len > limits.max_record) {
        return Err(malformed(
            at(off),
            format!("record length {len}, allowed 1..={}", limits.max_record),
        ));
    }
    let start = off + ENTRY_HEAD;
    let end = start + len as usize;
    let next = start + pad16(len as usize);
    if next > payload.len() {
        return Err(malformed(
            at(off),
            format!(
                "record of {len} bytes runs past the end of the batch ({} bytes)",
                payload.len()
            ),
        ));
    }
    if strict && payload[end..next].iter().any(|&b| b != 0) {
        return Err(malformed(at(end), "nonzero padding after record"));
    }
    let bytes = &payload[start..end];
    let record = record::access(bytes).map_err(|source| WireError::Record {
        offset: at(start),
        source,
    })?;
    if record.seq.to_native() != seq {
        return Err(malformed(
            at(off + 8),
            format!(
                "entry says seq {seq}, its record says {}",
                record.seq.to_native()
            ),
        ));
    }
    Ok((Entry { seq, bytes, record }, next))
}
