//! Routing fragments to the worker of their flow. A worker reassembles the fragments it is
//! given and inspects the datagram in its own flow table, so every fragment of a datagram
//! must reach the worker that the datagram's flow hashes to — by its ports, which only the
//! first fragment carries. The reader remembers, per datagram, the worker its first
//! fragment named, and holds later fragments that arrive before their first one.
//!
//! Fragments are rare, so this path may allocate (one map entry per datagram); packets
//! that are not fragments never reach it.

use capture::decode::Packet;
use capture::flowhash::symmetric_hash;
use std::collections::HashMap;
use std::net::IpAddr;

/// Datagrams whose worker is remembered before old ones are swept.
const MAX_OWNERS: usize = 16_384;
/// Fragments held waiting for their first fragment, in all.
const MAX_HELD: usize = 4_096;

/// One datagram: the defragmenter's key, less the IPv4 protocol (an IPv6 first fragment
/// names the transport, a later one the header after the fragment header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Datagram {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
}

impl Datagram {
    /// The datagram of fragment `p`, and whether `p` is its first fragment.
    fn of(p: &Packet<'_>) -> Option<(Datagram, bool)> {
        let f = p.fragment?;
        let d = Datagram {
            src: p.src,
            dst: p.dst,
            id: f.id,
        };
        Some((d, f.offset == 0))
    }
}

/// What the router did, for the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// Fragments held until their first fragment came.
    pub held: u64,
    /// Fragments sent by addresses alone because their first fragment did not come in
    /// time (or too many were waiting): their datagram's flow may live in another worker.
    pub unrouted: u64,
}

/// The worker for a packet's flow: what the worker's flow table will key it by (for an
/// ICMP error that belongs to the flow it quotes, that flow's tuple).
pub(crate) fn flow_worker(p: &Packet<'_>, workers: usize) -> usize {
    let h = match crate::flow::icmp_error(p) {
        Some(Some((src, sp, dst, dp, proto))) => symmetric_hash(&src, &dst, sp, dp, proto),
        _ => symmetric_hash(&p.src, &p.dst, p.src_port(), p.dst_port(), p.ip_proto),
    };
    (h % workers as u64) as usize
}

fn address_worker(d: &Datagram, workers: usize) -> usize {
    (symmetric_hash(&d.src, &d.dst, 0, 0, 0) % workers as u64) as usize
}

/// Remembers which worker each datagram's fragments go to.
pub(crate) struct FragmentRouter<T> {
    workers: usize,
    timeout_ns: u64,
    owners: HashMap<Datagram, (usize, u64)>,
    /// Fragments that came before their first one: when the first came, and them.
    waiting: HashMap<Datagram, (u64, Vec<T>)>,
    held_now: usize,
    pub(crate) stats: RouteStats,
}

impl<T> FragmentRouter<T> {
    /// `timeout_ns`: how long a datagram's worker is remembered and its early fragments
    /// held (the defragmenter's timeout).
    pub(crate) fn new(workers: usize, timeout_ns: u64) -> Self {
        FragmentRouter {
            workers: workers.max(1),
            timeout_ns,
            owners: HashMap::new(),
            waiting: HashMap::new(),
            held_now: 0,
            stats: RouteStats::default(),
        }
    }

    /// The worker for fragment `p` without holding it, for readers that cannot keep
    /// frames back (live capture returns each frame to the NIC's ring in order): the
    /// first fragment's flow, or addresses (counted) for fragments before their first.
    pub(crate) fn pick(&mut self, p: &Packet<'_>, ts_ns: u64) -> usize {
        let Some((d, first)) = Datagram::of(p) else {
            return flow_worker(p, self.workers);
        };
        if first {
            let w = flow_worker(p, self.workers);
            self.remember(d, w, ts_ns, &mut |_, _| {});
            return w;
        }
        match self.owners.get(&d) {
            Some(&(w, _)) => w,
            None => {
                self.stats.unrouted += 1;
                address_worker(&d, self.workers)
            }
        }
    }

