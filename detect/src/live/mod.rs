//! Live capture: the XDP program on an interface, one AF_XDP socket per RX queue, and
//! the same [`Worker`](crate::worker::Worker) as replay inspecting frames in place in the UMEM.
//!
//! Two shapes:
//! - **run to completion** (default): one pinned thread per queue reads its socket,
//!   decodes and inspects each frame and returns the batch to the fill ring;
//! - **dispatch** (more workers than queues): one reader per socket decodes and hashes
//!   each flow symmetrically onto a worker's SPSC queue of packet views (which borrow the
//!   UMEM, never copies); the reader returns frames to the fill ring once the worker
//!   reports them inspected.
//!
//! Rule reload builds the new engine aside; [`Sensor::reload`] swaps it in and workers
//! take it between batches, so no frame goes uninspected across the swap.

mod dispatch;
mod published;
mod run;

pub use published::WorkerLive;
use published::{PublishedDecode, PublishedWorker};

use dispatch::run_dispatch;
use run::{pin_to, run_to_completion};

use crate::engine::Engine;
use crate::worker::{AlertEvent, WorkerConfig, WorkerStats};
use capture::afxdp::{self, AfXdpError, RxConfig, RxSocket, SocketStats};
use capture::decode::DecodeStats;
use capture::xdp::{AttachMode, ModeChoice, Prefix, QueueCounters, XdpError, XdpProgram};
use crossbeam_queue::ArrayQueue;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How to capture.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub iface: String,
    /// RX queues to capture (sockets), from queue 0.
    pub queues: u32,
    /// Detection workers. `None` (or equal to `queues`): run to completion, one per
    /// queue. More than `queues`: dispatch mode.
    pub workers: Option<usize>,
    pub rx: RxConfig,
    pub xdp_mode: ModeChoice,
    /// Pin threads to cores.
    pub pin: bool,
    /// Frames taken from a socket at once.
    pub batch: usize,
    /// Packet views per dispatch worker queue.
    pub dispatch_depth: usize,
    /// Alerts per worker-to-output queue.
    pub alert_depth: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            iface: String::new(),
            queues: 1,
            workers: None,
            rx: RxConfig::default(),
            xdp_mode: ModeChoice::Auto,
            pin: true,
            batch: 64,
            dispatch_depth: 4096,
            alert_depth: 4096,
        }
    }
}

/// Why capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Xdp(#[from] XdpError),
    #[error(transparent)]
    Socket(#[from] AfXdpError),
    #[error("--queues must be at least 1")]
    NoQueues,
    #[error("starting a capture thread: {0}")]
    Thread(std::io::Error),
}

/// Counters one worker publishes after every batch, for status while running.
#[derive(Default)]
struct LiveCounters {
    /// Frames taken off the socket and inspected (including undecodable ones).
    inspected: AtomicU64,
    alerts: AtomicU64,
    /// Times a worker found its alert queue full and waited.
    alert_waits: AtomicU64,
    /// The worker's own counters as of its last batch.
    published: PublishedWorker,
}

/// What threads share: the current engine, the stop flag and the counters.
struct Shared {
    engine: Mutex<Arc<Engine>>,
    generation: AtomicU64,
    stop: AtomicBool,
    counters: Vec<LiveCounters>,
    /// Undecodable frames per queue, as of the last batch.
    decode: Vec<PublishedDecode>,
    /// Per queue in dispatch mode: fragments sent to a worker by addresses alone.
    unrouted: Vec<AtomicU64>,
    workers_left: AtomicU64,
}

impl Shared {
    /// Fragments the dispatch readers sent by addresses alone, as of their last batch.
    fn unrouted(&self) -> u64 {
        self.unrouted
            .iter()
            .map(|u| u.load(Ordering::Relaxed))
            .sum()
    }

    /// The engine to use when `seen` is stale, with its generation.
    fn engine_if_newer(&self, seen: u64) -> Option<(Arc<Engine>, u64)> {
        let g = self.generation.load(Ordering::Acquire);
        if g == seen {
            return None;
        }
        let e = self
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Some((e, g))
    }
}

/// A snapshot while capture runs.
#[derive(Clone, Debug, Default)]
pub struct LiveStatus {
    /// XDP counters per queue.
    pub xdp: Vec<QueueCounters>,
    /// Kernel drop counters per socket.
    pub sockets: Vec<SocketStats>,
    /// Frames inspected, per worker.
    pub inspected: Vec<u64>,
    pub alerts: u64,
    pub alert_waits: u64,
    /// Rule set generation (0 at start, +1 per reload).
    pub generation: u64,
    /// Each worker's counters as of its last batch.
    pub workers: Vec<WorkerLive>,
    /// Frames that did not decode, all queues, as of the last batch.
    pub decode: DecodeStats,
    /// Dispatch mode: fragments that came before their datagram's first fragment and went
    /// to a worker by addresses alone (a reader cannot hold frames back). Their datagram
    /// is whole only if that worker is also its flow's, as with one worker.
    pub fragments_unrouted: u64,
}

