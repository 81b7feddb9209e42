//! HTTP/1.x responses framed as libhtp 0.5.50 frames them in Suricata 7.0.10: where each
//! response ends, so that its completion (`HTPCallbackResponseComplete`) asks for raw
//! inspection of the server's stream at the server's next packet, as a completed request
//! does for the client's. Raw `content` rules on a response (`alert http ...
//! flow:to_client`, or `alert tcp` on an HTTP flow) alert at that packet in Suricata.
//!
//! The framing (`htp_response.c`), and, while a rule reads responses, each response's
//! status token (`http.stat_code`) and body as `file.data` sees it (see
//! [`ResponseTx`]):
//! - idle: the first byte of a response starts it, answering the request of the same
//!   index ([`Answer`]); after an HTTP/0.9 request the whole rest is the body;
//! - response line: empty lines before it are skipped; a line that does not start with
//!   `HTTP` (case-insensitive, after white space) is taken as body, and when it ends the
//!   feed the response goes on to finalize (`htp_treat_response_line_as_body`);
//! - headers (and trailers after a chunked body): a header line is processed at once
//!   unless the feed's next byte folds a line into it; `Content-Length` (the first one),
//!   `Transfer-Encoding` (repeats joined) and `Content-Type` are what framing reads;
//! - body (`htp_connp_RES_BODY_DETERMINE`): a CONNECT's 2xx ends the response, a `101`
//!   without length headers stops the parser before it completes, and after either the
//!   parser follows nothing more (a tunnel: Suricata's WebSocket and HTTP/2 upgrades, and
//!   its detection of the protocol inside a CONNECT tunnel, are not modelled); a `100`
//!   without them is interim (a second one is an error); a HEAD's response, and a 1xx,
//!   204 or 304 without length headers, have none; else `chunked` in the
//!   Transfer-Encoding, else `Content-Length` (invalid: an error), else (a
//!   `multipart/byteranges` type is an error) the body runs until the server closes;
//! - chunks: a line of white space is skipped, an invalid length turns the rest into a
//!   body until close;
//! - finalize: a response ending its feed completes at once; otherwise the next line
//!   decides: one that looks like a response line completes it (and starts the next),
//!   any other is more body.
//!
//! At the server's end of stream a response in progress completes.
//!
//! # Response bodies (`file.data`)
//!
//! With [`HttpResponses::set_keep_body`] each response is a [`ResponseTx`] whose body
//! bytes (de-chunked, with the lines framing takes as body) go to the file Suricata
//! opens for it (`HtpResponseBodyHandle`), up to [`RESPONSE_BODY_LIMIT`]; the first byte
//! past the limit closes the file as truncated, and the response's completion closes
//! it. Progress follows libhtp's (`response_progress`: line, headers, body, trailer,
//! complete), and `updated` Suricata's `updated_tc`. Under the default configuration the
//! body limit is below the minimal inspection size, so `FiledataGetDataCallback`
//! offers the file only once the body is done, the file closed, or at the end of the
//! flow, from its start, and once (see [`ResponseTx::begin_inspection`]).
//!
//! Memory: the line being read and a folded header are held, within libhtp's hard field
//! limit (18,000 bytes; past it the parser gives up, as libhtp does for a buffered line,
//! and here also for a header folded past it); body bytes only as above.
//!
//! Not modelled: lines ended by a lone CR (libhtp ends a header line at a CR not
//! followed by LF), a response without a request (libhtp makes a transaction for it),
//! the request side's reaction to a 4xx for a request waiting on `Expect: 100-continue`,
//! two or more `Content-Encoding` layers (such a body opens no file here,
//! [`ResponseTx::compressed`]; one layer of gzip or deflate is decompressed, see
//! [`super::http_inflate`]), the file name a file needs (every response body here
//! opens one), and protocol upgrades to HTTP/2.

use super::http_inflate::{Coding, Inflater};
use crate::rules::Sticky;

use super::http::{
    chunked_length, content_length, is_folding, is_line_empty, is_space, parse_header, skip_line,
    take_body, Fed, Line, Stop, FIELD_LIMIT_HARD, MAX_REPETITIONS,
};

/// What a response's framing takes from its request (`request_method_number`,
/// `is_protocol_0_9`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Answer {
    #[default]
    Normal,
    /// A HEAD request: its response has no body.
    Head,
    /// A CONNECT: a 2xx answer opens a tunnel.
    Connect,
    /// An HTTP/0.9 request: no status line or headers, the body runs until close.
    Http09,
}

/// `htp_connp_t.out_state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Between responses: the next byte starts one.
    #[default]
    Idle,
    Line,
    /// Header lines, or trailer lines after a chunked body.
    Headers,
    ChunkedLength,
    /// Chunk bytes left.
    ChunkedData,
    /// Skipping to the end of the line after a chunk.
    ChunkedDataEnd,
    /// `Content-Length` bytes left.
    Identity,
    /// The body runs until the server closes.
    UntilClose,
    /// Waiting for the next line to decide whether the response is complete.
    Finalize,
    /// After a CONNECT's 2xx or a 101: nothing more is parsed.
    Tunnel,
    Error,
}

