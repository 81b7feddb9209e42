//! `cargo xtask loadtest`: proves the whole pipeline keeps up, with exact counts.
//!
//! A throwaway namespace holds one end of a veth pair (or `--iface` names an existing
//! interface); a real `tidewatch sensor` captures on the host end and ships its alerts
//! through its spool over TLS to a real `tidewatch collector` with a temporary redb store
//! (the same setup as `cargo xtask demo`, [`crate::pipeline`]). A copy-mode AF_XDP TX
//! socket sends prepared frames, `--alert-ratio` of them built to match loaded rules, at
//! `--pps` or as fast as it goes, for `--duration` seconds or `--count` frames.
//!
//! Every template is first run through an in-process detection worker, so the alerts
//! each one raises are known; expected alerts are exact: frames the kernel completed per
//! template × the alerts that template raises. The numbers reported come from the
//! daemons' metrics endpoints (the counters Prometheus scrapes), sampled every
//! `--sample-ms` by a bounded sampler thread for the plot, and from the store itself
//! (stored alerts, packet→alert latency with its maximum) once the daemons stopped.

use crate::benchgen::{bench_rules, content_bytes, Rng};
use crate::pipeline::{
    build_tidewatch, label, latency_quantile, metric, run_ok, samples, scrape, target_dir,
    Pipeline, PipelineConfig,
};
use anyhow::{anyhow, bail, Context, Result};
use capture::afxdp::{TxConfig, TxSocket};
use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::decode::{self, LinkType};
use capture::netns::VethLab;
use detect::engine::Engine;
use detect::rules::{self, Classifications, Vars};
use detect::worker::{Worker, WorkerConfig};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What to run (the `cargo xtask loadtest` options).
#[derive(Clone, Debug, clap::Args)]
pub struct LoadtestArgs {
    /// Frames per second (0: as fast as the generator goes).
    #[arg(long, default_value_t = 0)]
    pub pps: u64,
    /// Seconds to send (0 < S <= 3600).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Stop after this many frames (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Frame size in bytes (60..=1514).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Distinct flows (5-tuples) the frames spread over (1..=4096).
    #[arg(long, default_value_t = 64)]
    pub flows: usize,
    /// Fraction of frames built to match a loaded rule.
    #[arg(long, default_value_t = 0.01)]
    pub alert_ratio: f64,
    #[arg(long, default_value = crate::benchgen::BENCH_RULES_PATH)]
    pub rules: PathBuf,
    /// Detection workers of the sensor (more than 1: dispatch mode over one queue).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Exit non-zero when any stage lost more than this fraction (packets of offered,
    /// alerts of expected), or fewer alerts were stored than expected.
    #[arg(long)]
    pub max_loss: Option<f64>,
    /// Baseline: blocklist the generator's sources (10.0.0.0/8) so XDP drops every frame;
    /// measures what the generator reaches with no capture behind the program.
    #[arg(long)]
    pub block_all: bool,
    /// Capture on this existing interface instead of a fresh namespace and veth pair;
    /// needs --tx-iface.
    #[arg(long, requires = "tx_iface")]
    pub iface: Option<String>,
    /// With --iface: send from this interface (whose frames must arrive on --iface, e.g.
    /// its veth peer).
    #[arg(long, requires = "iface")]
    pub tx_iface: Option<String>,
    /// With --iface: the named network namespace (`ip netns`) --tx-iface lives in.
    #[arg(long, requires = "tx_iface")]
    pub tx_netns: Option<String>,
    /// Spool size of the sensor in MiB.
    #[arg(long, default_value_t = 256)]
    pub spool_mb: u64,
    /// Sampling interval of the rate/latency time series (100..=1000 ms).
    #[arg(long, default_value_t = 200)]
    pub sample_ms: u64,
    /// Longest wait after sending for the sensor and collector to finish (seconds).
    #[arg(long, default_value_t = 30)]
    pub drain_secs: u64,
    /// The tidewatch binary (default: build it with cargo, release).
    #[arg(long)]
    pub bin: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the rate and latency plot (PNG) here.
    #[arg(long, default_value = "loadtest.png")]
    pub plot: PathBuf,
    /// Do not write the plot.
    #[arg(long)]
    pub no_plot: bool,
    /// Echo everything the daemons log.
    #[arg(long)]
    pub verbose: bool,
}

/// Drops (or waits) at one stage for one reason.
#[derive(Clone, Debug, Serialize)]
pub struct StageCount {
    pub stage: String,
    pub reason: String,
    /// `packets`, `alerts`, `flows`, `waits` (backpressure, nothing lost) or
    /// `connections` (refused by the collector).
    pub unit: &'static str,
    pub count: u64,
    /// Of offered frames (packets), expected alerts (alerts), flows created (flows).
    pub fraction: f64,
}

/// Latency quantiles in seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    /// `None` where the source keeps no maximum (the collector's summary).
    pub max: Option<f64>,
    pub mean: f64,
    /// Where the figures come from.
    pub source: &'static str,
}

/// One point of the time series.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since the generator started.
    pub t: f64,
    pub offered: u64,
    pub seen: u64,
    pub inspected: u64,
    pub raised: u64,
    pub stored: u64,
    /// Collector's deliver quantiles over its 60 s window.
    pub deliver_p50: Option<f64>,
    pub deliver_p99: Option<f64>,
}

