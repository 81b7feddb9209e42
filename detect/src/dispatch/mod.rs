//! Dispatch mode: one reader decodes frames and hashes each flow symmetrically onto one of
//! N pinned workers over lock-free SPSC queues; workers hand alerts to an output thread
//! over a second queue each. Used for pcap replay, and for live capture when there are
//! fewer RX queues than cores.
//!
//! Queues carry decoded packet views that borrow the frame source (the pcap mapping), not
//! copies of frames. A plain packet travels [`Packed`]: 184 bytes with its time and flow
//! key, where it took 272 whole; the rare others travel whole beside the batch. Offline,
//! a full queue makes the producer wait (no packet or alert is dropped); the counters say
//! how often that happened.
//!
//! Packets travel in batches of [`BATCH`]: a queue slot holds a whole batch buffer (a
//! pointer's move), and each worker returns emptied buffers over a second queue, so the
//! buffers are allocated once at start. One handoff per packet cost a cross-core cache miss
//! and a locked compare-exchange on each side, about a fifth of a worker's time.

pub(crate) mod fragments;

pub use fragments::RouteStats;

use crate::defrag;
use crate::engine::Engine;
use crate::flow::KeyedFlow;
use crate::worker::{AlertEvent, Worker, WorkerConfig, WorkerStats};
use capture::decode::packed::Packed;
use capture::decode::{self, DecodeStats, Packet};
use capture::pcap::Frame;
use crossbeam_queue::ArrayQueue;
use fragments::{flow_worker, FragmentRouter};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the reader spreads work.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    pub workers: usize,
    /// Descriptors a worker may have waiting (rounded up to whole batches). Keep it small:
    /// the reader writes each descriptor into a buffer the worker last read, and with
    /// 8192 (1.8 MB of buffers) those lines had left the cache, so replay ran about 9%
    /// slower than with 1024 on the 1 GB bench.
    pub queue_depth: usize,
    /// Alerts per worker-to-output queue.
    pub alert_queue_depth: usize,
    /// Pin workers to cores (the reader stays on the first core).
    pub pin: bool,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            workers: 1,
            queue_depth: 1024,
            alert_queue_depth: 4096,
            pin: true,
        }
    }
}

/// What a dispatch run did, for the summary.
#[derive(Debug, Default)]
pub struct DispatchReport<E> {
    pub workers: Vec<WorkerStats>,
    /// Frames the reader could not decode (they never reach a worker).
    pub reader_decode: DecodeStats,
    pub reader_frames: u64,
    pub reader_bytes: u64,
    /// Times the reader found a worker queue full and waited.
    pub queue_full_waits: u64,
    /// Per worker, times it found its queue empty and waited: with
    /// [`DispatchReport::queue_full_waits`] it says which side of the handoff was slower.
    pub worker_idle_waits: Vec<u64>,
    /// Fragments routed to the worker of their datagram's flow.
    pub fragments: RouteStats,
    /// CPU time each worker used, its waits for work included (a waiting thread spins
    /// and yields before it sleeps): an upper bound on its work, which the wait counts
    /// qualify.
    pub worker_cpu: Vec<Duration>,
    /// CPU time the reader (frame source, decoding, hashing) used, its waits for a free
    /// batch included.
    pub reader_cpu: Duration,
    /// The error that ended the frame source early, if any; every frame before it was
    /// inspected.
    pub source_error: Option<E>,
}

impl<E> DispatchReport<E> {
    /// All workers' counters plus the reader's decode failures.
    pub fn totals(&self) -> WorkerStats {
        let mut t = WorkerStats::default();
        for w in &self.workers {
            t.merge(w);
        }
        t.decode.merge(&self.reader_decode);
        t.packets += self.reader_decode.total();
        t
    }
}

/// A fragment on its way to a worker through the fragment router, which may hold it until
/// its datagram's first fragment names the worker; other packets go straight into a batch
/// ([`Batch::push_ref`]).
struct Item<'a> {
    ts_ns: u64,
    pcap_cnt: u64,
    /// The packet's flow key and hash, built by the reader: the worker warms its flow
    /// slot with the hash and looks the key up without building it again.
    flow: KeyedFlow,
    pkt: Packet<'a>,
}

/// A packet in a batch: packed, or the next of the batch's whole packets.
struct Desc<'a> {
    ts_ns: u64,
    pcap_cnt: u64,
    flow: KeyedFlow,
    pkt: Carried<'a>,
}

enum Carried<'a> {
    Packed(Packed<'a>),
    /// The batch's next whole packet (one [`Packed`] cannot hold: tunnelled, fragments).
    Whole,
}

