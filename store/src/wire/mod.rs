//! The sensor-collector protocol: length-framed messages with a magic and a version, so a
//! peer speaking something else is refused at the first eight bytes, and size limits, so a
//! hostile peer cannot make the collector allocate without bound. Every decode step names
//! what was wrong and at which byte of the frame; nothing here panics on any input.
//!
//! Frame: `b"TW"`, version (1), kind, payload length (u32 LE), payload. Batches carry the
//! sensor's archived [`AlertRecord`](crate::AlertRecord) bytes as they are, each padded to
//! 16 bytes so the receiver validates them in place in its 16-aligned frame buffer.

mod batch;
mod frame;
mod message;

pub use batch::{Batch, BatchEncoder, Entry};
pub use frame::{Header, Kind, Limits, WireError, HEADER_LEN, MAGIC, VERSION};
pub use message::{
    decode_frame, valid_sensor_name, Block, Command, Message, PROTOCOL, SENSOR_NAME_MAX,
};
