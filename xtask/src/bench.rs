//! `cargo xtask bench-suricata`: the same pcap and rules through Suricata and (when built)
//! tidewatch, wall-clock timed, as Gbit/s of frame bytes; medians of several runs, the
//! two engines' runs interleaved.

use crate::benchgen::pcap_frame_bytes;
use crate::suricata;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One engine's result.
#[derive(Debug, Serialize)]
pub struct EngineResult {
    pub engine: String,
    pub runs_s: Vec<f64>,
    pub median_s: f64,
    pub gbit_s: f64,
    pub alerts: Option<u64>,
}

/// The whole comparison, as written to JSON.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub pcap: String,
    pub rules: String,
    pub frames: u64,
    pub frame_bytes: u64,
    pub suricata: EngineResult,
    pub tidewatch: Option<EngineResult>,
    /// tidewatch Gbit/s divided by Suricata's (of the medians).
    pub ratio: Option<f64>,
    /// The median of the ratios of each interleaved pair of runs: steadier on a shared
    /// host, where Suricata's own time can vary by half between runs.
    pub paired_ratio: Option<f64>,
    /// Whether both engines raised the same number of alerts (per-sid equality is the
    /// golden tests' job).
    pub alerts_equal: Option<bool>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Where the release `tidewatch` binary would be: `$CARGO_TARGET_DIR/release` or the
/// workspace `target/release`.
pub fn tidewatch_binary() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("release/tidewatch"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/tidewatch"));
    candidates.into_iter().find(|p| p.is_file())
}

/// Parses `alerts: N` from tidewatch's stderr summary.
pub fn parse_alerts_line(text: &str) -> Option<u64> {
    text.lines().rev().find_map(|l| {
        let i = l.find("alerts:")?;
        l[i + 7..]
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .parse()
            .ok()
    })
}

/// Runs the comparison and prints a table; writes JSON to `json_out` when given.
pub fn run(pcap: &Path, rules: &Path, runs: usize, json_out: Option<&Path>) -> Result<BenchReport> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let (frame_bytes, frames) = pcap_frame_bytes(pcap)?;
    let yaml = Path::new(crate::golden::SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let gbit = |secs: f64| {
        if secs > 0.0 {
            frame_bytes as f64 * 8.0 / secs / 1e9
        } else {
            0.0
        }
    };

    let bin = tidewatch_binary();
    if bin.is_none() {
        eprintln!("tidewatch release binary not found: reporting Suricata alone");
    }
    // Runs alternate between the engines so that a noisy stretch of a shared host hits
    // both; each pair also gives a ratio of its own.
    let (mut s_times, mut t_times) = (Vec::new(), Vec::new());
    let (mut s_alerts, mut t_alerts) = (None, None);
    for i in 0..runs {
        // EVE alerts on (as tidewatch writes its EVE too); the count comes from eve.json,
        // which is what a comparison of alert sets needs (stats.log's detect.alert differs
        // slightly from the logged alerts).
        let run = suricata::run(pcap, rules, yaml, true)?;
        s_alerts = Some(run.alerts.len() as u64);
        let _ = std::fs::remove_dir_all(&run.log_dir);
        let t = run.wall.as_secs_f64();
        eprintln!("suricata run {}: {:.2} s ({:.3} Gbit/s)", i + 1, t, gbit(t));
        s_times.push(t);
        if let Some(bin) = &bin {
            let (t, alerts) = run_tidewatch(bin, pcap, rules)?;
            eprintln!(
                "tidewatch run {}: {:.2} s ({:.3} Gbit/s)",
                i + 1,
                t,
                gbit(t)
            );
            t_alerts = alerts;
            t_times.push(t);
        }
    }
    let result = |engine: &str, times: Vec<f64>, alerts| {
        let m = median(&times);
        EngineResult {
            engine: engine.into(),
            median_s: m,
            gbit_s: gbit(m),
            runs_s: times,
            alerts,
        }
    };
    let paired: Vec<f64> = s_times
        .iter()
        .zip(&t_times)
        .filter(|(_, &t)| t > 0.0)
        .map(|(s, t)| s / t)
        .collect();
    let sur = result("suricata", s_times, s_alerts);
    let tw = bin
        .is_some()
        .then(|| result("tidewatch", t_times, t_alerts));
    let ratio = tw.as_ref().map(|t| {
        if sur.gbit_s > 0.0 {
            t.gbit_s / sur.gbit_s
        } else {
            0.0
        }
    });
    let paired_ratio = tw.as_ref().map(|_| median(&paired));
    let alerts_equal = tw.as_ref().map(|t| t.alerts == sur.alerts);
    let report = BenchReport {
        pcap: pcap.display().to_string(),
        rules: rules.display().to_string(),
        frames,
        frame_bytes,
        suricata: sur,
        tidewatch: tw,
        ratio,
        paired_ratio,
        alerts_equal,
    };
    print_table(&report);
    if let Some(p) = json_out {
        std::fs::write(p, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    if report.alerts_equal == Some(false) {
        bail!("the engines raised different numbers of alerts: the ratio compares unequal work");
    }
    Ok(report)
}

/// One timed `tidewatch replay` with one worker: wall seconds and the alerts it counted.
fn run_tidewatch(bin: &Path, pcap: &Path, rules: &Path) -> Result<(f64, Option<u64>)> {
    let start = Instant::now();
    let out = Command::new(bin)
        .arg("replay")
        .arg(pcap)
        .arg("--rules")
        .arg(rules)
        .args(["--workers", "1", "--eve", "/dev/null"])
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let t = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "{} replay exited with {}:\n{err}",
            bin.display(),
            out.status
        );
    }
    let alerts = parse_alerts_line(&err)
        .or_else(|| parse_alerts_line(&String::from_utf8_lossy(&out.stdout)));
    Ok((t, alerts))
}

fn print_table(r: &BenchReport) {
    println!(
        "pcap {} ({} frames, {:.1} MB of frames), rules {}",
        r.pcap,
        r.frames,
        r.frame_bytes as f64 / 1e6,
        r.rules
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10}  runs (s)",
        "engine", "median s", "Gbit/s", "alerts"
    );
    for e in std::iter::once(&r.suricata).chain(r.tidewatch.as_ref()) {
        let alerts = e.alerts.map_or("-".to_string(), |a| a.to_string());
        let runs: Vec<String> = e.runs_s.iter().map(|t| format!("{t:.2}")).collect();
        println!(
            "{:<10} {:>10.2} {:>10.3} {:>10}  {}",
            e.engine,
            e.median_s,
            e.gbit_s,
            alerts,
            runs.join(" ")
        );
    }
    if let (Some(x), Some(p)) = (r.ratio, r.paired_ratio) {
        println!(
            "ratio tidewatch/suricata: {x:.2} (median of the interleaved pairs' ratios: {p:.2})"
        );
    }
    if r.alerts_equal == Some(false) {
        println!("ALERTS DIFFER: the ratio compares unequal work");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_line_and_median() {
        assert_eq!(parse_alerts_line("frames: 10\nalerts: 42\n"), Some(42));
        assert_eq!(parse_alerts_line("done, alerts: 7, dropped: 0"), Some(7));
        assert_eq!(parse_alerts_line("nothing"), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
