//! The TCP app layer of one worker: which flows speak TLS, and the client's ClientHello
//! (server name, JA3), fed as Suricata 7's stream engine feeds its app layer in IDS mode.
//!
//! Suricata hands a direction's bytes to the app layer when the peer acknowledges them
//! (`StreamTcpReassembleHandleSegmentUpdateACK` on a packet of the other direction), so
//! a client's ClientHello is detected and parsed on the server's packet that
//! acknowledges it, and its transaction (`tls.sni`, `ja3.hash`, `ja3.string`) is
//! inspected on the client's next packet. Certificates (read only when some rule inspects
//! them) are ready once the handshake is done (`HANDSHAKE_DONE`: the first certificate's
//! subject and issuer were read, or application data was seen): the server's is
//! inspected on the server's next packet, the client's on the client's. Every TLS record completed that way asks for raw inspection of its direction
//! (`AppLayerParserTriggerRawStreamReassembly`), which the caller forwards to the stream.
//!
//! A flow is followed from its first data: its bytes are copied in stream order from
//! offset 0 (segments ahead of a hole wait for it) until the protocol is told (TLS or
//! not) and then, for TLS, until the handshake ends: at the first application data
//! Suricata stops inspecting the flow's content ([`TcpStep::encrypted_now`]). The copies
//! live in a per-worker slab of connections whose buffers are reused, so a warm worker
//! allocates nothing per packet.
//!
//! Not modelled (besides what [`super::tls`] lists):
//! - only the client's first bytes tell the protocol: a server speaking first, and other
//!   protocols' parsers (whose own raw-inspection triggers Suricata follows, moving
//!   `content` alerts of HTTP flows, say, to other packets), are not followed;
//! - a gap (the peer acknowledged bytes never seen): the direction is given up and
//!   counted, where Suricata's TLS parser fails and its app layer stops in ways that
//!   change which packets its rules see;
//! - end of stream: Suricata also hands the app layer unacknowledged bytes at a RST or
//!   at the flow's end; here only acknowledged bytes are parsed.

use std::collections::HashMap;

use super::http::{self, HttpRequests, HttpTx};
use super::http_response::{HttpResponses, ResponseTx};
use super::tls::{self, Probe, TlsFlow, TlsSide};

/// Suricata's TLS probing parser applies to flows with this server port.
const TLS_PROBE_PORT: u16 = tls::TLS_PORT;

/// Bytes a direction of a TLS flow may hold before it is given up (a ClientHello is far
/// smaller).
pub const MAX_PENDING: usize = 64 << 10;
/// Bytes a direction may hold before the flow is told TLS: past them (a server speaking
/// first, say) the flow is no longer followed, so flows that are not TLS cost little.
pub const MAX_PENDING_UNTOLD: usize = 16 << 10;
/// Bytes all followed flows of a worker may hold together: past them new data is not
/// followed (counted with [`TcpAppStats::given_up`]), so a flood of flows whose data is
/// never acknowledged cannot grow the app layer without bound.
pub const MAX_HELD: usize = 32 << 20;

/// What the app layer made of one TCP packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStep {
    /// The flow is TLS (told at this packet or before).
    pub tls: bool,
    /// The flow is HTTP (told at this packet or before).
    pub http: bool,
    /// `[to-server, to-client]`: records of that direction completed at this packet, so
    /// its raw stream is to be inspected at its next packet.
    pub trigger_raw: [bool; 2],
    /// Suricata stopped content inspection of the flow at this packet (the handshake
    /// ended): later packets' payloads are not read (see
    /// [`crate::engine::FlowInfo::payload_unread`]).
    pub encrypted_now: bool,
}

/// What [`TcpApp::take_tx`] found ready at a packet: the sender's side, whose hello and
/// certificate are inspected (`*_fresh`: for the first time; otherwise again, for the
/// rules without a positive fast pattern, see [`crate::engine::Settle`]).
#[derive(Debug)]
pub struct ReadyTx<'a> {
    pub side: &'a TlsSide,
    pub hello: bool,
    pub hello_fresh: bool,
    pub certs: bool,
    pub certs_fresh: bool,
    /// The transaction's progress in the packet's direction.
    pub progress: u8,
    /// The flow's settled rules.
    pub settled: &'a mut Vec<u32>,
}

/// Counters of the TCP app layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpAppStats {
    /// Flows told TLS.
    pub tls_flows: u64,
    /// ClientHellos whose server name was parsed.
    pub tls_sni: u64,
    /// Server certificates whose subject and issuer were read (only while some rule
    /// inspects certificates).
    pub tls_certs: u64,
    /// Directions given up: a hole in the data, more than [`MAX_PENDING`] waiting, or
    /// the worker's [`MAX_HELD`] reached.
    pub given_up: u64,
    /// Bytes the followed flows hold now, and at most.
    pub held: u64,
    pub held_peak: u64,
    /// Flows told HTTP, and their requests and responses parsed to the end.
    pub http_flows: u64,
    pub http_requests: u64,
    pub http_responses: u64,
    /// Responses whose body was compressed (`Content-Encoding`), which `file.data` rules
    /// did not see: decompression is not modelled.
    pub http_bodies_compressed: u64,
}

#[derive(Debug, Default)]
struct Conn {
    tls: TlsFlow,
    /// The protocol is told: TLS (else the connection would have been freed).
    is_tls: bool,
    /// The client's requests, once the flow is told HTTP.
    http: HttpRequests,
    /// Where the server's responses end, once the flow is told HTTP.
    responses: HttpResponses,
    is_http: bool,
    /// `(request id, rule index)`: rules done with a live request (see
    /// [`crate::engine::Engine::inspect_http`]).
    http_settled: Vec<(u64, u32)>,
    /// The same for live responses.
    response_settled: Vec<(u64, u32)>,
    /// Per direction (`[client, server]`): bytes received in order, not yet fed.
    pending: [Vec<u8>; 2],
    /// Per direction: segments that arrived ahead of a hole, by stream offset, until the
    /// hole fills (as Suricata's stream reorders them before its app layer sees them).
    ahead: [Vec<(u32, Vec<u8>)>; 2],
    /// Stream offset of the first pending byte.
    fed: [u32; 2],
    /// The direction is no longer followed (a hole, too much data, a parser error).
    stopped: [bool; 2],
    /// The ClientHello's buffers were inspected.
    hello_inspected: bool,
    /// The ServerHello's (JA3S) were.
    server_hello_inspected: bool,
    /// `[to-server, to-client]`: that direction's certificate (the client's, the
    /// server's) was inspected.
    certs_inspected: [bool; 2],
    /// `[to-server, to-client]`: the parser ran (either direction, or at an end of
    /// stream) since that direction's last inspection (Suricata's `updated_ts/tc`).
    updated: [bool; 2],
    /// Per direction: the stream offset just past its FIN, once seen.
    fin_at: [Option<u32>; 2],
    /// Per direction: its FIN was acknowledged (the app layer's end-of-stream call).
    eof: [bool; 2],
    /// Per direction: the furthest stream offset acknowledged so far.
    acked: [u32; 2],
    /// Per direction: inspected once the transaction finished (both ends), then never.
    finished_inspected: [bool; 2],
    /// Rules settled in this flow (see [`crate::engine::Settle`]).
    settled: Vec<u32>,
    /// The flow's server port is where Suricata's TLS probing parser runs.
    probing_port: bool,
}

