//! Per-flow TCP sessions: the handshake and teardown states Suricata uses to decide when
//! to inspect, and per direction the sequence base, acknowledgements, inspection progress
//! and the buffer of bytes not yet inspected. See the module doc of [`super`].

use std::net::IpAddr;

use capture::decode::{tcp_flags, Packet, TcpHeader, L4};

use super::memcap::{Memcap, Pool};
use super::segments::{Piece, Refused, SegmentBuf};
use super::{StreamConfig, StreamStats};

/// Suricata's TCP session states, in its order: inspection is forced in every state
/// after `TimeWait`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum SsnState {
    #[default]
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    TimeWait,
    LastAck,
    CloseWait,
    Closed,
}

/// One direction of a session: the bytes its sender sent. Offsets are stream offsets,
/// below 2^31 since `stream.reassembly.depth` is at most 1 GiB; 32 bits keep a whole
/// session in two cache lines.
#[derive(Debug, Default)]
struct Half {
    buf: Option<Box<SegmentBuf>>,
    base_seq: u32,
    /// Stream offset the peer acknowledged.
    last_ack: u32,
    /// Stream offset up to which raw inspection is done.
    progress: u32,
    /// End of the furthest byte ever stored.
    right_edge: u32,
    /// Suricata's `next_seq` for this direction, kept as its state machine keeps it, for
    /// `stream_size` (see [`track_next`]).
    next_seq: u32,
    /// Suricata's `isn`, set with `next_seq` (also by a SYN the server sends in reply
    /// to a SYN, which the stream here does not follow).
    isn: u32,
    has_isn: bool,
    /// The sequence number of stream offset 0 is known.
    known: bool,
    /// `stream.reassembly.depth` was reached: inspect now, store no more.
    depth_reached: bool,
    /// The app layer completed a record of this direction: inspect at its next packet
    /// (Suricata's `STREAMTCP_STREAM_FLAG_TRIGGER_RAW`).
    trigger_raw: bool,
    /// Raw inspection is being turned off: inspect what is held at the next packet, then
    /// never again (`STREAMTCP_STREAM_FLAG_NEW_RAW_DISABLED`).
    new_raw_disabled: bool,
    /// Raw inspection is off (`STREAMTCP_STREAM_FLAG_DISABLE_RAW`): bytes are tracked,
    /// not kept.
    raw_disabled: bool,
}

impl Half {
    /// Stream offset of a sequence number; `None` before the base (or far behind it).
    fn offset(&self, seq: u32) -> Option<u32> {
        let rel = seq.wrapping_sub(self.base_seq);
        (self.known && rel < 1 << 31).then_some(rel)
    }

    fn start(&mut self, base_seq: u32) {
        self.known = true;
        self.base_seq = base_seq;
        self.set_isn(base_seq.wrapping_sub(1));
    }

    fn set_isn(&mut self, isn: u32) {
        self.has_isn = true;
        self.isn = isn;
        self.next_seq = isn.wrapping_add(1);
    }

    /// Suricata's `next_seq - isn`: 0 before the direction's first sequence number is
    /// known.
    fn size(&self) -> u32 {
        if self.has_isn {
            self.next_seq.wrapping_sub(self.isn)
        } else {
            0
        }
    }

    fn pending(&self) -> bool {
        self.right_edge > self.progress
    }
}

/// A flow's addresses and id, kept so its remaining bytes can be inspected (and alerts
/// addressed) after its last packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    pub vlan: [u16; 2],
    pub vlan_count: u8,
    pub flow_id: u64,
}

/// The hot per-packet state of a session: two cache lines, aligned.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Session {
    /// `[client's data, server's data]`.
    halves: [Half; 2],
    state: SsnState,
}

const _: () = assert!(std::mem::size_of::<Session>() == 128);

