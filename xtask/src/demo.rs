//! `cargo xtask demo`: the README's main-job command, the whole pipeline on one machine.
//! It builds tidewatch, makes a network namespace joined to the host by a veth pair, makes
//! a CA and certificates, starts a collector and a sensor on the host end (XDP + AF_XDP,
//! delivering over TLS, metrics on), sends traffic with known attacks from inside the
//! namespace with the AF_XDP generator, waits until every alert is stored, then shows the
//! stored alerts, the metrics, and the numbers that must agree. Everything it started is
//! stopped and the namespace removed when it ends, also on error. Needs root.

use crate::loadtest::{generate, templates, triggers_sent, LoadtestArgs};
use anyhow::{anyhow, bail, Context, Result};
use capture::netns::VethLab;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Demo options.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Frames to send.
    #[arg(long, default_value_t = 200_000)]
    pub frames: u64,
    /// Frames per second.
    #[arg(long, default_value_t = 50_000)]
    pub pps: u64,
    /// Share of frames carrying an attack the demo rules detect.
    #[arg(long, default_value_t = 0.02)]
    pub alert_ratio: f64,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A daemon the demo started: stopped with SIGINT (then killed) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop in 10 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` with its stderr read on a thread: lines are echoed indented, and the
/// value after each of `wanted` prefixes is sent back once seen.
fn start(
    name: &'static str,
    cmd: &mut Command,
    wanted: &[&'static str],
) -> Result<(Daemon, Vec<String>)> {
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the {name}"))?;
    let err = child.stderr.take().context("stderr")?;
    let daemon = Daemon { name, child };
    let (tx, rx) = mpsc::channel();
    let wanted_owned: Vec<&'static str> = wanted.to_vec();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("    [{name}] {line}");
            for (i, w) in wanted_owned.iter().enumerate() {
                if let Some(rest) = line.strip_prefix(w) {
                    let _ = tx.send((i, rest.to_string()));
                }
            }
        }
    });
    let mut found = vec![String::new(); wanted.len()];
    let mut left = wanted.len();
    let end = Instant::now() + Duration::from_secs(30);
    while left > 0 {
        let wait = end.saturating_duration_since(Instant::now());
        let (i, v) = rx
            .recv_timeout(wait)
            .map_err(|_| anyhow!("the {name} did not report {:?} within 30 s", wanted))?;
        if found[i].is_empty() {
            left -= 1;
        }
        found[i] = v;
    }
    Ok((daemon, found))
}

/// `GET /metrics` from `addr` (`HOST:PORT`).
fn scrape(addr: &str) -> Result<String> {
    let mut s = std::net::TcpStream::connect(addr).with_context(|| format!("connecting {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body
        .split_once("\r\n\r\n")
        .map_or(body.clone(), |(_, b)| b.to_string()))
}

/// Sum of the samples of metric `name` (any labels) in a scrape.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("==> building tidewatch (release)");
    let status = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--release", "-q", "-p", "tools"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let bin = target_dir().join("release/tidewatch");
    let dir = target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let rules = workspace_root().join(crate::benchgen::BENCH_RULES_PATH);
    let pki = dir.join("pki");
    let db = dir.join("alerts.redb");
    let col_sock = dir.join("collector.sock");

    println!("==> a namespace joined to this host by a veth pair (IPv6 off)");
    let lab = VethLab::new("demo", 1).context("making the demo namespace (run as root)")?;
    println!(
        "    namespace {}, sensor on {}, traffic from {}",
        lab.ns, lab.host_if, lab.peer_if
    );

    println!("==> tidewatch certs: a CA, the collector's and the sensor's certificates");
    run_ok(
        Command::new(&bin)
            .args(["certs", "--out"])
            .arg(&pki)
            .args(["--sensor", "demo-sensor"]),
    )?;

    println!("==> tidewatch collector (TLS with client certificates, redb store, metrics)");
    let (collector, found) = start(
        "collector",
        Command::new(&bin)
            .args([
                "collector",
                "--listen",
                "127.0.0.1:0",
                "--metrics",
                "127.0.0.1:0",
            ])
            .arg("--db")
            .arg(&db)
            .arg("--certs")
            .arg(&pki)
            .arg("--control")
            .arg(&col_sock),
        &["collector listening on ", "metrics on http://"],
    )?;
    let col_addr = found[0].clone();
    let col_metrics = found[1].trim_end_matches("/metrics").to_string();

    println!(
        "==> tidewatch sensor on {} (XDP + AF_XDP, 100 rules, spool, TLS to the collector)",
        lab.host_if
    );
    let (sensor, found) = start(
        "sensor",
        Command::new(&bin)
            .args(["sensor", "--iface", &lab.host_if, "--rules"])
            .arg(&rules)
            .args(["--collector", &col_addr, "--sensor-id", "demo-sensor"])
            .arg("--spool")
            .arg(dir.join("sensor.spool"))
            .args(["--spool-mb", "64", "--metrics", "127.0.0.1:0"])
            .arg("--certs")
            .arg(&pki)
            .arg("--control-socket")
            .arg(dir.join("sensor.sock"))
            .arg("--eve")
            .arg(dir.join("eve.json")),
        &["capturing on ", "metrics on http://"],
    )?;
    let sensor_metrics = found[1].trim_end_matches("/metrics").to_string();

    println!(
        "==> sending {} frames at {} frames/s from the namespace, {:.0}% carrying attacks",
        args.frames,
        args.pps,
        args.alert_ratio * 100.0
    );
    let lt = LoadtestArgs {
        pps: args.pps,
        duration: (args.frames as f64 / args.pps.max(1) as f64 + 30.0).min(3600.0),
        count: args.frames,
        size: 256,
        alert_ratio: args.alert_ratio,
        rules: rules.clone(),
        workers: 1,
        max_loss: None,
        frames: 8192,
        block_all: false,
        json: None,
    };
    let (frames, is_trigger) = templates(lt.size, lt.alert_ratio)?;
    let progress = AtomicU64::new(0);
    let (tx, secs) = std::thread::scope(|s| {
        s.spawn(|| generate(&lab, &lt, &frames, &progress))
            .join()
            .map_err(|_| anyhow!("generator thread panicked"))?
    })?;
    let expected = triggers_sent(&tx, &is_trigger);
    println!(
        "    sent {} frames in {secs:.1} s, {expected} of them attacks",
        tx.completed
    );

    println!("==> waiting until the collector has stored every alert (at most 30 s)");
    let end = Instant::now() + Duration::from_secs(30);
    let (s_text, c_text) = loop {
        let s_text = scrape(&sensor_metrics)?;
        let c_text = scrape(&col_metrics)?;
        let raised = metric(&s_text, "tidewatch_alerts_total");
        let stored = metric(&c_text, "tidewatch_collector_records_stored_total");
        if (raised >= expected as f64 && stored >= raised) || Instant::now() > end {
            break (s_text, c_text);
        }
        std::thread::sleep(Duration::from_millis(250));
    };

    println!("\n==> tidewatch alerts --limit 10 (asked through the collector's control socket)");
    let table = run_ok(
        Command::new(&bin)
            .args(["alerts", "--limit", "10", "--db"])
            .arg(&db)
            .arg("--control")
            .arg(&col_sock),
    )?;
    print!("{table}");

    let seen = metric(&s_text, "tidewatch_packets_total");
    let raised = metric(&s_text, "tidewatch_alerts_total");
    let stored = metric(&c_text, "tidewatch_collector_records_stored_total");
    let drops = metric(&s_text, "tidewatch_drops_total");
    let alert_drops = metric(&s_text, "tidewatch_alerts_dropped_total");
    println!("\n==> the numbers (from the metrics endpoints)");
    for (what, n) in [
        ("frames sent", tx.completed as f64),
        ("frames the sensor received", seen),
        ("packet drops", drops),
        ("attacks sent", expected as f64),
        ("alerts raised", raised),
        ("alerts stored", stored),
        ("alerts dropped", alert_drops),
    ] {
        println!("    {what:<28}{n:>10}");
    }
    for (who, text) in [("sensor", &s_text), ("collector", &c_text)] {
        for l in text
            .lines()
            .filter(|l| l.starts_with("tidewatch_alert_latency_seconds{"))
        {
            println!("    {who:<10} {l}");
        }
    }
    println!(
        "\n    while running: sensor metrics at http://{sensor_metrics}/metrics, collector at http://{col_metrics}/metrics"
    );
    println!(
        "    kept in {}: alerts.redb (try `{} alerts --db {} --format json --payload --limit 3`), eve.json, pki/",
        dir.display(),
        bin.display(),
        db.display()
    );
    println!("    Grafana: tools/grafana/tidewatch.json with tools/grafana/provisioning/*.yaml");

    drop(sensor);
    drop(collector);
    drop(lab);
    if stored as u64 != raised as u64 || raised as u64 != expected {
        bail!(
            "alerts raised {raised}, stored {stored}, attacks sent {expected}: they should agree"
        );
    }
    println!("\n==> every attack raised one alert and every alert was stored once; demo done");
    Ok(())
}
