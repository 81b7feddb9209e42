//! How an input's alerts reach the store: the same `writer::Job` a sensor connection
//! makes (a validated batch with a share of the collector's bounded buffer), so commit,
//! de-duplication, routing and the collector's metrics are shared. Also the seq clock of
//! the inputs numbered by time, the watermark of the inputs that cannot be held back, and
//! the task that waits for commits (and resubmits a batch whose commit failed).

use super::{parse_eve, parse_fifo, Eve, InputConfig, InputStats, Kind, LineError};
use crate::collector::{AckState, Shared};
use crate::drop_channel::DropChannel;
use crate::record::AlertRecord;
use crate::spool::DropReason;
use crate::wire::{Batch, BatchEncoder};
use rkyv::util::AlignedVec;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The collector's side an input hands batches to.
pub(crate) struct Sink {
    shared: Arc<Shared>,
}

/// A batch ready for the writer: a batch payload (the wire layout) and its seq range.
#[derive(Clone)]
pub(crate) struct Built {
    payload: AlignedVec<16>,
    pub count: u32,
    pub first: u64,
    pub last: u64,
}

impl Built {
    /// `(seq, archived bytes)` of each record (for the drop channel).
    fn records(&self) -> impl Iterator<Item = (u64, &[u8])> {
        Batch::accepted(&self.payload, self.count, self.first, self.last)
            .entries()
            .flatten()
            .map(|e| (e.seq, e.bytes))
    }
}

impl Sink {
    pub(crate) fn new(shared: Arc<Shared>) -> Sink {
        Sink { shared }
    }

    pub(crate) fn store(&self) -> &Arc<crate::db::Store> {
        &self.shared.store
    }

    /// The highest seq the store holds for the input's sensor name.
    pub(crate) async fn max_seq(&self, c: &InputConfig) -> Result<Option<u64>, super::InputError> {
        let (store, sensor) = (self.shared.store.clone(), c.sensor());
        let store_err = |source| super::InputError::Store {
            input: c.name.clone(),
            source,
        };
        tokio::task::spawn_blocking(move || store.max_seq(&sensor))
            .await
            .map_err(|e| store_err(crate::db::StoreError::Invalid(e.to_string())))?
            .map_err(store_err)
    }

    /// Set when the collector shuts down.
    pub(crate) fn stop(&self) -> watch::Receiver<bool> {
        self.shared.stop.subscribe()
    }

    /// Hands a batch to the writer and gives the receiver of its commit. With `wait`, waits
    /// for room in the collector's buffer (the input is held back meanwhile); without,
    /// gives the batch back when there is no room now (or the writer is gone).
    pub(crate) async fn submit(
        &self,
        sensor: &Arc<str>,
        b: Built,
        wait: bool,
    ) -> Result<watch::Receiver<AckState>, Built> {
        let sh = &self.shared;
        let want = (b.payload.len() as u64).clamp(1, sh.capacity) as u32;
        let permit = if wait {
            sh.buffer.clone().acquire_many_owned(want).await.ok()
        } else {
            sh.buffer.clone().try_acquire_many_owned(want).ok()
        };
        let Some(permit) = permit else {
            return Err(b);
        };
        sh.stats.buffer_add(want as u64);
        let (tx, rx) = watch::channel(AckState::default());
        let job = crate::collector::Job {
            sensor: sensor.clone(),
            buf: b.payload,
            first_seq: b.first,
            last_seq: b.last,
            count: b.count,
            ack: Arc::new(tx),
            permit,
        };
        match sh.jobs.send(job) {
            Ok(()) => Ok(rx),
            Err(e) => {
                let j = e.0;
                sh.stats.buffer_sub(j.permit.num_permits() as u64);
                Err(Built {
                    payload: j.buf,
                    count: j.count,
                    first: j.first_seq,
                    last: j.last_seq,
                })
            }
        }
    }
}

/// Seqs from the clock: ns since the epoch, strictly rising, never at or below the last
/// one given or stored (so a restart, even with the clock stepped back, reuses none while
/// the store holds the input's highest).
pub(crate) struct SeqClock(AtomicU64);

impl SeqClock {
    pub fn after(stored: Option<u64>) -> SeqClock {
        SeqClock(AtomicU64::new(stored.map_or(1, |s| s.saturating_add(1))))
    }

    pub fn take(&self, now: u64) -> u64 {
        let prev = self
            .0
            .fetch_update(Relaxed, Relaxed, |n| Some(n.max(now) + 1))
            .unwrap_or_else(|n| n);
        prev.max(now)
    }
}

