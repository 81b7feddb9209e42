//! Tables and the compact index row. Write speed decides the layout: a durable redb commit
//! bounds stored alerts/s, and the single writer spends its time in B-tree page work, so
//! what counts is how many B-tree inserts an alert costs and where their keys land.
//!
//! - Records are kept in segments: one SEGMENTS value holds up to 64 records of one sensor
//!   from one commit (consecutive ids; key = first id), and BY_SEQ has one row per segment.
//!   The per-alert layout before it (format 1) made three inserts per alert — ALERTS
//!   id → bytes, BY_SEQ (sensor, seq) → id, BY_TIME — and committed 0.73x-0.80x a plain
//!   one-table, one-insert-per-record redb table in the same run (5,000 records per
//!   commit, 512-byte payloads, `benches/benches/delivery.rs` `store_commit_covering`;
//!   0.43x-0.52x over TLS from a sensor, `tls_to_redb_covering`, 61k-109k alerts/s). An
//!   experiment with 64 records per value and only the time row per record measured
//!   1.85x that plain table when first run (1.16x-1.26x in these runs). With segments the store commits 1.32x-1.88x it
//!   (228k-303k alerts/s) and 1.02x-1.20x over TLS (163k-208k/s); two runs each on a
//!   loaded 2-core machine.
//! - Only indexes whose keys grow with time are per alert by default: (ts, id), whose
//!   value is a 42-byte row with the other filter fields, so a sid/address/sensor filter
//!   is a scan of that compact row sequence, never a read of the records.
//! - De-duplication costs nothing per alert in the steady state: a seq above everything
//!   held from its sensor is new; only other seqs are looked up (see `seq_held`).
//! - `Indexes::PerField` adds real sid/src/dst B-trees per alert for stores where those
//!   lookups dominate; their keys land on random pages, which bounds that layout (about
//!   0.2x the plain table before and after segments).
//!
//! Ids stay per alert and in commit order: the router reads "every id above the last one
//! routed", and queries resolve an id to its segment by the greatest key at or below it.

use redb::TableDefinition;

/// The on-disk layout this code reads and writes, kept in META under [`FORMAT`]. Files
/// without it are layout 1 (one ALERTS row and one BY_SEQ row per alert); they are
/// refused, never read with this layout's tables.
pub const FORMAT_VERSION: u64 = 2;

/// first id of a segment → up to 64 archived records of one sensor from one commit, with
/// consecutive ids (see [`super::segment`]).
pub const SEGMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("segments");
/// (sensor no, first seq of a segment) as one u128 → (first id, last seq, cover):
/// de-duplication and the per-sensor index, one row per segment. `cover` is at least the
/// highest last seq of every row of the sensor at or below this key, so a look-up walking
/// down from a seq stops as soon as nothing lower can span it.
pub const BY_SEQ: TableDefinition<u128, (u64, u64, u64)> = TableDefinition::new("seq_segments");
/// (ts_ns, id) as one u128 → index row (sid, sensor no, src, dst); one per alert.
pub const BY_TIME: TableDefinition<u128, &[u8]> = TableDefinition::new("by_time");
/// (sid, ts_ns, id), only with `Indexes::PerField`.
pub const BY_SID: TableDefinition<(u32, u64, u64), ()> = TableDefinition::new("by_sid");
/// (address key, ts_ns, id), only with `Indexes::PerField`.
pub const BY_SRC: TableDefinition<([u8; 17], u64, u64), ()> = TableDefinition::new("by_src");
pub const BY_DST: TableDefinition<([u8; 17], u64, u64), ()> = TableDefinition::new("by_dst");
/// sensor name ↔ number (numbers keep index keys short).
pub const SENSORS: TableDefinition<&str, u32> = TableDefinition::new("sensors");
pub const SENSOR_NAMES: TableDefinition<u32, &str> = TableDefinition::new("sensor_names");
/// Counters: next id, bytes of records held, alerts held; the index layout and the
/// on-disk format.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub const NEXT_ID: &str = "next_id";
pub const BYTES: &str = "bytes";
pub const COUNT: &str = "count";
pub const LAYOUT: &str = "layout";
pub const FORMAT: &str = "format";

pub const ROW: usize = 42;

/// The filter fields of one alert, as stored in the time index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub sid: u32,
    pub sensor: u32,
    pub src: [u8; 17],
    pub dst: [u8; 17],
}

impl Row {
    pub fn encode(&self) -> [u8; ROW] {
        let mut b = [0u8; ROW];
        b[..4].copy_from_slice(&self.sid.to_le_bytes());
        b[4..8].copy_from_slice(&self.sensor.to_le_bytes());
        b[8..25].copy_from_slice(&self.src);
        b[25..42].copy_from_slice(&self.dst);
        b
    }

    /// `None` for a row of the wrong size (a damaged or foreign file).
    pub fn decode(b: &[u8]) -> Option<Row> {
        if b.len() != ROW {
            return None;
        }
        let mut r = Row {
            sid: u32::from_le_bytes(b[..4].try_into().ok()?),
            sensor: u32::from_le_bytes(b[4..8].try_into().ok()?),
            src: [0; 17],
            dst: [0; 17],
        };
        r.src.copy_from_slice(&b[8..25]);
        r.dst.copy_from_slice(&b[25..42]);
        Some(r)
    }
}

/// Two numbers as one u128 key, the first most significant: ordered as the pair would be,
/// but compared natively (redb compares tuple keys field by field through their encoding,
/// measurably slower on the commit path).
pub fn pair(hi: u64, lo: u64) -> u128 {
    ((hi as u128) << 64) | lo as u128
}

pub fn unpair(k: u128) -> (u64, u64) {
    ((k >> 64) as u64, k as u64)
}
