//! The appending half: issues `seq`, applies the watermarks, writes frames, msyncs by
//! policy. Owned by the sensor's output thread (the one consumer of the workers' queues).

use super::frame::*;
use super::syncer::Syncer;
use super::{DropReason, SpoolStats};
use super::{Shared, SpoolError, SpoolOptions, SyncPolicy};
use crate::record::{self, RecordError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Where an alert went. Both outcomes consume a `seq`, already stamped into the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// In the spool: durable against kill -9 now, against power loss after the next sync.
    Spooled { seq: u64 },
    /// Not in the spool: the caller must hand the (stamped) bytes to the drop channel.
    Refused { seq: u64, reason: DropReason },
}

impl Admit {
    pub fn seq(self) -> u64 {
        match self {
            Admit::Spooled { seq } | Admit::Refused { seq, .. } => seq,
        }
    }
}

/// The spool's single appender.
pub struct SpoolWriter {
    sh: Arc<Shared>,
    pub(super) tail: u64,
    next_seq: u64,
    dropping: bool,
    high: u64,
    low: u64,
    max_record: u32,
    sync: SyncPolicy,
    unsynced: u32,
    last_sync: Instant,
    syncer: Option<Syncer>,
}

impl SpoolWriter {
    pub(super) fn new(
        sh: Arc<Shared>,
        opts: &SpoolOptions,
        tail: u64,
        next_seq: u64,
    ) -> Result<Self, SpoolError> {
        let cap = sh.cap as f64;
        let syncer = if opts.sync.background {
            let s = Syncer::start(sh.clone(), opts.sync.every)
                .map_err(|e| SpoolError::io(&sh.path, "start the sync thread", e))?;
            Some(s)
        } else {
            None
        };
        Ok(SpoolWriter {
            high: (cap * opts.high_water) as u64,
            low: (cap * opts.low_water) as u64,
            sh,
            tail,
            next_seq,
            dropping: false,
            max_record: opts.max_record,
            sync: opts.sync,
            unsynced: 0,
            last_sync: Instant::now(),
            syncer,
        })
    }

    /// Issues the next `seq`, stamps it into `record` (archived `AlertRecord` bytes,
    /// 16-byte aligned, validated here so the spool only ever holds valid records), and
    /// stores it unless the watermarks or the free space say no. On `Refused` the caller
    /// owes the record to the drop channel ([`crate::outbox::Outbox`] does that).
    pub fn append(&mut self, record: &mut [u8]) -> Result<Admit, SpoolError> {
        let seq = self.next_seq;
        if let Err(e) = stamp_seq(record, seq) {
            self.sh.stats.invalid.fetch_add(1, Ordering::Relaxed);
            tracing::error!(path = %self.sh.path.display(), "refusing a record: {e}");
            return Err(e.into());
        }
        self.next_seq += 1;
        self.sh
            .counter(OFF_NEXT_SEQ)
            .store(self.next_seq, Ordering::Release);
        let admit = self.place(record, seq);
        match admit {
            Admit::Spooled { .. } => {
                let st = &self.sh.stats;
                st.appended.fetch_add(1, Ordering::Relaxed);
                st.appended_bytes
                    .fetch_add(record.len() as u64, Ordering::Relaxed);
                self.unsynced += 1;
                if let Some(s) = &self.syncer {
                    if self.unsynced >= self.sync.every_records {
                        self.unsynced = 0;
                        s.nudge();
                    }
                } else if self.unsynced >= self.sync.every_records
                    || (self.unsynced.is_multiple_of(64)
                        && self.last_sync.elapsed() >= self.sync.every)
                {
                    self.sync_logged();
                }
            }
            Admit::Refused { reason, .. } => self.sh.stats.count_drop(reason),
        }
        Ok(admit)
    }