/// What travels between the reader and a worker at once; allocated at start, reused.
struct Batch<'a> {
    descs: Vec<Desc<'a>>,
    whole: Vec<Packet<'a>>,
}

impl<'a> Batch<'a> {
    fn new() -> Self {
        Batch {
            descs: Vec::with_capacity(BATCH),
            whole: Vec::with_capacity(BATCH),
        }
    }

    fn push(&mut self, item: Item<'a>) {
        self.push_ref(item.ts_ns, item.pcap_cnt, item.flow, &item.pkt);
    }

    /// [`Batch::push`] for a packet the caller still holds: packing it where it was
    /// decoded saves the reader moving each 272-byte packet into an [`Item`] first.
    #[inline(always)]
    fn push_ref(&mut self, ts_ns: u64, pcap_cnt: u64, flow: KeyedFlow, pkt: &Packet<'a>) {
        let pkt = match Packed::pack(pkt) {
            Some(k) => Carried::Packed(k),
            None => {
                self.whole.push(*pkt);
                Carried::Whole
            }
        };
        self.descs.push(Desc {
            ts_ns,
            pcap_cnt,
            flow,
            pkt,
        });
    }

    fn clear(&mut self) {
        self.descs.clear();
        self.whole.clear();
    }
}

/// Packets per handoff between the reader and a worker.
pub const BATCH: usize = 64;

/// How many packets ahead a worker warms its flow table.
const PREFETCH: usize = 4;

/// How many descriptors ahead a worker pulls descriptors into its cache: the reader wrote
/// them on another core, and reading one cold cost the worker more than its flow lookup.
const DESC_AHEAD: usize = 12;

/// Starts moving `d`'s lines (written by the reader's core) into this core's cache.
#[inline(always)]
fn prefetch_desc(d: &Desc<'_>) {
    let p = d as *const Desc<'_> as *const u8;
    for off in (0..std::mem::size_of::<Desc<'_>>()).step_by(64) {
        capture::prefetch::prefetch(p.wrapping_add(off));
    }
}

/// Warms what the worker reads first for `d`: its flow slot, session and payload.
#[inline(always)]
fn prefetch_packet(w: &Worker, d: &Desc<'_>) {
    match &d.pkt {
        Carried::Packed(k) => w.prefetch(d.flow.hash(), k.is_tcp(), k.is_syn(), k.payload()),
        Carried::Whole => w.prefetch(d.flow.hash(), false, false, &[]),
    }
}

/// One worker's pair of queues: full batches to it, emptied buffers back.
struct Lane<'a> {
    full: ArrayQueue<Batch<'a>>,
    free: ArrayQueue<Batch<'a>>,
}

impl<'a> Lane<'a> {
    fn new(depth: usize) -> Self {
        let batches = depth.div_ceil(BATCH).max(4);
        let lane = Lane {
            full: ArrayQueue::new(batches),
            free: ArrayQueue::new(batches),
        };
        for _ in 0..batches {
            // Cannot fail: `free` holds exactly `batches`.
            let _ = lane.free.push(Batch::new());
        }
        lane
    }
}

/// Waits politely: spin briefly, then yield, then sleep, so an idle thread does not steal
/// the core a busy one needs on small machines.
struct Backoff(u32);

impl Backoff {
    /// For threads on the packet path (workers, the reader): a short spin, a few yields,
    /// then short sleeps.
    fn snooze(&mut self) {
        self.0 += 1;
        if self.0 < 64 {
            std::hint::spin_loop();
        } else if self.0 < 128 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// For the output thread: alerts are rare, so it sleeps almost at once rather than
    /// take CPU time from a worker sharing its core.
    fn idle(&mut self) {
        self.0 += 1;
        if self.0 < 8 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    fn reset(&mut self) {
        self.0 = 0;
    }
}

/// Runs `frames` through `config.workers` workers and calls `on_alert` for every alert (on
/// an output thread, in per-worker order). `on_progress` gets bytes read so far, now and
/// then. Returns when every frame is inspected and every alert delivered.
pub fn run<'a, E, I, A, P>(
    frames: I,
    engine: Arc<Engine>,
    worker_config: &WorkerConfig,
    config: &DispatchConfig,
    mut on_alert: A,
    mut on_progress: P,
) -> DispatchReport<E>
where
    I: Iterator<Item = Result<Frame<'a>, E>>,
    A: FnMut(AlertEvent) + Send,
    P: FnMut(u64),
    E: Send,
{
    let n = config.workers.max(1);
    let inputs: Vec<Lane<'a>> = (0..n).map(|_| Lane::new(config.queue_depth)).collect();
    let outputs: Vec<ArrayQueue<AlertEvent>> = (0..n)
        .map(|_| ArrayQueue::new(config.alert_queue_depth.max(16)))
        .collect();
    let reader_done = AtomicBool::new(false);
    // Time of the last frame read: workers stamp end-of-capture stream inspections with it.
    let last_ts = AtomicU64::new(0);
    let workers_left = AtomicU64::new(n as u64);
    let cores = if config.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };

