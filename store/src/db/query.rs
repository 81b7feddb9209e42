//! Queries: the filters of `tidewatch alerts`, newest first.

use super::by_id::{aligned, damaged};
use super::schema::*;
use super::segment::Segment;
use super::{db, Cidr, Indexes, Store, StoreError};
use crate::record::{self, ArchivedAlertRecord};
use redb::ReadableDatabase;
use rkyv::util::AlignedVec;

/// Filters; all given ones must hold. Times are capture timestamps in ns; `until` is
/// exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub since_ns: Option<u64>,
    pub until_ns: Option<u64>,
    pub sid: Option<u32>,
    pub src: Option<Cidr>,
    pub dst: Option<Cidr>,
    pub sensor: Option<String>,
    /// At most this many (newest first); 0 means no limit.
    pub limit: usize,
}

/// One alert read back, with its store id.
pub struct StoredAlert {
    pub id: u64,
    pub bytes: AlignedVec<16>,
}

impl StoredAlert {
    /// The record, validated (the file is ours, but a damaged disk is not).
    pub fn record(&self) -> Result<&ArchivedAlertRecord, StoreError> {
        record::access(&self.bytes).map_err(|source| StoreError::Damaged {
            id: self.id,
            source,
        })
    }
}

impl Query {
    fn matches(&self, row: &Row, sensor: Option<u32>) -> bool {
        self.sid.is_none_or(|s| s == row.sid)
            && sensor.is_none_or(|s| s == row.sensor)
            && self.src.as_ref().is_none_or(|c| c.contains_key(&row.src))
            && self.dst.as_ref().is_none_or(|c| c.contains_key(&row.dst))
    }

    fn time_bounds(&self) -> Option<(u64, u64)> {
        let lo = self.since_ns.unwrap_or(0);
        let hi = self.until_ns.unwrap_or(u64::MAX);
        (hi > lo).then(|| (lo, hi - 1))
    }

    /// A line form for the collector's control socket: `key=value` pairs, space separated.
    pub fn to_line(&self) -> String {
        let mut s = format!("limit={}", self.limit);
        if let Some(v) = self.since_ns {
            s += &format!(" since={v}");
        }
        if let Some(v) = self.until_ns {
            s += &format!(" until={v}");
        }
        if let Some(v) = self.sid {
            s += &format!(" sid={v}");
        }
        if let Some(v) = &self.src {
            s += &format!(" src={v}");
        }
        if let Some(v) = &self.dst {
            s += &format!(" dst={v}");
        }
        if let Some(v) = &self.sensor {
            s += &format!(" sensor={v}");
        }
        s
    }

    /// Parses [`Query::to_line`]'s form; names the first bad pair.
    pub fn from_line(line: &str) -> Result<Query, String> {
        let mut q = Query::default();
        for pair in line.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{k}: {v:?} is not a number"))
            };
            match k {
                "limit" => q.limit = num(v)? as usize,
                "since" => q.since_ns = Some(num(v)?),
                "until" => q.until_ns = Some(num(v)?),
                "sid" => {
                    q.sid = Some(
                        v.parse()
                            .map_err(|_| format!("sid: {v:?} is not a number"))?,
                    )
                }
                "src" => q.src = Some(v.parse().map_err(|e: super::CidrError| e.to_string())?),
                "dst" => q.dst = Some(v.parse().map_err(|e: super::CidrError| e.to_string())?),
                "sensor" => q.sensor = Some(v.into()),
                _ => return Err(format!("unknown filter {k:?}")),
            }
        }
        Ok(q)
    }
}

