//! `cargo xtask bench`: runs the criterion benchmarks in `benches/` and sets each result
//! beside a saved baseline, as a ratio. Criterion already keeps every run under
//! `target/criterion/<id>/`; this saves a named baseline (`--save NAME`) or reads one
//! back (`--against NAME`) and prints one table, so a change to a hot path is judged by
//! numbers taken on the same machine, the same day.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `cargo xtask bench` options.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Only these bench targets (decode, flow, engine, stream, spool, delivery); all by
    /// default.
    #[arg(long = "bench")]
    pub benches: Vec<String>,
    /// Save this run as baseline NAME.
    #[arg(long, conflicts_with = "against")]
    pub save: Option<String>,
    /// Compare this run with baseline NAME, saved earlier with --save.
    #[arg(long)]
    pub against: Option<String>,
    /// Only benchmarks whose id contains this (criterion's filter).
    #[arg(long)]
    pub filter: Option<String>,
    /// Seconds of measurement per benchmark (criterion's default is 5).
    #[arg(long)]
    pub measurement_time: Option<u64>,
    /// Write the table as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One benchmark's mean time now, and in the baseline when there is one.
#[derive(Debug, Serialize, PartialEq)]
pub struct Row {
    pub id: String,
    pub mean_ns: f64,
    pub baseline_ns: Option<f64>,
    /// `mean_ns / baseline_ns`: below 1 is faster.
    pub ratio: Option<f64>,
}

fn target_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(d));
    }
    let out = crate::cargo::command()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    v["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}

/// The mean point estimate of one criterion `estimates.json`.
fn mean_ns(path: &Path) -> Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    v["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no mean.point_estimate", path.display()))
}

/// Every benchmark under `root` (criterion's output folder) with a `new` result written
/// since `since` (older ones are from other runs), paired with baseline `against` where
/// it has one. Ids come from `benchmark.json`.
pub fn collect(root: &Path, against: Option<&str>, since: SystemTime) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            // `report` folders hold criterion's HTML, never results.
            if !p.is_dir() || p.file_name().is_some_and(|n| n == "report") {
                continue;
            }
            let new = p.join("new");
            if new.join("estimates.json").is_file() {
                let fresh = std::fs::metadata(new.join("estimates.json"))
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= since);
                if !fresh {
                    continue;
                }
                let bench: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(new.join("benchmark.json"))
                        .with_context(|| format!("reading {}", new.display()))?,
                )?;
                let id = bench["full_id"].as_str().unwrap_or_default().to_string();
                let mean = mean_ns(&new.join("estimates.json"))?;
                let base = match against {
                    Some(name) if p.join(name).join("estimates.json").is_file() => {
                        Some(mean_ns(&p.join(name).join("estimates.json"))?)
                    }
                    _ => None,
                };
                rows.push(Row {
                    id,
                    mean_ns: mean,
                    baseline_ns: base,
                    ratio: base.map(|b| mean / b),
                });
            } else {
                stack.push(p);
            }
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

fn human(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}

/// Runs the benchmarks and prints the table.
pub fn run(args: &BenchArgs) -> Result<Vec<Row>> {
    for name in args.save.iter().chain(&args.against) {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("baseline name {name:?}: use letters, digits and _ only");
        }
    }
    let mut cmd = crate::cargo::command();
    cmd.args(["bench", "-p", "benches"]);
    for b in &args.benches {
        cmd.args(["--bench", b]);
    }
    cmd.arg("--");
    if let Some(f) = &args.filter {
        cmd.arg(f);
    }
    if let Some(s) = &args.save {
        cmd.args(["--save-baseline", s]);
    }
    if let Some(t) = args.measurement_time {
        cmd.args(["--measurement-time", &t.to_string()]);
    }
    let start = SystemTime::now();
    let status = cmd.status().context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench failed ({status})");
    }
    let root = target_dir()?.join("criterion");
    let mut rows = collect(&root, args.against.as_deref(), start)?;
    if let Some(f) = &args.filter {
        rows.retain(|r| r.id.contains(f.as_str()));
    }
    if let Some(name) = &args.against {
        if rows.iter().all(|r| r.baseline_ns.is_none()) {
            bail!(
                "no benchmark has a saved baseline {name:?} under {}: run with --save {name} first",
                root.display()
            );
        }
    }
    println!(
        "{:<56} {:>12} {:>12} {:>8}",
        "benchmark", "now", "baseline", "ratio"
    );
    for r in &rows {
        println!(
            "{:<56} {:>12} {:>12} {:>8}",
            r.id,
            human(r.mean_ns),
            r.baseline_ns.map(human).unwrap_or_else(|| "-".into()),
            r.ratio
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(dir: &Path, mean: f64) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("estimates.json"),
            format!(r#"{{"mean":{{"point_estimate":{mean}}}}}"#),
        )
        .unwrap();
    }

    #[test]
    fn pairs_each_result_with_its_baseline() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("flow/update_1000_flows");
        estimate(&a.join("new"), 50.0);
        std::fs::write(
            a.join("new/benchmark.json"),
            r#"{"full_id":"flow/update_1000_flows"}"#,
        )
        .unwrap();
        estimate(&a.join("main"), 100.0);
        let b = t.path().join("decode/tcp");
        estimate(&b.join("new"), 30.0);
        std::fs::write(b.join("new/benchmark.json"), r#"{"full_id":"decode/tcp"}"#).unwrap();
        estimate(&t.path().join("report/new"), 1.0);
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert!(
            collect(
                t.path(),
                Some("main"),
                SystemTime::now() + std::time::Duration::from_secs(60)
            )
            .unwrap()
            .is_empty(),
            "results older than the run are left out"
        );
        let rows = collect(t.path(), Some("main"), before).unwrap();
        assert_eq!(
            rows,
            vec![
                Row {
                    id: "decode/tcp".into(),
                    mean_ns: 30.0,
                    baseline_ns: None,
                    ratio: None
                },
                Row {
                    id: "flow/update_1000_flows".into(),
                    mean_ns: 50.0,
                    baseline_ns: Some(100.0),
                    ratio: Some(0.5)
                },
            ]
        );
    }
}
