//! The one writer: takes received batches in arrival order, commits as many as are waiting
//! in one durable transaction (group commit), then acknowledges them. Runs on its own
//! thread because redb commits block (fsync).

use super::stats::Stats;
use crate::db::{Incoming, Retention, Store};
use crate::wire::Batch;
use rkyv::util::AlignedVec;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedSemaphorePermit};

/// What a connection learns from the writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckState {
    /// Highest seq committed of those this connection sent (0: none yet).
    pub through: u64,
    /// A commit failed: the connection must close so the sensor resends.
    pub failed: bool,
}

/// One received, validated batch on its way to the store.
pub(crate) struct Job {
    pub sensor: Arc<str>,
    pub buf: AlignedVec<16>,
    pub first_seq: u64,
    pub last_seq: u64,
    pub count: u32,
    pub ack: Arc<watch::Sender<AckState>>,
    /// Holds the batch's share of the bounded buffer until it is committed.
    pub permit: OwnedSemaphorePermit,
}

pub(crate) struct WriterConfig {
    pub max_records: usize,
    pub retention: Retention,
    pub retention_every: Duration,
    pub compact_after_retention: bool,
    pub router: Option<Arc<crate::route::Router>>,
}

pub(crate) fn run(
    store: Arc<Store>,
    rx: mpsc::Receiver<Job>,
    stats: Arc<Stats>,
    paused: Arc<AtomicBool>,
    cfg: WriterConfig,
) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut last_retention = Instant::now();
    loop {
        let first = match rx.recv_timeout(cfg.retention_every.min(Duration::from_secs(1))) {
            Ok(j) => Some(j),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if let Some(j) = first {
            jobs.push(j);
        }
        let mut records = jobs.first().map_or(0, |j| j.count as usize);
        while records < cfg.max_records {
            match rx.try_recv() {
                Ok(j) => {
                    records += j.count as usize;
                    jobs.push(j)
                }
                Err(_) => break,
            }
        }
        // A paused writer (maintenance, or a test of backpressure) holds what it has.
        while paused.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Validated on receipt (layout, limits, seqs); each record is checked again as the
        // store walks the entries, and a failure there fails the commit, unacknowledged.
        let parsed: Vec<Incoming<'_>> = jobs
            .iter()
            .map(|j| Incoming {
                sensor: &j.sensor,
                batch: Batch::accepted(&j.buf, j.count, j.first_seq, j.last_seq),
            })
            .collect();
        let committed = if jobs.is_empty() {
            true
        } else {
            match store.commit(&parsed) {
                Ok(done) => {
                    stats.stored.fetch_add(done.stored, Relaxed);
                    stats.duplicates.fetch_add(done.duplicates, Relaxed);
                    stats.commits.fetch_add(1, Relaxed);
                    stats.deliver_latency.record_since(
                        crate::latency::now_ns(),
                        parsed
                            .iter()
                            .flat_map(|i| i.batch.entries())
                            .filter_map(|e| e.ok().map(|e| e.record.created_ns.to_native())),
                    );
                    if let Some(r) = &cfg.router {
                        r.committed(done.stored);
                    }
                    true
                }
                Err(e) => {
                    stats.commit_errors.fetch_add(1, Relaxed);
                    tracing::error!(error = %e, "commit failed; closing the links of its batches");
                    false
                }
            }
        };
        drop(parsed);
        for j in jobs.drain(..) {
            j.ack.send_if_modified(|a| {
                if committed && j.last_seq > a.through {
                    a.through = j.last_seq;
                    true
                } else if !committed {
                    a.failed = true;
                    true
                } else {
                    false
                }
            });
            stats.buffer_sub(j.permit.num_permits() as u64);
        }
        if last_retention.elapsed() >= cfg.retention_every
            && (cfg.retention.max_age.is_some() || cfg.retention.max_bytes.is_some())
        {
            last_retention = Instant::now();
            match store.enforce_retention(&cfg.retention, crate::db::now_ns()) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(removed = n, "retention");
                    if cfg.compact_after_retention {
                        if let Err(e) = store.compact() {
                            tracing::warn!(error = %e, "compaction failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
    }
}