/// Indexes of the framing headers in [`HttpResponses::fields`].
const CL: usize = 0;
const TE: usize = 1;
const CT: usize = 2;
const CE: usize = 3;
const FIELDS: usize = 4;

/// One connection's response-side framing (`htp_connp_t`'s outbound half).
#[derive(Debug, Default)]
pub struct HttpResponses {
    state: State,
    /// Responses started on the connection (the next one answers this request index).
    started: u64,
    answer: Answer,
    /// `out_buf`: the buffered start of the line being read.
    carry: Vec<u8>,
    /// `out_header`: the header line(s) waiting for a folded continuation.
    pending: Vec<u8>,
    has_pending: bool,
    /// Body or chunk bytes left.
    left: u64,
    /// The header block being read is the trailer of a chunked body.
    trailer: bool,
    /// The status number when valid (100 to 999).
    status: Option<u16>,
    /// The response protocol is exactly `HTTP/1.1`.
    http11: bool,
    /// `[Content-Length, Transfer-Encoding, Content-Type]`: the values of the headers
    /// framing reads, while `present` (the buffers are reused).
    fields: [Vec<u8>; FIELDS],
    present: [bool; FIELDS],
    /// `seen_100continue`.
    seen_100: bool,
    /// Per framing header (`[Content-Length, Transfer-Encoding, Content-Type]`): it was
    /// repeated; and the repeats counted (`res_header_repetitions`, of these headers).
    repeated: [bool; FIELDS],
    repetitions: u32,
    /// A CONNECT's 2xx: the connection becomes a tunnel once this response completes
    /// (a 101 becomes one at once, without completing).
    tunnel_after: bool,
    /// Responses completed in the current call.
    completed: u32,
    /// Response transactions are kept (some rule reads response bodies): Suricata's
    /// `HTP_REQUIRE_RESPONSE_BODY`.
    keep: bool,
    /// The kept transactions, oldest first, until inspected after completing.
    txs: Vec<ResponseTx>,
    /// Retired transactions, kept for their allocations.
    spare: Vec<ResponseTx>,
}

/// What Suricata's file tracking holds of a response body (`HtpResponseBodyHandle`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum File {
    /// No body byte yet: no file.
    #[default]
    None,
    Open,
    /// Closed: the response completed, or a body byte came past the body limit
    /// (`FILE_TRUNCATED`).
    Closed,
}

/// One response transaction, as `file.data` sees it: the file of its body and the
/// progress that decides when the file is inspected.
#[derive(Debug, Default)]
pub struct ResponseTx {
    /// The index of the request it answers (0, 1, ... per connection).
    pub id: u64,
    /// libhtp's `response_progress`, [`super::http::PROGRESS_LINE`] to
    /// [`super::http::PROGRESS_COMPLETE`].
    pub progress: u8,
    /// Suricata's `updated_tc`: header bytes, body bytes or the completion were parsed
    /// since the caller last inspected the transaction (which clears it).
    pub updated: bool,
    /// The body's first [`RESPONSE_BODY_LIMIT`] bytes (de-chunked): the file's data.
    body: Vec<u8>,
    file: File,
    /// `content_len_so_far`: body bytes counted against the limit.
    so_far: u64,
    /// `content_inspected`: how much of `body` detection was given.
    inspected: usize,
    /// The body is offered at the current inspection.
    fresh: bool,
    /// The body's `Content-Encoding` is one libhtp decompresses in a way not modelled
    /// (several layers), or its decoder broke where libhtp would have restarted: the
    /// body is not followed further (counted by the caller).
    compressed: bool,
    /// `response_status`: the status token of the response line, as sent (absent
    /// before the line, and for a line taken as body).
    status: Vec<u8>,
    has_status: bool,
    /// The body's decoder, while it goes through one (one layer of gzip or deflate).
    inflater: Option<Box<Inflater>>,
}

impl ResponseTx {
    fn clear(&mut self) {
        self.id = 0;
        self.progress = 0;
        self.updated = false;
        self.body.clear();
        self.file = File::None;
        self.so_far = 0;
        self.inspected = 0;
        self.fresh = false;
        self.compressed = false;
        // A decoder is large (its window): not kept idle.
        self.inflater = None;
        self.status.clear();
        self.has_status = false;
    }

    /// Whether the body was compressed in a way not modelled, and so not followed.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Body bytes as framing reads them, through the decoder when the body is
    /// compressed.
    fn body_data(&mut self, data: &[u8]) {
        if data.is_empty() || self.compressed {
            return;
        }
        match self.inflater.take() {
            None => self.file_data(data),
            Some(mut inf) => {
                inf.feed(data, &mut |b| self.file_data(b));
                self.compressed |= inf.broken();
                self.inflater = Some(inf);
            }
        }
    }

    /// Starts decoding the body (`Content-Encoding` named one layer).
    fn start_inflate(&mut self, coding: Coding) {
        self.inflater = Some(Box::new(Inflater::new(coding)));
    }

