//! One datagram's fragments: the overlap policies deciding which bytes a later fragment
//! may replace, and the rebuild of the whole datagram once every byte is there.
//!
//! The model is Suricata 7.0.10's (`defrag.c`), re-stated: fragments are kept sorted by
//! offset (a fragment with the same offset as a held one goes after it); a new fragment
//! is compared with the held ones from the one before its offset onwards until the
//! policy decides, which can trim the front of the new fragment (`ltrim`), trim the front
//! of a held one, drop a held one, or discard the new one. The rebuild copies fragments in
//! offset order, each from its trimmed start, so where trims leave an overlap the fragment
//! with the higher offset (or, at equal offsets, the later one) wins. The golden test
//! (`xtask/golden/defrag/`) checks the result against Suricata on crafted pcaps.

use super::Policy;
use capture::decode::LinkType;

/// Largest rebuilt packet from the IP header on: Suricata's `MAX_PAYLOAD_SIZE`
/// (an IPv6 header, 64 KiB of payload and some slack).
const MAX_PAYLOAD: usize = 40 + 65536 + 28;

/// One held fragment. `buf` holds, for a fragment at offset 0 that was not trimmed, the
/// frame up to its data (`head` bytes), then its data from its trimmed start.
#[derive(Debug)]
pub(crate) struct Frag {
    /// Offset of `buf[head..]` in the datagram (the fragment's offset plus the trim its
    /// own arrival took).
    pub offset: u16,
    pub data_len: u16,
    /// Leading bytes a later fragment took over.
    pub ltrim: u16,
    pub more: bool,
    /// Bytes of link and IP header in front of the data (first fragment only).
    pub head: u16,
    /// IPv4 header length, or for IPv6 the offset of the removed fragment header from the
    /// IP header (first fragment only).
    pub l3_len: u16,
    pub buf: Box<[u8]>,
}

impl Frag {
    fn end(&self) -> u32 {
        u32::from(self.offset) + u32::from(self.data_len)
    }
    /// Bytes this fragment charges to the memcap.
    pub fn cost(&self) -> usize {
        self.buf.len() + std::mem::size_of::<Frag>()
    }
}

/// A fragment on its way in: borrowed from the frame.
pub(crate) struct NewFrag<'a> {
    pub offset: u16,
    pub more: bool,
    pub data: &'a [u8],
    /// Link and IP header bytes (up to the data; IPv6: up to the fragment header, with
    /// the next-header field that named the fragment header already pointing past it,
    /// see `patch`).
    pub head: &'a [u8],
    /// For IPv6: where in `head` the next-header byte naming the fragment header is, and
    /// the value that replaces it (the fragment header's own next header).
    pub patch: Option<(usize, u8)>,
    /// Offset of the IP header in the frame.
    pub l3: usize,
}

/// What [`Tracker::insert`] did with a fragment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Bytes added to (positive) or released from the tracker's memory.
    pub stored: Option<usize>,
    /// Held fragments removed because the new one covered them, and their bytes.
    pub removed: u32,
    pub removed_bytes: usize,
    /// The fragment overlapped a held one.
    pub overlap: bool,
}

/// The fragments of one datagram.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub frags: Vec<Frag>,
    pub seen_last: bool,
    /// Packet time after which the tracker is dropped.
    pub expires_ns: u64,
    /// Link type of the first fragment's frame.
    pub link: Option<LinkType>,
    pub ipv6: bool,
    /// Bytes charged to the memcap for the held fragments.
    pub memory: usize,
}

/// Why a datagram could not be rebuilt (its fragments are dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RebuildError {
    TooLong,
    FirstTooShort,
}

impl Tracker {
    /// The bytes `f` would add if stored with no trim, for the memcap check before
    /// insertion.
    pub fn cost_of(f: &NewFrag<'_>) -> usize {
        f.data.len() + if f.offset == 0 { f.head.len() } else { 0 } + std::mem::size_of::<Frag>()
    }