/// What the stream engine did with a TCP packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The payload went into the stream (Suricata's `PKT_STREAM_ADD`): rules inspected on
    /// the stream do not also look at this packet.
    pub in_stream: bool,
    /// The stream of this packet's direction has bytes to inspect now.
    pub ready: bool,
    /// The session is established (handshake seen or picked up).
    pub established: bool,
    /// The session was established before this packet: Suricata's `flow:established` for
    /// it (`ssn->state >= TCP_ESTABLISHED` when the packet arrives, so not the ACK that
    /// completes the handshake, unless it carries data in sequence, nor a midstream
    /// pickup's first packet, and every packet after a FIN or a reset closed an
    /// established or even a half-open session).
    pub was_established: bool,
    /// The session's `stream_size` counts `[client, server]` after this packet; `None`
    /// when no session took the packet.
    pub sizes: Option<[u32; 2]>,
}

/// The stream sessions of one worker, one per flow slot.
#[derive(Debug)]
pub struct StreamTable {
    sessions: Box<[Session]>,
    /// Per slot, written when a session starts and read only to inspect what a flow left.
    endpoints: Box<[Option<Endpoints>]>,
    pool: Pool,
    mem: Memcap,
    stats: StreamStats,
    config: StreamConfig,
}

impl StreamTable {
    /// Bytes each flow slot costs the table before any segment is buffered (counted
    /// against `flow.memcap`; buffered bytes count against `stream.memcap`).
    pub fn slot_bytes() -> usize {
        std::mem::size_of::<Session>() + std::mem::size_of::<Option<Endpoints>>()
    }

    /// One session per flow slot, with `config.memcap` for this worker's buffers.
    pub fn new(config: &StreamConfig, slots: usize) -> StreamTable {
        StreamTable {
            sessions: crate::hugepage::boxed_with(slots, Session::default),
            endpoints: crate::hugepage::boxed(slots, None),
            pool: Pool::with_capacity(1024),
            mem: Memcap::new(config.memcap),
            stats: StreamStats::default(),
            config: *config,
        }
    }

