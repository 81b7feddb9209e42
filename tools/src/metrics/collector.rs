//! The collector's metrics: records received, stored and duplicated, commits, rejected
//! connections, the writer's buffer, each sensor's connection state, deliver latency.

use super::exposition::{Exposition, Kind};
use super::latency;
use std::sync::atomic::Ordering::Relaxed;
use store::collector::{Reject, Stats};

/// A per-sensor family: name, type, help, and how to read the value.
type PerSensor = (
    &'static str,
    Kind,
    &'static str,
    fn(&store::collector::SensorState) -> f64,
);

/// Renders a scrape of a running collector.
pub fn render_collector(s: &Stats) -> String {
    let mut e = Exposition::new();
    for (name, help, v) in [
        (
            "tidewatch_collector_records_received_total",
            "Alert records received in valid batches (before de-duplication).",
            &s.received,
        ),
        (
            "tidewatch_collector_records_stored_total",
            "Alert records committed to the store.",
            &s.stored,
        ),
        (
            "tidewatch_collector_records_duplicate_total",
            "Alert records already stored (resends), acknowledged without storing again.",
            &s.duplicates,
        ),
        (
            "tidewatch_collector_commits_total",
            "Durable store commits.",
            &s.commits,
        ),
        (
            "tidewatch_collector_commit_errors_total",
            "Failed commits (their records are not acknowledged; sensors resend them).",
            &s.commit_errors,
        ),
    ] {
        e.single(name, Kind::Counter, help, v.load(Relaxed) as f64);
    }
    e.family(
        "tidewatch_collector_connections_rejected_total",
        Kind::Counter,
        "Sensor connections closed by the collector, by reason.",
    );
    for r in Reject::ALL {
        e.sample(&[("reason", r.as_str())], s.rejected(r) as f64);
    }
    e.single(
        "tidewatch_collector_buffer_bytes",
        Kind::Gauge,
        "Bytes of received batches waiting for the writer (sockets stop being read when full).",
        s.buffer_bytes.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_collector_buffer_capacity_bytes",
        Kind::Gauge,
        "Bound of the writer's buffer.",
        s.buffer_capacity.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_collector_buffer_peak_bytes",
        Kind::Gauge,
        "Largest fill of the writer's buffer since start.",
        s.buffer_peak.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_collector_buffer_fill_ratio",
        Kind::Gauge,
        "Share of the writer's buffer in use.",
        s.buffer_fill(),
    );
    let sensors = {
        let m = s.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let families: [PerSensor; 5] = [
        (
            "tidewatch_sensor_up",
            Kind::Gauge,
            "1 while a sensor has a connection and is not silent.",
            |st| f64::from(u8::from(st.connections > 0 && !st.silent)),
        ),
        (
            "tidewatch_sensor_connections",
            Kind::Gauge,
            "Open connections from each sensor.",
            |st| st.connections as f64,
        ),
        (
            "tidewatch_sensor_silent",
            Kind::Gauge,
            "1 when a sensor has not been heard from for longer than the silence limit.",
            |st| f64::from(u8::from(st.silent)),
        ),
        (
            "tidewatch_sensor_last_seen_age_seconds",
            Kind::Gauge,
            "Time since a sensor was last heard from.",
            |st| st.last_seen.elapsed().as_secs_f64(),
        ),
        (
            "tidewatch_sensor_records_received_total",
            Kind::Counter,
            "Alert records received from each sensor.",
            |st| st.received as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        e.family(name, kind, help);
        for (sensor, st) in &sensors {
            e.sample(&[("sensor", sensor)], get(st));
        }
    }
    latency(&mut e, &[("deliver", &s.deliver_latency)]);
    e.finish()
}