    /// Adds `f` under `policy`. The caller has checked the memcap for
    /// [`Tracker::cost_of`], which bounds what is stored.
    pub fn insert(&mut self, policy: Policy, f: &NewFrag<'_>) -> Inserted {
        let data_len = f.data.len() as u32;
        let off = u32::from(f.offset);
        let end = off + data_len;
        let mut out = Inserted::default();
        let mut ltrim: u32 = 0;
        let mut discard = false;
        if !self.frags.is_empty() {
            // Start from the fragment before the first one at or after the new offset
            // (from the first fragment when none is, or the new offset is 0).
            let mut i = match self.frags.iter().position(|h| u32::from(h.offset) >= off) {
                Some(k) if off > 0 => k.saturating_sub(1),
                _ => 0,
            };
            while i < self.frags.len() {
                let (p_off, p_end, p_ltrim) = {
                    let p = &self.frags[i];
                    (u32::from(p.offset), p.end(), u32::from(p.ltrim))
                };
                if off < p_end && p_off < end {
                    out.overlap = true;
                }
                let next_off = self.frags.get(i + 1).map(|n| u32::from(n.offset));
                let mut skip_prev = false;
                let decided = match policy {
                    Policy::Bsd => {
                        if off < p_end {
                            if p_off <= off {
                                if p_end > end {
                                    discard = true;
                                } else {
                                    ltrim = p_end - off;
                                    self.trim_next(i, next_off, end);
                                }
                            } else {
                                if off <= p_off && end > p_off + p_ltrim {
                                    let t = end - p_off;
                                    if t > p_ltrim {
                                        self.frags[i].ltrim = clamp16(t);
                                    }
                                }
                                self.trim_next(i, next_off, end);
                            }
                            true
                        } else {
                            false
                        }
                    }
                    Policy::Linux => {
                        if p_off + p_ltrim < off + ltrim && p_end > off + ltrim {
                            ltrim += p_end - off;
                        }
                        if off + ltrim < p_off + p_ltrim && end > p_off + p_ltrim {
                            let t = p_ltrim + end - (p_off + p_ltrim);
                            self.frags[i].ltrim = clamp16(t);
                            true
                        } else if off + ltrim <= p_off + p_ltrim && end >= p_end {
                            skip_prev = true;
                            true
                        } else {
                            false
                        }
                    }
                    Policy::Windows => {
                        // Suricata compares `off + ltrim` with `p_off + ltrim` here, which
                        // is `off` against `p_off`.
                        if off >= p_off && end <= p_end {
                            discard = true;
                            true
                        } else if off < p_off && end > p_end {
                            skip_prev = true;
                            true
                        } else if (off + ltrim > p_off + p_ltrim && off + ltrim < p_end)
                            || (off == p_off && end > p_end)
                        {
                            ltrim += p_end - off;
                            true
                        } else {
                            false
                        }
                    }
                    Policy::Solaris => {
                        if off < p_end {
                            if off >= p_off {
                                ltrim = p_end - off;
                            }
                            if off < p_off && end >= p_end {
                                skip_prev = true;
                            }
                            true
                        } else {
                            false
                        }
                    }
                    Policy::First => {
                        if off >= p_off && end <= p_end {
                            discard = true;
                            true
                        } else if off < p_off {
                            true
                        } else if off < p_end {
                            ltrim = p_end - off;
                            true
                        } else {
                            false
                        }
                    }
                    Policy::Last => {
                        if off <= p_off {
                            if end > p_off {
                                self.frags[i].ltrim = clamp16(end - p_off);
                            }
                            true
                        } else {
                            false
                        }
                    }
                    Policy::BsdRight => false,
                };
                if discard {
                    break;
                }
                if decided {
                    let p = &self.frags[i];
                    if skip_prev || p.ltrim >= p.data_len {
                        let gone = self.frags.remove(i);
                        out.removed += 1;
                        out.removed_bytes += gone.cost();
                        self.memory = self.memory.saturating_sub(gone.cost());
                    }
                    break;
                }
                i += 1;
            }
        }
        if discard || ltrim >= data_len {
            return out;
        }
        let lt = ltrim as usize;
        let first = f.offset == 0 && lt == 0;
        let head: &[u8] = if first { f.head } else { &[] };
        let mut buf = Vec::with_capacity(head.len() + f.data.len() - lt);
        buf.extend_from_slice(head);
        if let (true, Some((at, v))) = (first, f.patch) {
            if let Some(b) = buf.get_mut(at) {
                *b = v;
            }
        }
        buf.extend_from_slice(&f.data[lt..]);
        let frag = Frag {
            offset: clamp16(off + ltrim),
            data_len: clamp16(data_len - ltrim),
            ltrim: 0,
            more: f.more,
            head: head.len() as u16,
            l3_len: (head.len().saturating_sub(f.l3)) as u16,
            buf: buf.into_boxed_slice(),
        };
        if first {
            self.link = Some(if f.l3 == 0 {
                LinkType::RawIp
            } else {
                LinkType::Ethernet
            });
        }
        let cost = frag.cost();
        // After every held fragment with an offset not greater than the new one.
        let at = self.frags.partition_point(|h| h.offset <= frag.offset);
        self.frags.insert(at, frag);
        self.memory += cost;
        if !f.more {
            self.seen_last = true;
        }
        out.stored = Some(cost);
        out
    }

