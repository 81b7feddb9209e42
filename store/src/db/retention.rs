//! Retention: the oldest alerts (by arrival) go when they pass the age limit or the store
//! passes its size limit. Arrival, not capture time, decides age, so a replay of an old
//! pcap is kept like fresh alerts. One row per commit remembers when ids arrived.

use super::by_id::{aligned, damaged};
use super::schema::*;
use super::segment::{self, Segment};
use super::{db, row_of, Store, StoreError};
use crate::record;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// first id of a commit → when it was committed (ns since the epoch).
pub const COMMITS: TableDefinition<u64, u64> = TableDefinition::new("commits");

/// Limits; `None` keeps everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retention {
    pub max_age: Option<Duration>,
    /// Bytes of records held (the file is larger by its indexes and free pages; compaction
    /// returns freed pages).
    pub max_bytes: Option<u64>,
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(super) fn note_commit(tx: &WriteTransaction, first_id: u64) -> Result<(), StoreError> {
    tx.open_table(COMMITS)
        .map_err(db)?
        .insert(first_id, now_ns())
        .map_err(db)?;
    Ok(())
}

const CHUNK: usize = 10_000;

impl Store {
    /// Removes what the limits no longer allow, oldest first, in transactions of at most
    /// 10,000 alerts. Returns how many were removed.
    ///
    /// Records are held in segments (up to 64 of one sensor from one commit), so retention
    /// works a segment at a time: whole segments go with their BY_SEQ row and their
    /// alerts' time and per-field index rows. The age limit always falls between
    /// segments (a segment never spans commits, and commits are what age is known by);
    /// where the size limit (or the 10,000 per transaction) falls inside a segment, that
    /// segment is rewritten without its leading records under its new first id, so the
    /// count removed is exact per alert as before.
    pub fn enforce_retention(&self, r: &Retention, now_ns: u64) -> Result<u64, StoreError> {
        let mut removed = 0;
        loop {
            let n = self.retention_chunk(r, now_ns)?;
            removed += n;
            if n < CHUNK as u64 {
                return Ok(removed);
            }
        }
    }

    fn retention_chunk(&self, r: &Retention, now_ns: u64) -> Result<u64, StoreError> {
        let database = self.read();
        let tx = database.begin_write().map_err(db)?;
        let mut removed = 0u64;
        {
            let mut commits = tx.open_table(COMMITS).map_err(db)?;
            // Ids below `expired_below` arrived before the age cut-off.
            let mut expired_below = 0u64;
            if let Some(age) = r.max_age {
                let cut = now_ns.saturating_sub(age.as_nanos() as u64);
                for kv in commits.iter().map_err(db)? {
                    let kv = kv.map_err(db)?;
                    let (first, at) = (kv.0.value(), kv.1.value());
                    if at >= cut {
                        expired_below = first;
                        break;
                    }
                    expired_below = u64::MAX;
                }
            }
            let mut meta = tx.open_table(META).map_err(db)?;
            let mut bytes = meta.get(BYTES).map_err(db)?.map_or(0, |v| v.value());
            let count = meta.get(COUNT).map_err(db)?.map_or(0, |v| v.value());
            let mut segments = tx.open_table(SEGMENTS).map_err(db)?;
            // Oldest segments first (ids follow arrival): how many leading records of each
            // go. Only the last one touched can keep some.
            let mut cuts: Vec<(u64, usize, Vec<u8>)> = Vec::new();
            for kv in segments.iter().map_err(db)? {
                let (k, v) = kv.map_err(db)?;
                let first = k.value();
                let seg = Segment::parse(v.value()).ok_or_else(|| damaged(first))?;
                let mut take = 0;
                while take < seg.len() {
                    let too_old = first + (take as u64) < expired_below;
                    let too_big = r.max_bytes.is_some_and(|m| bytes > m);
                    if !(too_old || too_big) || removed as usize == CHUNK {
                        break;
                    }
                    bytes -= (seg.record(take).len() as u64).min(bytes);
                    take += 1;
                    removed += 1;
                }
                if take > 0 {
                    cuts.push((first, take, v.value().to_vec()));
                }
                if take < seg.len() {
                    break;
                }
            }
            let mut by_seq = tx.open_table(BY_SEQ).map_err(db)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(db)?;
            let mut by_sid = tx.open_table(BY_SID).map_err(db)?;
            let mut by_src = tx.open_table(BY_SRC).map_err(db)?;
            let mut by_dst = tx.open_table(BY_DST).map_err(db)?;
            let mut buf = Vec::new();
            for (first, take, blob) in &cuts {
                let seg = Segment::parse(blob).ok_or_else(|| damaged(*first))?;
                let no = seg.sensor();
                for i in 0..*take {
                    let id = first + i as u64;
                    let bytes = aligned(seg.record(i));
                    let rec = record::access(&bytes)
                        .map_err(|source| StoreError::Damaged { id, source })?;
                    let ts = rec.ts_ns.to_native();
                    let row = row_of(rec, no);
                    by_time.remove(pair(ts, id)).map_err(db)?;
                    by_sid.remove((row.sid, ts, id)).map_err(db)?;
                    by_src.remove((row.src, ts, id)).map_err(db)?;
                    by_dst.remove((row.dst, ts, id)).map_err(db)?;
                }
                segments.remove(*first).map_err(db)?;
                let span = by_seq
                    .remove(pair(no as u64, seg.seq(0)))
                    .map_err(db)?
                    .map(|v| v.value());
                if *take < seg.len() {
                    // The rest stays as a shorter segment keyed by its own first id; its
                    // span shrinks, so its cover still bounds everything below it.
                    let (_, last, cover) = span.ok_or_else(|| {
                        StoreError::Invalid(format!("segment {first} has no seq row"))
                    })?;
                    let rest = first + *take as u64;
                    segment::encode(
                        &mut buf,
                        no,
                        (*take..seg.len()).map(|i| (seg.seq(i), seg.record(i))),
                    );
                    segments.insert(rest, buf.as_slice()).map_err(db)?;
                    by_seq
                        .insert(pair(no as u64, seg.seq(*take)), (rest, last, cover))
                        .map_err(db)?;
                }
            }
            // Commit rows wholly below the first remaining id are no longer needed; keep
            // the one that covers it.
            if let Some((first, take, _)) = cuts.last() {
                let last_gone = first + *take as u64 - 1;
                let stale: Vec<u64> = commits
                    .range(..=last_gone)
                    .map_err(db)?
                    .filter_map(|kv| kv.ok().map(|kv| kv.0.value()))
                    .collect();
                for first in stale.iter().take(stale.len().saturating_sub(1)) {
                    commits.remove(*first).map_err(db)?;
                }
            }
            meta.insert(BYTES, bytes).map_err(db)?;
            meta.insert(COUNT, count.saturating_sub(removed))
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(removed)
    }
}
