//! Stage three of the pipeline: getting alerts from a sensor to the central store without
//! losing one silently. It holds the rkyv alert record, the sensor's memory-mapped spool
//! with its high/low watermarks, and the drop channel that takes what the spool refuses;
//! the acknowledged sensor-collector protocol and the redb store are the alert delivery
//! issue's next steps.

pub mod drop_channel;
pub mod outbox;
pub mod record;
pub mod shipper;
pub mod spool;
pub mod testkit;

pub use record::{AlertRecord, ArchivedAlertRecord, RecordError};
pub mod collector;
pub mod db;
pub mod link;
pub mod wire;
