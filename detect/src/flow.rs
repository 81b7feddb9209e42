//! The per-worker flow table: which side opened a conversation, whether it is established,
//! and whether a `pass` rule has exempted it.
//!
//! Open addressing over a fixed array sized at start: a lookup scans a small window of
//! slots, a new flow takes a free or timed-out slot in its window, and when the window is
//! full the least recently seen flow there is evicted and counted. Nothing allocates after
//! construction and nothing is shared, so the packet path stays lock-free.

use capture::decode::{tcp_flags, Packet, L4};
pub(crate) use capture::prefetch::prefetch;
use std::net::{IpAddr, Ipv4Addr};

/// Slots probed per lookup: large enough that a table at 90% load rarely evicts early,
/// small enough to stay in two or three cache lines of keys.
const WINDOW: usize = 8;

/// Flow timeouts in nanoseconds of packet time (Suricata's defaults per protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_new: u64,
    pub tcp_established: u64,
    pub tcp_closed: u64,
    pub udp_new: u64,
    pub udp_established: u64,
    pub other_new: u64,
    pub other_established: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: u64 = 1_000_000_000;
        Timeouts {
            tcp_new: 60 * S,
            tcp_established: 600 * S,
            tcp_closed: 60 * S,
            udp_new: 30 * S,
            udp_established: 300 * S,
            other_new: 30 * S,
            other_established: 300 * S,
        }
    }
}

impl Timeouts {
    /// Suricata's default `flow-timeouts` emergency values, used while the table is
    /// under pressure so stale flows make room sooner.
    pub fn emergency() -> Timeouts {
        const S: u64 = 1_000_000_000;
        Timeouts {
            tcp_new: 10 * S,
            tcp_established: 100 * S,
            tcp_closed: 5 * S,
            udp_new: 10 * S,
            udp_established: 100 * S,
            other_new: 10 * S,
            other_established: 100 * S,
        }
    }
}

/// Flow table sizing and timeouts (`flow.*` config keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Maximum flows per worker; rounded up to a power of two (down, when `memcap` is
    /// what limits the table).
    pub max_flows: usize,
    /// Bytes this worker's flow table may take, per-flow state of the stream table and
    /// flowbits included (`flow.memcap` divided over the workers); `None`: no cap.
    pub memcap: Option<u64>,
    pub timeouts: Timeouts,
    /// Timeouts while in emergency mode (entered when a live flow has to be evicted
    /// while more than `100 - emergency_recovery` percent of the slots are in use, left
    /// when at most that many are).
    pub emergency_timeouts: Timeouts,
    pub emergency_recovery: u8,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1 << 16,
            memcap: None,
            timeouts: Timeouts::default(),
            emergency_timeouts: Timeouts::emergency(),
            emergency_recovery: 30,
        }
    }
}

/// Why a flow table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("flow.memcap of {memcap} bytes per worker holds fewer than {min} flows of {per_flow} bytes each")]
    MemcapTooSmall {
        memcap: u64,
        per_flow: usize,
        min: usize,
    },
}

/// Counters a worker reports for its flow table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub created: u64,
    pub timed_out: u64,
    /// Flows pushed out by a new one while still live: the table was too small.
    pub evicted: u64,
    /// Times the table entered emergency mode (shorter timeouts).
    pub emergency: u64,
}

impl FlowStats {
    pub fn merge(&mut self, o: &FlowStats) {
        self.created += o.created;
        self.timed_out += o.timed_out;
        self.evicted += o.evicted;
        self.emergency += o.emergency;
    }
}

/// Packed (42 bytes, no padding) so that a [`Flow`] fits one cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C, packed(2))]
struct FlowKey {
    /// Lower endpoint (address, port) first so both directions give one key.
    addr_lo: u128,
    addr_hi: u128,
    port_lo: u16,
    port_hi: u16,
    proto: u8,
    v6: bool,
    vlan: [u16; 2],
}

/// Coarse TCP progress; enough for `flow:established` and per-state timeouts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TcpState {
    #[default]
    None,
    SynSent,
    SynRecv,
    Established,
    Closing,
    Closed,
}

/// Why a flow is exempt from detection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Exempt {
    #[default]
    No,
    /// A `pass` rule matched.
    Passed,
    /// A `drop` (or `reject`) rule matched.
    Dropped,
}

/// One cache line: a lookup touches one line per slot it looks at, and the table's
/// prefetch warms one (at 96 bytes a slot straddled two, and a new flow's walk of the
/// window touched twelve lines). A slot is in use when its tag is not 0.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct Flow {
    key: FlowKey,
    /// True when the lower endpoint of the key is the client (the side that opened it).
    client_is_lo: bool,
    tcp: TcpState,
    /// TCP: the handshake was seen, or a reset closed the session; other protocols:
    /// packets seen both ways.
    established: bool,
    /// A packet went to the server (to the client) in this flow.
    seen_to_server: bool,
    seen_to_client: bool,
    exempt: Exempt,
    last_ts: u64,
    id: u64,
}

const _: () = assert!(std::mem::size_of::<Flow>() == 64);

impl Flow {
    /// Notes a packet of the flow going `to_server` (or to the client) at `ts_ns`; true
    /// when it is the first packet that way.
    #[inline]
    fn saw(&mut self, to_server: bool, ts_ns: u64) -> bool {
        self.last_ts = self.last_ts.max(ts_ns);
        let seen = if to_server {
            &mut self.seen_to_server
        } else {
            &mut self.seen_to_client
        };
        !std::mem::replace(seen, true)
    }

