//! Newline framing with a bound, shared by the stream socket, the FIFO and the file tail:
//! complete lines come out in place (no copy), a line longer than the bound is reported
//! once and skipped up to its newline, and a partial last line waits for its newline.

/// Bytes read per call at least (the buffer grows to hold a line up to the bound).
const CHUNK: usize = 64 << 10;

/// One framed piece.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Line(&'a [u8]),
    /// A line longer than the bound (its length so far); it is skipped to its newline.
    TooLong(usize),
}

impl Piece<'_> {
    /// Pairs the piece with [`Lines::consumed`] after it.
    fn at(self, end: u64) -> (Self, u64) {
        (self, end)
    }
}

pub(crate) struct Lines {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
    skipping: bool,
    skipped: u64,
    consumed: u64,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max,
            skipping: false,
            skipped: 0,
            consumed: 0,
        }
    }

    /// Room to read into; call [`Lines::filled`] with what was read.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < CHUNK {
            self.buf.resize(self.end + CHUNK, 0);
        }
        &mut self.buf[self.end..]
    }

    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Bytes from the start through the end of the last whole line (or skipped line):
    /// where a reader that stops now would resume.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes of an unfinished line held.
    pub fn partial(&self) -> usize {
        self.end - self.start
    }

    /// Forgets an unfinished line (its writer is gone) and restarts counting at `consumed`.
    pub fn reset(&mut self, consumed: u64) {
        self.start = 0;
        self.end = 0;
        self.skipping = false;
        self.skipped = 0;
        self.consumed = consumed;
    }

    /// The next complete line or over-long report, if any.
    pub fn next_piece(&mut self) -> Option<Piece<'_>> {
        self.next_at().map(|(p, _)| p)
    }

    /// As [`Lines::next_piece`], with [`Lines::consumed`] after the piece.
    pub fn next_at(&mut self) -> Option<(Piece<'_>, u64)> {
        loop {
            let held = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', held) {
                Some(i) => {
                    let at = self.start;
                    self.start += i + 1;
                    if self.skipping {
                        self.skipping = false;
                        self.consumed += self.skipped + i as u64 + 1;
                        self.skipped = 0;
                        continue;
                    }
                    self.consumed += i as u64 + 1;
                    if i > self.max {
                        return Some(Piece::TooLong(i).at(self.consumed));
                    }
                    return Some(Piece::Line(&self.buf[at..at + i]).at(self.consumed));
                }
                None => {
                    let n = held.len();
                    if self.skipping {
                        self.skipped += n as u64;
                        self.start = self.end;
                        return None;
                    }
                    if n > self.max {
                        self.skipping = true;
                        self.skipped = n as u64;
                        self.start = self.end;
                        return Some(Piece::TooLong(n).at(self.consumed));
                    }
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(l: &mut Lines, b: &[u8]) {
        l.spare()[..b.len()].copy_from_slice(b);
        l.filled(b.len());
    }

    #[test]
    fn input_lines_frame_bound_and_wait_for_newline() {
        let mut l = Lines::new(8);
        feed(&mut l, b"one\ntwo\nthr");
        assert_eq!(l.next_piece(), Some(Piece::Line(b"one")));
        assert_eq!(l.next_piece(), Some(Piece::Line(b"two")));
        assert_eq!(l.next_piece(), None);
        assert_eq!(l.consumed(), 8);
        feed(&mut l, b"ee\nmuch-too-long");
        assert_eq!(l.next_piece(), Some(Piece::Line(b"three")));
        assert_eq!(l.next_piece(), Some(Piece::TooLong(13)));
        assert_eq!(l.next_piece(), None);
        feed(&mut l, b"-still\nok\n");
        assert_eq!(l.next_piece(), Some(Piece::Line(b"ok")));
        assert_eq!(l.consumed(), 8 + 6 + 20 + 3);
        feed(&mut l, b"0123456789\n");
        assert_eq!(l.next_piece(), Some(Piece::TooLong(10)));
        assert_eq!(l.consumed(), 48);
    }
}
