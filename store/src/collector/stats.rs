//! Counters the metrics exporter reads (atomics; one update per batch, not per alert).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// Why a connection was closed by the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// TLS handshake failed (no or untrusted client certificate, not TLS at all).
    Handshake,
    /// Hello named a sensor the client certificate does not.
    Identity,
    /// Bad header, bad layout, bad record.
    Malformed,
    /// A frame beyond the size limits.
    TooLarge,
    /// Valid frames in the wrong place (no Hello first, seqs going back).
    Protocol,
    /// No Hello in time.
    Timeout,
}

impl Reject {
    pub const ALL: [Reject; 6] = [
        Reject::Handshake,
        Reject::Identity,
        Reject::Malformed,
        Reject::TooLarge,
        Reject::Protocol,
        Reject::Timeout,
    ];
    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Handshake => "handshake",
            Reject::Identity => "identity",
            Reject::Malformed => "malformed",
            Reject::TooLarge => "too_large",
            Reject::Protocol => "protocol",
            Reject::Timeout => "timeout",
        }
    }
}

/// What the collector knows of one sensor.
#[derive(Clone, Debug)]
pub struct SensorState {
    pub connections: u32,
    pub last_seen: Instant,
    /// Reported silent (no frame for longer than the configured time).
    pub silent: bool,
    pub received: u64,
}

/// The collector's counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records received in valid batches (before de-duplication).
    pub received: AtomicU64,
    /// Records committed to the store.
    pub stored: AtomicU64,
    /// Records already held (resends), acknowledged without storing again.
    pub duplicates: AtomicU64,
    /// Durable commits.
    pub commits: AtomicU64,
    /// Failed commits (their records were not acknowledged; the sensor resends them).
    pub commit_errors: AtomicU64,
    rejected: [AtomicU64; 6],
    /// Bytes of received batches waiting for the writer, and its bound.
    pub buffer_bytes: AtomicU64,
    pub buffer_capacity: AtomicU64,
    /// Largest `buffer_bytes` seen.
    pub buffer_peak: AtomicU64,
    pub sensors: Mutex<HashMap<String, SensorState>>,
    /// Alert creation (on the sensor) to its durable commit here
    /// (`tidewatch_alert_latency_seconds{stage="deliver"}` on the collector).
    pub deliver_latency: crate::latency::LatencyWindow,
    /// The counters of each configured input (`tidewatch_input_*`), set at start.
    pub inputs: std::sync::OnceLock<Vec<std::sync::Arc<crate::input::InputStats>>>,
}

impl Stats {
    pub fn reject(&self, r: Reject) {
        self.rejected[r as usize].fetch_add(1, Relaxed);
    }
    pub fn rejected(&self, r: Reject) -> u64 {
        self.rejected[r as usize].load(Relaxed)
    }
    pub(crate) fn buffer_add(&self, n: u64) {
        let now = self.buffer_bytes.fetch_add(n, Relaxed) + n;
        self.buffer_peak.fetch_max(now, Relaxed);
    }
    pub(crate) fn buffer_sub(&self, n: u64) {
        self.buffer_bytes.fetch_sub(n, Relaxed);
    }
    /// Fill of the writer's buffer, 0..=1.
    pub fn buffer_fill(&self) -> f64 {
        let cap = self.buffer_capacity.load(Relaxed).max(1);
        self.buffer_bytes.load(Relaxed) as f64 / cap as f64
    }
    pub(crate) fn seen(&self, sensor: &str, records: u64, connect: i32) {
        let mut m = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry(sensor.to_string()).or_insert_with(|| SensorState {
            connections: 0,
            last_seen: Instant::now(),
            silent: false,
            received: 0,
        });
        s.last_seen = Instant::now();
        s.received += records;
        s.connections = (s.connections as i32 + connect).max(0) as u32;
        if s.silent {
            s.silent = false;
            tracing::info!(sensor, "sensor heard from again");
        }
    }
    /// Sensors currently reported silent.
    pub fn silent_sensors(&self) -> Vec<String> {
        let m = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = m
            .iter()
            .filter(|(_, s)| s.silent)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }
    /// Marks and logs sensors not heard from for `after`.
    pub(crate) fn check_silence(&self, after: std::time::Duration) {
        let mut m = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        for (name, s) in m.iter_mut() {
            if !s.silent && s.last_seen.elapsed() > after {
                s.silent = true;
                tracing::warn!(sensor = %name, silent_for = ?s.last_seen.elapsed(), connections = s.connections, "sensor silent");
            }
        }
    }
    /// A text summary (the control socket's `status`).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "received {} stored {} duplicates {} commits {} commit_errors {} buffer_bytes {} buffer_capacity {}",
            self.received.load(Relaxed),
            self.stored.load(Relaxed),
            self.duplicates.load(Relaxed),
            self.commits.load(Relaxed),
            self.commit_errors.load(Relaxed),
            self.buffer_bytes.load(Relaxed),
            self.buffer_capacity.load(Relaxed),
        );
        for r in Reject::ALL {
            s += &format!(" rejected_{} {}", r.as_str(), self.rejected(r));
        }
        s
    }
}
