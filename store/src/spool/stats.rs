//! Counters the metrics endpoint exports (`tidewatch_alerts_dropped_total{stage="spool",
//! reason}`, `tidewatch_spool_fill_ratio`, …). Plain relaxed atomics: the writer, the
//! shipper and the drop channel bump them from different threads without a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why an alert went to the drop channel instead of the spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The spool was past its high watermark (and not yet back under the low one).
    HighWater = 1,
    /// Under the high watermark, but the record did not fit in the free space.
    Full = 2,
    /// Larger than the spool's largest record.
    TooLarge = 3,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::HighWater,
        DropReason::Full,
        DropReason::TooLarge,
    ];

    /// The `reason` label value of the metric.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::HighWater => "high_water",
            DropReason::Full => "full",
            DropReason::TooLarge => "too_large",
        }
    }

    pub fn from_u8(v: u8) -> Option<DropReason> {
        DropReason::ALL.into_iter().find(|r| *r as u8 == v)
    }
}

/// Live counters of one spool and its drop channel.
#[derive(Debug, Default)]
pub struct SpoolStats {
    pub appended: AtomicU64,
    pub appended_bytes: AtomicU64,
    pub acked: AtomicU64,
    dropped: [AtomicU64; 3],
    pub drop_to_socket: AtomicU64,
    pub drop_to_file: AtomicU64,
    /// Both the socket and the file failed: the alert is gone, and this says how many.
    pub drop_lost: AtomicU64,
    /// Records refused because they were not valid archived alerts (an encoder bug;
    /// the caller got the error).
    pub invalid: AtomicU64,
    pub recovered: AtomicU64,
    pub cut_bytes: AtomicU64,
    pub cut_events: AtomicU64,
    pub syncs: AtomicU64,
    pub sync_errors: AtomicU64,
    pub used_bytes: AtomicU64,
    pub capacity: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    pub appended: u64,
    pub appended_bytes: u64,
    pub acked: u64,
    pub dropped_high_water: u64,
    pub dropped_full: u64,
    pub dropped_too_large: u64,
    pub drop_to_socket: u64,
    pub drop_to_file: u64,
    pub drop_lost: u64,
    pub invalid: u64,
    pub recovered: u64,
    pub cut_bytes: u64,
    pub cut_events: u64,
    pub syncs: u64,
    pub sync_errors: u64,
    pub fill_ratio: f64,
}

impl StatsSnapshot {
    pub fn dropped(&self) -> u64 {
        self.dropped_high_water + self.dropped_full + self.dropped_too_large
    }
}

impl SpoolStats {
    pub fn count_drop(&self, reason: DropReason) {
        self.dropped[reason as usize - 1].fetch_add(1, Relaxed);
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize - 1].load(Relaxed)
    }

    pub fn fill_ratio(&self) -> f64 {
        let cap = self.capacity.load(Relaxed);
        if cap == 0 {
            return 0.0;
        }
        self.used_bytes.load(Relaxed) as f64 / cap as f64
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Relaxed);
        StatsSnapshot {
            appended: l(&self.appended),
            appended_bytes: l(&self.appended_bytes),
            acked: l(&self.acked),
            dropped_high_water: self.dropped(DropReason::HighWater),
            dropped_full: self.dropped(DropReason::Full),
            dropped_too_large: self.dropped(DropReason::TooLarge),
            drop_to_socket: l(&self.drop_to_socket),
            drop_to_file: l(&self.drop_to_file),
            drop_lost: l(&self.drop_lost),
            invalid: l(&self.invalid),
            recovered: l(&self.recovered),
            cut_bytes: l(&self.cut_bytes),
            cut_events: l(&self.cut_events),
            syncs: l(&self.syncs),
            sync_errors: l(&self.sync_errors),
            fill_ratio: self.fill_ratio(),
        }
    }
}
