//! The sensor's spool: alerts are durable once they are here, and stay until the collector
//! acknowledges that it committed them.
//!
//! A preallocated, memory-mapped file holds a 4 KiB header and a ring of checksummed
//! frames, each an archived [`AlertRecord`](crate::AlertRecord) at a 16-byte-aligned
//! offset so the shipper (and recovery) read it in place. One [`SpoolWriter`] (the
//! sensor's output thread) appends and one [`SpoolReader`] (the shipper) sends and
//! acknowledges; they share nothing but atomics in the mapped header, so neither locks.
//!
//! Durability: an appended alert is in the page cache of a `MAP_SHARED` mapping, so it
//! survives the process being killed (kill -9, panic, OOM). Against power failure the
//! writer msyncs every [`SyncPolicy::every_records`] records or [`SyncPolicy::every`],
//! and by default the shipper sends only msynced records: what a power cut can lose never
//! left the host, so its `seq` being issued again after the restart is invisible to the
//! collector.
//!
//! `seq` is issued by the spool (it stamps it into the archived record) and persisted in
//! the header, so it continues across restarts; an alert refused by the watermarks still
//! takes its `seq`, and goes to the [drop channel](crate::drop_channel).

mod file;
pub mod frame;
mod reader;
mod recover;
mod stats;
mod syncer;
mod writer;

pub use reader::{Entry, SpoolReader, Unsent};
pub use recover::{CutReason, Recovery};
pub use stats::{DropReason, SpoolStats, StatsSnapshot};
pub use writer::{stamp_seq, Admit, SpoolWriter};

use crate::record::RecordError;
use frame::*;
use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Smallest ring accepted: a few records of the largest expected size.
pub const MIN_CAPACITY: u64 = 64 * 1024;
/// Largest ring accepted (also keeps logical offsets far from overflow).
pub const MAX_CAPACITY: u64 = 1 << 40;

/// The largest record a ring of `cap` bytes takes: a quarter of it, so one record can
/// never wedge the ring (and its length never reaches the padding marker).
pub(crate) fn max_record_for(cap: u64) -> u32 {
    (cap / 4).min(1 << 30) as u32
}

/// When appends are forced to disk (msync).
#[derive(Clone, Copy, Debug)]
pub struct SyncPolicy {
    pub every_records: u32,
    pub every: Duration,
    /// Msync on a thread of the spool's own, so appending never waits for the disk.
    /// Off, the writer msyncs inline (and [`SpoolWriter::tick`] applies `every`).
    pub background: bool,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            every_records: 1000,
            every: Duration::from_millis(10),
            background: true,
        }
    }
}

/// How a spool is opened.
#[derive(Clone, Debug)]
pub struct SpoolOptions {
    /// Ring size in bytes (rounded up to 4 KiB). A spool created with another size is
    /// resized only when it holds no unacknowledged alert.
    pub capacity: u64,
    /// Fill ratio at which new alerts start going to the drop channel.
    pub high_water: f64,
    /// Fill ratio under which they go to the spool again.
    pub low_water: f64,
    /// Largest archived record accepted (bounded by a quarter of the ring).
    pub max_record: u32,
    pub sync: SyncPolicy,
    /// Send only records that are msynced (see the module docs); off trades power-failure
    /// safety for up to `sync.every` less latency.
    pub ship_only_synced: bool,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            capacity: 256 << 20,
            high_water: 0.9,
            low_water: 0.7,
            max_record: 1 << 20,
            sync: SyncPolicy::default(),
            ship_only_synced: true,
        }
    }
}

impl SpoolOptions {
    pub fn with_capacity(capacity: u64) -> SpoolOptions {
        SpoolOptions {
            capacity,
            ..SpoolOptions::default()
        }
    }

    fn checked(&self) -> Result<SpoolOptions, SpoolError> {
        let bad = |m: String| Err(SpoolError::Options(m));
        let capacity = self.capacity.next_multiple_of(HEADER_SIZE);
        if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return bad(format!(
                "capacity {} outside {MIN_CAPACITY}..={MAX_CAPACITY} bytes",
                self.capacity
            ));
        }
        if !(self.low_water > 0.0 && self.low_water < self.high_water && self.high_water <= 1.0) {
            return bad(format!(
                "watermarks must satisfy 0 < low ({}) < high ({}) <= 1",
                self.low_water, self.high_water
            ));
        }
        if self.sync.every_records == 0 {
            return bad("sync.every_records must be at least 1".into());
        }
        Ok(SpoolOptions {
            capacity,
            max_record: self.max_record.min(max_record_for(capacity)),
            ..self.clone()
        })
    }
}

