//! The detection worker: one per core, owning its flow table and matcher scratch. The same
//! code runs for pcap replay and live capture; only the frame source differs.

use crate::applayer::tcp::TcpApp;
use crate::applayer::{dns, AppProto, AppState, AppStats};
use crate::defrag::{self, Defrag, DefragConfig, DefragStats};
use crate::engine::{Engine, FlowInfo, Scratch, Settle, TlsCerts, TlsHello, TlsTx, Verdict};
use crate::flow::{FlowConfig, FlowStats, FlowTable, KeyedFlow};
use crate::rules::Action;
use crate::stream::{Outcome, StreamConfig, StreamStats, StreamTable};
use crate::threshold::{AlertGate, Decision, FilterStats};
use capture::decode::{self, DecodeStats, Packet, TcpHeader, Tunnel, TunnelConfig, L4};
use std::net::IpAddr;
use std::sync::Arc;

/// Suricata's `checksum-checks`. As in Suricata 7 (checked on crafted pcaps), a bad
/// checksum never keeps a packet from detection: checksums are counted, and matter to
/// the TCP stream engine (the stream issue), which ignores such segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Check the first packets and warn when more than a tenth are bad (checksum
    /// offloading on the capture host), then stop checking, as Suricata does for pcaps.
    #[default]
    Auto,
    /// Check every packet's transport checksum and count the bad ones.
    All,
    None,
}

/// Packets sampled by [`ChecksumMode::Auto`] before deciding.
const CHECKSUM_SAMPLE: u64 = 1000;

/// Cache lines of a coming packet's payload [`Worker::prefetch`] asks for.
const PREFETCH_PAYLOAD_LINES: usize = 4;

/// Slots each step of the timeout sweep looks at, one step per batch of up to 64 packets
/// (adjacent slots: the reads stream rather than miss one by one). A table of 65,536 flows
/// is walked at least once every 524,288 packets, and at low rates, where batches are
/// small, sooner. 64 per step cost 6% of the 1 GB bench's wall time, 8 cost 1.4% (11
/// interleaved pairs each).
const SWEEP_SLOTS: usize = 8;

/// Slots one step of the idle sweep looks at ([`Worker::sweep_idle`]), at most every
/// [`IDLE_SWEEP_EVERY_NS`]: a 65,536-flow table is walked in 1.6 s of quiet, for about
/// 10 µs a step.
const IDLE_SWEEP_SLOTS: usize = 4096;
const IDLE_SWEEP_EVERY_NS: u64 = 100_000_000;

/// Counters of one worker, merged into the run summary.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub packets: u64,
    pub bytes: u64,
    pub alerts: u64,
    /// Packets not inspected because their flow was passed by a `pass` rule.
    pub passed: u64,
    /// Packets not inspected because a `drop` (or `reject`) rule matched earlier in
    /// their flow.
    pub dropped: u64,
    /// Outer packets of tunnels inspected beside the packets inside them.
    pub outer_packets: u64,
    /// Packets whose transport checksum was wrong (while checksum checks were on).
    pub bad_checksum: u64,
    pub decode: DecodeStats,
    pub flows: FlowStats,
    pub stream: StreamStats,
    pub defrag: DefragStats,
    /// Matches that `suppress`, `threshold`, `detection_filter` kept from alerting, and
    /// alerts a `rate_filter` changed.
    pub filters: FilterStats,
    pub app: AppStats,
}

impl WorkerStats {
    pub fn merge(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.alerts += o.alerts;
        self.passed += o.passed;
        self.dropped += o.dropped;
        self.bad_checksum += o.bad_checksum;
        self.outer_packets += o.outer_packets;
        self.decode.merge(&o.decode);
        self.flows.merge(&o.flows);
        self.stream.merge(&o.stream);
        self.defrag.merge(&o.defrag);
        self.filters.merge(&o.filters);
        self.app.merge(&o.app);
    }
}

/// An alert as a worker raises it: the rule (by index into `engine.rules()`), the packet's
/// addresses, and copies of the matched payload and the whole packet. This is the only copy
/// on the packet path, and it happens only for packets that alert.
#[derive(Clone, Debug)]
pub struct AlertEvent {
    pub engine: Arc<Engine>,
    pub rule: u32,
    pub ts_ns: u64,
    pub flow_id: u64,
    pub to_server: bool,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_proto: u8,
    /// ICMP/ICMPv6 type and code, when the packet is ICMP.
    pub icmp: Option<(u8, u8)>,
    pub vlan: Vec<u16>,
    /// The tunnel the packet arrived in (addresses and ports above are the inner ones).
    pub tunnel: Option<Tunnel>,
    /// The packet's payload, or for a match on the reassembled stream the run of stream
    /// bytes that matched.
    pub payload: Vec<u8>,
    /// The packet's frame; empty for an inspection of a flow's remaining bytes at its end.
    pub packet: Vec<u8>,
    /// 1-based position of the packet in its capture file (EVE `pcap_cnt`), 0 when live.
    pub pcap_cnt: u64,
    /// The action a `rate_filter` gave this alert in place of the rule's.
    pub rate_action: Option<Action>,
}

impl AlertEvent {
    pub fn rule(&self) -> &crate::rules::Rule {
        &self.engine.rules()[self.rule as usize]
    }

    /// The alert's action: the rule's, unless a `rate_filter` changed it.
    pub fn action(&self) -> Action {
        self.rate_action.unwrap_or(self.rule().action)
    }
}

/// Per-worker settings.
#[derive(Clone, Debug, Default)]
pub struct WorkerConfig {
    pub flow: FlowConfig,
    pub checksums: ChecksumMode,
    pub stream: StreamConfig,
    pub defrag: DefragConfig,
}

