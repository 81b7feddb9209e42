//! Rule groups: per flow direction, transport class (TCP, UDP, ICMP incl. ICMPv6, other)
//! and IP version, and for TCP/UDP per destination port, the list of rule ranks a packet
//! must consider. Rules whose ports are `any` (or too broad to enumerate) sit in every port
//! group of their protocol, so a packet maps to exactly one group and one prefilter scan.
//! As in Suricata's port grouping, only the busiest ports get a group of their own; the
//! other ports that have port-specific rules share one "misc" group (the header check
//! filters the ports exactly).
//!
//! As Suricata keeps one group head per flow direction, a rule with `flow:to_server`
//! is only in the to-server groups and one with `flow:to_client` only in the to-client
//! ones: a direction no rule inspects is neither scanned nor, for the stream, buffered.
//! The header check still tests the direction, so this only narrows what is tried.

use std::collections::HashMap;

use capture::decode::{tcp_flags, Packet, L4};

use crate::rules::{FlagsModifier, PortSet, Proto, Rule};

/// Ports with their own group, per (protocol, IP version) table.
pub const MAX_PORT_GROUPS: usize = 32;
/// A port expression covering more ports than this is treated as `any` for grouping.
const MAX_ENUMERATED_PORTS: u32 = 2048;

/// Transport classes a packet or rule falls into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Tcp = 0,
    Udp = 1,
    Icmp = 2,
    Other = 3,
}

const CLASSES: [Class; 4] = [Class::Tcp, Class::Udp, Class::Icmp, Class::Other];

/// Which classes and IP versions (bit 0: v4, bit 1: v6) a rule's protocol covers;
/// `None` for app-layer protocols.
pub(crate) fn rule_scope(proto: &Proto) -> Option<(u8, u8)> {
    const ALL: u8 = 0b1111;
    Some(match proto {
        Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => (1 << Class::Tcp as u8, 0b11),
        // DNS over UDP only: DNS over TCP is not parsed.
        Proto::Udp | Proto::Dns => (1 << Class::Udp as u8, 0b11),
        Proto::Tls | Proto::Http => (1 << Class::Tcp as u8, 0b11),
        Proto::Icmp => (1 << Class::Icmp as u8, 0b11),
        Proto::Ip => (ALL, 0b11),
        Proto::Ipv4 => (ALL, 0b01),
        Proto::Ipv6 => (ALL, 0b10),
        Proto::AppLayer(_) => return None,
    })
}

fn packet_class(pkt: &Packet<'_>) -> Class {
    match pkt.l4 {
        L4::Tcp(_) => Class::Tcp,
        L4::Udp(_) => Class::Udp,
        L4::Icmp(_) | L4::Icmpv6(_) => Class::Icmp,
        L4::Other => Class::Other,
    }
}

/// Whether a packet's transport class and IP version are in a rule's scope.
#[inline]
pub(crate) fn in_scope(scope: (u8, u8), pkt: &Packet<'_>) -> bool {
    scope.0 & (1 << packet_class(pkt) as u8) != 0 && scope.1 & (1 << pkt.is_ipv6() as u8) != 0
}

/// The ports a port expression names, or `None` when it is `any`, only exclusions, or broad.
fn enumerate(ps: &PortSet) -> Option<Vec<u16>> {
    if ps.include.is_empty() {
        return None;
    }
    let count: u32 = ps
        .include
        .iter()
        .map(|&(a, b)| (b as u32 + 1).saturating_sub(a as u32))
        .sum();
    if count > MAX_ENUMERATED_PORTS {
        return None;
    }
    let mut v: Vec<u16> = ps
        .include
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .filter(|&p| ps.contains(p))
        .collect();
    v.sort_unstable();
    v.dedup();
    Some(v)
}

/// The destination ports a rule can be reached on (both port sets for `<>`); `None`: any.
fn rule_ports(rule: &Rule) -> Option<Vec<u16>> {
    let mut v = enumerate(&rule.dst_ports)?;
    if rule.bidirectional {
        v.extend(enumerate(&rule.src_ports)?);
        v.sort_unstable();
        v.dedup();
    }
    Some(v)
}

