//! IPv4 and IPv6 fragment reassembly, per worker, the way Suricata 7 does it: fragments
//! are held per datagram (keyed by addresses, IP id, protocol and VLAN), overlaps are
//! resolved by the configured policy, and once the last fragment is in and nothing is
//! missing the datagram is rebuilt into a caller's buffer and decoded again, so the worker
//! inspects it as one packet (flow table, stream reassembly, rules).
//!
//! Memory is bounded: every held fragment and tracker is charged to `memcap`, the number
//! of datagrams in progress to `max_trackers`, and each datagram lives at most `timeout`
//! of packet time after its latest fragment. What does not fit is dropped and counted by
//! reason in [`DefragStats`]; nothing grows without bound and no input panics.
//! The non-fragment path never reaches this module.

mod tracker;

use capture::decode::{LinkType, Packet};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tracker::{NewFrag, Tracker};

use crate::rules::IpNet;

/// Which bytes win where fragments overlap: Suricata's `host-os-policy` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Suricata's default: a held fragment keeps its bytes, unless the new one starts
    /// at or before it.
    #[default]
    Bsd,
    /// Suricata names it but applies no trimming: copy order decides (later offsets win).
    BsdRight,
    Linux,
    Windows,
    Solaris,
    /// The first bytes received win.
    First,
    /// The last bytes received win.
    Last,
}

impl Policy {
    /// Parses a policy or one of Suricata's `host-os-policy` OS names that maps to it.
    pub fn parse(name: &str) -> Option<Policy> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "bsd" | "hpux10" | "irix" => Policy::Bsd,
            "bsd-right" | "bsd_right" => Policy::BsdRight,
            "linux" | "old-linux" | "old_linux" => Policy::Linux,
            "windows" | "vista" | "windows2k3" => Policy::Windows,
            "solaris" => Policy::Solaris,
            "first" | "old-solaris" | "old_solaris" | "hpux11" | "macos" => Policy::First,
            "last" => Policy::Last,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::Bsd => "bsd",
            Policy::BsdRight => "bsd-right",
            Policy::Linux => "linux",
            Policy::Windows => "windows",
            Policy::Solaris => "solaris",
            Policy::First => "first",
            Policy::Last => "last",
        }
    }
}

/// Overlap policies per destination host, as Suricata's `host-os-policy` gives them to
/// its defragmenter: a network reassembles the way the OS of the hosts in it would, so
/// what the sensor inspects is what the target rebuilds. The most specific network that
/// holds a datagram's destination decides; a destination in none gets the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPolicies {
    /// Longest prefix first, so the first network that holds an address is its best match.
    nets: Arc<[(IpNet, Policy)]>,
}

impl HostPolicies {
    /// From `(OS or policy name, networks)` pairs as Suricata writes them
    /// (`windows: [10.0.0.0/8, "2001:db8::/32"]`). `Err` names the bad name or network; a
    /// network named twice keeps the later name, as Suricata's radix tree does.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [String])>,
    ) -> Result<HostPolicies, String> {
        let mut nets: Vec<(IpNet, Policy)> = Vec::new();
        for (name, list) in entries {
            let policy = Policy::parse(name).ok_or_else(|| {
                format!(
                    "`{name}` is not an OS or policy name (bsd, bsd-right, linux, old-linux, \
                     windows, vista, windows2k3, solaris, old-solaris, first, last, macos, \
                     hpux10, hpux11, irix)"
                )
            })?;
            for word in list {
                let net = crate::rules::vars::parse_net(word.trim().trim_matches('"'))
                    .map_err(|e| format!("{name}: {e}"))?;
                nets.retain(|(n, _)| *n != net);
                nets.push((net, policy));
            }
        }
        // Stable: equal prefixes keep their order (they are disjoint, or the same network).
        nets.sort_by_key(|n| std::cmp::Reverse(n.0.prefix));
        Ok(HostPolicies { nets: nets.into() })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The policy of the most specific network holding `dst`, if any.
    pub fn lookup(&self, dst: &IpAddr) -> Option<Policy> {
        self.nets
            .iter()
            .find(|(n, _)| n.contains(dst))
            .map(|&(_, p)| p)
    }
}

