//! `cargo xtask loadtest`: how fast our own generator pushes frames into a veth and how
//! many of the frames the XDP program saw the sensor's workers inspected.
//!
//! A throwaway namespace holds one end of a veth pair; the sensor (the same
//! `detect::live::Sensor` as `tidewatch sensor`, in process) captures on the host end
//! with the benchmark rules; a copy-mode AF_XDP TX socket in the namespace sends
//! prepared frames (some carrying rule triggers) at `--pps` or as fast as it can, for
//! `--duration` seconds or `--count` frames, whichever comes first.

use crate::benchgen::{bench_rules, content_bytes, Rng};
use anyhow::{anyhow, bail, Context, Result};
use capture::afxdp::{TxConfig, TxSocket};
use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::netns::VethLab;
use detect::engine::Engine;
use detect::live::{LiveConfig, Sensor};
use detect::rules::{self, Classifications, Vars};
use detect::worker::WorkerConfig;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Fraction of frames carrying a rule trigger.
    #[arg(long, default_value_t = 0.01)]
    pub alert_ratio: f64,
    #[arg(long, default_value = crate::benchgen::BENCH_RULES_PATH)]
    pub rules: PathBuf,
    /// Detection workers (more than 1: dispatch mode over one queue).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Fail when more than this fraction of seen frames went uninspected.
    #[arg(long)]
    pub max_loss: Option<f64>,
    /// UMEM frames (and RX ring size) of the capture socket: how long a stall of the
    /// worker the socket absorbs.
    #[arg(long, default_value_t = 8192)]
    pub frames: u32,
    /// Baseline: blocklist the generator's sources so XDP drops every frame; measures
    /// what the generator reaches with no capture behind the program.
    #[arg(long)]
    pub block_all: bool,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What happened, all counts exact.
#[derive(Debug, Serialize)]
pub struct LoadtestReport {
    pub size: usize,
    pub rules: usize,
    pub seconds: f64,
    /// Frames the generator's socket completed (handed to the veth).
    pub offered: u64,
    pub offered_pps: f64,
    /// Frames the XDP program counted.
    pub seen: u64,
    pub redirected: u64,
    /// Dropped at XDP by the blocklist (`--block-all`).
    pub blocked: u64,
    /// Frames the workers took off the sockets and inspected.
    pub inspected: u64,
    pub inspected_fraction: f64,
    /// Kernel drops at the sockets (ring full, fill ring empty, other).
    pub socket_drops: u64,
    pub alerts: u64,
    /// Alerts the trigger frames should raise (one per trigger frame inspected, when
    /// nothing was dropped).
    pub expected_alerts: u64,
}

const TEMPLATES: usize = 1024;