    let mut report = DispatchReport {
        workers: Vec::new(),
        reader_decode: DecodeStats::default(),
        reader_frames: 0,
        reader_bytes: 0,
        queue_full_waits: 0,
        worker_idle_waits: Vec::new(),
        fragments: RouteStats::default(),
        worker_cpu: Vec::new(),
        reader_cpu: Duration::ZERO,
        source_error: None,
    };

    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(n);
        for (id, (input, output)) in inputs.iter().zip(outputs.iter()).enumerate() {
            let engine = engine.clone();
            // Core 0 is the reader's; workers take the others, and share all cores round
            // robin only when there are more workers than spare cores.
            let core = match cores.len() {
                0 | 1 => None,
                c if n < c => Some(cores[1 + id]),
                c => Some(cores[(1 + id) % c]),
            };
            let reader_done = &reader_done;
            let last_ts = &last_ts;
            let workers_left = &workers_left;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("tw-worker-{id}"))
                    .spawn_scoped(s, move || {
                        if let Some(c) = core {
                            core_affinity::set_for_current(c);
                        }
                        let mut w = Worker::new(engine, worker_config, id);
                        let mut backoff = Backoff(0);
                        let mut idle = 0u64;
                        let mut push = |a: AlertEvent| {
                            let mut a = a;
                            let mut b = Backoff(0);
                            while let Err(back) = output.push(a) {
                                a = back;
                                b.snooze();
                            }
                        };
                        loop {
                            match input.full.pop() {
                                Some(mut batch) => {
                                    backoff.reset();
                                    let descs = &batch.descs;
                                    for d in descs.iter().take(DESC_AHEAD) {
                                        prefetch_desc(d);
                                    }
                                    for d in descs.iter().take(PREFETCH) {
                                        prefetch_packet(&w, d);
                                    }
                                    let mut whole = batch.whole.iter();
                                    for (i, d) in descs.iter().enumerate() {
                                        if let Some(far) = descs.get(i + DESC_AHEAD) {
                                            prefetch_desc(far);
                                        }
                                        if let Some(ahead) = descs.get(i + PREFETCH) {
                                            prefetch_packet(&w, ahead);
                                        }
                                        let pkt = match &d.pkt {
                                            Carried::Packed(k) => k.unpack(),
                                            Carried::Whole => *whole
                                                .next()
                                                .expect("a batch holds each whole packet it names"),
                                        };
                                        w.handle_hashed(
                                            d.ts_ns, &pkt, &d.flow, d.pcap_cnt, &mut push,
                                        );
                                    }
                                    if let Some(last) = descs.last() {
                                        w.sweep(last.ts_ns, &mut push);
                                    }
                                    batch.clear();
                                    // Cannot fail: every buffer came from `free`.
                                    let _ = input.free.push(batch);
                                }
                                None => {
                                    if reader_done.load(Ordering::Acquire) && input.full.is_empty()
                                    {
                                        w.finish(last_ts.load(Ordering::Relaxed), &mut push);
                                        break;
                                    }
                                    idle += 1;
                                    backoff.snooze();
                                }
                            }
                        }
                        workers_left.fetch_sub(1, Ordering::Release);
                        (w.stats(), thread_cpu_time(), idle)
                    })
                    .expect("spawning a worker thread"),
            );
        }

        let outputs = &outputs;
        let workers_left = &workers_left;
        let output_thread = std::thread::Builder::new()
            .name("tw-output".into())
            .spawn_scoped(s, move || {
                let mut backoff = Backoff(0);
                loop {
                    let mut got = false;
                    for q in outputs.iter() {
                        while let Some(a) = q.pop() {
                            got = true;
                            on_alert(a);
                        }
                    }
                    if got {
                        backoff.reset();
                    } else if workers_left.load(Ordering::Acquire) == 0
                        && outputs.iter().all(|q| q.is_empty())
                    {
                        break;
                    } else {
                        backoff.idle();
                    }
                }
            })
            .expect("spawning the output thread");

        if let Some(&c) = cores.first() {
            if config.pin {
                core_affinity::set_for_current(c);
            }
        }
        let reader_cpu_at_start = thread_cpu_time();
        let mut since_progress = 0u64;
        let mut newest_ts = 0u64;
        let mut router = FragmentRouter::new(n, worker_config.defrag.timeout_ns);
        // The batch each worker's packets are gathered in; taken from its free queue.
        let mut filling: Vec<Batch<'a>> = Vec::with_capacity(n);
        for lane in &inputs {
            filling.push(take_free(lane, &mut report.queue_full_waits));
        }
        for item in frames {
            let frame = match item {
                Ok(f) => f,
                Err(e) => {
                    report.source_error = Some(e);
                    break;
                }
            };
            report.reader_frames += 1;
            newest_ts = newest_ts.max(frame.ts_ns);
            report.reader_bytes += frame.data.len() as u64;
            since_progress += frame.data.len() as u64;
            if since_progress >= 1 << 24 {
                on_progress(report.reader_bytes);
                since_progress = 0;
            }
            let pkt = match decode::decode(frame.link, frame.data, false) {
                Ok(p) => p,
                Err(e) => {
                    report.reader_decode.count(e.reason);
                    continue;
                }
            };
            let flow = KeyedFlow::of(&pkt);
            let waits = &mut report.queue_full_waits;
            if n > 1 && defrag::is_fragment(&pkt) {
                let d = Item {
                    ts_ns: frame.ts_ns,
                    pcap_cnt: report.reader_frames,
                    flow,
                    pkt,
                };
                router.route(&pkt, d.ts_ns, d, |w, d| {
                    enqueue(&inputs, &mut filling, w, d, waits)
                });
            } else {
                let w = if n == 1 { 0 } else { flow_worker(&pkt, n) };
                filling[w].push_ref(frame.ts_ns, report.reader_frames, flow, &pkt);
                hand_over_if_full(&inputs, &mut filling, w, waits);
            }
        }
        let waits = &mut report.queue_full_waits;
        router.finish(|w, d| enqueue(&inputs, &mut filling, w, d, waits));
        report.fragments = router.stats;
        for (lane, batch) in inputs.iter().zip(filling) {
            if !batch.descs.is_empty() {
                hand_over(lane, batch, &mut report.queue_full_waits);
            }
        }
        on_progress(report.reader_bytes);
        report.reader_cpu = thread_cpu_time().saturating_sub(reader_cpu_at_start);
        last_ts.store(newest_ts, Ordering::Relaxed);
        reader_done.store(true, Ordering::Release);
        for h in handles {
            let (stats, cpu, idle) = h.join().expect("a detection worker panicked");
            report.workers.push(stats);
            report.worker_cpu.push(cpu);
            report.worker_idle_waits.push(idle);
        }
        output_thread.join().expect("the output thread panicked");
    });
    report
}