/// Why a spool could not be opened or used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot allocate spool {path} ({size} bytes on disk): {source}")]
    Allocate {
        path: PathBuf,
        size: u64,
        source: io::Error,
    },
    #[error("spool {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("spool {path} is in use by another process")]
    Locked { path: PathBuf },
    #[error("{path} is not a usable tidewatch spool: {reason} (move it away to start a new one)")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "spool {path} has a {found}-byte ring, {asked} were asked, and it still holds \
         {pending} unacknowledged alerts: let it drain (or move it away) to resize"
    )]
    Resize {
        path: PathBuf,
        found: u64,
        asked: u64,
        pending: u64,
    },
    #[error("invalid spool options: {0}")]
    Options(String),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("spool {path}: ack of seq {seq}, which was never issued (next is {next})")]
    AckUnissued { path: PathBuf, seq: u64, next: u64 },
}

impl SpoolError {
    fn io(path: &Path, op: &'static str, source: io::Error) -> SpoolError {
        SpoolError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    }
}

/// What the writer and the reader share: the mapping, the geometry, the durable point.
struct Shared {
    map: MmapRaw,
    path: PathBuf,
    cap: u64,
    /// Logical offset up to which the ring is msynced.
    synced: AtomicU64,
    stats: Arc<SpoolStats>,
    /// Holds the flock for as long as either half lives.
    _file: File,
}

