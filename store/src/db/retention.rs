//! Retention: the oldest alerts (by arrival) go when they pass the age limit or the store
//! passes its size limit. Arrival, not capture time, decides age, so a replay of an old
//! pcap is kept like fresh alerts. One row per commit remembers when ids arrived.

use super::schema::*;
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
            let mut alerts = tx.open_table(ALERTS).map_err(db)?;
            let mut victims = Vec::new();
            for kv in alerts.iter().map_err(db)? {
                let kv = kv.map_err(db)?;
                let id = kv.0.value();
                let len = kv.1.value().len() as u64;
                let too_old = id < expired_below;
                let too_big = r.max_bytes.is_some_and(|m| bytes > m);
                if !(too_old || too_big) || victims.len() == CHUNK {
                    break;
                }
                let mut buf = rkyv::util::AlignedVec::<16>::with_capacity(len as usize);
                buf.extend_from_slice(kv.1.value());
                victims.push((id, buf));
                bytes -= len.min(bytes);
            }
            let mut by_seq = tx.open_table(BY_SEQ).map_err(db)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(db)?;
            let mut by_sid = tx.open_table(BY_SID).map_err(db)?;
            let mut by_src = tx.open_table(BY_SRC).map_err(db)?;
            let mut by_dst = tx.open_table(BY_DST).map_err(db)?;
            let sensors = tx.open_table(SENSORS).map_err(db)?;
            for (id, buf) in &victims {
                let rec = record::access(buf)
                    .map_err(|source| StoreError::Damaged { id: *id, source })?;
                let no = sensors
                    .get(rec.sensor.as_str())
                    .map_err(db)?
                    .map_or(0, |v| v.value());
                let ts = rec.ts_ns.to_native();
                let row = row_of(rec, no);
                alerts.remove(*id).map_err(db)?;
                by_seq
                    .remove(pair(no as u64, rec.seq.to_native()))
                    .map_err(db)?;
                by_time.remove(pair(ts, *id)).map_err(db)?;
                by_sid.remove((row.sid, ts, *id)).map_err(db)?;
                by_src.remove((row.src, ts, *id)).map_err(db)?;
                by_dst.remove((row.dst, ts, *id)).map_err(db)?;
                removed += 1;
            }
            // Commit rows wholly below the first remaining id are no longer needed; keep
            // the one that covers it.
            if let Some((last_gone, _)) = victims.last() {
                let stale: Vec<u64> = commits
                    .range(..=*last_gone)
                    .map_err(db)?
                    .filter_map(|kv| kv.ok().map(|kv| kv.0.value()))
                    .collect();
                for first in stale.iter().take(stale.len().saturating_sub(1)) {
                    commits.remove(*first).map_err(db)?;
                }
            }
            meta.insert(BYTES, bytes).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(removed)
    }
}
