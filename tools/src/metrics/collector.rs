//! The collector's metrics: records received, stored and duplicated, commits, rejected
//! connections, the writer's buffer, each sensor's connection state, deliver latency.

use super::exposition::{Exposition, Kind};
use super::latency;
use std::sync::atomic::Ordering::Relaxed;
use store::collector::{Reject, Stats};
use store::input::{InputStats, Reject as InputReject};

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
    if let Some(inputs) = s.inputs.get() {
        render_inputs(&mut e, inputs);
    }
    e.finish()
}

/// A per-input counter or gauge: name, type, help, and how to read it.
type PerInput = (&'static str, Kind, &'static str, fn(&InputStats) -> u64);

/// The `tidewatch_input_*` families, labelled `input` (the configured name) and `kind`.
fn render_inputs(e: &mut Exposition, inputs: &[std::sync::Arc<InputStats>]) {
    let families: [PerInput; 10] = [
        ("tidewatch_input_received_total", Kind::Counter,
         "Lines, datagrams or events an input read (good or not).", |i| i.received.load(Relaxed)),
        ("tidewatch_input_ignored_total", Kind::Counter,
         "EVE events that are not alerts (flow, dns, stats...), read and not stored.", |i| i.ignored.load(Relaxed)),
        ("tidewatch_input_accepted_total", Kind::Counter,
         "Alerts an input handed to the collector's writer.", |i| i.accepted.load(Relaxed)),
        ("tidewatch_input_committed_total", Kind::Counter,
         "Alerts of an input committed to the store (or found already stored).", |i| i.committed.load(Relaxed)),
        ("tidewatch_input_dropped_total", Kind::Counter,
         "Alerts an input sent to the drop channel (past its high watermark, or no room at the writer).", |i| i.dropped.load(Relaxed)),
        ("tidewatch_input_drop_to_socket_total", Kind::Counter,
         "Dropped alerts a drop notifier took on the drop channel socket.", |i| i.drops.drop_to_socket.load(Relaxed)),
        ("tidewatch_input_drop_to_file_total", Kind::Counter,
         "Dropped alerts appended to the drop channel file (no notifier listening).", |i| i.drops.drop_to_file.load(Relaxed)),
        ("tidewatch_input_drop_lost_total", Kind::Counter,
         "Dropped alerts neither the drop socket nor the drop file took (lost, and counted).", |i| i.drops.drop_lost.load(Relaxed)),
        ("tidewatch_input_pending", Kind::Gauge,
         "Alerts of an input waiting for commit (what its watermarks look at).", |i| i.pending.load(Relaxed)),
        ("tidewatch_input_connections", Kind::Gauge,
         "Open connections to a stream-mode EVE socket input.", |i| i.connections.load(Relaxed)),
    ];
    for (name, kind, help, get) in families {
        e.family(name, kind, help);
        for i in inputs {
            e.sample(
                &[("input", &i.name), ("kind", i.kind.as_str())],
                get(i) as f64,
            );
        }
    }
    e.family(
        "tidewatch_input_rejected_total",
        Kind::Counter,
        "Lines or datagrams an input rejected, by reason (each logged with the input and where).",
    );
    for i in inputs {
        for r in InputReject::ALL {
            e.sample(
                &[
                    ("input", &i.name),
                    ("kind", i.kind.as_str()),
                    ("reason", r.as_str()),
                ],
                i.rejected(r) as f64,
            );
        }
    }
}
