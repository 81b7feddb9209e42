//! The matcher: rule groups by protocol and port, one aho-corasick prefilter per group,
//! and exact verification of every keyword of a rule the prefilter (or the group's
//! content-less list) proposes.
//!
//! INTERFACE CONTRACT (shared with the worker loop in `crate::worker`):
//! - `Engine::build(rules: Vec<Rule>) -> Result<Engine, BuildError>`
//! - `Engine::rules(&self) -> &[Rule]`
//! - `Engine::scratch(&self) -> Scratch`: per-worker state sized once; `inspect` never
//!   allocates once a scratch has warmed up.
//! - `Engine::inspect(&self, pkt: &Packet, flow: &FlowInfo, scratch: &mut Scratch) -> Verdict`
//!   fills `scratch.matches()` with the indexes (into `rules()`) of the rules that match
//!   this packet, each at most once, in Suricata's order (action order pass, drop, reject,
//!   alert; then priority; then sid). When a `pass` rule matches, inspection stops there
//!   and the verdict is `Verdict::Pass` (the worker passes the rest of the flow) or
//!   `Verdict::PassPacket` (this packet only).
//!   `noalert` rules match but are not reported.
//!
//! Notes on this implementation: as in Suricata, a matching `pass` rule is not reported
//! (Suricata logs no alert for it), and since `pass` sorts first, `matches()` is empty
//! when the verdict is `Pass`. Indexes are `usize`.

mod builder;
mod bytes;
mod content;
mod flowbits;
mod groups;
mod header;
mod order;
mod payload;
mod prefilter;

/// A rule matched an app-layer transaction: its flowbits are set, a `drop` noted in
/// `verdict`, its alert (unless `noalert`) added to `matches`. `true` for a `pass`,
/// which forgets the matches so far and ends the inspection.
fn tx_match(
    c: &Compiled,
    flowbits: &mut [u64],
    matches: &mut Vec<usize>,
    verdict: &mut Verdict,
) -> bool {
    c.bits.apply(flowbits);
    if c.pass {
        matches.clear();
        return true;
    }
    if c.drop {
        *verdict = Verdict::Drop;
    }
    if !c.noalert {
        matches.push(c.index as usize);
    }
    false
}

#[cfg(test)]
mod tests;

pub use crate::applayer::AppProto;
pub use builder::{test_packet, RuleBuilder, TestL4};
pub use groups::MAX_PORT_GROUPS;
pub use payload::INSPECTION_RECURSION_LIMIT;

use capture::decode::Packet;

use crate::applayer::dns::Queries;
use crate::rules::{Action, Location, NumMatch, PayloadMatch, Rule, Sticky};
use content::Searcher;
use prefilter::{FastPattern, Prefilter, Selected, VariantSeen};

/// What the flow table knows about the packet's flow, for `flow:` keywords.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowInfo {
    /// The packet travels from the flow's initiator (client) to the responder.
    pub to_server: bool,
    /// TCP: the three-way handshake completed; UDP/ICMP: packets seen both ways.
    pub established: bool,
    /// The first packet of its flow in this direction, or a packet of a protocol that has
    /// no flows (GRE, ...). Suricata evaluates IP-only rules (addresses, `any` ports and
    /// `ip_proto` alone) only on such packets, so they alert once per flow direction.
    pub first_in_direction: bool,
    /// The packet has no flow (a fragment, an ICMP error Suricata ties to none): it counts
    /// as going to the server, and neither `flow:established` nor `flow:not_established`
    /// matches it (Suricata 7).
    pub flowless: bool,
    /// The packet is a tunnel's outer packet, whose payload is the packet inside (itself
    /// inspected on its own): as in Suricata, no payload keyword runs on it, nor a `dsize`
    /// that needs a payload, so only header rules can match.
    pub header_only: bool,
    /// TCP: the stream of the packet's direction has bytes to inspect at this packet
    /// (Suricata's `PKT_DETECT_HAS_STREAMDATA`, so only in a direction Suricata keeps for
    /// raw inspection, [`Engine::raw_stream`]). An empty packet then counts as having a
    /// payload: it runs `dsize:!=5` and skips `dsize:0`; without it, the reverse.
    pub stream_data: bool,
    /// TCP: Suricata's session byte counts `[client, server]` after this packet, which
    /// `stream_size` compares; `None` without a session (other protocols, a TCP packet
    /// no session took), where `stream_size` never matches.
    pub stream_size: Option<[u32; 2]>,
    /// The flow's app-layer protocol, which `alert dns` rules require.
    pub app: AppProto,
    /// Suricata's `PKT_NOPAYLOAD_INSPECTION` (a TLS flow after its handshake): the payload
    /// is neither prefiltered nor read, so only rules without a positive fast pattern are
    /// tried, and their payload keywords count as matched when the stream has bytes at
    /// this packet ([`FlowInfo::stream_data`]) and fail otherwise.
    pub payload_unread: bool,
}

/// The outcome of inspecting one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Inspection ran over every candidate rule.
    Inspected,
    /// A `pass` rule matched and applies to the whole flow (as Suricata does for IP-only
    /// rules and matches on the reassembled stream): the rest of the flow needs no
    /// inspection.
    Pass,
    /// A `pass` rule matched on this packet only (a packet match, TCP's included): the
    /// flow goes on.
    PassPacket,
    /// A `drop` or `reject` rule matched (and alerted) and applies to the whole flow, as
    /// for `pass`: Suricata 7 then drops the flow's later packets uninspected, offline
    /// too, so nothing more of the flow can alert. A drop matched on a packet alone
    /// leaves the verdict `Inspected`.
    Drop,
}

/// Why the rule set could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{location}: sid {sid}: protocol {proto} is not supported by the matcher")]
    UnsupportedProtocol {
        location: Location,
        sid: u32,
        proto: String,
    },
    #[error("{location}: sid {sid}: empty content pattern")]
    EmptyContent { location: Location, sid: u32 },
    #[error("{location}: sid {sid}: {reason}")]
    FastPattern {
        location: Location,
        sid: u32,
        reason: String,
    },
    #[error("building the prefilter of rule group {group} ({patterns} patterns): {source}")]
    Prefilter {
        group: usize,
        patterns: usize,
        source: aho_corasick::BuildError,
    },
}

/// Which buffers a rule's payload keywords look at on TCP, as Suricata decides it
/// (`SigValidate`: `SIG_FLAG_REQUIRE_PACKET` / `SIG_FLAG_REQUIRE_STREAM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PayloadKind {
    /// No payload keywords: header checks on every packet.
    Header,
    /// The packet's payload only: `tcp-pkt`, a packet keyword (`dsize`, `flags`, `ttl`,
    /// ...: [`Rule::has_packet_keyword`]), and protocols without TCP.
    Packet,
    /// The reassembled stream; a packet's own payload only when the stream did not take
    /// it (`tcp-stream` rules too).
    Stream,
    /// A content with `offset`, `depth` or `startswith`, or a `stream_size`: the stream,
    /// and every packet that did not already match on the stream.
    StreamAndPacket,
    /// `flow:only_stream`: the stream alone, whatever else the rule holds (Suricata's
    /// flow keyword passes only when the rule's content matched on the stream).
    StreamOnly,
    /// Never matches: `flow:only_stream` without a content to match on the stream, a
    /// rule Suricata 7 loads and never alerts on.
    Never,
}

fn payload_kind(r: &Rule) -> PayloadKind {
    use crate::rules::Proto;
    match (r.flow.stream, r.payload.is_empty()) {
        (Some(true), true) => return PayloadKind::Never,
        (Some(true), false) => return PayloadKind::StreamOnly,
        (_, true) => return PayloadKind::Header,
        // `no_stream` passes only when the content did not match on the stream.
        (Some(false), false) => return PayloadKind::Packet,
        (None, false) => {}
    }
    let tcp = groups::rule_scope(&r.proto).is_some_and(|(classes, _)| classes & 1 != 0);
    match r.proto {
        Proto::TcpPkt => PayloadKind::Packet,
        // `tcp-stream` is Suricata's SIG_FLAG_REQUIRE_STREAM as a plain content rule is:
        // the stream first, and the packet's own payload when the stream did not take it
        // (an untracked midstream segment, say).
        Proto::TcpStream => PayloadKind::Stream,
        // A keyword that looks at one packet makes Suricata inspect the rule's content on
        // packets alone (SIG_FLAG_REQUIRE_PACKET without REQUIRE_STREAM: SIG_TYPE_PKT).
        _ if !tcp || r.has_packet_keyword() => PayloadKind::Packet,
        _ => {
            // Suricata adds the packet to the stream for `stream_size` as for a content
            // anchored with `offset` or `depth` (`SigValidate`'s TCP corner cases).
            let positional = !r.stream_size.is_empty()
                || r.payload.iter().any(|p| {
                    matches!(p, PayloadMatch::Content(c)
                        if c.offset.is_some() || c.depth.is_some() || c.startswith)
                });
            if positional {
                PayloadKind::StreamAndPacket
            } else {
                PayloadKind::Stream
            }
        }
    }
}