/// Packet→alert quantiles of the alerts raised in one sampling interval (from the store).
#[derive(Clone, Debug, Serialize)]
pub struct DetectPoint {
    pub t: f64,
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
}

/// What happened, all counts exact.
#[derive(Debug, Serialize)]
pub struct LoadtestReport {
    pub iface: String,
    pub size: usize,
    pub flows: usize,
    pub rules: usize,
    pub workers: usize,
    /// Target rate (0: as fast as possible).
    pub pps: u64,
    pub block_all: bool,
    pub seconds: f64,
    /// Frames the generator's socket completed (handed to the link).
    pub offered: u64,
    pub offered_pps: f64,
    /// Frames the XDP program counted.
    pub seen: u64,
    pub redirected: u64,
    /// Frames the workers inspected.
    pub inspected: u64,
    pub inspected_pps: f64,
    /// Trigger frames completed × alerts each raises (checked in process).
    pub alerts_expected: u64,
    pub alerts_raised: u64,
    /// Alerts in the collector's store after the run.
    pub alerts_stored: u64,
    /// Every stage the pipeline counts, zero or not.
    pub drops: Vec<StageCount>,
    pub collector_buffer_peak_bytes: u64,
    /// Packet timestamp (the sensor's receive time) to the alert, from the stored records.
    pub latency_detect: Quantiles,
    /// Alert to its durable commit at the collector, from the collector's hdrhistogram.
    pub latency_deliver: Quantiles,
    pub samples: Vec<Sample>,
    pub detect_series: Vec<DetectPoint>,
    /// Stages beyond --max-loss (empty when it passed or was not given).
    pub failures: Vec<String>,
}

impl LoadtestReport {
    /// The count at `stage`/`reason` (0 when absent).
    pub fn drop_count(&self, stage: &str, reason: &str) -> u64 {
        self.drops
            .iter()
            .filter(|d| d.stage == stage && d.reason == reason)
            .map(|d| d.count)
            .sum()
    }
}

/// Most templates the generator cycles through (its UMEM frames).
const MAX_TEMPLATES: usize = 4096;
const MIN_TEMPLATES: usize = 1024;

/// The frames the generator cycles through: TCP to port 80 and UDP to port 53 with
/// filler payloads over `flows` flows, and `ratio` of them UDP frames carrying one of the
/// UDP bench rules' triggers. Returns the frames and which are triggers.
pub fn templates(size: usize, ratio: f64, flows: usize) -> Result<(Vec<Vec<u8>>, Vec<bool>)> {
    if !(60..=1514).contains(&size) {
        bail!("--size {size}: frames are 60 to 1514 bytes");
    }
    if !(1..=MAX_TEMPLATES).contains(&flows) {
        bail!("--flows {flows}: give 1 to {MAX_TEMPLATES}");
    }
    if !(0.0..=1.0).contains(&ratio) {
        bail!("--alert-ratio {ratio}: give 0 to 1");
    }
    // A multiple of the flow count, so every flow gets the same number of templates.
    let n = flows * MIN_TEMPLATES.div_ceil(flows);
    let mut rng = Rng::new(0x71de);
    let udp_rules: Vec<_> = bench_rules().into_iter().filter(|r| !r.tcp).collect();
    let n_trig = ((ratio * n as f64).round() as usize).min(n);
    let mut out = Vec::with_capacity(n);
    let mut trig = Vec::with_capacity(n);
    let dst = Ipv4Addr::new(198, 51, 100, 7);
    let mut placed = 0usize;
    for i in 0..n {
        let f = i % flows;
        let src = Ipv4Addr::new(
            10,
            1 + (f / 4096) as u8,
            ((f / 64) % 64) as u8,
            1 + (f % 64) as u8,
        );
        let sport = 40_000 + (f % 64) as u16;
        let mut buf = Vec::with_capacity(size);
        let want_trigger = i * n_trig / n < (i + 1) * n_trig / n;
        let udp_payload = size.saturating_sub(42);
        // Half the flows TCP to port 80, half UDP to 53. A trigger frame goes from its
        // flow's source to its rule's UDP port: a 5-tuple of its own per port.
        let tcp = f.is_multiple_of(2);
        if want_trigger {
            let mut done = false;
            for k in 0..udp_rules.len() {
                let r = udp_rules[(placed + k) % udp_rules.len()];
                let mut t = content_bytes(r.content);
                if let Some((_, tail)) = r.pcre {
                    t.extend_from_slice(tail.as_bytes());
                }
                let at = r.offset.unwrap_or(0) as usize;
                if at + t.len() > udp_payload {
                    continue;
                }
                let mut p: Vec<u8> = (0..udp_payload)
                    .map(|_| b'a' + (rng.next_u64() % 26) as u8)
                    .collect();
                p[at..at + t.len()].copy_from_slice(&t);
                FrameSpec::ipv4(
                    src,
                    dst,
                    L4Spec::Udp {
                        src_port: sport,
                        dst_port: r.port,
                    },
                )
                .payload(&p)
                .write(&mut buf);
                placed += k + 1;
                done = true;
                break;
            }
            if !done {
                bail!("--size {size}: no UDP bench rule trigger fits in a frame this small");
            }
        } else {
            let plen = size.saturating_sub(if tcp { 54 } else { 42 });
            let p: Vec<u8> = (0..plen)
                .map(|_| b'a' + (rng.next_u64() % 26) as u8)
                .collect();
            let l4 = if tcp {
                L4Spec::Tcp(TcpSpec::new(sport, 80, capture::craft::tcp_flags::ACK))
            } else {
                L4Spec::Udp {
                    src_port: sport,
                    dst_port: 53,
                }
            };
            FrameSpec::ipv4(src, dst, l4).payload(&p).write(&mut buf);
        }
        trig.push(want_trigger);
        out.push(buf);
    }
    Ok((out, trig))
}