/// One (direction, class, version)'s destination-port -> group id table. Ids are 16
/// bits (a build makes at most a few hundred groups) so a table is 128 KiB; where every
/// port has the same group (no port-specific rule, as in a direction only `any`-port
/// rules inspect) there is no table, and the lookup reads no memory: a to-client packet's
/// random client port would otherwise miss the cache on a line of its own.
#[derive(Clone, Debug, Default)]
pub(crate) struct PortTable {
    /// The group of ports without a port-specific rule.
    pub(crate) any: u16,
    /// Group per port, or empty when every port is in `any`.
    pub(crate) ports: Box<[u16]>,
}

/// Packet -> group id lookup tables.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    /// `[to server, to client][tcp, udp][v4, v6]`: group id per destination port.
    pub(crate) by_port: [[[PortTable; 2]; 2]; 2],
    /// `[to server, to client][icmp, other][v4, v6]`.
    single: [[[u16; 2]; 2]; 2],
}

impl Tables {
    /// The group of a packet going `to_server` (or to the client) in its flow.
    #[inline]
    pub(crate) fn lookup(&self, pkt: &Packet<'_>, to_server: bool) -> u32 {
        let v = pkt.is_ipv6() as usize;
        let d = usize::from(!to_server);
        let id = match packet_class(pkt) {
            c @ (Class::Tcp | Class::Udp) => {
                let t = &self.by_port[d][c as usize][v];
                t.ports
                    .get(pkt.dst_port() as usize)
                    .copied()
                    .unwrap_or(t.any)
            }
            c @ (Class::Icmp | Class::Other) => self.single[d][c as usize - 2][v],
        };
        u32::from(id)
    }
}

/// Flow directions a rule can match in (bit 0: to server, bit 1: to client).
fn rule_directions(rule: &Rule) -> u8 {
    match rule.flow.to_server {
        Some(true) => 0b01,
        Some(false) => 0b10,
        None if to_client_sides(rule) == 0 => 0b01,
        None => 0b11,
    }
}

/// Both orientations of a rule (as written, and swapped for `<>`), in [`to_client_sides`].
pub(crate) const BOTH_SIDES: u8 = 0b11;

/// The orientations in which a rule may match a packet going to the client: bit 0 as
/// written, bit 1 swapped (a `<>` rule's second copy). Suricata leaves a rule out of its
/// to-client groups when it has no flow direction, asks for SYN alone (a `flags` naming
/// exactly S, with any modifier but `!`) and names destination ports (not all of them):
/// such a rule is after SYN scans and floods towards servers, and a SYN to a client (a
/// simultaneous open) goes unmatched (detect-engine-build.c, "SYN-only to port(s) w/o
/// direction specified"). It keeps a `<>` rule as two copies and tests each copy's
/// destination ports, so one copy can stay while the other leaves.
pub(crate) fn to_client_sides(rule: &Rule) -> u8 {
    let syn_only = rule
        .flags
        .iter()
        .any(|f| f.modifier != FlagsModifier::Not && f.flags == tcp_flags::SYN);
    if rule.flow.to_server.is_some() || !syn_only {
        return BOTH_SIDES;
    }
    let written = covers_all(&rule.dst_ports);
    if !rule.bidirectional {
        return if written { BOTH_SIDES } else { 0 };
    }
    u8::from(written) | u8::from(covers_all(&rule.src_ports)) << 1
}

/// Whether a port expression matches every port (`any`, or ranges that add up to it).
fn covers_all(ps: &PortSet) -> bool {
    if !ps.exclude.is_empty() {
        return false;
    }
    let mut ranges = ps.include.clone();
    ranges.sort_unstable();
    // The first port not yet covered.
    let mut next = 0u32;
    for (a, b) in ranges {
        if u32::from(a) > next {
            return false;
        }
        next = next.max(u32::from(b) + 1);
    }
    next > u32::from(u16::MAX) || ps.include.is_empty()
}