/// `defrag.*` settings of one worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefragConfig {
    /// Bytes of held fragments and trackers (the config's `defrag.memcap` is the total;
    /// the caller gives each worker its share).
    pub memcap: u64,
    /// Datagrams in progress at once.
    pub max_trackers: usize,
    /// Packet time a datagram may wait for its next fragment, in nanoseconds.
    pub timeout_ns: u64,
    /// The policy of destinations `hosts` does not name.
    pub policy: Policy,
    /// Per-destination policies (Suricata's `host-os-policy`).
    pub hosts: HostPolicies,
}

impl Default for DefragConfig {
    /// Suricata's defaults: 32 MiB, 65535 trackers, 60 s, BSD.
    fn default() -> Self {
        DefragConfig {
            memcap: 32 << 20,
            max_trackers: 65535,
            timeout_ns: 60_000_000_000,
            policy: Policy::Bsd,
            hosts: HostPolicies::default(),
        }
    }
}

/// Counters of one worker's defragmenter. Every fragment counted in `fragments` ends in
/// exactly one of `invalid`, `memcap_drops`, `tracker_drops`, `discarded`,
/// `expired_fragments`, `reassembled_fragments`, or is still held (`held_fragments`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments offered (IPv4 with MF or an offset, IPv6 with a fragment header that
    /// is not atomic).
    pub fragments: u64,
    /// Datagrams rebuilt and inspected, and the fragments they used.
    pub reassembled: u64,
    pub reassembled_fragments: u64,
    /// Datagrams given up after `timeout` without a new fragment, and their fragments.
    pub timeouts: u64,
    pub expired_fragments: u64,
    /// Fragments refused because the memcap was reached.
    pub memcap_drops: u64,
    /// Fragments refused because `max_trackers` datagrams were in progress.
    pub tracker_drops: u64,
    /// Fragments that overlapped held data (their fate is then the policy's).
    pub overlaps: u64,
    /// Fragments the overlap policy threw away: new ones wholly covered, held ones
    /// wholly replaced.
    pub discarded: u64,
    /// Fragments that are malformed (truncated, past 65535 bytes, an IPv6 fragment
    /// whose length is not a multiple of 8) or belong to a datagram that could not be
    /// rebuilt.
    pub invalid: u64,
    /// Gauges: datagrams in progress, fragments and bytes held, and the most bytes held.
    pub trackers: u64,
    pub held_fragments: u64,
    pub memory: u64,
    pub peak_memory: u64,
}

impl DefragStats {
    pub fn merge(&mut self, o: &DefragStats) {
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.reassembled_fragments += o.reassembled_fragments;
        self.timeouts += o.timeouts;
        self.expired_fragments += o.expired_fragments;
        self.memcap_drops += o.memcap_drops;
        self.tracker_drops += o.tracker_drops;
        self.overlaps += o.overlaps;
        self.discarded += o.discarded;
        self.invalid += o.invalid;
        self.trackers += o.trackers;
        self.held_fragments += o.held_fragments;
        self.memory += o.memory;
        self.peak_memory += o.peak_memory;
    }

    /// Fragments dropped for any reason (not counting overlap-policy discards).
    pub fn drops(&self) -> u64 {
        self.memcap_drops + self.tracker_drops + self.invalid + self.expired_fragments
    }
}

/// What identifies a datagram's fragments (Suricata's tracker key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
    vlan: [u16; 2],
}

/// Memory a tracker costs beside its fragments (the map entry and the tracker).
const TRACKER_COST: usize =
    std::mem::size_of::<Key>() + std::mem::size_of::<Tracker>() + 2 * std::mem::size_of::<u64>();

/// Packet time between sweeps for timed-out datagrams.
const SWEEP_NS: u64 = 1_000_000_000;
/// Least packet time between two sweeps forced by a full memcap or tracker table, so a
/// flood of fragments cannot make every arrival scan the table.
const PRESSURE_SWEEP_NS: u64 = 100_000_000;

