//! Reading alerts back by store id, in id order: what the router uses to pick up each
//! commit's alerts off the writer's thread (ids are given in commit order, so "every id
//! above the last one routed" is exactly what was committed since).

use super::schema::*;
use super::segment::Segment;
use super::{db, Store, StoreError, StoredAlert};
use redb::ReadableDatabase;
use rkyv::util::AlignedVec;

impl Store {
    /// The highest store id given so far (0 when none).
    pub fn last_id(&self) -> Result<u64, StoreError> {
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let next = tx
            .open_table(META)
            .map_err(db)?
            .get(NEXT_ID)
            .map_err(db)?
            .map_or(1, |v| v.value());
        Ok(next.saturating_sub(1))
    }

    /// Alerts with ids in `from..=to`, in id order, at most `max` (ids removed by
    /// retention are simply absent).
    pub fn alerts_in(
        &self,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let mut out = Vec::new();
        if from > to || max == 0 {
            return Ok(out);
        }
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let t = tx.open_table(SEGMENTS).map_err(db)?;
        // The segment holding `from` starts at or below it.
        let start = match t.range(..=from).map_err(db)?.next_back() {
            Some(kv) => kv.map_err(db)?.0.value(),
            None => from,
        };
        for kv in t.range(start..=to).map_err(db)? {
            let (k, v) = kv.map_err(db)?;
            let first = k.value();
            let seg = Segment::parse(v.value()).ok_or_else(|| damaged(first))?;
            for i in 0..seg.len() {
                let id = first + i as u64;
                if id < from {
                    continue;
                }
                if id > to || out.len() == max {
                    return Ok(out);
                }
                out.push(StoredAlert {
                    id,
                    bytes: aligned(seg.record(i)),
                });
            }
        }
        Ok(out)
    }
}

/// One record copied out of a segment into an aligned buffer `record::access` accepts.
pub(super) fn aligned(bytes: &[u8]) -> AlignedVec<16> {
    let mut b = AlignedVec::<16>::with_capacity(bytes.len());
    b.extend_from_slice(bytes);
    b
}

/// A segment that is missing where its index row points, or does not parse.
pub(super) fn damaged(first: u64) -> StoreError {
    StoreError::Invalid(format!("segment {first} is missing or damaged"))
}
