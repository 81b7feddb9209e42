//! HTTP/1.x requests as Suricata 7.0.10 detects and parses them: the protocol probe on
//! the client's first bytes, and the request side of libhtp 0.5.50 with Suricata's
//! configuration, giving the request transactions and the buffers that `http.uri`,
//! `http.header` and the other request keywords inspect.
//!
//! Pure parsing: no I/O, no `unsafe`, no panic on any input, and once the reused
//! buffers are warm no allocation per call.
//!
//! # Protocol detection (`HTPRegisterPatternsForProtocolDetection`)
//!
//! To-server patterns, case-insensitive, offset 0, depth their length: each of the 28
//! methods libhtp knows followed by SP or HT. A pattern is only tried once the data
//! reaches its depth, so a prefix of one waits. See [`probe`]. (The to-client patterns,
//! `HTTP/0.9`, `HTTP/1.0`, `HTTP/1.1`, are not modelled here.)
//!
//! # Configuration
//!
//! The golden yaml has no `libhtp` section: libhtp runs with `htp_config_create`'s
//! MINIMAL personality plus `HTPConfigSetDefaultsPhase1`: no path lowercasing, no `\`
//! conversion, `%2f` left encoded, no `//` compression, no `%u` decoding, invalid `%`
//! kept, `+` kept, no cookie parsing, field limits 9000/18000, at most 512
//! transactions and 1024 headers.
//!
//! # Feeding (`HTPHandleRequestData`, `htp_connp_req_data`)
//!
//! Each feed is one `htp_connp_req_data` call on the client's new acknowledged bytes.
//! libhtp works line by line; a line that does not end in the feed is buffered, and a
//! line whose buffered part, plus the feed's part, plus the folded header being gathered
//! exceeds the hard field limit (18000) is an error. A line that arrives whole in one feed
//! is never checked, so the limit depends on how the stream was cut, as it does in
//! Suricata. The states modelled (`htp_request.c`):
//! - idle: the first byte of a request creates its transaction (progress 1,
//!   `htp_tx_state_request_start`); creating one more than 512 on the connection
//!   (`max_tx`, counted over all it ever had: freed ones keep their slot) is an error;
//! - request line: empty lines (`\n`, `\r\n`) before it are skipped; it is parsed by
//!   `htp_parse_request_line_generic`; its URI by `htp_parse_uri` (a CONNECT's by
//!   `htp_parse_hostport`, an error when it has none) and normalized
//!   (`htp_normalize_parsed_uri`); Suricata's request-line callback then builds the
//!   `http.uri` buffer (`SCHTPGenerateNormalizedUri`);
//! - protocol: a request line without protocol is HTTP/0.9 unless the rest of this feed
//!   holds a byte that is not white space, in which case headers follow;
//! - headers (progress 2) and trailers (progress 4): a header line is processed only
//!   once the first byte of the next line shows it is not folded (SP, HT or NUL fold),
//!   or at the empty line that ends the block (`htp_process_request_header_generic`);
//! - body: `Transfer-Encoding` holding the token `chunked` (else an error), or
//!   `Content-Length` (an invalid one is an error); chunk lengths are hex digits after
//!   leading white space, anything after them ignored, none or more than 2^31-1 an
//!   error; body bytes are skipped (progress 3);
//! - finalize: a request does not complete while the client's next line is unread: at
//!   the end of a feed it completes at once, otherwise libhtp reads the whole next line;
//!   a line of white space, or one whose first word is not a method libhtp knows (case
//!   sensitive: `get` is not), is taken as more body of the request, and only a line
//!   starting with a known method completes it and starts the next request;
//! - after an HTTP/0.9 request the rest of the feed is ignored and any later data is an
//!   error (`htp_connp_req_data` finds no transaction outside the idle state);
//! - CONNECT: after its headers libhtp waits for the response (not modelled), and
//!   Suricata drops all later client data.
//!
//! Any error (`HTP_STREAM_ERROR`) makes Suricata's parser return `APP_LAYER_ERROR`:
//! [`Fed::error`], and the parser takes nothing more. At the client's end of stream
//! (`htp_connp_req_close`) a partial request line is parsed, a partial header block is
//! ended as if it were a trailer (no body or host determination), and a request waiting
//! on its next line completes.
//!
//! # Which packet inspects a transaction (`updated_ts`)
//!
//! Suricata inspects a transaction below progress 5 only after one of its callbacks set
//! `updated_ts`: header or trailer bytes (`HTPCallbackRequestHeaderData`, called with
//! the raw bytes read in the header state at the end of each feed and at the end of the
//! block), body bytes (`HTPCallbackRequestBodyData`, including the lines finalize takes
//! as body), trailers (`HTPCallbackRequestHasTrailer`) and completion
//! (`HTPCallbackRequestComplete`). The request line does not. See [`HttpTx::updated`].
//!
//! # Buffers
//!
//! See [`HttpTx::buffer`]. The composite buffers (`http.header`, `http.header_names`,
//! `http.start`) are built at the end of the feed that made them available or changed
//! them (trailers), not on each look-up.
//!
//! `http.request_body` holds the body bytes libhtp hands to `HTPCallbackRequestBodyData`
//! (de-chunked, with the lines finalize takes as body), up to the body limit
//! ([`REQUEST_BODY_LIMIT`]); Suricata offers it to detection once the request moved past
//! its body or the limit is reached, and then only when bytes were added since
//! (`HttpRequestBodyGetDataCallback`). See [`HttpTx::begin_inspection`].
//!
//! # Not modelled
//!
//! - The response side: CONNECT tunnels, `100 Continue`, responses completing
//!   transactions; the to-client probe patterns.
//! - Files and multipart parsing, the body at the end of stream before the request is
//!   done (Suricata's `STREAM_EOF` inspection), bodies past `request-body-inspect-min-size`
//!   (32 KiB: not reached under the 4 KiB limit), and request
//!   decompression (`Content-Encoding`: libhtp hands decompressed bytes to the body
//!   callback, so a body that decompresses to nothing would not set `updated`, and a
//!   compression bomb is an error there).
//! - Flags and events (smuggling, invalid host, ...), the protocol number, ports,
//!   credentials, authentication and cookie parsing: none changes the buffers.
//! - Memory caps (`http.memcap`) and allocation failures.

use super::http_response::Answer;
use crate::rules::Sticky;

/// libhtp's request progress values (`htp_tx_req_progress_t`).
pub const PROGRESS_LINE: u8 = 1;
pub const PROGRESS_HEADERS: u8 = 2;
pub const PROGRESS_BODY: u8 = 3;
pub const PROGRESS_TRAILER: u8 = 4;
pub const PROGRESS_COMPLETE: u8 = 5;

/// `field_limit_hard`: most bytes a buffered line (with the folded header being
/// gathered) may reach.
pub const FIELD_LIMIT_HARD: usize = 18000;
/// `max_tx`: a connection may create transactions while it had at most this many.
pub const MAX_TX: u64 = 512;
/// `number_headers_limit`: a new header name is an error once the table holds more.
pub const MAX_HEADERS: usize = 1024;
/// `request-body-limit` of Suricata's libhtp configuration when none is given
/// (`HTP_CONFIG_DEFAULT_REQUEST_BODY_LIMIT`): the body bytes kept per request; the rest
/// is parsed but not kept.
pub const REQUEST_BODY_LIMIT: usize = 4096;
/// Retired transactions kept for reuse, and the most bytes one may hold to be kept.
const SPARE_TXS: usize = 16;
const SPARE_BYTES: usize = 64 << 10;
/// `HTP_MAX_HEADERS_REPETITIONS`: repeats of headers (after each one's first) kept per
/// transaction, on each side; later ones are dropped.
pub(super) const MAX_REPETITIONS: u32 = 64;

/// The methods libhtp knows (`htp_convert_method_to_number`, case-sensitive there), and
/// whose name followed by SP or HT tells HTTP (case-insensitive there).
pub const METHODS: [&[u8]; 28] = [
    b"GET",
    b"PUT",
    b"POST",
    b"HEAD",
    b"TRACE",
    b"OPTIONS",
    b"CONNECT",
    b"DELETE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"CHECKOUT",
    b"UNCHECKOUT",
    b"CHECKIN",
    b"UPDATE",
    b"LABEL",
    b"REPORT",
    b"MKWORKSPACE",
    b"MKACTIVITY",
    b"MERGE",
    b"INVALID",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
];

/// What Suricata's protocol detection tells from the client's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Too few bytes: they are a prefix of some pattern.
    NeedMore,
    Http,
    /// HTTP's to-server patterns can no longer match.
    NotHttp,
}

/// Suricata's HTTP detection on the client's first bytes (`data` from stream offset 0):
/// one of the 28 methods, case-insensitive, followed by SP or HT, at offset 0.
pub fn probe(data: &[u8]) -> Probe {
    let mut need_more = false;
    for m in METHODS {
        match data.get(..=m.len()) {
            Some(head) => {
                if head[..m.len()].eq_ignore_ascii_case(m) && matches!(head[m.len()], b' ' | b'\t')
                {
                    return Probe::Http;
                }
            }
            // Shorter than the pattern: it may still come.
            None => {
                need_more |= m
                    .get(..data.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(data))
            }
        }
    }
    if need_more {
        Probe::NeedMore
    } else {
        Probe::NotHttp
    }
}

/// What one feed did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// Requests that reached [`PROGRESS_COMPLETE`] in this call (each one's
    /// `HTPCallbackRequestComplete` triggers raw reassembly of the client's stream).
    pub completed: u32,
    /// The parser gave up (`HTP_STREAM_ERROR`: a buffered line past the hard field
    /// limit, too many headers or transactions, an invalid `Content-Length` or
    /// `Transfer-Encoding`, an unparseable chunk length, data after an HTTP/0.9
    /// request, ...): the caller stops following the flow.
    pub error: bool,
}

/// The parser gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stop;

/// `htp_connp_t.in_state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Between requests: the next byte starts one.
    #[default]
    Idle,
    Line,
    /// Header or trailer lines (the progress tells which).
    Headers,
    ChunkedLength,
    /// Chunk bytes left.
    ChunkedData,
    /// Skipping to the end of the line after a chunk.
    ChunkedDataEnd,
    /// `Content-Length` bytes left.
    Identity,
    /// Waiting for the next line to decide whether the request is complete.
    Finalize,
    /// After a CONNECT's headers: libhtp waits for the response, Suricata drops the data.
    ConnectWait,
    /// After an HTTP/0.9 request.
    Ignore09,
    /// Gave up.
    Error,
}

/// One request header: name and value as libhtp keeps them.
#[derive(Clone, Debug, Default)]
struct Header {
    name: Vec<u8>,
    value: Vec<u8>,
    /// `HTP_FIELD_REPEATED`.
    repeated: bool,
}