/// One worker's defragmenter.
pub struct Defrag {
    config: DefragConfig,
    trackers: HashMap<Key, Tracker>,
    memory: usize,
    stats: DefragStats,
    next_sweep_ns: u64,
    next_pressure_sweep_ns: u64,
}

/// Whether a decoded packet is a fragment to reassemble: IPv4 with MF or an offset, or
/// IPv6 with a fragment header that is not atomic (offset 0 and no MF, which Suricata
/// decodes as an ordinary packet).
#[inline]
pub fn is_fragment(p: &Packet<'_>) -> bool {
    matches!(p.fragment, Some(f) if f.more || f.offset != 0)
}

impl Defrag {
    pub fn new(config: DefragConfig) -> Defrag {
        Defrag {
            config,
            trackers: HashMap::new(),
            memory: 0,
            stats: DefragStats::default(),
            next_sweep_ns: 0,
            next_pressure_sweep_ns: 0,
        }
    }

    pub fn config(&self) -> &DefragConfig {
        &self.config
    }

    pub fn stats(&self) -> DefragStats {
        let mut s = self.stats;
        s.trackers = self.trackers.len() as u64;
        s.memory = self.memory as u64;
        s
    }

    /// Bytes held now (the figure `memcap` bounds).
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Takes fragment `p` (see [`is_fragment`]) seen at `ts_ns`. When it completes its
    /// datagram, the rebuilt frame is written into `out` and its link type returned.
    pub fn insert(&mut self, p: &Packet<'_>, ts_ns: u64, out: &mut Vec<u8>) -> Option<LinkType> {
        self.stats.fragments += 1;
        if ts_ns >= self.next_sweep_ns {
            self.sweep(ts_ns);
            self.next_sweep_ns = ts_ns.saturating_add(SWEEP_NS);
        }
        let Some((key, nf)) = parse(p) else {
            self.stats.invalid += 1;
            return None;
        };
        if let Some(t) = self.trackers.get(&key) {
            if ts_ns > t.expires_ns {
                let t = self.trackers.remove(&key).unwrap_or_default();
                self.expire(t);
            }
        }
        let exists = self.trackers.contains_key(&key);
        if !exists && self.trackers.len() >= self.config.max_trackers {
            self.pressure_sweep(ts_ns);
            if self.trackers.len() >= self.config.max_trackers {
                self.stats.tracker_drops += 1;
                return None;
            }
        }
        let need = Tracker::cost_of(&nf) + if exists { 0 } else { TRACKER_COST };
        if (self.memory + need) as u64 > self.config.memcap {
            self.pressure_sweep(ts_ns);
            if (self.memory + need) as u64 > self.config.memcap {
                self.stats.memcap_drops += 1;
                return None;
            }
        }
        let ipv6 = p.is_ipv6();
        let t = self.trackers.entry(key).or_insert_with(|| Tracker {
            ipv6,
            ..Tracker::default()
        });
        if !exists {
            self.memory += TRACKER_COST;
        }
        t.expires_ns = ts_ns.saturating_add(self.config.timeout_ns);
        // A datagram's fragments share their destination, so each gets the same policy.
        let policy = self
            .config
            .hosts
            .lookup(&p.dst)
            .unwrap_or(self.config.policy);
        let r = t.insert(policy, &nf);
        self.stats.overlaps += u64::from(r.overlap);
        self.stats.discarded += u64::from(r.removed) + u64::from(r.stored.is_none());
        self.stats.held_fragments -= u64::from(r.removed);
        self.memory -= r.removed_bytes;
        if let Some(n) = r.stored {
            self.memory += n;
            self.stats.held_fragments += 1;
        }
        self.stats.peak_memory = self.stats.peak_memory.max(self.memory as u64);
        if !t.complete() {
            return None;
        }
        let result = t.rebuild(out);
        let link = t.link;
        let t = self.trackers.remove(&key).unwrap_or_default();
        let n = t.frags.len() as u64;
        self.stats.held_fragments -= n;
        self.memory -= t.memory + TRACKER_COST;
        match (result, link) {
            (Ok(()), Some(link)) => {
                self.stats.reassembled += 1;
                self.stats.reassembled_fragments += n;
                Some(link)
            }
            _ => {
                self.stats.invalid += n;
                None
            }
        }
    }