impl Shared {
    /// One of the header's u64 counters, in the mapping.
    fn counter(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off.is_multiple_of(8) && off + 8 <= HEADER_SIZE as usize);
        // SAFETY: the mapping is page-aligned and at least HEADER_SIZE long, so the
        // pointer is aligned and in bounds; it lives as long as `self`. All access to
        // these words goes through atomics.
        unsafe { &*(self.map.as_mut_ptr().add(off) as *const AtomicU64) }
    }

    fn phys(&self, logical: u64) -> usize {
        (logical % self.cap) as usize
    }

    /// The frame header at `logical`: (len, crc, seq).
    fn frame_at(&self, logical: u64) -> (u32, u32, u64) {
        let mut h = [0u8; FRAME_HEADER as usize];
        // SAFETY: phys + 16 <= cap because frames are 16-aligned and cap is a multiple of
        // 16; the ring starts HEADER_SIZE into the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.data_ptr(self.phys(logical)),
                h.as_mut_ptr(),
                h.len(),
            )
        };
        (
            u32::from_le_bytes(h[..4].try_into().unwrap()),
            u32::from_le_bytes(h[4..8].try_into().unwrap()),
            u64::from_le_bytes(h[8..].try_into().unwrap()),
        )
    }

    fn data_ptr(&self, phys: usize) -> *mut u8 {
        debug_assert!((phys as u64) < self.cap);
        // SAFETY: in bounds of the mapping (HEADER_SIZE + cap bytes).
        unsafe { self.map.as_mut_ptr().add(HEADER_SIZE as usize + phys) }
    }

    /// The payload of the frame at `logical` with length `len`.
    ///
    /// # Safety
    /// The frame must be published (below the tail) and not yet freed (at or after the
    /// head) for as long as the slice lives, so the writer does not touch it.
    unsafe fn payload(&self, logical: u64, len: u32) -> &[u8] {
        let p = self.phys(logical) + FRAME_HEADER as usize;
        debug_assert!(p as u64 + u64::from(len) <= self.cap);
        // SAFETY: the caller's contract; bounds hold for every frame the writer wrote
        // and every frame recovery accepted.
        unsafe { std::slice::from_raw_parts(self.data_ptr(p), len as usize) }
    }

    /// Bytes `[from, to)` of the ring as at most two physical ranges of the mapping.
    fn ranges(&self, from: u64, to: u64) -> [(usize, usize); 2] {
        let h = HEADER_SIZE as usize;
        if to <= from {
            return [(0, 0); 2];
        }
        if to - from >= self.cap {
            return [(h, self.cap as usize), (0, 0)];
        }
        let (a, b) = (self.phys(from), self.phys(to));
        if a < b || b == 0 {
            let end = if b == 0 { self.cap as usize } else { b };
            [(h + a, end - a), (0, 0)]
        } else {
            [(h + a, self.cap as usize - a), (h, b)]
        }
    }

    fn sync_header(&self) -> io::Result<()> {
        self.map.flush_range(0, HEADER_SIZE as usize)
    }

    /// Msyncs the ring up to `tail` and the header, then publishes `tail` as durable.
    fn sync_to(&self, tail: u64) -> io::Result<()> {
        let from = self.synced.load(Ordering::Acquire);
        let r = (|| {
            for (off, len) in self.ranges(from, tail) {
                if len > 0 {
                    self.map.flush_range(off, len)?;
                }
            }
            self.sync_header()
        })();
        match r {
            Ok(()) => {
                self.synced.fetch_max(tail, Ordering::AcqRel);
                self.stats.syncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.sync_errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn update_fill(&self, tail: u64, head: u64) {
        self.stats
            .used_bytes
            .store(tail.saturating_sub(head), Ordering::Relaxed);
    }
}

/// An open spool: both halves and what recovery found. Use the halves directly on one
/// thread (tests, replay), or [`Spool::split`] them between the output thread and the
/// shipper.
pub struct Spool {
    pub writer: SpoolWriter,
    pub reader: SpoolReader,
    pub recovery: Recovery,
}

impl Spool {
    /// Opens the spool at `path`, creating and allocating it if absent (so a disk that
    /// cannot hold it fails here), and recovers what an earlier run left: every whole,
    /// checksummed, valid record after the acknowledged point. The returned
    /// [`Recovery`] says what was kept and what was cut.
    pub fn open(path: impl AsRef<Path>, opts: &SpoolOptions) -> Result<Spool, SpoolError> {
        Spool::open_with_stats(path, opts, Arc::new(SpoolStats::default()))
    }

    /// As [`Spool::open`], counting into `stats` (shared with the drop channel and the
    /// metrics endpoint).
    pub fn open_with_stats(
        path: impl AsRef<Path>,
        opts: &SpoolOptions,
        stats: Arc<SpoolStats>,
    ) -> Result<Spool, SpoolError> {
        let path = path.as_ref();
        let opts = opts.checked()?;
        let (file, len) = file::open_locked(path)?;
        if len == 0 {
            return Spool::create(path, file, &opts, stats, 1);
        }
        let mut hdr = [0u8; HEADER_SIZE as usize];
        let n = file
            .read_at_full(&mut hdr)
            .map_err(|source| SpoolError::io(path, "read header", source))?;
        let corrupt = |reason: &str| SpoolError::Corrupt {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if hdr[..n].iter().all(|&b| b == 0) {
            // The header is written (and msynced) before the first append, so a zero
            // header means a creation that was interrupted: nothing was ever spooled.
            tracing::warn!(path = %path.display(), "spool header is blank (interrupted creation); starting afresh");
            return Spool::create(path, file, &opts, stats, 1);
        }
        if n < 64 {
            return Err(corrupt("shorter than a spool header"));
        }
        let cap = check_geometry(&hdr).map_err(corrupt)?;
        let total = HEADER_SIZE + cap;
        if len < total {
            tracing::warn!(path = %path.display(), len, expected = total,
                "spool file is shorter than its header says; extending it (what was past the end is lost)");
        }
        // Cheap when the blocks exist; allocates (or fails cleanly) when the file was
        // copied sparse or cut short.
        file::allocate(&file, total, (len < total).then_some(len)).map_err(|source| {
            SpoolError::Allocate {
                path: path.to_owned(),
                size: total,
                source,
            }
        })?;
        let sh = Spool::map(path, file, cap, stats)?;
        let found = recover::scan(&sh)?;
        if cap != opts.capacity {
            if found.recovery.records > 0 {
                return Err(SpoolError::Resize {
                    path: path.to_owned(),
                    found: cap,
                    asked: opts.capacity,
                    pending: found.recovery.records,
                });
            }
            tracing::info!(path = %path.display(), from = cap, to = opts.capacity,
                "resizing the empty spool; seq continues");
            // Persist the counter as recovery found it before the ring is rewritten.
            sh.counter(OFF_NEXT_SEQ)
                .store(found.next_seq, Ordering::Release);
            sh.sync_header()
                .map_err(|source| SpoolError::io(path, "msync header", source))?;
            let Shared {
                map, _file, stats, ..
            } = sh;
            drop(map);
            return Spool::create(path, _file, &opts, stats, found.next_seq);
        }
        Spool::assemble(Arc::new(sh), &opts, found)
    }

    fn map(
        path: &Path,
        file: File,
        cap: u64,
        stats: Arc<SpoolStats>,
    ) -> Result<Shared, SpoolError> {
        let map = MmapOptions::new()
            .len((HEADER_SIZE + cap) as usize)
            .map_raw(&file)
            .map_err(|source| SpoolError::io(path, "mmap", source))?;
        stats.capacity.store(cap, Ordering::Relaxed);
        Ok(Shared {
            map,
            path: path.to_owned(),
            cap,
            synced: AtomicU64::new(0),
            stats,
            _file: file,
        })
    }

    /// Lays out a fresh spool in an empty, locked file; `next_seq` carries the counter
    /// over when an empty spool is resized.
    fn create(
        path: &Path,
        file: File,
        opts: &SpoolOptions,
        stats: Arc<SpoolStats>,
        next_seq: u64,
    ) -> Result<Spool, SpoolError> {
        let total = HEADER_SIZE + opts.capacity;
        // The header page is left alone until the end: when resizing, the old header
        // keeps the seq counter should this fail.
        let r = file
            .set_len(total.min(file.metadata().map(|m| m.len()).unwrap_or(0)))
            .and_then(|()| {
                let from = if next_seq == 1 { 0 } else { HEADER_SIZE };
                file::allocate(&file, total, Some(from))
            });
        if let Err(source) = r {
            if next_seq == 1 {
                // Leave nothing half-made behind: there was nothing to keep.
                let _ = std::fs::remove_file(path);
            }
            return Err(SpoolError::Allocate {
                path: path.to_owned(),
                size: total,
                source,
            });
        }
        let sh = Spool::map(path, file, opts.capacity, stats)?;
        // SAFETY: nothing else maps the file yet (we hold the flock); in bounds.
        unsafe {
            let g = geometry(opts.capacity);
            std::ptr::copy_nonoverlapping(g.as_ptr(), sh.map.as_mut_ptr(), g.len());
        }
        sh.counter(OFF_NEXT_SEQ).store(next_seq, Ordering::Relaxed);
        sh.counter(OFF_ACKED_SEQ)
            .store(next_seq - 1, Ordering::Relaxed);
        sh.counter(OFF_HEAD).store(0, Ordering::Relaxed);
        sh.counter(OFF_TAIL).store(0, Ordering::Relaxed);
        sh.sync_header()
            .map_err(|source| SpoolError::io(path, "msync header", source))?;
        tracing::info!(path = %path.display(), capacity = opts.capacity, next_seq, "created spool");
        let found = recover::Found {
            head: 0,
            tail: 0,
            next_seq,
            acked_seq: next_seq - 1,
            recovery: Recovery {
                created: true,
                next_seq,
                ..Recovery::default()
            },
        };
        Spool::assemble(Arc::new(sh), opts, found)
    }

    fn assemble(
        sh: Arc<Shared>,
        opts: &SpoolOptions,
        found: recover::Found,
    ) -> Result<Spool, SpoolError> {
        sh.counter(OFF_HEAD).store(found.head, Ordering::Release);
        sh.counter(OFF_TAIL).store(found.tail, Ordering::Release);
        sh.counter(OFF_NEXT_SEQ)
            .store(found.next_seq, Ordering::Release);
        sh.counter(OFF_ACKED_SEQ)
            .store(found.acked_seq, Ordering::Release);
        sh.synced.store(found.tail, Ordering::Release);
        sh.update_fill(found.tail, found.head);
        let r = &found.recovery;
        sh.stats.recovered.fetch_add(r.records, Ordering::Relaxed);
        if r.cut.is_some() {
            sh.stats.cut_events.fetch_add(1, Ordering::Relaxed);
            sh.stats.cut_bytes.fetch_add(r.cut_bytes, Ordering::Relaxed);
        }
        Ok(Spool {
            writer: SpoolWriter::new(sh.clone(), opts, found.tail, found.next_seq)?,
            reader: SpoolReader::new(sh, opts, found.head, found.acked_seq),
            recovery: found.recovery,
        })
    }

    /// Gives the writer to the output thread and the reader to the shipper.
    pub fn split(self) -> (SpoolWriter, SpoolReader) {
        (self.writer, self.reader)
    }

    pub fn stats(&self) -> &Arc<SpoolStats> {
        self.writer.stats()
    }
}

trait ReadFull {
    fn read_at_full(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl ReadFull for File {
    fn read_at_full(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut n = 0;
        while n < buf.len() {
            match self.read_at(&mut buf[n..], n as u64)? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