/// One HTTP request transaction (`htp_tx_t` with Suricata's `HtpTxUserData`).
#[derive(Debug, Default)]
pub struct HttpTx {
    /// 0, 1, 2, ... per connection.
    pub id: u64,
    /// libhtp's `request_progress`, [`PROGRESS_LINE`] to [`PROGRESS_COMPLETE`].
    pub progress: u8,
    /// Suricata's `updated_ts`: set when header bytes, body bytes, trailers or the
    /// completion were parsed for this transaction, not by the request line alone. The
    /// caller clears it once it inspected the transaction.
    pub updated: bool,
    /// `request_line`: the line without its end; `None` ranges are absent parts.
    line: Vec<u8>,
    has_line: bool,
    method: (usize, usize),
    uri_raw: Option<(usize, usize)>,
    protocol: Option<(usize, usize)>,
    /// `is_protocol_0_9`.
    is_09: bool,
    /// Suricata's `request_uri_normalized`.
    uri: Vec<u8>,
    has_uri: bool,
    /// `parsed_uri->hostname` (normalized), from an absolute URI or a CONNECT target.
    uri_host: Vec<u8>,
    has_uri_host: bool,
    /// `request_hostname`, set at the end of the header block.
    host: Vec<u8>,
    has_host: bool,
    /// `request_headers`: the first `nhdrs` entries; the rest are kept for reuse.
    hdrs: Vec<Header>,
    nhdrs: usize,
    /// `req_header_repetitions`.
    repetitions: u32,
    /// `request_headers_raw`: absent while empty (Suricata allocates it with its first
    /// bytes).
    raw: Vec<u8>,
    /// `request_has_trailers`.
    trailers: bool,
    /// `request_body`: the first [`REQUEST_BODY_LIMIT`] body bytes libhtp handed over.
    body: Vec<u8>,
    /// `body_inspected`: how much of `body` detection was given.
    body_inspected: usize,
    /// The body is offered at the current inspection (see [`HttpTx::begin_inspection`]).
    body_fresh: bool,
    header_buf: Vec<u8>,
    names_buf: Vec<u8>,
    start_buf: Vec<u8>,
    /// The composite buffers need rebuilding (the table or progress changed).
    dirty: bool,
    /// Bytes held, as of the end of the last feed.
    held: usize,
    /// Parsed into during the current call.
    touched: bool,
}

impl HttpTx {
    /// Empties the transaction, keeping its allocations.
    fn clear(&mut self) {
        self.id = 0;
        self.progress = 0;
        self.updated = false;
        self.line.clear();
        self.has_line = false;
        self.method = (0, 0);
        self.uri_raw = None;
        self.protocol = None;
        self.is_09 = false;
        self.uri.clear();
        self.has_uri = false;
        self.uri_host.clear();
        self.has_uri_host = false;
        self.host.clear();
        self.has_host = false;
        self.nhdrs = 0;
        self.repetitions = 0;
        self.raw.clear();
        self.trailers = false;
        self.body.clear();
        self.body_inspected = 0;
        self.body_fresh = false;
        self.header_buf.clear();
        self.names_buf.clear();
        self.start_buf.clear();
        self.dirty = false;
        self.held = 0;
        self.touched = false;
    }

    /// Whether libhtp saw a trailer block (`request_has_trailers`: an empty one counts),
    /// which re-arms Suricata's `http.header` prefilter at [`PROGRESS_TRAILER`].
    pub fn has_trailers(&self) -> bool {
        self.trailers
    }

    fn headers(&self) -> &[Header] {
        self.hdrs.get(..self.nhdrs).unwrap_or(&[])
    }

    /// `htp_table_get_c`: the header named `name`, any case.
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| &h.value[..])
    }

    fn part(&self, r: Option<(usize, usize)>) -> Option<&[u8]> {
        let (a, b) = r?;
        self.line.get(a..b)
    }

    /// The buffer a rule on `kind` inspects now; `None` when the transaction does not
    /// have it (yet), which is not the same as an empty buffer (`bsize:0` matches that).
    /// - `http.method`, `http.uri.raw`, `http.request_line`, `http.protocol` (absent for
    ///   HTTP/0.9) and `http.uri` once the request line is parsed. `http.uri` is the
    ///   normalized path (`%HH` decoded but `%2f`, invalid `%` kept, dot segments
    ///   removed as libhtp does), `?` and the fully decoded query, `#` and the decoded
    ///   fragment; scheme and authority are left out.
    /// - Single headers (`http.user_agent`, `http.cookie`, `http.accept`, ...) as soon
    ///   as libhtp processed that header line: the value trimmed of SP and HT, repeats
    ///   joined with `, ` (not `Content-Length`'s), folded lines appended.
    /// - `http.host.raw`: an absolute URI's host (lower-cased, trailing dots removed),
    ///   else the Host header's value.
    /// - `http.host`: only after the header block: the URI's host, else the Host
    ///   header's host without its port, lower-cased only when it had no port.
    /// - `http.header` (every header but Cookie as `Name: value\r\n`, absent when that
    ///   is empty), `http.header_names` and `http.start` at progress above 2;
    ///   `http.header.raw` (the block as received, with its empty line and trailers) at
    ///   progress 3 and above, once it has bytes.
    pub fn buffer(&self, kind: Sticky) -> Option<&[u8]> {
        let single = |name: &[u8]| self.header(name);
        match kind {
            Sticky::HttpMethod => self.part(self.has_line.then_some(self.method)),
            Sticky::HttpUri => self.has_uri.then_some(&self.uri[..]),
            Sticky::HttpUriRaw => self.part(self.uri_raw),
            Sticky::HttpRequestLine => self.has_line.then_some(&self.line[..]),
            Sticky::HttpProtocol => self.part(self.protocol).filter(|p| !p.is_empty()),
            Sticky::HttpHost => self.has_host.then_some(&self.host[..]),
            Sticky::HttpHostRaw => {
                if self.has_uri_host {
                    Some(&self.uri_host[..])
                } else {
                    single(b"Host")
                }
            }
            Sticky::HttpUserAgent => single(b"User-Agent"),
            Sticky::HttpCookie => single(b"Cookie"),
            Sticky::HttpAccept => single(b"Accept"),
            Sticky::HttpAcceptLang => single(b"Accept-Language"),
            Sticky::HttpAcceptEnc => single(b"Accept-Encoding"),
            Sticky::HttpReferer => single(b"Referer"),
            Sticky::HttpContentType => single(b"Content-Type"),
            Sticky::HttpContentLen => single(b"Content-Length"),
            Sticky::HttpConnection => single(b"Connection"),
            Sticky::HttpHeader => self.composite(&self.header_buf),
            Sticky::HttpHeaderNames => self.composite(&self.names_buf),
            Sticky::HttpStart => self.composite(&self.start_buf),
            Sticky::HttpHeaderRaw => {
                (self.progress >= PROGRESS_BODY && !self.raw.is_empty()).then_some(&self.raw[..])
            }
            Sticky::HttpRequestBody => self.body_fresh.then_some(&self.body[..]),
            _ => None,
        }
    }

    /// A composite buffer: `GetBufferForTX` returns nothing at progress 2 and below,
    /// and an empty one counts as absent.
    fn composite<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        (self.progress > PROGRESS_HEADERS && !self.dirty && !buf.is_empty()).then_some(buf)
    }

    /// Builds `http.header` (`detect-http-header.c`), `http.header_names` and
    /// `http.start` from the table, as Suricata's `GetBufferForTX` functions do.
    fn build(&mut self) {
        let hdrs = self.hdrs.get(..self.nhdrs).unwrap_or(&[]);
        let (hb, nb, sb) = (
            &mut self.header_buf,
            &mut self.names_buf,
            &mut self.start_buf,
        );
        hb.clear();
        nb.clear();
        sb.clear();
        sb.extend_from_slice(&self.line);
        sb.extend_from_slice(b"\r\n");
        for (i, h) in hdrs.iter().enumerate() {
            let last = i + 1 == hdrs.len();
            if !h.name.eq_ignore_ascii_case(b"cookie") {
                for b in [&h.name[..], b": ", &h.value, b"\r\n"] {
                    hb.extend_from_slice(b);
                }
            }
            if i == 0 {
                nb.extend_from_slice(b"\r\n");
            }
            nb.extend_from_slice(&h.name);
            nb.extend_from_slice(b"\r\n");
            for b in [&h.name[..], b": ", &h.value, b"\r\n"] {
                sb.extend_from_slice(b);
            }
            if last {
                nb.extend_from_slice(b"\r\n");
                sb.extend_from_slice(b"\r\n");
            }
        }
        self.dirty = false;
    }

    /// Bytes allocated, to decide whether the transaction is worth keeping for reuse.
    fn capacity(&self) -> usize {
        let hdrs: usize = self
            .hdrs
            .iter()
            .map(|h| h.name.capacity() + h.value.capacity())
            .sum();
        [
            &self.line,
            &self.uri,
            &self.uri_host,
            &self.host,
            &self.raw,
            &self.header_buf,
            &self.names_buf,
            &self.start_buf,
            &self.body,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + hdrs
    }

    fn count_held(&mut self) {
        let hdrs: usize = self
            .headers()
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        self.held = self.line.len()
            + self.uri.len()
            + self.uri_host.len()
            + self.host.len()
            + hdrs
            + self.raw.len()
            + self.header_buf.len()
            + self.names_buf.len()
            + self.start_buf.len()
            + self.body.len();
    }

    /// `HTPCallbackRequestBodyData`: keeps body bytes up to the body limit (when `keep`),
    /// and marks the transaction updated.
    fn add_body(&mut self, data: &[u8], keep: bool) {
        self.updated = true;
        if !keep {
            return;
        }
        let room = REQUEST_BODY_LIMIT.saturating_sub(self.body.len());
        self.body
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
    }

    /// Starts one inspection of the transaction: decides whether `http.request_body`
    /// is offered to it (`HttpRequestBodyGetDataCallback`). Suricata waits for the whole
    /// body (progress past the body) or for the body limit, then offers every byte
    /// kept, once: a later inspection sees the body again only if bytes were added.
    pub fn begin_inspection(&mut self) {
        let ready = self.progress > PROGRESS_BODY || self.body.len() >= REQUEST_BODY_LIMIT;
        self.body_fresh = ready && self.body.len() != self.body_inspected;
    }

    /// Ends the inspection [`HttpTx::begin_inspection`] started: the body offered counts
    /// as inspected (the buffer's prefilter read it, as Suricata's reads it whenever a
    /// rule has its fast pattern there).
    pub fn end_inspection(&mut self) {
        if self.body_fresh {
            self.body_inspected = self.body.len();
            self.body_fresh = false;
        }
    }

    /// `htp_process_request_header_generic`: adds a parsed header line to the table.
    fn add_header(&mut self, line: &[u8]) -> Result<(), Stop> {
        let (name, value) = parse_header(line);
        if let Some(i) = self
            .headers()
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(name))
        {
            let h = &mut self.hdrs[i];
            if h.repeated {
                // Counted from each header's second repeat on.
                if self.repetitions >= MAX_REPETITIONS {
                    return Ok(());
                }
                self.repetitions += 1;
            }
            h.repeated = true;
            // A repeated Content-Length keeps the first value.
            if !name.eq_ignore_ascii_case(b"Content-Length") {
                h.value.extend_from_slice(b", ");
                h.value.extend_from_slice(value);
            }
        } else {
            if self.nhdrs > MAX_HEADERS {
                return Err(Stop);
            }
            if self.hdrs.len() == self.nhdrs {
                self.hdrs.push(Header::default());
            }
            let h = &mut self.hdrs[self.nhdrs];
            h.name.clear();
            h.name.extend_from_slice(name);
            h.value.clear();
            h.value.extend_from_slice(value);
            h.repeated = false;
            self.nhdrs += 1;
        }
        self.dirty = true;
        Ok(())
    }

    /// `htp_parse_request_line_generic` on the (chomped) line, then
    /// `htp_tx_state_request_line`: the URI's parts, normalized, and Suricata's
    /// normalized URI.
    fn set_request_line(&mut self, line: &[u8]) -> Result<(), Stop> {
        self.line.clear();
        self.line.extend_from_slice(line);
        self.has_line = true;
        let len = line.len();
        let mut pos = 0;
        while pos < len && is_space(line[pos]) {
            pos += 1;
        }
        let mstart = pos;
        while pos < len && !is_space(line[pos]) {
            pos += 1;
        }
        self.method = (mstart, pos);
        while pos < len && is_space(line[pos]) {
            pos += 1;
        }
        if pos < len {
            // The URI ends at the first SP; when there is none but other white space
            // was seen, at the first white space.
            let start = pos;
            let mut bad_delim = false;
            while pos < len && line[pos] != b' ' {
                bad_delim |= is_space(line[pos]);
                pos += 1;
            }
            if bad_delim && pos == len {
                pos = start;
                while pos < len && !is_space(line[pos]) {
                    pos += 1;
                }
            }
            self.uri_raw = Some((start, pos));
            while pos < len && is_space(line[pos]) {
                pos += 1;
            }
            if pos < len {
                self.protocol = Some((pos, len));
            }
        }
        self.is_09 = self.protocol.is_none();

        let uri = self.uri_raw.and_then(|(a, b)| line.get(a..b));
        self.uri.clear();
        self.uri_host.clear();
        if line.get(mstart..self.method.1) == Some(b"CONNECT") {
            // `htp_parse_uri_hostport`: the target is an authority.
            let uri = uri.ok_or(Stop)?;
            if let Some(h) = hostport(uri) {
                normalize_hostname(h.host, &mut self.uri_host);
                self.has_uri_host = true;
            }
        } else if let Some(uri) = uri {
            let parts = parse_uri(uri);
            if let Some(h) = parts.hostname {
                normalize_hostname(h, &mut self.uri_host);
                self.has_uri_host = true;
            }
            if let Some(path) = parts.path {
                decode_path(path, &mut self.uri);
                normalize_path(&mut self.uri);
            }
            if let Some(q) = parts.query {
                self.uri.push(b'?');
                urldecode(q, &mut self.uri);
            }
            if let Some(f) = parts.fragment {
                self.uri.push(b'#');
                urldecode(f, &mut self.uri);
            }
        }
        self.has_uri = true;
        Ok(())
    }

    /// `request_hostname`: the URI's host, else the Host header's (`htp_parse_hostport`).
    fn set_hostname(&mut self) {
        let HttpTx {
            hdrs,
            nhdrs,
            host,
            has_host,
            uri_host,
            has_uri_host,
            ..
        } = self;
        host.clear();
        if *has_uri_host {
            host.extend_from_slice(uri_host);
            *has_host = true;
            return;
        }
        let value = hdrs
            .get(..*nhdrs)
            .unwrap_or(&[])
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(b"host"))
            .map(|h| &h.value[..]);
        if let Some(h) = value.and_then(hostport) {
            host.extend_from_slice(h.host);
            if h.lowercase {
                host.make_ascii_lowercase();
            }
            *has_host = true;
        }
    }

    fn is_connect(&self) -> bool {
        self.line.get(self.method.0..self.method.1) == Some(b"CONNECT")
    }
}

