//! Alert latency kept in HDR histograms for the metrics endpoint
//! (`tidewatch_alert_latency_seconds`): quantiles over a sliding window of the last
//! minute, count and sum over the process lifetime, as a Prometheus summary wants.
//!
//! The window is six 10-second histograms in a ring; a read merges them. Recorders take
//! the lock once per batch of values (an ack, a commit, a burst of alerts), never per
//! packet, so the hot path never sees it.

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Width of one histogram in the ring.
pub const SLOT: Duration = Duration::from_secs(10);
/// Histograms in the ring: the window is `SLOTS * SLOT` (60 s).
pub const SLOTS: usize = 6;
/// The quantiles exported.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];
/// Largest latency kept exactly (1 hour, in nanoseconds); longer ones count as this.
const HIGHEST_NS: u64 = 3_600_000_000_000;

struct Ring {
    slots: Vec<Histogram<u64>>,
    current: usize,
    /// When the current slot began.
    started: Instant,
    count: u64,
    sum_ns: u128,
}

impl Ring {
    /// Moves the current slot forward to `now`, clearing slots that fell out of the window.
    fn rotate(&mut self, now: Instant) {
        let mut steps = 0;
        while now.saturating_duration_since(self.started) >= SLOT {
            self.started += SLOT;
            steps += 1;
            if steps <= SLOTS {
                self.current = (self.current + 1) % SLOTS;
                self.slots[self.current].reset();
            } else {
                // Idle for longer than the window: every slot is already clear.
                let behind = now.saturating_duration_since(self.started);
                let skip = behind.as_nanos() / SLOT.as_nanos();
                self.started += SLOT * skip as u32;
            }
        }
    }
}

/// One latency series (one `stage`): a sliding-window histogram plus lifetime totals.
pub struct LatencyWindow {
    ring: Mutex<Ring>,
}

impl std::fmt::Debug for LatencyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.snapshot();
        f.debug_struct("LatencyWindow")
            .field("count", &s.count)
            .field("sum_seconds", &s.sum_seconds)
            .finish()
    }
}

impl Default for LatencyWindow {
    fn default() -> Self {
        Self::new()
    }
}

/// A read of a [`LatencyWindow`].
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySnapshot {
    /// `(quantile, seconds)` over the window; `None` when the window saw nothing.
    pub quantiles: Option<[(f64, f64); 4]>,
    /// Values recorded in the window.
    pub window_count: u64,
    /// Lifetime number of values and their sum in seconds.
    pub count: u64,
    pub sum_seconds: f64,
}

fn new_histogram() -> Histogram<u64> {
    // Three significant digits from 1 ns to an hour: fixed bounds, so recording never
    // allocates or fails.
    Histogram::new_with_bounds(1, HIGHEST_NS, 3).expect("valid fixed histogram bounds")
}

impl LatencyWindow {
    pub fn new() -> Self {
        LatencyWindow {
            ring: Mutex::new(Ring {
                slots: (0..SLOTS).map(|_| new_histogram()).collect(),
                current: 0,
                started: Instant::now(),
                count: 0,
                sum_ns: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records latencies in nanoseconds, taking the lock once for all of them.
    pub fn record_ns(&self, values: impl IntoIterator<Item = u64>) {
        self.record_at(Instant::now(), values)
    }

    fn record_at(&self, now: Instant, values: impl IntoIterator<Item = u64>) {
        let mut r = self.lock();
        r.rotate(now);
        let cur = r.current;
        let (mut n, mut sum) = (0u64, 0u128);
        for v in values {
            r.slots[cur].saturating_record(v.max(1));
            n += 1;
            sum += v as u128;
        }
        r.count += n;
        r.sum_ns += sum;
    }

    /// Records the time from each of `created_ns` (nanoseconds since the Unix epoch) to
    /// `now_ns`; a time in the future (clock steps) counts as zero.
    pub fn record_since(&self, now_ns: u64, created_ns: impl IntoIterator<Item = u64>) {
        self.record_ns(created_ns.into_iter().map(|c| now_ns.saturating_sub(c)));
    }

    /// Quantiles over the window, lifetime count and sum.
    pub fn snapshot(&self) -> LatencySnapshot {
        self.snapshot_at(Instant::now())
    }

    fn snapshot_at(&self, now: Instant) -> LatencySnapshot {
        let mut r = self.lock();
        r.rotate(now);
        let mut merged = new_histogram();
        for h in &r.slots {
            // Same bounds everywhere, so adding cannot fail.
            let _ = merged.add(h);
        }
        let window_count = merged.len();
        let quantiles = (window_count > 0)
            .then(|| QUANTILES.map(|q| (q, merged.value_at_quantile(q) as f64 / 1e9)));
        LatencySnapshot {
            quantiles,
            window_count,
            count: r.count,
            sum_seconds: r.sum_ns as f64 / 1e9,
        }
    }
}

/// Nanoseconds since the Unix epoch now (what records' `created_ns` are measured in).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_count_and_sum() {
        let w = LatencyWindow::new();
        assert_eq!(w.snapshot().quantiles, None);
        // 1..=1000 ms
        w.record_ns((1..=1000u64).map(|ms| ms * 1_000_000));
        let s = w.snapshot();
        assert_eq!(s.count, 1000);
        assert_eq!(s.window_count, 1000);
        assert!((s.sum_seconds - 500.5).abs() < 1e-9, "{}", s.sum_seconds);
        let q = s.quantiles.unwrap();
        for ((want_q, want), (got_q, got)) in [(0.5, 0.5), (0.9, 0.9), (0.99, 0.99), (0.999, 0.999)]
            .iter()
            .zip(q.iter())
        {
            assert_eq!(want_q, got_q);
            assert!(
                (got - want).abs() / want < 0.002,
                "q{want_q}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn old_values_leave_the_window_but_stay_in_the_totals() {
        let w = LatencyWindow::new();
        let t0 = Instant::now();
        w.record_at(t0, [5_000_000_000]);
        w.record_at(t0 + SLOT * 3, [1_000_000]);
        let s = w.snapshot_at(t0 + SLOT * 3);
        assert_eq!(s.window_count, 2);
        assert!(s.quantiles.unwrap()[3].1 > 4.9);
        // Past the window: only the recent value (recorded 3 slots later) is left...
        let s = w.snapshot_at(t0 + SLOT * 7);
        assert_eq!(s.window_count, 1);
        assert!((s.quantiles.unwrap()[0].1 - 0.001).abs() < 1e-5);
        // ...and after a long silence nothing, while the lifetime totals keep both.
        let s = w.snapshot_at(t0 + SLOT * 100);
        assert_eq!(s.window_count, 0);
        assert_eq!(s.quantiles, None);
        assert_eq!(s.count, 2);
        assert!((s.sum_seconds - 5.001).abs() < 1e-9);
    }

    #[test]
    fn future_creation_times_count_as_zero() {
        let w = LatencyWindow::new();
        w.record_since(100, [50, 200]);
        let s = w.snapshot();
        assert_eq!(s.count, 2);
        assert!((s.sum_seconds - 50e-9).abs() < 1e-15);
    }
}