impl Store {
    /// Runs `q`: newest first by capture time. With per-field indexes a sid or address
    /// filter walks its own index; otherwise the covering time index is scanned.
    pub fn query(&self, q: &Query) -> Result<Vec<StoredAlert>, StoreError> {
        let database = self.read();
        let tx = database.begin_read().map_err(db)?;
        let sensor = match &q.sensor {
            Some(name) => match tx
                .open_table(SENSORS)
                .map_err(db)?
                .get(name.as_str())
                .map_err(db)?
            {
                Some(n) => Some(n.value()),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let Some((lo, hi)) = q.time_bounds() else {
            return Ok(Vec::new());
        };
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        let by_time = tx.open_table(BY_TIME).map_err(db)?;
        let mut ids = Vec::new();
        let mut check = |ts: u64, id: u64, row: Option<&[u8]>| -> Result<bool, StoreError> {
            let row = match row {
                Some(r) => Row::decode(r),
                None => by_time
                    .get(pair(ts, id))
                    .map_err(db)?
                    .and_then(|v| Row::decode(v.value())),
            };
            let row = row.ok_or_else(|| {
                StoreError::Invalid(format!("index row of alert {id} is damaged"))
            })?;
            if q.matches(&row, sensor) {
                ids.push(id);
            }
            Ok(ids.len() < limit)
        };
        if self.indexes == Indexes::PerField
            && (q.sid.is_some() || q.src.is_some() || q.dst.is_some())
        {
            if let Some(sid) = q.sid {
                let t = tx.open_table(BY_SID).map_err(db)?;
                for kv in t
                    .range((sid, lo, 0)..=(sid, hi, u64::MAX))
                    .map_err(db)?
                    .rev()
                {
                    let (_, ts, id) = kv.map_err(db)?.0.value();
                    if !check(ts, id, None)? {
                        break;
                    }
                }
            } else {
                let (table, cidr) = match (&q.src, &q.dst) {
                    (Some(c), _) => (BY_SRC, c),
                    (None, Some(c)) => (BY_DST, c),
                    _ => unreachable!("guarded above"),
                };
                let (a, b) = cidr.key_range();
                let t = tx.open_table(table).map_err(db)?;
                // Address order is not time order: gather the block's hits, then sort.
                let mut hits = Vec::new();
                for kv in t.range((a, lo, 0)..=(b, hi, u64::MAX)).map_err(db)? {
                    let (_, ts, id) = kv.map_err(db)?.0.value();
                    if (lo..=hi).contains(&ts) {
                        hits.push((ts, id));
                    }
                }
                hits.sort_unstable_by(|x, y| y.cmp(x));
                for (ts, id) in hits {
                    if !check(ts, id, None)? {
                        break;
                    }
                }
            }
        } else {
            for kv in by_time
                .range(pair(lo, 0)..=pair(hi, u64::MAX))
                .map_err(db)?
                .rev()
            {
                let kv = kv.map_err(db)?;
                let (ts, id) = unpair(kv.0.value());
                if !check(ts, id, Some(kv.1.value()))? {
                    break;
                }
            }
        }
        // Ids come newest first by capture time, mostly neighbours: keep the last segment.
        let segments = tx.open_table(SEGMENTS).map_err(db)?;
        // (first id, records, value) of the segment last read.
        let mut seg: Option<(u64, u64, redb::AccessGuard<'_, &[u8]>)> = None;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if !seg
                .as_ref()
                .is_some_and(|(first, n, _)| (*first..first + n).contains(&id))
            {
                seg = match segments.range(..=id).map_err(db)?.next_back() {
                    Some(kv) => {
                        let (k, v) = kv.map_err(db)?;
                        let first = k.value();
                        let n = Segment::parse(v.value())
                            .ok_or_else(|| damaged(first))?
                            .len();
                        Some((first, n as u64, v))
                    }
                    None => None,
                };
            }
            let Some((first, n, v)) = &seg else { continue };
            if !(*first..first + n).contains(&id) {
                // Removed by retention.
                continue;
            }
            let s = Segment::parse(v.value()).ok_or_else(|| damaged(*first))?;
            out.push(StoredAlert {
                id,
                bytes: aligned(s.record((id - first) as usize)),
            });
        }
        Ok(out)
    }
}
