//! The shipping half: a send cursor over what the writer published, and acknowledgment,
//! the only thing that frees space. Owned by the shipper (the link to the collector).

use super::frame::*;
use super::{Shared, SpoolError, SpoolOptions, SpoolStats};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One spooled record: its seq and its archived `AlertRecord` bytes, 16-byte aligned,
/// valid (checked when written or recovered), ready to go on the wire as they are.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub seq: u64,
    pub bytes: &'a [u8],
}

/// The spool's single reader.
pub struct SpoolReader {
    sh: Arc<Shared>,
    /// First unacknowledged frame (logical offset).
    head: u64,
    /// Next frame to send.
    send: u64,
    acked_seq: u64,
    only_synced: bool,
}

impl SpoolReader {
    pub(super) fn new(sh: Arc<Shared>, opts: &SpoolOptions, head: u64, acked_seq: u64) -> Self {
        SpoolReader {
            sh,
            head,
            send: head,
            acked_seq,
            only_synced: opts.ship_only_synced,
        }
    }

    /// Takes the next batch to send — at most `max_records` records and, past the first,
    /// `max_bytes` of payload — and moves the send cursor past it. The records stay in
    /// the spool until [`ack`](Self::ack); after a reconnect,
    /// [`rewind_to_acked`](Self::rewind_to_acked) sends them again. With
    /// `ship_only_synced`, when nothing durable is left to send but the writer appended
    /// more, this msyncs first (so an idle writer never holds alerts back).
    pub fn next_unsent(&mut self, max_records: usize, max_bytes: usize) -> Unsent<'_> {
        let tail = self.sh.counter(OFF_TAIL).load(Ordering::Acquire);
        let mut limit = tail;
        if self.only_synced {
            let mut synced = self.sh.synced.load(Ordering::Acquire);
            if synced <= self.send && tail > self.send {
                match self.sh.sync_to(tail) {
                    Ok(()) => synced = self.sh.synced.load(Ordering::Acquire),
                    Err(e) => tracing::error!(path = %self.sh.path.display(), "msync: {e}"),
                }
            }
            limit = limit.min(synced);
        }
        let start = self.send;
        let (mut pos, mut n, mut bytes) = (start, 0usize, 0usize);
        while pos < limit && n < max_records {
            let (len, _, _) = self.sh.frame_at(pos);
            if len == PAD_LEN {
                pos += self.sh.cap - pos % self.sh.cap;
                continue;
            }
            if n > 0 && bytes + len as usize > max_bytes {
                break;
            }
            n += 1;
            bytes += len as usize;
            pos += frame_len(len as usize);
        }
        self.send = pos;
        Unsent {
            sh: &self.sh,
            pos: start,
            end: pos,
            count: n,
            bytes,
        }
    }

    /// Whether records are waiting to be sent (published, whether or not synced yet).
    pub fn has_unsent(&self) -> bool {
        self.sh.counter(OFF_TAIL).load(Ordering::Acquire) > self.send
    }

    /// Sends everything unacknowledged again, from the oldest: after a reconnect the
    /// collector de-duplicates by `(sensor, seq)`.
    pub fn rewind_to_acked(&mut self) {
        self.send = self.head;
    }

    /// The collector committed every alert up to and including `seq`: free their space
    /// (for new appends at once; on disk with the next msync).
    /// Acks may arrive for records sent before a restart or before a rewind; any issued
    /// seq is accepted, an older one is a no-op. Returns the number of records freed.
    pub fn ack(&mut self, seq: u64) -> Result<u64, SpoolError> {
        let next = self.sh.counter(OFF_NEXT_SEQ).load(Ordering::Acquire);
        if seq >= next {
            return Err(SpoolError::AckUnissued {
                path: self.sh.path.clone(),
                seq,
                next,
            });
        }
        if seq <= self.acked_seq {
            return Ok(0);
        }
        let tail = self.sh.counter(OFF_TAIL).load(Ordering::Acquire);
        // A padding frame is freed with the record after it, not before: the writer
        // counted it as that record's cost.
        let (mut scan, mut pos, mut freed) = (self.head, self.head, 0u64);
        while scan < tail {
            let (len, _, s) = self.sh.frame_at(scan);
            if len == PAD_LEN {
                scan += self.sh.cap - scan % self.sh.cap;
                continue;
            }
            if s > seq {
                break;
            }
            scan += frame_len(len as usize);
            pos = scan;
            freed += 1;
        }
        // Head before acked seq: a crash between the two leaves records whose seq is
        // above the stored ack at the head, which recovery keeps (and resends).
        self.head = pos;
        self.send = self.send.max(pos);
        self.acked_seq = seq;
        self.sh.counter(OFF_HEAD).store(pos, Ordering::Release);
        self.sh.counter(OFF_ACKED_SEQ).store(seq, Ordering::Release);
        self.sh.update_fill(tail, pos);
        self.sh.stats.acked.fetch_add(freed, Ordering::Relaxed);
        // Not msynced here: the next sync of appends carries it, and an ack lost to a
        // power cut only means a resend the collector de-duplicates.
        Ok(freed)
    }

    /// The highest acknowledged seq (persisted; the collector's view after a restart).
    pub fn acked_seq(&self) -> u64 {
        self.acked_seq
    }

    pub fn fill_ratio(&self) -> f64 {
        let tail = self.sh.counter(OFF_TAIL).load(Ordering::Acquire);
        (tail - self.head) as f64 / self.sh.cap as f64
    }

    pub fn stats(&self) -> &Arc<SpoolStats> {
        &self.sh.stats
    }
}

impl Drop for SpoolReader {
    /// Persists the last ack on close (acks are otherwise msynced with the next appends).
    fn drop(&mut self) {
        if let Err(e) = self.sh.sync_header() {
            tracing::error!(path = %self.sh.path.display(), "msync of the spool header: {e}");
        }
    }
}

/// A batch taken by [`SpoolReader::next_unsent`]: iterate it to build the frame.
pub struct Unsent<'a> {
    sh: &'a Shared,
    pos: u64,
    end: u64,
    count: usize,
    bytes: usize,
}

impl<'a> Unsent<'a> {
    /// Sum of the records' lengths (the whole batch, as taken).
    pub fn payload_bytes(&self) -> usize {
        self.bytes
    }
}

impl<'a> Iterator for Unsent<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        while self.pos < self.end {
            let (len, _, seq) = self.sh.frame_at(self.pos);
            if len == PAD_LEN {
                self.pos += self.sh.cap - self.pos % self.sh.cap;
                continue;
            }
            // SAFETY: the frame is below the published tail and at or after the head; the
            // head cannot move while this borrows the reader mutably.
            let bytes = unsafe { self.sh.payload(self.pos, len) };
            self.pos += frame_len(len as usize);
            self.count -= 1;
            return Some(Entry { seq, bytes });
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.count, Some(self.count))
    }
}

/// `len()` is the number of records left, known up front (for a batch header).
impl ExactSizeIterator for Unsent<'_> {}