/// How the request body is sent (`request_transfer_coding`).
enum Coding {
    NoBody,
    Identity(u64),
    Chunked,
}

/// One connection's request-side parser (`htp_connp_t`'s inbound half). Reuses its
/// allocations after [`HttpRequests::reset`] and [`HttpRequests::retire`].
#[derive(Debug, Default)]
pub struct HttpRequests {
    /// Live transactions, oldest first; while `active`, the last is being parsed.
    txs: Vec<HttpTx>,
    /// Retired transactions, kept for their allocations.
    spare: Vec<HttpTx>,
    active: bool,
    state: State,
    /// Transactions created on the connection (the next one's id).
    created: u64,
    /// `in_buf`: the buffered start of the line being read.
    carry: Vec<u8>,
    /// `in_header`: the header line(s) waiting for the next line's first byte.
    pending: Vec<u8>,
    has_pending: bool,
    /// Body or chunk bytes left.
    left: u64,
    /// Requests completed in the current call.
    completed: u32,
    /// Body bytes are parsed but not kept (no rule reads `http.request_body`).
    skip_body: bool,
    /// What each request not yet answered asks of its response, from request id
    /// `answers_base` on (at most [`MAX_TX`] + 1 entries).
    answers: std::collections::VecDeque<Answer>,
    answers_base: u64,
}

impl HttpRequests {
    /// Back to a new connection, keeping the allocations.
    pub fn reset(&mut self) {
        let txs = std::mem::take(&mut self.txs);
        self.recycle(txs, usize::MAX);
        if self.pending.capacity() > SPARE_BYTES {
            self.pending = Vec::new();
        }
        self.active = false;
        self.state = State::Idle;
        self.created = 0;
        self.carry.clear();
        self.pending.clear();
        self.has_pending = false;
        self.left = 0;
        self.completed = 0;
        self.answers.clear();
        self.answers_base = 0;
    }

    /// What request `id` asks of its response, for the response that answers it
    /// (responses come in request order, so earlier requests are forgotten). A request
    /// not seen yet asks nothing special.
    pub fn answer(&mut self, id: u64) -> Answer {
        while self.answers_base < id && self.answers.pop_front().is_some() {
            self.answers_base += 1;
        }
        if self.answers_base == id {
            if let Some(a) = self.answers.pop_front() {
                self.answers_base += 1;
                return a;
            }
        }
        Answer::Normal
    }

    /// Whether request bodies are kept for `http.request_body` (they are unless told
    /// otherwise): Suricata hands them to detection only when a rule reads them.
    pub fn set_keep_body(&mut self, keep: bool) {
        self.skip_body = !keep;
    }

    /// Whether the parser gave up: it takes nothing more.
    pub fn stopped(&self) -> bool {
        self.state == State::Error
    }

    /// Parses the client's next acknowledged bytes (one `htp_connp_req_data` call).
    /// Any cut gives the same transactions and buffers, except where libhtp itself
    /// depends on the cut: the hard limit on buffered lines; a request line without
    /// protocol is HTTP/0.9 unless headers follow in the same feed; a request ending a
    /// feed completes at once, where within a feed a next line not starting with a known
    /// method would be taken as more body; a header line ending a feed waits for the
    /// next line, which may fold into it even when it is a line of CRs.
    pub fn feed(&mut self, data: &[u8]) -> Fed {
        if self.state == State::Error || data.is_empty() {
            return Fed::default();
        }
        if self.state == State::Ignore09 {
            return self.give_up(Fed::default());
        }
        self.run(data, false)
    }

    /// The client's end of stream (its FIN acknowledged): `htp_connp_req_close`.
    /// Suricata ignores its result, so this never reports an error.
    pub fn close(&mut self) -> Fed {
        if matches!(self.state, State::Error | State::Ignore09) {
            return Fed::default();
        }
        let fed = self.run(&[], true);
        Fed {
            completed: fed.completed,
            error: false,
        }
    }

    /// Bytes held: the buffered line, the pending header, and every live transaction's
    /// buffers (as of the end of the last call).
    pub fn held(&self) -> usize {
        self.carry.len() + self.pending.len() + self.txs.iter().map(|t| t.held).sum::<usize>()
    }

    /// Live transactions, oldest first.
    pub fn txs(&self) -> &[HttpTx] {
        &self.txs
    }

    pub fn txs_mut(&mut self) -> &mut [HttpTx] {
        &mut self.txs
    }

    /// Drops the oldest transactions for which `done` is true, stopping at the first
    /// that is not, and never dropping the one being parsed; their storage is reused.
    /// Ids are not reused: libhtp's limit of 512 transactions counts retired ones too.
    pub fn retire(&mut self, mut done: impl FnMut(&HttpTx) -> bool) {
        let parsed = usize::from(self.active);
        let mut n = 0;
        while n + parsed < self.txs.len() && done(&self.txs[n]) {
            n += 1;
        }
        if n > 0 {
            let txs = std::mem::take(&mut self.txs);
            self.recycle(txs, n);
        }
    }

    /// Moves the first `n` of `txs` to the spare pool and keeps the rest live. The pool
    /// keeps a few small transactions; others are freed.
    fn recycle(&mut self, mut txs: Vec<HttpTx>, n: usize) {
        for mut tx in txs.drain(..n.min(txs.len())) {
            if self.spare.len() < SPARE_TXS && tx.capacity() <= SPARE_BYTES {
                tx.clear();
                self.spare.push(tx);
            }
        }
        self.txs = txs;
    }

    fn give_up(&mut self, mut fed: Fed) -> Fed {
        self.state = State::Error;
        self.active = false;
        self.carry.clear();
        self.pending.clear();
        self.has_pending = false;
        fed.error = true;
        fed
    }

    fn run(&mut self, data: &[u8], closed: bool) -> Fed {
        self.completed = 0;
        let r = self.parse(data, closed);
        for tx in self.txs.iter_mut().rev().take_while(|t| t.touched) {
            if tx.dirty && tx.progress > PROGRESS_HEADERS {
                tx.build();
            }
            tx.count_held();
            tx.touched = false;
        }
        let fed = Fed {
            completed: self.completed,
            error: false,
        };
        match r {
            Ok(()) => fed,
            Err(Stop) => self.give_up(fed),
        }
    }

    /// The transaction being parsed.
    fn cur(&mut self) -> Result<&mut HttpTx, Stop> {
        if !self.active {
            return Err(Stop);
        }
        let tx = self.txs.last_mut().ok_or(Stop)?;
        tx.touched = true;
        Ok(tx)
    }