fn engine(path: &Path) -> Result<(Arc<Engine>, usize)> {
    let loaded = rules::load_files(
        &[path.to_path_buf()],
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .with_context(|| format!("loading {}", path.display()))?;
    let n = loaded.rules.len();
    Ok((Arc::new(Engine::build(loaded.rules)?), n))
}

/// The alerts each template raises, found by running the templates through a real
/// detection worker twice: a rule set whose answer differs the second time (thresholds,
/// flowbits) cannot give an exact expectation and is refused.
pub fn alerts_per_template(engine: &Arc<Engine>, frames: &[Vec<u8>]) -> Result<Vec<u64>> {
    let mut w = Worker::new(engine.clone(), &WorkerConfig::default(), 0);
    let mut rounds = [vec![0u64; frames.len()], vec![0u64; frames.len()]];
    let mut ts = 1_700_000_000_000_000_000u64;
    for round in &mut rounds {
        for (i, f) in frames.iter().enumerate() {
            let p = decode::decode(LinkType::Ethernet, f, false)
                .map_err(|e| anyhow!("template {i} does not decode: {e:?}"))?;
            let mut n = 0u64;
            ts += 1_000;
            w.handle_packet(ts, &p, i as u64, &mut |_| n += 1);
            round[i] = n;
        }
    }
    if rounds[0] != rounds[1] {
        bail!("the rules raise different alerts for the same frames sent again (stateful rules?); expected alerts cannot be exact");
    }
    let [first, _] = rounds;
    Ok(first)
}

/// How fast and how long the generator sends.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub pps: u64,
    pub duration: Duration,
    /// 0: no limit.
    pub count: u64,
}

/// Where the generator sends from.
#[derive(Clone, Debug)]
pub struct TxFrom {
    /// A named network namespace (`/run/netns/NAME`), or the current one.
    pub netns: Option<String>,
    pub iface: String,
}

fn enter_netns(name: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/run/netns/{name}"))
        .with_context(|| format!("network namespace {name}"))?;
    // SAFETY: a valid namespace fd; affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("entering netns {name}"));
    }
    Ok(())
}

/// Sends (call on a thread of its own: it may enter a namespace) until the time or count
/// runs out; returns the socket (for its completion counters) and the seconds spent.
/// `progress` follows the frames queued.
pub fn generate(
    from: &TxFrom,
    pace: &Pace,
    frames: &[Vec<u8>],
    progress: &AtomicU64,
) -> Result<(TxSocket, f64)> {
    if let Some(ns) = &from.netns {
        enter_netns(ns)?;
    }
    if let Some(c) = core_affinity::get_core_ids().and_then(|c| c.get(1).copied()) {
        core_affinity::set_for_current(c);
    }
    let mut tx = TxSocket::open(&from.iface, 0, &TxConfig::default(), frames)
        .with_context(|| format!("AF_XDP TX socket on {}", from.iface))?;
    let start = Instant::now();
    let mut sent = 0u64;
    let limit = if pace.count == 0 {
        u64::MAX
    } else {
        pace.count
    };
    loop {
        let elapsed = start.elapsed();
        if elapsed >= pace.duration || sent >= limit {
            break;
        }
        let allowed = if pace.pps == 0 {
            limit - sent
        } else {
            ((pace.pps as f64 * elapsed.as_secs_f64()) as u64)
                .min(limit)
                .saturating_sub(sent)
        };
        if allowed == 0 {
            std::hint::spin_loop();
            continue;
        }
        let n = tx.send(allowed.min(usize::MAX as u64) as usize)?;
        sent += n as u64;
        if n == 0 {
            std::hint::spin_loop();
        }
        progress.store(sent, Ordering::Relaxed);
    }
    let secs = start.elapsed().as_secs_f64();
    let left = tx.flush(Duration::from_secs(2));
    if left > 0 {
        eprintln!("warning: {left} frame(s) still not completed by the kernel after 2 s");
    }
    Ok((tx, secs))
}

/// Trigger frames the kernel completed: the alerts a sensor that inspected all of them owes.
pub fn triggers_sent(tx: &TxSocket, is_trigger: &[bool]) -> u64 {
    tx.completed_by_template
        .iter()
        .zip(is_trigger)
        .filter(|(_, &t)| t)
        .map(|(n, _)| n)
        .sum()
}

/// Frames completed per template × the alerts each raises.
pub fn expected_alerts(tx: &TxSocket, per_template: &[u64]) -> u64 {
    tx.completed_by_template
        .iter()
        .zip(per_template)
        .map(|(n, a)| n * a)
        .sum()
}