impl LiveStatus {
    pub fn seen(&self) -> u64 {
        self.xdp.iter().map(|c| c.seen).sum()
    }
    pub fn redirected(&self) -> u64 {
        self.xdp.iter().map(|c| c.redirected).sum()
    }
    pub fn inspected_total(&self) -> u64 {
        self.inspected.iter().sum()
    }
}

/// The end of a capture, for the summary.
#[derive(Debug, Default)]
pub struct LiveReport {
    pub status: LiveStatus,
    pub workers: Vec<WorkerStats>,
    /// Frames that did not decode (inspected no further).
    pub decode: DecodeStats,
}

impl LiveReport {
    /// All workers' counters plus the undecodable frames.
    pub fn totals(&self) -> WorkerStats {
        let mut t = WorkerStats::default();
        for w in &self.workers {
            t.merge(w);
        }
        t.decode.merge(&self.decode);
        t.packets += self.decode.total();
        t
    }
}

/// A running capture. Dropping it without [`Sensor::stop`] stops it too.
pub struct Sensor {
    shared: Arc<Shared>,
    xdp: Mutex<XdpProgram>,
    fds: Vec<RawFd>,
    queues: u32,
    dispatch: bool,
    zero_copy: bool,
    threads: Vec<JoinHandle<(Vec<WorkerStats>, DecodeStats)>>,
    output: Option<JoinHandle<()>>,
}

