//! Delivery from a sensor (replay and live capture): each alert becomes an
//! `AlertRecord`, enters the spool (or, past its watermark, the drop channel), and the
//! shipper sends it to the collector, which acknowledges only what it committed.

use anyhow::{bail, Context, Result};
use detect::rules::Action as RuleAction;
use detect::worker::AlertEvent;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use store::drop_channel::DropChannel;
use store::link::LinkConfig;
use store::outbox::{Outbox, Outcome};
use store::record::{Action, AlertRecord, Origin};
use store::shipper::{Shipper, ShipperConfig};
use store::spool::{Spool, SpoolOptions, SpoolStats};
use store::wire::Command;

/// Payload and packet bytes kept per alert (a jumbo frame fits).
const MAX_EVIDENCE: usize = 65_535;

/// Where and how a sensor delivers.
pub struct DeliveryArgs {
    pub collector: String,
    pub spool: PathBuf,
    pub spool_mb: u64,
    pub insecure: bool,
    /// `ca.pem`, `sensor-NAME.pem` and `sensor-NAME-key.pem` from `tidewatch certs`.
    pub certs: Option<PathBuf>,
    /// The sensor id (default: the host name, DESIGN.md).
    pub sensor: Option<String>,
    /// The name the collector's certificate carries (default: the host of `collector`).
    pub server_name: Option<String>,
}

/// The machine's host name, the default sensor id.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sensor".into())
}

/// What delivery did, for the summary.
pub struct DeliverySummary {
    pub spooled: u64,
    pub dropped: u64,
    pub acked_through: u64,
    pub resent: u64,
}

impl std::fmt::Display for DeliverySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "delivered: {} spooled, {} dropped to the drop channel, acknowledged through seq {}",
            self.spooled, self.dropped, self.acked_through
        )?;
        if self.resent > 0 {
            write!(f, ", {} resent after reconnects", self.resent)?;
        }
        Ok(())
    }
}

/// The output side of a sensor with a collector: owned by the output thread.
pub struct Delivery {
    outbox: Outbox,
    shipper: Shipper,
    stats: Arc<SpoolStats>,
    sensor: String,
    iface: String,
    buf: rkyv::util::AlignedVec,
    last_spooled: u64,
    spooled: u64,
    dropped: u64,
}

fn tls_config(args: &DeliveryArgs, sensor: &str) -> Result<Option<Arc<rustls::ClientConfig>>> {
    match (args.insecure, &args.certs) {
        (true, _) => Ok(None),
        (false, Some(dir)) => Ok(Some(store::link::client_config(
            &dir.join("ca.pem"),
            &dir.join(format!("sensor-{sensor}.pem")),
            &dir.join(format!("sensor-{sensor}-key.pem")),
        )?)),
        (false, None) => bail!(
            "--certs DIR is required with --collector (make one with `tidewatch certs`), or --insecure for plain TCP"
        ),
    }
}