/// The counters read from one pair of scrapes.
#[derive(Clone, Debug, Default)]
struct Counters {
    seen: u64,
    redirected: u64,
    inspected: u64,
    raised: u64,
    stored: u64,
    spool_appended: u64,
    spool_acked: u64,
}

fn counters(s: &str, c: &str) -> Counters {
    let redirected = samples(s, "tidewatch_xdp_packets_total")
        .filter(|(l, _)| label(l, "action") == Some("redirected"))
        .map(|(_, v)| v)
        .sum::<f64>();
    Counters {
        seen: metric(s, "tidewatch_packets_total") as u64,
        redirected: redirected as u64,
        inspected: metric(s, "tidewatch_worker_packets_total") as u64,
        raised: metric(s, "tidewatch_alerts_total") as u64,
        stored: metric(c, "tidewatch_collector_records_stored_total") as u64,
        spool_appended: metric(s, "tidewatch_spool_appended_total") as u64,
        spool_acked: metric(s, "tidewatch_spool_acked_total") as u64,
    }
}

/// Scrapes both endpoints every `every` until `stop` (or `max` samples).
fn sample_loop(
    pipe: (&str, &str),
    every: Duration,
    max: usize,
    t0: &Mutex<Option<Instant>>,
    progress: &AtomicU64,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let mut out = Vec::with_capacity(max.min(100_000));
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) && out.len() < max {
        next += every;
        if let (Ok(s), Ok(c)) = (scrape(pipe.0), scrape(pipe.1)) {
            let start = *t0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(start) = start {
                let k = counters(&s, &c);
                out.push(Sample {
                    t: start.elapsed().as_secs_f64(),
                    offered: progress.load(Ordering::Relaxed),
                    seen: k.seen,
                    inspected: k.inspected,
                    raised: k.raised,
                    stored: k.stored,
                    deliver_p50: latency_quantile(&c, "deliver", 0.5),
                    deliver_p99: latency_quantile(&c, "deliver", 0.99),
                });
            }
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    out
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("fixed valid bounds")
}

fn quantiles_of(h: &Histogram<u64>, source: &'static str) -> Quantiles {
    let s = |v: u64| v as f64 / 1e9;
    Quantiles {
        count: h.len(),
        p50: s(h.value_at_quantile(0.5)),
        p90: s(h.value_at_quantile(0.9)),
        p99: s(h.value_at_quantile(0.99)),
        p999: s(h.value_at_quantile(0.999)),
        max: Some(s(h.max())),
        mean: h.mean() / 1e9,
        source,
    }
}

/// Reads the stopped collector's store: alerts stored, packet→alert latency overall and
/// per `bucket` since `start_ns`.
fn read_store(
    db: &Path,
    start_ns: u64,
    bucket: Duration,
) -> Result<(u64, Histogram<u64>, Vec<DetectPoint>)> {
    let store = store::db::Store::open(db, store::db::Indexes::Covering)?;
    let all = store.query(&store::db::Query::default())?;
    let mut total = hist();
    let mut per: Vec<Histogram<u64>> = Vec::new();
    for a in &all {
        let r = a.record()?;
        let (ts, created) = (r.ts_ns.to_native(), r.created_ns.to_native());
        let v = created.saturating_sub(ts).max(1);
        total.saturating_record(v);
        let i = (created.saturating_sub(start_ns) / bucket.as_nanos().max(1) as u64) as usize;
        if i < 100_000 {
            if per.len() <= i {
                per.resize_with(i + 1, hist);
            }
            per[i].saturating_record(v);
        }
    }
    let series = per
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty())
        .map(|(i, h)| DetectPoint {
            t: (i as f64 + 0.5) * bucket.as_secs_f64(),
            count: h.len(),
            p50: h.value_at_quantile(0.5) as f64 / 1e9,
            p99: h.value_at_quantile(0.99) as f64 / 1e9,
        })
        .collect();
    Ok((all.len() as u64, total, series))
}

/// Counter `name` summed over the samples whose `stage`/`reason` labels match.
fn staged(s: &str, name: &str, stage: &str, reason: &str) -> f64 {
    samples(s, name)
        .filter(|(l, _)| label(l, "stage") == Some(stage) && label(l, "reason") == Some(reason))
        .map(|(_, v)| v)
        .sum()
}