/// Which inspection a call of the matcher is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// A packet's own payload; `in_stream`: the stream engine took it.
    Packet { in_stream: bool },
    /// A run of reassembled stream bytes.
    Stream,
    /// The header of a pseudo packet that ends a TCP flow: "like IP-only" rules alone
    /// (see [`Engine::inspect_end_of_flow`]).
    EndOfFlow,
}

impl PayloadKind {
    /// The rule looks at the reassembled stream.
    #[inline]
    fn reads_stream(self) -> bool {
        matches!(
            self,
            PayloadKind::Stream | PayloadKind::StreamAndPacket | PayloadKind::StreamOnly
        )
    }

    /// The rule's content may match on the own payload of a packet the stream took.
    #[inline]
    fn reads_packets_in_stream(self) -> bool {
        !matches!(
            self,
            PayloadKind::Stream | PayloadKind::StreamOnly | PayloadKind::Never
        )
    }

    #[inline]
    fn applies(self, pass: Pass, tcp: bool) -> bool {
        use PayloadKind::*;
        match pass {
            Pass::Stream => self.reads_stream(),
            Pass::EndOfFlow => self == Header,
            Pass::Packet { in_stream } => match self {
                Header | Packet | StreamAndPacket => true,
                Stream => !(tcp && in_stream),
                StreamOnly | Never => false,
            },
        }
    }
}

/// A rule in verification form, stored by rank.
#[derive(Debug)]
struct Compiled {
    /// Index into `Engine::rules`.
    index: u32,
    steps: Box<[payload::Step]>,
    noalert: bool,
    pass: bool,
    /// `drop` or a `reject` action.
    drop: bool,
    /// Evaluated only on the first packet of each flow direction (see [`is_ip_only`]).
    ip_only: bool,
    /// A `pass` or `drop` match covers the whole flow wherever it matched: IP-only rules
    /// and Suricata's "like IP-only" ones (see [`is_like_ip_only`]).
    flow_action: bool,
    /// Verified on TCP SYN packets only: a rule without a prefilter pattern that
    /// Suricata files as needing SYN packets (see [`header::needs_syn_packets`]).
    syn_only: bool,
    /// The orientations it may match in on a packet to the client (see
    /// `groups::to_client_sides`).
    to_client_sides: u8,
    /// Transport classes and IP versions the protocol covers (see `groups::rule_scope`).
    scope: (u8, u8),
    /// A negated fast pattern: the rule is skipped when it occurs in the payload.
    negated_fp: Option<Searcher>,
    kind: PayloadKind,
    bits: flowbits::RuleBits,
    /// A transaction rule's sticky buffer (`dns.query`, `tls.sni`).
    app: Option<AppCompiled>,
    /// Its further buffers of the same transaction, each of which must match too.
    app_also: Box<[AppCompiled]>,
    /// Its fast pattern is a positive content: a transaction rule then runs only when
    /// its prefilter finds the pattern.
    positive_fp: bool,
    /// A transaction rule whose contents are all negated (Suricata's negated fast
    /// pattern on an app-layer buffer, whatever the content's modifiers): see [`Settle`].
    negated_only: bool,
}

/// What Suricata remembers of a TLS transaction's rules that run without a positive
/// fast pattern (no content, or only negated ones: Suricata proposes them whenever the
/// transaction was updated, not only when a pattern is found). Such a rule that matched
/// is settled, and runs no more, except a rule with only negated contents (Suricata's
/// negated fast pattern) that matched after the transaction moved past the point its
/// buffer belongs to: Suricata keeps no state for it (`DetectRunTxInspectRule`'s
/// `mpm_before_progress`), so it runs, and may alert, again at every later update.
/// Checked against Suricata 7.0.10 with `cargo xtask rule-diff --tls-certs`, which also
/// showed rules on the server's certificate settling whenever they match.
#[derive(Debug)]
pub struct Settle<'s> {
    /// The transaction's progress in the packet's direction (`SSLGetAlstateProgress`:
    /// 0 in progress, 1 the server's certificate read (to the server only), 2 the
    /// handshake done, 3 finished).
    pub progress: u8,
    /// Rules settled so far in this flow (rule index times two, plus one going to the
    /// client); matches that settle are added.
    pub settled: &'s mut Vec<u32>,
}

impl AppCompiled {
    fn of(b: &crate::rules::AppBuffer) -> AppCompiled {
        AppCompiled {
            kind: b.kind,
            steps: payload::compile(&b.payload),
            dotprefix: b.dotprefix,
            bsize: b.bsize.clone().into_boxed_slice(),
        }
    }

    /// Whether one of the buffers `names` gives matches this buffer's keywords; `scratch`
    /// holds a dotted copy for `dotprefix`.
    fn hit<'n>(&self, mut names: impl Iterator<Item = &'n [u8]>, scratch: &mut Vec<u8>) -> bool {
        names.any(|name| {
            let buf: &[u8] = if self.dotprefix {
                scratch.clear();
                scratch.push(b'.');
                scratch.extend_from_slice(name);
                scratch
            } else {
                name
            };
            self.bsize.iter().all(|m| m.matches(buf.len() as u64))
                && (self.steps.is_empty() || payload::inspect(&self.steps, buf))
        })
    }
}

/// The buffers of a TLS ClientHello that transaction rules inspect.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsHello<'a> {
    pub sni: Option<&'a [u8]>,
    pub ja3_hash: Option<&'a [u8]>,
    pub ja3_string: Option<&'a [u8]>,
}

impl<'a> TlsHello<'a> {
    /// The buffer a rule of `kind` inspects, when the hello has it.
    pub fn buffer(&self, kind: Sticky) -> Option<&'a [u8]> {
        match kind {
            Sticky::TlsSni => self.sni,
            Sticky::Ja3Hash => self.ja3_hash,
            Sticky::Ja3String => self.ja3_string,
            // The server's hello: its JA3S.
            Sticky::Ja3sHash => self.ja3_hash,
            Sticky::Ja3sString => self.ja3_string,
            _ => None,
        }
    }
}

/// The buffers of a TLS server's Certificate message that transaction rules inspect
/// (see [`crate::applayer::tls::TlsSide`]): the chain's certificates, each a
/// `tls.certs` buffer, and the first certificate's fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsCerts<'a> {
    /// The chain's bytes, and where each certificate starts and ends in them.
    pub chain: &'a [u8],
    pub list: &'a [(u32, u32)],
    pub subject: Option<&'a [u8]>,
    pub issuer: Option<&'a [u8]>,
    pub serial: Option<&'a [u8]>,
}

/// What of a TLS flow's transaction is ready for inspection at a packet going
/// `to_server` (or to the client): the sender's hello (once: the client's server name and
/// JA3, the server's JA3S), and the sender's certificate (once, when the handshake is
/// done).
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsTx<'a> {
    pub to_server: bool,
    pub hello: Option<TlsHello<'a>>,
    pub certs: Option<TlsCerts<'a>>,
    /// The hello, and the certificate, are inspected for the first time: their rules'
    /// prefilters run. Otherwise only their rules without a positive fast pattern do
    /// (see [`Settle`]).
    pub hello_fresh: bool,
    pub certs_fresh: bool,
}