impl Conn {
    /// Bytes this connection holds, both directions.
    fn held(&self) -> usize {
        let mut n = self.tls.client.held()
            + self.tls.server.held()
            + self.http.held()
            + self.responses.held();
        for d in 0..2 {
            n += self.pending[d].len() + self.ahead[d].iter().map(|(_, b)| b.len()).sum::<usize>();
        }
        n
    }

    /// Drops what one direction holds and follows it no more.
    fn stop_direction(&mut self, d: usize) {
        self.stopped[d] = true;
        self.pending[d].clear();
        self.ahead[d].clear();
    }

    /// Appends the part of `payload` (at stream offset `offset`, not past the end of
    /// what is held) that is new.
    fn append(&mut self, d: usize, offset: u32, payload: &[u8]) {
        let next = u64::from(self.fed[d]) + self.pending[d].len() as u64;
        let end = u64::from(offset) + payload.len() as u64;
        if end > next {
            let skip = (next - u64::from(offset)) as usize;
            self.pending[d].extend_from_slice(&payload[skip..]);
        }
    }

    fn reset(&mut self) {
        self.tls.reset();
        self.is_tls = false;
        self.http.reset();
        self.responses.reset();
        self.is_http = false;
        self.http_settled.clear();
        self.response_settled.clear();
        for p in &mut self.pending {
            p.clear();
        }
        for a in &mut self.ahead {
            a.clear();
        }
        self.fed = [0; 2];
        self.stopped = [false; 2];
        self.hello_inspected = false;
        self.server_hello_inspected = false;
        self.certs_inspected = [false; 2];
        self.updated = [false; 2];
        self.fin_at = [None; 2];
        self.eof = [false; 2];
        self.acked = [0; 2];
        self.finished_inspected = [false; 2];
        self.settled.clear();
        self.probing_port = false;
    }
}

/// Whether an HTTP flow has a request for inspection at the client's next packet.
fn http_due(c: &Conn) -> bool {
    c.http
        .txs()
        .iter()
        .any(|t| t.updated || t.progress == http::PROGRESS_COMPLETE)
}

/// Whether an HTTP flow has a response for inspection at the server's next packet.
fn response_due(c: &Conn) -> bool {
    c.responses
        .txs()
        .iter()
        .any(|t| t.updated || t.progress == http::PROGRESS_COMPLETE)
}

/// The peer acknowledged direction `to_server` of an HTTP flow up to `acked`: the
/// client's bytes go to the request parser, the server's to the response framing, and an
/// acknowledged FIN ends that side's stream (libhtp's close finishes a header block or a
/// response cut short). A parser error stops the flow's following both ways, as Suricata
/// disables the flow's app layer; so does a tunnel (a CONNECT's 2xx, a 101), after which
/// neither side is HTTP.
fn on_ack_http(c: &mut Conn, to_server: bool, acked: u32) -> http::Fed {
    let d = usize::from(!to_server);
    let mut out = http::Fed::default();
    if c.stopped[d] {
        return out;
    }
    if acked > c.fed[d] {
        let n = ((acked - c.fed[d]) as usize).min(c.pending[d].len());
        if n > 0 {
            let Conn {
                http,
                responses,
                pending,
                ..
            } = c;
            let fed = if to_server {
                http.feed(&pending[d][..n])
            } else {
                responses.feed(&pending[d][..n], |id| http.answer(id))
            };
            pending[d].drain(..n);
            c.fed[d] += n as u32;
            out = fed;
        } else if !c.ahead[d].is_empty() {
            // Acknowledged past a hole: the parser cannot go on.
            out.error = true;
        }
    }
    if !out.error && !c.eof[d] && c.fin_at[d].is_some_and(|f| acked > f) {
        c.eof[d] = true;
        let fed = if to_server {
            c.http.close()
        } else {
            c.responses.close()
        };
        out.completed += fed.completed;
        out.error |= fed.error;
        // Nothing more comes from that side.
        c.stop_direction(d);
    }
    let held = if to_server {
        c.http.held()
    } else {
        c.responses.held()
    };
    if out.error || c.responses.tunnel() {
        c.stop_direction(0);
        c.stop_direction(1);
    } else if held > MAX_PENDING {
        out.error = true;
        c.stop_direction(d);
    }
    out
}

/// [`on_ack_http`], counted: whether a request (or, acknowledged by the client, a
/// response) completed: that direction's raw stream is then inspected at its next packet.
fn http_acked(c: &mut Conn, stats: &mut TcpAppStats, to_server: bool, acked: u32) -> bool {
    let fed = on_ack_http(c, to_server, acked);
    if to_server {
        stats.http_requests += u64::from(fed.completed);
    } else {
        stats.http_responses += u64::from(fed.completed);
    }
    stats.given_up += u64::from(fed.error);
    fed.completed > 0
}

/// Whether the client's ClientHello was parsed: it has a server name or a JA3 string
/// (with JA3 on, even one cut short, which `ja3.string` still inspects).
fn hello_parsed(client: &TlsSide) -> bool {
    client.sni().is_some() || client.ja3_string().is_some()
}

/// Bytes the TLS parser of direction `to_server` holds.
fn side_held(tls: &TlsFlow, to_server: bool) -> usize {
    if to_server {
        tls.client.held()
    } else {
        tls.server.held()
    }
}