    /// A flow without TCP state is established once packets went both ways.
    #[inline]
    fn established_by_reply(&mut self) -> bool {
        if self.seen_to_server && self.seen_to_client {
            self.established = true;
        }
        self.established
    }
}

/// What a worker learns about a packet's flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowView {
    pub to_server: bool,
    pub established: bool,
    /// A `pass` rule, or a `drop` one, matched earlier in this flow: skip detection.
    pub passed: bool,
    /// It was a `drop` rule.
    pub dropped: bool,
    /// Stable id for EVE's `flow_id` (51 bits so JSON readers keep it exact).
    pub id: u64,
    /// Slot of the flow, for [`FlowTable::mark_passed`].
    pub slot: u32,
    /// This packet started the flow (in a slot that may have held an earlier one).
    pub created: bool,
    /// First packet of the flow in this direction, or a packet Suricata gives no flow
    /// ([`has_flow`]).
    pub first_in_direction: bool,
}

/// A worker's flow table. See the module doc for the layout.
pub struct FlowTable {
    slots: Box<[Flow]>,
    /// Per slot: 0 when empty, else the upper half of the key's hash (low bit set), so a
    /// lookup compares full keys only where a tag agrees.
    tags: Box<[u32]>,
    mask: usize,
    timeouts: Timeouts,
    emergency_timeouts: Timeouts,
    /// Live slots at or below which emergency mode ends.
    recovery_at: usize,
    emergency: bool,
    worker_salt: u64,
    stats: FlowStats,
    live: usize,
    /// Next slot [`FlowTable::sweep`] looks at.
    cursor: usize,
    /// Bytes per slot counted against the memcap.
    per_flow: usize,
}

fn addr_bits(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u32::from(*v4) as u128,
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// ICMPv4 error types (Suricata's `ICMPV4_IS_ERROR_MSG`): destination unreachable,
/// source quench, redirect, time exceeded, parameter problem.
const ICMP4_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];

/// The flow an ICMPv4 error quotes: the embedded packet's `(src, sport, dst, dport, proto)`.
pub type Quoted = (IpAddr, u16, IpAddr, u16, u8);

/// How an ICMPv4 error relates to flows, as in Suricata 7 (checked against 7.0.10, see
/// `tools/tests/golden.rs`, scenario Q). `None`: not an error, the packet has a flow of
/// its own (by addresses). `Some(None)`: an error Suricata gives no flow (it never starts
/// one for an error): inspected alone. `Some(Some(q))`: a destination unreachable whose
/// quoted IPv4 packet carries a UDP header or a whole TCP header: it belongs to that flow
/// when the flow exists. Ports are read 20 bytes into the quote, as Suricata does.
pub fn icmp_error(p: &Packet<'_>) -> Option<Option<Quoted>> {
    let L4::Icmp(h) = p.l4 else {
        return None;
    };
    if !ICMP4_ERRORS.contains(&h.icmp_type) {
        return None;
    }
    // Codes past 15 are unknown to Suricata, which then reads no quote.
    if h.icmp_type != 3 || h.code > 15 {
        return Some(None);
    }
    let q = p.payload;
    let need = match (q.first().map(|b| b >> 4), q.get(9)) {
        (Some(4), Some(6)) => 40,
        (Some(4), Some(17)) => 28,
        _ => return Some(None),
    };
    let Some(q) = q.get(..need) else {
        return Some(None);
    };
    let addr = |i: usize| IpAddr::V4(Ipv4Addr::new(q[i], q[i + 1], q[i + 2], q[i + 3]));
    let port = |i: usize| u16::from_be_bytes([q[i], q[i + 1]]);
    Some(Some((addr(12), port(20), addr(16), port(22), q[9])))
}

/// Whether Suricata 7 gives the packet a flow (checked against 7.0.10 on crafted pcaps):
/// TCP, UDP, ICMP, ICMPv6 and SCTP packets have one; ESP too (see [`esp_spi`]), and IPv6
/// carried in IPv4 (6in4, protocol 41: the outer packet of that tunnel). Any other
/// protocol (GRE, IPv4 or IPv6 in IPv6, IGMP, ...) has none: its packets are inspected
/// flow-less, so an IP-only rule alerts on each of them and flowbits never match.
pub fn has_flow(p: &Packet<'_>) -> bool {
    match p.ip_proto {
        50 => esp_spi(p).is_some(),
        41 => !p.is_ipv6(),
        proto => has_directions(proto),
    }
}