    fn remember(&mut self, d: Datagram, w: usize, ts_ns: u64, send: &mut impl FnMut(usize, T)) {
        if self.owners.len() >= MAX_OWNERS && !self.owners.contains_key(&d) {
            self.sweep(ts_ns, send);
        }
        self.owners.insert(d, (w, ts_ns));
    }

    /// Routes fragment `item` (decoded as `p`, captured at `ts_ns`): `send` gets it, and
    /// any fragments it frees, each with its worker, in arrival order.
    pub(crate) fn route(
        &mut self,
        p: &Packet<'_>,
        ts_ns: u64,
        item: T,
        mut send: impl FnMut(usize, T),
    ) {
        let Some((d, first)) = Datagram::of(p) else {
            send(flow_worker(p, self.workers), item);
            return;
        };
        if first {
            // The first fragment: its ports name the flow the datagram belongs to.
            let w = flow_worker(p, self.workers);
            self.remember(d, w, ts_ns, &mut send);
            if let Some((_, early)) = self.waiting.remove(&d) {
                self.held_now -= early.len();
                for e in early {
                    send(w, e);
                }
            }
            send(w, item);
            return;
        }
        if let Some(&(w, _)) = self.owners.get(&d) {
            send(w, item);
            return;
        }
        if self.held_now >= MAX_HELD {
            self.sweep(ts_ns, &mut send);
        }
        if self.held_now >= MAX_HELD {
            self.stats.unrouted += 1;
            send(address_worker(&d, self.workers), item);
            return;
        }
        self.held_now += 1;
        self.stats.held += 1;
        self.waiting
            .entry(d)
            .or_insert_with(|| (ts_ns, Vec::new()))
            .1
            .push(item);
    }

    /// Forgets datagrams older than the timeout and sends their waiting fragments by
    /// addresses; if the map of owners is still full, forgets it all.
    fn sweep(&mut self, now_ns: u64, send: &mut impl FnMut(usize, T)) {
        let cut = now_ns.saturating_sub(self.timeout_ns);
        self.owners.retain(|_, (_, ts)| *ts >= cut);
        if self.owners.len() >= MAX_OWNERS {
            self.owners.clear();
        }
        let stale: Vec<Datagram> = self
            .waiting
            .iter()
            .filter(|(_, (since, _))| *since < cut)
            .map(|(d, _)| *d)
            .collect();
        for d in stale {
            self.release(&d, send);
        }
    }

    fn release(&mut self, d: &Datagram, send: &mut impl FnMut(usize, T)) {
        if let Some((_, early)) = self.waiting.remove(d) {
            self.held_now -= early.len();
            self.stats.unrouted += early.len() as u64;
            let w = address_worker(d, self.workers);
            for e in early {
                send(w, e);
            }
        }
    }

