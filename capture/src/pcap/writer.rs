//! Writing classic pcap (nanosecond timestamps) for generated traffic and `alerts --pcap`.
//!
//! INTERFACE CONTRACT:
//! - `PcapWriter::new(w: W, link: LinkType) -> io::Result<PcapWriter<W>>` writes the header
//! - `PcapWriter::write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()>`
//! - `PcapWriter::into_inner(self) -> io::Result<W>` flushes

use crate::decode::LinkType;
use std::io::{self, Write};

/// Magic of little-endian pcap files with nanosecond timestamps.
pub const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Snap length written in the header; longer frames are truncated to it.
pub const SNAPLEN: u32 = 262_144;

/// pcap `LINKTYPE_*` value for a link type.
pub fn linktype_number(link: LinkType) -> u32 {
    match link {
        LinkType::Ethernet => 1,
        LinkType::RawIp => 101,
    }
}

/// A classic pcap writer with nanosecond timestamps (little-endian). Wrap the sink in a
/// `BufWriter`: each frame is two `write_all` calls.
pub struct PcapWriter<W: Write> {
    w: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte file header for `link`.
    pub fn new(mut w: W, link: LinkType) -> io::Result<PcapWriter<W>> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&PCAP_MAGIC_NANOS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay zero.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&linktype_number(link).to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { w })
    }

    /// Appends one record; frames longer than [`SNAPLEN`] are stored truncated with their
    /// original length kept in the record header.
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        self.write_cut_frame(ts_ns, frame, 0)
    }

    /// As [`write_frame`](Self::write_frame), for a frame already cut short when it was
    /// kept (an alert's evidence): `orig_len` is the length it had on the wire, so
    /// Wireshark shows it as truncated rather than as a short frame.
    pub fn write_cut_frame(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = u32::try_from(ts_ns / 1_000_000_000).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("timestamp {ts_ns} ns past 2106"),
            )
        })?;
        let nanos = (ts_ns % 1_000_000_000) as u32;
        let kept = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let orig = kept.max(orig_len);
        let incl = kept.min(SNAPLEN);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&nanos.to_le_bytes());
        h[8..12].copy_from_slice(&incl.to_le_bytes());
        h[12..16].copy_from_slice(&orig.to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&frame[..incl as usize])
    }

    /// Flushes and returns the sink.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn header_and_records() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet).unwrap();
        w.write_frame(1_704_067_200_000_000_123, &[1, 2, 3])
            .unwrap();
        w.write_frame(1_704_067_201_999_999_999, &[9; 60]).unwrap();
        let b = w.into_inner().unwrap();
        assert_eq!(&b[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(le32(&b, 8), 0);
        assert_eq!(le32(&b, 12), 0);
        assert_eq!(le32(&b, 16), 262_144);
        assert_eq!(le32(&b, 20), 1);
        assert_eq!(le32(&b, 24), 1_704_067_200);
        assert_eq!(le32(&b, 28), 123);
        assert_eq!(le32(&b, 32), 3);
        assert_eq!(le32(&b, 36), 3);
        assert_eq!(&b[40..43], &[1, 2, 3]);
        assert_eq!(le32(&b, 43), 1_704_067_201);
        assert_eq!(le32(&b, 47), 999_999_999);
        assert_eq!(le32(&b, 51), 60);
        assert_eq!(b.len(), 24 + 16 + 3 + 16 + 60);
    }

    #[test]
    fn raw_ip_linktype_and_snaplen() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::RawIp).unwrap();
        let big = vec![0u8; SNAPLEN as usize + 10];
        w.write_frame(0, &big).unwrap();
        let b = w.into_inner().unwrap();
        assert_eq!(le32(&b, 20), 101);
        assert_eq!(le32(&b, 32), SNAPLEN);
        assert_eq!(le32(&b, 36), SNAPLEN + 10);
        assert_eq!(b.len(), 24 + 16 + SNAPLEN as usize);
    }

    #[test]
    fn timestamp_past_u32_seconds_is_an_error() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::RawIp).unwrap();
        assert!(w.write_frame(u64::MAX, &[0]).is_err());
    }
}
