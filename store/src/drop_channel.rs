//! The drop channel: where an alert goes when the spool refuses it, so it is counted and
//! handed on instead of vanishing. First choice is a unix datagram socket that the drop
//! notifier (`tidewatch notify drop`) binds; when no one listens or the send would block,
//! the alert is appended to a file instead, which the notifier (or a person) reads later.
//!
//! Both carry the same frame: `"TWD1"`, payload length (u32 LE), crc32c of reason and
//! payload (u32 LE), the [`DropReason`] byte, three zero bytes, then the archived
//! `AlertRecord` (its `seq` already stamped, so the gap at the collector is explained).

use crate::record::{self, ArchivedAlertRecord, RecordError};
use crate::spool::{DropReason, SpoolStats};
use rkyv::util::AlignedVec;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

const MAGIC: [u8; 4] = *b"TWD1";
const HEADER: usize = 16;
/// Largest record a frame may claim; a reader refuses more (the bytes are untrusted).
pub const MAX_RECORD: usize = 16 << 20;

/// Where a dropped alert was handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    Socket,
    File,
}

/// Both ways out failed: the alert is lost, and counted as such (`drop_lost`).
#[derive(Debug, thiserror::Error)]
#[error(
    "drop channel lost alert seq {seq}: socket {socket}: {socket_err}; file {file}: {file_err}"
)]
pub struct DropLost {
    pub seq: u64,
    pub socket: PathBuf,
    pub socket_err: io::Error,
    pub file: PathBuf,
    pub file_err: io::Error,
}

/// The sending side, owned by whoever holds the spool's writer.
pub struct DropChannel {
    socket_path: PathBuf,
    file_path: PathBuf,
    sock: UnixDatagram,
    file: Option<File>,
    frame: Vec<u8>,
    stats: Arc<SpoolStats>,
}

impl DropChannel {
    /// A channel sending to the notifier's socket at `socket_path`, falling back to the
    /// append-only file at `file_path` (created on first use).
    pub fn new(
        socket_path: impl Into<PathBuf>,
        file_path: impl Into<PathBuf>,
        stats: Arc<SpoolStats>,
    ) -> io::Result<DropChannel> {
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(DropChannel {
            socket_path: socket_path.into(),
            file_path: file_path.into(),
            sock,
            file: None,
            frame: Vec::with_capacity(4096),
            stats,
        })
    }

    /// Hands one refused record on: to the socket if a reader takes it now, else to the
    /// file. Never blocks on the reader.
    pub fn deliver(
        &mut self,
        record: &[u8],
        seq: u64,
        reason: DropReason,
    ) -> Result<Delivered, DropLost> {
        encode_frame(&mut self.frame, record, reason);
        let socket_err = match self.sock.send_to(&self.frame, &self.socket_path) {
            Ok(n) if n == self.frame.len() => {
                self.stats.drop_to_socket.fetch_add(1, Relaxed);
                return Ok(Delivered::Socket);
            }
            Ok(n) => io::Error::other(format!("short datagram ({n} of {})", self.frame.len())),
            Err(e) => e,
        };
        match self.append_file() {
            Ok(()) => {
                self.stats.drop_to_file.fetch_add(1, Relaxed);
                Ok(Delivered::File)
            }
            Err(file_err) => {
                self.stats.drop_lost.fetch_add(1, Relaxed);
                let lost = DropLost {
                    seq,
                    socket: self.socket_path.clone(),
                    socket_err,
                    file: self.file_path.clone(),
                    file_err,
                };
                tracing::error!("{lost}");
                Err(lost)
            }
        }
    }

    fn append_file(&mut self) -> io::Result<()> {
        // A reader consumes the file by renaming it away (then reading it once writers
        // had a moment to finish): follow the path, not the old inode.
        if let Some(f) = &self.file {
            use std::os::unix::fs::MetadataExt;
            let (open, named) = (f.metadata()?, std::fs::metadata(&self.file_path));
            if !matches!(named, Ok(m) if m.ino() == open.ino() && m.dev() == open.dev()) {
                self.file = None;
            }
        }
        if self.file.is_none() {
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&self.file_path)?;
            tracing::warn!(file = %self.file_path.display(), socket = %self.socket_path.display(),
                "no drop notifier listening; dropped alerts go to the file");
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(&self.frame)
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    pub fn file_path(&self) -> &Path {
        &self.file_path
    }
}

fn crc(reason: u8, record: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&[reason]), record)
}

fn encode_frame(out: &mut Vec<u8>, record: &[u8], reason: DropReason) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc(reason as u8, record).to_le_bytes());
    out.extend_from_slice(&[reason as u8, 0, 0, 0]);
    out.extend_from_slice(record);
}

