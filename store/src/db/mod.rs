//! The collector's alert store on redb: every alert once, keyed by a store id, with the
//! indexes `tidewatch alerts` filters by, retention by age and size, and compaction.
//! See [`schema`] for why the indexes are laid out as they are.

mod by_id;
mod cidr;
mod query;
mod retention;
mod schema;

pub use cidr::{Cidr, CidrError};
pub use query::{Query, StoredAlert};
pub use retention::{now_ns, Retention};

use crate::record::ArchivedAlertRecord;
use crate::wire::Batch;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use schema::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// Which secondary indexes a store keeps (fixed when the file is created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexes {
    /// (sensor, seq) and a covering time index; other filters scan the time index's rows.
    Covering,
    /// Covering plus B-tree indexes by sid, source and destination address.
    PerField,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alert store {0} is held by another process (a running collector?)")]
    Busy(PathBuf),
    #[error("alert store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("alert store: {0}")]
    Db(#[from] redb::Error),
    #[error("alert store: stored record {id} is damaged: {source}")]
    Damaged {
        id: u64,
        #[source]
        source: crate::RecordError,
    },
    #[error("alert store: {0}")]
    Invalid(String),
}

pub(crate) fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// Records of one sensor to commit (a validated wire batch).
pub struct Incoming<'a> {
    pub sensor: &'a str,
    pub batch: Batch<'a>,
}

/// What one commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    pub stored: u64,
    pub duplicates: u64,
}

/// The alert store. Shared (`Arc`) between the collector's writer and query handlers: redb
/// serves reads beside the one writer; the lock is taken exclusively only to compact.
pub struct Store {
    db: RwLock<Database>,
    path: PathBuf,
    indexes: Indexes,
    sensors: Mutex<HashMap<String, u32>>,
}