/// Deduplicates groups by their (sorted) rank list.
#[derive(Default)]
struct Interner {
    ids: HashMap<Vec<u32>, u16>,
    groups: Vec<Vec<u32>>,
}

impl Interner {
    fn intern(&mut self, list: Vec<u32>) -> u16 {
        if let Some(&id) = self.ids.get(&list) {
            return id;
        }
        // At most (MAX_PORT_GROUPS + 2) lists per port table and one per single entry.
        debug_assert!(self.groups.len() < usize::from(u16::MAX));
        let id = self.groups.len() as u16;
        self.groups.push(list.clone());
        self.ids.insert(list, id);
        id
    }
}

fn merged(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Builds the tables and the groups' rank lists (each sorted). `ranked` is the rules in
/// rank order; app-layer rules (no scope) and transaction rules are in no group.
pub(crate) fn build(ranked: &[&Rule]) -> (Tables, Vec<Vec<u32>>) {
    // Transaction rules (`dns.query`) run on app-layer transactions, not in a group.
    let scopes: Vec<Option<(u8, u8)>> = ranked
        .iter()
        .map(|r| rule_scope(&r.proto).filter(|_| r.app_buffer.is_none()))
        .collect();
    let dirs: Vec<u8> = ranked.iter().map(|r| rule_directions(r)).collect();
    let ports: Vec<Option<Vec<u16>>> = ranked.iter().map(|r| rule_ports(r)).collect();
    let mut interner = Interner::default();
    let members = |dir: usize, class: Class, ver: usize| {
        scopes
            .iter()
            .zip(&dirs)
            .enumerate()
            .filter_map(move |(rank, (s, d))| {
                s.filter(|&(c, v)| {
                    d & (1 << dir) != 0 && c & (1 << class as u8) != 0 && v & (1 << ver) != 0
                })
                .map(|_| rank)
            })
    };
    let mut by_port: [[[PortTable; 2]; 2]; 2] = Default::default();
    let mut single = [[[0u16; 2]; 2]; 2];
    for dir in 0..2 {
        for class in CLASSES {
            for ver in 0..2 {
                match class {
                    Class::Tcp | Class::Udp => {
                        by_port[dir][class as usize][ver] =
                            port_table(members(dir, class, ver), &ports, &mut interner);
                    }
                    Class::Icmp | Class::Other => {
                        let list: Vec<u32> = members(dir, class, ver).map(|r| r as u32).collect();
                        single[dir][class as usize - 2][ver] = interner.intern(list);
                    }
                }
            }
        }
    }
    (Tables { by_port, single }, interner.groups)
}

/// The destination-port table of one (direction, class, version) from its member ranks.
fn port_table(
    members: impl Iterator<Item = usize>,
    ports: &[Option<Vec<u16>>],
    interner: &mut Interner,
) -> PortTable {
    let mut any = Vec::new();
    let mut per_port: HashMap<u16, Vec<u32>> = HashMap::new();
    for rank in members {
        match &ports[rank] {
            None => any.push(rank as u32),
            Some(ps) => ps
                .iter()
                .for_each(|&p| per_port.entry(p).or_default().push(rank as u32)),
        }
    }
    let mut busy: Vec<(u16, Vec<u32>)> = per_port.into_iter().collect();
    busy.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let rest = busy.split_off(busy.len().min(MAX_PORT_GROUPS));
    let any_id = interner.intern(any.clone());
    if busy.is_empty() {
        return PortTable {
            any: any_id,
            ports: Box::default(),
        };
    }
    let mut table = vec![any_id; 65536].into_boxed_slice();
    for (port, list) in &busy {
        table[*port as usize] = interner.intern(merged(&any, list));
    }
    if !rest.is_empty() {
        let misc: Vec<u32> = rest.iter().flat_map(|(_, l)| l.iter().copied()).collect();
        let misc_id = interner.intern(merged(&any, &misc));
        for (port, _) in &rest {
            table[*port as usize] = misc_id;
        }
    }
    PortTable {
        any: any_id,
        ports: table,
    }
}

/// The server ports of TCP flows whose stream Suricata 7 keeps for raw inspection, per
/// direction and IP version. Suricata disables a direction's raw reassembly when the rule
/// group of its first packet holds no stream content rule (`SIG_GROUP_HEAD_HAVERAWSTREAM`),
/// and only a direction with raw reassembly has "stream data" at a packet, which decides
/// whether an empty packet counts as having a payload (`dsize`). Its groups differ from
/// ours: to-server rules are grouped by destination port, to-client rules by *source*
/// port, so a content rule without a direction (`-> any 80`) sits in every to-client
/// group. Suricata's merging of ports beyond its group limits (`detect.profile`) is not
/// modelled: it only widens the set.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawStreamPorts {
    /// `[to server, to client][v4, v6]`: every port, or a 65,536-bit map.
    sets: [[PortBits; 2]; 2],
}