/// Every stage the sensor and collector count, as deltas between two scrapes, plus the
/// gaps between the counts (frames completed but never seen by XDP, and so on).
fn stage_counts(
    before: (&str, &str),
    after: (&str, &str),
    k: &Counters,
    offered: u64,
    expected: u64,
) -> Vec<StageCount> {
    let frac = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let mut out = Vec::new();
    let mut push = |stage: &str, reason: &str, unit: &'static str, count: u64, of: u64| {
        out.push(StageCount {
            stage: stage.into(),
            reason: reason.into(),
            unit,
            count,
            fraction: if unit == "waits" {
                0.0
            } else {
                frac(count, of)
            },
        })
    };
    let d = |name: &str, stage: &str, reason: &str, src: usize| {
        let (b, a) = if src == 0 {
            (before.0, after.0)
        } else {
            (before.1, after.1)
        };
        (staged(a, name, stage, reason) - staged(b, name, stage, reason)).max(0.0) as u64
    };
    let dm = |name: &str, src: usize| {
        let (b, a) = if src == 0 {
            (before.0, after.0)
        } else {
            (before.1, after.1)
        };
        (metric(a, name) - metric(b, name)).max(0.0) as u64
    };
    push(
        "link",
        "not_seen_by_xdp",
        "packets",
        offered.saturating_sub(k.seen),
        offered,
    );
    // Every (stage, reason) the sensor exports for packets, zero or not.
    let mut pkt_after_xdp = 0u64;
    for (l, _) in samples(after.0, "tidewatch_drops_total") {
        let (Some(stage), Some(reason)) = (label(l, "stage"), label(l, "reason")) else {
            continue;
        };
        let n = d("tidewatch_drops_total", stage, reason, 0);
        if matches!(stage, "rx_ring" | "fill_ring" | "socket") {
            pkt_after_xdp += n;
        }
        push(stage, reason, "packets", n, offered);
    }
    push(
        "socket",
        "unaccounted",
        "packets",
        k.redirected
            .saturating_sub(k.inspected)
            .saturating_sub(pkt_after_xdp),
        offered,
    );
    push(
        "worker_queue",
        "full_waits",
        "waits",
        dm("tidewatch_worker_queue_full_total", 0),
        0,
    );
    push(
        "alert_queue",
        "full_waits",
        "waits",
        dm("tidewatch_alert_queue_full_total", 0),
        0,
    );
    let flows_of = |s: &str, ev: &str| {
        samples(s, "tidewatch_flows_total")
            .filter(|(l, _)| label(l, "event") == Some(ev))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    let created = (flows_of(after.0, "created") - flows_of(before.0, "created")).max(0.0) as u64;
    let evicted = (flows_of(after.0, "evicted") - flows_of(before.0, "evicted")).max(0.0) as u64;
    push("flow", "memcap_evicted", "flows", evicted, created);
    push(
        "flow",
        "memcap_emergencies",
        "flows",
        dm("tidewatch_flow_emergencies_total", 0),
        created,
    );
    push(
        "detect",
        "alerts_missing",
        "alerts",
        expected.saturating_sub(k.raised),
        expected,
    );
    let mut alert_counted = 0u64;
    for (l, _) in samples(after.0, "tidewatch_alerts_dropped_total") {
        let (Some(stage), Some(reason)) = (label(l, "stage"), label(l, "reason")) else {
            continue;
        };
        let n = d("tidewatch_alerts_dropped_total", stage, reason, 0);
        alert_counted += n;
        push(stage, reason, "alerts", n, expected);
    }
    let commit_errors = dm("tidewatch_collector_commit_errors_total", 1);
    push(
        "collector",
        "commit_errors",
        "alerts",
        commit_errors,
        expected,
    );
    for (l, _) in samples(after.1, "tidewatch_collector_connections_rejected_total") {
        let Some(reason) = label(l, "reason") else {
            continue;
        };
        let n = samples(after.1, "tidewatch_collector_connections_rejected_total")
            .filter(|(x, _)| label(x, "reason") == Some(reason))
            .map(|(_, v)| v)
            .sum::<f64>()
            - samples(before.1, "tidewatch_collector_connections_rejected_total")
                .filter(|(x, _)| label(x, "reason") == Some(reason))
                .map(|(_, v)| v)
                .sum::<f64>();
        push(
            "collector",
            &format!("rejected_{reason}"),
            "connections",
            n.max(0.0) as u64,
            0,
        );
    }
    push(
        "collector",
        "unstored",
        "alerts",
        k.raised
            .saturating_sub(k.stored)
            .saturating_sub(alert_counted + commit_errors),
        expected,
    );
    out
}