impl<'a> TlsTx<'a> {
    /// The buffers a rule of `kind` inspects: every certificate for `tls.certs`, one
    /// buffer for the others; none when the transaction lacks it.
    pub fn buffers(&self, kind: Sticky) -> TxBuffers<'a> {
        let none = TxBuffers {
            chain: &[],
            list: [].iter(),
            one: None,
        };
        if !kind.is_cert() {
            // The client's hello goes to the server, the server's to the client.
            let ours = (kind.part() == 1) == self.to_server;
            return TxBuffers {
                one: self.hello.filter(|_| ours).and_then(|h| h.buffer(kind)),
                ..none
            };
        }
        let Some(c) = self.certs else {
            return none;
        };
        let (list, one): (&[(u32, u32)], _) = match kind {
            Sticky::TlsCerts => (c.list, None),
            Sticky::TlsCertSubject => (&[], c.subject),
            Sticky::TlsCertIssuer => (&[], c.issuer),
            Sticky::TlsCertSerial => (&[], c.serial),
            _ => (&[], None),
        };
        TxBuffers {
            chain: c.chain,
            list: list.iter(),
            one,
        }
    }
}

/// The iterator of [`TlsTx::buffers`].
#[derive(Clone, Debug)]
pub struct TxBuffers<'a> {
    chain: &'a [u8],
    list: std::slice::Iter<'a, (u32, u32)>,
    one: Option<&'a [u8]>,
}

impl<'a> Iterator for TxBuffers<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if let Some(b) = self.one.take() {
            return Some(b);
        }
        self.list
            .by_ref()
            .find_map(|&(s, e)| self.chain.get(s as usize..e as usize))
    }
}

/// One app-layer buffer's keywords in verification form.
#[derive(Debug)]
struct AppCompiled {
    kind: Sticky,
    steps: Box<[payload::Step]>,
    dotprefix: bool,
    bsize: Box<[NumMatch]>,
}

/// The transaction rules of one sticky buffer: DNS requests (`dns.query`), which Suricata
/// inspects once, on the packet that carried them, or a TLS ClientHello's server name
/// (`tls.sni`), inspected on the client's first packet after the server acknowledged it.
/// Both go to the server.
#[derive(Debug, Default)]
struct TxRules {
    /// The buffer these rules inspect.
    kind: Sticky,
    /// Over every rule's fast pattern in the buffer; the names are scanned with a leading
    /// `.` so `dotprefix` patterns are found too (verification is exact).
    prefilter: Option<Prefilter>,
    /// Ranks of rules without a positive fast pattern (sorted).
    always: Box<[u32]>,
    /// Some rule inspects this buffer.
    any: bool,
}

/// One rule group: its prefilter and the rules it always verifies.
#[derive(Debug)]
struct Group {
    prefilter: Option<Prefilter>,
    /// Ranks of rules without a positive content (sorted).
    always: Box<[u32]>,
    /// The scan of a TCP packet whose payload the stream took: only the rules that
    /// still look at such a packet's payload need proposing.
    in_stream: InStreamScan,
    /// Some rule of the group looks at the reassembled stream.
    stream_rules: bool,
    /// Some rule without a positive fast pattern looks at the stream (it is verified
    /// whatever the prefilter finds).
    stream_always: bool,
    /// Some stream rule has a negated fast pattern (see [`Engine::skip_negated_in_stream`]).
    stream_negated: bool,
}

/// What the prefilter scans of a TCP packet the stream took.
#[derive(Debug)]
enum InStreamScan {
    /// No prefiltered rule looks at it.
    Skip,
    /// Every prefiltered rule does: the group's prefilter.
    Full,
    /// Some do: a prefilter of theirs alone, and when every one of them is anchored by
    /// `depth` (or `startswith`), the payload length past which none can match.
    Own(Prefilter, Option<usize>),
}

/// Where a rule's contents must end by: when every positive content is absolute with a
/// depth (or `startswith`), the largest `offset + depth`; else `None` (anywhere).
fn content_bound(r: &Rule) -> Option<usize> {
    let mut bound = None;
    for p in &r.payload {
        let PayloadMatch::Content(c) = p else {
            continue;
        };
        if c.negated {
            continue;
        }
        let end = if c.startswith {
            c.pattern.len()
        } else if c.is_relative() {
            return None;
        } else {
            c.offset.unwrap_or(0) as usize + c.depth? as usize
        };
        bound = Some(bound.map_or(end, |b: usize| b.max(end)));
    }
    bound
}

/// Sizes of the compiled engine, for logs and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub rules: usize,
    pub groups: usize,
    /// Rules that go through a prefilter (have a positive content).
    pub prefiltered_rules: usize,
}

/// The compiled rule set; shared read-only by every worker.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    compiled: Vec<Compiled>,
    /// Rule index -> rank.
    rank_of: Vec<u32>,
    tables: groups::Tables,
    raw_ports: groups::RawStreamPorts,
    groups: Vec<Group>,
    max_variants: usize,
    prefiltered: usize,
    /// Longest fast pattern: how far back an incremental stream scan looks.
    max_pattern: usize,
    flowbit_names: flowbits::Names,
    /// Some rule is "like IP-only" ([`is_like_ip_only`]): only then can the pseudo packets
    /// that end a TCP flow alert ([`Engine::inspect_end_of_flow`]).
    like_ip_only: bool,
    dns: TxRules,
    tls: TxRules,
    ja3_hash: TxRules,
    ja3_string: TxRules,
    /// The ServerHello's: `ja3s.hash`, `ja3s.string`.
    ja3s: [TxRules; 2],
    /// The server certificate's buffers: `tls.certs`, `tls.cert_subject`,
    /// `tls.cert_issuer`, `tls.cert_serial`.
    certs: [TxRules; 4],
    /// Some rule names `tls` as its protocol (header or payload rules on TLS flows).
    tls_proto: bool,
    /// Some rule is on protocol `http` (`alert http`): HTTP flows must be told apart
    /// even when no rule reads a request buffer.
    http_proto: bool,
    /// An HTTP request's buffers, in [`Sticky::HTTP_REQUEST`] order.
    http: Vec<TxRules>,
    /// Some rule inspects an HTTP request (one of `http` has rules); and so, with the TLS
    /// rules, whether TCP flows' bytes are followed at all. Kept, as every TCP packet asks.
    http_any: bool,
    /// An HTTP response's buffers, in [`Sticky::HTTP_RESPONSE`] order.
    http_response: Vec<TxRules>,
    /// Some rule inspects an HTTP response.
    http_response_any: bool,
    tcp_app: bool,
}

/// Per-worker scratch: sized once by [`Engine::scratch`], reused for every packet.
#[derive(Debug)]
pub struct Scratch {
    matches: Vec<usize>,
    cands: Vec<u32>,
    cand_bits: Vec<u64>,
    seen: VariantSeen,
    /// Ranks matched on the stream for the current packet, or whose negated fast pattern
    /// occurred there (bits, and a list to clear): the packet's later inspections skip
    /// them.
    stream_bits: Vec<u64>,
    stream_hits: Vec<u32>,
    /// The flowbits of the packet's flow while it is inspected (see
    /// [`Scratch::flowbits_mut`]).
    flowbits: Vec<u64>,
    /// The packet's own candidates, found by [`Engine::prefilter_stream`].
    packet_pre: Vec<u32>,
    /// An app-layer buffer with its transform applied (`dotprefix`).
    app_buf: Vec<u8>,
}

impl Scratch {
    /// The rules (indexes into [`Engine::rules`]) the last `inspect` matched, in order.
    pub fn matches(&self) -> &[usize] {
        &self.matches
    }

    /// The flowbits the next inspections read and write: the worker copies the flow's
    /// bits in before a packet's inspections and back out after them.
    pub fn flowbits_mut(&mut self) -> &mut [u64] {
        &mut self.flowbits
    }

    /// Forgets the matches of the last inspection (their alerts were taken).
    pub fn clear_matches(&mut self) {
        self.matches.clear();
    }

    /// Starts a new packet: forgets which rules matched on the stream.
    pub fn begin_packet(&mut self) {
        unmark(&mut self.stream_bits, &self.stream_hits);
        self.stream_hits.clear();
    }
}

/// Adds `rank` to `list` unless `bits` marks it already (then marks it).
#[inline]
fn push_once(bits: &mut [u64], list: &mut Vec<u32>, rank: u32) {
    let (w, b) = (rank as usize / 64, 1u64 << (rank % 64));
    if let Some(word) = bits.get_mut(w) {
        if *word & b == 0 {
            *word |= b;
            list.push(rank);
        }
    }
}

/// Clears the marks [`push_once`] set for `list`, leaving `bits` all zero for the next
/// packet without touching the words no rank of it lives in.
#[inline]
fn unmark(bits: &mut [u64], list: &[u32]) {
    for &rank in list {
        if let Some(word) = bits.get_mut(rank as usize / 64) {
            *word = 0;
        }
    }
}