    /// Starts loading `slot`'s session line (a hint; any slot number is fine).
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        crate::flow::prefetch(self.sessions.as_ptr().wrapping_add(slot as usize));
    }

    pub fn stats(&self) -> StreamStats {
        let mut s = self.stats;
        s.memory = self.mem.used();
        s.memory_peak = self.mem.peak();
        s
    }

    /// The memory limit of this worker's buffers.
    pub fn memcap(&self) -> u64 {
        self.mem.limit()
    }

    /// Whether the session in `slot` has bytes not yet inspected, per direction
    /// (`[to server, to client]`).
    pub fn pending(&self, slot: u32) -> [bool; 2] {
        self.sessions.get(slot as usize).map_or([false; 2], |s| {
            [s.halves[0].pending(), s.halves[1].pending()]
        })
    }

    pub fn endpoints(&self, slot: u32) -> Option<Endpoints> {
        self.endpoints.get(slot as usize).copied().flatten()
    }

    /// The `stream_size` counts `[client, server]` of the session in `slot`, `None`
    /// without one (for an end-of-flow pseudo packet).
    pub fn sizes(&self, slot: u32) -> Option<[u32; 2]> {
        self.sessions
            .get(slot as usize)
            .filter(|s| s.state != SsnState::None)
            .map(|s| [s.halves[0].size(), s.halves[1].size()])
    }

    /// Whether the session in `slot` is established.
    pub fn established(&self, slot: u32) -> bool {
        self.sessions
            .get(slot as usize)
            .is_some_and(|s| s.state >= SsnState::Established)
    }

    /// Whether the session in `slot` is established and not closed: when such a flow
    /// ends, Suricata sends each direction a pseudo packet whatever the stream holds
    /// (flow-timeout.c `FlowForceReassemblyNeedReassembly`).
    pub fn open(&self, slot: u32) -> bool {
        self.sessions
            .get(slot as usize)
            .is_some_and(|s| s.state >= SsnState::Established && s.state != SsnState::Closed)
    }

    /// Forgets the session in `slot` (a new flow took it), returning its buffers.
    pub fn release(&mut self, slot: u32) {
        let Some(s) = self.sessions.get_mut(slot as usize) else {
            return;
        };
        for h in s.halves.iter_mut() {
            if let Some(mut b) = h.buf.take() {
                b.shrink(&mut self.mem);
                self.pool.give(b, &mut self.mem);
            }
        }
        *s = Session::default();
        if let Some(e) = self.endpoints.get_mut(slot as usize) {
            *e = None;
        }
    }

    /// Tracks a TCP packet of the flow in `slot` (its flow id given for alerts on the
    /// remaining bytes later), storing its payload when the session accepts data. With
    /// `keep` false no rule would inspect this direction's stream: the payload counts as
    /// taken by the stream (as in Suricata) but is not copied.
    pub fn on_packet(
        &mut self,
        slot: u32,
        flow_id: u64,
        to_server: bool,
        keep: bool,
        p: &Packet<'_>,
    ) -> Outcome {
        let L4::Tcp(t) = p.l4 else {
            return Outcome::default();
        };
        let Some(s) = self.sessions.get_mut(slot as usize) else {
            return Outcome::default();
        };
        let d = usize::from(!to_server);
        let o = 1 - d;
        let f = t.flags;
        let (syn, ack, fin, rst) = (
            f & tcp_flags::SYN != 0,
            f & tcp_flags::ACK != 0,
            f & tcp_flags::FIN != 0,
            f & tcp_flags::RST != 0,
        );
        let before = s.state;
        // Suricata's special case: the handshake's ACK, in sequence, carrying data is
        // established itself (as if the plain ACK had been lost).
        let completes_with_data = before == SsnState::SynRecv
            && to_server
            && !p.payload.is_empty()
            && s.halves[0].offset(t.seq) == Some(0)
            && s.halves[1].offset(t.ack) == Some(0);
        let flags = Flags {
            syn,
            ack,
            fin,
            rst,
            data: !p.payload.is_empty(),
        };
        advance(s, &self.config, to_server, t.seq, t.ack, flags);
        track_next(s, before, to_server, &t, flags, p.payload.len() as u32);
        if before == SsnState::None && s.state != SsnState::None {
            self.stats.sessions += 1;
            if s.state == SsnState::Established {
                self.stats.midstream_pickups += 1;
            }
            let (me, peer) = ((p.src, t.src_port), (p.dst, t.dst_port));
            let (client, server) = if to_server { (me, peer) } else { (peer, me) };
            let mut vlan = [0u16; 2];
            let n = (p.vlan_count as usize).min(2);
            vlan[..n].copy_from_slice(&p.vlan[..n]);
            if let Some(e) = self.endpoints.get_mut(slot as usize) {
                *e = Some(Endpoints {
                    client,
                    server,
                    vlan,
                    vlan_count: n as u8,
                    flow_id,
                });
            }
        }
        if ack && s.state != SsnState::None {
            let peer = &mut s.halves[o];
            if let Some(off) = peer.offset(t.ack) {
                peer.last_ack = peer.last_ack.max(off);
            }
        }
        let established = s.state >= SsnState::Established;
        let mut in_stream = false;
        if !p.payload.is_empty() {
            let keep = keep && !s.halves[d].raw_disabled;
            if established && s.state != SsnState::Closed && s.halves[d].known && !keep {
                self.stats.unkept_bytes += p.payload.len() as u64;
                in_stream = true;
            } else if established && s.state != SsnState::Closed && s.halves[d].known {
                in_stream = store(
                    &mut s.halves[d],
                    t.seq,
                    p.payload,
                    &self.config,
                    &mut self.mem,
                    &mut self.pool,
                    &mut self.stats,
                );
            } else {
                self.stats.untracked_segments += 1;
            }
        }
        let h = &s.halves[d];
        let closing = s.state > SsnState::TimeWait;
        let ready = h.pending()
            && (closing
                || h.depth_reached
                || h.trigger_raw
                || h.new_raw_disabled
                || u64::from(h.last_ack.saturating_sub(h.progress)) >= self.config.chunk_size);
        Outcome {
            in_stream,
            ready,
            established,
            was_established: before >= SsnState::Established
                || (completes_with_data && s.state == SsnState::Established),
            sizes: (s.state != SsnState::None).then(|| [s.halves[0].size(), s.halves[1].size()]),
        }
    }

    /// Asks for raw inspection of one direction of `slot` at its next packet, as
    /// Suricata's app layer does when it completes a record of that direction.
    pub fn trigger_raw(&mut self, slot: u32, to_server: bool) {
        if let Some(s) = self.sessions.get_mut(slot as usize) {
            if s.state != SsnState::None {
                s.halves[usize::from(!to_server)].trigger_raw = true;
            }
        }
    }

    /// Turns raw inspection of `slot` off, both ways, as Suricata does when a TLS flow's
    /// content is encrypted (`NEW_RAW_DISABLED` on both streams): what each direction
    /// holds is offered once more at its next inspection (this packet's direction at
    /// this packet, if [`StreamTable::pending`]), then nothing again.
    pub fn disable_raw(&mut self, slot: u32) {
        if let Some(s) = self.sessions.get_mut(slot as usize) {
            for h in &mut s.halves {
                if !h.raw_disabled {
                    h.new_raw_disabled = true;
                }
            }
        }
    }

    /// Drops what `slot` holds for raw inspection, both ways, and keeps nothing more:
    /// Suricata inspects no content of the flow any more.
    pub fn drop_raw(&mut self, slot: u32) {
        if let Some(s) = self.sessions.get_mut(slot as usize) {
            for h in &mut s.halves {
                drop_raw(h, &mut self.mem, &mut self.pool);
            }
        }
    }

    /// The stream offset of sequence number `seq` in one direction of `slot`, for the
    /// app layer's copy of that direction's bytes.
    pub fn offset_of(&self, slot: u32, to_server: bool, seq: u32) -> Option<u32> {
        let s = self.sessions.get(slot as usize)?;
        s.halves[usize::from(!to_server)].offset(seq)
    }

    /// How far the peer acknowledged one direction of `slot` (a stream offset): what the
    /// app layer may take of it.
    pub fn acked(&self, slot: u32, to_server: bool) -> Option<u32> {
        let s = self.sessions.get(slot as usize)?;
        let h = &s.halves[usize::from(!to_server)];
        (s.state != SsnState::None && h.known).then_some(h.last_ack)
    }

    /// Prefilters the bytes that just arrived in one direction of `slot` while they are
    /// hot in cache (see [`crate::engine::Engine::prefilter_stream`]).
    pub fn prefilter_new(
        &mut self,
        slot: u32,
        to_server: bool,
        lookback: usize,
        scan: impl FnOnce(&[u8], usize, &mut Vec<u32>),
    ) {
        if let Some(b) = self
            .sessions
            .get_mut(slot as usize)
            .and_then(|s| s.halves[usize::from(!to_server)].buf.as_deref_mut())
        {
            b.prefilter_new(lookback, scan);
        }
    }

    /// Hands each run of bytes [`StreamTable::inspect`] would hand over to `each`, and
    /// changes nothing: for what must see all of a packet's stream bytes before any of
    /// them is inspected.
    pub fn peek(&self, slot: u32, to_server: bool, eof: bool, mut each: impl FnMut(&[u8])) {
        let Some(h) = self
            .sessions
            .get(slot as usize)
            .map(|s| &s.halves[usize::from(!to_server)])
        else {
            return;
        };
        if let Some(buf) = h.buf.as_deref() {
            for (start, end) in runs(buf.pieces(), u64::from(h.progress), inspect_end(h, eof)) {
                each(buf.bytes(start, end));
            }
        }
    }

    /// Runs raw inspection of one direction of `slot` (`to_server`: the client's data):
    /// hands each run of bytes in the window to `each`, with the rules prefiltered on
    /// arrival when they cover it, and moves the progress as Suricata does. `eof`
    /// inspects everything held, acknowledged or not (end of the flow).
    pub fn inspect(
        &mut self,
        slot: u32,
        to_server: bool,
        eof: bool,
        mut each: impl FnMut(&[u8], Option<&[u32]>),
    ) {
        let Some(s) = self.sessions.get_mut(slot as usize) else {
            return;
        };
        let h = &mut s.halves[usize::from(!to_server)];
        let until = inspect_end(h, eof);
        h.trigger_raw = false;
        if h.new_raw_disabled {
            h.new_raw_disabled = false;
            h.raw_disabled = true;
        }
        let Some(buf) = h.buf.as_deref_mut() else {
            return;
        };
        self.stats.inspections += 1;
        let mut progress = u64::from(h.progress);
        for (start, end) in runs(buf.pieces(), progress, until) {
            each(buf.bytes(start, end), buf.candidates());
            if start == progress {
                progress = end;
            } else {
                // A hole before this run: Suricata moves to the run's start only.
                self.stats.gaps += 1;
                progress = start;
            }
        }
        h.progress = u32::try_from(progress).unwrap_or(u32::MAX);
        buf.release_before(progress);
        if h.raw_disabled {
            drop_raw(h, &mut self.mem, &mut self.pool);
        } else if buf.pieces().is_empty() {
            // Everything held was inspected: the buffer goes back to the pool, so memory
            // follows the flows that hold data rather than the flows in the table.
            if let Some(mut b) = h.buf.take() {
                b.shrink(&mut self.mem);
                self.pool.give(b, &mut self.mem);
            }
        }
    }
}