/// The TLS transaction's progress going `to_server` or to the client
/// (`SSLGetAlstateProgress`): 3 finished (both ends of stream), 2 the handshake done, 1
/// (to the server only) the server's certificate read, else 0.
fn progress(c: &Conn, to_server: bool) -> u8 {
    if c.eof == [true; 2] {
        3
    } else if c.tls.handshake_done() {
        2
    } else if to_server
        && (c.tls.server.cert_subject().is_some() || c.tls.server.cert_issuer().is_some())
    {
        1
    } else {
        0
    }
}

/// Whether direction `to_server` had its hello or certificate inspected already.
fn inspected_any(c: &Conn, to_server: bool) -> bool {
    let hello = if to_server {
        c.hello_inspected
    } else {
        c.server_hello_inspected
    };
    hello || c.certs_inspected[usize::from(!to_server)]
}

/// What of a flow's TLS transaction waits at a packet going `to_server` (or to the
/// client): the sender's hello and certificate for the first time, or another
/// inspection (see [`TcpApp::set_recheck`]).
#[derive(Clone, Copy, Debug)]
struct Due {
    hello: bool,
    certs: bool,
    again: bool,
}

impl Due {
    fn of(c: &Conn, certs_on: bool, recheck: bool, to_server: bool) -> Due {
        let d = usize::from(!to_server);
        Due {
            hello: hello_pending(c, to_server),
            certs: certs_pending(c, certs_on, to_server),
            again: recheck
                && c.is_tls
                && inspected_any(c, to_server)
                && (c.updated[d] || progress(c, to_server) == 3)
                && !c.finished_inspected[d],
        }
    }

    fn any(self) -> bool {
        self.hello || self.certs || self.again
    }
}

/// Whether the hello going `to_server` (the client's: server name, JA3) or to the client
/// (the server's: JA3S, computed only while JA3 is on) waits for inspection.
fn hello_pending(c: &Conn, to_server: bool) -> bool {
    if to_server {
        !c.hello_inspected && hello_parsed(&c.tls.client)
    } else {
        !c.server_hello_inspected && c.tls.server.ja3_string().is_some()
    }
}

/// Whether the certificate going `to_server` (the client's) or to the client waits for
/// inspection: certificates are read and the handshake is done.
fn certs_pending(c: &Conn, certs_on: bool, to_server: bool) -> bool {
    certs_on && c.is_tls && !c.certs_inspected[usize::from(!to_server)] && c.tls.handshake_done()
}

/// The followed TCP flows of one worker, by flow slot.
#[derive(Debug, Default)]
pub struct TcpApp {
    /// Which protocols are told and parsed: TLS (some TLS rule), HTTP (some rule on an
    /// HTTP request). [`TcpApp::set_protocols`]; TLS alone by default.
    no_tls: bool,
    http_on: bool,
    /// HTTP request bodies are kept ([`TcpApp::set_http_body`]).
    http_body: bool,
    /// HTTP response transactions are kept ([`TcpApp::set_http_responses`]).
    http_responses: bool,
    /// The rules settled for the request being inspected (reused).
    http_scratch: Vec<u32>,
    /// JA3 is computed (Suricata turns it on when a rule uses a `ja3` keyword; it also
    /// changes how one malformed hello is parsed).
    ja3: bool,
    /// Certificates are read (some rule inspects them).
    certs: bool,
    /// Some TLS rule runs without a positive fast pattern: a TLS flow's state is kept
    /// until both ends finished, and inspected again at each update (see
    /// [`crate::engine::Settle`]).
    recheck: bool,
    /// [`MAX_HELD`] unless set (0) otherwise, for tests.
    max_held: usize,
    by_slot: HashMap<u32, u32>,
    conns: Vec<Conn>,
    free: Vec<u32>,
    pub stats: TcpAppStats,
}

