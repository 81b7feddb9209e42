//! Writing classic pcap (nanosecond timestamps) for generated traffic and `alerts --pcap`.
//!
//! INTERFACE CONTRACT:
//! - `PcapWriter::new(w: W, link: LinkType) -> io::Result<PcapWriter<W>>` writes the header
//! - `PcapWriter::write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()>`
//! - `PcapWriter::into_inner(self) -> io::Result<W>` flushes

/// A classic pcap writer with nanosecond timestamps.
pub struct PcapWriter<W> {
    _w: W,
}