/// Turns raw inspection of `h` off for good: nothing held is inspected again, and later
/// bytes are tracked without being kept.
fn drop_raw(h: &mut Half, mem: &mut Memcap, pool: &mut Pool) {
    h.raw_disabled = true;
    h.new_raw_disabled = false;
    h.trigger_raw = false;
    h.progress = h.progress.max(h.right_edge);
    if let Some(mut b) = h.buf.take() {
        b.shrink(mem);
        pool.give(b, mem);
    }
}

/// Where raw inspection of `h` stops: what the peer acknowledged, or everything held at
/// the end of the flow.
fn inspect_end(h: &Half, eof: bool) -> u64 {
    if eof {
        u64::MAX
    } else {
        u64::from(h.last_ack)
    }
}

/// The runs of bytes raw inspection hands over, from `progress` up to `end`: each held
/// piece's part past both, up to the first piece that ends before it starts. Pieces are
/// sorted and apart, so moving the progress while inspecting changes none of them.
fn runs(pieces: &[Piece], progress: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    pieces
        .iter()
        .filter(move |p| p.end > progress)
        .map(move |p| (p.start.max(progress), p.end.min(end)))
        .take_while(|(s, e)| s < e)
}

/// The flags [`advance`] reads, and whether the packet carries data.
#[derive(Clone, Copy)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    data: bool,
}

