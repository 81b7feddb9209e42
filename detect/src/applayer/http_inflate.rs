//! Response body decompression as libhtp 0.5.50 does it for Suricata 7.0.10
//! (`htp_decompressors.c`), for one `Content-Encoding` layer of gzip or deflate: what
//! `file.data` sees of a compressed body, and when.
//!
//! libhtp inflates into an 8,192-byte buffer and hands the body callback its contents
//! only when the buffer is full, when the compressed stream ends, or when the response
//! completes; so a body's decompressed bytes reach the file in those steps, which
//! decides when a body past the limit closes its file. Modelled:
//! - gzip (`inflateInit2(15 + 32)`): a gzip header (any flags) or a zlib header; the
//!   gzip trailer's 8 bytes are read before the stream counts as ended;
//! - deflate (`inflateInit2(-15)`): raw deflate;
//! - a failure before any output: libhtp's restarts, at most three, each from the start
//!   of the failing chunk: first the same kind again past a gzip header's probe
//!   (`htp_gzip_decompressor_probe`), then the other kind; when all failed the chunk and
//!   the rest of the body pass through undecompressed;
//! - a failure after output: what was inflated is handed over and the stream ends;
//! - bytes after the end of the stream are dropped.
//!
//! Not modelled: checksum checks (a bad CRC or Adler-32 ends the stream where zlib would
//! also end it, after handing over its output), several layers (`gzip, deflate`: the
//! caller does not follow such bodies), LZMA (off in Suricata's default configuration,
//! so such bodies pass through, as the caller treats them), and a restart after a
//! failure in a later chunk, which here ends the stream (counted by the caller through
//! [`Inflater::broken`]).

use flate2::{Decompress, FlushDecompress, Status};

/// `GZIP_BUF_SIZE`.
pub const OUT_BUF: usize = 8192;

/// Which decoder a body starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// `gzip`, `x-gzip`: a gzip or zlib header.
    Gzip,
    /// `deflate`, `x-deflate`: raw deflate.
    Deflate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `15 + 32`: gzip or zlib, told by the header.
    Auto,
    /// `-15`.
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Auto: reading the first bytes to tell gzip from zlib (and the gzip header).
    Header,
    /// Inflating (raw deflate after a gzip header, raw, or zlib).
    Body,
    /// A gzip stream's 8 trailer bytes, this many left.
    Trailer(u8),
    /// The stream ended: later bytes are dropped.
    Done,
    /// Every attempt failed: bytes are handed over as they come.
    Passthrough,
}

/// One response body's decoder.
pub struct Inflater {
    kind: Kind,
    stage: Stage,
    /// The stream is zlib-wrapped (auto mode told it).
    zlib: bool,
    restarts: u8,
    d: Decompress,
    /// Inflated bytes not handed over yet (capacity [`OUT_BUF`]).
    out: Vec<u8>,
    /// A gzip header being read across chunks.
    header: Vec<u8>,
    /// Some output was ever produced (a later failure is not restarted).
    produced: bool,
    broken: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("kind", &self.kind)
            .field("stage", &self.stage)
            .field("out", &self.out.len())
            .finish()
    }
}

/// Longest gzip header kept while it is read (names and comments are NUL-terminated).
const MAX_HEADER: usize = 1024;

impl Inflater {
    pub fn new(coding: Coding) -> Inflater {
        let mut i = Inflater {
            kind: Kind::Raw,
            stage: Stage::Body,
            zlib: false,
            restarts: 0,
            d: Decompress::new(false),
            out: Vec::with_capacity(OUT_BUF),
            header: Vec::new(),
            produced: false,
            broken: false,
        };
        i.reset(coding);
        i
    }

    /// Starts over for a new body, keeping the allocations.
    pub fn reset(&mut self, coding: Coding) {
        self.restarts = 0;
        self.out.clear();
        self.header.clear();
        self.produced = false;
        self.broken = false;
        self.init(match coding {
            Coding::Gzip => Kind::Auto,
            Coding::Deflate => Kind::Raw,
        });
    }

    fn init(&mut self, kind: Kind) {
        self.kind = kind;
        self.zlib = false;
        self.header.clear();
        self.d.reset(false);
        self.stage = match kind {
            Kind::Auto => Stage::Header,
            Kind::Raw => Stage::Body,
        };
    }

    /// Bytes held besides the decoder's own state (about 43 KiB, its window): inflated
    /// bytes waiting for the buffer to fill, and a gzip header being read.
    pub fn held(&self) -> usize {
        self.out.len() + self.header.len()
    }