    /// `htp_connp_req_data`'s loop over the states.
    fn parse(&mut self, data: &[u8], closed: bool) -> Result<(), Stop> {
        let mut at = 0;
        loop {
            match self.state {
                State::Idle => {
                    if at >= data.len() {
                        return Ok(());
                    }
                    self.start_tx()?;
                }
                State::Line => match self.take_line(data, &mut at)? {
                    Some(line) => {
                        let rest = data.get(at..).unwrap_or(&[]);
                        self.with_line(data, line, |s, l| s.request_line(l, rest))?
                    }
                    None if closed && !self.carry.is_empty() => {
                        self.with_line(data, Line::Carried, |s, l| s.request_line(l, &[]))?
                    }
                    None => return Ok(()),
                },
                State::Headers => {
                    if closed {
                        // The header block ends here, as trailers would.
                        self.flush_pending()?;
                        self.carry.clear();
                        self.cur()?.progress = PROGRESS_TRAILER;
                        self.headers_end()?;
                        continue;
                    }
                    let start = at;
                    let line = self.take_line(data, &mut at)?;
                    if let Some(read) = data.get(start..at).filter(|r| !r.is_empty()) {
                        let tx = self.cur()?;
                        tx.raw.extend_from_slice(read);
                        tx.updated = true;
                    }
                    match line {
                        Some(line) => {
                            let next = data.get(at).copied();
                            self.with_line(data, line, |s, l| s.header_line(l, next))?
                        }
                        None => return Ok(()),
                    }
                }
                State::ChunkedLength => match self.take_line(data, &mut at)? {
                    Some(line) => {
                        let len =
                            self.with_line(data, line, |_, l| Ok(chunked_length(chomp(l))))?;
                        match len {
                            Some(0) => {
                                self.state = State::Headers;
                                let tx = self.cur()?;
                                tx.progress = PROGRESS_TRAILER;
                                tx.dirty = true;
                            }
                            Some(n) => {
                                self.left = n;
                                self.state = State::ChunkedData;
                            }
                            None => return Err(Stop),
                        }
                    }
                    None => return Ok(()),
                },
                State::ChunkedData | State::Identity => {
                    let chunk = take_body(data, &mut at, &mut self.left);
                    if chunk.is_empty() {
                        return Ok(());
                    }
                    let keep = !self.skip_body;
                    self.cur()?.add_body(chunk, keep);
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
                State::Finalize => {
                    let line = if closed {
                        if self.carry.is_empty() {
                            self.complete()?;
                            continue;
                        }
                        Line::Carried
                    } else if at >= data.len() || (data[at] == b'\n' && self.carry.is_empty()) {
                        // Nothing follows in this feed, or an empty line starts the next
                        // request: complete now.
                        self.complete()?;
                        continue;
                    } else {
                        match self.take_line(data, &mut at)? {
                            Some(line) => line,
                            None => return Ok(()),
                        }
                    };
                    let rest = if closed { None } else { data.get(at..) };
                    self.with_line(data, line, |s, l| s.finalize_line(l, rest))?;
                }
                State::ConnectWait | State::Ignore09 | State::Error => return Ok(()),
            }
        }
    }

    /// `htp_connp_REQ_IDLE`: a new transaction at progress 1.
    fn start_tx(&mut self) -> Result<(), Stop> {
        if self.created > MAX_TX {
            return Err(Stop);
        }
        let mut tx = self.spare.pop().unwrap_or_default();
        tx.clear();
        tx.id = self.created;
        tx.progress = PROGRESS_LINE;
        tx.touched = true;
        self.created += 1;
        self.answers.push_back(Answer::Normal);
        self.txs.push(tx);
        self.active = true;
        self.state = State::Line;
        Ok(())
    }

    /// [`take_line`] with this parser's buffer and pending header.
    fn take_line(&mut self, data: &[u8], at: &mut usize) -> Result<Option<Line>, Stop> {
        let waiting = if self.has_pending {
            self.pending.len()
        } else {
            0
        };
        take_line(&mut self.carry, waiting, data, at)
    }

    /// [`with_line`] with this parser's buffer.
    fn with_line<T>(
        &mut self,
        data: &[u8],
        line: Line,
        f: impl FnOnce(&mut Self, &[u8]) -> Result<T, Stop>,
    ) -> Result<T, Stop> {
        with_line(self, |s| &mut s.carry, data, line, f)
    }

    /// `htp_connp_REQ_LINE_complete` and `htp_connp_REQ_PROTOCOL`; `rest` is what
    /// follows the line in this feed.
    fn request_line(&mut self, line: &[u8], rest: &[u8]) -> Result<(), Stop> {
        if line.is_empty() || is_line_empty(line) {
            // Empty lines before a request are ignored.
            return Ok(());
        }
        let tx = self.cur()?;
        tx.set_request_line(chomp(line))?;
        // HTTP/0.9 unless something other than white space follows in this feed.
        if tx.is_09 && rest.iter().any(|&b| !is_space(b)) {
            tx.is_09 = false;
        }
        let answer = if tx.is_09 {
            Answer::Http09
        } else if tx.is_connect() {
            Answer::Connect
        } else if tx.line.get(tx.method.0..tx.method.1) == Some(b"HEAD") {
            Answer::Head
        } else {
            Answer::Normal
        };
        let id = tx.id;
        if let Some(a) = id
            .checked_sub(self.answers_base)
            .and_then(|i| self.answers.get_mut(usize::try_from(i).ok()?))
        {
            *a = answer;
        }
        let tx = self.cur()?;
        if tx.is_09 {
            self.state = State::Finalize;
        } else {
            tx.progress = PROGRESS_HEADERS;
            tx.dirty = true;
            self.state = State::Headers;
        }
        Ok(())
    }

    /// `htp_connp_REQ_HEADERS` on one complete line; `next` is the byte after it in
    /// this feed, which tells whether the line can be processed now.
    fn header_line(&mut self, line: &[u8], next: Option<u8>) -> Result<(), Stop> {
        if is_line_empty(line) {
            self.flush_pending()?;
            return self.headers_end();
        }
        let line = chomp(line);
        // A line left empty by the chomp (CRs before the LF) counts as folded.
        if line.first().is_some_and(|&b| !is_folding(b)) {
            self.flush_pending()?;
            if next.is_some_and(|b| !is_folding(b)) {
                self.cur()?.add_header(line)?;
            } else {
                self.pending.clear();
                self.pending.extend_from_slice(line);
                self.has_pending = true;
            }
        } else if self.has_pending {
            self.pending.extend_from_slice(line);
        } else {
            // Folding with nothing to fold into starts a header, without its leading
            // white space.
            let start = line
                .iter()
                .position(|&b| !is_folding(b))
                .unwrap_or(line.len());
            self.pending.clear();
            self.pending.extend_from_slice(&line[start..]);
            self.has_pending = true;
        }
        Ok(())
    }

    /// Processes the header waiting for its next line, if any.
    fn flush_pending(&mut self) -> Result<(), Stop> {
        if !self.has_pending {
            return Ok(());
        }
        self.has_pending = false;
        let pending = std::mem::take(&mut self.pending);
        let r = self.cur().and_then(|tx| tx.add_header(&pending));
        self.pending = pending;
        self.pending.clear();
        r
    }

    /// `htp_tx_state_request_headers`: the end of the header block (or trailers).
    fn headers_end(&mut self) -> Result<(), Stop> {
        let tx = self.cur()?;
        tx.dirty = true;
        if tx.progress > PROGRESS_HEADERS {
            // Trailers: `HTPCallbackRequestHasTrailer`.
            tx.trailers = true;
            tx.updated = true;
            self.state = State::Finalize;
            return Ok(());
        }
        // `htp_tx_process_request_headers`.
        let coding = if let Some(te) = tx.header(b"transfer-encoding") {
            has_token(te, b"chunked").then_some(Coding::Chunked)
        } else if let Some(cl) = tx.header(b"content-length") {
            content_length(cl).map(Coding::Identity)
        } else {
            Some(Coding::NoBody)
        };
        tx.set_hostname();
        // `htp_connp_REQ_CONNECT_CHECK`, before `REQ_BODY_DETERMINE` fails on an
        // invalid body coding.
        if tx.is_connect() {
            self.state = State::ConnectWait;
            return Ok(());
        }
        match coding.ok_or(Stop)? {
            Coding::Chunked => {
                tx.progress = PROGRESS_BODY;
                self.state = State::ChunkedLength;
            }
            Coding::Identity(n) if n > 0 => {
                tx.progress = PROGRESS_BODY;
                self.left = n;
                self.state = State::Identity;
            }
            _ => self.state = State::Finalize,
        }
        Ok(())
    }

    /// `htp_connp_REQ_FINALIZE` on the next line (`rest`: what follows it in this feed,
    /// `None` at the end of stream).
    fn finalize_line(&mut self, line: &[u8], rest: Option<&[u8]>) -> Result<(), Stop> {
        let start = line
            .iter()
            .position(|&b| !is_space(b))
            .unwrap_or(line.len());
        let end = line[start..]
            .iter()
            .position(|&b| is_space(b))
            .map_or(line.len(), |i| start + i);
        let method = &line[start..end];
        if method.is_empty() || !METHODS.contains(&method) {
            // More body of this request, line end included.
            let keep = !self.skip_body;
            self.cur()?.add_body(line, keep);
            return Ok(());
        }
        self.complete()?;
        match rest {
            Some(rest) if self.state == State::Idle => {
                self.start_tx()?;
                self.request_line(line, rest)
            }
            // After HTTP/0.9, or at the end of stream, the line is dropped.
            _ => Ok(()),
        }
    }

    /// `htp_tx_state_request_complete`.
    fn complete(&mut self) -> Result<(), Stop> {
        let tx = self.cur()?;
        let newly = tx.progress != PROGRESS_COMPLETE;
        if newly {
            tx.progress = PROGRESS_COMPLETE;
            tx.updated = true;
            tx.dirty = true;
        }
        self.state = if tx.is_09 {
            State::Ignore09
        } else {
            State::Idle
        };
        self.completed += u32::from(newly);
        self.active = false;
        Ok(())
    }
}

/// Takes the next body bytes of `data[*at..]`, at most `left` (which it lowers).
pub(super) fn take_body<'d>(data: &'d [u8], at: &mut usize, left: &mut u64) -> &'d [u8] {
    let avail = data.len().saturating_sub(*at) as u64;
    let n = avail.min(*left) as usize;
    let body = data.get(*at..*at + n).unwrap_or(&[]);
    *at += body.len();
    *left -= body.len() as u64;
    body
}

/// Skips to just past the next LF of `data[*at..]` (the end of a chunk's line); false
/// when the feed ends first.
pub(super) fn skip_line(data: &[u8], at: &mut usize) -> bool {
    match data.get(*at..).and_then(|r| memchr::memchr(b'\n', r)) {
        Some(i) => {
            *at += i + 1;
            true
        }
        None => false,
    }
}

/// A line read by [`take_line`]: in the feed, or the buffered bytes.
#[derive(Clone, Copy)]
pub(super) enum Line {
    Feed(usize, usize),
    Carried,
}

/// Reads the rest of a line, through its LF, from `data[*at..]`: `None` when the feed
/// ends first (the bytes are buffered in `carry`). Buffering checks the hard field limit
/// as `htp_connp_req_buffer` and `htp_connp_res_buffer` do: the buffered bytes, this
/// feed's part and the `waiting` header together. A line whole in one feed is not
/// checked.
pub(super) fn take_line(
    carry: &mut Vec<u8>,
    waiting: usize,
    data: &[u8],
    at: &mut usize,
) -> Result<Option<Line>, Stop> {
    let rest = data.get(*at..).unwrap_or(&[]);
    let (part, line) = match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..=i], true),
        None => (rest, false),
    };
    let from = *at;
    *at += part.len();
    if !line || !carry.is_empty() {
        if part.is_empty() {
            return Ok(None);
        }
        if carry.len() + part.len() + waiting > FIELD_LIMIT_HARD {
            return Err(Stop);
        }
        carry.extend_from_slice(part);
        return Ok(line.then_some(Line::Carried));
    }
    Ok(Some(Line::Feed(from, *at)))
}

/// Runs `f` on `s` and a line read by [`take_line`] (whose buffer `carry` gives), then
/// forgets the buffered bytes, keeping their allocation.
pub(super) fn with_line<S, T>(
    s: &mut S,
    carry: impl Fn(&mut S) -> &mut Vec<u8>,
    data: &[u8],
    line: Line,
    f: impl FnOnce(&mut S, &[u8]) -> Result<T, Stop>,
) -> Result<T, Stop> {
    let mut buf = std::mem::take(carry(s));
    let bytes = match line {
        Line::Feed(a, b) => data.get(a..b).unwrap_or(&[]),
        Line::Carried => &buf[..],
    };
    let r = f(s, bytes);
    buf.clear();
    *carry(s) = buf;
    r
}

/// `htp_is_space` (C's `isspace`).
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `htp_is_lws`.
pub(super) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// `htp_is_folding_char`: a header line starting with one continues the previous.
pub(super) fn is_folding(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0)
}

/// `htp_is_line_empty`.
pub(super) fn is_line_empty(l: &[u8]) -> bool {
    matches!(l, b"\n" | b"\r" | b"\r\n")
}

/// `htp_chomp`: the line without its trailing CR and LF bytes.
pub(super) fn chomp(l: &[u8]) -> &[u8] {
    let n = l
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |i| i + 1);
    &l[..n]
}

