//! Prometheus metrics of the sensor and the collector (`--metrics ADDR`, `/metrics`).
//! Everything is read from counters the daemons keep anyway (atomics, XDP maps, socket
//! options) at scrape time, so a scrape costs the packet path nothing. Names follow
//! DESIGN.md: prefix `tidewatch_`, counters `_total`, times `_seconds`.

pub mod exposition;
pub mod server;

mod collector;
mod delivery;
mod sensor;

pub use collector::render_collector;
pub use delivery::render_delivery;
pub use sensor::{render_sensor, SensorMetrics};
pub use server::{MetricsServer, Source};

use exposition::{Exposition, Kind};
use store::latency::LatencyWindow;

/// `tidewatch_alert_latency_seconds{stage}`: a summary, quantiles over the last minute,
/// `_count` and `_sum` over the process lifetime.
fn latency(e: &mut Exposition, stages: &[(&str, &LatencyWindow)]) {
    e.family(
        "tidewatch_alert_latency_seconds",
        Kind::Summary,
        "Alert latency: stage detect from packet timestamp to the alert leaving detection, \
         stage deliver from alert creation to its commit at the collector. Quantiles over \
         the last 60 s.",
    );
    for (stage, w) in stages {
        let s = w.snapshot();
        for (i, q) in store::latency::QUANTILES.iter().enumerate() {
            let v = s.quantiles.map_or(f64::NAN, |qs| qs[i].1);
            e.sample(&[("stage", stage), ("quantile", &q.to_string())], v);
        }
        e.sample_suffixed("_sum", &[("stage", stage)], s.sum_seconds);
        e.sample_suffixed("_count", &[("stage", stage)], s.count as f64);
    }
}

/// Where to serve metrics: `--metrics`, else the config's `metrics.listen`.
pub fn listen_addr(flag: Option<&str>, config: &crate::config::Config) -> Option<String> {
    flag.map(str::to_string)
        .or_else(|| config.metrics.listen.clone())
}