/// The candidate ranks of transaction rules, sorted and without repeats, into
/// `scratch.cands`:
/// the rules each `fresh` buffer's prefilter proposes over that buffer's `names` (each
/// scanned with a `.` before it, for `dotprefix`), and every table's rules without a
/// positive fast pattern.
fn tx_candidates<'t, 'n, I: IntoIterator<Item = &'n [u8]>>(
    txs: impl Iterator<Item = &'t TxRules> + Clone,
    names: impl Fn(Sticky) -> I,
    fresh: impl Fn(Sticky) -> bool,
    scratch: &mut Scratch,
) {
    let Scratch {
        cands,
        cand_bits,
        seen,
        app_buf,
        ..
    } = scratch;
    cands.clear();
    for tx in txs.clone().filter(|t| t.any && fresh(t.kind)) {
        if let Some(pf) = &tx.prefilter {
            for name in names(tx.kind) {
                app_buf.clear();
                app_buf.push(b'.');
                app_buf.extend_from_slice(name);
                pf.scan(app_buf, seen, |rank| push_once(cand_bits, cands, rank));
            }
        }
    }
    unmark(cand_bits, cands);
    for tx in txs {
        cands.extend_from_slice(&tx.always);
    }
    cands.sort_unstable();
    cands.dedup();
}