/// FLoP's HighWater/LowWater over an input's alerts waiting for commit.
pub(crate) struct Watermark {
    high: u64,
    low: u64,
    dropping: bool,
}

impl Watermark {
    pub fn new(c: &InputConfig) -> Watermark {
        Watermark {
            high: c.high_water,
            low: c.low_water,
            dropping: false,
        }
    }

    /// Whether a new alert may go on, with `pending` alerts waiting.
    fn admit(&mut self, pending: u64, input: &str) -> bool {
        if self.dropping && pending < self.low {
            self.dropping = false;
            tracing::info!(
                input,
                pending,
                "input back under its low watermark; storing again"
            );
        } else if !self.dropping && pending >= self.high {
            self.dropping = true;
            tracing::warn!(
                input,
                pending,
                "input past its high watermark; new alerts go to the drop channel"
            );
        }
        !self.dropping
    }
}

/// Turns lines into a batch for one input: parse, count, number, encode, and (for inputs
/// that cannot be held back) send to the drop channel past the watermark.
pub(crate) struct Feeder {
    pub name: String,
    pub sensor: Arc<str>,
    kind: Kind,
    pub stats: Arc<InputStats>,
    enc: BatchEncoder,
    scratch: AlignedVec,
    batch: usize,
    clock: Option<Arc<SeqClock>>,
    guard: Option<(Watermark, DropChannel)>,
}

impl Feeder {
    /// `clock`: None when the caller gives each line's seq (the file tail).
    pub fn new(
        c: &InputConfig,
        stats: Arc<InputStats>,
        clock: Option<Arc<SeqClock>>,
        drops: Option<DropChannel>,
    ) -> Feeder {
        Feeder {
            name: c.name.clone(),
            sensor: c.sensor().into(),
            kind: c.kind,
            stats,
            enc: BatchEncoder::new(),
            scratch: AlignedVec::new(),
            batch: c.batch,
            clock,
            guard: drops.map(|d| (Watermark::new(c), d)),
        }
    }

    /// Counts and logs a rejected line (the first ten of each reason, then every power of
    /// two, so a flood of bad lines cannot flood the log).
    pub fn reject(&self, e: &LineError, at: &dyn Display) {
        let n = self.stats.reject(e.reason);
        if n <= 10 || n.is_power_of_two() {
            tracing::warn!(input = %self.name, at = %at, reason = e.reason.as_str(), count = n, "line rejected: {}", e.detail);
        }
    }

    fn parse(&self, line: &[u8]) -> Result<Option<AlertRecord>, LineError> {
        match self.kind {
            Kind::Fifo => parse_fifo(line, &self.name).map(Some),
            Kind::EveSocket | Kind::EveFile => match parse_eve(line, &self.name)? {
                Eve::Alert(r) => Ok(Some(*r)),
                Eve::Ignored => Ok(None),
            },
        }
    }

    /// One received line or datagram (without its newline). `seq`: the tail's number for
    /// it; `at`: where it was, for the log.
    pub fn line(&mut self, line: &[u8], seq: Option<u64>, at: &dyn Display) {
        self.stats.received.fetch_add(1, Relaxed);
        let mut r = match self.parse(line) {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.stats.ignored.fetch_add(1, Relaxed);
                return;
            }
            Err(e) => return self.reject(&e, at),
        };
        let seq = match (seq, &self.clock) {
            (Some(s), _) => s,
            (None, Some(c)) => c.take(crate::latency::now_ns()),
            (None, None) => unreachable!("a feeder has a clock or its caller gives seqs"),
        };
        r.sensor = self.sensor.to_string();
        r.seq = seq;
        self.scratch = match r.encode_into(std::mem::take(&mut self.scratch)) {
            Ok(b) => b,
            Err(e) => {
                return self.reject(&LineError::new(super::Reject::BadField, e.to_string()), at)
            }
        };
        if let Some((wm, drops)) = &mut self.guard {
            if !wm.admit(self.stats.pending.load(Relaxed), &self.name) {
                self.stats.dropped.fetch_add(1, Relaxed);
                let _ = drops.deliver(&self.scratch, seq, DropReason::HighWater);
                return;
            }
        }
        self.enc.push(seq, &self.scratch);
        self.stats.accepted.fetch_add(1, Relaxed);
        self.stats.pending.fetch_add(1, Relaxed);
    }

    pub fn len(&self) -> usize {
        self.enc.len() as usize
    }

    pub fn full(&self) -> bool {
        self.len() >= self.batch
    }

    /// The batch so far, or None when empty; the feeder starts a new one.
    pub fn take(&mut self) -> Option<Built> {
        if self.enc.is_empty() {
            return None;
        }
        let (first, last) = self.enc.seq_range();
        let count = self.enc.len();
        let frame = self.enc.frame();
        let mut payload = AlignedVec::<16>::with_capacity(frame.len());
        payload.extend_from_slice(&frame[crate::wire::HEADER_LEN..]);
        self.enc.clear();
        Some(Built {
            payload,
            count,
            first,
            last,
        })
    }
}