/// The session state machine (Suricata's `StreamTcpPacket` reduced to what decides
/// tracking and inspection).
fn advance(s: &mut Session, cfg: &StreamConfig, to_server: bool, seq: u32, ack_no: u32, f: Flags) {
    use SsnState::*;
    let Flags {
        syn,
        ack,
        fin,
        rst,
        data,
    } = f;
    let (d, o) = if to_server { (0, 1) } else { (1, 0) };
    if rst {
        if s.state != None {
            s.state = Closed;
        }
        return;
    }
    s.state = match s.state {
        None if syn && !ack && to_server => {
            s.halves[0].start(seq.wrapping_add(1));
            SynSent
        }
        // Suricata picks up a FIN only with data, and then as FIN_WAIT1 whichever way
        // it goes; without a FIN, only a packet with an ACK.
        None if cfg.midstream && !syn && (if fin { data } else { ack }) => {
            s.halves[d].start(seq);
            s.halves[o].start(ack_no);
            if fin {
                FinWait1
            } else {
                Established
            }
        }
        None if cfg.midstream && syn && ack => {
            s.halves[d].start(seq.wrapping_add(1));
            s.halves[o].start(ack_no);
            SynRecv
        }
        SynSent if syn && !ack && to_server => {
            s.halves[0].start(seq.wrapping_add(1));
            SynSent
        }
        SynSent if syn && ack && !to_server => {
            s.halves[1].start(seq.wrapping_add(1));
            SynRecv
        }
        SynSent if cfg.async_oneside && to_server && ack && !syn => {
            s.halves[1].start(ack_no);
            Established
        }
        SynRecv if to_server && ack && !syn => Established,
        Established if fin => {
            if to_server {
                CloseWait
            } else {
                FinWait1
            }
        }
        FinWait1 if to_server && fin => TimeWait,
        FinWait1 if to_server && ack => FinWait2,
        FinWait2 if to_server && fin => TimeWait,
        TimeWait if !to_server && ack => Closed,
        CloseWait if !to_server && fin => LastAck,
        LastAck if to_server && ack => Closed,
        st => st,
    };
}