impl Engine {
    pub fn build(mut rules: Vec<Rule>) -> Result<Engine, BuildError> {
        // Header matching bisects long address lists (see `header::addresses_ports`).
        for r in &mut rules {
            r.src.normalize();
            r.dst.normalize();
        }
        let mut fast: Vec<Selected> = Vec::with_capacity(rules.len());
        for r in &rules {
            if groups::rule_scope(&r.proto).is_none() {
                return Err(BuildError::UnsupportedProtocol {
                    location: r.location.clone(),
                    sid: r.sid,
                    proto: format!("{:?}", r.proto),
                });
            }
            if r.payload
                .iter()
                .any(|p| matches!(p, PayloadMatch::Content(c) if c.pattern.is_empty()))
            {
                return Err(BuildError::EmptyContent {
                    location: r.location.clone(),
                    sid: r.sid,
                });
            }
            let fp = match &r.app_buffer {
                Some(b) => prefilter::select_from(&b.payload),
                None => prefilter::select(r),
            }
            .map_err(|reason| BuildError::FastPattern {
                location: r.location.clone(),
                sid: r.sid,
                reason,
            })?;
            fast.push(fp);
        }
        let order = order::ranking(&rules);
        let mut rank_of = vec![0u32; rules.len()];
        for (rank, &i) in order.iter().enumerate() {
            rank_of[i as usize] = rank as u32;
        }
        let mut flowbit_names = flowbits::Names::default();
        let compiled: Vec<Compiled> = order
            .iter()
            .map(|&i| {
                let r = &rules[i as usize];
                Compiled {
                    bits: flowbits::RuleBits::compile(r, &mut flowbit_names),
                    index: i,
                    steps: payload::compile(&r.payload),
                    noalert: r.noalert,
                    pass: r.action == Action::Pass,
                    drop: !matches!(r.action, Action::Pass | Action::Alert),
                    ip_only: is_ip_only(r),
                    flow_action: is_ip_only(r) || is_like_ip_only(r) || is_app_header_only(r),
                    syn_only: !matches!(fast[i as usize], Selected::Positive(_))
                        && header::needs_syn_packets(r),
                    to_client_sides: groups::to_client_sides(r),
                    scope: groups::rule_scope(&r.proto).unwrap_or((0, 0)),
                    negated_fp: match &fast[i as usize] {
                        Selected::Negated(fp) => Some(Searcher::new(&fp.bytes, fp.nocase)),
                        _ => None,
                    },
                    kind: payload_kind(r),
                    app: r.app_buffer.as_ref().map(AppCompiled::of),
                    app_also: r.app_buffers_also.iter().map(AppCompiled::of).collect(),
                    positive_fp: matches!(fast[i as usize], Selected::Positive(_)),
                    negated_only: r.app_buffer.as_ref().is_some_and(|b| {
                        let mut contents = b.payload.iter().filter_map(|m| match m {
                            crate::rules::PayloadMatch::Content(c) => Some(c.negated),
                            _ => None,
                        });
                        contents.clone().next().is_some() && contents.all(|n| n)
                    }),
                }
            })
            .collect();
        let ranked: Vec<&Rule> = order.iter().map(|&i| &rules[i as usize]).collect();
        let (tables, lists) = groups::build(&ranked);
        let raw_ports = groups::RawStreamPorts::build(
            ranked
                .iter()
                .zip(compiled.iter())
                .filter(|(_, c)| c.kind.reads_stream())
                .map(|(r, _)| *r),
        );
        let mut built = Vec::with_capacity(lists.len());
        let mut max_variants = 0;
        for (gi, list) in lists.iter().enumerate() {
            let mut items: Vec<(u32, &FastPattern)> = Vec::new();
            let mut always = Vec::new();
            let mut packet_items: Vec<(u32, &FastPattern)> = Vec::new();
            for &rank in list {
                match &fast[order[rank as usize] as usize] {
                    Selected::Positive(fp) => {
                        items.push((rank, fp));
                        let kind = compiled[rank as usize].kind;
                        if kind.reads_packets_in_stream() {
                            packet_items.push((rank, fp));
                        }
                    }
                    Selected::Negated(_) | Selected::None => always.push(rank),
                }
            }
            let prefilter = Prefilter::build(&items).map_err(|source| BuildError::Prefilter {
                group: gi,
                patterns: items.len(),
                source,
            })?;
            if let Some(p) = &prefilter {
                max_variants = max_variants.max(p.variant_count());
            }
            let in_stream = if packet_items.is_empty() {
                InStreamScan::Skip
            } else if packet_items.len() == items.len() {
                InStreamScan::Full
            } else {
                let limit = packet_items
                    .iter()
                    .map(|&(rank, _)| content_bound(ranked[rank as usize]))
                    .try_fold(0usize, |m, b| b.map(|b| m.max(b)));
                match Prefilter::build(&packet_items) {
                    Ok(Some(p)) => InStreamScan::Own(p, limit),
                    Ok(None) => InStreamScan::Skip,
                    Err(source) => {
                        return Err(BuildError::Prefilter {
                            group: gi,
                            patterns: packet_items.len(),
                            source,
                        })
                    }
                }
            };
            let is_stream = |rank: &u32| compiled[*rank as usize].kind.reads_stream();
            let stream_rules = list.iter().any(is_stream);
            let stream_always = always.iter().any(is_stream);
            let stream_negated = always
                .iter()
                .any(|r| is_stream(r) && compiled[*r as usize].negated_fp.is_some());
            built.push(Group {
                prefilter,
                always: always.into_boxed_slice(),
                in_stream,
                stream_rules,
                stream_always,
                stream_negated,
            });
        }
        let mut tx_rules = |kind: Sticky| -> Result<TxRules, BuildError> {
            let mut items: Vec<(u32, &FastPattern)> = Vec::new();
            let mut always = Vec::new();
            for (rank, c) in compiled.iter().enumerate() {
                if c.app.as_ref().is_none_or(|a| a.kind != kind) {
                    continue;
                }
                match &fast[c.index as usize] {
                    Selected::Positive(fp) => items.push((rank as u32, fp)),
                    Selected::Negated(_) | Selected::None => always.push(rank as u32),
                }
            }
            let prefilter = Prefilter::build(&items).map_err(|source| BuildError::Prefilter {
                group: built.len(),
                patterns: items.len(),
                source,
            })?;
            if let Some(p) = &prefilter {
                max_variants = max_variants.max(p.variant_count());
            }
            Ok(TxRules {
                kind,
                any: !items.is_empty() || !always.is_empty(),
                prefilter,
                always: always.into_boxed_slice(),
            })
        };
        let dns = tx_rules(Sticky::DnsQuery)?;
        let tls = tx_rules(Sticky::TlsSni)?;
        let ja3_hash = tx_rules(Sticky::Ja3Hash)?;
        let ja3_string = tx_rules(Sticky::Ja3String)?;
        let ja3s = [tx_rules(Sticky::Ja3sHash)?, tx_rules(Sticky::Ja3sString)?];
        let certs = [
            tx_rules(Sticky::TlsCerts)?,
            tx_rules(Sticky::TlsCertSubject)?,
            tx_rules(Sticky::TlsCertIssuer)?,
            tx_rules(Sticky::TlsCertSerial)?,
        ];
        let http = Sticky::HTTP_REQUEST
            .iter()
            .map(|&k| tx_rules(k))
            .collect::<Result<Vec<_>, _>>()?;
        let prefiltered = fast
            .iter()
            .filter(|f| matches!(f, Selected::Positive(_)))
            .count();
        tracing::debug!(
            rules = rules.len(),
            groups = built.len(),
            prefiltered,
            "matcher built"
        );
        let max_pattern = fast
            .iter()
            .zip(&rules)
            .filter_map(|(f, r)| match f {
                // The stream's look-back is for packet-payload patterns.
                Selected::Positive(fp) if r.app_buffer.is_none() => Some(fp.bytes.len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let like_ip_only = compiled
            .iter()
            .any(|c| c.flow_action && !c.ip_only && !is_app_header_only(&rules[c.index as usize]));
        let http_any = http.iter().any(|t| t.any);
        let http_response = Sticky::HTTP_RESPONSE
            .iter()
            .map(|&k| tx_rules(k))
            .collect::<Result<Vec<_>, _>>()?;
        let mut engine = Engine {
            http_response_any: http_response.iter().any(|t| t.any),
            http_response,
            tls_proto: rules.iter().any(|r| r.proto == crate::rules::Proto::Tls),
            http_proto: rules.iter().any(|r| r.proto == crate::rules::Proto::Http),
            http,
            http_any,
            tcp_app: false,
            dns,
            tls,
            ja3_hash,
            ja3_string,
            ja3s,
            certs,
            flowbit_names,
            max_pattern,
            like_ip_only,
            rules,
            compiled,
            rank_of,
            tables,
            raw_ports,
            groups: built,
            max_variants,
            prefiltered,
        };
        engine.tcp_app = engine.has_tls_rules() || engine.has_http_rules();
        Ok(engine)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            rules: self.rules.len(),
            groups: self.groups.len(),
            prefiltered_rules: self.prefiltered,
        }
    }

    pub fn scratch(&self) -> Scratch {
        let n = self.rules.len();
        Scratch {
            matches: Vec::with_capacity(n),
            cands: Vec::with_capacity(n),
            cand_bits: vec![0; n.div_ceil(64)],
            seen: VariantSeen::with_capacity(self.max_variants),
            stream_bits: vec![0; n.div_ceil(64)],
            stream_hits: Vec::with_capacity(n),
            flowbits: vec![0; self.flowbit_words()],
            packet_pre: Vec::with_capacity(n),
            app_buf: Vec::with_capacity(crate::applayer::dns::MAX_NAME_LEN + 1),
        }
    }

    /// `u64` words of flowbits each flow carries (0 when no rule uses flowbits).
    pub fn flowbit_words(&self) -> usize {
        self.flowbit_names.words()
    }

    /// The bit id of a flowbit name, if some rule uses it (for tests and tools).
    pub fn flowbit_id(&self, name: &str) -> Option<u32> {
        self.flowbit_names.get(name)
    }

    /// Full verification of one rule against a packet, without prefilter or grouping
    /// (for tests and benchmarks of verification alone). False for an unknown index.
    pub fn rule_matches(&self, index: usize, pkt: &Packet<'_>, flow: &FlowInfo) -> bool {
        self.rank_of
            .get(index)
            .is_some_and(|&rank| self.verify(rank, pkt, pkt.payload, flow))
    }

    #[inline]
    fn verify(&self, rank: u32, pkt: &Packet<'_>, payload: &[u8], flow: &FlowInfo) -> bool {
        let Some(c) = self.compiled.get(rank as usize) else {
            return false;
        };
        let Some(rule) = self.rules.get(c.index as usize) else {
            return false;
        };
        if !groups::in_scope(c.scope, pkt) || !header::matches(rule, pkt, flow) {
            return false;
        }
        if !flow.to_server
            && c.to_client_sides != groups::BOTH_SIDES
            && !header::addresses_ports_on(rule, pkt, c.to_client_sides)
        {
            return false;
        }
        if c.syn_only
            && pkt
                .tcp()
                .is_none_or(|t| t.flags & capture::decode::tcp_flags::SYN == 0)
        {
            return false;
        }
        if c.steps.is_empty() {
            return true;
        }
        if flow.payload_unread {
            // Suricata's payload mask holds, and its payload inspection is skipped.
            return flow.stream_data && !flow.header_only;
        }
        // Suricata runs payload keywords on an empty payload only when the stream has
        // bytes to inspect at this packet (its payload mask; a negated content then
        // matches), and skips a rule whose negated fast pattern occurs anywhere in it.
        (!payload.is_empty() || (flow.stream_data && !flow.header_only))
            && c.negated_fp
                .as_ref()
                .is_none_or(|s| s.find(payload).is_none())
            && payload::inspect(&c.steps, payload)
    }

    /// Runs only the group lookup and prefilter of a packet going `to_server` (or to the
    /// client), leaving the sorted candidate ranks in the scratch; returns how many rules
    /// the prefilter proposed (for benchmarks of the prefilter alone).
    pub fn prefilter(&self, pkt: &Packet<'_>, to_server: bool, scratch: &mut Scratch) -> usize {
        self.candidates(pkt, to_server, pkt.payload, false, None, scratch)
            .map_or(0, |_| scratch.cands.len())
    }

    /// Whether any rule that the stream inspection of `pkt` (going `to_server` or to the
    /// client) would consider looks at the stream: without one, the bytes of its direction
    /// need no reassembly.
    pub fn wants_stream(&self, pkt: &Packet<'_>, to_server: bool) -> bool {
        self.groups
            .get(self.tables.lookup(pkt, to_server) as usize)
            .is_some_and(|g| g.stream_rules)
    }

    /// Whether Suricata 7 would keep the stream of `pkt`'s direction for raw inspection
    /// (see [`groups::RawStreamPorts`]): only then does an empty packet with stream bytes
    /// waiting count as having a payload ([`FlowInfo::stream_data`]).
    #[inline]
    pub fn raw_stream(&self, pkt: &Packet<'_>, to_server: bool) -> bool {
        self.raw_ports.has(pkt, to_server)
    }

    /// Longest fast pattern of the rule set.
    pub fn max_pattern_len(&self) -> usize {
        self.max_pattern
    }

    /// Prefilters stream bytes as they arrive (hot in cache), for the group of `pkt` going
    /// `to_server` (or to the client): adds the ranks of rules whose fast pattern occurs
    /// in `hay` to `out`, for a later [`Engine::inspect_stream_with`]. `hay` must start
    /// `max_pattern_len() - 1` bytes before the new bytes (or at the stream window's
    /// start) so no occurrence is cut; the new bytes start at `hay[split]`.
    ///
    /// When those new bytes equal `pkt`'s payload and the packet's own inspection would
    /// search it, the occurrences from `split` on are kept as that inspection's
    /// candidates, so the payload is not lowercased and searched a second time. True when
    /// kept: then inspect the packet with
    /// [`Engine::inspect_packet_prefiltered`].
    pub fn prefilter_stream(
        &self,
        pkt: &Packet<'_>,
        to_server: bool,
        hay: &[u8],
        split: usize,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) -> bool {
        let Scratch {
            matches,
            cands,
            cand_bits,
            seen,
            packet_pre,
            ..
        } = scratch;
        matches.clear();
        cands.clear();
        packet_pre.clear();
        let Some(group) = self.groups.get(self.tables.lookup(pkt, to_server) as usize) else {
            return false;
        };
        let Some(pf) = group.prefilter.as_ref() else {
            return false;
        };
        // With `Own`, the rules found are a superset of what the packet's own prefilter
        // would propose; verification drops the rest (they only look at the stream).
        let keep = matches!(group.in_stream, InStreamScan::Full | InStreamScan::Own(..))
            && !pkt.payload.is_empty()
            && hay.get(split..) == Some(pkt.payload);
        let split = if keep { split } else { usize::MAX };
        pf.scan_split(hay, split, seen, |rank, anywhere, late| {
            if anywhere {
                push_once(cand_bits, cands, rank);
            }
            if late {
                packet_pre.push(rank);
            }
        });
        unmark(cand_bits, cands);
        out.extend_from_slice(cands);
        keep
    }

    /// Group lookup and prefilter scan of `payload`: fills `scratch.cands` (sorted
    /// ranks). With `stream_took_it` only the rules that still look at such a packet's
    /// payload are proposed.
    fn candidates(
        &self,
        pkt: &Packet<'_>,
        to_server: bool,
        payload: &[u8],
        stream_took_it: bool,
        pre: Option<&[u32]>,
        scratch: &mut Scratch,
    ) -> Option<&Group> {
        let Scratch {
            matches,
            cands,
            cand_bits,
            seen,
            ..
        } = scratch;
        matches.clear();
        cands.clear();
        let group = self
            .groups
            .get(self.tables.lookup(pkt, to_server) as usize)?;
        if let Some(pre) = pre {
            // Prefiltered as the bytes arrived.
            cands.extend_from_slice(pre);
            cands.sort_unstable();
            cands.dedup();
            return Some(group);
        }
        let (pf, hay) = match (&group.in_stream, stream_took_it) {
            (_, false) | (InStreamScan::Full, true) => (group.prefilter.as_ref(), payload),
            (InStreamScan::Own(p, limit), true) => {
                let n = limit.map_or(payload.len(), |l| l.min(payload.len()));
                (Some(p), &payload[..n])
            }
            (InStreamScan::Skip, true) => (None, payload),
        };
        if let (Some(pf), false) = (pf, hay.is_empty()) {
            pf.scan(hay, seen, |rank| push_once(cand_bits, cands, rank));
            unmark(cand_bits, cands);
            cands.sort_unstable();
        }
        Some(group)
    }

    /// Runs the packet's group: prefilter, then verification in rank order, on a packet
    /// no stream engine saw (every payload rule but `tcp-stream` looks at it). `scratch`
    /// must come from this engine's [`Engine::scratch`].
    pub fn inspect(&self, pkt: &Packet<'_>, flow: &FlowInfo, scratch: &mut Scratch) -> Verdict {
        scratch.begin_packet();
        self.run(
            pkt,
            pkt.payload,
            Pass::Packet { in_stream: false },
            flow,
            None,
            scratch,
        )
    }

    /// Inspects a packet's own payload after its stream inspection (if any): rules that
    /// matched on the stream for this packet are skipped, and with `in_stream` (the stream
    /// engine took the payload) so are rules that only look at the stream. Call
    /// [`Scratch::begin_packet`] before the packet's first inspection.
    pub fn inspect_packet(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        in_stream: bool,
        scratch: &mut Scratch,
    ) -> Verdict {
        let payload = if flow.header_only || flow.payload_unread {
            &[]
        } else {
            pkt.payload
        };
        self.run(
            pkt,
            payload,
            Pass::Packet { in_stream },
            flow,
            None,
            scratch,
        )
    }

    /// [`Engine::inspect_packet`] of a packet the stream took, whose payload
    /// [`Engine::prefilter_stream`] searched already (it returned true): the
    /// candidates it kept stand in for a scan.
    pub fn inspect_packet_prefiltered(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        scratch: &mut Scratch,
    ) -> Verdict {
        let pre = std::mem::take(&mut scratch.packet_pre);
        let verdict = self.run(
            pkt,
            pkt.payload,
            Pass::Packet { in_stream: true },
            flow,
            Some(&pre),
            scratch,
        );
        scratch.packet_pre = pre;
        verdict
    }

    /// Inspects one run of reassembled stream bytes for `pkt` (the packet that triggered
    /// stream inspection; its header is what header keywords see). `matches()` then holds
    /// the rules that matched here and not on an earlier run for the same packet.
    pub fn inspect_stream(
        &self,
        pkt: &Packet<'_>,
        data: &[u8],
        flow: &FlowInfo,
        scratch: &mut Scratch,
    ) -> Verdict {
        self.run(pkt, data, Pass::Stream, flow, None, scratch)
    }

    /// Runs the header rules that Suricata 7 runs on the pseudo packet it sends each
    /// direction of a TCP flow that ends established (timeout or end of input): its
    /// "like IP-only" rules (`SIG_TYPE_LIKE_IPONLY`; detect.c skips `SIG_TYPE_PKT` rules
    /// on such packets and the IP-only engine has seen both directions by then).
    /// `matches()` then holds them. Call [`Scratch::begin_packet`] first.
    pub fn inspect_end_of_flow(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        scratch: &mut Scratch,
    ) -> Verdict {
        if !self.like_ip_only {
            scratch.matches.clear();
            return Verdict::Inspected;
        }
        self.run(pkt, &[], Pass::EndOfFlow, flow, None, scratch)
    }

    /// Whether some rule can match a flow's end-of-flow pseudo packets
    /// ([`Engine::inspect_end_of_flow`]).
    pub fn has_end_of_flow_rules(&self) -> bool {
        self.like_ip_only
    }

    /// Whether [`Engine::skip_negated_in_stream`] has anything to do for `pkt`'s group.
    pub fn has_negated_stream_rules(&self, pkt: &Packet<'_>, to_server: bool) -> bool {
        self.groups
            .get(self.tables.lookup(pkt, to_server) as usize)
            .is_some_and(|g| g.stream_negated)
    }

    /// Marks, for the rest of `pkt`'s inspections, the stream rules whose negated fast
    /// pattern occurs in `data`, one run of the stream bytes inspected at it. Suricata
    /// prefilters all of a packet's stream bytes before it verifies any rule, and drops
    /// such a rule for the packet; so when a gap splits those bytes, a run without the
    /// pattern must not match before the run with it is seen. Call it for every run
    /// first, after [`Scratch::begin_packet`].
    pub fn skip_negated_in_stream(
        &self,
        pkt: &Packet<'_>,
        data: &[u8],
        flow: &FlowInfo,
        scratch: &mut Scratch,
    ) {
        let tcp = matches!(pkt.l4, capture::decode::L4::Tcp(_));
        let Some(g) = self
            .groups
            .get(self.tables.lookup(pkt, flow.to_server) as usize)
        else {
            return;
        };
        for &rank in g.always.iter() {
            let Some(c) = self.compiled.get(rank as usize) else {
                continue;
            };
            if c.kind.applies(Pass::Stream, tcp)
                && c.negated_fp
                    .as_ref()
                    .is_some_and(|s| s.find(data).is_some())
            {
                push_once(&mut scratch.stream_bits, &mut scratch.stream_hits, rank);
            }
        }
    }

    /// [`Engine::inspect_stream`] with the candidates [`Engine::prefilter_stream`] found
    /// in these bytes (a superset is fine) instead of a scan.
    pub fn inspect_stream_with(
        &self,
        pkt: &Packet<'_>,
        data: &[u8],
        cands: &[u32],
        flow: &FlowInfo,
        scratch: &mut Scratch,
    ) -> Verdict {
        if cands.is_empty()
            && !self
                .groups
                .get(self.tables.lookup(pkt, flow.to_server) as usize)
                .is_some_and(|g| g.stream_always)
        {
            // Nothing to verify: no fast pattern occurred and every stream rule has one.
            scratch.matches.clear();
            return Verdict::Inspected;
        }
        self.run(pkt, data, Pass::Stream, flow, Some(cands), scratch)
    }

    /// Whether some rule inspects DNS requests (`dns.query`): only then must the worker
    /// parse them.
    pub fn has_dns_rules(&self) -> bool {
        self.dns.any
    }

    /// Whether some rule inspects an HTTP request or is on protocol `http`: only then
    /// does the worker follow the client's bytes of HTTP flows.
    pub fn has_http_rules(&self) -> bool {
        self.http_any || self.http_proto || self.http_response_any
    }

    /// Whether some rule reads an HTTP response (`http.stat_code`, `file.data`): only
    /// then are response transactions and their bodies kept.
    pub fn has_http_response_rules(&self) -> bool {
        self.http_response_any
    }

    /// Whether some rule reads `http.request_body`: only then are request bodies kept.
    pub fn has_http_body_rules(&self) -> bool {
        self.compiled.iter().any(|c| {
            c.app
                .iter()
                .chain(c.app_also.iter())
                .any(|a| a.kind == Sticky::HttpRequestBody)
        })
    }

    /// Whether some rule needs an app-layer protocol over TCP (TLS or HTTP): only then
    /// does the worker follow TCP flows' bytes.
    pub fn has_tcp_app_rules(&self) -> bool {
        self.tcp_app
    }

    /// Inspects one HTTP request transaction at packet `pkt` (going to the server):
    /// `buffer` gives the request's buffers as they stand, `progress` its libhtp request
    /// progress. Suricata runs a rule's buffers in the order of the progress they belong
    /// to: a buffer whose progress is not reached yet makes the rule wait, one that does
    /// not match while the request is still at its progress waits too (a header line may
    /// come), and one that does not match once the request moved past it ends the rule
    /// for this request. `settled` lists the rules done with this request (matched, or
    /// unable to): each alerts at most once per request.
    pub fn inspect_http<'b>(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        buffer: impl Fn(Sticky) -> Option<&'b [u8]>,
        progress: u8,
        settled: &mut Vec<u32>,
        scratch: &mut Scratch,
    ) -> Verdict {
        scratch.matches.clear();
        if !flow.to_server || flow.header_only || !self.http_any {
            return Verdict::Inspected;
        }
        self.inspect_http_tx(
            self.http.iter(),
            Sticky::http_progress,
            pkt,
            flow,
            buffer,
            progress,
            settled,
            scratch,
        )
    }

    /// Inspects one HTTP response transaction at packet `pkt` (going to the client), as
    /// [`Engine::inspect_http`] does a request: `buffer` gives the response's buffers as
    /// they stand, `progress` its libhtp response progress, `settled` the rules done with
    /// it.
    pub fn inspect_http_response<'b>(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        buffer: impl Fn(Sticky) -> Option<&'b [u8]>,
        progress: u8,
        settled: &mut Vec<u32>,
        scratch: &mut Scratch,
    ) -> Verdict {
        scratch.matches.clear();
        if flow.to_server || flow.header_only || !self.http_response_any {
            return Verdict::Inspected;
        }
        self.inspect_http_tx(
            self.http_response.iter(),
            Sticky::http_response_progress,
            pkt,
            flow,
            buffer,
            progress,
            settled,
            scratch,
        )
    }