/// Adds `d` to worker `w`'s batch, handing the batch over when it is full.
fn enqueue<'a>(
    inputs: &[Lane<'a>],
    filling: &mut [Batch<'a>],
    w: usize,
    d: Item<'a>,
    waits: &mut u64,
) {
    filling[w].push(d);
    hand_over_if_full(inputs, filling, w, waits);
}

/// Hands worker `w`'s batch over once it holds [`BATCH`] packets.
#[inline(always)]
fn hand_over_if_full<'a>(
    inputs: &[Lane<'a>],
    filling: &mut [Batch<'a>],
    w: usize,
    waits: &mut u64,
) {
    if filling[w].descs.len() == BATCH {
        let next = take_free(&inputs[w], waits);
        let full = std::mem::replace(&mut filling[w], next);
        hand_over(&inputs[w], full, waits);
    }
}

/// An empty buffer from `lane`, waiting for the worker to return one if none is free.
fn take_free<'a>(lane: &Lane<'a>, waits: &mut u64) -> Batch<'a> {
    let mut backoff = Backoff(0);
    loop {
        if let Some(b) = lane.free.pop() {
            return b;
        }
        *waits += 1;
        backoff.snooze();
    }
}

/// Queues a full batch for `lane`'s worker, waiting while its queue is full.
fn hand_over<'a>(lane: &Lane<'a>, mut batch: Batch<'a>, waits: &mut u64) {
    let mut backoff = Backoff(0);
    while let Err(back) = lane.full.push(batch) {
        batch = back;
        *waits += 1;
        backoff.snooze();
    }
}

/// CPU time the calling thread has used so far (zero if the kernel will not say).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