impl Store {
    /// Opens or creates the store. An existing file keeps the index layout it was made with.
    pub fn open(path: &Path, indexes: Indexes) -> Result<Store, StoreError> {
        let database = Database::builder().create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Busy(path.into()),
            source => StoreError::Open {
                path: path.into(),
                source,
            },
        })?;
        let tx = database.begin_write().map_err(db)?;
        let layout = {
            let mut meta = tx.open_table(META).map_err(db)?;
            let existing = meta.get(LAYOUT).map_err(db)?.map(|v| v.value());
            match existing {
                Some(1) => Indexes::PerField,
                Some(_) => Indexes::Covering,
                None => {
                    meta.insert(LAYOUT, (indexes == Indexes::PerField) as u64)
                        .map_err(db)?;
                    indexes
                }
            }
        };
        tx.open_table(BY_TIME).map_err(db)?;
        tx.open_table(ALERTS).map_err(db)?;
        tx.open_table(BY_SEQ).map_err(db)?;
        tx.open_table(SENSORS).map_err(db)?;
        tx.open_table(SENSOR_NAMES).map_err(db)?;
        tx.open_table(retention::COMMITS).map_err(db)?;
        tx.open_table(BY_SID).map_err(db)?;
        tx.open_table(BY_SRC).map_err(db)?;
        tx.open_table(BY_DST).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Store {
            db: RwLock::new(database),
            path: path.into(),
            indexes: layout,
            sensors: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn indexes(&self) -> Indexes {
        self.indexes
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Database> {
        self.db.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits batches in one durable transaction, storing each (sensor, seq) once:
    /// a record already held is counted as a duplicate and skipped. When this returns Ok,
    /// every record in `batches` is in the store (now or before) and may be acknowledged.
    pub fn commit(&self, batches: &[Incoming<'_>]) -> Result<Committed, StoreError> {
        let database = self.read();
        let tx = database.begin_write().map_err(db)?;
        let mut done = Committed::default();
        {
            let mut alerts = tx.open_table(ALERTS).map_err(db)?;
            let mut by_seq = tx.open_table(BY_SEQ).map_err(db)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(db)?;
            let mut meta = tx.open_table(META).map_err(db)?;
            let mut per_field = match self.indexes {
                Indexes::PerField => Some((
                    tx.open_table(BY_SID).map_err(db)?,
                    tx.open_table(BY_SRC).map_err(db)?,
                    tx.open_table(BY_DST).map_err(db)?,
                )),
                Indexes::Covering => None,
            };
            let first_id = meta.get(NEXT_ID).map_err(db)?.map_or(1, |v| v.value());
            let mut next_id = first_id;
            let mut bytes = meta.get(BYTES).map_err(db)?.map_or(0, |v| v.value());
            for inc in batches {
                let sensor = self.sensor_no(&tx, inc.sensor)?;
                for e in inc.batch.entries() {
                    let e = e.map_err(|e| StoreError::Invalid(e.to_string()))?;
                    let id = next_id;
                    let key = pair(sensor as u64, e.seq);
                    // One B-tree walk instead of a lookup and an insert: resends are rare,
                    // so put the new id and restore the old one when it was a resend.
                    let prev = by_seq.insert(key, id).map_err(db)?.map(|v| v.value());
                    if let Some(old) = prev {
                        by_seq.insert(key, old).map_err(db)?;
                        done.duplicates += 1;
                        continue;
                    }
                    next_id += 1;
                    let r = e.record;
                    let ts = r.ts_ns.to_native();
                    let row = row_of(r, sensor);
                    alerts.insert(id, e.bytes).map_err(db)?;
                    by_time
                        .insert(pair(ts, id), row.encode().as_slice())
                        .map_err(db)?;
                    if let Some((sid, src, dst)) = per_field.as_mut() {
                        sid.insert((row.sid, ts, id), ()).map_err(db)?;
                        src.insert((row.src, ts, id), ()).map_err(db)?;
                        dst.insert((row.dst, ts, id), ()).map_err(db)?;
                    }
                    bytes += e.bytes.len() as u64;
                    done.stored += 1;
                }
            }
            if next_id != first_id {
                meta.insert(NEXT_ID, next_id).map_err(db)?;
                meta.insert(BYTES, bytes).map_err(db)?;
                retention::note_commit(&tx, first_id)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(done)
    }

    /// The number for `name`, made on first sight (inside the caller's transaction; the
    /// cache is filled only after a read proves the number is committed or ours).
    fn sensor_no(&self, tx: &redb::WriteTransaction, name: &str) -> Result<u32, StoreError> {
        if let Some(&n) = self
            .sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(n);
        }
        let mut t = tx.open_table(SENSORS).map_err(db)?;
        let existing = t.get(name).map_err(db)?.map(|v| v.value());
        let n = match existing {
            Some(n) => n,
            None => {
                let n = t.len().map_err(db)? as u32 + 1;
                t.insert(name, n).map_err(db)?;
                tx.open_table(SENSOR_NAMES)
                    .map_err(db)?
                    .insert(n, name)
                    .map_err(db)?;
                n
            }
        };
        // A failed commit leaves a number in the cache that the file does not hold; the
        // writer drops the store on a failed commit, so that cannot be reused.
        self.sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.into(), n);
        Ok(n)
    }

    /// The highest seq held from `sensor` (what a reconnecting sensor is told).
    pub fn max_seq(&self, sensor: &str) -> Result<Option<u64>, StoreError> {
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let Some(no) = tx
            .open_table(SENSORS)
            .map_err(db)?
            .get(sensor)
            .map_err(db)?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let t = tx.open_table(BY_SEQ).map_err(db)?;
        let last = t
            .range(pair(no as u64, 0)..=pair(no as u64, u64::MAX))
            .map_err(db)?
            .next_back();
        Ok(match last {
            Some(kv) => Some(unpair(kv.map_err(db)?.0.value()).1),
            None => None,
        })
    }

    /// Alerts held and bytes of records held.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let n = tx.open_table(ALERTS).map_err(db)?.len().map_err(db)?;
        let bytes = tx
            .open_table(META)
            .map_err(db)?
            .get(BYTES)
            .map_err(db)?
            .map_or(0, |v| v.value());
        Ok((n, bytes))
    }

    /// Rewrites the file to release pages freed by retention. Blocks the writer and
    /// queries while it runs.
    pub fn compact(&self) -> Result<bool, StoreError> {
        let mut database = self.db.write().unwrap_or_else(|p| p.into_inner());
        database.compact().map_err(db)
    }
}

fn addr_key(a: &crate::record::ArchivedAddr) -> [u8; 17] {
    cidr::addr_key_parts(a.family, &a.octets)
}

pub(crate) fn row_of(r: &ArchivedAlertRecord, sensor: u32) -> Row {
    Row {
        sid: r.sid.to_native(),
        sensor,
        src: addr_key(&r.src),
        dst: addr_key(&r.dst),
    }
}