    /// Gives the part of the fragment after `i` that the new one (ending at `end`) covers
    /// to the new one.
    fn trim_next(&mut self, i: usize, next_off: Option<u32>, end: u32) {
        if let Some(n_off) = next_off {
            if end > n_off {
                self.frags[i + 1].ltrim = clamp16(end - n_off);
            }
        }
    }

    /// True when the last fragment was seen, the first is held and no byte between them
    /// is missing.
    pub fn complete(&self) -> bool {
        if !self.seen_last {
            return false;
        }
        match self.frags.first() {
            Some(f) if f.offset == 0 => {}
            _ => return false,
        }
        let mut len = 0u32;
        for f in &self.frags {
            if u32::from(f.offset) > len {
                return false;
            }
            len = len.max(f.end());
        }
        true
    }

    /// Writes the rebuilt frame into `out` (cleared first). Only after [`complete`].
    ///
    /// [`complete`]: Tracker::complete
    pub fn rebuild(&self, out: &mut Vec<u8>) -> Result<(), RebuildError> {
        out.clear();
        let first = match self.frags.first() {
            Some(f) if f.offset == 0 => f,
            _ => return Err(RebuildError::FirstTooShort),
        };
        let min_l3 = if self.ipv6 { 40 } else { 20 };
        if usize::from(first.l3_len) < min_l3 {
            return Err(RebuildError::FirstTooShort);
        }
        // Where the fragmentable part starts in `out`, and the IP header's offset.
        let mut frag_start = 0usize;
        let mut l3 = 0usize;
        let mut frag_len = 0u32;
        let mut more = true;
        let mut prev_off = 0u16;
        for f in &self.frags {
            // Past the last fragment: only fragments at its own offset still count.
            if !more && f.offset > prev_off {
                break;
            }
            if f.ltrim >= f.data_len {
                continue;
            }
            if f.offset == 0 && f.head > 0 {
                // The first fragment brings the link and IP headers, and all its data.
                out.clear();
                out.extend_from_slice(&f.buf);
                frag_start = usize::from(f.head);
                l3 = frag_start - usize::from(f.l3_len);
                frag_len = frag_len.max(u32::from(f.data_len));
            } else {
                let lt = usize::from(f.ltrim);
                let at = frag_start + usize::from(f.offset) + lt;
                if frag_start - l3 + f.end() as usize > MAX_PAYLOAD || f.end() > 65535 {
                    return Err(RebuildError::TooLong);
                }
                let src = &f.buf[usize::from(f.head) + lt..];
                if out.len() < at + src.len() {
                    out.resize(at + src.len(), 0);
                }
                out[at..at + src.len()].copy_from_slice(src);
                frag_len = frag_len.max(f.end());
            }
            more = f.more;
            prev_off = f.offset;
        }
        let hdr = frag_start - l3;
        let ip_len = frag_len as usize + hdr;
        out.truncate(frag_start + frag_len as usize);
        if out.len() < frag_start + frag_len as usize {
            out.resize(frag_start + frag_len as usize, 0);
        }
        if self.ipv6 {
            // Payload length: what follows the fixed header.
            let plen = ip_len - 40;
            if plen > 65535 {
                return Err(RebuildError::TooLong);
            }
            out[l3 + 4..l3 + 6].copy_from_slice(&(plen as u16).to_be_bytes());
        } else {
            if ip_len > 65535 {
                return Err(RebuildError::TooLong);
            }
            out[l3 + 2..l3 + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
            out[l3 + 6] = 0;
            out[l3 + 7] = 0;
            out[l3 + 10] = 0;
            out[l3 + 11] = 0;
            let sum = capture::decode::internet_checksum(&out[l3..frag_start]);
            out[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
        }
        Ok(())
    }
}

fn clamp16(v: u32) -> u16 {
    v.min(u32::from(u16::MAX)) as u16
}