fn side_path(spool: &Path, suffix: &str) -> PathBuf {
    let mut p = spool.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

impl Delivery {
    /// Opens (or recovers) the spool and starts the shipper. Fails before any capture
    /// starts when the spool cannot be allocated or the certificates cannot be read.
    /// Commands the collector sends (`block`) go to `on_command`, on the shipper thread.
    pub fn open(
        args: &DeliveryArgs,
        iface: &str,
        on_command: impl FnMut(Command) + Send + 'static,
    ) -> Result<Delivery> {
        let sensor = args.sensor.clone().unwrap_or_else(host_name);
        let tls = tls_config(args, &sensor)?;
        let stats = Arc::new(SpoolStats::default());
        let spool = Spool::open_with_stats(
            &args.spool,
            &SpoolOptions::with_capacity(args.spool_mb.max(1) << 20),
            stats.clone(),
        )
        .with_context(|| format!("opening the spool {}", args.spool.display()))?;
        let r = &spool.recovery;
        if r.records > 0 {
            eprintln!(
                "spool: {} unacknowledged alerts from an earlier run will be delivered first",
                r.records
            );
        }
        let (writer, reader) = spool.split();
        let drops = DropChannel::new(
            side_path(&args.spool, ".drop.sock"),
            side_path(&args.spool, ".drops"),
            stats.clone(),
        )
        .context("creating the drop channel")?;
        let mut link = LinkConfig::new(args.collector.clone(), sensor.clone(), tls);
        link.server_name = args.server_name.clone();
        let shipper = Shipper::start(reader, ShipperConfig::new(link), on_command)
            .context("starting the shipper thread")?;
        Ok(Delivery {
            outbox: Outbox::new(writer, drops),
            shipper,
            stats,
            sensor,
            iface: iface.to_string(),
            buf: rkyv::util::AlignedVec::new(),
            last_spooled: 0,
            spooled: 0,
            dropped: 0,
        })
    }

    /// Spools one alert, or hands it to the drop channel. An error means the alert could
    /// be placed nowhere (both the spool and the drop channel failed).
    pub fn submit(&mut self, ev: &AlertEvent) -> Result<()> {
        let rec = record_of(ev, &self.sensor, &self.iface);
        let buf = std::mem::take(&mut self.buf);
        self.buf = rec.encode_into(buf)?;
        match self.outbox.submit(&mut self.buf)? {
            Outcome::Spooled { seq } => {
                self.last_spooled = seq;
                self.spooled += 1;
            }
            Outcome::Dropped { .. } => self.dropped += 1,
        }
        Ok(())
    }

    /// The spool's and the shipper's counters, for a metrics endpoint.
    pub fn metrics_sources(&self) -> (Arc<SpoolStats>, Arc<store::shipper::ShipperStats>) {
        (self.stats.clone(), self.shipper.stats().clone())
    }

    /// Waits until the collector acknowledged every alert spooled so far (at most
    /// `limit`, when given), then stops the shipper. Whatever is unacknowledged then, or
    /// when the process is killed meanwhile, stays in the spool for the next run.
    pub fn finish(self, limit: Option<Duration>) -> DeliverySummary {
        let target = self.last_spooled;
        let stats = self.shipper.stats().clone();
        let started = Instant::now();
        let mut told = Instant::now();
        loop {
            let acked = stats.acked_seq.load(Ordering::Acquire);
            if acked >= target || limit.is_some_and(|l| started.elapsed() >= l) {
                break;
            }
            if told.elapsed() >= Duration::from_secs(5) {
                eprintln!(
                    "waiting for the collector to acknowledge alerts up to seq {target} (at {acked}; Ctrl-C leaves them in the spool)"
                );
                told = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let summary = DeliverySummary {
            spooled: self.spooled,
            dropped: self.dropped,
            acked_through: stats.acked_seq.load(Ordering::Acquire),
            resent: stats.records_resent.load(Ordering::Relaxed),
        };
        drop(self.shipper.stop());
        let _ = self.stats;
        summary
    }
}

fn action_of(a: RuleAction) -> Action {
    match a {
        RuleAction::Alert => Action::Alert,
        RuleAction::Pass => Action::Pass,
        RuleAction::Drop => Action::Drop,
        RuleAction::Reject
        | RuleAction::RejectSrc
        | RuleAction::RejectDst
        | RuleAction::RejectBoth => Action::Reject,
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The stored form of a decoded packet's tunnel.
pub fn tunnel_record(t: &capture::decode::Tunnel) -> store::TunnelRecord {
    let addr = |a: Option<std::net::IpAddr>| a.map_or(store::record::Addr::NONE, Into::into);
    store::TunnelRecord {
        kind: t.kind as u8,
        src: addr(t.src),
        dst: addr(t.dst),
        proto: t.proto,
        src_port: t.src_port,
        dst_port: t.dst_port,
        id: t.id,
        depth: t.depth,
    }
}

/// The record for one alert, with payload and packet cut to [`MAX_EVIDENCE`].
pub fn record_of(ev: &AlertEvent, sensor: &str, iface: &str) -> AlertRecord {
    let rule = ev.rule();
    AlertRecord {
        sensor: sensor.to_string(),
        seq: 0,
        ts_ns: ev.ts_ns,
        created_ns: now_ns(),
        origin: Origin::Sensor,
        gid: rule.gid,
        sid: rule.sid,
        rev: rule.rev,
        msg: rule.msg.clone(),
        class: rule.category.clone(),
        priority: rule.priority,
        action: action_of(rule.action),
        flow_id: ev.flow_id,
        src: ev.src.into(),
        dst: ev.dst.into(),
        src_port: ev.src_port,
        dst_port: ev.dst_port,
        ip_proto: ev.ip_proto,
        icmp: ev.icmp,
        vlan: ev.vlan.clone(),
        tunnel: ev.tunnel.as_ref().map(tunnel_record),
        iface: iface.to_string(),
        payload: ev.payload[..ev.payload.len().min(MAX_EVIDENCE)].to_vec(),
        packet: ev.packet[..ev.packet.len().min(MAX_EVIDENCE)].to_vec(),
        packet_len: ev.packet.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use capture::decode::TunnelKind;

    /// The store names tunnel kinds by number; its table must stay capture's.
    #[test]
    fn tunnel_kind_names_agree_with_capture() {
        for k in TunnelKind::ALL {
            assert_eq!(store::record::tunnel_kind_name(k as u8), k.name());
            assert_eq!(TunnelKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(
            store::record::tunnel_kind_name(TunnelKind::ALL.len() as u8),
            "unknown"
        );
    }
}