    fn place(&mut self, rec: &[u8], seq: u64) -> Admit {
        let refuse = |reason| Admit::Refused { seq, reason };
        if rec.len() > self.max_record as usize {
            return refuse(DropReason::TooLarge);
        }
        let cap = self.sh.cap;
        let head = self.sh.counter(OFF_HEAD).load(Ordering::Acquire);
        let used = self.tail - head;
        if self.dropping && used < self.low {
            self.dropping = false;
            tracing::info!(path = %self.sh.path.display(), fill = used as f64 / cap as f64,
                "spool under its low watermark: alerts go to the spool again");
        }
        if !self.dropping && used >= self.high {
            self.dropping = true;
            tracing::warn!(path = %self.sh.path.display(), fill = used as f64 / cap as f64,
                "spool past its high watermark: new alerts go to the drop channel");
        }
        if self.dropping {
            return refuse(DropReason::HighWater);
        }
        let fl = frame_len(rec.len());
        let room = cap - self.tail % cap;
        let need = if fl > room { room + fl } else { fl };
        if used + need > cap {
            return refuse(DropReason::Full);
        }
        if fl > room {
            self.write_frame(PAD_LEN, 0, &[]);
            self.tail += room;
        }
        self.write_frame(rec.len() as u32, seq, rec);
        self.tail += fl;
        self.sh
            .counter(OFF_TAIL)
            .store(self.tail, Ordering::Release);
        self.sh.update_fill(self.tail, head);
        Admit::Spooled { seq }
    }

    /// Writes one frame at the tail (payload first, header last; publication is the
    /// caller's tail store).
    fn write_frame(&mut self, len: u32, seq: u64, payload: &[u8]) {
        let crc = frame_crc(len, seq, self.tail, payload);
        let mut h = [0u8; FRAME_HEADER as usize];
        h[..4].copy_from_slice(&len.to_le_bytes());
        h[4..8].copy_from_slice(&crc.to_le_bytes());
        h[8..].copy_from_slice(&seq.to_le_bytes());
        let p = self.sh.data_ptr(self.sh.phys(self.tail));
        // SAFETY: `place` checked that the frame fits before the ring's end and in the
        // free space (past the tail, before head + cap), which the reader never reads.
        unsafe {
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                p.add(FRAME_HEADER as usize),
                payload.len(),
            );
            std::ptr::copy_nonoverlapping(h.as_ptr(), p, h.len());
        }
    }

    /// Msyncs everything appended so far (the policy does this on its own; call it on
    /// shutdown or before reporting "durable" to a user).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.unsynced = 0;
        self.last_sync = Instant::now();
        self.sh
            .sync_to(self.tail)
            .map_err(|source| SpoolError::io(&self.sh.path, "msync", source))
    }

    fn sync_logged(&mut self) {
        if let Err(e) = self.sync() {
            tracing::error!("{e}");
        }
    }

    /// Applies the time half of the sync policy when there is no sync thread
    /// (`SyncPolicy::background` off); call it from the output thread's loop when idle,
    /// so a lone alert is not left unsynced.
    pub fn tick(&mut self) {
        if self.syncer.is_none() && self.unsynced > 0 && self.last_sync.elapsed() >= self.sync.every
        {
            self.sync_logged();
        }
    }

    /// The `seq` the next alert will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn fill_ratio(&self) -> f64 {
        let head = self.sh.counter(OFF_HEAD).load(Ordering::Acquire);
        (self.tail - head) as f64 / self.sh.cap as f64
    }

    /// Whether new alerts are going to the drop channel (between the watermarks, it
    /// depends on which one was crossed last).
    pub fn dropping(&self) -> bool {
        self.dropping
    }

    pub fn capacity(&self) -> u64 {
        self.sh.cap
    }

    pub fn stats(&self) -> &Arc<SpoolStats> {
        &self.sh.stats
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        self.syncer = None; // stops and joins the thread
        self.sync_logged();
    }
}

/// Writes `seq` into an archived record in place, after validating it.
pub fn stamp_seq(bytes: &mut [u8], seq: u64) -> Result<(), RecordError> {
    let a = record::access(bytes)?;
    let off = (&a.seq as *const rkyv::Archived<u64> as usize) - bytes.as_ptr() as usize;
    let v = rkyv::Archived::<u64>::from_native(seq);
    assert!(off + std::mem::size_of_val(&v) <= bytes.len());
    // SAFETY: `off` is the validated position of the archived seq field inside `bytes`.
    unsafe {
        std::ptr::write_unaligned(bytes.as_mut_ptr().add(off).cast::<rkyv::Archived<u64>>(), v)
    };
    Ok(())
}