    /// Drops every datagram whose time is up at `now_ns`.
    pub fn sweep(&mut self, now_ns: u64) {
        let expired: Vec<Key> = self
            .trackers
            .iter()
            .filter(|(_, t)| now_ns > t.expires_ns)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(t) = self.trackers.remove(&k) {
                self.expire(t);
            }
        }
    }

    fn pressure_sweep(&mut self, now_ns: u64) {
        if now_ns >= self.next_pressure_sweep_ns {
            self.sweep(now_ns);
            self.next_pressure_sweep_ns = now_ns.saturating_add(PRESSURE_SWEEP_NS);
        }
    }

    fn expire(&mut self, t: Tracker) {
        let n = t.frags.len() as u64;
        self.stats.timeouts += 1;
        self.stats.expired_fragments += n;
        self.stats.held_fragments -= n;
        self.memory -= t.memory + TRACKER_COST;
    }
}

/// The datagram key and the fragment's bytes, or `None` for a malformed fragment.
fn parse<'a>(p: &Packet<'a>) -> Option<(Key, NewFrag<'a>)> {
    let f = p.fragment?;
    let frame = p.frame;
    let l3 = usize::from(p.l3_offset);
    let vlan = [p.vlan[0], p.vlan[1]];
    // A fragment inside a tunnel keeps only its own IP header: the outer headers' lengths
    // would not fit the rebuilt datagram, so it is rebuilt as raw IP and the caller puts the
    // tunnel back on it.
    let base = if p.tunnel.is_some() { l3 } else { 0 };
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    if p.is_ipv6() {
        // Walk to the fragment header, remembering which byte named it.
        let mut next = *frame.get(l3 + 6)?;
        let mut named_at = l3 + 6;
        let mut off = l3 + 40;
        let end = l3 + 40 + usize::from(be16(l3 + 4)?);
        for _ in 0..64 {
            let len = match next {
                0 | 43 | 60 => (usize::from(*frame.get(off + 1)?) + 1) * 8,
                51 => (usize::from(*frame.get(off + 1)?) + 2) * 4,
                44 => break,
                _ => return None,
            };
            named_at = off;
            next = *frame.get(off)?;
            off += len;
        }
        if next != 44 || off + 8 > end || end > frame.len() {
            return None;
        }
        let proto = frame[off];
        let data = &frame[off + 8..end];
        if (f.more && !data.len().is_multiple_of(8)) || usize::from(f.offset) + data.len() > 65535 {
            return None;
        }
        let key = Key {
            src: p.src,
            dst: p.dst,
            id: f.id,
            proto,
            vlan,
        };
        let nf = NewFrag {
            offset: f.offset,
            more: f.more,
            data,
            head: &frame[base..off],
            patch: Some((named_at - base, proto)),
            l3: l3 - base,
        };
        Some((key, nf))
    } else {
        let hlen = usize::from(*frame.get(l3)? & 0x0f) * 4;
        let total = usize::from(be16(l3 + 2)?);
        if hlen < 20 || total < hlen || l3 + total > frame.len() {
            return None;
        }
        let data = &frame[l3 + hlen..l3 + total];
        if 20 + usize::from(f.offset) + data.len() > 65535 {
            return None;
        }
        let key = Key {
            src: p.src,
            dst: p.dst,
            id: f.id,
            proto: frame[l3 + 9],
            vlan,
        };
        let nf = NewFrag {
            offset: f.offset,
            more: f.more,
            data,
            head: &frame[base..l3 + hlen],
            patch: None,
            l3: l3 - base,
        };
        Some((key, nf))
    }
}

#[cfg(test)]
mod tests;