/// Runs one load test.
pub fn run(args: &LoadtestArgs) -> Result<LoadtestReport> {
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration {}: give 0 < S <= 3600", args.duration);
    }
    if !(100..=1000).contains(&args.sample_ms) {
        bail!("--sample-ms {}: give 100 to 1000", args.sample_ms);
    }
    if !(1..=600).contains(&args.drain_secs) {
        bail!("--drain-secs {}: give 1 to 600", args.drain_secs);
    }
    let (frames, _is_trigger) = templates(args.size, args.alert_ratio, args.flows)?;
    let (engine, n_rules) = engine(&args.rules)?;
    let per_template = alerts_per_template(&engine, &frames)?;
    if args.alert_ratio > 0.0 && per_template.iter().all(|&n| n == 0) {
        bail!(
            "no template raises an alert with {}: the trigger frames match the bench rules (xtask/bench/100.rules)",
            args.rules.display()
        );
    }
    drop(engine);

    // Where to capture and where to send from.
    let (lab, sensor_if, from) = match (&args.iface, &args.tx_iface) {
        (Some(i), Some(t)) => {
            for (what, name, ns) in [
                ("--iface", i, None),
                ("--tx-iface", t, args.tx_netns.as_deref()),
            ] {
                let mut cmd = Command::new("ip");
                if let Some(ns) = ns {
                    cmd.args(["-n", ns]);
                }
                run_ok(cmd.args(["link", "show", "dev", name]))
                    .with_context(|| format!("{what} {name}: no such interface"))?;
            }
            (
                None,
                i.clone(),
                TxFrom {
                    netns: args.tx_netns.clone(),
                    iface: t.clone(),
                },
            )
        }
        (None, None) => {
            let lab = VethLab::new("lt", 1).context("making the veth lab (root needed)")?;
            let host = lab.host_if.clone();
            let from = TxFrom {
                netns: Some(lab.ns.clone()),
                iface: lab.peer_if.clone(),
            };
            (Some(lab), host, from)
        }
        _ => bail!("--iface needs --tx-iface (the interface whose frames arrive on it)"),
    };

    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => build_tidewatch()?,
    };
    std::fs::create_dir_all(target_dir()).ok();
    let work = tempfile::Builder::new()
        .prefix("tidewatch-loadtest-")
        .tempdir()
        .context("a temporary directory")?;
    let pipe = Pipeline::start(&PipelineConfig {
        bin: &bin,
        dir: work.path(),
        iface: &sensor_if,
        rules: &args.rules,
        sensor_id: "loadtest",
        workers: args.workers,
        spool_mb: args.spool_mb,
        eve: PathBuf::from("/dev/null"),
        echo: args.verbose,
    })?;
    if args.block_all {
        run_ok(
            Command::new(&bin)
                .args(["block", "10.0.0.0/8", "--control-socket"])
                .arg(&pipe.sensor_socket),
        )?;
    }
    // The sensor's link to the collector is up before the clock starts.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(&pipe.sensor_metrics)?;
        if metric(&s, "tidewatch_collector_connected") >= 1.0 {
            break;
        }
        if Instant::now() > end {
            bail!("the sensor did not connect to the collector within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = (
        scrape(&pipe.sensor_metrics)?,
        scrape(&pipe.collector_metrics)?,
    );
    let k0 = counters(&before.0, &before.1);

    let pace = Pace {
        pps: args.pps,
        duration: Duration::from_secs_f64(args.duration),
        count: args.count,
    };
    let every = Duration::from_millis(args.sample_ms);
    let max_samples =
        ((args.duration + args.drain_secs as f64 + 15.0) * 1000.0 / args.sample_ms as f64) as usize;
    let progress = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let t0: Mutex<Option<Instant>> = Mutex::new(None);
    let start_ns = now_ns();
    let endpoints = (
        pipe.sensor_metrics.as_str(),
        pipe.collector_metrics.as_str(),
    );
    let (gen, mut samples_raw, after, k) = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample_loop(endpoints, every, max_samples, &t0, &progress, &stop));
        *t0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let gen = s
            .spawn(|| generate(&from, &pace, &frames, &progress))
            .join()
            .map_err(|_| anyhow!("generator thread panicked"));
        let gen = match gen.and_then(|g| g) {
            Ok(g) => g,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let _ = sampler.join();
                return Err(e);
            }
        };
        progress.store(gen.0.completed, Ordering::Relaxed);
        let expected = if args.block_all {
            0
        } else {
            expected_alerts(&gen.0, &per_template)
        };
        // Drain: done when every expected alert is stored and the spool is empty, or
        // when nothing moved for 2 s with the spool empty, or at --drain-secs.
        let end = Instant::now() + Duration::from_secs(args.drain_secs);
        let mut last = (0u64, 0u64, 0u64, 0u64);
        let mut still = Instant::now();
        let result = loop {
            let pair = (scrape(endpoints.0), scrape(endpoints.1));
            let (sa, ca) = match pair {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => break Err(e),
            };
            let k = counters(&sa, &ca);
            let now = (k.seen, k.inspected, k.raised, k.stored);
            if now != last {
                last = now;
                still = Instant::now();
            }
            let idle = k.spool_acked >= k.spool_appended;
            let all_in = k.inspected - k0.inspected >= k.redirected - k0.redirected;
            if (idle
                && all_in
                && k.stored - k0.stored >= expected
                && k.raised - k0.raised >= expected)
                || (idle && still.elapsed() > Duration::from_secs(2))
                || Instant::now() > end
            {
                break Ok((sa, ca, k));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // A last sample after the drain, so the series ends where the counts end.
        std::thread::sleep(every);
        stop.store(true, Ordering::Relaxed);
        let samples_raw = sampler
            .join()
            .map_err(|_| anyhow!("sampler thread panicked"))?;
        let (sa, ca, k) = result?;
        Ok((gen, samples_raw, (sa, ca), k))
    })?;
    let (tx, secs) = gen;
    pipe.stop();
    drop(lab);

    // Counts of this run only.
    let k = Counters {
        seen: k.seen - k0.seen,
        redirected: k.redirected - k0.redirected,
        inspected: k.inspected - k0.inspected,
        raised: k.raised - k0.raised,
        stored: k.stored - k0.stored,
        spool_appended: k.spool_appended - k0.spool_appended,
        spool_acked: k.spool_acked - k0.spool_acked,
    };
    // The counts before the generator started are the zero of every series.
    samples_raw.insert(0, Sample::default());
    for s in samples_raw.iter_mut().skip(1) {
        s.seen = s.seen.saturating_sub(k0.seen);
        s.inspected = s.inspected.saturating_sub(k0.inspected);
        s.raised = s.raised.saturating_sub(k0.raised);
        s.stored = s.stored.saturating_sub(k0.stored);
    }
    let expected = if args.block_all {
        0
    } else {
        expected_alerts(&tx, &per_template)
    };
    let drops = stage_counts(
        (&before.0, &before.1),
        (&after.0, &after.1),
        &k,
        tx.completed,
        expected,
    );
    let (stored, detect_hist, detect_series) =
        read_store(&work.path().join("alerts.redb"), start_ns, every)?;
    let deliver = {
        let c = &after.1;
        let count = samples(c, "tidewatch_alert_latency_seconds_count")
            .filter(|(l, _)| label(l, "stage") == Some("deliver"))
            .map(|(_, v)| v)
            .sum::<f64>();
        let sum = samples(c, "tidewatch_alert_latency_seconds_sum")
            .filter(|(l, _)| label(l, "stage") == Some("deliver"))
            .map(|(_, v)| v)
            .sum::<f64>();
        let q = |x| latency_quantile(c, "deliver", x).unwrap_or(0.0);
        Quantiles {
            count: count as u64,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: None,
            mean: if count > 0.0 { sum / count } else { 0.0 },
            source: "collector hdrhistogram (tidewatch_alert_latency_seconds{stage=\"deliver\"}, 60 s window)",
        }
    };
    let mut r = LoadtestReport {
        iface: sensor_if,
        size: args.size,
        flows: args.flows,
        rules: n_rules,
        workers: args.workers,
        pps: args.pps,
        block_all: args.block_all,
        seconds: secs,
        offered: tx.completed,
        offered_pps: tx.completed as f64 / secs.max(1e-9),
        seen: k.seen,
        redirected: k.redirected,
        inspected: k.inspected,
        inspected_pps: k.inspected as f64 / secs.max(1e-9),
        alerts_expected: expected,
        alerts_raised: k.raised,
        alerts_stored: stored,
        drops,
        collector_buffer_peak_bytes: metric(&after.1, "tidewatch_collector_buffer_peak_bytes")
            as u64,
        latency_detect: quantiles_of(&detect_hist, "stored records: created_ns - ts_ns"),
        latency_deliver: deliver,
        samples: samples_raw,
        detect_series,
        failures: Vec::new(),
    };
    if let Some(m) = args.max_loss {
        r.failures = loss_failures(&r, m);
    }
    if r.offered > 0 && r.seen == 0 {
        r.failures.push(format!(
            "none of the {} frames sent on {} reached the XDP program on {}: do frames sent there arrive on it (its veth peer)?",
            r.offered, from.iface, r.iface
        ));
    }
    Ok(r)
}

