//! Reading alerts back by store id, in id order: what the router uses to pick up each
//! commit's alerts off the writer's thread (ids are given in commit order, so "every id
//! above the last one routed" is exactly what was committed since).

use super::schema::*;
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
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let t = tx.open_table(ALERTS).map_err(db)?;
        let mut out = Vec::new();
        for kv in t.range(from..=to).map_err(db)?.take(max) {
            let (k, v) = kv.map_err(db)?;
            let bytes = v.value();
            let mut b = AlignedVec::<16>::with_capacity(bytes.len());
            b.extend_from_slice(bytes);
            out.push(StoredAlert {
                id: k.value(),
                bytes: b,
            });
        }
        Ok(out)
    }
}
