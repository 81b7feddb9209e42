//! Per-worker alert filters: `suppress`, `threshold`/`detection_filter` and `rate_filter`,
//! with Suricata 7's counting rules (`detect-engine-threshold.c`).
//!
//! State lives in one fixed-size open-addressing table per worker, allocated at start:
//! nothing is allocated, locked or shared when an alert is filtered, and memory stays
//! bounded however many sources a capture has. When the probe window of a new key is full,
//! the least recently used entry there is replaced and counted (`evicted`); a replaced
//! entry restarts its count, as an expired Suricata host entry does.
//!
//! **Per worker, not global.** Suricata keeps threshold state in its host and IP-pair
//! tables, shared by all threads. Here each worker counts alone. Flows are spread over
//! workers by a symmetric hash of the whole 5-tuple, so the flows of one source (or to one
//! destination) can land on several workers: with W workers a `limit` may then let up to
//! W × count alerts through per window, `threshold`/`both` count each worker's share
//! separately (fewer or later alerts), and `detection_filter` opens later; `by_rule`
//! counts per worker too. With one worker (and for any tracked address whose flows all
//! hash to one worker) the result is exactly Suricata's. We chose this over a shared,
//! locked table because an exact global count would also need packets of different
//! workers ordered by time, which no multi-threaded engine (Suricata included) gives;
//! suppression and flowbits are unaffected (suppress is stateless, flowbits are per flow).

use crate::rules::{
    Action, AlertFilters, Rule, SuppressTrack, ThresholdKind, ThresholdSpec, Track,
};
use std::net::IpAddr;

/// Slots probed per key.
const WINDOW: usize = 8;
const NS: u64 = 1_000_000_000;

/// Counters of the filters; every alert not raised is counted under its reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Alerts removed by a `suppress` entry.
    pub suppressed: u64,
    /// Alerts held back by `threshold` or `detection_filter`.
    pub thresholded: u64,
    /// Alerts whose action a `rate_filter` changed.
    pub rate_filtered: u64,
    /// Table entries replaced while still counting (the table was too small).
    pub evicted: u64,
}

impl FilterStats {
    pub fn merge(&mut self, o: &FilterStats) {
        self.suppressed += o.suppressed;
        self.thresholded += o.thresholded;
        self.rate_filtered += o.rate_filtered;
        self.evicted += o.evicted;
    }
}

/// What happens to a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Raise the alert, with the rule's action or the one a `rate_filter` set.
    Alert(Option<Action>),
    /// Do not raise it (counted in [`FilterStats`]).
    Hold,
}

/// Which state of a rule an entry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Slot {
    #[default]
    Empty,
    Threshold,
    Rate,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    kind: Slot,
    rule: u32,
    a: u128,
    b: u128,
    /// Start of the current window (packet time, ns).
    tv1: u64,
    count: u32,
    /// `rate_filter`: second the new action was switched on (0: off).
    timeout_s: u64,
    last: u64,
}

/// Default entries per worker (about 1 MiB).
pub const DEFAULT_ENTRIES: usize = 16 * 1024;

/// A worker's filter state.
pub struct AlertGate {
    table: Box<[Entry]>,
    mask: usize,
    stats: FilterStats,
}

fn bits(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(*v) as u128 | 1 << 127,
        IpAddr::V6(v) => u128::from(*v),
    }
}