/// `cargo xtask loadtest`: runs, prints the report, writes the JSON and the plot, and
/// fails when --max-loss was exceeded (after writing them, so the evidence stays).
pub fn run_and_report(args: &LoadtestArgs) -> Result<()> {
    let r = run(args)?;
    println!("{r}");
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&r)?)
            .with_context(|| format!("writing {}", p.display()))?;
        println!("  JSON: {}", p.display());
    }
    if !args.no_plot {
        crate::plot::write_png(&r, &args.plot)
            .with_context(|| format!("plotting to {}", args.plot.display()))?;
        println!("  plot: {}", args.plot.display());
    }
    if !r.failures.is_empty() {
        bail!("loss beyond --max-loss: {}", r.failures.join("; "));
    }
    Ok(())
}

/// The stages beyond `max_loss`, and stored < expected.
pub fn loss_failures(r: &LoadtestReport, max_loss: f64) -> Vec<String> {
    let mut f: Vec<String> = r
        .drops
        .iter()
        .filter(|d| matches!(d.unit, "packets" | "alerts"))
        .filter(|d| !(r.block_all && d.stage == "xdp" && d.reason == "blocklist"))
        .filter(|d| d.fraction > max_loss)
        .map(|d| {
            format!(
                "{}/{}: {} {} ({:.4}%) > --max-loss {}",
                d.stage,
                d.reason,
                d.count,
                d.unit,
                d.fraction * 100.0,
                max_loss
            )
        })
        .collect();
    if r.alerts_stored < r.alerts_expected {
        f.push(format!(
            "stored {} alerts < expected {}",
            r.alerts_stored, r.alerts_expected
        ));
    }
    f
}

fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

