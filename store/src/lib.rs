//! Stage three of the pipeline: getting alerts from a sensor to the central store without
//! losing one silently. It holds the rkyv alert record; the memory-mapped spool with its
//! high/low watermarks, the acknowledged sensor-collector protocol and the redb store are
//! the alert delivery issue's next steps.

pub mod record;

pub use record::{AlertRecord, ArchivedAlertRecord, RecordError};
pub mod collector;
pub mod db;
pub mod link;
pub mod wire;
