//! The 8-byte frame header and the limits every frame is held to.

/// First two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"TW";
/// Frame format version; a peer with another one is refused, not guessed at.
pub const VERSION: u8 = 1;
/// Bytes of the header before each payload.
pub const HEADER_LEN: usize = 8;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// sensor → collector, first frame: who it is and what it holds.
    Hello = 1,
    /// collector → sensor, reply to Hello: what the store already holds.
    Welcome = 2,
    /// sensor → collector: archived records in seq order.
    Batch = 3,
    /// collector → sensor: cumulative acknowledgment of committed records.
    Ack = 4,
    /// collector → sensor: an order (block an address for a time).
    Command = 5,
    /// either way: liveness when there is nothing else to say.
    Ping = 6,
    /// reply to Ping.
    Pong = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::Welcome,
            3 => Kind::Batch,
            4 => Kind::Ack,
            5 => Kind::Command,
            6 => Kind::Ping,
            7 => Kind::Pong,
            _ => return None,
        })
    }
}

/// Bounds on what a peer may send; frames beyond them close the connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest batch payload in bytes.
    pub max_frame: u32,
    /// Largest single archived record in bytes.
    pub max_record: u32,
    /// Most records in one batch.
    pub max_records: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 16 << 20,
            max_record: 1 << 20,
            max_records: 65_536,
        }
    }
}

impl Limits {
    /// The largest payload a frame of `kind` may have: small control frames get small
    /// bounds so a peer cannot make us buffer megabytes for a Ping.
    pub fn max_payload(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Batch => self.max_frame,
            Kind::Hello => 4 + super::message::SENSOR_NAME_MAX as u32 + 8,
            _ => 64,
        }
    }
}

/// Why bytes from a peer were refused. `offset` counts from the start of the frame
/// (header included), so a capture of the stream points at the culprit.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("bad frame at byte {offset}: {what}")]
    Malformed { offset: usize, what: String },
    #[error("frame too large: {kind:?} payload of {len} bytes, limit {limit}")]
    TooLarge { kind: Kind, len: u32, limit: u32 },
    #[error("invalid record at byte {offset}: {source}")]
    Record {
        offset: usize,
        #[source]
        source: crate::RecordError,
    },
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

pub(crate) fn malformed(offset: usize, what: impl Into<String>) -> WireError {
    WireError::Malformed {
        offset,
        what: what.into(),
    }
}

/// A validated frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub len: u32,
}

impl Header {
    /// Checks magic, version, kind and the length limit for that kind.
    pub fn parse(b: &[u8; HEADER_LEN], limits: &Limits) -> Result<Header, WireError> {
        if b[..2] != MAGIC {
            return Err(malformed(
                0,
                format!("magic {:02x}{:02x}, want 5457 (\"TW\")", b[0], b[1]),
            ));
        }
        if b[2] != VERSION {
            return Err(malformed(
                2,
                format!("protocol version {}, want {VERSION}", b[2]),
            ));
        }
        let kind = Kind::from_u8(b[3])
            .ok_or_else(|| malformed(3, format!("unknown frame kind {}", b[3])))?;
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let limit = limits.max_payload(kind);
        if len > limit {
            return Err(WireError::TooLarge { kind, len, limit });
        }
        Ok(Header { kind, len })
    }

    pub fn encode(kind: Kind, len: u32) -> [u8; HEADER_LEN] {
        let l = len.to_le_bytes();
        [
            MAGIC[0], MAGIC[1], VERSION, kind as u8, l[0], l[1], l[2], l[3],
        ]
    }
}
