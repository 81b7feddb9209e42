//! Memory-mapped pcap and pcapng reading, and pcap writing.
//!
//! INTERFACE CONTRACT (shared with tools/ and detect/): [`PcapFile::open`] maps the file;
//! [`PcapFile::frames`] yields [`Frame`]s that borrow from the mapping, so workers read
//! packets in place. A corrupt or truncated record ends iteration with an error naming the
//! file offset; every frame before it was already yielded.

use crate::decode::LinkType;
use std::path::PathBuf;

/// One captured frame, borrowed from the mapped file.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub link: LinkType,
    /// Captured bytes (possibly fewer than `orig_len` when the capture had a snap length).
    pub data: &'a [u8],
    pub orig_len: u32,
    /// File offset of the record header, for error messages.
    pub offset: u64,
}

/// Errors from opening or reading a capture file; each names the file and, for content
/// problems, the byte offset of the offending record.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a pcap or pcapng file (magic {magic:#010x})")]
    BadMagic { path: PathBuf, magic: u32 },
    #[error("{path}: unsupported link type {linktype} at offset {offset} (supported: Ethernet, raw IP)")]
    UnsupportedLinkType { path: PathBuf, linktype: u32, offset: u64 },
    #[error("{path}: truncated {what} at offset {offset}")]
    Truncated { path: PathBuf, what: &'static str, offset: u64 },
    #[error("{path}: corrupt {what} at offset {offset}")]
    Corrupt { path: PathBuf, what: &'static str, offset: u64 },
}

mod reader;
mod writer;

pub use reader::{Frames, PcapFile};
pub use writer::PcapWriter;
