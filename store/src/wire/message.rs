//! The messages and their payloads.

use super::batch::Batch;
use super::frame::{malformed, Header, Kind, Limits, WireError, HEADER_LEN, VERSION};
use rkyv::util::AlignedVec;
use std::net::IpAddr;

/// Longest sensor name on the wire (it names certificates and files, so it stays short).
pub const SENSOR_NAME_MAX: usize = 64;

/// An order from the collector to a sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Block(Block),
}

/// Block `net/prefix` for `secs` seconds (0: until lifted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub net: IpAddr,
    pub prefix: u8,
    pub secs: u32,
}

/// One decoded frame. Borrowed from the frame buffer: a batch is validated where it lies.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// `last_seq`: the highest seq the sensor holds (0: none yet).
    Hello {
        sensor: &'a str,
        version: u16,
        last_seq: u64,
    },
    /// `stored_through`: the highest seq the store holds from this sensor, if any.
    Welcome {
        stored_through: Option<u64>,
    },
    Batch(Batch<'a>),
    /// Every record this connection sent with a seq ≤ `through` is committed.
    Ack {
        through: u64,
    },
    Command(Command),
    Ping(u64),
    Pong(u64),
}

/// Checks a sensor name: 1..=64 bytes of `[A-Za-z0-9._-]`, usable as a DNS name in its
/// certificate and as a file name.
pub fn valid_sensor_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SENSOR_NAME_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn u64_at(p: &[u8], o: usize) -> Result<u64, WireError> {
    p.get(o..o + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| malformed(HEADER_LEN + o, "payload too short for a u64"))
}

fn exact(p: &[u8], n: usize, what: &str) -> Result<(), WireError> {
    if p.len() != n {
        return Err(malformed(
            HEADER_LEN,
            format!("{what} payload of {} bytes, want {n}", p.len()),
        ));
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Decodes a payload whose header was already checked by [`Header::parse`].
    pub fn parse(kind: Kind, p: &'a [u8], limits: &Limits) -> Result<Message<'a>, WireError> {
        let at = |o: usize| HEADER_LEN + o;
        Ok(match kind {
            Kind::Hello => {
                if p.len() < 12 {
                    return Err(malformed(
                        at(0),
                        format!("hello of {} bytes, too short", p.len()),
                    ));
                }
                let version = u16::from_le_bytes([p[0], p[1]]);
                let n = u16::from_le_bytes([p[2], p[3]]) as usize;
                exact(p, 4 + n + 8, "hello")?;
                let sensor = std::str::from_utf8(&p[4..4 + n])
                    .map_err(|_| malformed(at(4), "sensor name is not UTF-8"))?;
                if !valid_sensor_name(sensor) {
                    return Err(malformed(
                        at(4),
                        format!("sensor name {sensor:?} is not 1..=64 of [A-Za-z0-9._-]"),
                    ));
                }
                Message::Hello {
                    sensor,
                    version,
                    last_seq: u64_at(p, 4 + n)?,
                }
            }
            Kind::Welcome => {
                exact(p, 9, "welcome")?;
                let v = u64_at(p, 1)?;
                Message::Welcome {
                    stored_through: match p[0] {
                        0 => None,
                        1 => Some(v),
                        b => return Err(malformed(at(0), format!("welcome flag {b}"))),
                    },
                }
            }
            Kind::Batch => Message::Batch(Batch::parse(p, limits)?),
            Kind::Ack => {
                exact(p, 8, "ack")?;
                Message::Ack {
                    through: u64_at(p, 0)?,
                }
            }
            Kind::Ping | Kind::Pong => {
                exact(p, 8, "ping")?;
                let n = u64_at(p, 0)?;
                if kind == Kind::Ping {
                    Message::Ping(n)
                } else {
                    Message::Pong(n)
                }
            }
            Kind::Command => {
                exact(p, 23, "command")?;
                if p[0] != 1 {
                    return Err(malformed(at(0), format!("unknown command {}", p[0])));
                }
                let mut o = [0u8; 16];
                o.copy_from_slice(&p[2..18]);
                let (net, max) = match p[1] {
                    4 => (IpAddr::from([o[0], o[1], o[2], o[3]]), 32),
                    6 => (IpAddr::from(o), 128),
                    f => return Err(malformed(at(1), format!("address family {f}"))),
                };
                let prefix = p[18];
                if prefix > max {
                    return Err(malformed(at(18), format!("prefix /{prefix} for {net}")));
                }
                let secs = u32::from_le_bytes([p[19], p[20], p[21], p[22]]);
                Message::Command(Command::Block(Block { net, prefix, secs }))
            }
        })
    }

    /// Appends this message as a frame to `out`. Batches are built by
    /// [`BatchEncoder`](super::BatchEncoder) instead; encoding one here is a caller bug and
    /// writes nothing.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        let kind = match *self {
            Message::Hello {
                sensor,
                version,
                last_seq,
            } => {
                out.extend_from_slice(&version.to_le_bytes());
                out.extend_from_slice(&(sensor.len() as u16).to_le_bytes());
                out.extend_from_slice(sensor.as_bytes());
                out.extend_from_slice(&last_seq.to_le_bytes());
                Kind::Hello
            }
            Message::Welcome { stored_through } => {
                out.push(stored_through.is_some() as u8);
                out.extend_from_slice(&stored_through.unwrap_or(0).to_le_bytes());
                Kind::Welcome
            }
            Message::Batch(_) => {
                out.truncate(start);
                return;
            }
            Message::Ack { through } => {
                out.extend_from_slice(&through.to_le_bytes());
                Kind::Ack
            }
            Message::Ping(n) | Message::Pong(n) => {
                out.extend_from_slice(&n.to_le_bytes());
                if matches!(self, Message::Ping(_)) {
                    Kind::Ping
                } else {
                    Kind::Pong
                }
            }
            Message::Command(Command::Block(b)) => {
                out.push(1);
                let a = crate::record::Addr::from(b.net);
                out.push(a.family);
                out.extend_from_slice(&a.octets);
                out.push(b.prefix);
                out.extend_from_slice(&b.secs.to_le_bytes());
                Kind::Command
            }
        };
        let len = (out.len() - start - HEADER_LEN) as u32;
        out[start..start + HEADER_LEN].copy_from_slice(&Header::encode(kind, len));
    }
}

/// The protocol version a Hello carries (the frame header's version, widened).
pub const PROTOCOL: u16 = VERSION as u16;

/// Decodes the first frame of `input`, copying its payload into `scratch` (16-aligned) so a
/// batch validates in place. Returns the message and the bytes consumed. Used by the fuzz
/// target and tests; the links read frames from sockets with the same steps.
pub fn decode_frame<'s>(
    input: &[u8],
    limits: &Limits,
    scratch: &'s mut AlignedVec<16>,
) -> Result<(Message<'s>, usize), WireError> {
    let head: &[u8; HEADER_LEN] = input
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| malformed(input.len(), "truncated frame header"))?;
    let h = Header::parse(head, limits)?;
    let end = HEADER_LEN + h.len as usize;
    let payload = input.get(HEADER_LEN..end).ok_or_else(|| {
        malformed(
            input.len(),
            format!(
                "truncated payload: {} of {} bytes",
                input.len() - HEADER_LEN,
                h.len
            ),
        )
    })?;
    scratch.clear();
    scratch.extend_from_slice(payload);
    Ok((Message::parse(h.kind, scratch, limits)?, end))
}