/// The frames the generator cycles through: TCP to port 80 and UDP to port 53 with
/// filler payloads over 64 flows, and `ratio` of them UDP frames carrying one of the
/// UDP bench rules' triggers. Returns the frames and which are triggers.
pub(crate) fn templates(size: usize, ratio: f64) -> Result<(Vec<Vec<u8>>, Vec<bool>)> {
    if !(60..=1514).contains(&size) {
        bail!("--size {size}: frames are 60 to 1514 bytes");
    }
    let mut rng = Rng::new(0x71de);
    let udp_rules: Vec<_> = bench_rules().into_iter().filter(|r| !r.tcp).collect();
    let n_trig = ((ratio.clamp(0.0, 1.0) * TEMPLATES as f64).round() as usize).min(TEMPLATES);
    let mut out = Vec::with_capacity(TEMPLATES);
    let mut trig = Vec::with_capacity(TEMPLATES);
    let dst = Ipv4Addr::new(198, 51, 100, 7);
    let mut placed = 0usize;
    for i in 0..TEMPLATES {
        let src = Ipv4Addr::new(10, 1, (i % 8) as u8, 1 + (i % 64) as u8);
        let sport = 40_000 + (i % 64) as u16;
        let mut buf = Vec::with_capacity(size);
        let want_trigger = i * n_trig / TEMPLATES < (i + 1) * n_trig / TEMPLATES;
        let udp_payload = size.saturating_sub(42);
        if want_trigger {
            // The next UDP rule whose trigger fits.
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
            let tcp = i % 2 == 0;
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

fn engine(path: &PathBuf) -> Result<(Arc<Engine>, usize)> {
    let loaded = rules::load_files(
        std::slice::from_ref(path),
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .with_context(|| format!("loading {}", path.display()))?;
    let n = loaded.rules.len();
    Ok((Arc::new(Engine::build(loaded.rules)?), n))
}

/// Sends from inside the lab's namespace until the time or count runs out; returns the
/// socket (for its completion counters) and the seconds spent sending.
pub(crate) fn generate(
    lab: &VethLab,
    args: &LoadtestArgs,
    frames: &[Vec<u8>],
    progress: &AtomicU64,
) -> Result<(TxSocket, f64)> {
    lab.enter()?;
    if let Some(c) = core_affinity::get_core_ids().and_then(|c| c.get(1).copied()) {
        core_affinity::set_for_current(c);
    }
    let mut tx = TxSocket::open(&lab.peer_if, 0, &TxConfig::default(), frames)?;
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let mut sent = 0u64;
    let limit = if args.count == 0 {
        u64::MAX
    } else {
        args.count
    };
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration || sent >= limit {
            break;
        }
        let allowed = if args.pps == 0 {
            limit - sent
        } else {
            ((args.pps as f64 * elapsed.as_secs_f64()) as u64)
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
pub(crate) fn triggers_sent(tx: &TxSocket, is_trigger: &[bool]) -> u64 {
    tx.completed_by_template
        .iter()
        .zip(is_trigger)
        .filter(|(_, &t)| t)
        .map(|(n, _)| n)
        .sum()
}

/// Runs one load test.
pub fn run(args: &LoadtestArgs) -> Result<LoadtestReport> {
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration {}: give 0 < S <= 3600", args.duration);
    }
    let (frames, is_trigger) = templates(args.size, args.alert_ratio)?;
    let (engine, n_rules) = engine(&args.rules)?;
    let lab = VethLab::new("lt", 1).context("making the veth lab (root needed)")?;
    let alerts = Arc::new(AtomicU64::new(0));
    let a2 = alerts.clone();
    let cfg = LiveConfig {
        iface: lab.host_if.clone(),
        queues: 1,
        workers: Some(args.workers.max(1)),
        rx: capture::afxdp::RxConfig {
            frames: args.frames,
            rx_ring: args.frames,
            ..Default::default()
        },
        ..LiveConfig::default()
    };
    let sensor = Sensor::start(&cfg, engine, &WorkerConfig::default(), move |_| {
        a2.fetch_add(1, Ordering::Relaxed);
    })?;
    if args.block_all {
        sensor.block(&"10.0.0.0/8".parse()?)?;
    }
    let progress = AtomicU64::new(0);
    let (tx, secs) = std::thread::scope(|s| {
        s.spawn(|| generate(&lab, args, &frames, &progress))
            .join()
            .map_err(|_| anyhow!("generator thread panicked"))?
    })?;
    sensor.wait_idle(Duration::from_secs(10));
    let report = sensor.stop();
    let st = &report.status;
    let expected = triggers_sent(&tx, &is_trigger);
    let seen = st.seen();
    let inspected = st.inspected_total();
    let r = LoadtestReport {
        size: args.size,
        rules: n_rules,
        seconds: secs,
        offered: tx.completed,
        offered_pps: tx.completed as f64 / secs.max(1e-9),
        seen,
        redirected: st.redirected(),
        blocked: st.xdp.iter().map(|c| c.blocked).sum(),
        inspected,
        inspected_fraction: if seen == 0 {
            0.0
        } else {
            inspected as f64 / seen as f64
        },
        socket_drops: st.sockets.iter().map(|k| k.total()).sum(),
        alerts: alerts.load(Ordering::Relaxed),
        expected_alerts: expected,
    };
    if let Some(m) = args.max_loss {
        if r.inspected_fraction < 1.0 - m {
            bail!(
                "inspected {:.4} of seen frames, below 1 - --max-loss {m}: {r:?}",
                r.inspected_fraction
            );
        }
    }
    Ok(r)
}

impl std::fmt::Display for LoadtestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} B frames, {} rules, {:.2} s: offered {} ({:.3} Mpps)",
            self.size,
            self.rules,
            self.seconds,
            self.offered,
            self.offered_pps / 1e6
        )?;
        writeln!(
            f,
            "XDP seen {} redirected {} blocked {}; inspected {} ({:.4}% of seen); socket drops {}",
            self.seen,
            self.redirected,
            self.blocked,
            self.inspected,
            self.inspected_fraction * 100.0,
            self.socket_drops
        )?;
        write!(
            f,
            "alerts {} (trigger frames offered {})",
            self.alerts, self.expected_alerts
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_the_size_and_trigger_ratio_asked() {
        let (t, trig) = templates(128, 0.25).unwrap();
        assert_eq!(t.len(), TEMPLATES);
        assert!(t.iter().all(|f| f.len() == 128), "sizes");
        assert_eq!(trig.iter().filter(|&&x| x).count(), TEMPLATES / 4);
        let (t, trig) = templates(64, 0.0).unwrap();
        assert!(t.iter().all(|f| f.len() == 64));
        assert!(!trig.iter().any(|&x| x));
        assert!(templates(59, 0.0).is_err());
    }
}
