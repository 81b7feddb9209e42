//! pcap (micro/nanosecond, both byte orders) and pcapng (SHB/IDB/EPB/SPB, per-interface
//! link type and `if_tsresol`) over a read-only memory map.
//!
//! INTERFACE CONTRACT:
//! - `PcapFile::open(path: impl AsRef<Path>) -> Result<PcapFile, PcapError>`
//! - `PcapFile::frames(&self) -> Frames<'_>`; `Frames: Iterator<Item = Result<Frame<'_>, PcapError>>`
//!   that yields one error and then `None` on a corrupt or truncated record.
//! - `PcapFile::len(&self) -> u64` (file size, for progress bars).

use super::{Frame, PcapError};
use crate::decode::LinkType;
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_LEN: usize = 16;
/// Larger records are corrupt rather than real (libpcap's own limit is 256 KiB by
/// default; this leaves room for odd captures while catching garbage lengths).
const MAX_RECORD_LEN: u32 = 64 << 20;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
const NS_PER_SEC: u64 = 1_000_000_000;

/// Byte order of the file (or of the current pcapng section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    #[inline]
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }
    #[inline]
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Format {
    /// Classic pcap: one link type and timestamp unit for the whole file.
    Pcap {
        endian: Endian,
        nanos: bool,
        link: LinkType,
    },
    Pcapng,
}

/// A capture file mapped read-only.
pub struct PcapFile {
    path: PathBuf,
    map: Mmap,
    format: Format,
}

impl std::fmt::Debug for PcapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFile")
            .field("path", &self.path)
            .field("len", &self.map.len())
            .finish()
    }
}

/// Maps a pcap link-type number to what the decoder understands.
fn link_type(linktype: u32) -> Option<LinkType> {
    match linktype {
        1 => Some(LinkType::Ethernet),
        101 | 228 | 229 => Some(LinkType::RawIp),
        _ => None,
    }
}

#[inline]
fn bytes<const N: usize>(data: &[u8], off: usize) -> Option<[u8; N]> {
    data.get(off..off.checked_add(N)?)?.try_into().ok()
}

impl PcapFile {
    /// Maps `path` and checks its header: classic pcap (µs or ns, either byte order, a
    /// supported link type) or pcapng (a section header block first).
    pub fn open(path: impl AsRef<Path>) -> Result<PcapFile, PcapError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| PcapError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        // SAFETY: the mapping is read-only and private to this process. If another process
        // truncates the file while it is mapped, reads past the new end fault (SIGBUS);
        // like every mmap-based reader we accept that for capture files at rest.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let Some(magic_bytes) = bytes::<4>(&map, 0) else {
            let what = if map.is_empty() {
                "file header (empty file)"
            } else {
                "file header"
            };
            return Err(PcapError::Truncated {
                path,
                what,
                offset: 0,
            });
        };
        let format = match (
            u32::from_le_bytes(magic_bytes),
            u32::from_be_bytes(magic_bytes),
        ) {
            (PCAPNG_SHB, _) => Format::Pcapng,
            (PCAP_MAGIC_US, _) => Self::pcap_header(&path, &map, Endian::Little, false)?,
            (PCAP_MAGIC_NS, _) => Self::pcap_header(&path, &map, Endian::Little, true)?,
            (_, PCAP_MAGIC_US) => Self::pcap_header(&path, &map, Endian::Big, false)?,
            (_, PCAP_MAGIC_NS) => Self::pcap_header(&path, &map, Endian::Big, true)?,
            (_, magic) => return Err(PcapError::BadMagic { path, magic }),
        };
        Ok(PcapFile { path, map, format })
    }

    fn pcap_header(
        path: &Path,
        map: &[u8],
        endian: Endian,
        nanos: bool,
    ) -> Result<Format, PcapError> {
        let Some(linktype) = bytes::<4>(map, 20).map(|b| endian.u32(b)) else {
            return Err(PcapError::Truncated {
                path: path.to_path_buf(),
                what: "pcap file header",
                offset: 0,
            });
        };
        // The upper bits may carry FCS information; the link type is the low 16 bits.
        let Some(link) = link_type(linktype & 0xffff) else {
            return Err(PcapError::UnsupportedLinkType {
                path: path.to_path_buf(),
                linktype,
                offset: 20,
            });
        };
        Ok(Format::Pcap {
            endian,
            nanos,
            link,
        })
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// True for a zero-length file (which [`PcapFile::open`] rejects, so never in practice).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Iterates the frames in file order, borrowing from the mapping.
    pub fn frames(&self) -> Frames<'_> {
        let pos = match self.format {
            Format::Pcap { .. } => PCAP_HEADER_LEN,
            Format::Pcapng => 0,
        };
        Frames {
            file: self,
            pos,
            done: false,
            endian: Endian::Little,
            interfaces: Vec::new(),
            ahead: pos,
        }
    }
}