/// `a` is after `b` or equal, in sequence-number space.
fn seq_geq(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) as i32 >= 0
}

/// Moves each direction's `next_seq` as Suricata 7's TCP state machine does for the
/// packets it accepts (`stream-tcp.c`), from the session state before the packet: `start`
/// set it for a SYN, a SYN/ACK or a midstream pickup; data in the handshake's ACK and in
/// an established session moves it to the packet's right edge; a FIN or a reset sets it
/// (a FIN from the server counts one more, a FIN from the client not: Suricata's
/// asymmetry, kept); in the teardown states only data in sequence moves it, and the
/// peer's moves up to what this packet acknowledges.
fn track_next(
    s: &mut Session,
    before: SsnState,
    to_server: bool,
    t: &TcpHeader,
    f: Flags,
    len: u32,
) {
    use SsnState::*;
    let Flags {
        syn, ack, fin, rst, ..
    } = f;
    let end = t.seq.wrapping_add(len);
    let [client, server] = &mut s.halves;
    let (own, peer) = if to_server {
        (client, server)
    } else {
        (server, client)
    };
    match before {
        // A midstream pickup: the packet's own data (and FIN) is counted.
        None if s.state != None && !syn => {
            own.next_seq = end.wrapping_add(u32::from(fin));
        }
        // Suricata's four-way handshake: a SYN from the server after the client's.
        SynSent if !to_server && syn && !ack && !rst => {
            own.set_isn(t.seq);
        }
        SynRecv if to_server && ack && s.state == Established && own.next_seq == t.seq => {
            own.next_seq = end;
        }
        Established if rst => {
            own.next_seq = end.wrapping_add(u32::from(!to_server));
            peer.next_seq = t.ack;
        }
        Established if fin => {
            own.next_seq = end.wrapping_add(u32::from(!to_server));
            if !seq_geq(peer.next_seq, t.ack) {
                peer.next_seq = t.ack;
            }
        }
        Established if seq_geq(end, own.next_seq) => own.next_seq = end,
        FinWait1 | FinWait2 | TimeWait | LastAck | CloseWait if !rst => {
            if ack && !seq_geq(peer.next_seq.wrapping_sub(1), t.ack) {
                peer.next_seq = t.ack;
            }
            if own.next_seq == t.seq {
                own.next_seq = end;
            }
        }
        _ => {}
    }
}