/// A dropped alert as read back from the socket or the file.
#[derive(Debug)]
pub struct DropRecord {
    pub reason: DropReason,
    /// The archived record, copied to aligned memory.
    pub record: AlignedVec,
}

impl DropRecord {
    /// Validates the record (the bytes came from a file or another process).
    pub fn access(&self) -> Result<&ArchivedAlertRecord, RecordError> {
        record::access(&self.record)
    }
}

/// Why bytes are not a drop frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("truncated drop frame ({have} of {need} bytes)")]
    Truncated { have: usize, need: usize },
    #[error("not a drop frame (bad magic)")]
    Magic,
    #[error("drop frame claims {0} bytes, more than the limit")]
    TooLarge(usize),
    #[error("drop frame checksum mismatch")]
    Checksum,
    #[error("drop frame has unknown reason {0}")]
    Reason(u8),
}

/// Parses one frame at the start of `bytes`; returns it and the bytes it took.
pub fn parse_frame(bytes: &[u8]) -> Result<(DropRecord, usize), FrameError> {
    if bytes.len() < HEADER {
        return Err(FrameError::Truncated {
            have: bytes.len(),
            need: HEADER,
        });
    }
    if bytes[..4] != MAGIC {
        return Err(FrameError::Magic);
    }
    let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    if len > MAX_RECORD {
        return Err(FrameError::TooLarge(len));
    }
    if bytes.len() < HEADER + len {
        return Err(FrameError::Truncated {
            have: bytes.len(),
            need: HEADER + len,
        });
    }
    let want = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    let payload = &bytes[HEADER..HEADER + len];
    if crc(bytes[12], payload) != want {
        return Err(FrameError::Checksum);
    }
    let reason = DropReason::from_u8(bytes[12]).ok_or(FrameError::Reason(bytes[12]))?;
    let mut record = AlignedVec::with_capacity(len);
    record.extend_from_slice(payload);
    Ok((DropRecord { reason, record }, HEADER + len))
}

/// The fallback file read back: whole frames in order, and how many bytes were skipped
/// (a torn last write, or damage) with the first reason.
#[derive(Debug, Default)]
pub struct DropFile {
    pub records: Vec<DropRecord>,
    pub skipped_bytes: u64,
    pub first_error: Option<FrameError>,
}

/// Reads a drop file, resynchronizing on the next frame magic after damage.
pub fn read_drop_file(path: impl AsRef<Path>) -> io::Result<DropFile> {
    let bytes = std::fs::read(path)?;
    Ok(parse_drop_file(&bytes))
}

/// As [`read_drop_file`], on bytes in memory.
pub fn parse_drop_file(bytes: &[u8]) -> DropFile {
    let mut out = DropFile::default();
    let mut at = 0;
    while at < bytes.len() {
        match parse_frame(&bytes[at..]) {
            Ok((r, n)) => {
                out.records.push(r);
                at += n;
            }
            Err(e) => {
                out.first_error.get_or_insert(e);
                let next = memchr_magic(&bytes[at + 1..]).map_or(bytes.len(), |i| at + 1 + i);
                out.skipped_bytes += (next - at) as u64;
                at = next;
            }
        }
    }
    out
}

fn memchr_magic(hay: &[u8]) -> Option<usize> {
    hay.windows(MAGIC.len()).position(|w| w == MAGIC)
}

/// The notifier's end of the socket: binds the path (replacing a stale socket file) and
/// receives frames.
pub struct DropListener {
    sock: UnixDatagram,
    path: PathBuf,
    buf: Vec<u8>,
}

impl DropListener {
    pub fn bind(path: impl Into<PathBuf>) -> io::Result<DropListener> {
        let path = path.into();
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let sock = UnixDatagram::bind(&path)?;
        Ok(DropListener {
            sock,
            path,
            buf: vec![0; HEADER + MAX_RECORD],
        })
    }

    /// Waits up to `timeout` for one dropped alert. A datagram that is not a whole frame
    /// is an `InvalidData` error naming the reason.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<DropRecord> {
        self.sock.set_nonblocking(false)?;
        self.sock.set_read_timeout(Some(timeout))?;
        let n = self.sock.recv(&mut self.buf)?;
        self.parse(n)
    }

    /// One dropped alert if one is queued, without waiting.
    pub fn try_recv(&mut self) -> io::Result<Option<DropRecord>> {
        self.sock.set_nonblocking(true)?;
        match self.sock.recv(&mut self.buf) {
            Ok(n) => self.parse(n).map(Some),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn parse(&self, n: usize) -> io::Result<DropRecord> {
        let (r, used) = parse_frame(&self.buf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if used != n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("drop datagram has {} bytes after its frame", n - used),
            ));
        }
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DropListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