    /// At the end of input: fragments still waiting go by addresses (their datagram can
    /// never complete, but each fragment is still inspected as itself).
    pub(crate) fn finish(&mut self, mut send: impl FnMut(usize, T)) {
        let all: Vec<Datagram> = self.waiting.keys().copied().collect();
        for d in all {
            self.release(&d, &mut send);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::decode::{Fragment, TcpHeader, L4};

    fn frag(id: u32, offset: u16, more: bool, ports: Option<(u16, u16)>) -> Packet<'static> {
        let mut p = capture::decode::decode(
            capture::decode::LinkType::RawIp,
            &[
                0x45, 0, 0, 20, 0, 0, 0, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ],
            false,
        )
        .unwrap();
        p.ip_proto = 6;
        p.fragment = Some(Fragment { offset, more, id });
        p.l4 = match ports {
            Some((s, d)) => L4::Tcp(TcpHeader {
                src_port: s,
                dst_port: d,
                ..TcpHeader::default()
            }),
            None => L4::Other,
        };
        p
    }

    /// Every fragment of a datagram goes where its first fragment's flow does, early ones
    /// held and freed in arrival order; datagrams of one host pair on different ports
    /// follow their own flows.
    #[test]
    fn fragments_follow_their_first_fragments_flow() {
        let workers = 7;
        let mut r = FragmentRouter::new(workers, 60_000_000_000);
        let mut sent = Vec::new();
        // Ports chosen so the two flows hash to different workers.
        let a = (1000u16, 80u16);
        let b = (1..u16::MAX)
            .map(|s| (s, 80u16))
            .find(|&b| {
                flow_worker(&frag(0, 0, true, Some(b)), workers)
                    != flow_worker(&frag(0, 0, true, Some(a)), workers)
            })
            .unwrap();
        let wa = flow_worker(&frag(0, 0, true, Some(a)), workers);
        let wb = flow_worker(&frag(0, 0, true, Some(b)), workers);
        // Datagram 1: last fragment first, then the first, then the middle.
        r.route(&frag(1, 16, false, None), 1, "1c", |w, x| sent.push((w, x)));
        assert!(sent.is_empty(), "held until its first fragment");
        r.route(&frag(1, 0, true, Some(a)), 2, "1a", |w, x| {
            sent.push((w, x))
        });
        r.route(&frag(1, 8, true, None), 3, "1b", |w, x| sent.push((w, x)));
        // Datagram 2, same hosts, other flow: in order.
        r.route(&frag(2, 0, true, Some(b)), 4, "2a", |w, x| {
            sent.push((w, x))
        });
        r.route(&frag(2, 8, false, None), 5, "2b", |w, x| sent.push((w, x)));
        assert_eq!(
            sent,
            vec![(wa, "1c"), (wa, "1a"), (wa, "1b"), (wb, "2a"), (wb, "2b")]
        );
        assert_eq!(
            r.stats,
            RouteStats {
                held: 1,
                unrouted: 0
            }
        );
    }

    /// Without holding: fragments after their first follow it, earlier ones go by
    /// addresses and are counted.
    #[test]
    fn pick_follows_the_first_fragment_without_holding() {
        let workers = 5;
        let mut r: FragmentRouter<()> = FragmentRouter::new(workers, 60_000_000_000);
        let ports = (1..u16::MAX)
            .map(|s| (s, 443u16))
            .find(|&p| {
                let d = Datagram {
                    src: frag(0, 0, true, None).src,
                    dst: frag(0, 0, true, None).dst,
                    id: 4,
                };
                flow_worker(&frag(4, 0, true, Some(p)), workers) != address_worker(&d, workers)
            })
            .unwrap();
        let w = flow_worker(&frag(4, 0, true, Some(ports)), workers);
        let early = r.pick(&frag(4, 16, false, None), 0);
        assert_ne!(early, w, "before its first fragment: by addresses");
        assert_eq!(r.pick(&frag(4, 0, true, Some(ports)), 1), w);
        assert_eq!(r.pick(&frag(4, 8, true, None), 2), w);
        assert_eq!(
            r.stats,
            RouteStats {
                held: 0,
                unrouted: 1
            }
        );
    }

    /// A datagram whose first fragment never comes is not held forever: at the end, and
    /// after the timeout, its fragments go by addresses and are counted.
    #[test]
    fn orphans_are_released_by_address_and_counted() {
        let mut r = FragmentRouter::new(3, 10);
        let mut sent = Vec::new();
        r.route(&frag(9, 8, true, None), 0, "9b", |w, x| sent.push((w, x)));
        r.route(&frag(9, 16, false, None), 1, "9c", |w, x| sent.push((w, x)));
        assert!(sent.is_empty());
        r.finish(|w, x| sent.push((w, x)));
        assert_eq!(sent.iter().map(|s| s.1).collect::<Vec<_>>(), ["9b", "9c"]);
        assert!(sent.iter().all(|s| s.0 == sent[0].0));
        assert_eq!(
            r.stats,
            RouteStats {
                held: 2,
                unrouted: 2
            }
        );
        // Past MAX_HELD, the oldest waiting datagrams are swept once stale.
        let mut r = FragmentRouter::new(3, 10);
        let mut n = 0u64;
        for id in 0..MAX_HELD as u32 {
            r.route(&frag(id, 8, true, None), 0, id, |_, _| n += 1);
        }
        assert_eq!(n, 0);
        r.route(&frag(u32::MAX, 8, true, None), 100, 0, |_, _| n += 1);
        assert_eq!(n, MAX_HELD as u64, "stale ones freed, the new one held");
        assert_eq!(r.stats.unrouted, MAX_HELD as u64);
    }
}