impl std::fmt::Display for LoadtestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = |n: u64| n as f64 / self.seconds.max(1e-9) / 1e6;
        writeln!(
            f,
            "loadtest on {}: {} B frames, {} flows, {} rules, {} worker(s), target {}{}",
            self.iface,
            self.size,
            self.flows,
            self.rules,
            self.workers,
            if self.pps == 0 {
                "as fast as possible".to_string()
            } else {
                format!("{} pps", self.pps)
            },
            if self.block_all {
                " (--block-all baseline)"
            } else {
                ""
            }
        )?;
        writeln!(f, "  sent for {:.2} s", self.seconds)?;
        for (what, n) in [
            ("offered", self.offered),
            ("seen by XDP", self.seen),
            ("redirected", self.redirected),
            ("inspected", self.inspected),
        ] {
            writeln!(f, "  {what:<22}{n:>12}  {:>8.3} Mpps", rate(n))?;
        }
        for (what, n) in [
            ("alerts expected", self.alerts_expected),
            ("alerts raised", self.alerts_raised),
            ("alerts stored", self.alerts_stored),
        ] {
            writeln!(f, "  {what:<22}{n:>12}")?;
        }
        writeln!(f, "  drops by stage (unit, count, share):")?;
        for d in &self.drops {
            writeln!(
                f,
                "    {:<34}{:<8}{:>10}  {}",
                format!("{}/{}", d.stage, d.reason),
                d.unit,
                d.count,
                match d.unit {
                    "waits" => "(backpressure, nothing lost)".to_string(),
                    "connections" => "(connections refused)".to_string(),
                    _ => format!("{:.4}%", d.fraction * 100.0),
                }
            )?;
        }
        writeln!(
            f,
            "  collector buffer peak {} bytes",
            self.collector_buffer_peak_bytes
        )?;
        for (what, q) in [
            ("packet->alert", &self.latency_detect),
            ("alert->stored", &self.latency_deliver),
        ] {
            writeln!(
                f,
                "  latency {what} (n={}): p50 {} p90 {} p99 {} p99.9 {} max {} mean {}",
                q.count,
                ms(q.p50),
                ms(q.p90),
                ms(q.p99),
                ms(q.p999),
                q.max.map_or("n/a".into(), ms),
                ms(q.mean)
            )?;
        }
        if self.failures.is_empty() {
            write!(f, "  loss check: ok")
        } else {
            write!(f, "  loss check FAILED: {}", self.failures.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_the_size_flows_and_trigger_ratio_asked() {
        let (t, trig) = templates(128, 0.25, 64).unwrap();
        assert_eq!(t.len(), 1024);
        assert!(t.iter().all(|f| f.len() == 128), "sizes");
        assert_eq!(trig.iter().filter(|&&x| x).count(), 256);
        let (t, trig) = templates(64, 0.0, 3000).unwrap();
        assert_eq!(t.len(), 3000);
        assert!(t.iter().all(|f| f.len() == 64));
        assert!(!trig.iter().any(|&x| x));
        let srcs: std::collections::HashSet<_> = t.iter().map(|f| f[26..30].to_vec()).collect();
        assert_eq!(srcs.len(), 3000, "one source address per flow");
        assert!(templates(59, 0.0, 1).is_err());
        assert!(templates(64, 0.0, 0).is_err());
        assert!(templates(64, 1.5, 1).is_err());
    }

    fn report(
        drops: &[(&str, &str, &'static str, u64, f64)],
        expected: u64,
        stored: u64,
    ) -> LoadtestReport {
        LoadtestReport {
            iface: "x".into(),
            size: 64,
            flows: 1,
            rules: 1,
            workers: 1,
            pps: 0,
            block_all: false,
            seconds: 1.0,
            offered: 1000,
            offered_pps: 1000.0,
            seen: 1000,
            redirected: 1000,
            inspected: 1000,
            inspected_pps: 1000.0,
            alerts_expected: expected,
            alerts_raised: expected,
            alerts_stored: stored,
            drops: drops
                .iter()
                .map(|&(stage, reason, unit, count, fraction)| StageCount {
                    stage: stage.into(),
                    reason: reason.into(),
                    unit,
                    count,
                    fraction,
                })
                .collect(),
            collector_buffer_peak_bytes: 0,
            latency_detect: Quantiles::default(),
            latency_deliver: Quantiles::default(),
            samples: Vec::new(),
            detect_series: Vec::new(),
            failures: Vec::new(),
        }
    }

    #[test]
    fn max_loss_names_each_stage_beyond_it_and_short_storage() {
        let r = report(
            &[
                ("fill_ring", "empty", "packets", 20, 0.02),
                ("rx_ring", "full", "packets", 1, 0.001),
                ("spool", "full", "alerts", 3, 0.03),
                ("worker_queue", "full_waits", "waits", 900, 0.9),
                ("flow", "memcap_evicted", "flows", 50, 0.5),
            ],
            100,
            97,
        );
        let f = loss_failures(&r, 0.01);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].starts_with("fill_ring/empty: 20 packets"), "{f:?}");
        assert!(f[1].starts_with("spool/full: 3 alerts"), "{f:?}");
        assert_eq!(f[2], "stored 97 alerts < expected 100");
        assert_eq!(
            loss_failures(&r, 0.05).len(),
            1,
            "only the storage shortfall"
        );
        let clean = report(&[("rx_ring", "full", "packets", 0, 0.0)], 100, 100);
        assert!(loss_failures(&clean, 0.0).is_empty());
        let mut blocked = report(&[("xdp", "blocklist", "packets", 1000, 1.0)], 0, 0);
        assert_eq!(loss_failures(&blocked, 0.0).len(), 1);
        blocked.block_all = true;
        assert!(
            loss_failures(&blocked, 0.0).is_empty(),
            "--block-all drops on purpose"
        );
    }

    #[test]
    fn every_trigger_template_raises_an_alert_and_no_filler_does() {
        let (frames, trig) = templates(256, 0.05, 64).unwrap();
        let (engine, _) = engine(Path::new(crate::benchgen::BENCH_RULES_PATH)).unwrap();
        let per = alerts_per_template(&engine, &frames).unwrap();
        for (i, (&n, &t)) in per.iter().zip(&trig).enumerate() {
            assert_eq!(n > 0, t, "template {i}: {n} alerts, trigger {t}");
        }
    }
}
