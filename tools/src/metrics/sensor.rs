//! The sensor's metrics: XDP and AF_XDP counters per queue (and per CPU), workers, decode
//! errors, flows, streams, rules, alerts, drops by stage and reason, detect latency, and,
//! when it delivers to a collector, the spool and the shipper.

use super::exposition::{Exposition, Kind};
use super::{delivery, latency};
use capture::decode::DecodeReason;
use detect::live::Sensor;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use store::latency::LatencyWindow;
use store::shipper::ShipperStats;
use store::spool::SpoolStats;

/// What the sensor command counts beyond the capture's own counters.
#[derive(Default)]
pub struct SensorMetrics {
    /// Packet timestamp to the alert reaching the output thread.
    pub detect_latency: LatencyWindow,
    /// Alerts the EVE output failed to write.
    pub output_errors: Arc<AtomicU64>,
    pub rules_enforced: AtomicU64,
    pub rules_skipped: AtomicU64,
    /// Set once when the sensor delivers to a collector.
    delivery: OnceLock<(Arc<SpoolStats>, Arc<ShipperStats>)>,
}

impl SensorMetrics {
    /// Exports the spool's and shipper's counters and the deliver latency too
    /// (`sensor --collector`).
    pub fn attach_delivery(&self, spool: Arc<SpoolStats>, shipper: Arc<ShipperStats>) {
        let _ = self.delivery.set((spool, shipper));
    }

    pub fn set_rules(&self, enforced: usize, skipped: usize) {
        self.rules_enforced.store(enforced as u64, Relaxed);
        self.rules_skipped.store(skipped as u64, Relaxed);
    }
}

fn per_queue(e: &mut Exposition, values: impl Iterator<Item = u64>) {
    for (q, v) in values.enumerate() {
        e.sample(&[("queue", &q.to_string())], v as f64);
    }
}

fn per_worker(e: &mut Exposition, values: impl Iterator<Item = u64>) {
    for (w, v) in values.enumerate() {
        e.sample(&[("worker", &w.to_string())], v as f64);
    }
}