/// A batch on its way, with a copy to resubmit if its commit fails.
struct InFlight {
    /// None: the batch found no room and could not wait (or the writer is gone).
    rx: Option<watch::Receiver<AckState>>,
    copy: Built,
}

/// Sends an input's batches on and has their commits awaited in order (one waiter task
/// per input; sockets with several writers share it).
#[derive(Clone)]
pub(crate) struct Sender {
    sink: Arc<Sink>,
    queue: mpsc::UnboundedSender<InFlight>,
}

impl Sender {
    /// `drops` takes what is still uncommitted when the collector stops.
    pub fn start(
        sink: Arc<Sink>,
        sensor: Arc<str>,
        stats: Arc<InputStats>,
        drops: DropChannel,
    ) -> Sender {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(wait_commits(sink.clone(), sensor, stats, rx, drops));
        Sender { sink, queue }
    }

    /// Sends the feeder's batch, if any. `wait`: hold the input back until there is room
    /// (stream sockets); else a batch without room goes to the drop channel.
    pub async fn send(&self, f: &mut Feeder, wait: bool) {
        let Some(b) = f.take() else { return };
        let copy = b.clone();
        let rx = self.sink.submit(&f.sensor, b, wait).await.ok();
        let _ = self.queue.send(InFlight { rx, copy });
    }
}

/// Waits for each batch's commit; counts it, or resubmits after a failed commit (the
/// alerts stay pending, so the watermark keeps counting them).
async fn wait_commits(
    sink: Arc<Sink>,
    sensor: Arc<str>,
    stats: Arc<InputStats>,
    mut q: mpsc::UnboundedReceiver<InFlight>,
    mut drops: DropChannel,
) {
    while let Some(f) = q.recv().await {
        let Some(mut rx) = f.rx else {
            tracing::warn!(input = %stats.name, alerts = f.copy.count, "collector buffer full");
            lost(&stats, &f.copy, &mut drops);
            continue;
        };
        loop {
            let last = f.copy.last;
            let got = rx
                .wait_for(|a| a.through >= last || a.failed)
                .await
                .map(|a| *a);
            match got {
                Ok(a) if !a.failed => {
                    stats.committed.fetch_add(f.copy.count as u64, Relaxed);
                    stats.pending.fetch_sub(f.copy.count as u64, Relaxed);
                    break;
                }
                Ok(_) => {
                    tracing::warn!(input = %stats.name, alerts = f.copy.count, "commit failed; resubmitting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match sink.submit(&sensor, f.copy.clone(), true).await {
                        Ok(r) => rx = r,
                        Err(_) => return lost(&stats, &f.copy, &mut drops),
                    }
                }
                Err(_) => return lost(&stats, &f.copy, &mut drops),
            }
        }
    }
}

/// A batch the writer cannot take (no room and no waiting, or it is gone at shutdown):
/// its alerts go to the drop channel, counted as dropped.
fn lost(stats: &InputStats, b: &Built, drops: &mut DropChannel) {
    tracing::error!(input = %stats.name, alerts = b.count, first_seq = b.first, "alerts not committed go to the drop channel");
    let n = b.count as u64;
    stats.pending.fetch_sub(n, Relaxed);
    stats.accepted.fetch_sub(n, Relaxed);
    stats.dropped.fetch_add(n, Relaxed);
    for (seq, bytes) in b.records() {
        let _ = drops.deliver(bytes, seq, DropReason::Full);
    }
}

/// Creates the drop channel of a non-holdable input.
pub(crate) fn drop_channel(
    c: &InputConfig,
    store: &crate::db::Store,
    stats: &InputStats,
) -> std::io::Result<DropChannel> {
    let side = |suffix: &str| {
        let mut p = store.path().as_os_str().to_owned();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    DropChannel::new(
        c.drop_socket.clone().unwrap_or_else(|| side(".drop.sock")),
        c.drop_file.clone().unwrap_or_else(|| side(".drops")),
        stats.drops.clone(),
    )
}