    /// The response completed: libhtp's last, empty body call hands over what the
    /// decoder holds.
    fn finish_body(&mut self) {
        if self.compressed {
            return;
        }
        if let Some(mut inf) = self.inflater.take() {
            inf.finish(&mut |b| self.file_data(b));
            self.inflater = Some(inf);
        }
    }

    /// `HTPCallbackResponseBodyData` with `HtpResponseBodyHandle`: the first bytes up
    /// to the body limit go to the file (opened by the first), and a byte past the limit
    /// closes it as truncated.
    fn file_data(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.updated = true;
        let limit = RESPONSE_BODY_LIMIT as u64;
        if self.so_far < limit {
            let n = (limit - self.so_far).min(data.len() as u64) as usize;
            if self.file == File::None {
                self.file = File::Open;
            }
            if self.file == File::Open {
                self.body.extend_from_slice(&data[..n]);
            }
            self.so_far += n as u64;
        } else if self.file == File::Open {
            self.file = File::Closed;
        }
    }

    /// Starts one inspection: whether the file is offered (Suricata's
    /// `FiledataGetDataCallback` under the default configuration, where the body limit
    /// is below the minimal inspection size): once the body is done, the file closed or
    /// the flow ended (`eof`), its bytes not given to detection yet.
    pub fn begin_inspection(&mut self, eof: bool) {
        let ready = eof || self.progress > super::http::PROGRESS_BODY || self.file == File::Closed;
        self.fresh = ready && self.body.len() > self.inspected;
    }

    /// Ends the inspection [`ResponseTx::begin_inspection`] started.
    pub fn end_inspection(&mut self) {
        if self.fresh {
            self.inspected = self.body.len();
            self.fresh = false;
        }
    }

    /// The buffer a rule on `kind` inspects now: `file.data` while the file is offered,
    /// `http.stat_code` once the response line is parsed.
    pub fn buffer(&self, kind: Sticky) -> Option<&[u8]> {
        match kind {
            Sticky::HttpFileData if self.fresh => Some(&self.body),
            Sticky::HttpStatCode if self.has_status => Some(&self.status),
            _ => None,
        }
    }
}

/// `response-body-limit` of Suricata's libhtp configuration when none is given
/// (`HTP_CONFIG_DEFAULT_RESPONSE_BODY_LIMIT`): the body bytes a response's file takes.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

/// Retired transactions kept for reuse.
const SPARE_TXS: usize = 8;