/// Renders a scrape of a running sensor.
pub fn render_sensor(m: &SensorMetrics, sensor: &Sensor) -> String {
    let s = sensor.status();
    let mut e = Exposition::new();
    e.family(
        "tidewatch_packets_total",
        Kind::Counter,
        "Frames the XDP program saw, per RX queue.",
    );
    per_queue(&mut e, s.xdp.iter().map(|c| c.seen));
    e.family(
        "tidewatch_xdp_packets_total",
        Kind::Counter,
        "XDP verdicts per RX queue and CPU: redirected to the AF_XDP socket, passed to \
         the kernel, blocked by the blocklist, or too short to parse.",
    );
    match sensor.xdp_per_cpu() {
        Ok(queues) => {
            for (q, cpus) in queues.iter().enumerate() {
                let q = q.to_string();
                for (cpu, c) in cpus.iter().enumerate() {
                    let cpu = cpu.to_string();
                    for (action, v) in [
                        ("redirected", c.redirected),
                        ("passed", c.passed),
                        ("blocked", c.blocked),
                        ("error", c.errors),
                    ] {
                        e.sample(
                            &[("queue", &q), ("cpu", &cpu), ("action", action)],
                            v as f64,
                        );
                    }
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: reading per-CPU XDP counters"),
    }
    for (name, help, get) in [
        (
            "tidewatch_afxdp_rx_dropped_total",
            "AF_XDP XDP_STATISTICS rx_dropped per socket (includes fill_ring_empty).",
            (|k: &capture::afxdp::SocketStats| k.rx_dropped) as fn(&_) -> u64,
        ),
        (
            "tidewatch_afxdp_rx_invalid_total",
            "AF_XDP XDP_STATISTICS rx_invalid_descs per socket.",
            |k| k.rx_invalid,
        ),
        (
            "tidewatch_afxdp_rx_ring_full_total",
            "AF_XDP XDP_STATISTICS rx_ring_full per socket: the worker read too slowly.",
            |k| k.rx_ring_full,
        ),
        (
            "tidewatch_afxdp_fill_ring_empty_total",
            "AF_XDP XDP_STATISTICS rx_fill_ring_empty_descs per socket.",
            |k| k.fill_ring_empty,
        ),
    ] {
        e.family(name, Kind::Counter, help);
        per_queue(&mut e, s.sockets.iter().map(get));
    }
    e.family(
        "tidewatch_worker_packets_total",
        Kind::Counter,
        "Frames each worker inspected (undecodable ones included).",
    );
    per_worker(&mut e, s.inspected.iter().copied());
    e.family(
        "tidewatch_worker_bytes_total",
        Kind::Counter,
        "Bytes of the decoded frames each worker inspected.",
    );
    per_worker(&mut e, s.workers.iter().map(|w| w.bytes));
    e.family(
        "tidewatch_worker_queue_full_total",
        Kind::Counter,
        "Times a dispatch reader found a worker's queue full and waited (backpressure \
         onto the socket rings; nothing is dropped there).",
    );
    per_worker(&mut e, s.workers.iter().map(|w| w.queue_full));
    e.single(
        "tidewatch_alert_queue_full_total",
        Kind::Counter,
        "Times a worker found its alert queue full and waited for the output thread.",
        s.alert_waits as f64,
    );
    e.family(
        "tidewatch_decode_errors_total",
        Kind::Counter,
        "Frames that did not decode, by reason (not inspected further).",
    );
    for r in DecodeReason::ALL {
        e.sample(
            &[("reason", r.name())],
            s.decode.by_reason[r as usize] as f64,
        );
    }
    let sum = |f: fn(&detect::live::WorkerLive) -> u64| s.workers.iter().map(f).sum::<u64>();
    e.family(
        "tidewatch_flows_total",
        Kind::Counter,
        "Flows created, timed out, and evicted while live (the flow table was full).",
    )
    .sample(&[("event", "created")], sum(|w| w.flows.created) as f64)
    .sample(&[("event", "timed_out")], sum(|w| w.flows.timed_out) as f64)
    .sample(&[("event", "evicted")], sum(|w| w.flows.evicted) as f64);
    e.family(
        "tidewatch_flow_uninspected_packets_total",
        Kind::Counter,
        "Packets not inspected because their flow was settled earlier: by a `pass` rule, \
         or by a `drop`/`reject` rule (which stops inspection of the flow in IDS mode too, \
         as in Suricata).",
    )
    .sample(&[("reason", "pass")], sum(|w| w.passed) as f64)
    .sample(&[("reason", "drop")], sum(|w| w.dropped) as f64);
    e.single(
        "tidewatch_flow_emergencies_total",
        Kind::Counter,
        "Times a worker's flow table entered emergency mode (shorter timeouts): a flow evicted while the table was over 70% full.",
        sum(|w| w.flows.emergency) as f64,
    );
    e.family(
        "tidewatch_app_layer_total",
        Kind::Counter,
        "App-layer events: DNS requests inspected by `dns.query` rules, UDP flows turned \
         round because their first payload told the other direction (as Suricata does), TCP \
         flows told TLS, TLS server names parsed, and TCP directions the app layer gave up \
         (a hole in the data, or more than 64 KiB waiting).",
    )
    .sample(
        &[("event", "dns_request")],
        sum(|w| w.app.dns_requests) as f64,
    )
    .sample(
        &[("event", "flow_reversed")],
        sum(|w| w.app.reversed_flows) as f64,
    )
    .sample(&[("event", "tls_flow")], sum(|w| w.app.tls_flows) as f64)
    .sample(&[("event", "tls_sni")], sum(|w| w.app.tls_sni) as f64)
    .sample(&[("event", "tls_cert")], sum(|w| w.app.tls_certs) as f64)
    .sample(&[("event", "http_flow")], sum(|w| w.app.http_flows) as f64)
    .sample(
        &[("event", "http_request")],
        sum(|w| w.app.http_requests) as f64,
    )
    .sample(
        &[("event", "http_response")],
        sum(|w| w.app.http_responses) as f64,
    )
    .sample(
        &[("event", "http_body_compressed")],
        sum(|w| w.app.http_bodies_compressed) as f64,
    )
    .sample(
        &[("event", "tcp_given_up")],
        sum(|w| w.app.tcp_given_up) as f64,
    );
    e.single(
        "tidewatch_flows_active",
        Kind::Gauge,
        "Flows held in the workers' tables.",
        sum(|w| w.flows_active) as f64,
    );
    e.single(
        "tidewatch_stream_sessions_total",
        Kind::Counter,
        "TCP sessions the stream engine tracked.",
        sum(|w| w.stream_sessions) as f64,
    );
    e.single(
        "tidewatch_stream_memory_bytes",
        Kind::Gauge,
        "Reassembly memory held by all workers.",
        sum(|w| w.stream_memory) as f64,
    );
    let d = |f: fn(&detect::defrag::DefragStats) -> u64| {
        s.workers.iter().map(|w| f(&w.defrag)).sum::<u64>()
    };
    e.single(
        "tidewatch_defrag_fragments_total",
        Kind::Counter,
        "IPv4 and IPv6 fragments taken for reassembly.",
        d(|x| x.fragments) as f64,
    );
    e.single(
        "tidewatch_defrag_reassembled_total",
        Kind::Counter,
        "Datagrams rebuilt from their fragments and inspected.",
        d(|x| x.reassembled) as f64,
    );
    e.single(
        "tidewatch_defrag_timeouts_total",
        Kind::Counter,
        "Datagrams given up after defrag.timeout without a new fragment.",
        d(|x| x.timeouts) as f64,
    );
    e.single(
        "tidewatch_defrag_overlaps_total",
        Kind::Counter,
        "Fragments that overlapped data already held (the overlap policy chose the bytes).",
        d(|x| x.overlaps) as f64,
    );
    e.family(
        "tidewatch_defrag_fragments_dropped_total",
        Kind::Counter,
        "Fragments dropped, by reason: defrag.memcap reached, defrag.trackers reached, \
         their datagram timed out, or malformed.",
    )
    .sample(&[("reason", "memcap")], d(|x| x.memcap_drops) as f64)
    .sample(&[("reason", "trackers")], d(|x| x.tracker_drops) as f64)
    .sample(&[("reason", "timeout")], d(|x| x.expired_fragments) as f64)
    .sample(&[("reason", "invalid")], d(|x| x.invalid) as f64);
    e.single(
        "tidewatch_defrag_fragments_unrouted_total",
        Kind::Counter,
        "Fragments that came before their datagram's first fragment, sent to a worker by \
         addresses alone (dispatch mode): with several workers their datagram may not be \
         whole in the worker of its flow.",
        s.fragments_unrouted as f64,
    );
    e.single(
        "tidewatch_defrag_memory_bytes",
        Kind::Gauge,
        "Fragment memory held by all workers (bounded by defrag.memcap).",
        d(|x| x.memory) as f64,
    );
    e.single(
        "tidewatch_defrag_trackers",
        Kind::Gauge,
        "Datagrams in reassembly in all workers.",
        d(|x| x.trackers) as f64,
    );
    e.single(
        "tidewatch_rules_loaded",
        Kind::Gauge,
        "Rules enforced by the running rule set.",
        m.rules_enforced.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_rules_skipped",
        Kind::Gauge,
        "Rules of the running rule set's files skipped as unsupported.",
        m.rules_skipped.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_rules_reloads_total",
        Kind::Counter,
        "Rule sets swapped in since start.",
        s.generation as f64,
    );
    e.single(
        "tidewatch_alerts_total",
        Kind::Counter,
        "Alerts raised by the workers.",
        s.alerts as f64,
    );
    let xdp = |f: fn(&capture::xdp::QueueCounters) -> u64| s.xdp.iter().map(f).sum::<u64>();
    let sock = |f: fn(&capture::afxdp::SocketStats) -> u64| s.sockets.iter().map(f).sum::<u64>();
    e.family(
        "tidewatch_drops_total",
        Kind::Counter,
        "Packets not inspected (or inspected only in part), by stage and reason.",
    );
    for (stage, reason, v) in [
        ("xdp", "blocklist", xdp(|c| c.blocked)),
        ("xdp", "malformed", xdp(|c| c.errors)),
        ("rx_ring", "full", sock(|k| k.rx_ring_full)),
        ("fill_ring", "empty", sock(|k| k.fill_ring_empty)),
        ("socket", "invalid", sock(|k| k.rx_invalid)),
        (
            "socket",
            "other",
            sock(|k| k.rx_dropped.saturating_sub(k.fill_ring_empty)),
        ),
        ("decode", "error", s.decode.total()),
        ("stream", "memcap", sum(|w| w.stream_memcap_segments)),
        ("stream", "window", sum(|w| w.stream_window_segments)),
        ("stream", "pieces", sum(|w| w.stream_pieces_segments)),
        ("defrag", "memcap", d(|x| x.memcap_drops)),
        ("defrag", "trackers", d(|x| x.tracker_drops)),
        ("defrag", "timeout", d(|x| x.expired_fragments)),
        ("defrag", "invalid", d(|x| x.invalid)),
    ] {
        e.sample(&[("stage", stage), ("reason", reason)], v as f64);
    }
    let delivery = m.delivery.get();
    e.family(
        "tidewatch_alerts_dropped_total",
        Kind::Counter,
        "Alerts not delivered the normal way, by stage and reason: refused by the spool \
         (handed to the drop channel), lost by the drop channel, or failed at the EVE \
         output.",
    );
    e.sample(
        &[("stage", "output"), ("reason", "write_error")],
        m.output_errors.load(Relaxed) as f64,
    );
    if let Some((spool, _)) = delivery {
        for (stage, reason, v) in delivery::spool_drops(spool) {
            e.sample(&[("stage", stage), ("reason", reason)], v as f64);
        }
    }
    match delivery {
        Some((spool, shipper)) => {
            delivery::render(&mut e, spool, shipper);
            latency(
                &mut e,
                &[
                    ("detect", &m.detect_latency),
                    ("deliver", &shipper.deliver_latency),
                ],
            );
        }
        None => latency(&mut e, &[("detect", &m.detect_latency)]),
    }
    e.finish()
}
