//! The collector's metrics: records received, stored and duplicated, commits, rejected
//! connections, the writer's buffer, each sensor's connection state, deliver latency.

use super::exposition::{Exposition, Kind};
use super::latency;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use store::collector::{Reject, Stats};
use store::input::{InputStats, Reject as InputReject};
use store::route::{OutputStats, Router};

/// A per-sensor family: name, type, help, and how to read the value.
type PerSensor = (
    &'static str,
    Kind,
    &'static str,
    fn(&store::collector::SensorState) -> f64,
);

/// An output's counter: name, label value, and how to read it.
type OutputCounter = (&'static str, fn(&OutputStats) -> &AtomicU64);

/// Labelled counters of every output of one `type`.
fn output_family(
    e: &mut Exposition,
    r: &Router,
    (name, kind, help): (&str, Kind, &str),
    output_type: Option<&str>,
    label: &str,
    values: &[OutputCounter],
) {
    e.family(name, kind, help);
    for (output, t, st) in r.outputs() {
        if output_type.is_some_and(|want| want != t) {
            continue;
        }
        for (v, get) in values {
            e.sample(
                &[("output", output), ("type", t), (label, v)],
                get(st).load(Relaxed) as f64,
            );
        }
    }
}

/// The router's and its outputs' counters (`tidewatch_routing_*`, `tidewatch_output_*`).
fn render_router(e: &mut Exposition, r: &Router) {
    e.single(
        "tidewatch_routing_alerts_total",
        Kind::Counter,
        "Committed alerts read back and matched against the routes.",
        r.stats.routed.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_routing_lagged_total",
        Kind::Counter,
        "Alerts not routed because the router fell too far behind the store (they are stored).",
        r.stats.lagged.load(Relaxed) as f64,
    );
    output_family(
        e,
        r,
        (
            "tidewatch_output_alerts_total",
            Kind::Counter,
            "Alerts given to each output, by result: sent (written, sent, mailed, acted on), \
             missed (its queue, reader or program slots were full), failed (logged). All are \
             in the store.",
        ),
        None,
        "result",
        &[
            ("sent", |s| &s.sent),
            ("missed", |s| &s.missed),
            ("failed", |s| &s.failed),
        ],
    );
    output_family(
        e,
        r,
        (
            "tidewatch_output_exec_runs_total",
            Kind::Counter,
            "Programs run by exec outputs, by outcome (timeout: its process group was killed).",
        ),
        Some("exec"),
        "result",
        &[
            ("ok", |s| &s.response.exec.ok),
            ("exit_nonzero", |s| &s.response.exec.exit_nonzero),
            ("signal", |s| &s.response.exec.signaled),
            ("timeout", |s| &s.response.exec.timed_out),
            ("spawn_error", |s| &s.response.exec.spawn_errors),
        ],
    );
    output_family(
        e,
        r,
        (
            "tidewatch_output_exec_running",
            Kind::Gauge,
            "Programs of exec outputs running now.",
        ),
        Some("exec"),
        "state",
        &[("running", |s| &s.response.exec.running)],
    );
    output_family(
        e,
        r,
        (
            "tidewatch_output_blocks_total",
            Kind::Counter,
            "Alerts handled by block outputs: sent (a block went to the sensor links), \
             suppressed (the address was already blocked), exempt (in `never`).",
        ),
        Some("block"),
        "result",
        &[
            ("sent", |s| &s.response.block.sent),
            ("suppressed", |s| &s.response.block.suppressed),
            ("exempt", |s| &s.response.block.exempt),
        ],
    );
    output_family(
        e,
        r,
        (
            "tidewatch_output_blocks_active",
            Kind::Gauge,
            "Blocks a block output has sent that have not expired yet.",
        ),
        Some("block"),
        "state",
        &[("active", |s| &s.response.block.active)],
    );
}

/// Renders a scrape of a running collector and its router.
pub fn render_collector(s: &Stats, router: Option<&Router>) -> String {
    let mut e = Exposition::new();
    if let Some(r) = router {
        render_router(&mut e, r);
    }
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