impl HttpResponses {
    /// Back to a new connection, keeping the allocations.
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.started = 0;
        self.carry.clear();
        self.pending.clear();
        self.has_pending = false;
        self.completed = 0;
        self.clear_response();
        self.retire(|_| true);
    }

    /// Whether response transactions are kept from now on (some rule reads bodies).
    pub fn set_keep_body(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// The kept response transactions, oldest first.
    pub fn txs(&self) -> &[ResponseTx] {
        &self.txs
    }

    pub fn txs_mut(&mut self) -> &mut [ResponseTx] {
        &mut self.txs
    }

    /// Lets go of the transactions `done` picks (their allocations are kept for reuse
    /// while small).
    pub fn retire(&mut self, mut done: impl FnMut(&ResponseTx) -> bool) {
        let mut i = 0;
        while i < self.txs.len() {
            if done(&self.txs[i]) {
                let mut tx = self.txs.remove(i);
                if self.spare.len() < SPARE_TXS && tx.body.capacity() <= RESPONSE_BODY_LIMIT {
                    tx.clear();
                    self.spare.push(tx);
                }
            } else {
                i += 1;
            }
        }
    }

    /// The transaction of the response being parsed, when kept.
    fn cur(&mut self) -> Option<&mut ResponseTx> {
        let id = self.started.checked_sub(1)?;
        self.txs
            .last_mut()
            .filter(|t| t.id == id && t.progress < super::http::PROGRESS_COMPLETE)
    }

    /// Body bytes of the response being parsed.
    fn body_data(&mut self, data: &[u8]) {
        if let Some(tx) = self.cur() {
            tx.body_data(data);
        }
    }

    /// Moves the response being parsed to `progress`; `updated`: by bytes its callbacks
    /// see.
    fn progress(&mut self, progress: u8, updated: bool) {
        if let Some(tx) = self.cur() {
            tx.progress = tx.progress.max(progress);
            tx.updated |= updated;
        }
    }

    /// Whether the parser follows nothing more: it gave up, or the connection became a
    /// tunnel.
    pub fn stopped(&self) -> bool {
        matches!(self.state, State::Error | State::Tunnel)
    }

    /// Whether the connection became a tunnel (a CONNECT's 2xx, a 101): the client's
    /// bytes are no longer HTTP either.
    pub fn tunnel(&self) -> bool {
        self.state == State::Tunnel
    }

    /// Bytes held: the buffered line, the header waiting for a continuation and the
    /// kept bodies.
    pub fn held(&self) -> usize {
        self.carry.len()
            + self.pending.len()
            + self
                .txs
                .iter()
                .map(|t| t.body.len() + t.inflater.as_ref().map_or(0, |i| i.held()))
                .sum::<usize>()
    }

    /// Parses the server's next acknowledged bytes (one `htp_connp_res_data` call);
    /// `answer` tells what the request of a response index asked.
    pub fn feed(&mut self, data: &[u8], answer: impl FnMut(u64) -> Answer) -> Fed {
        if self.stopped() || data.is_empty() {
            return Fed::default();
        }
        self.run(data, false, answer)
    }

    /// The server's end of stream (its FIN acknowledged): a response in progress
    /// completes. Suricata ignores the result, so this never reports an error.
    pub fn close(&mut self) -> Fed {
        if self.stopped() {
            return Fed::default();
        }
        let fed = self.run(&[], true, |_| Answer::Normal);
        Fed {
            completed: fed.completed,
            error: false,
        }
    }

    fn run(&mut self, data: &[u8], closed: bool, mut answer: impl FnMut(u64) -> Answer) -> Fed {
        self.completed = 0;
        let r = self.parse(data, closed, &mut answer);
        let mut fed = Fed {
            completed: self.completed,
            error: false,
        };
        if r.is_err() {
            self.state = State::Error;
            self.carry.clear();
            self.pending.clear();
            self.has_pending = false;
            fed.error = true;
        }
        fed
    }

    fn clear_response(&mut self) {
        self.left = 0;
        self.trailer = false;
        self.status = None;
        self.http11 = false;
        for f in &mut self.fields {
            f.clear();
        }
        self.present = [false; FIELDS];
        self.seen_100 = false;
        self.repeated = [false; FIELDS];
        self.repetitions = 0;
        self.tunnel_after = false;
    }

    /// `htp_connp_RES_IDLE` and `htp_tx_state_response_start`.
    fn start(&mut self, answer: Answer) {
        self.clear_response();
        self.answer = answer;
        if self.keep {
            let mut tx = self.spare.pop().unwrap_or_default();
            tx.id = self.started;
            tx.progress = if answer == Answer::Http09 {
                super::http::PROGRESS_BODY
            } else {
                super::http::PROGRESS_LINE
            };
            self.txs.push(tx);
        }
        self.started += 1;
        self.state = if answer == Answer::Http09 {
            State::UntilClose
        } else {
            State::Line
        };
    }

    /// `htp_tx_state_response_complete`.
    fn complete(&mut self) {
        if let Some(tx) = self.cur() {
            tx.finish_body();
            tx.progress = super::http::PROGRESS_COMPLETE;
            tx.updated = true;
            if tx.file == File::Open {
                tx.file = File::Closed;
            }
        }
        self.completed += 1;
        self.carry.clear();
        self.state = if self.tunnel_after {
            State::Tunnel
        } else {
            State::Idle
        };
    }

    /// `htp_connp_res_data`'s loop over the states.
    fn parse(
        &mut self,
        data: &[u8],
        closed: bool,
        answer: &mut impl FnMut(u64) -> Answer,
    ) -> Result<(), Stop> {
        let mut at = 0;
        if closed {
            if !matches!(self.state, State::Idle | State::Tunnel | State::Error) {
                self.complete();
            }
            return Ok(());
        }
        loop {
            match self.state {
                State::Idle => {
                    if at >= data.len() {
                        return Ok(());
                    }
                    self.start(answer(self.started));
                }
                State::Line => match self.take_line(data, &mut at)? {
                    Some(line) => {
                        let last = at >= data.len();
                        self.with_line(data, line, |s, l| s.response_line(l, last))?;
                    }
                    None => return Ok(()),
                },
                State::Headers => match self.take_line(data, &mut at)? {
                    Some(line) => {
                        let next = data.get(at).copied();
                        self.with_line(data, line, |s, l| s.header_line(l, next))?;
                    }
                    None => return Ok(()),
                },
                State::ChunkedLength => match self.take_line(data, &mut at)? {
                    Some(line) => self.with_line(data, line, |s, l| {
                        s.chunk_length(l);
                        Ok(())
                    })?,
                    None => return Ok(()),
                },
                State::ChunkedData | State::Identity => {
                    let body = take_body(data, &mut at, &mut self.left);
                    if body.is_empty() {
                        return Ok(());
                    }
                    self.body_data(body);
                    if self.left == 0 {
                        self.state = if self.state == State::Identity {
                            State::Finalize
                        } else {
                            State::ChunkedDataEnd
                        };
                    }
                }
                State::ChunkedDataEnd => {
                    if !skip_line(data, &mut at) {
                        return Ok(());
                    }
                    self.state = State::ChunkedLength;
                }
                State::UntilClose => {
                    self.body_data(data.get(at..).unwrap_or_default());
                    return Ok(());
                }
                State::Finalize => {
                    if at >= data.len() && self.carry.is_empty() {
                        // Nothing follows in this feed: complete now.
                        self.complete();
                        continue;
                    }
                    let Some(line) = self.take_line(data, &mut at)? else {
                        return Ok(());
                    };
                    let last = at >= data.len();
                    self.with_line(data, line, |s, l| {
                        if treat_as_body(l) {
                            // More body of this response.
                            s.body_data(l);
                            return Ok(());
                        }
                        // The line starts the next response: read again as its line.
                        s.complete();
                        if s.state == State::Idle {
                            s.start(answer(s.started));
                            if s.state == State::Line {
                                s.response_line(l, last)?;
                            }
                        }
                        Ok(())
                    })?;
                }
                State::Tunnel | State::Error => return Ok(()),
            }
        }
    }

    /// [`super::http::take_line`] with this parser's buffer and waiting header.
    fn take_line(&mut self, data: &[u8], at: &mut usize) -> Result<Option<Line>, Stop> {
        let waiting = if self.has_pending {
            self.pending.len()
        } else {
            0
        };
        super::http::take_line(&mut self.carry, waiting, data, at)
    }

    /// [`super::http::with_line`] with this parser's buffer.
    fn with_line(
        &mut self,
        data: &[u8],
        line: Line,
        f: impl FnOnce(&mut Self, &[u8]) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        super::http::with_line(self, |s| &mut s.carry, data, line, f)
    }

    /// `htp_connp_RES_LINE` on one complete line; `last`: it ends the feed.
    fn response_line(&mut self, line: &[u8], last: bool) -> Result<(), Stop> {
        if is_line_empty(line) {
            // Empty lines before a response line are ignored.
            return Ok(());
        }
        let l = super::http::chomp(line);
        if treat_as_body(l) {
            self.body_data(line);
            if last {
                self.state = State::Finalize;
            }
            return Ok(());
        }
        // `htp_parse_response_line_generic`: protocol, then the status token.
        let mut pos = l.iter().position(|&b| !is_space(b)).unwrap_or(l.len());
        let start = pos;
        while pos < l.len() && !is_space(l[pos]) {
            pos += 1;
        }
        self.http11 = &l[start..pos] == b"HTTP/1.1";
        while pos < l.len() && is_space(l[pos]) {
            pos += 1;
        }
        let start = pos;
        while pos < l.len() && !is_space(l[pos]) {
            pos += 1;
        }
        let status = &l[start..pos];
        if let Some(tx) = self.cur() {
            tx.status.clear();
            tx.status.extend_from_slice(status);
            tx.has_status = true;
        }
        self.status = (!status.is_empty() && status.iter().all(u8::is_ascii_digit))
            .then(|| {
                status.iter().try_fold(0u16, |v, &d| {
                    v.checked_mul(10)?.checked_add(u16::from(d - b'0'))
                })
            })
            .flatten()
            .filter(|s| (100..=999).contains(s));
        self.trailer = false;
        self.state = State::Headers;
        self.progress(super::http::PROGRESS_HEADERS, false);
        Ok(())
    }

    /// `htp_connp_RES_HEADERS` on one complete line; `next` is the byte after it in this
    /// feed (a folding byte keeps the line waiting).
    fn header_line(&mut self, line: &[u8], next: Option<u8>) -> Result<(), Stop> {
        if is_line_empty(line) {
            self.flush_pending();
            return self.headers_end();
        }
        let l = super::http::chomp(line);
        // `htp_connp_is_line_folded`: an empty line (CRs only) counts as folded too.
        let folded = l.first().is_none_or(|&b| is_folding(b));
        if !folded {
            self.flush_pending();
            if next.is_some_and(is_folding) {
                self.pending.clear();
                self.pending.extend_from_slice(l);
                self.has_pending = true;
            } else {
                self.header(l);
            }
        } else if !self.has_pending {
            // Folding with nothing to fold into: kept as a header of its own.
            self.pending.clear();
            self.pending.extend_from_slice(l);
            self.has_pending = true;
        } else if self.http11 && l.contains(&b':') && self.pending.contains(&b':') {
            // libhtp takes it as a new header after all, minus its first byte.
            self.flush_pending();
            self.pending.clear();
            self.pending.extend_from_slice(&l[1..]);
            self.has_pending = true;
        } else {
            if self.pending.len() + l.len() > FIELD_LIMIT_HARD {
                // Bounded here; libhtp would grow the header further.
                return Err(Stop);
            }
            self.pending.extend_from_slice(l);
        }
        Ok(())
    }

    fn flush_pending(&mut self) {
        if self.has_pending {
            let p = std::mem::take(&mut self.pending);
            self.header(&p);
            self.pending = p;
            self.pending.clear();
            self.has_pending = false;
        }
    }

    /// `htp_process_response_header_generic`, for the headers framing reads. Repeats
    /// past [`MAX_REPETITIONS`] are dropped as libhtp drops them, and a joined value
    /// stops growing at the hard field limit, so what a response holds stays bounded.
    fn header(&mut self, l: &[u8]) {
        self.progress(0, true);
        let (name, value) = parse_header(l);
        let i = if name.eq_ignore_ascii_case(b"content-length") {
            CL
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            TE
        } else if name.eq_ignore_ascii_case(b"content-type") {
            CT
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            CE
        } else {
            return;
        };
        let v = &mut self.fields[i];
        if !self.present[i] {
            self.present[i] = true;
            v.clear();
            v.extend_from_slice(value);
            return;
        }
        if self.repeated[i] {
            if self.repetitions >= MAX_REPETITIONS {
                return;
            }
            self.repetitions += 1;
        }
        self.repeated[i] = true;
        // A repeated Content-Length keeps the first value, whatever the new one.
        if i != CL && v.len() + 2 + value.len() <= FIELD_LIMIT_HARD {
            v.extend_from_slice(b", ");
            v.extend_from_slice(value);
        }
    }

    /// The end of a header block: a trailer ends the response, headers decide the body
    /// (`htp_connp_RES_BODY_DETERMINE`).
    fn headers_end(&mut self) -> Result<(), Stop> {
        if self.trailer {
            self.progress(0, true);
            self.state = State::Finalize;
            return Ok(());
        }
        let lengths = self.present[CL] || self.present[TE];
        let status = self.status.unwrap_or(0);
        if self.answer == Answer::Connect && (200..=299).contains(&status) {
            self.tunnel_after = true;
            self.state = State::Finalize;
            return Ok(());
        }
        if status == 101 && !lengths {
            // libhtp returns `HTP_STREAM_TUNNEL` at once: the response never completes.
            self.state = State::Tunnel;
            return Ok(());
        }
        if status == 100 && !lengths {
            if self.seen_100 {
                return Err(Stop);
            }
            self.seen_100 = true;
            // libhtp forgets the interim response's headers.
            self.present = [false; FIELDS];
            self.repeated = [false; FIELDS];
            self.state = State::Line;
            return Ok(());
        }
        let coding = if self.present[CE] {
            coding(&self.fields[CE])
        } else {
            Ok(None)
        };
        if let Some(tx) = self.cur() {
            match coding {
                Ok(Some(c)) => tx.start_inflate(c),
                Ok(None) => {}
                Err(()) => tx.compressed = true,
            }
        }
        self.progress(super::http::PROGRESS_BODY, true);
        let no_body = self.answer == Answer::Head
            || (((100..=199).contains(&status) || status == 204 || status == 304) && !lengths);
        if no_body {
            self.state = State::Finalize;
            return Ok(());
        }
        if self.present[TE] && contains_nocase(&self.fields[TE], b"chunked") {
            self.state = State::ChunkedLength;
        } else if self.present[CL] {
            match content_length(&self.fields[CL]) {
                None => return Err(Stop),
                Some(0) => self.state = State::Finalize,
                Some(n) => {
                    self.left = n;
                    self.state = State::Identity;
                }
            }
        } else if self.present[CT] && contains_nocase(&self.fields[CT], b"multipart/byteranges") {
            return Err(Stop);
        } else {
            self.state = State::UntilClose;
        }
        Ok(())
    }

    /// `htp_connp_RES_BODY_CHUNKED_LENGTH` on one line.
    fn chunk_length(&mut self, l: &[u8]) {
        if l.iter()
            .all(|&b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0x0b | 0x0c))
        {
            // An empty chunk length line: the next one is tried.
            return;
        }
        match chunked_length(l) {
            Some(0) => {
                self.trailer = true;
                self.state = State::Headers;
                self.progress(super::http::PROGRESS_TRAILER, false);
            }
            Some(n) => {
                self.left = n;
                self.state = State::ChunkedData;
            }
            // An invalid length: the rest is body until the server closes.
            None => self.state = State::UntilClose,
        }
    }
}

