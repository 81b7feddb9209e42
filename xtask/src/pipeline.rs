//! The whole tidewatch pipeline as `cargo xtask demo` and `cargo xtask loadtest` run it:
//! certificates, a TLS collector with a redb store, and a sensor capturing on an
//! interface and shipping its alerts through its spool, each a real `tidewatch` process
//! with its metrics endpoint. Both tasks read the numbers they report from those
//! endpoints, the same counters Prometheus scrapes.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The workspace checkout this xtask was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where cargo puts build output (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the `tidewatch` binary (release) and returns its path.
pub fn build_tidewatch() -> Result<PathBuf> {
    let status = crate::cargo::command()
        .current_dir(workspace_root())
        .args(["build", "--release", "-q", "-p", "tools"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p tools failed");
    }
    Ok(target_dir().join("release/tidewatch"))
}

/// A daemon we started: stopped with SIGINT (then killed) when dropped.
pub struct Daemon {
    name: &'static str,
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop in 15 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` with its stderr read on a thread: lines are echoed indented (all of them
/// with `echo`, else only warnings and errors), and the value after each of `wanted`
/// prefixes is returned once seen (at most 30 s).
pub fn start(
    name: &'static str,
    cmd: &mut Command,
    wanted: &[&'static str],
    echo: bool,
) -> Result<(Daemon, Vec<String>)> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the {name}"))?;
    let err = child.stderr.take().context("stderr")?;
    let daemon = Daemon { name, child };
    let (tx, rx) = mpsc::channel();
    let wanted_owned: Vec<&'static str> = wanted.to_vec();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if echo || line.contains("WARN") || line.contains("ERROR") {
                eprintln!("    [{name}] {line}");
            }
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

/// `GET /metrics` from `addr` (`HOST:PORT`), 5 s at most.
pub fn scrape(addr: &str) -> Result<String> {
    let sa: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("metrics address {addr}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(5))
        .with_context(|| format!("connecting {addr}"))?;
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
pub fn metric(text: &str, name: &str) -> f64 {
    samples(text, name).map(|(_, v)| v).sum()
}

/// The samples of metric `name` in a scrape: `(labels, value)`, labels as written
/// between the braces (empty without labels). NaN values are skipped.
pub fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |l| {
        let rest = l.strip_prefix(name)?;
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let (labels, v) = r.split_once('}')?;
            (labels, v)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            return None;
        };
        let v: f64 = value.trim().split(' ').next()?.parse().ok()?;
        (!v.is_nan()).then_some((labels, v))
    })
}

/// The value of label `key` in a label string as [`samples`] returns it.
pub fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// A quantile of `tidewatch_alert_latency_seconds{stage}` in a scrape (seconds).
pub fn latency_quantile(text: &str, stage: &str, q: f64) -> Option<f64> {
    samples(text, "tidewatch_alert_latency_seconds").find_map(|(l, v)| {
        let lq: f64 = label(l, "quantile")?.parse().ok()?;
        (label(l, "stage") == Some(stage) && (lq - q).abs() < 1e-9).then_some(v)
    })
}

/// Runs `cmd` to completion; its stdout, or an error with its stderr.
pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What to start.
pub struct PipelineConfig<'a> {
    /// The `tidewatch` binary.
    pub bin: &'a Path,
    /// Working directory: certificates, store, spool, sockets (created).
    pub dir: &'a Path,
    /// Interface the sensor captures on.
    pub iface: &'a str,
    pub rules: &'a Path,
    pub sensor_id: &'a str,
    /// Detection workers (`tidewatch sensor --workers`).
    pub workers: usize,
    pub spool_mb: u64,
    /// Where the sensor writes EVE JSON.
    pub eve: PathBuf,
    /// Echo every line the daemons log (else only warnings and errors).
    pub echo: bool,
}

/// A running sensor and collector. Dropping it stops the sensor first (it waits for the
/// collector's last acknowledgments), then the collector.
pub struct Pipeline {
    sensor: Option<Daemon>,
    collector: Option<Daemon>,
    /// The collector's TLS listener, `HOST:PORT`.
    pub collector_addr: String,
    /// Metrics endpoints, `HOST:PORT`.
    pub sensor_metrics: String,
    pub collector_metrics: String,
    pub db: PathBuf,
    pub collector_socket: PathBuf,
    pub sensor_socket: PathBuf,
}

impl Pipeline {
    /// Makes certificates, starts the collector, then the sensor delivering to it.
    pub fn start(c: &PipelineConfig<'_>) -> Result<Pipeline> {
        std::fs::create_dir_all(c.dir).with_context(|| format!("creating {}", c.dir.display()))?;
        let pki = c.dir.join("pki");
        let db = c.dir.join("alerts.redb");
        let collector_socket = c.dir.join("collector.sock");
        let sensor_socket = c.dir.join("sensor.sock");
        run_ok(
            Command::new(c.bin)
                .args(["certs", "--out"])
                .arg(&pki)
                .args(["--sensor", c.sensor_id]),
        )?;
        let (collector, found) = start(
            "collector",
            Command::new(c.bin)
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
                .arg(&collector_socket),
            &["collector listening on ", "metrics on http://"],
            c.echo,
        )?;
        let collector_addr = found[0].trim().to_string();
        let collector_metrics = found[1].trim().trim_end_matches("/metrics").to_string();
        let (sensor, found) = start(
            "sensor",
            Command::new(c.bin)
                .args(["sensor", "--iface", c.iface, "--rules"])
                .arg(c.rules)
                .args(["--workers", &c.workers.max(1).to_string()])
                .args(["--collector", &collector_addr, "--sensor-id", c.sensor_id])
                .arg("--spool")
                .arg(c.dir.join("sensor.spool"))
                .args(["--spool-mb", &c.spool_mb.to_string()])
                .args(["--metrics", "127.0.0.1:0"])
                .arg("--certs")
                .arg(&pki)
                .arg("--control-socket")
                .arg(&sensor_socket)
                .arg("--eve")
                .arg(&c.eve),
            &["capturing on ", "metrics on http://"],
            c.echo,
        )?;
        let sensor_metrics = found[1].trim().trim_end_matches("/metrics").to_string();
        Ok(Pipeline {
            sensor: Some(sensor),
            collector: Some(collector),
            collector_addr,
            sensor_metrics,
            collector_metrics,
            db,
            collector_socket,
            sensor_socket,
        })
    }

    /// Stops the sensor (SIGINT: it drains its workers and waits briefly for the last
    /// acknowledgments).
    pub fn stop_sensor(&mut self) {
        self.sensor.take();
    }

    /// Stops both daemons, sensor first; the store is then free to open.
    pub fn stop(mut self) {
        self.sensor.take();
        self.collector.take();
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.sensor.take();
        self.collector.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_labels_and_quantiles_are_read_from_a_scrape() {
        let text = "# TYPE x counter\n\
            tidewatch_drops_total{stage=\"xdp\",reason=\"blocklist\"} 3\n\
            tidewatch_drops_total{stage=\"rx_ring\",reason=\"full\"} 4\n\
            tidewatch_drops_total_other 9\n\
            tidewatch_alerts_total 7\n\
            tidewatch_alert_latency_seconds{stage=\"detect\",quantile=\"0.99\"} 0.002\n\
            tidewatch_alert_latency_seconds{stage=\"deliver\",quantile=\"0.99\"} NaN\n";
        assert_eq!(metric(text, "tidewatch_drops_total"), 7.0);
        assert_eq!(metric(text, "tidewatch_alerts_total"), 7.0);
        let s: Vec<_> = samples(text, "tidewatch_drops_total").collect();
        assert_eq!(label(s[1].0, "stage"), Some("rx_ring"));
        assert_eq!(label(s[1].0, "reason"), Some("full"));
        assert_eq!(latency_quantile(text, "detect", 0.99), Some(0.002));
        assert_eq!(latency_quantile(text, "deliver", 0.99), None);
        assert_eq!(latency_quantile(text, "detect", 0.5), None);
    }
}
