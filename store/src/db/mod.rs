//! The collector's alert store on redb: every alert once, keyed by a store id, with the
//! indexes `tidewatch alerts` filters by, retention by age and size, and compaction.
//! See [`schema`] for why the indexes are laid out as they are.

mod by_id;
mod cidr;
mod query;
mod retention;
mod schema;
mod segment;

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
    #[error(
        "alert store {path} was written by an older tidewatch (on-disk layout {found}; this \
         version reads layout {want}, records kept in segments). It is not read or changed: \
         move it aside or delete it to start an empty store at this path, or read it with \
         the older tidewatch"
    )]
    OldLayout {
        path: PathBuf,
        found: u64,
        want: u64,
    },
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
            let format = meta.get(FORMAT).map_err(db)?.map(|v| v.value());
            // Every file has LAYOUT from its creation; layout 1 had no FORMAT. The
            // transaction is dropped uncommitted, so a refused file is left as it was.
            // A file with LAYOUT but no FORMAT is layout 1.
            let format = format.or(existing.map(|_| 1));
            match (existing, format) {
                (_, Some(f)) if f < FORMAT_VERSION => {
                    return Err(StoreError::OldLayout {
                        path: path.into(),
                        found: f,
                        want: FORMAT_VERSION,
                    })
                }
                (_, Some(f)) if f > FORMAT_VERSION => {
                    return Err(StoreError::Invalid(format!(
                        "{} has on-disk layout {f}, newer than this tidewatch reads \
                         ({FORMAT_VERSION}); use the newer tidewatch",
                        path.display()
                    )))
                }
                (Some(1), _) => Indexes::PerField,
                (Some(_), _) => Indexes::Covering,
                (None, _) => {
                    meta.insert(LAYOUT, (indexes == Indexes::PerField) as u64)
                        .map_err(db)?;
                    meta.insert(FORMAT, FORMAT_VERSION).map_err(db)?;
                    indexes
                }
            }
        };
        tx.open_table(BY_TIME).map_err(db)?;
        tx.open_table(SEGMENTS).map_err(db)?;
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
    ///
    /// Records go into segments of up to 64 (one SEGMENTS value and one BY_SEQ row each);
    /// only the time index (and per-field indexes) get a row per alert. A record whose seq
    /// is above everything held from its sensor is new without a look-up, which is the
    /// steady state; any other seq is looked up exactly (a resend is a duplicate, a hole
    /// inside a held segment's seq span is stored) and, when new, stored as a segment of
    /// its own, which keeps segment seq spans nested or disjoint (see [`seq_held`]).
    pub fn commit(&self, batches: &[Incoming<'_>]) -> Result<Committed, StoreError> {
        let database = self.read();
        let tx = database.begin_write().map_err(db)?;
        let mut done = Committed::default();
        {
            let mut meta = tx.open_table(META).map_err(db)?;
            let first_id = meta.get(NEXT_ID).map_err(db)?.map_or(1, |v| v.value());
            let mut w = SegmentWriter {
                segments: tx.open_table(SEGMENTS).map_err(db)?,
                by_seq: tx.open_table(BY_SEQ).map_err(db)?,
                by_time: tx.open_table(BY_TIME).map_err(db)?,
                per_field: match self.indexes {
                    Indexes::PerField => Some((
                        tx.open_table(BY_SID).map_err(db)?,
                        tx.open_table(BY_SRC).map_err(db)?,
                        tx.open_table(BY_DST).map_err(db)?,
                    )),
                    Indexes::Covering => None,
                },
                buf: Vec::with_capacity(segment::MAX * 600),
                held: HashMap::new(),
                pending: Vec::with_capacity(segment::MAX),
                pending_sensor: 0,
                pending_first: first_id,
                next_id: first_id,
                bytes: meta.get(BYTES).map_err(db)?.map_or(0, |v| v.value()),
            };
            for inc in batches {
                let sensor = self.sensor_no(&tx, inc.sensor)?;
                // Each incoming batch ends with its pending records flushed.
                w.pending_sensor = sensor;
                let mut held = match w.held.get(&sensor) {
                    Some(&h) => h,
                    None => max_seq_of(&w.by_seq, sensor)?,
                };
                for e in inc.batch.entries() {
                    let e = e.map_err(|e| StoreError::Invalid(e.to_string()))?;
                    let top = w.pending.last().map(|p| p.0).or(held);
                    if top.is_none_or(|t| e.seq > t) {
                        // Above everything held and pending: new, no look-up.
                        w.row(sensor, &e)?;
                        w.pending.push((e.seq, e.bytes));
                        if w.pending.len() == segment::MAX {
                            held = w.flush()?.or(held);
                        }
                    } else {
                        // Make the table exact first: the pending records may be what
                        // this one repeats.
                        held = w.flush()?.or(held);
                        let (is_held, below) = seq_held(&w.by_seq, &w.segments, sensor, e.seq)?;
                        if is_held {
                            done.duplicates += 1;
                            continue;
                        }
                        w.row(sensor, &e)?;
                        w.pending.push((e.seq, e.bytes));
                        w.flush_with_cover(below.max(e.seq))?;
                    }
                    done.stored += 1;
                }
                let held = w.flush()?.or(held);
                w.held.insert(sensor, held);
            }
            if w.next_id != first_id {
                let count = meta.get(COUNT).map_err(db)?.map_or(0, |v| v.value());
                meta.insert(NEXT_ID, w.next_id).map_err(db)?;
                meta.insert(BYTES, w.bytes).map_err(db)?;
                meta.insert(COUNT, count + done.stored).map_err(db)?;
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
        max_seq_of(&tx.open_table(BY_SEQ).map_err(db)?, no)
    }

    /// Alerts held and bytes of records held.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let meta = tx.open_table(META).map_err(db)?;
        let get = |k| -> Result<u64, StoreError> {
            Ok(meta.get(k).map_err(db)?.map_or(0, |v| v.value()))
        };
        Ok((get(COUNT)?, get(BYTES)?))
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

type PerFieldTables<'t> = (
    redb::Table<'t, (u32, u64, u64), ()>,
    redb::Table<'t, ([u8; 17], u64, u64), ()>,
    redb::Table<'t, ([u8; 17], u64, u64), ()>,
);

/// One commit's tables and the segment being filled (records of `pending_sensor` with
/// ids from `pending_first`, seqs ascending and above everything that sensor has held).
struct SegmentWriter<'t, 'b> {
    segments: redb::Table<'t, u64, &'static [u8]>,
    by_seq: redb::Table<'t, u128, (u64, u64, u64)>,
    by_time: redb::Table<'t, u128, &'static [u8]>,
    per_field: Option<PerFieldTables<'t>>,
    buf: Vec<u8>,
    /// Highest seq held per sensor after each of its batches in this commit.
    held: HashMap<u32, Option<u64>>,
    pending: Vec<(u64, &'b [u8])>,
    pending_sensor: u32,
    pending_first: u64,
    next_id: u64,
    bytes: u64,
}

impl<'b> SegmentWriter<'_, 'b> {
    /// Gives `e` the next id and writes its per-alert index rows.
    fn row(&mut self, sensor: u32, e: &crate::wire::Entry<'b>) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            self.pending_first = self.next_id;
        }
        let id = self.next_id;
        self.next_id += 1;
        let r = e.record;
        let ts = r.ts_ns.to_native();
        let row = row_of(r, sensor);
        self.by_time
            .insert(pair(ts, id), row.encode().as_slice())
            .map_err(db)?;
        if let Some((sid, src, dst)) = self.per_field.as_mut() {
            sid.insert((row.sid, ts, id), ()).map_err(db)?;
            src.insert((row.src, ts, id), ()).map_err(db)?;
            dst.insert((row.dst, ts, id), ()).map_err(db)?;
        }
        self.bytes += e.bytes.len() as u64;
        Ok(())
    }

    /// Writes the pending records as a segment above everything held (cover = its own
    /// last seq); returns that last seq, `None` when nothing was pending.
    fn flush(&mut self) -> Result<Option<u64>, StoreError> {
        match self.pending.last() {
            Some(&(last, _)) => self.flush_with_cover(last).map(|()| Some(last)),
            None => Ok(None),
        }
    }

    fn flush_with_cover(&mut self, cover: u64) -> Result<(), StoreError> {
        let (Some(&(first_seq, _)), Some(&(last_seq, _))) =
            (self.pending.first(), self.pending.last())
        else {
            return Ok(());
        };
        segment::encode(
            &mut self.buf,
            self.pending_sensor,
            self.pending.iter().copied(),
        );
        self.segments
            .insert(self.pending_first, self.buf.as_slice())
            .map_err(db)?;
        self.by_seq
            .insert(
                pair(self.pending_sensor as u64, first_seq),
                (self.pending_first, last_seq, cover),
            )
            .map_err(db)?;
        self.pending.clear();
        Ok(())
    }
}

/// The highest seq held from sensor `no`: the last BY_SEQ row's last seq, unless a
/// lower row spans higher (a hole filled after a later segment), which its cover says.
fn max_seq_of(
    by_seq: &impl ReadableTable<u128, (u64, u64, u64)>,
    no: u32,
) -> Result<Option<u64>, StoreError> {
    let mut best: Option<u64> = None;
    for kv in by_seq
        .range(pair(no as u64, 0)..=pair(no as u64, u64::MAX))
        .map_err(db)?
        .rev()
    {
        let (_, last, cover) = kv.map_err(db)?.1.value();
        best = best.max(Some(last));
        if Some(cover) <= best {
            break;
        }
    }
    Ok(best)
}

/// Whether (sensor `no`, `seq`) is held, and the cover of the row just below `seq` (0
/// when none; a new singleton segment at `seq` takes the larger of that and `seq`).
///
/// Segment seq spans are nested or disjoint, and a nested one lies in a gap between two
/// records of the outer one (segments above everything are appended; anything else is
/// stored alone, at a seq no segment holds; retention only shrinks a segment). So the
/// innermost span holding `seq` decides: walking down from `seq`, the first row whose
/// span reaches `seq` is checked record by record, and the walk stops as soon as a row's
/// cover is below `seq` (nothing lower reaches it). In the common case that is one row.
fn seq_held(
    by_seq: &impl ReadableTable<u128, (u64, u64, u64)>,
    segments: &impl ReadableTable<u64, &'static [u8]>,
    no: u32,
    seq: u64,
) -> Result<(bool, u64), StoreError> {
    let mut below = None;
    for kv in by_seq
        .range(pair(no as u64, 0)..=pair(no as u64, seq))
        .map_err(db)?
        .rev()
    {
        let (first_id, last, cover) = kv.map_err(db)?.1.value();
        let below = *below.get_or_insert(cover);
        if cover < seq {
            return Ok((false, below));
        }
        if last >= seq {
            let v = segments
                .get(first_id)
                .map_err(db)?
                .ok_or_else(|| by_id::damaged(first_id))?;
            let held = segment::Segment::parse(v.value())
                .ok_or_else(|| by_id::damaged(first_id))?
                .holds(seq);
            return Ok((held, below));
        }
    }
    Ok((false, below.unwrap_or(0)))
}