    /// The transaction run both [`Engine::inspect_http`] and
    /// [`Engine::inspect_http_response`] make: `tables` are the side's buffers' rules,
    /// `need_of` the progress each buffer is inspected from.
    #[allow(clippy::too_many_arguments)]
    fn inspect_http_tx<'t, 'b>(
        &self,
        tables: impl Iterator<Item = &'t TxRules> + Clone,
        need_of: fn(Sticky) -> Option<u8>,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        buffer: impl Fn(Sticky) -> Option<&'b [u8]>,
        progress: u8,
        settled: &mut Vec<u32>,
        scratch: &mut Scratch,
    ) -> Verdict {
        tx_candidates(tables, &buffer, |_| true, scratch);
        let Scratch {
            matches,
            cands,
            flowbits,
            app_buf,
            ..
        } = scratch;
        let mut verdict = Verdict::Inspected;
        for &rank in cands.iter() {
            let Some(c) = self.compiled.get(rank as usize) else {
                continue;
            };
            let (Some(app), Some(rule)) = (&c.app, self.rules.get(c.index as usize)) else {
                continue;
            };
            if settled.contains(&c.index) {
                continue;
            }
            if !groups::in_scope(c.scope, pkt) || !header::matches(rule, pkt, flow) {
                continue;
            }
            if c.bits.has_checks() && !c.bits.check(flowbits) {
                continue;
            }
            let mut hit = true;
            let mut can_later = false;
            for a in std::iter::once(app).chain(c.app_also.iter()) {
                let need = need_of(a.kind).unwrap_or(u8::MAX);
                if progress < need {
                    hit = false;
                    can_later = true;
                    continue;
                }
                if !a.hit(buffer(a.kind).into_iter(), app_buf) {
                    hit = false;
                    // At the buffer's own progress it may still come (NO_MATCH); past
                    // it, it cannot (CANT_MATCH).
                    can_later |= progress == need;
                }
            }
            if !hit {
                if !can_later {
                    settled.push(c.index);
                }
                continue;
            }
            settled.push(c.index);
            if tx_match(c, flowbits, matches, &mut verdict) {
                return Verdict::Pass;
            }
        }
        verdict
    }