/// `htp_treat_response_line_as_body`: a line that does not start with `HTTP`
/// (case-insensitive, after white space and NULs) is not a response line.
fn treat_as_body(l: &[u8]) -> bool {
    let pos = l
        .iter()
        .position(|&b| !is_space(b) && b != 0)
        .unwrap_or(l.len());
    !l.get(pos..pos + 4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"HTTP"))
}

/// How libhtp decodes a body with this `Content-Encoding`
/// (`htp_tx_state_response_headers`): gzip or x-gzip, deflate or x-deflate (any case,
/// NULs ignored) is one layer; in a list, each such token is a layer, and more than one
/// is not modelled (`Err`); anything else (LZMA is off in Suricata's default
/// configuration, `identity`, `br`, ...) is passed as it is.
fn coding(v: &[u8]) -> Result<Option<Coding>, ()> {
    let is = |t: &[u8], c: &[u8]| {
        t.iter()
            .filter(|&&b| b != 0)
            .map(u8::to_ascii_lowercase)
            .eq(c.iter().copied())
    };
    let mut found = None;
    let mut layers = 0;
    for t in v.split(|&b| b == b',') {
        let t = t.trim_ascii();
        let c = if is(t, b"gzip") || is(t, b"x-gzip") {
            Coding::Gzip
        } else if is(t, b"deflate") || is(t, b"x-deflate") {
            Coding::Deflate
        } else {
            continue;
        };
        layers += 1;
        found = Some(c);
    }
    if layers > 1 {
        return Err(());
    }
    Ok(found)
}

