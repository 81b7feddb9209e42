//! pcap (micro/nanosecond, both byte orders) and pcapng (SHB/IDB/EPB/SPB, per-interface
//! link type and `if_tsresol`) over a read-only memory map.
//!
//! INTERFACE CONTRACT:
//! - `PcapFile::open(path: impl AsRef<Path>) -> Result<PcapFile, PcapError>`
//! - `PcapFile::frames(&self) -> Frames<'_>`; `Frames: Iterator<Item = Result<Frame<'_>, PcapError>>`
//!   that yields one error and then `None` on a corrupt or truncated record.
//! - `PcapFile::len(&self) -> u64` (file size, for progress bars).

/// A capture file mapped read-only.
pub struct PcapFile {}

/// Iterator over the frames of a [`PcapFile`].
pub struct Frames<'a> {
    _file: &'a PcapFile,
}
