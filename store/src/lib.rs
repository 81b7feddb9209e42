//! Stage three of the pipeline: getting alerts from a sensor to the central store without
//! losing one silently: the rkyv alert record (`record`); on the sensor, the memory-mapped
//! spool with its high/low watermarks (`spool`), the drop channel that takes what the spool
//! refuses (`drop_channel`, behind `outbox`) and the shipper that sends the spool to the
//! collector (`shipper`); the framed wire protocol (`wire`) and the TLS link both ends speak
//! (`link`); the collector daemon's logic (`collector`) and the redb alert store (`db`).

pub mod drop_channel;
pub mod eve;
pub mod input;
pub mod latency;
pub mod outbox;
mod perms;
pub mod privilege;
pub mod record;
pub mod shipper;
pub mod spool;
pub mod testkit;

pub use record::{AlertRecord, ArchivedAlertRecord, RecordError, TunnelRecord};
pub mod collector;
pub mod db;
pub mod link;
pub mod route;
pub mod wire;