fn hash(kind: Slot, rule: u32, a: u128, b: u128) -> u64 {
    let mut h = (rule as u64) << 2 | kind as u64;
    for x in [a as u64, (a >> 64) as u64, b as u64, (b >> 64) as u64] {
        h = (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 29;
    }
    h
}

/// The tracked key of a match: (a, b) addresses, 0 when not tracked.
fn key(track: Track, src: &IpAddr, dst: &IpAddr) -> (u128, u128) {
    match track {
        Track::BySrc => (bits(src), 0),
        Track::ByDst => (bits(dst), 0),
        Track::ByRule => (0, 0),
        Track::ByBoth => {
            let (s, d) = (bits(src), bits(dst));
            (s.min(d), s.max(d))
        }
    }
}

impl AlertGate {
    /// Allocates `entries` (rounded up to a power of two, at least the probe window).
    pub fn new(entries: usize) -> AlertGate {
        let cap = entries.max(WINDOW).next_power_of_two();
        AlertGate {
            table: vec![Entry::default(); cap].into_boxed_slice(),
            mask: cap - 1,
            stats: FilterStats::default(),
        }
    }

    pub fn stats(&self) -> FilterStats {
        self.stats
    }

    /// Bytes the table holds (fixed at construction).
    pub fn memory(&self) -> usize {
        std::mem::size_of_val(&*self.table)
    }

    /// Decides whether a match of `rule` (index `index`) on a packet from `src` to `dst`
    /// at `ts_ns` becomes an alert, updating the counts.
    pub fn decide(
        &mut self,
        index: u32,
        rule: &Rule,
        src: &IpAddr,
        dst: &IpAddr,
        ts_ns: u64,
    ) -> Decision {
        let f: &AlertFilters = &rule.filters;
        if f.is_empty() {
            return Decision::Alert(None);
        }
        for s in &f.suppress {
            let hit = match s.track {
                SuppressTrack::All => true,
                SuppressTrack::BySrc => s.addrs.contains(src),
                SuppressTrack::ByDst => s.addrs.contains(dst),
                SuppressTrack::ByEither => s.addrs.contains(src) || s.addrs.contains(dst),
            };
            if hit {
                self.stats.suppressed += 1;
                return Decision::Hold;
            }
        }
        if let Some(t) = f.threshold {
            if !self.threshold(index, &t, src, dst, ts_ns) {
                self.stats.thresholded += 1;
                return Decision::Hold;
            }
        }
        if let Some(r) = f.rate {
            let (a, b) = key(r.track, src, dst);
            let (e, fresh) = self.entry(Slot::Rate, index, a, b, ts_ns);
            if !fresh && rate_reached(e, r.count, r.seconds, r.timeout, ts_ns) {
                self.stats.rate_filtered += 1;
                return Decision::Alert(Some(r.new_action));
            }
        }
        Decision::Alert(None)
    }

    /// True when the threshold lets this match alert.
    fn threshold(
        &mut self,
        index: u32,
        t: &ThresholdSpec,
        src: &IpAddr,
        dst: &IpAddr,
        ts: u64,
    ) -> bool {
        let (a, b) = key(t.track, src, dst);
        // Suricata does not create an entry for `threshold` with count 1: every match alerts.
        if t.kind == ThresholdKind::Threshold && t.count == 1 {
            return true;
        }
        let (e, fresh) = self.entry(Slot::Threshold, index, a, b, ts);
        if fresh {
            return match t.kind {
                ThresholdKind::Limit => true,
                ThresholdKind::Both => t.count == 1,
                ThresholdKind::Threshold | ThresholdKind::Detection => false,
            };
        }
        let within = ts <= e.tv1.saturating_add(t.seconds as u64 * NS);
        if !within {
            e.tv1 = ts;
            e.count = 1;
            return match t.kind {
                ThresholdKind::Limit => true,
                ThresholdKind::Both => t.count == 1,
                ThresholdKind::Threshold | ThresholdKind::Detection => false,
            };
        }
        e.count = e.count.saturating_add(1);
        match t.kind {
            ThresholdKind::Limit => e.count <= t.count,
            ThresholdKind::Threshold => {
                if e.count >= t.count {
                    e.count = 0;
                    true
                } else {
                    false
                }
            }
            ThresholdKind::Both => e.count == t.count,
            ThresholdKind::Detection => e.count > t.count,
        }
    }

    /// The entry for a key, and whether it was just created (count 1, window from `ts`).
    fn entry(&mut self, kind: Slot, rule: u32, a: u128, b: u128, ts: u64) -> (&mut Entry, bool) {
        let base = hash(kind, rule, a, b) as usize & self.mask;
        let mut free = None;
        let mut oldest = base;
        let mut oldest_ts = u64::MAX;
        for i in 0..WINDOW {
            let idx = (base + i) & self.mask;
            let e = &self.table[idx];
            if e.kind == kind && e.rule == rule && e.a == a && e.b == b {
                let e = &mut self.table[idx];
                e.last = ts;
                return (e, false);
            }
            if e.kind == Slot::Empty {
                free.get_or_insert(idx);
            } else if e.last < oldest_ts {
                oldest_ts = e.last;
                oldest = idx;
            }
        }
        let idx = match free {
            Some(i) => i,
            None => {
                self.stats.evicted += 1;
                oldest
            }
        };
        let e = &mut self.table[idx];
        *e = Entry {
            kind,
            rule,
            a,
            b,
            tv1: ts,
            count: 1,
            timeout_s: 0,
            last: ts,
        };
        (e, true)
    }
}

/// Suricata's `IsThresholdReached` for `rate_filter`.
fn rate_reached(e: &mut Entry, count: u32, seconds: u32, timeout: u32, ts: u64) -> bool {
    let secs = ts / NS;
    if e.timeout_s != 0 {
        if secs.saturating_sub(e.timeout_s) > timeout as u64 {
            e.timeout_s = 0;
            false
        } else {
            true
        }
    } else if ts <= e.tv1.saturating_add(seconds as u64 * NS) {
        e.count = e.count.saturating_add(1);
        if e.count > count {
            e.timeout_s = secs;
            true
        } else {
            false
        }
    } else {
        e.tv1 = ts;
        e.count = 1;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Location, Proto, RateFilter, Suppress};

    const T0: u64 = 1_000 * NS;

    fn rule(t: Option<ThresholdSpec>) -> Rule {
        let mut r = Rule::new(
            Location {
                file: "t".into(),
                line: 1,
            },
            Action::Alert,
            Proto::Udp,
        );
        r.filters.threshold = t;
        r
    }

    fn spec(kind: ThresholdKind, track: Track, count: u32) -> Option<ThresholdSpec> {
        Some(ThresholdSpec {
            kind,
            track,
            count,
            seconds: 60,
        })
    }

    /// Alerts out of `n` matches from `src` to `dst`, 1 s apart from `start`.
    fn run(g: &mut AlertGate, r: &Rule, src: &str, dst: &str, n: u64, start: u64) -> Vec<u64> {
        let (s, d) = (src.parse().unwrap(), dst.parse().unwrap());
        (0..n)
            .filter(|i| matches!(g.decide(0, r, &s, &d, start + i * NS), Decision::Alert(_)))
            .map(|i| i + 1)
            .collect()
    }

    #[test]
    fn threshold_types_count_as_suricata_does() {
        use ThresholdKind::*;
        let mut g = AlertGate::new(64);
        let lim = rule(spec(Limit, Track::BySrc, 2));
        assert_eq!(run(&mut g, &lim, "10.0.0.1", "10.9.9.9", 5, T0), [1, 2]);
        assert_eq!(run(&mut g, &lim, "10.0.0.2", "10.9.9.9", 1, T0), [1]);
        // A new window past `seconds`.
        assert_eq!(
            run(&mut g, &lim, "10.0.0.1", "10.9.9.9", 3, T0 + 61 * NS),
            [1, 2]
        );
        let mut g = AlertGate::new(64);
        let thr = rule(spec(Threshold, Track::ByDst, 3));
        assert_eq!(run(&mut g, &thr, "10.0.0.1", "10.9.9.9", 7, T0), [3, 6]);
        let mut g = AlertGate::new(64);
        let both = rule(spec(Both, Track::BySrc, 2));
        assert_eq!(run(&mut g, &both, "10.0.0.1", "10.9.9.9", 5, T0), [2]);
        let mut g = AlertGate::new(64);
        let df = rule(spec(Detection, Track::BySrc, 2));
        assert_eq!(run(&mut g, &df, "10.0.0.1", "10.9.9.9", 5, T0), [3, 4, 5]);
        assert_eq!(g.stats().thresholded, 2);
        let mut g = AlertGate::new(64);
        let pair = rule(spec(Limit, Track::ByBoth, 1));
        assert_eq!(run(&mut g, &pair, "10.0.0.1", "10.9.9.9", 2, T0), [1]);
        assert!(run(&mut g, &pair, "10.9.9.9", "10.0.0.1", 1, T0).is_empty());
    }

    #[test]
    fn suppress_and_rate_filter() {
        let mut r = rule(None);
        r.filters.suppress.push(Suppress {
            track: SuppressTrack::ByDst,
            addrs: crate::rules::Vars::default()
                .parse_addresses("10.9.0.0/16")
                .unwrap(),
        });
        r.filters.rate = Some(RateFilter {
            track: Track::ByRule,
            count: 2,
            seconds: 60,
            new_action: Action::Drop,
            timeout: 10,
        });
        let mut g = AlertGate::new(64);
        assert!(run(&mut g, &r, "10.0.0.1", "10.9.9.9", 3, T0).is_empty());
        assert_eq!(g.stats().suppressed, 3);
        let (s, d) = ("10.0.0.1".parse().unwrap(), "10.8.0.1".parse().unwrap());
        let got: Vec<Decision> = (0..5)
            .map(|i| g.decide(0, &r, &s, &d, T0 + i * NS))
            .collect();
        use Decision::Alert;
        assert_eq!(
            got,
            [
                Alert(None),
                Alert(None),
                Alert(Some(Action::Drop)),
                Alert(Some(Action::Drop)),
                Alert(Some(Action::Drop))
            ]
        );
        // Past the timeout the rule's action is back.
        assert_eq!(g.decide(0, &r, &s, &d, T0 + 20 * NS), Alert(None));
    }

    #[test]
    fn the_table_stays_bounded_and_counts_what_it_replaces() {
        let mut g = AlertGate::new(16);
        let lim = rule(spec(ThresholdKind::Limit, Track::BySrc, 1));
        let d: IpAddr = "10.9.9.9".parse().unwrap();
        for i in 0..1000u32 {
            let s = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            g.decide(0, &lim, &s, &d, T0 + i as u64);
        }
        assert_eq!(g.memory(), 16 * std::mem::size_of::<Entry>());
        assert_eq!(g.stats().evicted, 1000 - 16);
    }
}