/// Stores a payload in its direction's buffer; true when it went into the stream.
fn store(
    h: &mut Half,
    seq: u32,
    payload: &[u8],
    cfg: &StreamConfig,
    mem: &mut Memcap,
    pool: &mut Pool,
    stats: &mut StreamStats,
) -> bool {
    let len = payload.len() as u64;
    let Some(start) = h.offset(seq) else {
        // Before the stream's start: an old retransmission.
        stats.stale_bytes += len;
        return true;
    };
    let mut start = u64::from(start);
    let mut bytes = payload;
    if h.depth_reached {
        stats.depth_bytes += len;
        return false;
    }
    if cfg.depth > 0 && start + len > cfg.depth {
        let keep = cfg.depth.saturating_sub(start);
        stats.depth_bytes += len - keep;
        h.depth_reached = true;
        if keep == 0 {
            return false;
        }
        bytes = &bytes[..keep as usize];
    }
    let buf = match h.buf.as_deref_mut() {
        Some(b) => b,
        None => match pool.take(mem) {
            Some(mut b) => {
                b.clear(u64::from(h.progress));
                h.buf.insert(b)
            }
            None => {
                stats.memcap_segments += 1;
                stats.memcap_bytes += bytes.len() as u64;
                return false;
            }
        },
    };
    // Bytes already inspected and released are not looked at again.
    if start < buf.base() {
        let skip = (buf.base() - start).min(bytes.len() as u64);
        stats.stale_bytes += skip;
        bytes = &bytes[skip as usize..];
        start += skip;
        if bytes.is_empty() {
            return true;
        }
    }
    match buf.insert(start, bytes, cfg.window, mem, pool) {
        Ok(r) => {
            stats.segments += 1;
            stats.bytes += r.new;
            stats.retransmitted_bytes += r.same;
            stats.overlap_different_bytes += r.different;
            let end = u32::try_from(start + bytes.len() as u64).unwrap_or(u32::MAX);
            h.right_edge = h.right_edge.max(end);
            true
        }
        Err(why) => {
            let n = bytes.len() as u64;
            let (segs, b) = match why {
                Refused::Memcap => (&mut stats.memcap_segments, &mut stats.memcap_bytes),
                Refused::Window => (&mut stats.window_segments, &mut stats.window_bytes),
                Refused::Pieces => (&mut stats.pieces_segments, &mut stats.pieces_bytes),
            };
            *segs += 1;
            *b += n;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{test_packet, TestL4};
    use tcp_flags::*;

    /// `[client, server]` counts, `None` without a session.
    type Sizes = Option<[u32; 2]>;
    /// `(to_server, flags, seq, ack, payload, counts after it)`.
    type Step<'a> = (bool, u8, u32, u32, &'a [u8], Sizes);

    /// A client (10.0.0.1:40000) to server (10.0.0.2:80) segment, or the reverse.
    fn seg(to_server: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Packet<'_> {
        let (c, s) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let (src, dst, sport, dport) = if to_server {
            (c, s, 40000, 80)
        } else {
            (s, c, 80, 40000)
        };
        let mut p = test_packet(
            src,
            dst,
            TestL4::Tcp {
                sport,
                dport,
                flags,
            },
            payload,
        );
        if let L4::Tcp(t) = &mut p.l4 {
            t.seq = seq;
            t.ack = ack;
        }
        p
    }

    fn table(midstream: bool) -> StreamTable {
        let cfg = StreamConfig {
            midstream,
            ..StreamConfig::default()
        };
        StreamTable::new(&cfg, 4)
    }

    /// The `stream_size` counts `[client, server]` after each packet of a session, as
    /// Suricata 7 keeps them (the golden pcaps check the same against Suricata itself).
    #[test]
    fn stream_sizes_follow_suricatas_next_seq() {
        let mut t = table(false);
        let steps: &[Step<'_>] = &[
            // The SYN counts one; the server has no sequence number yet.
            (true, SYN, 1000, 0, b"", Some([1, 0])),
            (false, SYN | ACK, 5000, 1001, b"", Some([1, 1])),
            (true, ACK, 1001, 5001, b"", Some([1, 1])),
            (true, PSH | ACK, 1001, 5001, b"hello", Some([6, 1])),
            // A retransmission moves nothing; data after a gap moves to its right edge.
            (true, PSH | ACK, 1001, 5001, b"hello", Some([6, 1])),
            (true, PSH | ACK, 1010, 5001, b"abc", Some([13, 1])),
            (false, PSH | ACK, 5001, 1013, b"0123456789", Some([13, 11])),
            // The client's FIN counts nothing (Suricata's asymmetry) ...
            (true, FIN | ACK, 1013, 5011, b"", Some([13, 11])),
            // ... and data in sequence after it still moves the server's count.
            (false, PSH | ACK, 5011, 1014, b"xy", Some([14, 13])),
        ];
        for (i, &(to_server, flags, seq, ack, payload, want)) in steps.iter().enumerate() {
            let p = seg(to_server, flags, seq, ack, payload);
            let out = t.on_packet(0, 1, to_server, true, &p);
            assert_eq!(out.sizes, want, "step {i}");
            assert_eq!(t.sizes(0), want, "step {i}");
        }
        // The server's FIN counts one.
        let mut t = table(false);
        for (to_server, flags, seq, ack) in [
            (true, SYN, 1000, 0),
            (false, SYN | ACK, 5000, 1001),
            (true, ACK, 1001, 5001),
        ] {
            t.on_packet(1, 1, to_server, true, &seg(to_server, flags, seq, ack, b""));
        }
        let out = t.on_packet(1, 1, false, true, &seg(false, FIN | ACK, 5001, 1001, b"ab"));
        assert_eq!(out.sizes, Some([1, 4]));
    }

    /// An app-layer trigger makes the next packet of that direction inspect what was
    /// acknowledged, before `chunk_size` bytes wait; turning raw inspection off flushes
    /// the packet's direction once and drops the other's bytes, then keeps nothing.
    #[test]
    fn triggers_and_disabling_as_the_tls_app_layer_asks() {
        let mut t = table(false);
        for (to_server, flags, seq, ack) in [
            (true, SYN, 1000, 0),
            (false, SYN | ACK, 5000, 1001),
            (true, ACK, 1001, 5001),
        ] {
            t.on_packet(0, 1, to_server, true, &seg(to_server, flags, seq, ack, b""));
        }
        let hello = seg(true, PSH | ACK, 1001, 5001, b"hello");
        assert!(!t.on_packet(0, 1, true, true, &hello).ready);
        let reply = seg(false, PSH | ACK, 5001, 1006, b"reply");
        assert!(!t.on_packet(0, 1, false, true, &reply).ready);
        assert_eq!(t.acked(0, true), Some(5));
        assert_eq!(t.offset_of(0, true, 1003), Some(2));
        // Five bytes acknowledged are far below the chunk size: only a trigger inspects.
        let ack = seg(true, ACK, 1006, 5006, b"");
        assert!(!t.on_packet(0, 1, true, true, &ack).ready);
        t.trigger_raw(0, true);
        assert!(t.on_packet(0, 1, true, true, &ack).ready);
        let mut seen = Vec::new();
        t.inspect(0, true, false, |d, _| seen.extend_from_slice(d));
        assert_eq!(seen, b"hello");
        // The trigger is spent by the inspection.
        assert!(
            !t.on_packet(0, 1, true, true, &seg(true, PSH | ACK, 1006, 5006, b"more"))
                .ready
        );
        // Off at a server packet: the server's held bytes are flushed by this packet's
        // inspection, then nothing is kept; the client's wait for its next packet.
        t.disable_raw(0);
        assert_eq!(t.pending(0), [true, true]);
        seen.clear();
        t.inspect(0, false, false, |d, _| seen.extend_from_slice(d));
        assert_eq!(seen, b"reply", "what the client acknowledged");
        assert_eq!(t.pending(0), [true, false]);
        t.drop_raw(0);
        assert_eq!(t.pending(0), [false, false]);
        let late = seg(false, PSH | ACK, 5006, 1010, b"late");
        let out = t.on_packet(0, 1, false, true, &late);
        assert!(out.in_stream && !out.ready);
        assert_eq!(t.pending(0), [false, false]);
    }

    /// Suricata picks a session up midstream from an ACK, or from a FIN carrying data;
    /// a bare FIN, a RST or a packet with neither flag starts nothing.
    #[test]
    fn midstream_pickups_as_suricata_takes_them() {
        let cases: &[(u8, &[u8], Sizes)] = &[
            (ACK, b"", Some([1, 1])),
            (PSH | ACK, b"abc", Some([4, 1])),
            (FIN | ACK, b"abc", Some([5, 1])),
            (FIN | PSH | URG, b"", None),
            (FIN | ACK, b"", None),
            (RST | ACK, b"abc", None),
            (PSH, b"abc", None),
        ];
        for &(flags, payload, want) in cases {
            let mut t = table(true);
            let out = t.on_packet(0, 1, true, true, &seg(true, flags, 700, 900, payload));
            assert_eq!(
                out.sizes,
                want,
                "flags {flags:#04x} with {} bytes",
                payload.len()
            );
        }
        // Without midstream nothing but a SYN starts a session.
        let mut t = table(false);
        let out = t.on_packet(0, 1, true, true, &seg(true, PSH | ACK, 700, 900, b"abc"));
        assert_eq!(out.sizes, None);
    }
}
