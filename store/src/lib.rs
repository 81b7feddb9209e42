//! Stage three of the pipeline: getting alerts from a sensor to the central store without
//! losing one silently: the rkyv alert record, the framed wire protocol (`wire`), the TLS
//! link both ends speak (`link`), the collector daemon's logic (`collector`) and the redb
//! alert store (`db`).

pub mod record;

pub use record::{AlertRecord, ArchivedAlertRecord, RecordError};
pub mod collector;
pub mod db;
pub mod link;
pub mod wire;
