//! Dispatch mode, for fewer RX queues than workers: a reader per socket decodes each
//! frame and hashes its flow symmetrically onto a worker's SPSC queue of packet views
//! (which borrow the UMEM: no copies); the reader returns a frame to its fill ring once
//! the worker reports it inspected.

use super::run::{now_ns, pin_to, push_alert, read_until_stopped, IDLE_SPINS};
use super::{LiveConfig, Shared};
use crate::defrag;
use crate::dispatch::fragments::{flow_worker, FragmentRouter};
use crate::engine::Engine;
use crate::worker::{AlertEvent, Worker, WorkerConfig, WorkerStats};
use capture::afxdp::{FrameDesc, RxSocket};
use capture::decode::{self, DecodeStats, LinkType, Packet};
use crossbeam_queue::ArrayQueue;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A decoded frame on its way to a dispatch worker: a view into the UMEM.
struct LiveDesc<'u> {
    ts_ns: u64,
    pkt: Packet<'u>,
}

/// Dispatch mode: a reader per socket, `n` workers; queue `r * n + w` carries reader
/// `r`'s packets to worker `w`, and `done[r * n + w]` counts what `w` finished of them,
/// so reader `r` knows which frames to return (each queue is FIFO).
pub(super) fn run_dispatch(
    sockets: Vec<RxSocket>,
    engine: Arc<Engine>,
    wcfg: &WorkerConfig,
    cfg: &LiveConfig,
    shared: &Shared,
    alert_queues: &[ArrayQueue<AlertEvent>],
    cores: &[core_affinity::CoreId],
) -> (Vec<WorkerStats>, DecodeStats) {
    let n = shared.counters.len();
    let readers = sockets.len();
    let mut umems = Vec::with_capacity(readers);
    let mut rings = Vec::with_capacity(readers);
    for s in sockets {
        umems.push(s.umem);
        rings.push(s.rings);
    }
    let umems = &umems;
    let queues: Vec<ArrayQueue<LiveDesc<'_>>> = (0..readers * n)
        .map(|_| ArrayQueue::new(cfg.dispatch_depth.max(64)))
        .collect();
    let done: Vec<AtomicU64> = (0..readers * n).map(|_| AtomicU64::new(0)).collect();
    let readers_done = AtomicU64::new(0);
    let (queues, done, readers_done) = (&queues, &done, &readers_done);
    // Readers take the first cores, workers the rest (round robin when short).
    let core_of = |i: usize| (!cores.is_empty()).then(|| cores[i % cores.len()]);
    std::thread::scope(|s| {
        let mut workers = Vec::with_capacity(n);
        for w in 0..n {
            let engine = engine.clone();
            let core = core_of(readers + w);
            let counters = &shared.counters[w];
            let alerts = &alert_queues[w];
            workers.push(
                std::thread::Builder::new()
                    .name(format!("tw-worker-{w}"))
                    .spawn_scoped(s, move || {
                        pin_to(core);
                        let mut worker = Worker::new(engine, wcfg, w);
                        let mut generation = 0u64;
                        let mut sink = |a: AlertEvent| push_alert(alerts, counters, a);
                        let mut taken = 0u64;
                        let mut idle = 0u32;
                        loop {
                            if let Some((e, g)) = shared.engine_if_newer(generation) {
                                worker.set_engine(e);
                                generation = g;
                            }
                            let mut got = false;
                            for r in 0..readers {
                                let q = &queues[r * n + w];
                                let mut k = 0u64;
                                let mut last_ts = 0;
                                while let Some(d) = q.pop() {
                                    worker.handle_packet(d.ts_ns, &d.pkt, 0, &mut sink);
                                    last_ts = d.ts_ns;
                                    k += 1;
                                    if k == 64 {
                                        break;
                                    }
                                }
                                if k > 0 {
                                    worker.sweep(last_ts, &mut sink);
                                    got = true;
                                    taken += k;
                                    done[r * n + w].fetch_add(k, Ordering::Release);
                                }
                            }
                            if got {
                                idle = 0;
                                counters.inspected.store(taken, Ordering::Relaxed);
                                counters
                                    .published
                                    .store(&worker.stats(), worker.flows_active());
                                continue;
                            }
                            if readers_done.load(Ordering::Acquire) == readers as u64
                                && (0..readers).all(|r| queues[r * n + w].is_empty())
                            {
                                break;
                            }
                            if worker.sweep_idle(now_ns(), &mut sink) {
                                counters
                                    .published
                                    .store(&worker.stats(), worker.flows_active());
                            }
                            idle += 1;
                            if idle < IDLE_SPINS {
                                std::hint::spin_loop();
                            } else if idle < 2 * IDLE_SPINS {
                                std::thread::yield_now();
                            } else {
                                std::thread::sleep(Duration::from_micros(50));
                            }
                        }
                        // Stream bytes still held are inspected before the worker ends.
                        worker.finish(now_ns(), &mut sink);
                        counters
                            .published
                            .store(&worker.stats(), worker.flows_active());
                        shared.workers_left.fetch_sub(1, Ordering::AcqRel);
                        worker.stats()
                    })
                    .expect("spawning a dispatch worker"),
            );
        }
        let mut reader_handles = Vec::with_capacity(readers);
        for (r, mut ring) in rings.into_iter().enumerate() {
            let core = core_of(r);
            let umem = &umems[r];
            let batch = cfg.batch.max(1);
            let depth = cfg.dispatch_depth.max(64);
            reader_handles.push(
                std::thread::Builder::new()
                    .name(format!("tw-reader-{r}"))
                    .spawn_scoped(s, move || {
                        pin_to(core);
                        let mut undecoded = DecodeStats::default();
                        // Frames handed to each worker, oldest first, and how many of
                        // them the worker finished as of our last look.
                        let mut in_flight: Vec<VecDeque<FrameDesc>> =
                            (0..n).map(|_| VecDeque::with_capacity(depth)).collect();
                        let mut returned = vec![0u64; n];
                        let mut release: Vec<FrameDesc> = Vec::with_capacity(batch * 4);
                        // Fragments follow their first fragment's flow; frames cannot be
                        // held back here, so ones that come before it go by addresses.
                        let mut fragments: FragmentRouter<()> =
                            FragmentRouter::new(n, wcfg.defrag.timeout_ns);
                        let reclaim =
                            |in_flight: &mut Vec<VecDeque<FrameDesc>>,
                             returned: &mut Vec<u64>,
                             release: &mut Vec<FrameDesc>| {
                                for w in 0..n {
                                    let d = done[r * n + w].load(Ordering::Acquire);
                                    for _ in returned[w]..d {
                                        if let Some(f) = in_flight[w].pop_front() {
                                            release.push(f);
                                        }
                                    }
                                    returned[w] = d;
                                }
                            };
                        let all_returned = |in_flight: &Vec<VecDeque<FrameDesc>>| {
                            in_flight.iter().all(|q| q.is_empty())
                        };
                        read_until_stopped(&mut ring, batch, shared, |rings, descs| {
                            let ts = if descs.is_empty() { 0 } else { now_ns() };
                            for d in descs {
                                // SAFETY: received from this socket; returned to the
                                // fill ring only after its worker is done with it.
                                let frame = unsafe { RxSocket::frame(umem, d) };
                                let pkt = match decode::decode(LinkType::Ethernet, frame, false) {
                                    Ok(p) => p,
                                    Err(e) => {
                                        undecoded.count(e.reason);
                                        release.push(*d);
                                        continue;
                                    }
                                };
                                let w = if n == 1 {
                                    0
                                } else if defrag::is_fragment(&pkt) {
                                    fragments.pick(&pkt, ts)
                                } else {
                                    flow_worker(&pkt, n)
                                };
                                let mut item = LiveDesc { ts_ns: ts, pkt };
                                let mut spins = 0u32;
                                while let Err(back) = queues[r * n + w].push(item) {
                                    item = back;
                                    if spins == 0 {
                                        shared.counters[w]
                                            .published
                                            .queue_full
                                            .fetch_add(1, Ordering::Relaxed);
                                    }
                                    reclaim(&mut in_flight, &mut returned, &mut release);
                                    rings.release(&release);
                                    release.clear();
                                    spins += 1;
                                    if spins > 64 {
                                        std::thread::sleep(Duration::from_micros(20));
                                    }
                                }
                                in_flight[w].push_back(*d);
                            }
                            reclaim(&mut in_flight, &mut returned, &mut release);
                            rings.release(&release);
                            release.clear();
                            if !descs.is_empty() {
                                shared.decode[r].store(&undecoded);
                                shared.unrouted[r]
                                    .store(fragments.stats.unrouted, Ordering::Relaxed);
                            }
                        });
                        // Stopped: wait (bounded) for the workers to finish our frames so
                        // the counts are final.
                        readers_done.fetch_add(1, Ordering::AcqRel);
                        let end = std::time::Instant::now() + Duration::from_secs(5);
                        while !all_returned(&in_flight) && std::time::Instant::now() < end {
                            reclaim(&mut in_flight, &mut returned, &mut release);
                            ring.release(&release);
                            release.clear();
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        undecoded
                    })
                    .expect("spawning a dispatch reader"),
            );
        }
        let mut undecoded = DecodeStats::default();
        for h in reader_handles {
            undecoded.merge(&h.join().expect("a dispatch reader panicked"));
        }
        let stats = workers
            .into_iter()
            .map(|h| h.join().expect("a dispatch worker panicked"))
            .collect();
        (stats, undecoded)
    })
}
