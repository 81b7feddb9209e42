//! The loop over one AF_XDP socket that both shapes share, and run to completion: one
//! pinned thread reads its queue's socket, decodes and inspects each frame in place and
//! returns the batch to the fill ring.

use super::{LiveCounters, Shared};
use crate::engine::Engine;
use crate::worker::{AlertEvent, Worker, WorkerConfig, WorkerStats};
use capture::afxdp::{FrameDesc, RxRings, RxSocket};
use capture::decode::{self, DecodeStats, LinkType};
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(super) fn pin_to(core: Option<core_affinity::CoreId>) {
    if let Some(c) = core {
        core_affinity::set_for_current(c);
    }
}

/// Pushes an alert to the output queue, waiting while it is full: an alert is never
/// dropped here (a stalled output stalls capture, and the socket counters show it).
pub(super) fn push_alert(q: &ArrayQueue<AlertEvent>, counters: &LiveCounters, a: AlertEvent) {
    let mut a = a;
    let mut spins = 0u32;
    while let Err(back) = q.push(a) {
        a = back;
        if spins == 0 {
            counters.alert_waits.fetch_add(1, Ordering::Relaxed);
        }
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    counters.alerts.fetch_add(1, Ordering::Relaxed);
}

/// Socket reads that found nothing before the thread sleeps in poll().
pub(super) const IDLE_SPINS: u32 = 64;
/// Empty reads (spins, then naps) before a reader sleeps in poll(): about 50 ms of
/// quiet with 50 µs naps.
pub(super) const IDLE_NAPS: u32 = IDLE_SPINS + 1000;
pub(super) const IDLE_NAP: Duration = Duration::from_micros(50);
/// Poll timeout when idle; bounds how late a stop or reload is noticed.
pub(super) const IDLE_POLL_MS: i32 = 10;

/// Reads a socket in batches until stopped and its ring is empty. `handle` gets each
/// batch of received frames, and an empty batch whenever the ring was empty (to return
/// frames or pick up a new rule set while idle).
pub(super) fn read_until_stopped(
    rings: &mut RxRings,
    batch: usize,
    shared: &Shared,
    mut handle: impl FnMut(&mut RxRings, &[FrameDesc]),
) {
    let mut descs = vec![FrameDesc::default(); batch.max(1)];
    let mut idle = 0u32;
    loop {
        let n = rings.recv(&mut descs);
        handle(rings, &descs[..n]);
        if n > 0 {
            idle = 0;
            continue;
        }
        if shared.stop.load(Ordering::Acquire) {
            // XDP is detached and the ring was empty: one last look, then done.
            let n = rings.recv(&mut descs);
            handle(rings, &descs[..n]);
            if n == 0 {
                break;
            }
            continue;
        }
        idle += 1;
        if idle < IDLE_SPINS {
            std::hint::spin_loop();
        } else if idle < IDLE_NAPS {
            // A short nap rather than poll(): a waiter on the socket makes the sending
            // CPU pay for a wakeup on every flush, which costs more than the nap here.
            std::thread::sleep(IDLE_NAP);
        } else {
            rings.wait(IDLE_POLL_MS);
        }
    }
}

/// One queue, one thread: read, decode, inspect in place, return to the fill ring.
pub(super) fn run_to_completion(
    sock: RxSocket,
    engine: Arc<Engine>,
    wcfg: &WorkerConfig,
    id: usize,
    batch: usize,
    shared: &Shared,
    alerts: &ArrayQueue<AlertEvent>,
) -> (Vec<WorkerStats>, DecodeStats) {
    let RxSocket {
        umem, mut rings, ..
    } = sock;
    let counters = &shared.counters[id];
    let mut worker = Worker::new(engine, wcfg, id);
    let mut generation = 0u64;
    let mut undecoded = DecodeStats::default();
    let mut taken = 0u64;
    let mut sink = |a: AlertEvent| push_alert(alerts, counters, a);
    read_until_stopped(&mut rings, batch, shared, |rings, descs| {
        if let Some((e, g)) = shared.engine_if_newer(generation) {
            worker.set_engine(e);
            generation = g;
        }
        if descs.is_empty() {
            if worker.sweep_idle(now_ns(), &mut sink) {
                counters
                    .published
                    .store(&worker.stats(), worker.flows_active());
            }
            return;
        }
        let ts = now_ns();
        for d in descs {
            // SAFETY: received from this socket and released only below.
            let frame = unsafe { RxSocket::frame(&umem, d) };
            match decode::decode(LinkType::Ethernet, frame, false) {
                Ok(p) => worker.handle_packet(ts, &p, 0, &mut sink),
                Err(e) => undecoded.count(e.reason),
            }
        }
        rings.release(descs);
        worker.sweep(ts, &mut sink);
        taken += descs.len() as u64;
        counters.inspected.store(taken, Ordering::Relaxed);
        counters
            .published
            .store(&worker.stats(), worker.flows_active());
        shared.decode[id].store(&undecoded);
    });
    // Stream bytes still held are inspected before the worker ends (SIGINT flushes them).
    worker.finish(now_ns(), &mut sink);
    counters
        .published
        .store(&worker.stats(), worker.flows_active());
    shared.workers_left.fetch_sub(1, Ordering::AcqRel);
    (vec![worker.stats()], undecoded)
}