/// `htp_parse_request_header_generic` on a chomped header line: its name and value.
pub(super) fn parse_header(l: &[u8]) -> (&[u8], &[u8]) {
    match l.iter().position(|&b| b == b':' || b == 0) {
        Some(c) if l[c] == b':' => {
            let name = trim_end_lws(&l[..c]);
            let value = &l[c + 1..];
            let vs = value
                .iter()
                .position(|&b| !is_lws(b))
                .unwrap_or(value.len());
            (name, trim_end_lws(&value[vs..]))
        }
        // No colon (before any NUL): an empty name, the whole line as value, whose
        // first byte libhtp's trim never removes.
        _ => {
            let first = usize::from(!l.is_empty());
            (&[], &l[..first + trim_end_lws(&l[first..]).len()])
        }
    }
}

fn trim_end_lws(s: &[u8]) -> &[u8] {
    let n = s.iter().rposition(|&b| !is_lws(b)).map_or(0, |i| i + 1);
    &s[..n]
}

/// `htp_header_has_token`: whether the comma-separated `value` holds `token` (lower
/// case), any case, with white space around it.
fn has_token(value: &[u8], token: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum S {
        Match,
        Skip,
        Matched,
    }
    let mut s = S::Match;
    let mut off = 0;
    for &c in value {
        if s == S::Match {
            if off == 0 && is_space(c) {
                continue;
            }
            if token.get(off) == Some(&c.to_ascii_lowercase()) {
                off += 1;
                if off == token.len() {
                    s = S::Matched;
                }
                continue;
            }
            // Falls through to skipping, this byte included.
            s = S::Skip;
        }
        match s {
            S::Skip if c == b',' => {
                s = S::Match;
                off = 0;
            }
            S::Matched if c == b',' => return true,
            S::Matched if !is_space(c) => s = S::Skip,
            _ => {}
        }
    }
    s == S::Matched
}

/// `bstr_util_mem_to_pint`: the leading digits of `s` in `base`; `None` without any or
/// on overflow.
fn to_pint(s: &[u8], base: u32) -> Option<i64> {
    let mut v: i64 = 0;
    let mut any = false;
    for &c in s {
        let Some(d) = (c as char).to_digit(36).filter(|&d| d < base) else {
            break;
        };
        v = v.checked_mul(i64::from(base))?.checked_add(i64::from(d))?;
        any = true;
    }
    any.then_some(v)
}

/// `htp_parse_content_length`: the first run of digits, junk around it ignored.
pub(super) fn content_length(v: &[u8]) -> Option<u64> {
    let first = v.iter().position(u8::is_ascii_digit)?;
    u64::try_from(to_pint(&v[first..], 10)?).ok()
}

/// `htp_parse_chunked_length` on a chomped line: hex digits after leading white space,
/// the rest ignored; `None` (an error) without digits or past 2^31-1.
pub(super) fn chunked_length(l: &[u8]) -> Option<u64> {
    let start = l.iter().position(|&b| !is_space(b))?;
    let l = &l[start..];
    let n = l
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(l.len());
    let v = to_pint(&l[..n], 16)?;
    u64::try_from(v).ok().filter(|&v| v <= i32::MAX as u64)
}

/// A host from `htp_parse_hostport`.
struct HostPort<'a> {
    host: &'a [u8],
    /// libhtp lower-cases the host only when it had no port.
    lowercase: bool,
}

/// `htp_parse_hostport`: the host of `host[:port]` or `[v6][:port]`, trimmed; `None`
/// when empty or an unclosed `[`.
fn hostport(v: &[u8]) -> Option<HostPort<'_>> {
    let start = v.iter().position(|&b| !is_space(b))?;
    let end = v
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    let v = &v[start..end];
    if v.first() == Some(&b'[') {
        let close = memchr::memchr(b']', v)?;
        return Some(HostPort {
            host: &v[..=close],
            lowercase: false,
        });
    }
    match memchr::memchr(b':', v) {
        None => Some(HostPort {
            host: v,
            lowercase: true,
        }),
        Some(c) => {
            let end = v[..c]
                .iter()
                .rposition(|&b| !is_space(b))
                .map_or(0, |i| i + 1);
            Some(HostPort {
                host: &v[..end],
                lowercase: false,
            })
        }
    }
}

/// `htp_normalize_parsed_uri` on a hostname: `%HH` decoded (all of them, invalid ones
/// kept), then lower-cased and trailing dots removed (`htp_normalize_hostname_inplace`),
/// which makes `htp_parse_hostport`'s own lower-casing of a CONNECT target moot.
fn normalize_hostname(h: &[u8], out: &mut Vec<u8>) {
    out.clear();
    urldecode(h, out);
    out.make_ascii_lowercase();
    while out.last() == Some(&b'.') {
        out.pop();
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The parts of a request target that the buffers use (`htp_parse_uri`).
#[derive(Default)]
struct UriParts<'a> {
    hostname: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
    query: Option<&'a [u8]>,
    fragment: Option<&'a [u8]>,
}

/// `htp_parse_uri`: a target not starting with `/` has a scheme up to its first colon
/// (anywhere); after a scheme, `//` and a non-`/` start an authority; then the path up
/// to `?` or `#`, the query up to `#`, the fragment.
fn parse_uri(d: &[u8]) -> UriParts<'_> {
    let mut u = UriParts::default();
    let len = d.len();
    if len == 0 {
        return u;
    }
    let mut pos = 0;
    let mut scheme = false;
    if d[0] != b'/' {
        if let Some(c) = memchr::memchr(b':', d) {
            scheme = true;
            pos = c + 1;
        }
    }
    if scheme && pos + 2 < len && d[pos] == b'/' && d[pos + 1] == b'/' && d[pos + 2] != b'/' {
        let start = pos + 2;
        pos = start;
        while pos < len && !matches!(d[pos], b'?' | b'/' | b'#') {
            pos += 1;
        }
        let auth = &d[start..pos];
        let host = match memchr::memchr(b'@', auth) {
            Some(at) => &auth[at + 1..],
            None => auth,
        };
        u.hostname = Some(if host.first() == Some(&b'[') {
            match memchr::memchr(b']', host) {
                Some(close) => &host[..=close],
                None => host,
            }
        } else {
            match memchr::memchr(b':', host) {
                Some(c) => &host[..c],
                None => host,
            }
        });
    }
    let start = pos;
    while pos < len && d[pos] != b'?' && d[pos] != b'#' {
        pos += 1;
    }
    u.path = Some(&d[start..pos]);
    if pos < len && d[pos] == b'?' {
        let start = pos + 1;
        while pos < len && d[pos] != b'#' {
            pos += 1;
        }
        u.query = Some(&d[start..pos]);
    }
    if pos < len && d[pos] == b'#' {
        u.fragment = Some(&d[pos + 1..]);
    }
    u
}