impl TcpApp {
    /// Starts following the flow in `slot`, whose server listens on `server_port`.
    pub fn open(&mut self, slot: u32, server_port: u16) {
        if self.by_slot.contains_key(&slot) {
            return;
        }
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(Conn::default());
                (self.conns.len() - 1) as u32
            }
        };
        let c = &mut self.conns[i as usize];
        c.reset();
        c.tls.set_ja3(self.ja3);
        c.tls.set_certs(self.certs);
        c.probing_port = server_port == TLS_PROBE_PORT;
        c.http.set_keep_body(self.http_body);
        c.responses.set_keep_body(self.http_responses);
        self.by_slot.insert(slot, i);
    }

    fn max_held(&self) -> usize {
        if self.max_held == 0 {
            MAX_HELD
        } else {
            self.max_held
        }
    }

    /// Which protocols flows opened from now on are told and parsed as.
    pub fn set_protocols(&mut self, tls: bool, http: bool) {
        self.no_tls = !tls;
        self.http_on = http;
    }

    /// Whether HTTP flows opened from now on keep request bodies (some rule reads them).
    pub fn set_http_body(&mut self, on: bool) {
        self.http_body = on;
    }

    /// Whether HTTP flows opened from now on keep response transactions and bodies
    /// (some rule reads them).
    pub fn set_http_responses(&mut self, on: bool) {
        self.http_responses = on;
    }

    /// Whether flows opened from now on compute JA3.
    pub fn set_ja3(&mut self, on: bool) {
        self.ja3 = on;
    }

    /// Whether flows opened from now on read the server's certificate.
    pub fn set_certs(&mut self, on: bool) {
        self.certs = on;
    }

    /// Whether TLS flows are inspected again at each update (and kept to their end).
    pub fn set_recheck(&mut self, on: bool) {
        self.recheck = on;
    }

    /// A FIN of direction `to_server` of the flow in `slot`, its stream offset just past
    /// the packet's payload.
    pub fn on_fin(&mut self, slot: u32, to_server: bool, end: u32) {
        if let Some(c) = self.conn(slot) {
            let d = usize::from(!to_server);
            c.fin_at[d].get_or_insert(end);
        }
    }

    /// Stops following the flow in `slot` (it ended, or nothing more is needed of it).
    pub fn close(&mut self, slot: u32) {
        // Every ended flow comes here; most were never followed (removing from a map
        // hashes the key even when the map is empty).
        if self.by_slot.is_empty() {
            return;
        }
        let before = self.held_by(slot);
        self.close_inner(slot);
        self.account(before, 0);
    }

    fn close_inner(&mut self, slot: u32) {
        if let Some(i) = self.by_slot.remove(&slot) {
            if let Some(c) = self.conns.get_mut(i as usize) {
                c.stop_direction(0);
                c.stop_direction(1);
            }
            self.free.push(i);
        }
    }

    /// Bytes the flow in `slot` holds.
    fn held_by(&self, slot: u32) -> usize {
        self.get(slot).map_or(0, Conn::held)
    }

    /// A flow went from holding `before` bytes to `after`.
    fn account(&mut self, before: usize, after: usize) {
        let held = (self.stats.held as usize + after).saturating_sub(before);
        self.stats.held = held as u64;
        self.stats.held_peak = self.stats.held_peak.max(self.stats.held);
    }

    pub fn is_open(&self, slot: u32) -> bool {
        self.by_slot.contains_key(&slot)
    }

    fn conn(&mut self, slot: u32) -> Option<&mut Conn> {
        let i = *self.by_slot.get(&slot)?;
        self.conns.get_mut(i as usize)
    }

    /// Records the payload of a packet of the flow in `slot` going `to_server`, which
    /// starts at stream offset `offset`. Bytes are taken in stream order: a segment ahead
    /// of a hole waits until the hole fills; a byte received twice keeps its first copy.
    pub fn on_data(&mut self, slot: u32, to_server: bool, offset: u32, payload: &[u8]) {
        let before = self.held_by(slot);
        if self.stats.held as usize + payload.len() > self.max_held() {
            let d = usize::from(!to_server);
            match self.conn(slot) {
                // A download past the budget stops the response framing alone: the
                // client's requests are still parsed.
                Some(c) if c.is_tls || (c.is_http && !to_server) => c.stop_direction(d),
                Some(_) => self.close_inner(slot),
                None => return,
            }
            self.stats.given_up += 1;
        } else {
            self.on_data_inner(slot, to_server, offset, payload);
        }
        let after = self.held_by(slot);
        self.account(before, after);
    }

    fn on_data_inner(&mut self, slot: u32, to_server: bool, offset: u32, payload: &[u8]) {
        let d = usize::from(!to_server);
        let Some(&i) = self.by_slot.get(&slot) else {
            return;
        };
        let Some(c) = self.conns.get_mut(i as usize) else {
            return;
        };
        if c.stopped[d] || payload.is_empty() {
            return;
        }
        let held: usize = c.ahead[d].iter().map(|(_, b)| b.len()).sum();
        let total = c.pending[d].len() + held + payload.len();
        if !c.is_tls && !c.is_http && total > MAX_PENDING_UNTOLD {
            // Not TLS so far, and too much to be a hello's flight: not followed further.
            self.close_inner(slot);
            return;
        }
        if total > MAX_PENDING {
            c.stop_direction(d);
            self.stats.given_up += 1;
            return;
        }
        let next = u64::from(c.fed[d]) + c.pending[d].len() as u64;
        if u64::from(offset) > next {
            c.ahead[d].push((offset, payload.to_vec()));
            return;
        }
        c.append(d, offset, payload);
        // Segments waiting ahead that the new bytes reach.
        while let Some(i) = c.ahead[d]
            .iter()
            .position(|&(o, _)| u64::from(o) <= u64::from(c.fed[d]) + c.pending[d].len() as u64)
        {
            let (o, b) = c.ahead[d].swap_remove(i);
            c.append(d, o, &b);
        }
    }

    /// The peer acknowledged direction `to_server` of the flow in `slot` up to stream
    /// offset `acked`: the app layer takes those bytes (protocol detection first, then
    /// the TLS parser). Returns what happened; a flow told not TLS is closed.
    pub fn on_ack(&mut self, slot: u32, to_server: bool, acked: u32) -> TcpStep {
        let before = self.held_by(slot);
        let step = self.on_ack_inner(slot, to_server, acked);
        let after = self.held_by(slot);
        self.account(before, after);
        step
    }

    fn on_ack_inner(&mut self, slot: u32, to_server: bool, acked: u32) -> TcpStep {
        let d = usize::from(!to_server);
        let mut step = TcpStep::default();
        let Some(i) = self.by_slot.get(&slot).copied() else {
            return step;
        };
        let Some(c) = self.conns.get_mut(i as usize) else {
            return step;
        };
        step.tls = c.is_tls;
        step.http = c.is_http;
        if c.is_http {
            step.trigger_raw[d] = http_acked(c, &mut self.stats, to_server, acked);
            return step;
        }
        if c.is_tls && !c.eof[d] && c.fin_at[d].is_some_and(|f| acked > f) {
            // The FIN acknowledged: the app layer's end-of-stream call, an update.
            c.eof[d] = true;
            c.updated = [true; 2];
        }
        if c.is_tls && acked > c.acked[d] {
            // New bytes acknowledged: Suricata's parser runs on them (it goes on parsing
            // records after the handshake, though they are no longer copied here).
            c.updated = [true; 2];
        }
        c.acked[d] = c.acked[d].max(acked);
        if c.stopped[d] || acked <= c.fed[d] {
            return step;
        }
        let n = ((acked - c.fed[d]) as usize).min(c.pending[d].len());
        if n == 0 {
            if !c.ahead[d].is_empty() {
                // The peer acknowledged past a hole: a gap, which TLS does not cross.
                c.stop_direction(d);
                self.stats.given_up += 1;
            }
            return step;
        }
        if !c.is_tls {
            // Suricata tells the protocol from the client's first acknowledged bytes.
            if !to_server {
                return step;
            }
            let h = if self.http_on {
                http::probe(&c.pending[d][..n])
            } else {
                http::Probe::NotHttp
            };
            match h {
                http::Probe::NeedMore => return step,
                http::Probe::Http => {
                    c.is_http = true;
                    step.http = true;
                    self.stats.http_flows += 1;
                    step.trigger_raw[0] = http_acked(c, &mut self.stats, to_server, acked);
                    return step;
                }
                http::Probe::NotHttp if self.no_tls => {
                    self.close_inner(slot);
                    return step;
                }
                http::Probe::NotHttp => {}
            }
            match tls::probe_with_pp(&c.pending[d][..n], true, c.probing_port) {
                Probe::NeedMore => return step,
                Probe::NotTls => {
                    self.close_inner(slot);
                    return step;
                }
                Probe::Tls => {
                    c.is_tls = true;
                    step.tls = true;
                    self.stats.tls_flows += 1;
                }
            }
        }
        let had_sni = c.tls.client.sni().is_some();
        let had_cert = c.tls.server.cert_subject().is_some();
        let fed = c.tls.feed(to_server, &c.pending[d][..n]);
        c.updated = [true; 2];
        c.pending[d].drain(..n);
        c.fed[d] += n as u32;
        step.trigger_raw[d] = fed.records_completed > 0;
        step.encrypted_now = fed.encrypted_now;
        if fed.error || c.tls.stopped() {
            // A parser error stops Suricata's app layer both ways.
            c.stop_direction(0);
            c.stop_direction(1);
        } else if side_held(&c.tls, to_server) > MAX_PENDING {
            // A handshake message or certificate chain past the bound: given up, as a
            // direction holding too much waiting is.
            c.stop_direction(d);
            c.tls.stop_side(to_server);
            self.stats.given_up += 1;
        }
        if !had_sni && c.tls.client.sni().is_some() {
            self.stats.tls_sni += 1;
        }
        if !had_cert && c.tls.server.cert_subject().is_some() {
            self.stats.tls_certs += 1;
        }
        step
    }

    /// The client's side once its ClientHello is parsed and not yet inspected (its
    /// server name and JA3); marks the hello inspected.
    #[cfg(test)]
    fn take_hello(&mut self, slot: u32) -> Option<&TlsSide> {
        let c = self.conn(slot)?;
        if !hello_pending(c, true) {
            return None;
        }
        c.hello_inspected = true;
        Some(&c.tls.client)
    }

    #[cfg(test)]
    fn has_hello(&self, slot: u32, to_server: bool) -> bool {
        self.get(slot).is_some_and(|c| hello_pending(c, to_server))
    }

    #[cfg(test)]
    fn has_certs(&self, slot: u32, to_server: bool) -> bool {
        self.get(slot)
            .is_some_and(|c| certs_pending(c, self.certs, to_server))
    }

    /// [`TcpApp::take_tx`] for a side's certificate alone.
    #[cfg(test)]
    fn take_certs(&mut self, slot: u32, to_server: bool) -> Option<&TlsSide> {
        self.take_tx(slot, to_server)
            .filter(|r| r.certs_fresh)
            .map(|r| r.side)
    }

    #[cfg(test)]
    fn has_recheck(&self, slot: u32, to_server: bool) -> bool {
        self.get(slot)
            .is_some_and(|c| Due::of(c, self.certs, self.recheck, to_server).again)
    }

    /// What of the flow's TLS transaction is ready at a packet going `to_server` (or to
    /// the client): the sender's hello and certificate, each marked inspected, and
    /// whether the transaction is inspected again. `None` when nothing is.
    pub fn take_tx(&mut self, slot: u32, to_server: bool) -> Option<ReadyTx<'_>> {
        let (on, recheck) = (self.certs, self.recheck);
        let c = self.conn(slot)?;
        let due = Due::of(c, on, recheck, to_server);
        if !due.any() {
            return None;
        }
        let d = usize::from(!to_server);
        let progress = progress(c, to_server);
        c.updated[d] = false;
        if progress == 3 {
            c.finished_inspected[d] = true;
        }
        if to_server {
            c.hello_inspected |= due.hello;
        } else {
            c.server_hello_inspected |= due.hello;
        }
        c.certs_inspected[d] |= due.certs;
        let hello = if to_server {
            c.hello_inspected
        } else {
            c.server_hello_inspected
        };
        let certs = c.certs_inspected[d];
        let Conn { tls, settled, .. } = c;
        Some(ReadyTx {
            side: if to_server { &tls.client } else { &tls.server },
            hello,
            hello_fresh: due.hello,
            certs,
            certs_fresh: due.certs,
            progress,
            settled,
        })
    }

    /// Whether [`TcpApp::take_tx`] (a TLS flow) or [`TcpApp::inspect_http`] (an HTTP
    /// flow) has something for a packet of the flow in `slot` going `to_server`: one
    /// lookup per packet of a followed flow.
    pub fn has_tx(&self, slot: u32, to_server: bool) -> bool {
        self.get(slot).is_some_and(|c| {
            if c.is_http {
                if to_server {
                    http_due(c)
                } else {
                    response_due(c)
                }
            } else {
                Due::of(c, self.certs, self.recheck, to_server).any()
            }
        })
    }

    /// Runs `inspect` on each request of the HTTP flow in `slot` that Suricata inspects
    /// at a packet going to the server (updated since its last inspection, or finished),
    /// with the rules done with that request (`inspect` adds those it settles). Finished
    /// requests are let go afterwards.
    pub fn inspect_http(&mut self, slot: u32, mut inspect: impl FnMut(&HttpTx, &mut Vec<u32>)) {
        let before = self.held_by(slot);
        let mut done = std::mem::take(&mut self.http_scratch);
        let Some(c) = self.conn(slot) else {
            self.http_scratch = done;
            return;
        };
        let Conn {
            http, http_settled, ..
        } = c;
        for tx in http.txs_mut() {
            if !(tx.updated || tx.progress == http::PROGRESS_COMPLETE) {
                continue;
            }
            tx.updated = false;
            done.clear();
            done.extend(http_settled.iter().filter(|s| s.0 == tx.id).map(|s| s.1));
            let had = done.len();
            tx.begin_inspection();
            inspect(tx, &mut done);
            tx.end_inspection();
            for &r in done.get(had..).unwrap_or_default() {
                http_settled.push((tx.id, r));
            }
        }
        http.retire(|tx| tx.progress == http::PROGRESS_COMPLETE && !tx.updated);
        let oldest = http.txs().first().map_or(u64::MAX, |t| t.id);
        http_settled.retain(|s| s.0 >= oldest);
        self.http_scratch = done;
        let after = self.held_by(slot);
        self.account(before, after);
    }

    /// Whether the HTTP flow in `slot` has response transactions not yet let go: at its
    /// end Suricata sends the client's direction a pseudo packet to inspect them
    /// (`FlowForceReassemblyNeedReassembly`).
    pub fn has_responses(&self, slot: u32) -> bool {
        self.get(slot)
            .is_some_and(|c| c.is_http && !c.responses.txs().is_empty())
    }

    /// [`TcpApp::inspect_http`] for the responses of the HTTP flow in `slot`, at a packet
    /// going to the client; `eof`: the flow's end-of-flow pseudo packet, which inspects
    /// every response and offers each body as it stands (`STREAM_EOF`). A response whose
    /// body was compressed is counted once, as its body is not followed.
    pub fn inspect_http_responses(
        &mut self,
        slot: u32,
        eof: bool,
        mut inspect: impl FnMut(&ResponseTx, &mut Vec<u32>),
    ) {
        let before = self.held_by(slot);
        let mut done = std::mem::take(&mut self.http_scratch);
        let mut compressed = 0;
        let Some(c) = self.conn(slot) else {
            self.http_scratch = done;
            return;
        };
        let Conn {
            responses,
            response_settled: settled,
            ..
        } = c;
        for tx in responses.txs_mut() {
            if !(eof || tx.updated || tx.progress == http::PROGRESS_COMPLETE) {
                continue;
            }
            tx.updated = false;
            done.clear();
            done.extend(settled.iter().filter(|s| s.0 == tx.id).map(|s| s.1));
            let had = done.len();
            tx.begin_inspection(eof);
            inspect(tx, &mut done);
            tx.end_inspection();
            for &r in done.get(had..).unwrap_or_default() {
                settled.push((tx.id, r));
            }
        }
        responses.retire(|tx| {
            let gone = eof || (tx.progress == http::PROGRESS_COMPLETE && !tx.updated);
            compressed += u64::from(gone && tx.compressed());
            gone
        });
        let oldest = responses.txs().first().map_or(u64::MAX, |t| t.id);
        settled.retain(|s| s.0 >= oldest);
        self.http_scratch = done;
        self.stats.http_bodies_compressed += compressed;
        let after = self.held_by(slot);
        self.account(before, after);
    }

    /// Follows no more bytes of the flow in `slot` (Suricata stopped parsing it); what
    /// was parsed stays until [`TcpApp::close`].
    pub fn stop(&mut self, slot: u32) {
        let before = self.held_by(slot);
        if let Some(c) = self.conn(slot) {
            c.stop_direction(0);
            c.stop_direction(1);
        }
        self.account(before, 0);
    }

    /// Whether nothing more is needed of the flow in `slot`: both directions stopped, and
    /// the ClientHello and the server's certificate, if any, inspected.
    pub fn done(&self, slot: u32) -> bool {
        self.get(slot).is_none_or(|c| {
            // With rechecks a TLS flow is kept until both ends finished and it was
            // inspected once more (its last inspections are then done).
            let finished = c.eof == [true; 2] && c.finished_inspected.contains(&true);
            let kept = (self.recheck && c.is_tls && !finished)
                || (c.is_http && (http_due(c) || !c.responses.txs().is_empty()));
            c.stopped == [true; 2]
                && !kept
                && !hello_pending(c, true)
                && !hello_pending(c, false)
                && !certs_pending(c, self.certs, true)
                && !certs_pending(c, self.certs, false)
        })
    }

    fn get(&self, slot: u32) -> Option<&Conn> {
        let i = *self.by_slot.get(&slot)?;
        self.conns.get(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(sni: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0; 32]);
        b.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        let mut ext = vec![0, 0];
        let list_len = sni.len() + 3;
        ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        ext.extend_from_slice(sni);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        let mut m = vec![1];
        m.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(&b);
        let mut r = vec![22, 3, 1];
        r.extend_from_slice(&(m.len() as u16).to_be_bytes());
        r.extend_from_slice(&m);
        r
    }

    #[test]
    fn a_hello_is_told_and_parsed_only_when_acknowledged() {
        let mut app = TcpApp::default();
        app.open(7, 443);
        let h = hello(b"www.example.com");
        let (a, b) = h.split_at(2);
        app.on_data(7, true, 0, a);
        // Two bytes cannot tell TLS yet.
        assert_eq!(app.on_ack(7, true, 2), TcpStep::default());
        app.on_data(7, true, 2, b);
        // A retransmission of the first part changes nothing.
        app.on_data(7, true, 0, a);
        assert!(!app.has_hello(7, true));
        let step = app.on_ack(7, true, h.len() as u32);
        assert!(step.tls && step.trigger_raw == [true, false] && !step.encrypted_now);
        assert!(app.has_hello(7, true));
        assert_eq!(
            app.take_hello(7).and_then(|c| c.sni()),
            Some(&b"www.example.com"[..])
        );
        assert!(app.take_hello(7).is_none(), "inspected once");
        assert_eq!(app.stats.tls_flows, 1);
        assert_eq!(app.stats.tls_sni, 1);
        // Application data in either direction ends content inspection.
        app.on_data(7, false, 0, &[23, 3, 3, 0, 2, 0xaa, 0xbb]);
        let step = app.on_ack(7, false, 7);
        assert!(step.encrypted_now && step.trigger_raw == [false, true]);
        app.stop(7);
        assert!(app.done(7));
        app.close(7);
        assert!(!app.is_open(7) && app.done(7));
    }

    #[test]
    fn what_all_flows_hold_is_bounded() {
        let mut app = TcpApp {
            max_held: 1000,
            ..TcpApp::default()
        };
        let h = hello(b"b.example");
        // A TLS flow, then flows whose data is never acknowledged.
        app.open(0, 443);
        app.on_data(0, true, 0, &h);
        assert!(app.on_ack(0, true, h.len() as u32).tls);
        for slot in 1..10 {
            app.open(slot, 443);
            app.on_data(slot, true, 0, &[0x16; 300]);
        }
        assert!(app.stats.held <= 1000, "{}", app.stats.held);
        assert_eq!(
            app.stats.given_up, 6,
            "the flows past the bound are not followed"
        );
        assert_eq!((1..10).filter(|&s| app.is_open(s)).count(), 3);
        // A TLS flow past the bound gives that direction up, and keeps its hello.
        app.on_data(0, false, 0, &[0x16; 300]);
        assert_eq!(app.stats.given_up, 7);
        assert!(app.has_hello(0, true));
        for slot in 0..10 {
            app.close(slot);
        }
        assert_eq!(app.stats.held, 0);
    }

    #[test]
    fn a_download_past_the_bound_stops_the_responses_alone() {
        let mut app = TcpApp {
            max_held: 1000,
            ..TcpApp::default()
        };
        app.set_protocols(false, true);
        app.open(5, 80);
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        app.on_data(5, true, 0, req);
        assert!(app.on_ack(5, true, req.len() as u32).http);
        app.on_data(5, false, 0, &[b'x'; 2000]);
        assert_eq!(app.stats.given_up, 1);
        assert!(app.is_open(5), "the requests are still followed");
        let next = b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        app.on_data(5, true, req.len() as u32, next);
        app.on_ack(5, true, (req.len() + next.len()) as u32);
        assert_eq!(app.stats.http_requests, 2);
        app.close(5);
        assert_eq!(app.stats.held, 0);
    }

    #[test]
    fn other_protocols_close_and_holes_give_up() {
        let mut app = TcpApp::default();
        app.open(1, 80);
        app.on_data(1, true, 0, b"GET / HTTP/1.1\r\n");
        assert!(!app.on_ack(1, true, 16).tls);
        assert!(!app.is_open(1), "told not TLS: no longer followed");
        // Out of order: the later part waits for the hole to fill.
        app.open(2, 443);
        let h = hello(b"a.example");
        app.on_data(2, true, 10, &h[10..]);
        app.on_data(2, true, 0, &h[..10]);
        assert!(app.on_ack(2, true, h.len() as u32).tls);
        assert_eq!(
            app.take_hello(2).and_then(|c| c.sni()),
            Some(&b"a.example"[..])
        );
        // A hole the peer acknowledged: a gap, and the direction is given up.
        app.open(4, 443);
        app.on_data(4, true, 10, &h[10..]);
        assert!(!app.on_ack(4, true, h.len() as u32).tls);
        assert_eq!(app.stats.given_up, 1);
        // A server speaking first, at length, before anything tells TLS: not followed.
        app.open(3, 443);
        app.on_data(3, false, 0, &vec![b'x'; MAX_PENDING_UNTOLD + 1]);
        assert!(!app.is_open(3));
        assert_eq!(app.stats.given_up, 1, "not counted: nothing was TLS");
        // A TLS flow with too much waiting gives the direction up.
        app.open(3, 443);
        let h3 = hello(b"b.example");
        app.on_data(3, true, 0, &h3);
        assert!(app.on_ack(3, true, h3.len() as u32).tls);
        app.on_data(3, false, 0, &vec![0x16u8; MAX_PENDING + 1]);
        assert_eq!(app.stats.given_up, 2);
        // What the flows hold is accounted, and nothing once they are closed.
        assert!(app.stats.held_peak > 0);
        for slot in [1, 2, 3, 4] {
            app.close(slot);
        }
        assert_eq!(app.stats.held, 0);
        // A slot reopened starts afresh, with the buffers reused.
        app.close(2);
        app.open(2, 443);
        app.on_data(2, true, 0, &h);
        assert!(app.on_ack(2, true, h.len() as u32).tls);
        assert_eq!(
            app.take_hello(2).and_then(|c| c.sni()),
            Some(&b"a.example"[..])
        );
    }

    /// A server flight: a Certificate message holding `cert`, then ServerHelloDone.
    fn cert_flight(cert: &[u8]) -> Vec<u8> {
        let mut chain = (cert.len() as u32).to_be_bytes()[1..].to_vec();
        chain.extend_from_slice(cert);
        let mut body = (chain.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend(chain);
        let mut m = vec![11];
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend(body);
        m.extend_from_slice(&[14, 0, 0, 0]);
        let mut r = vec![22, 3, 3];
        r.extend_from_slice(&(m.len() as u16).to_be_bytes());
        r.extend(m);
        r
    }

    #[test]
    fn the_server_certificate_is_ready_once_acknowledged_and_inspected_once() {
        let leaf = include_bytes!("testdata/leaf.der");
        let mut app = TcpApp::default();
        app.set_certs(true);
        app.open(5, 443);
        let h = hello(b"c.example");
        app.on_data(5, true, 0, &h);
        assert!(app.on_ack(5, true, h.len() as u32).tls);
        assert!(app.take_hello(5).is_some());
        let flight = cert_flight(leaf);
        app.on_data(5, false, 0, &flight);
        assert!(
            !app.has_certs(5, false),
            "not before the client acknowledges it"
        );
        let step = app.on_ack(5, false, flight.len() as u32);
        assert_eq!(step.trigger_raw, [false, true]);
        assert_eq!(app.stats.tls_certs, 1);
        assert!(app.has_certs(5, false) && app.has_certs(5, true));
        // Stopped (encrypted, say): kept until the certificates are inspected.
        app.stop(5);
        assert!(!app.done(5));
        let s = app.take_certs(5, false).expect("ready");
        assert_eq!(s.certs().count(), 1);
        assert!(s
            .cert_subject()
            .is_some_and(|v| v.ends_with(b"CN=cert.example.com")));
        assert!(app.take_certs(5, false).is_none(), "inspected once");
        assert!(!app.done(5), "the client's (none) is still to be inspected");
        let s = app.take_certs(5, true).expect("ready");
        assert_eq!((s.certs().count(), s.cert_subject()), (0, None));
        assert!(app.done(5));
        app.close(5);
        // Without certificate rules nothing is read or waited for.
        app.set_certs(false);
        app.open(6, 443);
        app.on_data(6, true, 0, &h);
        app.on_ack(6, true, h.len() as u32);
        app.take_hello(6);
        app.on_data(6, false, 0, &flight);
        app.on_ack(6, false, flight.len() as u32);
        assert!(!app.has_certs(6, false) && !app.has_certs(6, true));
        app.stop(6);
        assert!(app.done(6));
        assert_eq!(app.stats.tls_certs, 1);
    }

    #[test]
    fn a_handshake_message_past_the_bound_gives_the_direction_up() {
        let mut app = TcpApp::default();
        app.set_certs(true);
        app.open(8, 443);
        let h = hello(b"big.example");
        app.on_data(8, true, 0, &h);
        assert!(app.on_ack(8, true, h.len() as u32).tls);
        // A Certificate message announcing 1 MiB, sent in records of 16,000 bytes.
        let mut off = 0u32;
        for i in 0..6 {
            let mut body = vec![0u8; 16_000];
            if i == 0 {
                body[..4].copy_from_slice(&[11, 0x10, 0, 0]);
            }
            let mut r = vec![22, 3, 3];
            r.extend_from_slice(&(body.len() as u16).to_be_bytes());
            r.extend(body);
            app.on_data(8, false, off, &r);
            off += r.len() as u32;
            app.on_ack(8, false, off);
            assert!(
                app.stats.held <= (MAX_PENDING + 20_000) as u64,
                "{}",
                app.stats.held
            );
        }
        assert_eq!(app.stats.given_up, 1);
        assert!(app.stats.held < 1_000, "let go: {}", app.stats.held);
        // The client's side goes on.
        assert!(app.take_hello(8).is_some());
        app.close(8);
        assert_eq!(app.stats.held, 0);
    }

    #[test]
    fn with_rechecks_a_tls_flow_is_inspected_again_at_each_update_and_at_its_end() {
        let mut app = TcpApp::default();
        app.set_recheck(true);
        app.set_certs(true);
        app.open(9, 443);
        let h = hello(b"r.example");
        app.on_data(9, true, 0, &h);
        app.on_ack(9, true, h.len() as u32);
        // The hello's first inspection, at progress 0.
        let r = app.take_tx(9, true).expect("the hello");
        assert!(r.hello && r.hello_fresh && !r.certs && r.progress == 0);
        r.settled.push(7);
        assert!(!app.has_recheck(9, true), "nothing new since");
        // The server's data, acknowledged by the client: an update both ways.
        let app_data = [23, 3, 3, 0, 2, 1, 2];
        app.on_data(9, false, 0, &app_data);
        app.on_ack(9, false, app_data.len() as u32);
        assert!(app.has_recheck(9, true));
        let r = app.take_tx(9, true).expect("again");
        assert!(r.hello && !r.hello_fresh && r.progress == 2 && r.settled == &[7]);
        assert!(!app.has_recheck(9, true));
        // Kept while the flow lives, though both directions stopped.
        app.stop(9);
        assert!(!app.done(9));
        // Both FINs acknowledged: the end-of-stream calls, then one last inspection.
        app.on_fin(9, true, h.len() as u32);
        app.on_fin(9, false, app_data.len() as u32);
        app.on_ack(9, true, h.len() as u32 + 1);
        app.on_ack(9, false, app_data.len() as u32 + 1);
        assert!(!app.done(9), "its last inspection is still to come");
        let r = app.take_tx(9, true).expect("at the end");
        assert_eq!(r.progress, 3);
        assert!(app.take_tx(9, true).is_none(), "inspected for good");
        // The server's side still had its certificate (none) to inspect.
        assert!(!app.done(9));
        assert!(app.take_tx(9, false).is_some_and(|r| r.certs_fresh));
        assert!(app.done(9), "finished: let go");
        app.close(9);
        assert_eq!(app.stats.held, 0);
    }

    /// The URIs of the requests `inspect_http` hands over at the client's next packet.
    fn due_uris(app: &mut TcpApp, slot: u32) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        app.inspect_http(slot, |tx, _| {
            got.push(
                tx.buffer(crate::rules::Sticky::HttpUri)
                    .unwrap_or_default()
                    .to_vec(),
            )
        });
        got
    }

    #[test]
    fn an_http_flow_is_told_by_its_method_and_parsed_when_acknowledged() {
        let mut app = TcpApp::default();
        app.set_protocols(true, true);
        app.open(3, 8181);
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        app.on_data(3, true, 0, &req[..2]);
        // "GE" cannot tell yet.
        assert_eq!(app.on_ack(3, true, 2), TcpStep::default());
        app.on_data(3, true, 2, &req[2..]);
        assert!(!app.has_tx(3, true), "not acknowledged: not parsed");
        let step = app.on_ack(3, true, req.len() as u32);
        assert!(step.http && !step.tls);
        assert_eq!(
            step.trigger_raw,
            [true, false],
            "a finished request asks for raw inspection"
        );
        assert!(app.has_tx(3, true) && !app.has_tx(3, false));
        assert_eq!(due_uris(&mut app, 3), [b"/a".to_vec()]);
        assert!(!app.has_tx(3, true), "inspected once");
        // Keep-alive: the next request is the next transaction.
        let next = b"GET /b HTTP/1.1\r\n\r\n";
        app.on_data(3, true, req.len() as u32, next);
        app.on_ack(3, true, (req.len() + next.len()) as u32);
        assert_eq!(due_uris(&mut app, 3), [b"/b".to_vec()]);
        assert_eq!((app.stats.http_flows, app.stats.http_requests), (1, 2));
        assert!(!app.done(3), "an HTTP flow may bring more requests");
        app.close(3);
        assert_eq!(app.stats.held, 0);
    }

    #[test]
    fn settled_rules_stay_with_their_request_and_a_fin_finishes_the_headers() {
        let mut app = TcpApp::default();
        app.set_protocols(false, true);
        app.open(4, 80);
        let part = b"GET /p HTTP/1.1\r\nUser-Agent: a\r\nAcc";
        app.on_data(4, true, 0, part);
        app.on_ack(4, true, part.len() as u32);
        let mut seen = Vec::new();
        app.inspect_http(4, |tx, settled| {
            seen.push((tx.progress, settled.clone()));
            settled.push(7);
        });
        assert_eq!(seen, [(http::PROGRESS_HEADERS, vec![])]);
        // The client's FIN, acknowledged: the header block is finished as libhtp's close
        // finishes it, and the request is inspected again with rule 7 settled.
        let end = part.len() as u32;
        app.on_fin(4, true, end);
        app.on_ack(4, true, end + 1);
        seen.clear();
        app.inspect_http(4, |tx, settled| seen.push((tx.progress, settled.clone())));
        assert_eq!(seen.len(), 1);
        assert!(seen[0].0 > http::PROGRESS_HEADERS);
        assert_eq!(seen[0].1, [7]);
        assert!(!app.done(4), "the server may still answer");
        // The server's answer and FIN, acknowledged: the response completes (its raw
        // stream is inspected at the server's next packet), and nothing more comes.
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        app.on_data(4, false, 0, resp);
        let step = app.on_ack(4, false, resp.len() as u32);
        assert_eq!(step.trigger_raw, [false, true]);
        assert_eq!(app.stats.http_responses, 1);
        app.on_fin(4, false, resp.len() as u32);
        app.on_ack(4, false, resp.len() as u32 + 1);
        assert!(app.done(4), "nothing more comes: let go");
    }

    #[test]
    fn without_http_rules_a_request_is_not_followed() {
        let mut app = TcpApp::default();
        app.open(5, 80);
        app.on_data(5, true, 0, b"GET / HTTP/1.1\r\n\r\n");
        assert!(!app.on_ack(5, true, 18).http);
        assert!(!app.is_open(5));
    }
}