/// One detection worker. Not `Sync`: each thread owns one.
pub struct Worker {
    engine: Arc<Engine>,
    scratch: Scratch,
    flows: FlowTable,
    /// TCP sessions by flow slot.
    streams: StreamTable,
    checksums: ChecksumMode,
    checked: u64,
    bad_sampled: u64,
    stats: WorkerStats,
    /// Flowbits by flow slot: `words` `u64`s per slot, beside the flow table's entry.
    flowbits: Box<[u64]>,
    words: usize,
    gate: AlertGate,
    defrag: Defrag,
    /// Where the defragmenter rebuilds a datagram; reused.
    rebuilt: Vec<u8>,
    /// The stream matches of the packet being inspected, held until its packet phase is
    /// done (see [`Held`]).
    held: Held,
    /// When [`Worker::sweep_idle`] last stepped the sweep.
    idle_swept_ns: u64,
    /// App-layer state ([`AppState`]) by flow slot.
    app: Box<[u8]>,
    /// The queries of the DNS request being inspected; reused.
    queries: dns::Queries,
    /// The TCP flows whose bytes the app layer follows (TLS detection and ClientHello).
    tcp_app: TcpApp,
}

/// Suricata sorts one alert queue per packet, its stream matches and its own together,
/// and stops at the first `pass`: a `pass` matched in any of a packet's stream runs, or
/// on the packet itself, drops every alert of that packet (every `pass` ranks before the
/// other actions). So stream alerts wait here, with copies of the bytes they matched in
/// (alerts are rare; the buffers are reused), until the packet's verdict is known.
#[derive(Default)]
struct Held {
    alerts: Vec<(u32, std::ops::Range<usize>)>,
    bytes: Vec<u8>,
}

impl Held {
    fn push(&mut self, rule: u32, data: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.alerts.push((rule, start..self.bytes.len()));
    }

    fn clear(&mut self) {
        self.alerts.clear();
        self.bytes.clear();
    }
}

/// Bytes each flow slot costs beside the flow table: its stream session, flowbits and
/// app-layer state.
fn per_slot_extra(engine: &Engine) -> usize {
    StreamTable::slot_bytes() + engine.flowbit_words() * 8 + crate::applayer::SLOT_BYTES
}

impl Worker {
    /// A worker; a `flow.memcap` too small for even a minimal table is an error (the
    /// config layer checks it first, see [`Worker::min_flow_memcap`]).
    pub fn try_new(
        engine: Arc<Engine>,
        config: &WorkerConfig,
        id: usize,
    ) -> Result<Worker, crate::flow::FlowError> {
        let words = engine.flowbit_words();
        let flows = FlowTable::with_extra(&config.flow, id, per_slot_extra(&engine))?;
        Ok(Worker {
            scratch: engine.scratch(),
            streams: StreamTable::new(&config.stream, flows.capacity()),
            flowbits: crate::hugepage::boxed(flows.capacity() * words, 0),
            words,
            gate: AlertGate::new(crate::threshold::DEFAULT_ENTRIES),
            defrag: Defrag::new(config.defrag.clone()),
            rebuilt: Vec::new(),
            held: Held::default(),
            idle_swept_ns: 0,
            app: vec![0; flows.capacity()].into_boxed_slice(),
            queries: dns::Queries::default(),
            tcp_app: {
                let mut t = TcpApp::default();
                t.set_protocols(engine.has_tls_rules(), engine.has_http_rules());
                t.set_http_body(engine.has_http_body_rules());
                t.set_http_responses(engine.has_http_response_rules());
                t.set_ja3(engine.has_ja3_rules());
                t.set_certs(engine.has_cert_rules() || engine.has_tls_rechecks());
                t.set_recheck(engine.has_tls_rechecks());
                t
            },
            engine,
            flows,
            checksums: config.checksums,
            checked: 0,
            bad_sampled: 0,
            stats: WorkerStats::default(),
        })
    }