    /// Whether some rule needs to know TLS flows (`tls.sni`, `alert tls`): only then does
    /// the worker follow the client's TLS records.
    pub fn has_tls_rules(&self) -> bool {
        self.tls.any
            || self.ja3_hash.any
            || self.ja3_string.any
            || self.ja3s[0].any
            || self.ja3s[1].any
            || self.tls_proto
            || self.has_cert_rules()
    }

    /// Whether some rule inspects the server's certificate: only then are they read.
    pub fn has_cert_rules(&self) -> bool {
        self.certs.iter().any(|t| t.any)
    }

    /// Whether some rule inspects a JA3 buffer: Suricata computes JA3 only then.
    pub fn has_ja3_rules(&self) -> bool {
        self.ja3_hash.any
            || self.ja3_string.any
            || self.ja3s.iter().any(|t| t.any)
            || self.compiled.iter().any(|c| {
                c.app_also.iter().any(|a| {
                    matches!(
                        a.kind,
                        Sticky::Ja3Hash | Sticky::Ja3String | Sticky::Ja3sHash | Sticky::Ja3sString
                    )
                })
            })
    }

    /// Inspects the request transaction `queries` that packet `pkt` carried (Suricata's
    /// `dns.query` rules, which look at requests alone): a rule matches when its header
    /// keywords match the packet and its buffer keywords match one of the query names.
    /// `matches()` then holds them in rank order. A `pass` or `drop` covers the flow, as
    /// Suricata's app-layer matches do. Call [`Scratch::begin_packet`] first.
    pub fn inspect_dns(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        queries: &Queries,
        scratch: &mut Scratch,
    ) -> Verdict {
        self.inspect_tx(
            &[&self.dns],
            true,
            pkt,
            flow,
            |_| queries.names(),
            |_| true,
            None,
            scratch,
        )
    }

    /// Inspects a TLS flow's ClientHello (`tls.sni`, `ja3.hash` and `ja3.string` rules)
    /// at packet `pkt`, as [`Engine::inspect_dns`] does a request's names: each rule
    /// looks at its buffer, and a rule whose buffer the hello lacks does not match.
    pub fn inspect_tls_hello(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        hello: &TlsHello<'_>,
        scratch: &mut Scratch,
    ) -> Verdict {
        let tx = TlsTx {
            to_server: true,
            hello: Some(*hello),
            certs: None,
            hello_fresh: true,
            certs_fresh: false,
        };
        self.inspect_tls(pkt, flow, &tx, None, scratch)
    }

    /// Inspects what of a TLS flow's transaction is ready at packet `pkt` (see
    /// [`TlsTx`]): hello and certificate rules together, in rank order. A `tls.certs`
    /// rule matches when one certificate of the chain matches it; a rule whose buffer
    /// the transaction lacks does not match.
    pub fn inspect_tls(
        &self,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        tx: &TlsTx<'_>,
        settle: Option<Settle<'_>>,
        scratch: &mut Scratch,
    ) -> Verdict {
        self.inspect_tx(
            &self.tls_txs(),
            flow.to_server,
            pkt,
            flow,
            |k| tx.buffers(k),
            |k| {
                if k.is_cert() {
                    tx.certs_fresh
                } else {
                    tx.hello_fresh
                }
            },
            settle,
            scratch,
        )
    }

    /// Every TLS transaction buffer's rules.
    fn tls_txs(&self) -> [&TxRules; 9] {
        let [a, b, c, d] = &self.certs;
        let [e, f] = &self.ja3s;
        [
            &self.tls,
            &self.ja3_hash,
            &self.ja3_string,
            e,
            f,
            a,
            b,
            c,
            d,
        ]
    }

    /// Whether some TLS transaction rule runs without a positive fast pattern (see
    /// [`Settle`]): only then must a flow's TLS state outlive its handshake.
    pub fn has_tls_rechecks(&self) -> bool {
        self.tls_txs().iter().any(|t| !t.always.is_empty())
    }