    /// Whether the stream failed after producing output in a way libhtp would have
    /// restarted from (not modelled: the rest of the body was dropped).
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// One chunk of the (de-chunked) body; `emit` gets what libhtp's callback would.
    pub fn feed(&mut self, data: &[u8], emit: &mut impl FnMut(&[u8])) {
        if data.is_empty() {
            return;
        }
        match self.stage {
            Stage::Done => return,
            Stage::Passthrough => return emit(data),
            _ => {}
        }
        let mut from = 0;
        loop {
            match self.inflate(&data[from..], emit) {
                Ok(()) => return,
                Err(()) if !self.out.is_empty() => {
                    // Output despite the error: handed over as the stream's end.
                    self.hand_over(emit);
                    self.stage = Stage::Done;
                    return;
                }
                Err(()) if self.produced => {
                    self.broken = true;
                    self.stage = Stage::Done;
                    return;
                }
                Err(()) if self.restarts < 3 => {
                    from = probe(data);
                    let kind = match (self.restarts, self.kind) {
                        (0, k) => k,
                        (_, Kind::Raw) => Kind::Auto,
                        (_, Kind::Auto) => Kind::Raw,
                    };
                    self.restarts += 1;
                    self.init(kind);
                }
                Err(()) => {
                    self.stage = Stage::Passthrough;
                    return emit(data);
                }
            }
        }
    }