    /// [`Worker::try_new`]; a memcap too small for a minimal table logs an error and
    /// gets the smallest table instead.
    pub fn new(engine: Arc<Engine>, config: &WorkerConfig, id: usize) -> Worker {
        match Worker::try_new(engine.clone(), config, id) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "flow table: using the smallest table");
                let mut c = config.clone();
                c.flow.memcap = None;
                c.flow.max_flows = 1;
                match Worker::try_new(engine, &c, id) {
                    Ok(w) => w,
                    Err(e) => unreachable!("a flow table without memcap: {e}"),
                }
            }
        }
    }

    /// The smallest `flow.memcap` per worker that `engine` can run with.
    pub fn min_flow_memcap(engine: &Engine) -> u64 {
        ((FlowTable::slot_bytes() + per_slot_extra(engine)) * 8) as u64
    }

    /// Bytes of per-flow state this worker holds for its flow table (the figure
    /// `flow.memcap` bounds): flow entries, stream sessions and flowbits.
    pub fn flow_memory(&self) -> usize {
        self.flows.memory()
    }

    /// Swaps in a new rule set (live reload, between batches); flows and counters
    /// carry over. Flowbit ids belong to a rule set, so every flow's flowbits are
    /// cleared when the new set numbers them differently.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.scratch = engine.scratch();
        let words = engine.flowbit_words();
        if words != self.words || words > 0 {
            self.words = words;
            self.flowbits = crate::hugepage::boxed(self.flows.capacity() * words, 0);
        }
        self.tcp_app
            .set_protocols(engine.has_tls_rules(), engine.has_http_rules());
        self.tcp_app.set_http_body(engine.has_http_body_rules());
        self.tcp_app
            .set_http_responses(engine.has_http_response_rules());
        self.tcp_app.set_ja3(engine.has_ja3_rules());
        self.tcp_app
            .set_certs(engine.has_cert_rules() || engine.has_tls_rechecks());
        self.tcp_app.set_recheck(engine.has_tls_rechecks());
        self.engine = engine;
    }

    /// Copies a flow's bits into the scratch before its inspections.
    #[inline]
    fn load_bits(&mut self, slot: u32) {
        if self.words == 0 {
            return;
        }
        let at = slot as usize * self.words;
        if let Some(src) = self.flowbits.get(at..at + self.words) {
            self.scratch.flowbits_mut().copy_from_slice(src);
        }
    }

    /// Writes the scratch's bits back to the flow after its inspections.
    #[inline]
    fn store_bits(&mut self, slot: u32) {
        if self.words == 0 {
            return;
        }
        let at = slot as usize * self.words;
        if let Some(dst) = self.flowbits.get_mut(at..at + self.words) {
            dst.copy_from_slice(self.scratch.flowbits_mut());
        }
    }

    /// A new flow took `slot`: it starts with no bits set.
    fn clear_bits(&mut self, slot: u32) {
        // Most rule sets have no flowbits: skip the call into libc's memset for nothing
        // (3% of a worker's time on the 100-rule bench, one call per new flow).
        if self.words == 0 {
            return;
        }
        let at = slot as usize * self.words;
        if let Some(b) = self.flowbits.get_mut(at..at + self.words) {
            b.fill(0);
        }
    }

    pub fn stats(&self) -> WorkerStats {
        let mut s = self.stats.clone();
        s.flows = self.flows.stats();
        s.stream = self.streams.stats();
        s.filters = self.gate.stats();
        s.defrag = self.defrag.stats();
        let t = self.tcp_app.stats;
        s.app.tls_flows = t.tls_flows;
        s.app.tls_sni = t.tls_sni;
        s.app.tls_certs = t.tls_certs;
        s.app.tcp_given_up = t.given_up;
        s.app.tcp_held_peak = t.held_peak;
        s.app.http_flows = t.http_flows;
        s.app.http_requests = t.http_requests;
        s.app.http_responses = t.http_responses;
        s.app.http_bodies_compressed = t.http_bodies_compressed;
        s
    }

    /// Bytes the defragmenter holds now (the figure `defrag.memcap` bounds).
    pub fn defrag_memory(&self) -> usize {
        self.defrag.memory()
    }

    /// Flows the table holds now (for live metrics).
    pub fn flows_active(&self) -> usize {
        self.flows.len()
    }

    /// Counts a bad transport checksum; in `Auto` mode only over the first packets.
    #[inline]
    fn check_checksum(&mut self, p: &Packet<'_>) {
        // Inline so that, once `auto` has sampled its packets, the check costs no call.
        if self.checksums == ChecksumMode::None || p.fragment.is_some() {
            return;
        }
        self.verify_checksum(p);
    }

    #[inline(never)]
    fn verify_checksum(&mut self, p: &Packet<'_>) {
        let ok = decode::transport_checksum_ok(p);
        if !ok {
            self.stats.bad_checksum += 1;
        }
        if self.checksums == ChecksumMode::Auto {
            self.checked += 1;
            if !ok {
                self.bad_sampled += 1;
            }
            if self.checked == CHECKSUM_SAMPLE {
                if self.bad_sampled * 10 > CHECKSUM_SAMPLE {
                    tracing::warn!(
                        bad = self.bad_sampled,
                        sampled = CHECKSUM_SAMPLE,
                        "many bad checksums: checksum offloading on the capture host?"
                    );
                }
                self.checksums = ChecksumMode::None;
            }
        }
    }

    /// Warms the flow table, session and payload lines for a packet that
    /// [`Worker::handle_packet`] will see soon, from the parts of it they depend on (a
    /// packed packet need not be unpacked for this). `flow_hash` is the packet's
    /// [`crate::flow::flow_hash`]; `tcp` whether it has a session to warm; `syn` whether it
    /// is a TCP SYN without ACK.
    #[inline]
    pub fn prefetch(&self, flow_hash: u64, tcp: bool, syn: bool, payload: &[u8]) {
        self.flows.prefetch(flow_hash);
        // A SYN almost always starts a flow, which may walk its whole window of slots.
        if syn {
            self.flows.prefetch_window(flow_hash);
        }
        // The session line of the flow's home slot, where most flows live.
        if tcp {
            self.streams.prefetch(self.flows.home_slot(flow_hash));
        }
        // The payload's first lines: the stream copy and the prefilter read it next.
        for line in payload.chunks(64).take(PREFETCH_PAYLOAD_LINES) {
            crate::flow::prefetch(line.as_ptr());
        }
    }

    /// Inspects a decoded packet (in dispatch mode the reader decodes). A fragment goes
    /// to the defragmenter, and the datagram it completes is inspected as one packet,
    /// stamped with the fragment's time.
    pub fn handle_packet(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        pcap_cnt: u64,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        self.handle(ts_ns, p, None, pcap_cnt, sink);
    }

    /// [`Worker::handle_packet`] for a packet whose flow key the caller built (dispatch's
    /// reader does, beside the worker).
    pub fn handle_hashed(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        flow: &KeyedFlow,
        pcap_cnt: u64,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        self.handle(ts_ns, p, Some(flow), pcap_cnt, sink);
    }

    /// Without a flow key the flow table builds it.
    fn handle(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        flow: Option<&KeyedFlow>,
        pcap_cnt: u64,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        self.stats.packets += 1;
        self.stats.bytes += p.frame.len() as u64;
        if p.tunnel.is_some_and(|t| t.depth > 0) {
            self.inspect_outers(ts_ns, p, pcap_cnt, sink);
        }
        if p.fragment.is_some() {
            self.stats.decode.fragments += 1;
            if defrag::is_fragment(p) {
                self.on_fragment(ts_ns, p, pcap_cnt, sink);
                return;
            }
        }
        self.inspect(ts_ns, p, flow, pcap_cnt, false, sink);
    }

    /// Ends the timed-out flows of the next [`SWEEP_SLOTS`] slots of the flow table (see
    /// [`FlowTable::sweep`]): what their streams still hold is inspected now, stamped
    /// `ts_ns`, as Suricata's flow manager does at a timeout. The packet loops call it
    /// once per batch, with the time of the batch's last packet.
    #[inline(never)]
    pub fn sweep(&mut self, ts_ns: u64, sink: &mut impl FnMut(AlertEvent)) {
        let mut ended = [0u32; SWEEP_SLOTS];
        let n = self.flows.sweep(ts_ns, &mut ended);
        for &slot in ended.get(..n).unwrap_or_default() {
            self.end_slot(slot, ts_ns, sink);
        }
    }

    /// Steps the timeout sweep by the clock while a live link is quiet: with no packets
    /// there are no batch ends to step it, and without this a flow that went quiet with
    /// bytes held would wait uninspected until traffic came back. Cheap to call on every
    /// empty poll: it works at most every 100 ms. Returns whether it worked.
    pub fn sweep_idle(&mut self, now_ns: u64, sink: &mut impl FnMut(AlertEvent)) -> bool {
        if now_ns.saturating_sub(self.idle_swept_ns) < IDLE_SWEEP_EVERY_NS {
            return false;
        }
        self.idle_swept_ns = now_ns;
        let steps = IDLE_SWEEP_SLOTS.min(self.flows.capacity()) / SWEEP_SLOTS;
        for _ in 0..steps.max(1) {
            self.sweep(now_ns, sink);
        }
        true
    }

    /// Ends the per-slot state of a flow that ended (timed out, evicted, or the capture
    /// is over): inspects what its stream still holds, then frees its session and clears
    /// its flowbits for the next flow in the slot.
    fn end_slot(&mut self, slot: u32, ts_ns: u64, sink: &mut impl FnMut(AlertEvent)) {
        self.flush_slot(slot, ts_ns, sink);
        self.streams.release(slot);
        self.clear_bits(slot);
        if let Some(a) = self.app.get_mut(slot as usize) {
            *a = 0;
        }
        self.tcp_app.close(slot);
    }

    /// Inspects each outer packet of `p`'s tunnel, outermost first, as Suricata 7 does
    /// (checked on the tunnel golden pcaps): header rules only ([`FlowInfo::header_only`]).
    /// A VXLAN or GENEVE outer packet belongs to a UDP flow of its own, as does an IPv4
    /// packet carrying IPv6; GRE and IP-in-IP outer packets have no flow
    /// ([`crate::flow::has_flow`]).
    #[cold]
    fn inspect_outers(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        pcap_cnt: u64,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        let depth = p.tunnel.map_or(0, |t| t.depth);
        for k in 0..depth {
            // The frame decoded this deep once already, so this cannot fail; were it to,
            // the layer is counted and skipped.
            match decode::decode_outer(p, k, false, &TunnelConfig::DEFAULT) {
                Some(Ok(outer)) => {
                    self.stats.outer_packets += 1;
                    self.inspect(ts_ns, &outer, None, pcap_cnt, true, sink);
                }
                Some(Err(e)) => self.stats.decode.count(e.reason),
                None => {}
            }
        }
    }

    /// Adds a fragment to its datagram and inspects the datagram once it is whole.
    ///
    /// As in Suricata 7 (checked on the defrag golden pcap), the fragment itself is
    /// inspected first, as a packet without flow, transport header or payload: only
    /// rules without payload keywords and with `any` ports can match it (an `ip` rule
    /// alerts once per fragment and once for the datagram).
    #[cold]
    fn on_fragment(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        pcap_cnt: u64,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        let bare = Packet {
            l4: L4::Other,
            l4_offset: p.l4_offset,
            payload: &[],
            ..*p
        };
        self.inspect_flowless(ts_ns, &bare, pcap_cnt, false, sink);
        let mut buf = std::mem::take(&mut self.rebuilt);
        if let Some(link) = self.defrag.insert(p, ts_ns, &mut buf) {
            match decode::decode(link, &buf, false) {
                Ok(rp) => {
                    // Rebuilt as raw IP when tunneled (see defrag): the tunnel and VLANs
                    // are the fragments'.
                    let rp = match p.tunnel {
                        Some(_) => Packet {
                            tunnel: p.tunnel,
                            vlan: p.vlan,
                            vlan_count: p.vlan_count,
                            ..rp
                        },
                        None => rp,
                    };
                    self.inspect(ts_ns, &rp, None, pcap_cnt, false, sink)
                }
                Err(e) => self.stats.decode.count(e.reason),
            }
        }
        self.rebuilt = buf;
    }

    /// Rule inspection of a packet Suricata gives no flow (a fragment, an ICMP error, a
    /// protocol without flows, see [`crate::flow::has_flow`]): it
    /// goes to the server, is the first of its direction (IP-only rules are evaluated),
    /// and has no flowbits; `flow:established` and `flow:not_established` do not match.
    #[cold]
    fn inspect_flowless(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        pcap_cnt: u64,
        header_only: bool,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        let info = FlowInfo {
            to_server: true,
            established: false,
            first_in_direction: true,
            flowless: true,
            header_only,
            stream_data: false,
            stream_size: None,
            app: AppProto::Unknown,
            payload_unread: false,
        };
        let at = At {
            ts_ns,
            flow_id: 0,
            to_server: true,
            pcap_cnt,
        };
        self.scratch.begin_packet();
        if self.words > 0 {
            self.scratch.flowbits_mut().fill(0);
        }
        // A pass verdict has no flow to mark: it covers this packet alone.
        self.engine
            .inspect_packet(p, &info, false, &mut self.scratch);
        self.raise_matches(&at, p, p.payload, sink);
    }

    /// Flow, stream and rule inspection of one whole packet (`header_only`: a tunnel's
    /// outer packet, see [`FlowInfo::header_only`]).
    fn inspect(
        &mut self,
        ts_ns: u64,
        p: &Packet<'_>,
        flow: Option<&KeyedFlow>,
        pcap_cnt: u64,
        header_only: bool,
        sink: &mut impl FnMut(AlertEvent),
    ) {
        if !header_only {
            self.check_checksum(p);
        }
        if !crate::flow::has_flow(p) {
            return self.inspect_flowless(ts_ns, p, pcap_cnt, header_only, sink);
        }
        let view = match crate::flow::icmp_error(p) {
            None => match flow {
                Some(k) => self.flows.update_hashed(p, k, ts_ns),
                None => self.flows.update(p, ts_ns),
            },
            Some(quoted) => match quoted.and_then(|_| self.flows.attach(p, ts_ns)) {
                Some(view) => view,
                None => return self.inspect_flowless(ts_ns, p, pcap_cnt, header_only, sink),
            },
        };
        if view.created {
            // The slot's previous flow ended (timed out or evicted): inspect what it left.
            self.end_slot(view.slot, ts_ns, sink);
        }
        if view.passed {
            if view.dropped {
                self.stats.dropped += 1;
            } else {
                self.stats.passed += 1;
            }
            return;
        }
        let mut raw = false;
        let mut outcome = if matches!(p.l4, L4::Tcp(_)) && !header_only {
            raw = self.engine.raw_stream(p, view.to_server);
            // Bytes no rule reads as a stream are still kept where Suricata keeps them:
            // whether they wait to be inspected decides what `dsize` sees.
            let keep =
                !p.payload.is_empty() && (raw || self.engine.wants_stream(p, view.to_server));
            self.streams
                .on_packet(view.slot, view.id, view.to_server, keep, p)
        } else {
            Outcome::default()
        };
        // A TLS flow whose content Suricata stopped inspecting at an earlier packet, and
        // whether this direction's last held bytes are flushed at this packet.
        let (mut no_payload, mut flushed) = (false, false);
        let (to_server, app, dns_request) = match (&p.l4, header_only) {
            (L4::Udp(u), false) => {
                self.app_layer(p, u.src_port, u.dst_port, view.slot, view.to_server)
            }
            (L4::Tcp(t), false) if self.engine.has_tcp_app_rules() => {
                no_payload = self
                    .app
                    .get(view.slot as usize)
                    .is_some_and(|&a| AppState(a).tcp_no_inspect());
                let (st, encrypted_now) =
                    self.tcp_app_layer(view.slot, view.to_server, t, p.payload, outcome);
                if no_payload {
                    flushed = self.streams.pending(view.slot)[usize::from(!view.to_server)];
                    self.streams.drop_raw(view.slot);
                    outcome.ready = false;
                } else if encrypted_now {
                    // The flush of this direction (see `StreamTable::disable_raw`).
                    outcome.ready |= self.streams.pending(view.slot)[usize::from(!view.to_server)];
                }
                (view.to_server, st.tcp_proto(), false)
            }
            _ => (view.to_server, AppProto::Unknown, false),
        };
        let info = FlowInfo {
            to_server,
            // TCP: the session's state (it knows midstream pickups and resets); other
            // protocols: the flow's (a reply seen).
            established: if matches!(p.l4, L4::Tcp(_)) {
                outcome.was_established
            } else {
                view.established
            },
            first_in_direction: view.first_in_direction,
            flowless: false,
            header_only,
            stream_data: outcome.ready && raw,
            stream_size: outcome.sizes,
            app,
            payload_unread: false,
        };
        let at = At {
            ts_ns,
            flow_id: view.id,
            to_server,
            pcap_cnt,
        };
        // The stream's scan of the new bytes may also serve as the packet's own.
        let mut prefiltered = false;
        if outcome.in_stream {
            let Worker {
                engine,
                scratch,
                streams,
                ..
            } = self;
            let lookback = engine.max_pattern_len().saturating_sub(1);
            streams.prefilter_new(view.slot, view.to_server, lookback, |hay, split, out| {
                prefiltered = engine.prefilter_stream(p, view.to_server, hay, split, scratch, out)
            });
        }
        self.scratch.begin_packet();
        self.load_bits(view.slot);
        let stream_verdict = if outcome.ready {
            self.inspect_stream(view.slot, false, p, &info, &at)
        } else {
            Verdict::Inspected
        };
        if stream_verdict == Verdict::Pass {
            self.held.clear();
            self.store_bits(view.slot);
            self.pass_flow(view.slot);
            return;
        }
        let pkt_info = FlowInfo {
            payload_unread: no_payload,
            stream_data: info.stream_data || flushed,
            ..info
        };
        let verdict = if prefiltered && !no_payload {
            self.engine
                .inspect_packet_prefiltered(p, &pkt_info, &mut self.scratch)
        } else {
            self.engine
                .inspect_packet(p, &pkt_info, outcome.in_stream, &mut self.scratch)
        };
        // A DNS request's transaction rules run after the packet's own, as Suricata's
        // do; the packet's alerts wait with the held ones, since a `pass` among the
        // transaction's matches drops them all.
        let mut dns_verdict = Verdict::Inspected;
        // The TLS transaction: the sender's hello (the client's server name and JA3, the
        // server's JA3S), and its certificate once the handshake is done.
        let tls_tx = app == AppProto::Tls
            && !matches!(verdict, Verdict::Pass | Verdict::PassPacket)
            && self.tcp_app.has_tx(view.slot, to_server);
        if (dns_request || tls_tx) && !matches!(verdict, Verdict::Pass | Verdict::PassPacket) {
            let Worker {
                scratch,
                held,
                engine,
                tcp_app,
                queries,
                ..
            } = self;
            for &rule in scratch.matches() {
                held.push(rule as u32, p.payload);
            }
            dns_verdict = if tls_tx {
                match tcp_app.take_tx(view.slot, to_server) {
                    Some(ready) => {
                        let s = ready.side;
                        let (chain, list) = s.cert_chain();
                        let tx = TlsTx {
                            to_server,
                            hello: ready.hello.then(|| TlsHello {
                                sni: s.sni(),
                                ja3_hash: s.ja3_hash(),
                                ja3_string: s.ja3_string(),
                            }),
                            certs: ready.certs.then_some(TlsCerts {
                                chain,
                                list,
                                subject: s.cert_subject(),
                                issuer: s.cert_issuer(),
                                serial: s.cert_serial(),
                            }),
                            hello_fresh: ready.hello_fresh,
                            certs_fresh: ready.certs_fresh,
                        };
                        let settle = Settle {
                            progress: ready.progress,
                            settled: ready.settled,
                        };
                        engine.inspect_tls(p, &info, &tx, Some(settle), scratch)
                    }
                    None => Verdict::Inspected,
                }
            } else {
                engine.inspect_dns(p, &info, queries, scratch)
            };
            if tls_tx {
                self.tcp_app_done(view.slot);
            }
            if dns_verdict == Verdict::Pass {
                self.held.clear();
                self.store_bits(view.slot);
                self.pass_flow(view.slot);
                return;
            }
        }
        // An HTTP flow's requests due at this packet of the client's, or its responses at
        // one of the server's (each alerts once per transaction).
        if app == AppProto::Http
            && !matches!(verdict, Verdict::Pass | Verdict::PassPacket)
            && dns_verdict == Verdict::Inspected
            && self.tcp_app.has_tx(view.slot, to_server)
        {
            let Worker {
                scratch,
                held,
                engine,
                tcp_app,
                ..
            } = self;
            if !dns_request && !tls_tx {
                for &rule in scratch.matches() {
                    held.push(rule as u32, p.payload);
                }
            }
            let mut v = Verdict::Inspected;
            if to_server {
                tcp_app.inspect_http(view.slot, |tx, settled| {
                    if v == Verdict::Pass {
                        return;
                    }
                    let got = engine.inspect_http(
                        p,
                        &info,
                        |k| tx.buffer(k),
                        tx.progress,
                        settled,
                        scratch,
                    );
                    if got != Verdict::Inspected {
                        v = got;
                    }
                    for &rule in scratch.matches() {
                        held.push(rule as u32, p.payload);
                    }
                });
                self.scratch.clear_matches();
            } else {
                v = self.inspect_responses(view.slot, false, p, &info);
            }
            self.tcp_app_done(view.slot);
            if v == Verdict::Pass {
                self.held.clear();
                self.store_bits(view.slot);
                self.pass_flow(view.slot);
                return;
            }
            dns_verdict = v;
        }
        self.store_bits(view.slot);
        if matches!(verdict, Verdict::Pass | Verdict::PassPacket) {
            self.held.clear();
        } else {
            self.raise_held(&at, p, sink);
        }
        self.raise_matches(&at, p, p.payload, sink);
        // Suricata sorts the packet's one alert queue (stream runs and payload together)
        // with `pass` rules first and stops at the first pass: a pass anywhere keeps a
        // drop from reaching the flow, and one scoped to this packet lets the flow go on.
        match verdict {
            Verdict::Pass => self.pass_flow(view.slot),
            Verdict::PassPacket => {}
            Verdict::Drop => self.drop_flow(view.slot),
            Verdict::Inspected
                if stream_verdict == Verdict::Drop || dns_verdict == Verdict::Drop =>
            {
                self.drop_flow(view.slot)
            }
            Verdict::Inspected => {}
        }
    }

    /// The app layer's step for a UDP packet of the flow in `slot` (`table_to_server` in
    /// the flow table's orientation), before the packet is inspected: it tells the flow's
    /// protocol and may turn the flow round, as Suricata's does. Returns the packet's
    /// direction after any turn, the flow's protocol, and whether the packet is a DNS
    /// request now in `self.queries` (parsed only when some rule inspects requests).
    fn app_layer(
        &mut self,
        p: &Packet<'_>,
        src_port: u16,
        dst_port: u16,
        slot: u32,
        table_to_server: bool,
    ) -> (bool, AppProto, bool) {
        let Some(a) = self.app.get_mut(slot as usize) else {
            return (table_to_server, AppProto::Unknown, false);
        };
        let ports = if table_to_server {
            [src_port, dst_port]
        } else {
            [dst_port, src_port]
        };
        let mut state = AppState(*a);
        let step = state.on_packet(table_to_server, ports, p.payload);
        *a = state.0;
        self.stats.app.reversed_flows += u64::from(step.reversed_now);
        let mut request = false;
        if step.parse && step.to_server && self.engine.has_dns_rules() {
            request = dns::parse_request(p.payload, &mut self.queries);
            self.stats.app.dns_requests += u64::from(request);
        }
        (step.to_server, step.proto, request)
    }

    /// The TCP app layer's step for a packet of the flow in `slot`, after the stream took
    /// it: the packet's in-order bytes are recorded, and the bytes of the other
    /// direction it acknowledges go to protocol detection and the TLS parser, as
    /// Suricata's stream engine hands them to its app layer. Returns the flow's state.
    fn tcp_app_layer(
        &mut self,
        slot: u32,
        to_server: bool,
        t: &TcpHeader,
        payload: &[u8],
        outcome: Outcome,
    ) -> (AppState, bool) {
        let Some(a) = self.app.get(slot as usize).copied() else {
            return (AppState::default(), false);
        };
        let mut st = AppState(a);
        if !st.tcp_wants_follow() {
            return (st, false);
        }
        let mut encrypted_now = false;
        let data = outcome.in_stream && !payload.is_empty();
        if !st.tcp_followed() {
            if !data {
                return (st, false);
            }
            let server_port = if to_server { t.dst_port } else { t.src_port };
            self.tcp_app.open(slot, server_port);
            st.set_tcp(true, false, false);
        }
        let (mut tls, mut http) = (false, false);
        if data {
            if let Some(off) = self.streams.offset_of(slot, to_server, t.seq) {
                self.tcp_app.on_data(slot, to_server, off, payload);
            }
        }
        if t.flags & capture::decode::tcp_flags::FIN != 0 {
            if let Some(off) = self.streams.offset_of(slot, to_server, t.seq) {
                let end = off.wrapping_add(payload.len() as u32);
                self.tcp_app.on_fin(slot, to_server, end);
            }
        }
        if t.flags & capture::decode::tcp_flags::ACK != 0 {
            if let Some(acked) = self.streams.acked(slot, !to_server) {
                let step = self.tcp_app.on_ack(slot, !to_server, acked);
                for (d, &trigger) in step.trigger_raw.iter().enumerate() {
                    if trigger {
                        self.streams.trigger_raw(slot, d == 0);
                    }
                }
                if step.encrypted_now {
                    // Content inspection stops from the next packet; this packet's own
                    // direction flushes its acknowledged bytes first.
                    self.tcp_app.stop(slot);
                    self.streams.disable_raw(slot);
                    encrypted_now = true;
                }
                tls = step.tls;
                http = step.http;
            }
        }
        st.set_tcp(self.tcp_app.is_open(slot), tls, encrypted_now);
        if http {
            st.set_tcp_http();
        }
        if let Some(a) = self.app.get_mut(slot as usize) {
            *a = st.0;
        }
        if st.tcp_followed() && self.tcp_app.done(slot) {
            self.tcp_app_done(slot);
            st = AppState(self.app.get(slot as usize).copied().unwrap_or(0));
        }
        (st, encrypted_now)
    }

    /// Closes the TCP app layer's copy of a flow that needs no more following.
    fn tcp_app_done(&mut self, slot: u32) {
        if self.tcp_app.done(slot) {
            self.tcp_app.close(slot);
            if let Some(a) = self.app.get_mut(slot as usize) {
                let mut st = AppState(*a);
                st.set_tcp(false, false, false);
                *a = st.0;
            }
        }
    }

    /// A `pass` rule matched for the whole flow: nothing of it is inspected any more,
    /// including the bytes its stream still holds.
    fn pass_flow(&mut self, slot: u32) {
        self.flows.mark_passed(slot);
        self.streams.release(slot);
        self.tcp_app.close(slot);
    }

    /// A `drop` rule matched for the whole flow: Suricata drops its later packets
    /// uninspected, and the bytes its stream still holds are never inspected.
    fn drop_flow(&mut self, slot: u32) {
        self.flows.mark_dropped(slot);
        self.streams.release(slot);
        self.tcp_app.close(slot);
    }

    /// Runs the response rules on the responses of the HTTP flow in `slot` due at `p` (a
    /// packet to the client; `eof`: the flow's end-of-flow pseudo packet, which takes
    /// every response): their matches wait in `held`. Returns the strongest verdict.
    fn inspect_responses(
        &mut self,
        slot: u32,
        eof: bool,
        p: &Packet<'_>,
        info: &FlowInfo,
    ) -> Verdict {
        let Worker {
            scratch,
            held,
            engine,
            tcp_app,
            ..
        } = self;
        let mut v = Verdict::Inspected;
        tcp_app.inspect_http_responses(slot, eof, |tx, settled| {
            if v == Verdict::Pass {
                return;
            }
            let got = engine.inspect_http_response(
                p,
                info,
                |k| tx.buffer(k),
                tx.progress,
                settled,
                scratch,
            );
            if got != Verdict::Inspected {
                v = got;
            }
            for &rule in scratch.matches() {
                held.push(rule as u32, p.payload);
            }
        });
        self.scratch.clear_matches();
        v
    }

    /// Raw stream inspection of `slot` in the direction of `at` for packet `p`: each run
    /// of bytes goes through the matcher, and its alerts, carrying that run, are held
    /// (see [`Held`]) for the caller to raise or drop. `Pass` when a `pass` rule matched
    /// (the flow is passed; later runs are not inspected), `Drop` when a `drop` rule did
    /// (every run is, as the packet is).
    fn inspect_stream(
        &mut self,
        slot: u32,
        eof: bool,
        p: &Packet<'_>,
        info: &FlowInfo,
        at: &At,
    ) -> Verdict {
        let Worker {
            engine,
            scratch,
            streams,
            held,
            ..
        } = self;
        let mut outcome = Verdict::Inspected;
        if engine.has_negated_stream_rules(p, info.to_server) {
            streams.peek(slot, at.to_server, eof, |data| {
                engine.skip_negated_in_stream(p, data, info, scratch)
            });
        }
        streams.inspect(slot, at.to_server, eof, |data, cands| {
            if outcome == Verdict::Pass {
                return;
            }
            let verdict = match cands {
                Some(c) => engine.inspect_stream_with(p, data, c, info, scratch),
                None => engine.inspect_stream(p, data, info, scratch),
            };
            // A pass in any run wins over a drop in another: the packet's alert queue is
            // sorted with `pass` rules first (see [`Worker::inspect`]).
            match verdict {
                Verdict::Pass => outcome = Verdict::Pass,
                Verdict::Drop => outcome = Verdict::Drop,
                _ => {}
            }
            for &rule in scratch.matches() {
                held.push(rule as u32, data);
            }
        });
        outcome
    }

    /// Raises the packet matches of the inspection just done (`payload`: what the
    /// alerts carry).
    #[inline]
    fn raise_matches(
        &mut self,
        at: &At,
        p: &Packet<'_>,
        payload: &[u8],
        sink: &mut impl FnMut(AlertEvent),
    ) {
        let Worker {
            engine,
            scratch,
            stats,
            gate,
            ..
        } = self;
        for &rule in scratch.matches() {
            raise(engine, gate, stats, rule as u32, at, p, payload, sink);
        }
    }

    /// Raises the held stream alerts of the packet just inspected.
    fn raise_held(&mut self, at: &At, p: &Packet<'_>, sink: &mut impl FnMut(AlertEvent)) {
        let Worker {
            engine,
            stats,
            gate,
            held,
            ..
        } = self;
        for (rule, range) in &held.alerts {
            let data = held.bytes.get(range.clone()).unwrap_or_default();
            raise(engine, gate, stats, *rule, at, p, data, sink);
        }
        held.clear();
    }

    /// Ends a TCP flow as Suricata does at a timeout or the end of input: a pseudo
    /// packet for each direction whose stream holds bytes not yet inspected, and for
    /// both directions when the session is established and not closed (flow-timeout.c;
    /// Suricata also sends one where its app layer has not consumed every byte, which
    /// tidewatch, without an app layer, cannot know).
    /// Each is inspected like a packet: the stream's remaining bytes (acknowledged or
    /// not), then the "like IP-only" header rules ([`Engine::inspect_end_of_flow`]).
    /// The packet has the flow's addresses and ports, TTL 64, no TCP flags and no
    /// payload; its alerts carry `ts_ns` and no capture position. A flow-wide `pass` or
    /// `drop` on the first keeps the second from being inspected.
    fn flush_slot(&mut self, slot: u32, ts_ns: u64, sink: &mut impl FnMut(AlertEvent)) {
        let pending = self.streams.pending(slot);
        let open = self.engine.has_end_of_flow_rules() && self.streams.open(slot);
        let responses = self.engine.has_http_response_rules() && self.tcp_app.has_responses(slot);
        if pending == [false; 2] && !open && !responses {
            return;
        }
        let Some(ep) = self.streams.endpoints(slot) else {
            return;
        };
        for (d, to_server) in [(0, true), (1, false)] {
            let txs = !to_server && responses;
            if !pending[d] && !open && !txs {
                continue;
            }
            let ((src, sport), (dst, dport)) = if to_server {
                (ep.client, ep.server)
            } else {
                (ep.server, ep.client)
            };
            let p = Packet {
                frame: &[],
                vlan: ep.vlan,
                vlan_count: ep.vlan_count,
                l3_offset: 0,
                l4_offset: 0,
                src,
                dst,
                ip_proto: 6,
                ttl: 64,
                ip_id: 0,
                tos: 0,
                ip_options: false,
                fragment: None,
                l4: L4::Tcp(TcpHeader {
                    src_port: sport,
                    dst_port: dport,
                    flags: 0,
                    ..TcpHeader::default()
                }),
                payload: &[],
                tunnel: None,
                tunnel_error: None,
            };
            let info = FlowInfo {
                to_server,
                established: true,
                first_in_direction: false,
                flowless: false,
                header_only: false,
                stream_data: true,
                stream_size: self.streams.sizes(slot),
                app: self
                    .app
                    .get(slot as usize)
                    .map_or(AppProto::Unknown, |&a| AppState(a).tcp_proto()),
                payload_unread: false,
            };
            let at = At {
                ts_ns,
                flow_id: ep.flow_id,
                to_server,
                pcap_cnt: 0,
            };
            self.scratch.begin_packet();
            self.load_bits(slot);
            let stream = if pending[d] {
                self.inspect_stream(slot, true, &p, &info, &at)
            } else {
                Verdict::Inspected
            };
            let header = if stream == Verdict::Pass || !(pending[d] || open) {
                Verdict::Inspected
            } else {
                self.engine
                    .inspect_end_of_flow(&p, &info, &mut self.scratch)
            };
            let mut tx_verdict = Verdict::Inspected;
            if txs && stream != Verdict::Pass && header != Verdict::Pass {
                let Worker { scratch, held, .. } = self;
                for &rule in scratch.matches() {
                    held.push(rule as u32, &[]);
                }
                tx_verdict = self.inspect_responses(slot, true, &p, &info);
            }
            self.store_bits(slot);
            if stream == Verdict::Pass || header == Verdict::Pass || tx_verdict == Verdict::Pass {
                self.held.clear();
                return;
            }
            self.raise_held(&at, &p, sink);
            self.raise_matches(&at, &p, &[], sink);
            if stream == Verdict::Drop || header == Verdict::Drop || tx_verdict == Verdict::Drop {
                return;
            }
        }
    }

    /// End of input: inspects every flow's remaining stream bytes, stamped `ts_ns` (the
    /// last packet's time, as Suricata stamps its end-of-capture pseudo packets).
    pub fn finish(&mut self, ts_ns: u64, sink: &mut impl FnMut(AlertEvent)) {
        for slot in 0..self.flows.capacity() as u32 {
            self.end_slot(slot, ts_ns, sink);
        }
    }
}