fn contains_nocase(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `parts` one call each, every response answering a GET; returns the
    /// completions per call.
    fn completions(parts: &[&[u8]]) -> Vec<u32> {
        let mut r = HttpResponses::default();
        parts
            .iter()
            .map(|p| r.feed(p, |_| Answer::Normal).completed)
            .collect()
    }

    #[test]
    fn a_length_delimited_response_completes_where_its_body_ends() {
        assert_eq!(
            completions(&[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", b"lo"]),
            vec![0, 1]
        );
        // Two in one feed.
        assert_eq!(
            completions(&[b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]),
            vec![2]
        );
    }

    #[test]
    fn a_chunked_response_completes_after_its_trailer() {
        assert_eq!(
            completions(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                b"\r\n0\r\n",
                b"X-T: 1\r\n\r\n",
            ]),
            vec![0, 0, 1]
        );
    }

    #[test]
    fn lines_after_a_body_are_more_body_until_a_response_line() {
        // Junk after the body, then the next response, which ends the feed unfinished.
        assert_eq!(
            completions(&[
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokjunk line\r\nHTTP/1.1 200 OK\r\n",
                b"Content-Length: 0\r\n\r\n",
            ]),
            vec![1, 1]
        );
        // A body that ends its feed completes at once.
        assert_eq!(
            completions(&[
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                b"trailing junk\r\n"
            ]),
            vec![1, 1]
        );
    }

    #[test]
    fn bodiless_answers_interim_responses_and_tunnels() {
        let mut r = HttpResponses::default();
        let kinds = [Answer::Head, Answer::Normal, Answer::Normal];
        let fed = r.feed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 304 Not Modified\r\n\r\n",
            |i| kinds.get(i as usize).copied().unwrap_or_default(),
        );
        assert_eq!(fed.completed, 3);
        let fed = r.feed(
            b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
            |_| Answer::Normal,
        );
        assert_eq!(fed.completed, 0, "a 101 never completes");
        assert!(r.tunnel() && r.stopped());
        // A CONNECT's 2xx completes once its feed ends, then the connection is a tunnel
        // (tunnelled bytes right after it wait, as libhtp's finalize waits for a line).
        let mut r = HttpResponses::default();
        let fed = r.feed(
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
            |_| Answer::Connect,
        );
        assert_eq!(fed.completed, 0);
        let mut r = HttpResponses::default();
        let fed = r.feed(b"HTTP/1.1 200 Connection established\r\n\r\n", |_| {
            Answer::Connect
        });
        assert_eq!(fed.completed, 1);
        assert!(r.tunnel());
        // A second 100 for one request is an error.
        let mut r = HttpResponses::default();
        let fed = r.feed(b"HTTP/1.1 100 A\r\n\r\nHTTP/1.1 100 B\r\n\r\n", |_| {
            Answer::Normal
        });
        assert!(fed.error && r.stopped());
    }

    #[test]
    fn without_lengths_the_body_runs_until_close() {
        let mut r = HttpResponses::default();
        assert_eq!(
            r.feed(b"HTTP/1.0 200 OK\r\n\r\nbody", |_| Answer::Normal)
                .completed,
            0
        );
        assert_eq!(
            r.feed(b"HTTP/1.1 200 more body", |_| Answer::Normal)
                .completed,
            0
        );
        assert_eq!(r.close().completed, 1);
        // After an HTTP/0.9 request there is no status line.
        let mut r = HttpResponses::default();
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\n\r\n", |_| Answer::Http09)
                .completed,
            0
        );
        assert_eq!(r.close().completed, 1);
    }

    #[test]
    fn junk_instead_of_a_response_line_is_body_and_bad_lengths_give_up() {
        assert_eq!(completions(&[b"XYZZY not http\r\n"]), vec![1]);
        let mut r = HttpResponses::default();
        let fed = r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", |_| {
            Answer::Normal
        });
        assert!(fed.error);
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\n\r\n", |_| Answer::Normal),
            Fed::default()
        );
        // A line past the hard field limit, buffered across feeds.
        let mut r = HttpResponses::default();
        let long = vec![b'a'; FIELD_LIMIT_HARD];
        assert!(!r.feed(b"HTTP/1.1 200 OK\r\nX: ", |_| Answer::Normal).error);
        assert!(r.feed(&long, |_| Answer::Normal).error);
    }

    #[test]
    fn an_invalid_chunk_length_turns_the_rest_into_a_body_until_close() {
        let mut r = HttpResponses::default();
        let fed = r.feed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 200 OK\r\n\r\n",
            |_| Answer::Normal,
        );
        assert_eq!(fed, Fed::default());
        assert_eq!(r.close().completed, 1);
    }

    /// Feeds `parts` with response transactions kept; returns the parser.
    fn kept(parts: &[&[u8]], answer: Answer) -> HttpResponses {
        let mut r = HttpResponses::default();
        r.set_keep_body(true);
        for p in parts {
            r.feed(p, |_| answer);
        }
        r
    }

    /// What `file.data` is offered of transaction `i` at an inspection now.
    fn offered(r: &mut HttpResponses, i: usize, eof: bool) -> Option<Vec<u8>> {
        let tx = &mut r.txs_mut()[i];
        tx.begin_inspection(eof);
        let got = tx.buffer(Sticky::HttpFileData).map(<[u8]>::to_vec);
        tx.end_inspection();
        got
    }

    #[test]
    fn a_body_is_offered_once_when_done_de_chunked() {
        let mut r = kept(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello"],
            Answer::Normal,
        );
        assert_eq!(r.txs()[0].progress, crate::applayer::http::PROGRESS_BODY);
        assert!(r.txs()[0].updated);
        // Not done yet: deferred.
        assert_eq!(offered(&mut r, 0, false), None);
        r.feed(b" world", |_| Answer::Normal);
        assert_eq!(
            r.txs()[0].progress,
            crate::applayer::http::PROGRESS_COMPLETE
        );
        assert_eq!(
            offered(&mut r, 0, false).as_deref(),
            Some(&b"hello world"[..])
        );
        // Offered once.
        assert_eq!(offered(&mut r, 0, false), None);

        let mut r = kept(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
                b"2\r\nde\r\n0\r\n",
            ],
            Answer::Normal,
        );
        // Past the body, in the trailer: done.
        assert_eq!(r.txs()[0].progress, crate::applayer::http::PROGRESS_TRAILER);
        assert_eq!(offered(&mut r, 0, false).as_deref(), Some(&b"abcde"[..]));
        r.feed(b"\r\n", |_| Answer::Normal);
        assert_eq!(
            r.txs()[0].progress,
            crate::applayer::http::PROGRESS_COMPLETE
        );
        assert_eq!(offered(&mut r, 0, false), None);
    }

    #[test]
    fn the_file_keeps_the_body_limit_and_closes_at_the_next_byte() {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'a', RESPONSE_BODY_LIMIT));
        let mut r = kept(&[&head], Answer::Normal);
        // Exactly at the limit, the file still open: not offered.
        assert_eq!(offered(&mut r, 0, false), None);
        r.feed(b"b", |_| Answer::Normal);
        let got = offered(&mut r, 0, false).unwrap();
        assert_eq!(got.len(), RESPONSE_BODY_LIMIT);
        assert!(got.iter().all(|&b| b == b'a'));
        assert!(r.held() <= RESPONSE_BODY_LIMIT);
    }

    #[test]
    fn bodiless_and_compressed_responses_offer_nothing_until_close_offers_what_is_there() {
        // A HEAD's answer and a 304: complete, no file.
        let mut r = kept(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"],
            Answer::Head,
        );
        assert_eq!(
            r.txs()[0].progress,
            crate::applayer::http::PROGRESS_COMPLETE
        );
        assert_eq!(offered(&mut r, 0, false), None);
        let mut r = kept(&[b"HTTP/1.1 304 Not Modified\r\n\r\n"], Answer::Normal);
        assert_eq!(offered(&mut r, 0, false), None);
        // Two layers: not followed.
        let mut r = kept(
            &[b"HTTP/1.1 200 OK\r\nContent-Encoding: x-GZIP, deflate\r\nContent-Length: 3\r\n\r\nabc"],
            Answer::Normal,
        );
        assert!(r.txs()[0].compressed());
        assert_eq!(offered(&mut r, 0, false), None);
        for (v, want) in [
            (&b"gzip, br"[..], Ok(Some(Coding::Gzip))),
            (b"br", Ok(None)),
            (b"identity", Ok(None)),
            (b"de\0flate", Ok(Some(Coding::Deflate))),
            (b"gzip, deflate", Err(())),
        ] {
            assert_eq!(coding(v), want, "{v:?}");
        }
        // Until close: the end of the flow offers the body as it stands.
        let mut r = kept(&[b"HTTP/1.0 200 OK\r\n\r\npart"], Answer::Normal);
        assert_eq!(offered(&mut r, 0, false), None);
        assert_eq!(offered(&mut r, 0, true).as_deref(), Some(&b"part"[..]));
        // Two responses, one transaction each, answering requests 0 and 1.
        let r = kept(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny"],
            Answer::Normal,
        );
        assert_eq!(r.txs().iter().map(|t| t.id).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn the_status_token_is_kept_as_sent() {
        let r = kept(&[b"HTTP/1.1 404 Not Found\r\n"], Answer::Normal);
        assert_eq!(r.txs()[0].buffer(Sticky::HttpStatCode), Some(&b"404"[..]));
        let r = kept(&[b"HTTP/1.0   2x0   odd\r\n\r\n"], Answer::Normal);
        assert_eq!(r.txs()[0].buffer(Sticky::HttpStatCode), Some(&b"2x0"[..]));
        // A line taken as body has none.
        let r = kept(&[b"junk line\r\n"], Answer::Normal);
        assert_eq!(r.txs()[0].buffer(Sticky::HttpStatCode), None);
    }

    #[test]
    fn without_body_rules_no_transaction_is_kept() {
        let mut r = HttpResponses::default();
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", |_| {
            Answer::Normal
        });
        assert!(r.txs().is_empty());
        assert_eq!(r.held(), 0);
    }
}