    /// The response completed (libhtp's NULL chunk): what is inflated is handed over.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.stage != Stage::Passthrough {
            self.hand_over(emit);
        }
    }

    fn hand_over(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.out.is_empty() {
            emit(&self.out);
            self.out.clear();
        }
    }

    /// The `while (avail_in != 0)` loop over one chunk.
    fn inflate(&mut self, mut data: &[u8], emit: &mut impl FnMut(&[u8])) -> Result<(), ()> {
        while !data.is_empty() {
            if self.out.len() == OUT_BUF {
                self.hand_over(emit);
            }
            match self.stage {
                Stage::Done | Stage::Passthrough => return Ok(()),
                Stage::Header => {
                    let used = self.header_bytes(data)?;
                    data = &data[used..];
                }
                Stage::Trailer(left) => {
                    let n = usize::from(left).min(data.len());
                    data = &data[n..];
                    if n == usize::from(left) {
                        self.end(emit);
                        return Ok(());
                    }
                    self.stage = Stage::Trailer(left - n as u8);
                }
                Stage::Body => {
                    let (in0, out0) = (self.d.total_in(), self.out.len());
                    let st = self
                        .d
                        .decompress_vec(data, &mut self.out, FlushDecompress::None);
                    let used = (self.d.total_in() - in0) as usize;
                    data = &data[used..];
                    self.produced |= self.out.len() > out0;
                    match st {
                        Ok(Status::StreamEnd) => {
                            if self.kind == Kind::Auto && !self.zlib {
                                self.stage = Stage::Trailer(8);
                            } else {
                                self.end(emit);
                                return Ok(());
                            }
                        }
                        Ok(_)
                            if used == 0 && self.out.len() == out0 && self.out.len() < OUT_BUF =>
                        {
                            // No progress possible (zlib's Z_BUF_ERROR).
                            return Err(());
                        }
                        Ok(_) => {}
                        Err(_) => return Err(()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Z_STREAM_END: the output goes out, later bytes are dropped.
    fn end(&mut self, emit: &mut impl FnMut(&[u8])) {
        self.hand_over(emit);
        self.stage = Stage::Done;
    }

    /// Auto mode's header: a gzip one (read whole, any flags), else a zlib one (left to
    /// the zlib decoder). Returns the bytes of `data` taken.
    fn header_bytes(&mut self, data: &[u8]) -> Result<usize, ()> {
        let had = self.header.len();
        let take = data.len().min(MAX_HEADER - had);
        self.header.extend_from_slice(&data[..take]);
        let h = &self.header;
        if h.len() >= 2 && h[..2] != [0x1f, 0x8b] {
            // zlib: its header is checked by the decoder, which is given the byte an
            // earlier chunk brought (at most one) before this chunk's.
            let mut early = [0u8; 1];
            early[..had].copy_from_slice(&h[..had]);
            self.zlib = true;
            self.d.reset(true);
            self.stage = Stage::Body;
            self.header.clear();
            if had > 0 {
                self.d
                    .decompress_vec(&early[..had], &mut self.out, FlushDecompress::None)
                    .map_err(|_| ())?;
            }
            return Ok(0);
        }
        match gzip_header_len(h) {
            None if take == data.len() && h.len() < MAX_HEADER => Ok(take),
            None => Err(()),
            Some(Err(())) => Err(()),
            Some(Ok(len)) => {
                self.header.clear();
                self.stage = Stage::Body;
                // The header's bytes from this chunk.
                Ok(len - had)
            }
        }
    }
}

/// `htp_gzip_decompressor_probe`: the bytes to skip of a gzip header at the start of
/// `data` (libhtp's rough reading of its flags), else 0.
fn probe(data: &[u8]) -> usize {
    if data.len() < 4 || data[0] != 0x1f || data[1] != 0x8b || data[3] == 0 {
        return 0;
    }
    let consumed = if data[3] & (1 << 3) != 0 || data[3] & (1 << 4) != 0 {
        let mut len = 10;
        while len < data.len() && data[len] != 0 {
            len += 1;
        }
        len + 1
    } else if data[3] & (1 << 1) != 0 {
        12
    } else {
        10
    };
    if consumed > data.len() {
        0
    } else {
        consumed
    }
}

/// The length of the gzip header `h` starts with: `None` while more bytes are needed,
/// an error when it is not one (zlib checks the magic and the method).
fn gzip_header_len(h: &[u8]) -> Option<Result<usize, ()>> {
    if h.len() < 10 {
        return None;
    }
    if h[2] != 8 {
        return Some(Err(()));
    }
    let flags = h[3];
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let x = h.get(pos..pos + 2)?;
        pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
        if h.len() < pos {
            return None;
        }
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            let end = h.get(pos..)?.iter().position(|&b| b == 0)?;
            pos += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
        if h.len() < pos {
            return None;
        }
    }
    Some(Ok(pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::{Compression, GzBuilder};
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn raw(b: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `data` in chunks of `step`, then finishes; returns each handed-over piece.
    fn run(coding: Coding, data: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut i = Inflater::new(coding);
        let mut got = Vec::new();
        for c in data.chunks(step.max(1)) {
            i.feed(c, &mut |b| got.push(b.to_vec()));
        }
        i.finish(&mut |b| got.push(b.to_vec()));
        got
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"abcdefghij klmnop\n"[i % 18] ^ (i / 97) as u8)
            .collect()
    }

    #[test]
    fn every_form_decodes_whole_whatever_the_cuts() {
        let t = text(3000);
        for (coding, data, cuts) in [
            (Coding::Gzip, gzip(&t), true),
            (Coding::Gzip, zlib(&t), true),
            (Coding::Deflate, raw(&t), true),
            // zlib-wrapped "deflate": raw fails, the restarts reach the zlib reading;
            // gzip sent as "deflate" too. libhtp restarts from the start of the chunk
            // that failed, so this works only when the first chunk holds the failure.
            (Coding::Deflate, zlib(&t), false),
            (Coding::Deflate, gzip(&t), false),
        ] {
            let steps: &[usize] = if cuts { &[1, 2, 7, 100] } else { &[100] };
            for &step in steps.iter().chain([&data.len()]) {
                let got = run(coding, &data, step);
                assert_eq!(got.concat(), t, "{coding:?} step {step}");
            }
        }
        // A gzip header with a name, a comment, extra field and header CRC.
        let mut e = GzBuilder::new()
            .filename("page.html")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::default());
        e.write_all(&t).unwrap();
        let named = e.finish().unwrap();
        for step in [1, 3, named.len()] {
            assert_eq!(run(Coding::Gzip, &named, step).concat(), t);
        }
    }

    #[test]
    fn output_goes_out_by_the_8k_buffer_and_at_the_end() {
        let t = text(20_000);
        let got = run(Coding::Gzip, &gzip(&t), 500);
        let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![OUT_BUF, OUT_BUF, 20_000 - 2 * OUT_BUF]);
        // The stream's end hands over at once, before the response completes; bytes
        // after it are dropped.
        let mut i = Inflater::new(Coding::Gzip);
        let mut data = gzip(b"short");
        data.extend_from_slice(b"trailing junk");
        let mut got = Vec::new();
        i.feed(&data, &mut |b| got.push(b.to_vec()));
        assert_eq!(got, vec![b"short".to_vec()]);
        i.feed(b"more", &mut |b| got.push(b.to_vec()));
        i.finish(&mut |b| got.push(b.to_vec()));
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn what_never_inflates_passes_through() {
        let plain = b"<html>not compressed at all</html>";
        assert_eq!(run(Coding::Gzip, plain, plain.len()).concat(), plain);
        assert_eq!(run(Coding::Deflate, plain, 5).concat(), plain);
        // A stream cut short: what was inflated comes out at completion.
        let t = text(3000);
        let g = gzip(&t);
        let got = run(Coding::Gzip, &g[..g.len() / 2], 64).concat();
        assert!(!got.is_empty() && t.starts_with(&got));
    }
}