/// Where an alert happens: packet time, flow and capture position.
struct At {
    ts_ns: u64,
    flow_id: u64,
    to_server: bool,
    pcap_cnt: u64,
}

/// Runs a match through the alert filters and, unless they hold it back (counted in
/// [`FilterStats`]), hands the alert on.
#[allow(clippy::too_many_arguments)]
#[inline]
fn raise(
    engine: &Arc<Engine>,
    gate: &mut AlertGate,
    stats: &mut WorkerStats,
    rule: u32,
    at: &At,
    p: &Packet<'_>,
    payload: &[u8],
    sink: &mut impl FnMut(AlertEvent),
) {
    let Some(r) = engine.rules().get(rule as usize) else {
        return;
    };
    let rate_action = if r.filters.is_empty() {
        None
    } else {
        match gate.decide(rule, r, &p.src, &p.dst, at.ts_ns) {
            Decision::Alert(a) => a,
            Decision::Hold => return,
        }
    };
    stats.alerts += 1;
    let mut a = alert(engine, rule, at, p, payload);
    a.rate_action = rate_action;
    sink(a);
}

fn alert(engine: &Arc<Engine>, rule: u32, at: &At, p: &Packet<'_>, payload: &[u8]) -> AlertEvent {
    let icmp = match p.l4 {
        L4::Icmp(h) | L4::Icmpv6(h) => Some((h.icmp_type, h.code)),
        _ => None,
    };
    AlertEvent {
        engine: engine.clone(),
        rule,
        ts_ns: at.ts_ns,
        flow_id: at.flow_id,
        to_server: at.to_server,
        src: p.src,
        dst: p.dst,
        src_port: p.src_port(),
        dst_port: p.dst_port(),
        ip_proto: p.ip_proto,
        icmp,
        vlan: p.vlan[..(p.vlan_count as usize).min(2)].to_vec(),
        tunnel: p.tunnel,
        payload: payload.to_vec(),
        packet: p.frame.to_vec(),
        pcap_cnt: at.pcap_cnt,
        rate_action: None,
    }
}