impl Sensor {
    /// Attaches XDP, opens the sockets, starts the threads. `on_alert` runs on an
    /// output thread, in per-worker order.
    pub fn start<A>(
        cfg: &LiveConfig,
        engine: Arc<Engine>,
        wcfg: &WorkerConfig,
        on_alert: A,
    ) -> Result<Sensor, LiveError>
    where
        A: FnMut(AlertEvent) + Send + 'static,
    {
        if cfg.queues == 0 {
            return Err(LiveError::NoQueues);
        }
        let mut xdp = XdpProgram::attach(&cfg.iface, cfg.queues, cfg.xdp_mode)?;
        let mut sockets = Vec::with_capacity(cfg.queues as usize);
        for q in 0..cfg.queues {
            sockets.push(RxSocket::open(&cfg.iface, q, &cfg.rx)?);
        }
        let zero_copy = sockets.iter().all(|s| s.zero_copy);
        let fds: Vec<RawFd> = sockets.iter().map(|s| s.fd()).collect();
        let n_workers = cfg.workers.unwrap_or(cfg.queues as usize).max(1);
        let dispatch = n_workers != cfg.queues as usize;
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine.clone()),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            counters: (0..n_workers).map(|_| LiveCounters::default()).collect(),
            decode: (0..cfg.queues)
                .map(|_| PublishedDecode::default())
                .collect(),
            unrouted: (0..cfg.queues).map(|_| AtomicU64::new(0)).collect(),
            workers_left: AtomicU64::new(n_workers as u64),
        });
        let alert_queues: Arc<Vec<ArrayQueue<AlertEvent>>> = Arc::new(
            (0..n_workers)
                .map(|_| ArrayQueue::new(cfg.alert_depth.max(16)))
                .collect(),
        );
        let cores = if cfg.pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };

        let mut threads = Vec::new();
        if dispatch {
            let (shared, aq, wcfg, cfg2, engine) = (
                shared.clone(),
                alert_queues.clone(),
                wcfg.clone(),
                cfg.clone(),
                engine.clone(),
            );
            let h = std::thread::Builder::new()
                .name("tw-dispatch".into())
                .spawn(move || run_dispatch(sockets, engine, &wcfg, &cfg2, &shared, &aq, &cores))
                .map_err(LiveError::Thread)?;
            threads.push(h);
        } else {
            for (id, sock) in sockets.into_iter().enumerate() {
                let (shared, aq, wcfg, engine) = (
                    shared.clone(),
                    alert_queues.clone(),
                    wcfg.clone(),
                    engine.clone(),
                );
                let core = (!cores.is_empty()).then(|| cores[id % cores.len()]);
                let batch = cfg.batch.max(1);
                let h = std::thread::Builder::new()
                    .name(format!("tw-worker-{id}"))
                    .spawn(move || {
                        pin_to(core);
                        run_to_completion(sock, engine, &wcfg, id, batch, &shared, &aq[id])
                    })
                    .map_err(LiveError::Thread)?;
                threads.push(h);
            }
        }
        // Sockets are registered only once their readers run, so the XSKMAP never points
        // at a socket nobody reads.
        for (q, fd) in fds.iter().enumerate() {
            xdp.register_socket(q as u32, fd)?;
        }

        let output = {
            let shared = shared.clone();
            let aq = alert_queues.clone();
            let mut on_alert = on_alert;
            std::thread::Builder::new()
                .name("tw-output".into())
                .spawn(move || {
                    let mut idle = 0u32;
                    loop {
                        let mut got = false;
                        for q in aq.iter() {
                            while let Some(a) = q.pop() {
                                got = true;
                                on_alert(a);
                            }
                        }
                        if got {
                            idle = 0;
                        } else if shared.workers_left.load(Ordering::Acquire) == 0
                            && aq.iter().all(|q| q.is_empty())
                        {
                            break;
                        } else {
                            idle += 1;
                            if idle < 8 {
                                std::thread::yield_now();
                            } else {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                })
                .map_err(LiveError::Thread)?
        };
        tracing::info!(
            iface = %cfg.iface,
            queues = cfg.queues,
            workers = n_workers,
            xdp_mode = %xdp.mode(),
            zero_copy,
            dispatch,
            "capture started"
        );
        Ok(Sensor {
            shared,
            xdp: Mutex::new(xdp),
            fds,
            queues: cfg.queues,
            dispatch,
            zero_copy,
            threads,
            output: Some(output),
        })
    }

    pub fn xdp_mode(&self) -> AttachMode {
        self.xdp.lock().unwrap_or_else(|p| p.into_inner()).mode()
    }

    /// Whether every socket runs zero-copy (else copy mode).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    pub fn dispatch(&self) -> bool {
        self.dispatch
    }

    /// Swaps in a rule set built aside; workers take it before their next batch.
    pub fn reload(&self, engine: Arc<Engine>) {
        let mut cur = self.shared.engine.lock().unwrap_or_else(|p| p.into_inner());
        *cur = engine;
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops every frame from or to `p` at XDP.
    pub fn block(&self, p: &Prefix) -> Result<(), XdpError> {
        self.xdp.lock().unwrap_or_else(|p| p.into_inner()).block(p)
    }

    pub fn unblock(&self, p: &Prefix) -> Result<bool, XdpError> {
        self.xdp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unblock(p)
    }

    pub fn status(&self) -> LiveStatus {
        let xdp = self
            .xdp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counters(self.queues)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading XDP counters");
                Vec::new()
            });
        let c = &self.shared.counters;
        LiveStatus {
            xdp,
            sockets: self
                .fds
                .iter()
                .map(|&fd| afxdp::socket_stats(fd).unwrap_or_default())
                .collect(),
            inspected: c
                .iter()
                .map(|c| c.inspected.load(Ordering::Relaxed))
                .collect(),
            alerts: c.iter().map(|c| c.alerts.load(Ordering::Relaxed)).sum(),
            alert_waits: c
                .iter()
                .map(|c| c.alert_waits.load(Ordering::Relaxed))
                .sum(),
            generation: self.shared.generation.load(Ordering::Relaxed),
            workers: c.iter().map(|c| c.published.load()).collect(),
            decode: self
                .shared
                .decode
                .iter()
                .fold(DecodeStats::default(), |mut d, q| {
                    d.merge(&q.load());
                    d
                }),
            fragments_unrouted: self.shared.unrouted(),
        }
    }

    /// XDP counters per queue and CPU (`[queue][cpu]`), for the metrics endpoint.
    pub fn xdp_per_cpu(&self) -> Result<Vec<Vec<QueueCounters>>, XdpError> {
        self.xdp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counters_per_cpu(self.queues)
    }

    /// Waits (bounded by `timeout`) until workers inspected every frame XDP redirected;
    /// returns whether they caught up.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        loop {
            let s = self.status();
            let dropped: u64 = s.sockets.iter().map(|k| k.total()).sum();
            if s.inspected_total() + dropped >= s.redirected() {
                return true;
            }
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Detaches XDP (frames go to the kernel again), lets the workers inspect what is
    /// still in the rings, flushes alerts and returns the final counts.
    pub fn stop(mut self) -> LiveReport {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> LiveReport {
        {
            let mut x = self.xdp.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = x.detach() {
                tracing::warn!(error = %e, "detaching XDP");
            }
        }
        // Give frames already redirected time to land in the rings before the workers'
        // last read.
        std::thread::sleep(Duration::from_millis(20));
        let mut report = LiveReport {
            status: self.status(),
            ..LiveReport::default()
        };
        self.shared.stop.store(true, Ordering::Release);
        for h in self.threads.drain(..) {
            match h.join() {
                Ok((w, d)) => {
                    report.workers.extend(w);
                    report.decode.merge(&d);
                }
                Err(_) => tracing::error!("a capture thread panicked"),
            }
        }
        if let Some(o) = self.output.take() {
            if o.join().is_err() {
                tracing::error!("the alert output thread panicked");
            }
        }
        // Counters after the last batch.
        let c = &self.shared.counters;
        report.status.inspected = c
            .iter()
            .map(|c| c.inspected.load(Ordering::Relaxed))
            .collect();
        report.status.alerts = c.iter().map(|c| c.alerts.load(Ordering::Relaxed)).sum();
        report.status.alert_waits = c
            .iter()
            .map(|c| c.alert_waits.load(Ordering::Relaxed))
            .sum();
        report.status.fragments_unrouted = self.shared.unrouted();
        report
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_inner();
        }
    }
}