#[derive(Clone, Debug, Default)]
enum PortBits {
    #[default]
    None,
    All,
    Some(Box<[u64]>),
}

impl PortBits {
    fn add(&mut self, ps: &PortSet) {
        if matches!(self, PortBits::All) {
            return;
        }
        if ps.is_any() {
            *self = PortBits::All;
            return;
        }
        let bits = match self {
            PortBits::Some(b) => b,
            _ => {
                *self = PortBits::Some(vec![0u64; 1024].into_boxed_slice());
                let PortBits::Some(b) = self else {
                    unreachable!("just set")
                };
                b
            }
        };
        let ranges: Vec<(u16, u16)> = if ps.include.is_empty() {
            vec![(0, u16::MAX)]
        } else {
            ps.include.clone()
        };
        for (a, b) in ranges {
            for p in a..=b {
                if ps.contains(p) {
                    bits[usize::from(p) / 64] |= 1 << (p % 64);
                }
            }
        }
    }

    #[inline]
    fn has(&self, port: u16) -> bool {
        match self {
            PortBits::None => false,
            PortBits::All => true,
            PortBits::Some(b) => b[usize::from(port) / 64] & (1 << (port % 64)) != 0,
        }
    }
}

impl RawStreamPorts {
    /// From the rules that look at the stream.
    pub(crate) fn build<'r>(stream_rules: impl Iterator<Item = &'r Rule>) -> Self {
        let mut s = RawStreamPorts::default();
        for r in stream_rules {
            let Some((class, ver)) = rule_scope(&r.proto) else {
                continue;
            };
            if class & (1 << Class::Tcp as u8) == 0 {
                continue;
            }
            let dirs = rule_directions(r);
            for (d, set) in s.sets.iter_mut().enumerate() {
                if dirs & (1 << d) == 0 {
                    continue;
                }
                for (v, bits) in set.iter_mut().enumerate() {
                    if ver & (1 << v) == 0 {
                        continue;
                    }
                    // To server: the rule's destination ports; to client: its source
                    // ports. A `<>` rule is also its swapped copy, so both.
                    let (own, swapped) = if d == 0 {
                        (&r.dst_ports, &r.src_ports)
                    } else {
                        (&r.src_ports, &r.dst_ports)
                    };
                    bits.add(own);
                    if r.bidirectional {
                        bits.add(swapped);
                    }
                }
            }
        }
        s
    }

    /// Whether Suricata keeps raw stream data for a TCP packet going `to_server` (or to
    /// the client): looked up by the flow's server port.
    #[inline]
    pub(crate) fn has(&self, pkt: &Packet<'_>, to_server: bool) -> bool {
        let server_port = if to_server {
            pkt.dst_port()
        } else {
            pkt.src_port()
        };
        self.sets[usize::from(!to_server)][pkt.is_ipv6() as usize].has(server_port)
    }
}