/// `htp_decode_path_inplace` with the MINIMAL personality: `%HH` decoded except an
/// encoded `/`, which stays as sent; an invalid or short `%` is kept.
fn decode_path(p: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        if c == b'%' && i + 2 < p.len() {
            if let (Some(x), Some(y)) = (hex(p[i + 1]), hex(p[i + 2])) {
                let v = x << 4 | y;
                if v != b'/' {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
}

/// `htp_urldecode_inplace` (URL-encoded and URL-path contexts as Suricata configures
/// them): `%HH` decoded, `/` and NUL included; invalid `%` kept; `+` kept.
fn urldecode(p: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        if c == b'%' && i + 2 < p.len() {
            if let (Some(x), Some(y)) = (hex(p[i + 1]), hex(p[i + 2])) {
                out.push(x << 4 | y);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
}

/// `htp_normalize_uri_path_inplace`, libhtp's RFC 3986 5.2.4 dot-segment removal,
/// ported as it is: the character pending at the end is dropped (`/a/.` gives `/a`),
/// and a leading `../` or `./` is removed without adding a `/` (`a/../b` gives `/b`).
fn normalize_path(s: &mut Vec<u8>) {
    let len = s.len();
    let (mut r, mut w) = (0, 0);
    let mut c: Option<u8> = None;
    let at = |s: &Vec<u8>, i: usize| s.get(i).copied();
    while r < len && w < len {
        let ch = match c {
            Some(ch) => ch,
            None => {
                let ch = s[r];
                r += 1;
                ch
            }
        };
        c = Some(ch);
        if ch == b'.' {
            // A. "../" or "./" prefix.
            if r + 1 < len && at(s, r) == Some(b'.') && at(s, r + 1) == Some(b'/') {
                c = None;
                r += 2;
                continue;
            } else if r < len && at(s, r) == Some(b'/') {
                c = None;
                r += 1;
                continue;
            }
        }
        if ch == b'/' {
            // B. "/./" or a final "/.".
            if r + 1 < len && at(s, r) == Some(b'.') && at(s, r + 1) == Some(b'/') {
                r += 2;
                continue;
            } else if r + 1 == len && at(s, r) == Some(b'.') {
                r += 1;
                continue;
            }
            // C. "/../" or a final "/..": drop the last output segment.
            let dotdot = at(s, r) == Some(b'.') && at(s, r + 1) == Some(b'.');
            if dotdot && (r + 2 == len || (r + 2 < len && at(s, r + 2) == Some(b'/'))) {
                r += if r + 2 == len { 2 } else { 3 };
                while w > 0 && s[w - 1] != b'/' {
                    w -= 1;
                }
                w = w.saturating_sub(1);
                continue;
            }
        }
        // D. "." or ".." alone.
        if ch == b'.' && r == len {
            r += 1;
            continue;
        }
        if ch == b'.' && r + 1 == len && at(s, r) == Some(b'.') {
            r += 2;
            continue;
        }
        // E. Move the segment to the output.
        s[w] = ch;
        w += 1;
        while r < len && s[r] != b'/' && w < len {
            s[w] = s[r];
            w += 1;
            r += 1;
        }
        c = None;
    }
    s.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request buffer, in a fixed order.
    const KINDS: [Sticky; 21] = Sticky::HTTP_REQUEST;

    fn parse(chunks: &[&[u8]]) -> (HttpRequests, Vec<Fed>) {
        let mut p = HttpRequests::default();
        let feds = chunks.iter().map(|c| p.feed(c)).collect();
        (p, feds)
    }

    fn one(data: &[u8]) -> HttpRequests {
        parse(&[data]).0
    }

    fn buf(p: &HttpRequests, tx: usize, kind: Sticky) -> Option<&[u8]> {
        p.txs().get(tx)?.buffer(kind)
    }

    /// A transaction's id, progress and every buffer.
    type TxSnapshot = (u64, u8, Vec<Option<Vec<u8>>>);
    /// An expected buffer: absent or these bytes.
    type Opt<'a> = Option<&'a [u8]>;

    /// Progress and every buffer of every transaction.
    fn snapshot(p: &HttpRequests) -> Vec<TxSnapshot> {
        p.txs()
            .iter()
            .map(|t| {
                let bufs = KINDS
                    .iter()
                    .map(|&k| t.buffer(k).map(<[u8]>::to_vec))
                    .collect();
                (t.id, t.progress, bufs)
            })
            .collect()
    }

    #[test]
    fn the_example_request_gives_the_dumped_buffers() {
        let p = one(b"GET /a%41/../b?x=%41 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nUser-Agent: foo\r\nCookie: c=1\r\nAccept: */*\r\n\r\n");
        let raw: &[u8] =
            b"Host: WWW.Example.com:8080\r\nUser-Agent: foo\r\nCookie: c=1\r\nAccept: */*\r\n\r\n";
        let start = [&b"GET /a%41/../b?x=%41 HTTP/1.1\r\n"[..], raw].concat();
        let want: [(Sticky, Option<&[u8]>); 20] = [
            (Sticky::HttpMethod, Some(b"GET")),
            (Sticky::HttpUri, Some(b"/b?x=A")),
            (Sticky::HttpUriRaw, Some(b"/a%41/../b?x=%41")),
            (
                Sticky::HttpRequestLine,
                Some(b"GET /a%41/../b?x=%41 HTTP/1.1"),
            ),
            (Sticky::HttpProtocol, Some(b"HTTP/1.1")),
            (Sticky::HttpHost, Some(b"WWW.Example.com")),
            (Sticky::HttpHostRaw, Some(b"WWW.Example.com:8080")),
            (Sticky::HttpUserAgent, Some(b"foo")),
            (Sticky::HttpCookie, Some(b"c=1")),
            (Sticky::HttpAccept, Some(b"*/*")),
            (Sticky::HttpAcceptLang, None),
            (Sticky::HttpAcceptEnc, None),
            (Sticky::HttpReferer, None),
            (Sticky::HttpContentType, None),
            (Sticky::HttpContentLen, None),
            (Sticky::HttpConnection, None),
            (
                Sticky::HttpHeader,
                Some(b"Host: WWW.Example.com:8080\r\nUser-Agent: foo\r\nAccept: */*\r\n"),
            ),
            (
                Sticky::HttpHeaderNames,
                Some(b"\r\nHost\r\nUser-Agent\r\nCookie\r\nAccept\r\n\r\n"),
            ),
            (Sticky::HttpStart, Some(&start)),
            (Sticky::HttpHeaderRaw, Some(raw)),
        ];
        for (kind, want) in want {
            assert_eq!(buf(&p, 0, kind), want, "{}", kind.keyword());
        }
        let tx = &p.txs()[0];
        assert_eq!(
            (tx.id, tx.progress, tx.updated),
            (0, PROGRESS_COMPLETE, true)
        );
        // Not an HTTP buffer.
        assert_eq!(tx.buffer(Sticky::TlsSni), None);
    }

    #[test]
    fn uri_normalization_follows_libhtp() {
        let cases: [(&[u8], &[u8]); 24] = [
            (
                b"//a/./b/../c//d/%2e%2e/e/%2f/f\\g/%u0041/%c3%a9/+x%20y",
                b"//a/c//e/%2f/f\\g/%u0041/\xc3\xa9/+x y",
            ),
            (b"/a/.", b"/a"),
            (b"/a/b/..?q=1", b"/a?q=1"),
            (b"/../../a/..", b""),
            (b"a/../b", b"/b"),
            (
                b"http://WWW.Ex.COM:81/p/../q%41?a=%42#frag",
                b"/qA?a=B#frag",
            ),
            (b"*", b"*"),
            (b"/?q=a+b%20c%2f%00z&u=%u0041", b"/?q=a+b c/\x00z&u=%u0041"),
            (b"/x#frag", b"/x#frag"),
            (b"http://Ex.com", b""),
            (b"/a%zz%4", b"/a%zz%4"),
            (b"/a/..", b""),
            (b"/.", b""),
            (b"..", b""),
            (b"/a/b/../../..", b""),
            (b"/%2F%2f/..", b""),
            (b"/%2F%2f/x", b"/%2F%2f/x"),
            (b"http://u:p@Host.Com.:8/x?y", b"/x?y"),
            (b"https://[::1]:8/p", b"/p"),
            (b"/a#%41%2f+%zz", b"/a#A/+%zz"),
            (b"./a", b"a"),
            (b"../a", b"a"),
            (b"/a//..", b"/a"),
            // A colon anywhere makes what precedes it a scheme.
            (b"a:b/c?d", b"b/c?d"),
        ];
        for (target, want) in cases {
            let req = [&b"GET "[..], target, b" HTTP/1.1\r\n\r\n"].concat();
            let p = one(&req);
            assert_eq!(
                buf(&p, 0, Sticky::HttpUri),
                Some(want),
                "{:?}",
                target.escape_ascii().to_string()
            );
            assert_eq!(buf(&p, 0, Sticky::HttpUriRaw), Some(target));
        }
        // OPTIONS *, CONNECT: the authority alone leaves an empty path.
        let p = one(b"OPTIONS * HTTP/1.1\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpUri), Some(&b"*"[..]));
        let p = one(b"CONNECT Ex.COM:443 HTTP/1.1\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpUri), Some(&b""[..]));
        assert_eq!(buf(&p, 0, Sticky::HttpHost), Some(&b"ex.com"[..]));
    }

    #[test]
    fn hosts_follow_libhtp() {
        // (Host header value, http.host, http.host.raw)
        let cases: [(&[u8], Opt<'_>, Opt<'_>); 12] = [
            (
                b"WWW.Example.COM",
                Some(b"www.example.com"),
                Some(b"WWW.Example.COM"),
            ),
            // Lower-cased only without a port.
            (
                b"WWW.Example.com:8080",
                Some(b"WWW.Example.com"),
                Some(b"WWW.Example.com:8080"),
            ),
            (
                b"  www.Example.com  ",
                Some(b"www.example.com"),
                Some(b"www.Example.com"),
            ),
            (
                b"www.example.com.",
                Some(b"www.example.com."),
                Some(b"www.example.com."),
            ),
            (b"[::1]:80", Some(b"[::1]"), Some(b"[::1]:80")),
            (b"[::A]", Some(b"[::A]"), Some(b"[::A]")),
            (b"[::1", None, Some(b"[::1")),
            (b"", None, Some(b"")),
            (
                b"a.com\r\nHost: b.com",
                Some(b"a.com, b.com"),
                Some(b"a.com, b.com"),
            ),
            (b"Host.COM : 80", Some(b"Host.COM"), Some(b"Host.COM : 80")),
            (b":80", Some(b""), Some(b":80")),
            (b"a b:1", Some(b"a b"), Some(b"a b:1")),
        ];
        for (host, want, want_raw) in cases {
            let req = [&b"GET / HTTP/1.1\r\nHost: "[..], host, b"\r\n\r\n"].concat();
            let p = one(&req);
            let name = host.escape_ascii().to_string();
            assert_eq!(buf(&p, 0, Sticky::HttpHost), want, "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpHostRaw), want_raw, "{name}");
        }
        // An absolute URI's host wins over the header, decoded and normalized.
        let p = one(b"GET http://A%42.Ex.COM.:81/ HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpHost), Some(&b"ab.ex.com"[..]));
        assert_eq!(buf(&p, 0, Sticky::HttpHostRaw), Some(&b"ab.ex.com"[..]));
        // No Host header, no host.
        let p = one(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpHost), None);
        assert_eq!(buf(&p, 0, Sticky::HttpHostRaw), None);
    }

    #[test]
    fn the_header_table_follows_libhtp() {
        // (header block, http.header, http.header_names)
        let cases: [(&[u8], Opt<'_>, Opt<'_>); 13] = [
            // Folding keeps the continuation's white space.
            (
                b"User-Agent: part1\r\n  part2\r\n\tpart3\r\n\r\n",
                Some(b"User-Agent: part1  part2\tpart3\r\n"),
                Some(b"\r\nUser-Agent\r\n\r\n"),
            ),
            // Repeats joined, first name kept, lookup in any case.
            (
                b"X-A: 1\r\nx-a: 2\r\nX-A: 3\r\n\r\n",
                Some(b"X-A: 1, 2, 3\r\n"),
                Some(b"\r\nX-A\r\n\r\n"),
            ),
            // A repeated Content-Length keeps the first.
            (
                b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
                Some(b"Content-Length: 0\r\n"),
                Some(b"\r\nContent-Length\r\n\r\n"),
            ),
            (
                b"A: 1\nB: 2\n\n",
                Some(b"A: 1\r\nB: 2\r\n"),
                Some(b"\r\nA\r\nB\r\n\r\n"),
            ),
            // No colon: an empty name.
            (
                b"BadLine\r\n\r\n",
                Some(b": BadLine\r\n"),
                Some(b"\r\n\r\n\r\n"),
            ),
            (
                b"X-Empty:\r\n\r\n",
                Some(b"X-Empty: \r\n"),
                Some(b"\r\nX-Empty\r\n\r\n"),
            ),
            (
                b"A : 1 \t \r\n\r\n",
                Some(b"A: 1\r\n"),
                Some(b"\r\nA\r\n\r\n"),
            ),
            // Cookie only: http.header is empty, so absent.
            (b"Cookie: a=1\r\n\r\n", None, Some(b"\r\nCookie\r\n\r\n")),
            (b"\r\n", None, None),
            // Internal CR kept; a NUL ends a name's colon search; NUL folds.
            (
                b"A: 1\rX: 2\r\n\r\n",
                Some(b"A: 1\rX: 2\r\n"),
                Some(b"\r\nA\r\n\r\n"),
            ),
            (
                b"A\x00: 1\r\n\r\n",
                Some(b": A\x00: 1\r\n"),
                Some(b"\r\n\r\n\r\n"),
            ),
            (
                b"A: 1\r\n\x00B: 2\r\n\r\n",
                Some(b"A: 1\x00B: 2\r\n"),
                Some(b"\r\nA\r\n\r\n"),
            ),
            // A first line that folds loses its leading white space; a line of CRs
            // folds too.
            (
                b" B: 2\r\nA: 1\r\n\r\r\n cont\r\n\r\n",
                Some(b"B: 2\r\nA: 1\r\n:  cont\r\n"),
                Some(b"\r\nB\r\nA\r\n\r\n\r\n"),
            ),
        ];
        for (block, header, names) in cases {
            let req = [&b"GET / HTTP/1.1\r\n"[..], block].concat();
            let p = one(&req);
            let name = block.escape_ascii().to_string();
            assert_eq!(p.txs()[0].progress, PROGRESS_COMPLETE, "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpHeader), header, "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpHeaderNames), names, "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpHeaderRaw), Some(block), "{name}");
        }
        let p = one(b"GET / HTTP/1.1\r\nUser-Agent: a\r\nuser-agent: b\r\nCookie: a=1\r\nCOOKIE: b=2\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpUserAgent), Some(&b"a, b"[..]));
        assert_eq!(buf(&p, 0, Sticky::HttpCookie), Some(&b"a=1, b=2"[..]));
        // http.start: no final empty line without headers.
        let p = one(b"GET /x HTTP/1.0\r\n\r\n");
        assert_eq!(
            buf(&p, 0, Sticky::HttpStart),
            Some(&b"GET /x HTTP/1.0\r\n"[..])
        );
        assert_eq!(buf(&p, 0, Sticky::HttpHeaderRaw), Some(&b"\r\n"[..]));
    }

    #[test]
    fn request_lines_follow_libhtp() {
        // (request line, method, uri.raw, protocol)
        let cases: [(&[u8], &[u8], Opt<'_>, Opt<'_>); 7] = [
            (b"get /x http/1.1", b"get", Some(b"/x"), Some(b"http/1.1")),
            (
                b"GET  /x  HTTP/1.0 ",
                b"GET",
                Some(b"/x"),
                Some(b"HTTP/1.0 "),
            ),
            (b" GET /x HTTP/1.0", b"GET", Some(b"/x"), Some(b"HTTP/1.0")),
            (b"GET /x\tHTTP/1.0", b"GET", Some(b"/x"), Some(b"HTTP/1.0")),
            (
                b"GET /a\x0bb HTTP/1.0",
                b"GET",
                Some(b"/a\x0bb"),
                Some(b"HTTP/1.0"),
            ),
            (
                b"GET /a b HTTP/1.0",
                b"GET",
                Some(b"/a"),
                Some(b"b HTTP/1.0"),
            ),
            (
                b"GET /x HTTP/1.0 extra",
                b"GET",
                Some(b"/x"),
                Some(b"HTTP/1.0 extra"),
            ),
        ];
        for (line, method, uri, proto) in cases {
            let p = one(&[line, b"\r\n\r\n"].concat());
            let name = line.escape_ascii().to_string();
            assert_eq!(buf(&p, 0, Sticky::HttpMethod), Some(method), "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpUriRaw), uri, "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpProtocol), proto, "{name}");
            assert_eq!(buf(&p, 0, Sticky::HttpRequestLine), Some(line), "{name}");
        }
    }

    #[test]
    fn probe_tells_the_methods() {
        for m in METHODS {
            for sep in [b' ', b'\t'] {
                let mut d = m.to_vec();
                d.push(sep);
                assert_eq!(probe(&d), Probe::Http, "{:?}", m.escape_ascii().to_string());
                d.extend_from_slice(b"/x HTTP/1.1\r\n");
                assert_eq!(probe(&d), Probe::Http);
                d.make_ascii_lowercase();
                assert_eq!(probe(&d), Probe::Http);
                // Every shorter prefix waits.
                for n in 0..=m.len() {
                    assert_eq!(probe(&d[..n]), Probe::NeedMore);
                }
            }
        }
        for d in [
            &b" GET /x"[..],
            b"GET/x",
            b"FOO /x",
            b"BREW /x",
            b"\r\nGET /x",
            b"GETX /",
            b"X",
        ] {
            assert_eq!(
                probe(d),
                Probe::NotHttp,
                "{:?}",
                d.escape_ascii().to_string()
            );
        }
        assert_eq!(probe(b"VERSION-CONT"), Probe::NeedMore);
        assert_eq!(probe(b"VERSION-CONTROL\t"), Probe::Http);
    }

    #[test]
    fn a_transaction_is_updated_by_header_bytes_not_by_its_request_line() {
        let mut p = HttpRequests::default();
        assert_eq!(p.feed(b"GET /uri HTTP/1.1\r\n"), Fed::default());
        let tx = &p.txs()[0];
        assert_eq!((tx.progress, tx.updated), (PROGRESS_HEADERS, false));
        assert_eq!(tx.buffer(Sticky::HttpUri), Some(&b"/uri"[..]));
        assert_eq!(tx.buffer(Sticky::HttpHeader), None);
        // One header byte: inspectable.
        p.feed(b"H");
        assert!(p.txs()[0].updated);
        p.txs_mut()[0].updated = false;
        // A whole header line waits for the next line's first byte in the same feed,
        // or else for the next line's end.
        p.feed(b"ost: a\r\n");
        let tx = &p.txs()[0];
        assert!(tx.updated && tx.buffer(Sticky::HttpHostRaw).is_none());
        p.feed(b"U");
        assert!(buf(&p, 0, Sticky::HttpHostRaw).is_none());
        p.feed(b"ser-Agent: x\r\nA");
        assert_eq!(buf(&p, 0, Sticky::HttpHostRaw), Some(&b"a"[..]));
        assert_eq!(buf(&p, 0, Sticky::HttpUserAgent), Some(&b"x"[..]));
        // http.host only once the block ends.
        assert_eq!(buf(&p, 0, Sticky::HttpHost), None);
        p.feed(b"ccept: y\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpAccept), None);
        let fed = p.feed(b"\r\n");
        assert_eq!(
            fed,
            Fed {
                completed: 1,
                error: false
            }
        );
        let tx = &p.txs()[0];
        assert_eq!(tx.progress, PROGRESS_COMPLETE);
        assert_eq!(tx.buffer(Sticky::HttpUserAgent), Some(&b"x"[..]));
        assert_eq!(tx.buffer(Sticky::HttpHost), Some(&b"a"[..]));
        assert_eq!(tx.buffer(Sticky::HttpAccept), Some(&b"y"[..]));
        assert_eq!(
            tx.buffer(Sticky::HttpHeaderRaw),
            Some(&b"Host: a\r\nUser-Agent: x\r\nAccept: y\r\n\r\n"[..])
        );
        // A request line without headers yet is not updated, even split.
        let (p, _) = parse(&[b"GET /a", b" HTTP/1.1\r", b"\n"]);
        assert!(!p.txs()[0].updated);
        assert_eq!(p.txs()[0].progress, PROGRESS_HEADERS);
    }

    #[test]
    fn a_body_keeps_the_request_at_progress_3() {
        let mut p = HttpRequests::default();
        let fed = p.feed(b"POST /a HTTP/1.1\r\nContent-Length: 40\r\n\r\nGET /a9 HT");
        assert_eq!(fed.completed, 0);
        let tx = &p.txs()[0];
        assert_eq!(tx.progress, PROGRESS_BODY);
        // Every header buffer is there while the body comes.
        assert_eq!(tx.buffer(Sticky::HttpContentLen), Some(&b"40"[..]));
        assert!(tx.buffer(Sticky::HttpHeader).is_some());
        assert!(tx.buffer(Sticky::HttpHeaderRaw).is_some());
        p.txs_mut()[0].updated = false;
        p.feed(b"TP/1.1\r\n\r\nxxxxxxxxxxxx");
        assert_eq!(p.txs()[0].progress, PROGRESS_BODY);
        assert!(p.txs()[0].updated, "body bytes update");
        let fed = p.feed(b"xxxxxxxxGET /b HTTP/1.1\r\n\r\n");
        assert_eq!(fed.completed, 2);
        // The request in the body is no transaction.
        let uris: Vec<_> = p.txs().iter().map(|t| t.buffer(Sticky::HttpUri)).collect();
        assert_eq!(uris, [Some(&b"/a"[..]), Some(&b"/b"[..])]);
        assert_eq!(p.txs()[1].id, 1);
    }

    /// `http.request_body` as one inspection sees it: begins, reads, ends.
    fn inspect_body(p: &mut HttpRequests, tx: usize) -> Option<Vec<u8>> {
        let t = p.txs_mut().get_mut(tx)?;
        t.begin_inspection();
        let b = t.buffer(Sticky::HttpRequestBody).map(<[u8]>::to_vec);
        t.end_inspection();
        b
    }

    #[test]
    fn the_request_body_is_offered_once_when_whole() {
        let mut p = HttpRequests::default();
        p.feed(b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello");
        // Not before the request moves past its body.
        assert_eq!(inspect_body(&mut p, 0), None);
        p.feed(b"world");
        assert_eq!(p.txs()[0].progress, PROGRESS_COMPLETE);
        assert_eq!(inspect_body(&mut p, 0).as_deref(), Some(&b"helloworld"[..]));
        // Offered once: nothing new, nothing offered.
        assert_eq!(inspect_body(&mut p, 0), None);
        // Chunks are de-chunked; the lengths and line ends are not body.
        let mut p = one(b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext\r\nde\r\n0\r\n\r\n");
        assert_eq!(inspect_body(&mut p, 0).as_deref(), Some(&b"abcde"[..]));
        // A request without a body has none (not an empty one).
        let mut p = one(b"GET /n HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(inspect_body(&mut p, 0), None);
    }

    #[test]
    fn a_body_no_rule_reads_is_parsed_not_kept() {
        let mut p = HttpRequests::default();
        p.set_keep_body(false);
        p.feed(b"POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
        p.txs_mut()[0].updated = false;
        p.feed(b"ab");
        // Body bytes still update the request (inspection timing is Suricata's).
        assert!(p.txs()[0].updated);
        p.feed(b"cdGET /b HTTP/1.1\r\n\r\n");
        assert_eq!(inspect_body(&mut p, 0), None);
        assert_eq!(buf(&p, 1, Sticky::HttpUri), Some(&b"/b"[..]));
        // A reset keeps the choice.
        p.reset();
        p.feed(b"POST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy");
        assert_eq!(inspect_body(&mut p, 0), None);
    }

    #[test]
    fn the_request_body_stops_at_the_limit_and_takes_extra_lines() {
        let mut p = HttpRequests::default();
        p.feed(b"POST /big HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
        p.feed(&[b'x'; 4000]);
        assert_eq!(inspect_body(&mut p, 0), None);
        // At the limit it is offered before the request is done, then never again.
        p.feed(&[b'y'; 200]);
        assert_eq!(p.txs()[0].progress, PROGRESS_BODY);
        let b = inspect_body(&mut p, 0).unwrap();
        assert_eq!(b.len(), REQUEST_BODY_LIMIT);
        assert!(b[..4000].iter().all(|&c| c == b'x') && b[4000..].iter().all(|&c| c == b'y'));
        p.feed(&[b'z'; 800]);
        assert_eq!(p.txs()[0].progress, PROGRESS_COMPLETE);
        assert_eq!(inspect_body(&mut p, 0), None);
        // A line after the body that starts with no method is more body, its end too.
        let mut p = one(
            b"POST /e HTTP/1.1\r\nContent-Length: 2\r\n\r\nabjunk line\r\nGET /n HTTP/1.1\r\n\r\n",
        );
        assert_eq!(
            inspect_body(&mut p, 0).as_deref(),
            Some(&b"abjunk line\r\n"[..])
        );
        assert_eq!(buf(&p, 1, Sticky::HttpUri), Some(&b"/n"[..]));
    }

    #[test]
    fn chunked_bodies_end_with_trailers() {
        let mut p = HttpRequests::default();
        p.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nGET /\r\n");
        let tx = &p.txs()[0];
        assert_eq!((tx.progress, tx.has_trailers()), (PROGRESS_BODY, false));
        p.feed(b"0\r\nX-T: 1\r\n");
        assert_eq!(p.txs()[0].progress, PROGRESS_TRAILER);
        let fed = p.feed(b"\r\n");
        assert_eq!(fed.completed, 1);
        let tx = &p.txs()[0];
        assert_eq!((tx.progress, tx.has_trailers()), (PROGRESS_COMPLETE, true));
        assert_eq!(
            tx.buffer(Sticky::HttpHeader),
            Some(&b"Transfer-Encoding: chunked\r\nX-T: 1\r\n"[..])
        );
        assert_eq!(
            tx.buffer(Sticky::HttpHeaderNames),
            Some(&b"\r\nTransfer-Encoding\r\nX-T\r\n\r\n"[..])
        );
        assert_eq!(
            tx.buffer(Sticky::HttpHeaderRaw),
            Some(&b"Transfer-Encoding: chunked\r\n\r\nX-T: 1\r\n\r\n"[..])
        );
        assert_eq!(p.txs().len(), 1);
        // An empty trailer counts as one.
        let p = one(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n0\r\n\r\n");
        assert!(p.txs()[0].has_trailers());
        assert_eq!(p.txs()[0].progress, PROGRESS_COMPLETE);
    }

    #[test]
    fn pipelined_and_keep_alive_requests_are_transactions() {
        let mut p = HttpRequests::default();
        let fed = p.feed(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nHEAD /3 HTTP/1.1\r\n\r\n");
        assert_eq!(
            fed,
            Fed {
                completed: 3,
                error: false
            }
        );
        let ids: Vec<_> = p.txs().iter().map(|t| (t.id, t.progress)).collect();
        assert_eq!(ids, [(0, 5), (1, 5), (2, 5)]);
        assert_eq!(buf(&p, 2, Sticky::HttpMethod), Some(&b"HEAD"[..]));
        // Keep-alive: one at a time.
        let fed = p.feed(b"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(fed.completed, 1);
        assert_eq!(p.txs()[3].id, 3);
    }

    #[test]
    fn completion_waits_for_the_next_line() {
        // Nothing after the headers in the feed: complete at once.
        let mut p = HttpRequests::default();
        p.feed(b"GET /a HTTP/1.1\r\n\r\nGET /b HT");
        assert_eq!(p.txs()[0].progress, PROGRESS_HEADERS);
        assert_eq!(p.txs().len(), 1);
        let fed = p.feed(b"TP/1.1\r\n\r\n");
        assert_eq!(fed.completed, 2);
        assert_eq!(
            buf(&p, 1, Sticky::HttpRequestLine),
            Some(&b"GET /b HTTP/1.1"[..])
        );
        // A line that does not start with a known method (case-sensitive) is more body.
        let p = one(b"GET /a HTTP/1.1\r\n\r\nget /b HTTP/1.1\r\n\r\nFOO /c\r\n\r\n");
        assert_eq!(p.txs().len(), 1);
        // An LF-only empty line starts the next request.
        let p = one(b"GET /a HTTP/1.1\r\n\r\n\nFOO /c HTTP/1.1\r\n\r\n");
        assert_eq!(buf(&p, 1, Sticky::HttpMethod), Some(&b"FOO"[..]));
        // Leading empty lines are skipped.
        let p = one(b"\r\n\n\r\nGET /x HTTP/1.1\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpUri), Some(&b"/x"[..]));
        assert_eq!(p.txs().len(), 1);
    }

    #[test]
    fn http_0_9_completes_at_once_and_ends_the_stream() {
        let mut p = HttpRequests::default();
        let fed = p.feed(b"GET /x\r\n");
        assert_eq!(fed.completed, 1);
        let tx = &p.txs()[0];
        assert_eq!(tx.progress, PROGRESS_COMPLETE);
        assert_eq!(tx.buffer(Sticky::HttpProtocol), None);
        assert_eq!(tx.buffer(Sticky::HttpUri), Some(&b"/x"[..]));
        assert_eq!(tx.buffer(Sticky::HttpStart), Some(&b"GET /x\r\n"[..]));
        // Later data is an error.
        assert!(p.feed(b"GET /y HTTP/1.1\r\n\r\n").error);
        assert!(p.stopped());
        assert_eq!(p.feed(b"x"), Fed::default());
        // Headers in the same feed make it a request without protocol.
        let p = one(b"GET /x\r\nHost: a\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpHost), Some(&b"a"[..]));
        assert_eq!(buf(&p, 0, Sticky::HttpProtocol), None);
    }

    #[test]
    fn close_finishes_what_libhtp_finishes() {
        // A partial header block ends as trailers would: no host.
        let mut p = HttpRequests::default();
        p.feed(b"GET /x HTTP/1.1\r\nHost: A\r\nX: partial");
        assert_eq!(p.txs()[0].progress, PROGRESS_HEADERS);
        assert_eq!(
            p.close(),
            Fed {
                completed: 1,
                error: false
            }
        );
        let tx = &p.txs()[0];
        assert_eq!(tx.progress, PROGRESS_COMPLETE);
        assert_eq!(tx.buffer(Sticky::HttpHeader), Some(&b"Host: A\r\n"[..]));
        assert_eq!(tx.buffer(Sticky::HttpHost), None);
        assert_eq!(
            tx.buffer(Sticky::HttpHeaderRaw),
            Some(&b"Host: A\r\nX: partial"[..])
        );
        // A partial request line is parsed.
        let mut p = HttpRequests::default();
        p.feed(b"GET /x HTTP/1.1");
        assert_eq!(p.close().completed, 1);
        assert_eq!(buf(&p, 0, Sticky::HttpProtocol), Some(&b"HTTP/1.1"[..]));
        assert_eq!(buf(&p, 0, Sticky::HttpHeaderRaw), None);
        // A request waiting on its next line completes; a body does not.
        let mut p = HttpRequests::default();
        p.feed(b"GET /a HTTP/1.1\r\n\r\nGET /b");
        assert_eq!(p.close().completed, 1);
        assert_eq!(p.txs().len(), 1);
        let mut p = HttpRequests::default();
        p.feed(b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
        assert_eq!(p.close().completed, 0);
        assert_eq!(p.txs()[0].progress, PROGRESS_BODY);
    }

    #[test]
    fn connect_waits_for_the_response() {
        let mut p = HttpRequests::default();
        let fed = p.feed(b"CONNECT Ex.COM:443 HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\n\r\n");
        assert_eq!(fed, Fed::default());
        p.feed(b"GET /b HTTP/1.1\r\n\r\n");
        assert_eq!(p.txs().len(), 1);
        let tx = &p.txs()[0];
        assert_eq!(tx.progress, PROGRESS_HEADERS);
        assert_eq!(tx.buffer(Sticky::HttpHostRaw), Some(&b"ex.com"[..]));
        // CONNECT without a target is an error.
        assert!(parse(&[b"CONNECT\r\n\r\n"]).1[0].error);
    }

    #[test]
    fn invalid_bodies_are_errors() {
        for block in [
            &b"Content-Length: abc\r\n\r\n"[..],
            b"Content-Length: \r\n\r\n",
            b"Transfer-Encoding: gzip\r\n\r\n",
            b"Transfer-Encoding: chunked;q=1\r\n\r\n",
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"Transfer-Encoding: chunked\r\n\r\n\r\n",
            b"Transfer-Encoding: chunked\r\n\r\n80000000\r\n",
        ] {
            let req = [&b"POST / HTTP/1.1\r\n"[..], block].concat();
            assert!(
                parse(&[&req]).1[0].error,
                "{:?}",
                block.escape_ascii().to_string()
            );
        }
        // Junk around Content-Length digits is ignored.
        let p = one(b"POST / HTTP/1.1\r\nContent-Length: x5y\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n");
        assert_eq!(p.txs().len(), 2);
        let p = one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n");
        assert_eq!(p.txs()[0].progress, PROGRESS_BODY);
    }

    /// libhtp itself depends on the cut in places, which these requests avoid: the hard
    /// limit on buffered lines; telling HTTP/0.9 from a request without protocol
    /// (headers in the same feed); a request ending at the end of a feed, which
    /// completes at once instead of taking the next line as more body when that line
    /// does not start with a known method; and a header line ending a feed, which is
    /// kept for folding whatever comes next (a following line of CRs then folds into
    /// it instead of starting an empty-named header).
    #[test]
    fn any_cut_gives_the_same_transactions() {
        let reqs: [&[u8]; 6] = [
            b"GET /a%41/../b?x=%41 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nUser-Agent: foo\r\nCookie: c=1\r\nAccept: */*\r\n\r\n",
            b"POST /p HTTP/1.1\r\nContent-Length: 25\r\nX: a\r\n b\r\n\r\nGET /in-body HTTP/1.1\r\n\r\nGET /2 HTTP/1.0\n\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /next HTTP/1.1\r\nA: \x00\r\n\r\n",
            b"\r\nGET http://u@H.Ex:1/x/./y/../z?q=%2f+ HTTP/1.1\r\nBad\r\nA: 1\r\nA: 2\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: 1\r\n cont\r\n\tmore\r\nB:\r\n\r\n\nFOO /c HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n\r\n\nPUT /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        ];
        for req in reqs {
            let whole = snapshot(&one(req));
            for step in 1..req.len() {
                let chunks: Vec<&[u8]> = req.chunks(step).collect();
                let (p, feds) = parse(&chunks);
                assert!(feds.iter().all(|f| !f.error));
                assert_eq!(
                    snapshot(&p),
                    whole,
                    "{:?} by {step}",
                    req.escape_ascii().to_string()
                );
                let completed: u32 = feds.iter().map(|f| f.completed).sum();
                assert_eq!(
                    completed as usize,
                    p.txs().iter().filter(|t| t.progress == 5).count()
                );
            }
        }
    }

    #[test]
    fn limits_are_libhtp_s() {
        let line = [&b"X: "[..], &[b'a'; 20000], b"\r\n\r\n"].concat();
        let req = [&b"GET / HTTP/1.1\r\n"[..], &line].concat();
        // Buffered across feeds past 18000 bytes: an error.
        let (p, feds) = parse(&[&req[..100], &req[100..]]);
        assert_eq!(
            feds[1],
            Fed {
                completed: 0,
                error: true
            }
        );
        assert!(p.stopped() && p.held() < 1000);
        // Whole in one feed: libhtp never checks it.
        let p = one(&req);
        assert_eq!(p.txs()[0].progress, PROGRESS_COMPLETE);
        assert!(p.held() > 40000);

        let headers = |n: usize| {
            let mut r = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..n {
                r.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
            }
            r.extend_from_slice(b"\r\n");
            r
        };
        assert!(!parse(&[&headers(MAX_HEADERS + 1)]).1[0].error);
        assert!(parse(&[&headers(MAX_HEADERS + 2)]).1[0].error);

        // Repeats past 64 (after each header's first) are dropped.
        let mut r = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            r.extend_from_slice(format!("X: {i}\r\n").as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        let p = one(&r);
        let x = buf(&p, 0, Sticky::HttpHeader).unwrap_or_default();
        assert!(x.ends_with(b", 65\r\n"), "{}", x.escape_ascii());

        // Transactions: 513 per connection, retired ones included.
        let mut p = HttpRequests::default();
        for i in 0..=MAX_TX {
            assert_eq!(p.feed(b"GET / HTTP/1.1\r\n\r\n").completed, 1, "{i}");
            p.retire(|t| t.progress == PROGRESS_COMPLETE);
        }
        assert!(p.txs().is_empty());
        assert!(p.feed(b"GET / HTTP/1.1\r\n\r\n").error);
    }

    #[test]
    fn retire_reuses_storage() {
        let mut p = HttpRequests::default();
        p.feed(b"GET /1 HTTP/1.1\r\nA: 1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\nB: 2");
        assert_eq!(p.txs().len(), 3);
        // Stops at the first not done; never drops the one being parsed.
        p.retire(|t| t.id != 1);
        assert_eq!(p.txs()[0].id, 1);
        p.retire(|_| true);
        assert_eq!(p.txs().len(), 1);
        assert_eq!(p.txs()[0].id, 2);
        p.feed(b"\r\n\r\n");
        assert_eq!(buf(&p, 0, Sticky::HttpHeader), Some(&b"B: 2\r\n"[..]));
        p.retire(|_| true);
        assert!(p.txs().is_empty());
        // The next transaction reuses a retired one's buffers.
        let spare = p.spare.len();
        assert!(spare > 0);
        p.feed(b"GET /4 HTTP/1.1\r\nA: 1\r\n\r\n");
        assert_eq!(p.spare.len(), spare - 1);
        assert_eq!(p.txs()[0].id, 3);
        assert_eq!(buf(&p, 0, Sticky::HttpHeader), Some(&b"A: 1\r\n"[..]));
        assert!(p.txs()[0].hdrs.capacity() > 0);
        // Reset: a new connection, ids from 0.
        p.reset();
        assert!(p.txs().is_empty() && p.held() == 0);
        p.feed(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(p.txs()[0].id, 0);
    }
}