    /// Transaction rules of the given buffers: candidates from each buffer's prefilter
    /// (over `names` of that buffer) and its always-verified rules, verified in rank
    /// order so flowbits set by one are seen by the next, as for packet rules. The
    /// transaction goes `to_server` or to the client; packets going the other way see none.
    /// Only the buffers `fresh` picks run their prefilters (the others only their rules
    /// without a positive fast pattern); `settle` keeps what such rules settled.
    #[allow(clippy::too_many_arguments)]
    fn inspect_tx<'n, I: Iterator<Item = &'n [u8]>>(
        &self,
        txs: &[&TxRules],
        to_server: bool,
        pkt: &Packet<'_>,
        flow: &FlowInfo,
        names: impl Fn(Sticky) -> I,
        fresh: impl Fn(Sticky) -> bool,
        mut settle: Option<Settle<'_>>,
        scratch: &mut Scratch,
    ) -> Verdict {
        scratch.matches.clear();
        if flow.to_server != to_server || flow.header_only || txs.iter().all(|t| !t.any) {
            return Verdict::Inspected;
        }
        tx_candidates(txs.iter().copied(), &names, &fresh, scratch);
        let Scratch {
            matches,
            cands,
            flowbits,
            app_buf,
            ..
        } = scratch;
        let mut verdict = Verdict::Inspected;
        for &rank in cands.iter() {
            let Some(c) = self.compiled.get(rank as usize) else {
                continue;
            };
            let (Some(app), Some(rule)) = (&c.app, self.rules.get(c.index as usize)) else {
                continue;
            };
            // Settled per direction, as Suricata keeps its state per direction.
            let key = c.index << 1 | u32::from(!to_server);
            if !c.positive_fp && settle.as_ref().is_some_and(|s| s.settled.contains(&key)) {
                continue;
            }
            if !groups::in_scope(c.scope, pkt) || !header::matches(rule, pkt, flow) {
                continue;
            }
            if c.bits.has_checks() && !c.bits.check(flowbits) {
                continue;
            }
            let hit = app.hit(names(app.kind), app_buf)
                && c.app_also.iter().all(|a| a.hit(names(a.kind), app_buf));
            if !hit {
                continue;
            }
            if let Some(s) = settle.as_mut().filter(|_| !c.positive_fp) {
                // The point of the transaction the buffer belongs to: a hello's at once,
                // a certificate's once it is read (TLS_STATE_CERT_READY). A certificate
                // rule going to the client settles whatever the progress: so Suricata
                // 7.0.10 behaves (observed, see the README), though its code reads as if
                // it would not.
                let at = u8::from(app.kind.is_cert());
                let to_client_cert = app.kind.is_cert() && !to_server;
                if !c.negated_only || s.progress == at || to_client_cert {
                    s.settled.push(key);
                }
            }
            if tx_match(c, flowbits, matches, &mut verdict) {
                return Verdict::Pass;
            }
        }
        verdict
    }

    fn run(
        &self,
        pkt: &Packet<'_>,
        payload: &[u8],
        pass: Pass,
        flow: &FlowInfo,
        pre: Option<&[u32]>,
        scratch: &mut Scratch,
    ) -> Verdict {
        let tcp = matches!(pkt.l4, capture::decode::L4::Tcp(_));
        let stream_took_it = matches!(pass, Pass::Packet { in_stream: true }) && tcp;
        let Some(group) =
            self.candidates(pkt, flow.to_server, payload, stream_took_it, pre, scratch)
        else {
            return Verdict::Inspected;
        };
        let Scratch {
            matches,
            cands,
            stream_bits,
            stream_hits,
            flowbits,
            ..
        } = scratch;
        let mut verdict = Verdict::Inspected;
        // Merge the sorted candidates with the group's always-verified rules.
        let (mut a, mut b) = (cands.iter().peekable(), group.always.iter().peekable());
        loop {
            let rank = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x <= y => {
                    a.next();
                    x
                }
                (_, Some(&&y)) => {
                    b.next();
                    y
                }
                (Some(&&x), None) => {
                    a.next();
                    x
                }
                (None, None) => break,
            };
            let Some(c) = self.compiled.get(rank as usize) else {
                continue;
            };
            if c.ip_only && !flow.first_in_direction {
                continue;
            }
            if !c.kind.applies(pass, tcp) || (pass == Pass::EndOfFlow && !c.flow_action) {
                continue;
            }
            let (w, b) = (rank as usize / 64, 1u64 << (rank % 64));
            if stream_bits.get(w).is_some_and(|x| x & b != 0) {
                continue;
            }
            // Without a flow there are no bits: Suricata's isset and isnotset both fail.
            if c.bits.has_checks() && (flow.flowless || !c.bits.check(flowbits)) {
                continue;
            }
            if pass == Pass::Stream
                && c.negated_fp
                    .as_ref()
                    .is_some_and(|s| s.find(payload).is_some())
            {
                // Suricata drops a rule whose negated fast pattern its prefilter found
                // anywhere it scanned for the packet, stream bytes included: the
                // packet's own (possibly empty) payload is not tried either.
                push_once(stream_bits, stream_hits, rank);
                continue;
            }
            if !self.verify(rank, pkt, payload, flow) {
                continue;
            }
            c.bits.apply(flowbits);
            if pass == Pass::Stream {
                if let Some(x) = stream_bits.get_mut(w) {
                    *x |= b;
                    stream_hits.push(rank);
                }
            }
            // The flow takes a pass or drop action where Suricata's does: IP-only rules, and
            // matches on the reassembled stream (its `FLOW_IF_STATEFUL`); any other match
            // covers the packet alone, a TCP one included.
            let flow_scope = c.flow_action || pass == Pass::Stream;
            if c.pass {
                return if flow_scope {
                    Verdict::Pass
                } else {
                    Verdict::PassPacket
                };
            }
            if c.drop && flow_scope {
                verdict = Verdict::Drop;
            }
            if !c.noalert {
                matches.push(c.index as usize);
            }
        }
        verdict
    }
}

/// Suricata's IP-only signatures: no payload, flow, flowbits or per-packet header keyword.
/// `ip_proto` does not count (Suricata folds it into the rule's protocol set), and nor do
/// ports: Suricata 7 matches `alert tcp any any -> any 8003 (sid:1;)` like an IP-only rule
/// (the golden pcap's scenario P, and a `pass` of that shape passes the whole UDP or TCP
/// flow). A flow's addresses and ports are the same on each of its packets one way, so
/// such rules are matched once per flow direction, on its first packet. A negated
/// address makes the rule [`is_like_ip_only`] instead.
pub fn is_ip_only(r: &Rule) -> bool {
    ip_only_keywords(r) && !has_negated_address(r)
}

/// Suricata's "like IP-only" signatures (`SIG_TYPE_LIKE_IPONLY`): IP-only but for a
/// negated address (`!10.0.0.1`, `$EXTERNAL_NET`), which Suricata's IP-only engine does
/// not take. They are matched on every packet, as header rules are, and a `pass` or `drop`
/// among them still covers the whole flow.
pub fn is_like_ip_only(r: &Rule) -> bool {
    ip_only_keywords(r) && has_negated_address(r)
}

/// An address with a `!` anywhere in it, variables expanded (Suricata's
/// `src_contains_negation`/`dst_contains_negation`).
fn has_negated_address(r: &Rule) -> bool {
    [&r.src, &r.dst]
        .iter()
        .any(|a| !a.exclude.is_empty() || a.double_negated)
}

/// Suricata's `SIG_TYPE_APPLAYER`: an app-layer rule (`alert dns`) with no keyword to
/// inspect. A `flow` naming only a direction does not count: it adds no match to
/// Suricata's list (detect-flow.c), only a signature flag. Like the IP-only kinds, a
/// `pass` or `drop` of such a rule covers the whole flow (`SIG_PROP_FLOW_ACTION_FLOW`).
fn is_app_header_only(r: &Rule) -> bool {
    let direction_only = crate::rules::FlowMatch {
        to_server: r.flow.to_server,
        ..Default::default()
    };
    r.proto.is_app() && r.app_buffer.is_none() && r.flow == direction_only && no_packet_keywords(r)
}

fn ip_only_keywords(r: &Rule) -> bool {
    // Suricata: a rule with an app-layer protocol is never IP-only.
    !r.proto.is_app()
        && r.app_buffer.is_none()
        && r.flow == crate::rules::FlowMatch::default()
        && no_packet_keywords(r)
}

/// No payload keyword and none of Suricata's per-packet match list but `flow` (`dsize`,
/// `ttl`, `itype`, `icode`, `flags`, `flowbits`, `stream_size`).
fn no_packet_keywords(r: &Rule) -> bool {
    r.payload.is_empty()
        && r.dsize.is_none()
        && r.ttl.is_empty()
        && r.itype.is_empty()
        && r.icode.is_empty()
        && r.flags.is_empty()
        && r.flowbits.is_empty()
        && r.stream_size.is_empty()
}
