//! The sensor's shipper: the one thread that owns the spool's reader and the link to the
//! collector. It sends what the spool holds, frees space only on the collector's
//! acknowledgment, and after any break reconnects with backoff and resends from the last
//! ack (the collector de-duplicates by `(sensor, seq)`), so every spooled alert is stored
//! exactly once however often the link fails.

use crate::link::{connect_with_backoff, Backoff, Inbound, LinkConfig, LinkError, LinkRx};
use crate::spool::SpoolReader;
use crate::wire::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// How the shipper paces itself.
#[derive(Clone)]
pub struct ShipperConfig {
    pub link: LinkConfig,
    /// Records per batch taken from the spool (the link splits frames at its own limits).
    pub batch_records: usize,
    pub batch_bytes: usize,
    /// Records sent but not yet acknowledged before the shipper waits for acks: bounds
    /// what a reconnect resends and what the collector must buffer.
    pub max_in_flight: u64,
    /// How often an idle shipper looks for new records in the spool.
    pub poll: Duration,
    /// Keepalive period when there is nothing to send (the collector reports silence).
    pub keepalive: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl ShipperConfig {
    pub fn new(link: LinkConfig) -> Self {
        ShipperConfig {
            link,
            batch_records: 4096,
            batch_bytes: 4 << 20,
            max_in_flight: 65_536,
            poll: Duration::from_millis(2),
            keepalive: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// What the shipper did, readable from any thread (metrics, `replay`'s final wait).
#[derive(Debug, Default)]
pub struct ShipperStats {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub link_errors: AtomicU64,
    pub records_sent: AtomicU64,
    pub batches_sent: AtomicU64,
    /// Records sent again after a reconnect (the collector drops them as duplicates).
    pub records_resent: AtomicU64,
    /// Highest seq the collector acknowledged as committed (0: none yet).
    pub acked_seq: AtomicU64,
    pub commands: AtomicU64,
    /// Alert creation to the collector's acknowledgment of its commit
    /// (`tidewatch_alert_latency_seconds{stage="deliver"}`), recorded once per ack.
    pub deliver_latency: crate::latency::LatencyWindow,
}

/// The running shipper thread.
pub struct Shipper {
    stats: Arc<ShipperStats>,
    stop: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<SpoolReader>>,
}

impl Shipper {
    /// Starts shipping what `reader` holds, now and as the writer appends. Commands from
    /// the collector (e.g. `block`) go to `on_command`, on the shipper's thread.
    pub fn start(
        reader: SpoolReader,
        config: ShipperConfig,
        on_command: impl FnMut(Command) + Send + 'static,
    ) -> std::io::Result<Shipper> {
        let stats = Arc::new(ShipperStats::default());
        stats.acked_seq.store(reader.acked_seq(), Ordering::Relaxed);
        let stop = Arc::new(Notify::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (s, n, f) = (stats.clone(), stop.clone(), stopping.clone());
        let thread = std::thread::Builder::new()
            .name("tw-shipper".into())
            .spawn(move || rt.block_on(run(reader, config, s, n, f, on_command)))?;
        Ok(Shipper {
            stats,
            stop,
            stopping,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> &Arc<ShipperStats> {
        &self.stats
    }

    /// Waits until the collector acknowledged every record up to `seq`, or `timeout`
    /// passes. Returns whether it did.
    pub fn wait_acked(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stats.acked_seq.load(Ordering::Acquire) >= seq {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the thread; unacknowledged records stay in the spool for the next run.
    /// Returns the reader so its acknowledgments are persisted when it is dropped.
    pub fn stop(mut self) -> Option<SpoolReader> {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify_one();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stopping.store(true, Ordering::Release);
            self.stop.notify_one();
            let _ = t.join();
        }
    }
}

/// Reads acks and commands on their own task: `LinkRx::recv` is not cancel-safe, so it
/// must never race a timer in a `select!`.
fn spawn_receiver(mut rx: LinkRx) -> mpsc::Receiver<Result<Inbound, LinkError>> {
    let (tx, out) = mpsc::channel(256);
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(Some(m)) => {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    out
}

async fn run(
    mut reader: SpoolReader,
    cfg: ShipperConfig,
    stats: Arc<ShipperStats>,
    stop: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    mut on_command: impl FnMut(Command),
) -> SpoolReader {
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let mut high_sent = reader.acked_seq();
    // (seq, created_ns) of records sent and not yet acknowledged, oldest first: the
    // deliver latency is taken when their ack comes. Bounded by `max_in_flight`.
    let mut unacked: std::collections::VecDeque<(u64, u64)> = std::collections::VecDeque::new();
    'connect: while !stopping.load(Ordering::Acquire) {
        let held = stats.acked_seq.load(Ordering::Acquire);
        let connected = tokio::select! {
            _ = stop.notified() => break 'connect,
            c = connect_with_backoff(&cfg.link, held, &mut backoff, None) => c,
        };
        let (mut tx, rx, _welcome) = match connected {
            Ok(v) => v,
            Err(e) => {
                // Only a deadline ends connect_with_backoff, and we gave none.
                tracing::error!(error = %e, "shipper: giving up on the collector");
                break;
            }
        };
        stats.connects.fetch_add(1, Ordering::Relaxed);
        stats.connected.store(true, Ordering::Release);
        tracing::info!(collector = %cfg.link.addr, acked = reader.acked_seq(), "shipping");
        reader.rewind_to_acked();
        let mut inbound = spawn_receiver(rx);
        // Records at or below this seq went out on an earlier connection: sent again now.
        let prev_high = high_sent;
        let mut idle_since = Instant::now();
        let mut pings = 0u64;
        let broken = loop {
            // Take in what the collector said, without waiting.
            let mut link_closed = false;
            loop {
                match inbound.try_recv() {
                    Ok(Ok(Inbound::Ack(seq))) => {
                        if let Err(e) = reader.ack(seq) {
                            tracing::error!(seq, error = %e, "shipper: collector acked a seq never issued");
                            continue;
                        }
                        stats.acked_seq.fetch_max(seq, Ordering::AcqRel);
                        let k = unacked.partition_point(|&(s, _)| s <= seq);
                        stats.deliver_latency.record_since(
                            crate::latency::now_ns(),
                            unacked.drain(..k).map(|(_, created)| created),
                        );
                    }
                    Ok(Ok(Inbound::Command(c))) => {
                        stats.commands.fetch_add(1, Ordering::Relaxed);
                        on_command(c);
                    }
                    Ok(Ok(Inbound::Pong(_))) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "shipper: link broken");
                        stats.link_errors.fetch_add(1, Ordering::Relaxed);
                        link_closed = true;
                        break;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        tracing::warn!("shipper: the collector closed the link");
                        link_closed = true;
                        break;
                    }
                }
            }
            if link_closed {
                break true;
            }
            if stopping.load(Ordering::Acquire) {
                break false;
            }
            let in_flight = high_sent.saturating_sub(reader.acked_seq());
            if in_flight < cfg.max_in_flight && reader.has_unsent() {
                let batch = reader.next_unsent(cfg.batch_records, cfg.batch_bytes);
                let n = batch.len() as u64;
                if n > 0 {
                    let mut resent = 0u64;
                    let sent = batch.map(|e| {
                        if e.seq <= prev_high {
                            resent += 1;
                        }
                        if unacked.back().is_none_or(|&(s, _)| s < e.seq) {
                            if let Ok(r) = crate::record::access(e.bytes) {
                                unacked.push_back((e.seq, r.created_ns.to_native()));
                            }
                        }
                        (e.seq, e.bytes)
                    });
                    match tx.send_batch(sent).await {
                        Ok(Some(last)) => {
                            high_sent = high_sent.max(last);
                            stats.records_sent.fetch_add(n, Ordering::Relaxed);
                            stats.records_resent.fetch_add(resent, Ordering::Relaxed);
                            stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "shipper: sending failed");
                            stats.link_errors.fetch_add(1, Ordering::Relaxed);
                            break true;
                        }
                    }
                    idle_since = Instant::now();
                    continue;
                }
            }
            if idle_since.elapsed() >= cfg.keepalive {
                pings += 1;
                if tx.ping(pings).await.is_err() {
                    stats.link_errors.fetch_add(1, Ordering::Relaxed);
                    break true;
                }
                idle_since = Instant::now();
            }
            tokio::select! {
                _ = stop.notified() => break false,
                _ = tokio::time::sleep(cfg.poll) => {}
            }
        };
        stats.connected.store(false, Ordering::Release);
        if !broken {
            let _ = tx.shutdown().await;
            break;
        }
        tokio::select! {
            _ = stop.notified() => break 'connect,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    stats.connected.store(false, Ordering::Release);
    reader
}
