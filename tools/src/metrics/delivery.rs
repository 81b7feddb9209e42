//! Metrics of a daemon's spool, drop channel and shipper (a sensor delivering to a
//! collector).

use super::exposition::{Exposition, Kind};
use super::latency;
use std::sync::atomic::Ordering::Relaxed;
use store::shipper::ShipperStats;
use store::spool::{DropReason, SpoolStats};

/// `(stage, reason, count)` of alerts the spool handed to the drop channel, and those
/// the drop channel itself lost.
pub(super) fn spool_drops(s: &SpoolStats) -> Vec<(&'static str, &'static str, u64)> {
    let mut v: Vec<_> = DropReason::ALL
        .iter()
        .map(|r| ("spool", r.as_str(), s.dropped(*r)))
        .collect();
    v.push(("drop_channel", "lost", s.drop_lost.load(Relaxed)));
    v
}

pub(super) fn render(e: &mut Exposition, spool: &SpoolStats, shipper: &ShipperStats) {
    e.single(
        "tidewatch_spool_fill_ratio",
        Kind::Gauge,
        "Share of the spool holding alerts not yet acknowledged by the collector.",
        spool.fill_ratio(),
    );
    e.single(
        "tidewatch_spool_appended_total",
        Kind::Counter,
        "Alerts written to the spool.",
        spool.appended.load(Relaxed) as f64,
    );
    e.single(
        "tidewatch_spool_acked_total",
        Kind::Counter,
        "Alerts the collector acknowledged as committed, freed from the spool.",
        spool.acked.load(Relaxed) as f64,
    );
    e.family(
        "tidewatch_drop_channel_alerts_total",
        Kind::Counter,
        "Alerts the spool refused, by where the drop channel put them.",
    )
    .sample(
        &[("to", "socket")],
        spool.drop_to_socket.load(Relaxed) as f64,
    )
    .sample(&[("to", "file")], spool.drop_to_file.load(Relaxed) as f64);
    e.single(
        "tidewatch_collector_connected",
        Kind::Gauge,
        "1 while the link to the collector is up.",
        u8::from(shipper.connected.load(Relaxed)) as f64,
    );
    for (name, help, v) in [
        (
            "tidewatch_shipper_connects_total",
            "Connections made to the collector.",
            &shipper.connects,
        ),
        (
            "tidewatch_shipper_link_errors_total",
            "Links to the collector that broke.",
            &shipper.link_errors,
        ),
        (
            "tidewatch_shipper_records_sent_total",
            "Alert records sent to the collector, resends included.",
            &shipper.records_sent,
        ),
        (
            "tidewatch_shipper_records_resent_total",
            "Alert records sent again after a reconnect.",
            &shipper.records_resent,
        ),
    ] {
        e.single(name, Kind::Counter, help, v.load(Relaxed) as f64);
    }
}

/// A scrape of a process that only delivers (`replay --collector --metrics`): alerts the
/// spool refused, spool fill, the shipper, and deliver latency.
pub fn render_delivery(spool: &SpoolStats, shipper: &ShipperStats) -> String {
    let mut e = Exposition::new();
    e.family(
        "tidewatch_alerts_dropped_total",
        Kind::Counter,
        "Alerts not delivered the normal way, by stage and reason: refused by the spool \
         (handed to the drop channel) or lost by the drop channel.",
    );
    for (stage, reason, v) in spool_drops(spool) {
        e.sample(&[("stage", stage), ("reason", reason)], v as f64);
    }
    render(&mut e, spool, shipper);
    latency(&mut e, &[("deliver", &shipper.deliver_latency)]);
    e.finish()
}