/// An ESP packet's SPI, when its header is whole (Suricata's decoder wants the 8 bytes
/// of SPI and sequence number before it gives the packet a flow). ESP flows are one-way:
/// Suricata keys them by source, destination and SPI.
fn esp_spi(p: &Packet<'_>) -> Option<u32> {
    let l4 = usize::from(p.l4_offset);
    // The decoder starts the payload after the header only when the header is whole.
    if p.ip_proto != 50 || p.fragment.is_some() || p.payload_offset() != Some(l4 + 8) {
        return None;
    }
    let b = p.frame.get(l4..l4 + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Protocols whose flows tell the client from the server (by ports or ICMP type);
/// Suricata sends every packet of any other flow to the server.
fn has_directions(proto: u8) -> bool {
    matches!(proto, 1 | 6 | 17 | 58 | 132)
}

/// An ICMP packet's flow "ports", as Suricata keys ICMP flows: its type, and the type of
/// the message answering it (an echo request's reply), so a request and its answer share
/// a flow while other ICMP messages between the same hosts (an echo and a timestamp, or
/// ICMPv6 errors of different types) do not. The code does not count (checked against
/// Suricata 7.0.10: an echo with code 3 joins the code-0 echo flow).
fn icmp_ports(icmp_type: u8, counterpart: u8) -> (u16, u16) {
    (u16::from(icmp_type), u16::from(counterpart))
}

/// Suricata's `ICMPv4GetCounterpart` (0 where there is none): echo, router discovery,
/// timestamp, information, address mask.
fn icmp4_counterpart(t: u8) -> u8 {
    match t {
        8 => 0,
        0 => 8,
        9 => 10,
        10 => 9,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        17 => 18,
        18 => 17,
        _ => 0,
    }
}

/// Suricata's `ICMPv6GetCounterpart` (0 where there is none): echo, multicast listener,
/// router and neighbor discovery, node information, home agent address discovery,
/// mobile prefix.
fn icmp6_counterpart(t: u8) -> u8 {
    match t {
        128 => 129,
        129 => 128,
        130 => 131,
        131 => 130,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        139 => 140,
        140 => 139,
        144 => 145,
        145 => 144,
        146 => 147,
        147 => 146,
        _ => 0,
    }
}

impl FlowKey {
    fn of(p: &Packet<'_>) -> (FlowKey, bool) {
        if let Some(Some((src, sp, dst, dp, proto))) = icmp_error(p) {
            return FlowKey::of_tuple(p, &src, sp, &dst, dp, proto);
        }
        if let Some(spi) = esp_spi(p) {
            // One flow per direction and SPI (an IPsec SA is one-way), all to the server:
            // the key keeps the packet's own order, and the SPI stands in for the ports.
            let (s, d) = (addr_bits(&p.src), addr_bits(&p.dst));
            let key = FlowKey::ordered(p, (s, (spi >> 16) as u16), (d, spi as u16), p.ip_proto);
            return (key, true);
        }
        let (sp, dp) = match p.l4 {
            L4::Tcp(t) => (t.src_port, t.dst_port),
            L4::Udp(u) => (u.src_port, u.dst_port),
            L4::Icmp(h) => icmp_ports(h.icmp_type, icmp4_counterpart(h.icmp_type)),
            L4::Icmpv6(h) => icmp_ports(h.icmp_type, icmp6_counterpart(h.icmp_type)),
            L4::Other => (0, 0),
        };
        let (key, src_is_lo) = FlowKey::of_tuple(p, &p.src, sp, &p.dst, dp, p.ip_proto);
        // Suricata gives a flow of a port-less protocol no direction: every packet goes to
        // the server, and it never becomes established.
        (key, src_is_lo || !has_directions(p.ip_proto))
    }

    /// The key of a flow between `(src, sp)` and `(dst, dp)` over `proto`, on `p`'s VLANs.
    #[inline]
    fn of_tuple(
        p: &Packet<'_>,
        src: &IpAddr,
        sp: u16,
        dst: &IpAddr,
        dp: u16,
        proto: u8,
    ) -> (FlowKey, bool) {
        let (s, d) = ((addr_bits(src), sp), (addr_bits(dst), dp));
        let src_is_lo = s <= d;
        let (lo, hi) = if src_is_lo { (s, d) } else { (d, s) };
        (FlowKey::ordered(p, lo, hi, proto), src_is_lo)
    }

    /// The key with `lo` and `hi` (address bits, port) in the order given, on `p`'s VLANs.
    #[inline]
    fn ordered(p: &Packet<'_>, lo: (u128, u16), hi: (u128, u16), proto: u8) -> FlowKey {
        let mut vlan = [0u16; 2];
        let n = (p.vlan_count as usize).min(2);
        vlan[..n].copy_from_slice(&p.vlan[..n]);
        FlowKey {
            addr_lo: lo.0,
            addr_hi: hi.0,
            port_lo: lo.1,
            port_hi: hi.1,
            proto,
            v6: p.is_ipv6(),
            vlan,
        }
    }

    fn hash(&self) -> u64 {
        let a = (self.addr_lo as u64) ^ ((self.addr_lo >> 64) as u64).rotate_left(7);
        let b = (self.addr_hi as u64) ^ ((self.addr_hi >> 64) as u64).rotate_left(13);
        let ports = (self.port_lo as u64) << 48
            | (self.port_hi as u64) << 32
            | (self.proto as u64) << 24
            | (self.vlan[0] as u64) << 12
            | self.vlan[1] as u64;
        mix(a ^ mix(b ^ mix(ports)))
    }
}

/// The hash [`FlowTable`] places `p`'s flow by (the same for both directions).
#[inline]
pub fn flow_hash(p: &Packet<'_>) -> u64 {
    FlowKey::of(p).0.hash()
}

/// A packet's flow key with its hash, built once. Dispatch's reader needs the hash to pick
/// a worker and builds it while the worker is busy; handing the key over too spares the
/// worker (the pipeline's slower thread) rebuilding it for the flow lookup.
#[derive(Clone, Copy, Debug)]
pub struct KeyedFlow {
    key: FlowKey,
    src_is_lo: bool,
    hash: u64,
}

impl KeyedFlow {
    #[inline]
    pub fn of(p: &Packet<'_>) -> KeyedFlow {
        let (key, src_is_lo) = FlowKey::of(p);
        KeyedFlow {
            hash: key.hash(),
            key,
            src_is_lo,
        }
    }

    /// [`flow_hash`] of the packet.
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

impl FlowTable {
    /// Allocates the whole table once; `worker` salts flow ids so workers never collide.
    /// Without a memcap this cannot fail.
    pub fn new(config: &FlowConfig, worker: usize) -> FlowTable {
        let config = FlowConfig {
            memcap: None,
            ..*config
        };
        match FlowTable::with_extra(&config, worker, 0) {
            Ok(t) => t,
            Err(e) => unreachable!("a flow table without memcap: {e}"),
        }
    }

    /// Bytes one slot of the table itself takes.
    pub fn slot_bytes() -> usize {
        std::mem::size_of::<Flow>() + std::mem::size_of::<u32>()
    }

    /// [`FlowTable::new`] where each slot also costs `extra` bytes elsewhere (stream
    /// session, flowbits): with `config.memcap`, the slot count is the largest power of
    /// two (at most `max_flows`) whose total stays within the memcap, so the memcap is
    /// never exceeded however many flows arrive; the table is then full sooner and new
    /// flows evict old ones (counted).
    pub fn with_extra(
        config: &FlowConfig,
        worker: usize,
        extra: usize,
    ) -> Result<FlowTable, FlowError> {
        let per_flow = Self::slot_bytes() + extra;
        let mut cap = config.max_flows.max(WINDOW).next_power_of_two();
        if let Some(memcap) = config.memcap {
            let fits = (memcap / per_flow as u64).min(usize::MAX as u64) as usize;
            if fits < WINDOW {
                return Err(FlowError::MemcapTooSmall {
                    memcap,
                    per_flow,
                    min: WINDOW,
                });
            }
            // Largest power of two not above `fits`.
            let fit_pow = 1usize << (usize::BITS - 1 - fits.leading_zeros());
            cap = cap.min(fit_pow);
        }
        let recovery = config.emergency_recovery.min(100) as usize;
        Ok(FlowTable {
            slots: crate::hugepage::boxed(cap, Flow::default()),
            tags: crate::hugepage::boxed(cap, 0),
            mask: cap - 1,
            timeouts: config.timeouts,
            emergency_timeouts: config.emergency_timeouts,
            recovery_at: cap * (100 - recovery) / 100,
            emergency: false,
            worker_salt: mix(worker as u64 + 1),
            stats: FlowStats::default(),
            live: 0,
            cursor: 0,
            per_flow,
        })
    }

    /// Bytes the table accounts for: every slot, with the per-slot state held elsewhere.
    pub fn memory(&self) -> usize {
        self.slots.len() * self.per_flow
    }

    /// Whether the table is in emergency mode (shorter timeouts).
    pub fn in_emergency(&self) -> bool {
        self.emergency
    }

    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Flows currently held (live or not yet reclaimed after timing out).
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn timeout(&self, f: &Flow) -> u64 {
        let t = if self.emergency {
            &self.emergency_timeouts
        } else {
            &self.timeouts
        };
        match f.key.proto {
            6 => match f.tcp {
                TcpState::Established => t.tcp_established,
                TcpState::Closing | TcpState::Closed => t.tcp_closed,
                _ if f.established => t.tcp_established,
                _ => t.tcp_new,
            },
            17 => {
                if f.established {
                    t.udp_established
                } else {
                    t.udp_new
                }
            }
            _ => {
                if f.established {
                    t.other_established
                } else {
                    t.other_new
                }
            }
        }
    }

    /// Whether the flow in a slot in use (its tag not 0) has timed out at `now`.
    fn expired(&self, f: &Flow, now: u64) -> bool {
        now.saturating_sub(f.last_ts) > self.timeout(f)
    }

    /// The slot a flow of `hash` takes when its window's first slot is free: where most
    /// flows live, so per-slot state elsewhere can be warmed by it.
    #[inline]
    pub fn home_slot(&self, hash: u64) -> u32 {
        (hash as usize & self.mask) as u32
    }

    /// Starts loading the cache lines [`FlowTable::update`] will read for a packet whose
    /// [`flow_hash`] is `hash`: a worker calls it a few packets ahead, so the table's misses
    /// overlap other packets' work instead of stalling on each lookup in turn.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let base = self.home_slot(hash) as usize;
        // The window's tags can straddle two lines: warm both ends. The first slot (where
        // most flows live, and where a new one is placed) is one line.
        let tags = self.tags.as_ptr().wrapping_add(base);
        prefetch(tags);
        prefetch(tags.wrapping_add(WINDOW - 1));
        prefetch(self.slots.as_ptr().wrapping_add(base));
    }

    /// [`FlowTable::prefetch`] for a packet likely to start a flow: also warms every slot
    /// of its window, which a new flow walks when its first slot is taken (the walk's
    /// loads then miss together instead of one after another).
    #[inline]
    pub fn prefetch_window(&self, hash: u64) {
        let base = self.home_slot(hash) as usize;
        for i in 1..WINDOW {
            prefetch(self.slots.as_ptr().wrapping_add((base + i) & self.mask));
        }
    }

    /// Finds or creates the packet's flow, updates its state with this packet and says
    /// what detection needs to know. Packet time drives timeouts, as in offline replay.
    pub fn update(&mut self, p: &Packet<'_>, ts_ns: u64) -> FlowView {
        let (key, src_is_lo) = FlowKey::of(p);
        let h = key.hash();
        self.update_keyed(p, key, src_is_lo, h, ts_ns)
    }

    /// [`FlowTable::update`] for a packet whose key `k` was built already.
    pub fn update_hashed(&mut self, p: &Packet<'_>, k: &KeyedFlow, ts_ns: u64) -> FlowView {
        debug_assert_eq!(
            (k.key, k.src_is_lo),
            FlowKey::of(p),
            "a flow key from another packet"
        );
        self.update_keyed(p, k.key, k.src_is_lo, k.hash, ts_ns)
    }

    #[inline]
    fn update_keyed(
        &mut self,
        p: &Packet<'_>,
        key: FlowKey,
        src_is_lo: bool,
        h: u64,
        ts_ns: u64,
    ) -> FlowView {
        let (tag, base) = ((h >> 32) as u32 | 1, h as usize & self.mask);
        let found = self.find(&key, tag, base);
        let mut created = false;
        let idx = match found {
            Some(idx) if !self.expired(&self.slots[idx], ts_ns) => idx,
            found => {
                created = true;
                if let Some(idx) = found {
                    // The old conversation timed out: this packet starts a new flow.
                    self.release(idx);
                    self.stats.timed_out += 1;
                }
                let idx = found.unwrap_or_else(|| self.free_slot(base, ts_ns));
                self.stats.created += 1;
                self.live += 1;
                self.tags[idx] = tag;
                self.slots[idx] = Flow {
                    key,
                    client_is_lo: src_is_lo,
                    id: (mix(h ^ ts_ns ^ self.worker_salt)) & ((1 << 51) - 1),
                    ..Flow::default()
                };
                idx
            }
        };
        let f = &mut self.slots[idx];
        let to_server = src_is_lo == f.client_is_lo;
        let first = f.saw(to_server, ts_ns);
        // As Suricata flags a TCP packet by its session's state before the packet: the
        // ACK that completes the handshake is not yet `flow:established`, the packets
        // after it are. Other protocols are established from the first reply on.
        let established = match p.l4 {
            L4::Tcp(t) => {
                let before = f.established;
                advance_tcp(f, t.flags, to_server);
                before
            }
            _ => f.established_by_reply(),
        };
        FlowView {
            to_server,
            established,
            passed: f.exempt != Exempt::No,
            dropped: f.exempt == Exempt::Dropped,
            id: f.id,
            slot: idx as u32,
            created,
            first_in_direction: first || !has_flow(p),
        }
    }

    /// Pass 1 of a lookup, the common case: a tag line read, then one entry compared.
    #[inline]
    fn find(&self, key: &FlowKey, tag: u32, base: usize) -> Option<usize> {
        (0..WINDOW)
            .map(|i| (base + i) & self.mask)
            .find(|&idx| self.tags[idx] == tag && self.slots[idx].key == *key)
    }

    /// An ICMPv4 error quoting a packet of a live flow (see [`icmp_error`]): counted in
    /// that flow, in the direction its sender has there (Suricata compares the sender with
    /// the flow's client, so a router's error goes to the client). `None` when no such
    /// flow is live: Suricata never starts a flow for an error, which is then inspected
    /// without one.
    pub fn attach(&mut self, p: &Packet<'_>, ts_ns: u64) -> Option<FlowView> {
        let (key, _) = FlowKey::of(p);
        let h = key.hash();
        let idx = self.find(&key, (h >> 32) as u32 | 1, h as usize & self.mask)?;
        if self.expired(&self.slots[idx], ts_ns) {
            return None;
        }
        let f = &mut self.slots[idx];
        let client = if f.client_is_lo {
            key.addr_lo
        } else {
            key.addr_hi
        };
        let to_server = addr_bits(&p.src) == client;
        let first = f.saw(to_server, ts_ns);
        // A TCP flow's state is its session's; others are established by a reply.
        if key.proto != 6 {
            f.established_by_reply();
        }
        Some(FlowView {
            to_server,
            established: f.established,
            passed: f.exempt != Exempt::No,
            dropped: f.exempt == Exempt::Dropped,
            id: f.id,
            slot: idx as u32,
            created: false,
            first_in_direction: first,
        })
    }

    /// Reclaims the timed-out flows among the next `out.len()` slots of a walk round the
    /// table (Suricata's flow manager, in steps): writes their slots to `out` and returns
    /// how many, for the caller to inspect what their streams hold. Without it a flow that
    /// timed out would keep its slot, and its last bytes would wait uninspected, until a
    /// new flow needed the slot; and the count of flows held, which ends emergency mode,
    /// would never fall.
    pub fn sweep(&mut self, now: u64, out: &mut [u32]) -> usize {
        let mut n = 0;
        for _ in 0..out.len() {
            let idx = self.cursor;
            self.cursor = (idx + 1) & self.mask;
            if self.tags[idx] != 0 && self.expired(&self.slots[idx], now) {
                self.release(idx);
                self.stats.timed_out += 1;
                out[n] = idx as u32;
                n += 1;
            }
        }
        n
    }

    fn release(&mut self, idx: usize) {
        self.tags[idx] = 0;
        self.live -= 1;
        if self.emergency && self.live <= self.recovery_at {
            self.emergency = false;
        }
    }

    /// Pass 2, for a new flow: the first empty or timed-out slot of the window, else the
    /// least recently seen flow there, evicted and counted.
    fn free_slot(&mut self, base: usize, ts_ns: u64) -> usize {
        let mut oldest = base;
        let mut oldest_ts = u64::MAX;
        for i in 0..WINDOW {
            let idx = (base + i) & self.mask;
            if self.tags[idx] == 0 {
                return idx;
            }
            let f = &self.slots[idx];
            if self.expired(f, ts_ns) {
                self.release(idx);
                self.stats.timed_out += 1;
                return idx;
            }
            if f.last_ts < oldest_ts {
                oldest_ts = f.last_ts;
                oldest = idx;
            }
        }
        self.release(oldest);
        self.stats.evicted += 1;
        // A full window in a table mostly free is a hash collision, not a shortage:
        // emergency mode (Suricata's, when flow.memcap runs out) starts only when the
        // table, with the new flow, is fuller than emergency mode's exit mark.
        if !self.emergency && self.live + 1 > self.recovery_at {
            self.emergency = true;
            self.stats.emergency += 1;
        }
        oldest
    }

    /// Exempts the rest of a flow from detection (a `pass` rule matched).
    pub fn mark_passed(&mut self, slot: u32) {
        if let Some(f) = self.slots.get_mut(slot as usize) {
            f.exempt = Exempt::Passed;
        }
    }

    /// Exempts the rest of a flow from detection because a `drop` rule matched: Suricata
    /// drops its later packets uninspected.
    pub fn mark_dropped(&mut self, slot: u32) {
        if let Some(f) = self.slots.get_mut(slot as usize) {
            f.exempt = Exempt::Dropped;
        }
    }
}

/// The TCP state machine, reduced to what `flow:established` needs: a flow is established
/// once the client's ACK completes SYN, SYN/ACK; a RST or the second FIN closes it.
fn advance_tcp(f: &mut Flow, flags: u8, to_server: bool) {
    let syn = flags & tcp_flags::SYN != 0;
    let ack = flags & tcp_flags::ACK != 0;
    let rst = flags & tcp_flags::RST != 0;
    let fin = flags & tcp_flags::FIN != 0;
    f.tcp = match (f.tcp, to_server) {
        (_, _) if rst && f.tcp != TcpState::None => TcpState::Closed,
        (TcpState::None, true) if syn && !ack => TcpState::SynSent,
        (TcpState::SynSent, false) if syn && ack => TcpState::SynRecv,
        (TcpState::SynRecv, true) if ack && !syn => TcpState::Established,
        (TcpState::Established, _) if fin => TcpState::Closing,
        (TcpState::Closing, _) if fin => TcpState::Closed,
        (s, _) => s,
    };
    // Suricata orders its closed session states after ESTABLISHED, so a session a reset
    // closed (even in its handshake) flags its later packets established too.
    if matches!(
        f.tcp,
        TcpState::Established | TcpState::Closing | TcpState::Closed
    ) {
        f.established = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::decode::{Packet, TcpHeader, UdpHeader};

    fn pkt(src: &str, dst: &str, l4: L4, proto: u8) -> Packet<'static> {
        Packet {
            frame: &[],
            vlan: [0; 2],
            vlan_count: 0,
            l3_offset: 0,
            l4_offset: 0,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ip_proto: proto,
            ttl: 64,
            ip_id: 0,
            tos: 0,
            ip_options: false,
            fragment: None,
            l4,
            payload: &[],
            tunnel: None,
            tunnel_error: None,
        }
    }

    fn tcp(src: &str, sp: u16, dst: &str, dp: u16, flags: u8) -> Packet<'static> {
        pkt(
            src,
            dst,
            L4::Tcp(TcpHeader {
                src_port: sp,
                dst_port: dp,
                flags,
                ..TcpHeader::default()
            }),
            6,
        )
    }

    const S: u64 = 1_000_000_000;
    use tcp_flags::{ACK, FIN, PSH, SYN};

    #[test]
    fn tcp_handshake_sets_direction_and_establishment() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let c = "10.0.0.9";
        let s = "10.0.0.1";
        let steps: [(Packet, bool, bool); 6] = [
            (tcp(c, 40000, s, 80, SYN), true, false),
            (tcp(s, 80, c, 40000, SYN | ACK), false, false),
            // Established by this ACK, flagged so from the next packet on (Suricata).
            (tcp(c, 40000, s, 80, ACK), true, false),
            (tcp(c, 40000, s, 80, ACK | PSH), true, true),
            (tcp(s, 80, c, 40000, ACK | PSH), false, true),
            (tcp(s, 80, c, 40000, ACK | FIN), false, true),
        ];
        let mut id = None;
        for (i, (p, to_server, established)) in steps.iter().enumerate() {
            let v = t.update(p, i as u64 * S);
            assert_eq!(
                (v.to_server, v.established),
                (*to_server, *established),
                "step {i}"
            );
            assert_eq!(
                *id.get_or_insert(v.id),
                v.id,
                "one flow id for both directions"
            );
        }
        assert_eq!(t.stats().created, 1);
    }

    /// Flows of `n` distinct client ports whose keys all hash to one home slot.
    fn colliding(t: &FlowTable, n: usize) -> Vec<Packet<'static>> {
        let home = |p: &Packet<'_>| t.home_slot(flow_hash(p));
        let first = tcp("10.0.0.9", 1024, "10.0.0.1", 80, SYN);
        let want = home(&first);
        (1024..u16::MAX)
            .map(|sp| tcp("10.0.0.9", sp, "10.0.0.1", 80, SYN))
            .filter(|p| home(p) == want)
            .take(n)
            .collect()
    }

    #[test]
    fn a_full_window_in_an_empty_table_evicts_without_emergency_mode() {
        let config = FlowConfig {
            max_flows: 1 << 12,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(&config, 0);
        let flows = colliding(&t, WINDOW + 1);
        assert_eq!(flows.len(), WINDOW + 1);
        for (i, p) in flows.iter().enumerate() {
            t.update(p, i as u64 * S);
        }
        let st = t.stats();
        assert_eq!((st.created, st.evicted), (WINDOW as u64 + 1, 1), "{st:?}");
        assert_eq!(st.emergency, 0, "{st:?}");
        assert!(!t.in_emergency());
    }

    #[test]
    fn an_eviction_in_a_nearly_full_table_enters_emergency_mode() {
        let config = FlowConfig {
            max_flows: 64,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(&config, 0);
        let mut port = 1024;
        // Fill well past the exit mark (70% of 64 slots), then one more collides.
        while t.stats().evicted == 0 {
            t.update(&tcp("10.0.0.9", port, "10.0.0.1", 80, SYN), port as u64);
            port += 1;
        }
        assert!(t.len() > 45, "{} live flows", t.len());
        assert!(t.in_emergency());
        assert_eq!(t.stats().emergency, 1);
    }

    #[test]
    fn the_sweep_reclaims_timed_out_flows_and_ends_emergency_mode() {
        let config = FlowConfig {
            max_flows: 64,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(&config, 0);
        let mut port = 1024;
        while !t.in_emergency() {
            t.update(&tcp("10.0.0.9", port, "10.0.0.1", 80, SYN), 0);
            port += 1;
        }
        let held = t.len();
        let mut out = [0u32; 64];
        // Nothing has timed out yet: the sweep takes nothing.
        assert_eq!(t.sweep(S, &mut out), 0);
        assert_eq!(t.len(), held);
        // Long after, one fresh flow; a sweep over the table takes every other one.
        let late = 10_000 * S;
        t.update(&tcp("10.0.0.8", 999, "10.0.0.1", 80, SYN), late);
        let before = t.len();
        let n = t.sweep(late, &mut out);
        assert_eq!(n, before - 1);
        assert_eq!(t.len(), 1, "the fresh flow stays");
        assert!(!t.in_emergency(), "the table drained below the exit mark");
        let mut slots: Vec<u32> = out[..n].to_vec();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), n, "each slot once");
    }

    #[test]
    fn client_is_the_first_sender_even_when_its_address_is_higher() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let v = t.update(&tcp("10.9.9.9", 5000, "10.0.0.1", 22, SYN), 0);
        assert!(v.to_server);
        let v = t.update(&tcp("10.0.0.1", 22, "10.9.9.9", 5000, SYN | ACK), 1);
        assert!(!v.to_server);
    }

    #[test]
    fn udp_is_established_once_both_directions_are_seen() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let udp = |s: &str, sp, d: &str, dp| {
            pkt(
                s,
                d,
                L4::Udp(UdpHeader {
                    src_port: sp,
                    dst_port: dp,
                    length: 8,
                }),
                17,
            )
        };
        assert!(
            !t.update(&udp("10.0.0.2", 53000, "10.0.0.3", 53), 0)
                .established
        );
        assert!(
            !t.update(&udp("10.0.0.2", 53000, "10.0.0.3", 53), 1)
                .established
        );
        let v = t.update(&udp("10.0.0.3", 53, "10.0.0.2", 53000), 2);
        assert!(v.established && !v.to_server);
    }

    #[test]
    fn timeouts_start_a_new_flow_and_are_counted() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let p = tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN);
        let a = t.update(&p, 0);
        let b = t.update(&p, 61 * S);
        assert_ne!(a.id, b.id);
        assert_eq!(t.stats().timed_out, 1);
        assert_eq!(t.stats().created, 2);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_full_table_evicts_the_least_recent_and_counts_it() {
        let cfg = FlowConfig {
            max_flows: 8,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(&cfg, 0);
        for port in 0..100u16 {
            t.update(
                &tcp("10.0.0.1", 1000 + port, "10.0.0.2", 80, SYN),
                port as u64,
            );
        }
        let st = t.stats();
        assert_eq!(st.created, 100);
        assert_eq!(st.evicted, 100 - 8);
        assert_eq!(t.len(), 8);
        // The most recent flow survived.
        let before = t.stats().created;
        t.update(&tcp("10.0.0.1", 1099, "10.0.0.2", 80, ACK), 100);
        assert_eq!(t.stats().created, before);
    }

    #[test]
    fn pass_marks_stick_to_the_flow() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let p = tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN);
        let v = t.update(&p, 0);
        assert!(!v.passed);
        t.mark_passed(v.slot);
        assert!(
            t.update(&tcp("10.0.0.2", 2, "10.0.0.1", 1, SYN | ACK), 1)
                .passed
        );
    }

    #[test]
    fn vlans_separate_flows() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let mut p = tcp("10.0.0.1", 1, "10.0.0.2", 2, SYN);
        t.update(&p, 0);
        p.vlan = [10, 0];
        p.vlan_count = 1;
        t.update(&p, 0);
        assert_eq!(t.stats().created, 2);
    }

    /// An IPv4 header (no options) quoting `proto` from `src` to `dst`, then `l4` bytes.
    fn quote(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut q = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        q.extend_from_slice(&src);
        q.extend_from_slice(&dst);
        q.extend_from_slice(l4);
        q
    }

    fn icmp<'a>(src: &str, dst: &str, t: u8, c: u8, payload: &'a [u8]) -> Packet<'a> {
        Packet {
            payload,
            ..pkt(
                src,
                dst,
                L4::Icmp(capture::decode::IcmpHeader {
                    icmp_type: t,
                    code: c,
                }),
                1,
            )
        }
    }

    #[test]
    fn icmp_errors_join_the_flow_they_quote_or_have_none() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let udp = |src, sp, dst, dp| {
            pkt(
                src,
                dst,
                L4::Udp(UdpHeader {
                    src_port: sp,
                    dst_port: dp,
                    ..UdpHeader::default()
                }),
                17,
            )
        };
        let (c, s, r) = ([10, 0, 0, 1], [10, 0, 0, 2], "10.0.0.254");
        let flow = t.update(&udp("10.0.0.1", 5000, "10.0.0.2", 9999), 0);
        let ports = [0x13, 0x88, 0x27, 0x0f, 0, 13, 0, 0]; // 5000 -> 9999
        let q = quote(c, s, 17, &ports);
        let from_server = icmp("10.0.0.2", "10.0.0.1", 3, 3, &q);
        assert_eq!(
            icmp_error(&from_server),
            Some(Some((
                "10.0.0.1".parse().unwrap(),
                5000,
                "10.0.0.2".parse().unwrap(),
                9999,
                17
            )))
        );
        let v = t.attach(&from_server, S).expect("the quoted flow is live");
        assert_eq!(
            (v.id, v.to_server, v.first_in_direction),
            (flow.id, false, true)
        );
        assert!(
            v.established,
            "a reply (even an error) establishes a UDP flow"
        );
        // A router is not the client either; the client's own error goes to the server.
        assert!(
            !t.attach(&icmp(r, "10.0.0.2", 3, 3, &q), S)
                .unwrap()
                .to_server
        );
        assert!(
            t.attach(&icmp("10.0.0.1", "10.0.0.2", 3, 3, &q), S)
                .unwrap()
                .to_server
        );
        // A flow never seen: no flow (Suricata starts none for an error).
        let other = quote(c, s, 17, &[0x1b, 0x58, 0x27, 0x0f, 0, 13, 0, 0]);
        assert!(t
            .attach(&icmp("10.0.0.2", "10.0.0.1", 3, 3, &other), S)
            .is_none());
        // Errors Suricata ties to no flow: not an unreachable, an unknown code, a quote
        // too short for the TCP header, an IPv6 quote.
        let tcp8 = quote(c, s, 6, &ports);
        let v6 = [0x60u8; 28];
        for (t_, c_, payload) in [(11, 0, &q[..]), (3, 16, &q), (3, 3, &tcp8), (3, 3, &v6)] {
            assert_eq!(
                icmp_error(&icmp("10.0.0.2", "10.0.0.1", t_, c_, payload)),
                Some(None)
            );
        }
        // Echo has flows of its own.
        assert_eq!(icmp_error(&icmp("10.0.0.1", "10.0.0.2", 8, 0, &q)), None);
        assert_eq!(t.stats().created, 1);
    }

    #[test]
    fn icmp_flows_pair_a_message_with_its_answer_by_type() {
        let mut t = FlowTable::new(&FlowConfig::default(), 0);
        let v4 = |src, dst, ty, code| icmp(src, dst, ty, code, &[]);
        let v6 = |src, dst, ty| Packet {
            l4: L4::Icmpv6(capture::decode::IcmpHeader {
                icmp_type: ty,
                code: 0,
            }),
            ..pkt(src, dst, L4::Other, 58)
        };
        let (a, b) = ("10.0.0.1", "10.0.0.2");
        let echo = t.update(&v4(a, b, 8, 0), 0);
        let reply = t.update(&v4(b, a, 0, 0), 1);
        assert_eq!((reply.id, reply.to_server), (echo.id, false));
        assert_eq!(
            t.update(&v4(a, b, 8, 3), 2).id,
            echo.id,
            "the code does not count"
        );
        assert_ne!(
            t.update(&v4(a, b, 13, 0), 3).id,
            echo.id,
            "a timestamp is another flow"
        );
        let (c, s) = ("2001:db8::1", "2001:db8::2");
        let unreach = t.update(&v6(s, c, 1), 4);
        assert_eq!(t.update(&v6(s, c, 1), 5).id, unreach.id);
        assert_ne!(t.update(&v6(s, c, 2), 6).id, unreach.id, "errors by type");
        let query = t.update(&v6(c, s, 130), 7);
        assert_eq!(
            t.update(&v6(s, c, 131), 8).id,
            query.id,
            "MLD query and report"
        );
    }
}