/// How far past the record just read the mapping is prefetched. Reading a capture record
/// by record is bound by the latency of each record's first line (the hardware
/// prefetcher stops at page boundaries); a software stream this far ahead hides it, and
/// leaves the payload in cache for the worker that reads it next. The reader alone over
/// the 1 GB bench pcap (`benches/examples/reader_pass.rs`): frames 230 -> 95 ms, with
/// decoding and flow hashing 355 -> 245 ms; 4 KiB and 16 KiB ahead were no better.
const PREFETCH_AHEAD: usize = 1024;

/// A pcapng interface: its link type (`None` when unsupported) and timestamp clock.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: Option<LinkType>,
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_sec: i64,
}

/// Iterator over the frames of a [`PcapFile`].
pub struct Frames<'a> {
    file: &'a PcapFile,
    pos: usize,
    done: bool,
    /// Byte order of the current pcapng section.
    endian: Endian,
    /// Interfaces of the current pcapng section, by id.
    interfaces: Vec<Interface>,
    /// Offset up to which the mapping has been prefetched.
    ahead: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.file.format {
            Format::Pcap {
                endian,
                nanos,
                link,
            } => self.next_pcap(endian, nanos, link),
            Format::Pcapng => self.next_pcapng(),
        };
        match r {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Frames<'a> {
    /// Issues prefetches for the lines up to `to` not prefetched yet (after one huge
    /// record, only the last few KiB of the way).
    #[inline]
    fn prefetch_to(&mut self, to: usize) {
        let to = to.min(self.file.map.len());
        let base = self.file.map.as_ptr();
        self.ahead = self.ahead.max(to.saturating_sub(4 * PREFETCH_AHEAD));
        while self.ahead < to {
            crate::prefetch::prefetch(base.wrapping_add(self.ahead));
            self.ahead += 64;
        }
    }

    fn truncated(&self, what: &'static str, offset: usize) -> PcapError {
        PcapError::Truncated {
            path: self.file.path.clone(),
            what,
            offset: offset as u64,
        }
    }

    fn corrupt(&self, what: &'static str, offset: usize) -> PcapError {
        PcapError::Corrupt {
            path: self.file.path.clone(),
            what,
            offset: offset as u64,
        }
    }

    fn next_pcap(
        &mut self,
        endian: Endian,
        nanos: bool,
        link: LinkType,
    ) -> Result<Option<Frame<'a>>, PcapError> {
        let data: &'a [u8] = &self.file.map;
        let at = self.pos;
        if at >= data.len() {
            return Ok(None);
        }
        let Some(h) = bytes::<PCAP_RECORD_LEN>(data, at) else {
            return Err(self.truncated("record header", at));
        };
        let field = |i: usize| endian.u32([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (sec, frac, incl_len, orig_len) = (field(0), field(4), field(8), field(12));
        if incl_len > MAX_RECORD_LEN {
            return Err(self.corrupt("record length", at));
        }
        let start = at + PCAP_RECORD_LEN;
        let end = start + incl_len as usize;
        let Some(frame) = data.get(start..end) else {
            return Err(self.truncated("packet record", at));
        };
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        self.pos = end;
        self.prefetch_to(end + PREFETCH_AHEAD);
        Ok(Some(Frame {
            ts_ns: u64::from(sec) * NS_PER_SEC + frac_ns,
            link,
            data: frame,
            orig_len,
            offset: at as u64,
        }))
    }

    /// Reads pcapng blocks until the next packet, the end of the file, or an error.
    fn next_pcapng(&mut self) -> Result<Option<Frame<'a>>, PcapError> {
        let data: &'a [u8] = &self.file.map;
        loop {
            let at = self.pos;
            if at >= data.len() {
                return Ok(None);
            }
            let Some(head) = bytes::<8>(data, at) else {
                return Err(self.truncated("block header", at));
            };
            let raw_type = [head[0], head[1], head[2], head[3]];
            if u32::from_le_bytes(raw_type) == PCAPNG_SHB {
                // A new section: its byte-order magic sets how everything in it is read.
                let Some(bom) = bytes::<4>(data, at + 8) else {
                    return Err(self.truncated("section header block", at));
                };
                self.endian = match (u32::from_le_bytes(bom), u32::from_be_bytes(bom)) {
                    (PCAPNG_BYTE_ORDER, _) => Endian::Little,
                    (_, PCAPNG_BYTE_ORDER) => Endian::Big,
                    _ => return Err(self.corrupt("section header byte-order magic", at)),
                };
                self.interfaces.clear();
            }
            let endian = self.endian;
            let block_type = endian.u32(raw_type);
            let total = endian.u32([head[4], head[5], head[6], head[7]]) as usize;
            if total < 12 || !total.is_multiple_of(4) {
                return Err(self.corrupt("block length", at));
            }
            let Some(block) = data.get(at..at.saturating_add(total)) else {
                return Err(self.truncated("block", at));
            };
            let trailer = bytes::<4>(block, total - 4).map(|b| endian.u32(b) as usize);
            if trailer != Some(total) {
                return Err(self.corrupt("block (trailing length differs)", at));
            }
            self.pos = at + total;
            self.prefetch_to(self.pos + PREFETCH_AHEAD);
            let body = &block[8..total - 4];
            match block_type {
                PCAPNG_SHB if body.len() < 16 => {
                    return Err(self.corrupt("section header block", at));
                }
                PCAPNG_IDB => {
                    let iface = self.interface(body, at)?;
                    self.interfaces.push(iface);
                }
                PCAPNG_EPB => return self.enhanced_packet(body, at).map(Some),
                PCAPNG_SPB => return self.simple_packet(body, at).map(Some),
                _ => {} // statistics, name resolution, custom...: not needed
            }
        }
    }

    fn interface(&self, body: &[u8], at: usize) -> Result<Interface, PcapError> {
        let e = self.endian;
        let (Some(lt), Some(snap)) = (bytes::<2>(body, 0), bytes::<4>(body, 4)) else {
            return Err(self.corrupt("interface description block", at));
        };
        let linktype = u32::from(e.u16(lt));
        let mut iface = Interface {
            link: link_type(linktype),
            linktype,
            snaplen: e.u32(snap),
            units_per_sec: 1_000_000,
            offset_sec: 0,
        };
        let mut opt = 8;
        while let (Some(code), Some(len)) = (bytes::<2>(body, opt), bytes::<2>(body, opt + 2)) {
            let (code, len) = (e.u16(code), usize::from(e.u16(len)));
            if code == OPT_END {
                break;
            }
            let Some(value) = body.get(opt + 4..opt + 4 + len) else {
                return Err(self.corrupt("interface option", at + 8 + opt));
            };
            match (code, value) {
                (OPT_IF_TSRESOL, &[r]) => {
                    let exp = u32::from(r & 0x7f);
                    let units = if r & 0x80 != 0 {
                        2u64.checked_pow(exp)
                    } else {
                        10u64.checked_pow(exp)
                    };
                    iface.units_per_sec = match units {
                        Some(u) => u,
                        None => return Err(self.corrupt("if_tsresol option", at + 8 + opt)),
                    };
                }
                (OPT_IF_TSOFFSET, &[a, b, c, d, f, g, h, i]) => {
                    let v = [a, b, c, d, f, g, h, i];
                    iface.offset_sec = match e {
                        Endian::Little => i64::from_le_bytes(v),
                        Endian::Big => i64::from_be_bytes(v),
                    };
                }
                _ => {}
            }
            opt += 4 + len.next_multiple_of(4);
        }
        Ok(iface)
    }

    fn packet_interface(&self, id: u32, at: usize) -> Result<(Interface, LinkType), PcapError> {
        let Some(iface) = self.interfaces.get(id as usize).copied() else {
            return Err(self.corrupt("packet block (unknown interface)", at));
        };
        match iface.link {
            Some(link) => Ok((iface, link)),
            None => Err(PcapError::UnsupportedLinkType {
                path: self.file.path.clone(),
                linktype: iface.linktype,
                offset: at as u64,
            }),
        }
    }

    fn enhanced_packet(&self, body: &'a [u8], at: usize) -> Result<Frame<'a>, PcapError> {
        let e = self.endian;
        let Some(h) = bytes::<20>(body, 0) else {
            return Err(self.corrupt("enhanced packet block", at));
        };
        let field = |i: usize| e.u32([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (iface, link) = self.packet_interface(field(0), at)?;
        let ts = u64::from(field(4)) << 32 | u64::from(field(8));
        let cap_len = field(12) as usize;
        let Some(data) = body.get(20..20 + cap_len) else {
            return Err(self.corrupt("enhanced packet block (captured length)", at));
        };
        Ok(Frame {
            ts_ns: to_ns(ts, &iface),
            link,
            data,
            orig_len: field(16),
            offset: at as u64,
        })
    }

    fn simple_packet(&self, body: &'a [u8], at: usize) -> Result<Frame<'a>, PcapError> {
        let Some(len) = bytes::<4>(body, 0).map(|b| self.endian.u32(b)) else {
            return Err(self.corrupt("simple packet block", at));
        };
        let (iface, link) = self.packet_interface(0, at)?;
        let mut cap = len as usize;
        if iface.snaplen != 0 {
            cap = cap.min(iface.snaplen as usize);
        }
        let Some(data) = body.get(4..4 + cap) else {
            return Err(self.corrupt("simple packet block (packet length)", at));
        };
        Ok(Frame {
            ts_ns: 0,
            link,
            data,
            orig_len: len,
            offset: at as u64,
        })
    }
}

/// Converts a pcapng timestamp in interface units to nanoseconds since the epoch,
/// saturating rather than wrapping for absurd values.
fn to_ns(ts: u64, iface: &Interface) -> u64 {
    let units = u128::from(iface.units_per_sec.max(1));
    let ns = u128::from(ts) * u128::from(NS_PER_SEC) / units;
    let offset = i128::from(iface.offset_sec) * i128::from(NS_PER_SEC);
    let total = (ns as i128).saturating_add(offset);
    total.clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    //! pcap and pcapng files built byte by byte in both byte orders, then read back.

    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A temporary file removed on drop (no extra dependency for tests).
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(bytes: &[u8]) -> TempFile {
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "tidewatch-reader-{}-{}.pcap",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, bytes).expect("write temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[derive(Clone, Copy)]
    enum E {
        Le,
        Be,
    }

    fn u16b(e: E, v: u16) -> [u8; 2] {
        match e {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }

    fn u32b(e: E, v: u32) -> [u8; 4] {
        match e {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }

    /// A classic pcap file; records are `(sec, frac, data, orig_len)`.
    fn pcap(e: E, magic: u32, linktype: u32, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(u32b(e, magic));
        f.extend(u16b(e, 2));
        f.extend(u16b(e, 4));
        f.extend([0; 8]);
        f.extend(u32b(e, 65535));
        f.extend(u32b(e, linktype));
        for &(sec, frac, data, orig) in records {
            f.extend(u32b(e, sec));
            f.extend(u32b(e, frac));
            f.extend(u32b(e, data.len() as u32));
            f.extend(u32b(e, orig));
            f.extend(data);
        }
        f
    }

    fn block(e: E, block_type: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        body.resize(body.len().next_multiple_of(4), 0);
        let total = (body.len() + 12) as u32;
        let mut b = Vec::new();
        b.extend(u32b(e, block_type));
        b.extend(u32b(e, total));
        b.extend(body);
        b.extend(u32b(e, total));
        b
    }

    fn shb(e: E) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(u32b(e, PCAPNG_BYTE_ORDER));
        body.extend(u16b(e, 1));
        body.extend(u16b(e, 0));
        body.extend([0xff; 8]); // section length unknown
        block(e, PCAPNG_SHB, &body)
    }

    fn idb(e: E, linktype: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(u16b(e, linktype));
        body.extend([0, 0]);
        body.extend(u32b(e, snaplen));
        // An unrelated option first (if_name), so option walking is exercised.
        body.extend(u16b(e, 2));
        body.extend(u16b(e, 3));
        body.extend(b"eth\0");
        if let Some(r) = tsresol {
            body.extend(u16b(e, OPT_IF_TSRESOL));
            body.extend(u16b(e, 1));
            body.extend([r, 0, 0, 0]);
        }
        body.extend([0; 4]); // opt_endofopt
        block(e, PCAPNG_IDB, &body)
    }

    fn epb(e: E, iface: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(u32b(e, iface));
        body.extend(u32b(e, (ts >> 32) as u32));
        body.extend(u32b(e, ts as u32));
        body.extend(u32b(e, data.len() as u32));
        body.extend(u32b(e, orig));
        body.extend(data);
        block(e, PCAPNG_EPB, &body)
    }

    fn spb(e: E, orig: u32, data: &[u8]) -> Vec<u8> {
        let mut body = u32b(e, orig).to_vec();
        body.extend(data);
        block(e, PCAPNG_SPB, &body)
    }

    /// A frame copied out of the mapping: `(ts_ns, link, data, orig_len, offset)`.
    type Owned = (u64, LinkType, Vec<u8>, u32, u64);

    /// Reads every item: the frames (as owned summaries) and the error, if any.
    fn read_all(bytes: &[u8]) -> Result<(Vec<Owned>, Option<PcapError>), PcapError> {
        let tmp = TempFile::new(bytes);
        let file = PcapFile::open(&tmp.0)?;
        assert_eq!(file.len(), bytes.len() as u64);
        let mut frames = Vec::new();
        let mut error = None;
        let mut it = file.frames();
        for item in it.by_ref() {
            match item {
                Ok(f) => {
                    assert!(error.is_none(), "frame after an error");
                    frames.push((f.ts_ns, f.link, f.data.to_vec(), f.orig_len, f.offset));
                }
                Err(e) => {
                    assert!(error.is_none(), "two errors");
                    error = Some(e);
                }
            }
        }
        assert!(it.next().is_none(), "iterator must stay finished");
        Ok((frames, error))
    }

    const A: &[u8] = b"first frame";
    const B: &[u8] = b"second";

    #[test]
    fn classic_pcap_in_all_magics_and_byte_orders() {
        for (e, magic, frac, ts_ns) in [
            (E::Le, PCAP_MAGIC_US, 250_000, 1_700_000_000_250_000_000),
            (E::Be, PCAP_MAGIC_US, 250_000, 1_700_000_000_250_000_000),
            (E::Le, PCAP_MAGIC_NS, 123_456_789, 1_700_000_000_123_456_789),
            (E::Be, PCAP_MAGIC_NS, 123_456_789, 1_700_000_000_123_456_789),
        ] {
            let bytes = pcap(e, magic, 1, &[(1_700_000_000, frac, A, 1500), (1, 0, B, 6)]);
            let (frames, err) = read_all(&bytes).expect("open");
            assert!(err.is_none(), "{err:?}");
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0], (ts_ns, LinkType::Ethernet, A.to_vec(), 1500, 24));
            assert_eq!(
                frames[1],
                (
                    1_000_000_000,
                    LinkType::Ethernet,
                    B.to_vec(),
                    6,
                    24 + 16 + A.len() as u64
                )
            );
        }
    }

    #[test]
    fn raw_ip_link_types_and_unsupported_ones() {
        for lt in [101, 228, 229] {
            let (frames, _) = read_all(&pcap(E::Le, PCAP_MAGIC_US, lt, &[(0, 0, A, 11)])).unwrap();
            assert_eq!(frames[0].1, LinkType::RawIp, "link type {lt}");
        }
        match read_all(&pcap(E::Be, PCAP_MAGIC_US, 113, &[])) {
            Err(PcapError::UnsupportedLinkType {
                linktype: 113,
                offset: 20,
                ..
            }) => {}
            other => panic!("expected unsupported link type, got {other:?}"),
        }
    }

    #[test]
    fn truncated_last_record_yields_earlier_frames_then_one_error() {
        let full = pcap(
            E::Le,
            PCAP_MAGIC_US,
            1,
            &[(1, 0, A, 11), (2, 0, B, 6), (3, 0, A, 11)],
        );
        let third = 24 + 16 + A.len() + 16 + B.len();
        for cut in [third + 3, third + 16 + 4] {
            let (frames, err) = read_all(&full[..cut]).unwrap();
            assert_eq!(frames.len(), 2, "cut at {cut}");
            match err {
                Some(PcapError::Truncated { offset, what, .. }) => {
                    assert_eq!(offset, third as u64);
                    assert!(what.contains("record"), "{what}");
                }
                other => panic!("cut at {cut}: expected truncation, got {other:?}"),
            }
        }
    }

    #[test]
    fn absurd_record_length_is_corrupt() {
        let mut bytes = pcap(E::Le, PCAP_MAGIC_NS, 1, &[(1, 0, A, 11), (2, 0, B, 6)]);
        let second = 24 + 16 + A.len();
        bytes[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let (frames, err) = read_all(&bytes).unwrap();
        assert_eq!(frames.len(), 1);
        let err = err.expect("error");
        assert!(
            matches!(err, PcapError::Corrupt { offset, .. } if offset == second as u64),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&format!("offset {second}")),
            "{err}"
        );
    }

    #[test]
    fn empty_short_and_foreign_files_are_clear_errors() {
        let e = read_all(b"").unwrap_err();
        assert!(matches!(e, PcapError::Truncated { offset: 0, .. }), "{e:?}");
        assert!(e.to_string().contains("empty"), "{e}");
        let e = read_all(&pcap(E::Le, PCAP_MAGIC_US, 1, &[])[..10]).unwrap_err();
        assert!(matches!(e, PcapError::Truncated { offset: 0, .. }), "{e:?}");
        let e = read_all(b"GET / HTTP/1.1\r\n").unwrap_err();
        assert!(
            matches!(
                e,
                PcapError::BadMagic {
                    magic: 0x4745_5420,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = PcapFile::open("/nonexistent/tidewatch.pcap").unwrap_err();
        assert!(
            matches!(e, PcapError::Io { .. })
                && e.to_string().contains("/nonexistent/tidewatch.pcap"),
            "{e}"
        );
        // A header-only pcap has no frames and no error.
        assert_eq!(
            read_all(&pcap(E::Be, PCAP_MAGIC_NS, 1, &[]))
                .unwrap()
                .0
                .len(),
            0
        );
    }

    #[test]
    fn pcapng_interfaces_resolutions_and_skipped_blocks() {
        for e in [E::Le, E::Be] {
            let mut f = shb(e);
            f.extend(idb(e, 1, 0, None)); // Ethernet, microseconds by default
            f.extend(idb(e, 101, 0, Some(9))); // raw IP, nanoseconds
            f.extend(idb(e, 1, 0, Some(0x80 | 20))); // 2^-20 s units
            f.extend(epb(e, 0, 1_700_000_000_000_001, A, 1500));
            f.extend(block(e, 5, &[0; 12])); // interface statistics: skipped
            f.extend(block(e, 0x4000_0bad, &[1, 2, 3])); // unknown: skipped
            f.extend(epb(e, 1, 1_700_000_000_123_456_789, B, 6));
            f.extend(epb(e, 2, 3 << 20 | 1 << 19, A, 11)); // 3.5 s
            let (frames, err) = read_all(&f).unwrap();
            assert!(err.is_none(), "{err:?}");
            assert_eq!(frames.len(), 3);
            assert_eq!(frames[0].0, 1_700_000_000_000_001_000);
            assert_eq!(
                (frames[0].1, &frames[0].2[..], frames[0].3),
                (LinkType::Ethernet, A, 1500)
            );
            assert_eq!(
                (frames[1].0, frames[1].1, &frames[1].2[..]),
                (1_700_000_000_123_456_789, LinkType::RawIp, B)
            );
            assert_eq!(frames[2].0, 3_500_000_000);
            let first_epb =
                (shb(e).len() + idb(e, 1, 0, None).len() + 2 * idb(e, 1, 0, Some(9)).len()) as u64;
            assert_eq!(frames[0].4, first_epb, "offsets name the block");
        }
    }

    /// An IDB whose options are given raw (code, value) after the fixed fields.
    fn idb_with(e: E, options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(u16b(e, 1));
        body.extend([0, 0]);
        body.extend(u32b(e, 0));
        for &(code, value) in options {
            body.extend(u16b(e, code));
            body.extend(u16b(e, value.len() as u16));
            body.extend(value);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        block(e, PCAPNG_IDB, &body)
    }

    #[test]
    fn pcapng_tsoffset_and_bad_interface_options() {
        // if_tsoffset adds whole seconds; no opt_endofopt is needed at the end of the body.
        let mut f = shb(E::Be);
        f.extend(idb_with(
            E::Be,
            &[
                (OPT_IF_TSOFFSET, &100i64.to_be_bytes()),
                (OPT_IF_TSRESOL, &[3]),
            ],
        ));
        f.extend(epb(E::Be, 0, 1_500, A, 11));
        let (frames, err) = read_all(&f).unwrap();
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames[0].0, 101_500_000_000);

        // 10^127 units per second cannot be represented.
        let mut f = shb(E::Le);
        let at = f.len();
        f.extend(idb_with(E::Le, &[(OPT_IF_TSRESOL, &[0x7f])]));
        let (_, err) = read_all(&f).unwrap();
        assert!(
            matches!(err, Some(PcapError::Corrupt { offset, what, .. }) if offset == (at + 16) as u64 && what == "if_tsresol option"),
            "{err:?}"
        );

        // An option longer than the block body.
        let mut f = shb(E::Le);
        let mut bad = idb_with(E::Le, &[(2, b"eth0")]);
        bad[18..20].copy_from_slice(&40u16.to_le_bytes());
        f.extend(bad);
        let (_, err) = read_all(&f).unwrap();
        assert!(
            matches!(
                err,
                Some(PcapError::Corrupt {
                    what: "interface option",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn pcapng_multiple_sections_switch_byte_order_and_reset_interfaces() {
        let mut f = shb(E::Be);
        f.extend(idb(E::Be, 1, 0, None));
        f.extend(epb(E::Be, 0, 5, A, 11));
        f.extend(shb(E::Le));
        f.extend(idb(E::Le, 229, 0, Some(9)));
        f.extend(epb(E::Le, 0, 7, B, 6));
        let (frames, err) = read_all(&f).unwrap();
        assert!(err.is_none(), "{err:?}");
        assert_eq!((frames[0].0, frames[0].1), (5_000, LinkType::Ethernet));
        assert_eq!((frames[1].0, frames[1].1), (7, LinkType::RawIp));
        // Interfaces do not survive into a new section.
        let mut g = shb(E::Le);
        g.extend(idb(E::Le, 1, 0, None));
        g.extend(shb(E::Le));
        let at = g.len();
        g.extend(epb(E::Le, 0, 1, A, 11));
        let (_, err) = read_all(&g).unwrap();
        assert!(
            matches!(err, Some(PcapError::Corrupt { offset, .. }) if offset == at as u64),
            "{err:?}"
        );
    }

    #[test]
    fn pcapng_simple_packet_uses_interface_zero_and_its_snaplen() {
        let mut f = shb(E::Le);
        f.extend(idb(E::Le, 1, 4, Some(9)));
        f.extend(spb(E::Le, 11, &A[..4]));
        f.extend(spb(E::Le, 2, &B[..2]));
        let (frames, err) = read_all(&f).unwrap();
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            frames[0],
            (
                0,
                LinkType::Ethernet,
                A[..4].to_vec(),
                11,
                (shb(E::Le).len() + idb(E::Le, 1, 4, Some(9)).len()) as u64
            )
        );
        assert_eq!((&frames[1].2[..], frames[1].3), (&B[..2], 2));
    }

    #[test]
    fn pcapng_bad_block_lengths_and_truncation() {
        let mut good = shb(E::Le);
        good.extend(idb(E::Le, 1, 0, None));
        good.extend(epb(E::Le, 0, 1, A, 11));
        let last = good.len();
        good.extend(epb(E::Le, 0, 2, B, 6));

        // Trailing length differs from the leading one.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 4] ^= 0x04;
        let (frames, err) = read_all(&bad).unwrap();
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(err, Some(PcapError::Corrupt { offset, .. }) if offset == last as u64),
            "{err:?}"
        );

        // Length not a multiple of four, and smaller than a block.
        for total in [13u32, 8] {
            let mut bad = good.clone();
            bad[last + 4..last + 8].copy_from_slice(&total.to_le_bytes());
            let (frames, err) = read_all(&bad).unwrap();
            assert_eq!(frames.len(), 1);
            assert!(
                matches!(err, Some(PcapError::Corrupt { offset, what, .. }) if offset == last as u64 && what == "block length"),
                "{err:?}"
            );
        }

        // Captured length beyond the block body.
        let mut bad = good.clone();
        bad[last + 20..last + 24].copy_from_slice(&200u32.to_le_bytes());
        let (_, err) = read_all(&bad).unwrap();
        assert!(
            matches!(err, Some(PcapError::Corrupt { offset, .. }) if offset == last as u64),
            "{err:?}"
        );

        // Cut inside the last block.
        let (frames, err) = read_all(&good[..good.len() - 3]).unwrap();
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(err, Some(PcapError::Truncated { offset, .. }) if offset == last as u64),
            "{err:?}"
        );

        // Packet on an unsupported interface.
        let mut f = shb(E::Le);
        f.extend(idb(E::Le, 113, 0, None));
        let at = f.len();
        f.extend(epb(E::Le, 0, 1, A, 11));
        let (_, err) = read_all(&f).unwrap();
        assert!(
            matches!(err, Some(PcapError::UnsupportedLinkType { linktype: 113, offset, .. }) if offset == at as u64),
            "{err:?}"
        );

        // Bad byte-order magic.
        let mut f = shb(E::Le);
        f[8] = 0;
        let (_, err) = read_all(&f).unwrap();
        assert!(
            matches!(err, Some(PcapError::Corrupt { offset: 0, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn every_truncation_yields_a_prefix_of_the_frames_and_at_most_one_error() {
        let ng = vec![
            shb(E::Be),
            idb(E::Be, 1, 0, Some(6)),
            epb(E::Be, 0, 1, A, 11),
            spb(E::Be, 6, B),
            epb(E::Be, 0, 3, B, 6),
        ];
        let classic = pcap(
            E::Le,
            PCAP_MAGIC_US,
            1,
            &[(1, 0, A, 11), (2, 0, B, 6), (3, 0, A, 11)],
        );
        let classic = vec![
            classic[..24].to_vec(),
            classic[24..24 + 16 + A.len()].to_vec(),
            classic[24 + 16 + A.len()..24 + 32 + A.len() + B.len()].to_vec(),
            classic[24 + 32 + A.len() + B.len()..].to_vec(),
        ];
        for parts in [ng, classic] {
            let full = parts.concat();
            let boundaries: Vec<usize> = parts
                .iter()
                .scan(0, |n, p| {
                    *n += p.len();
                    Some(*n)
                })
                .collect();
            let (all, err) = read_all(&full).unwrap();
            assert!(err.is_none());
            for cut in 0..full.len() {
                let Ok((frames, err)) = read_all(&full[..cut]) else {
                    continue;
                };
                assert_eq!(&all[..frames.len()], &frames[..], "cut at {cut}");
                // A cut exactly on a record boundary is a shorter valid file.
                assert_eq!(
                    err.is_none(),
                    boundaries.contains(&cut),
                    "cut at {cut}: {err:?}"
                );
            }
        }
    }
}
