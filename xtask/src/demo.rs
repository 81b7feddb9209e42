//! `cargo xtask demo`: the README's main-job command. Until live capture lands it builds
//! tidewatch, generates a capture with known attacks in it, replays it through the
//! detection workers with the 100 demo rules, and shows the alerts and the run summary.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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

pub fn run(size_mb: u64) -> Result<()> {
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
    std::fs::create_dir_all(&dir)?;
    let pcap = dir.join("demo.pcap");
    let eve = dir.join("eve.json");
    let rules = workspace_root().join("xtask/bench/100.rules");

    println!(
        "==> generating {size_mb} MiB of mixed traffic with attacks in it: {}",
        pcap.display()
    );
    let stats = crate::benchgen::write_bench_pcap(&pcap, size_mb)?;
    println!(
        "    {} frames, {} flows, {} attack payloads",
        stats.frames, stats.flows, stats.triggers
    );

    println!(
        "==> tidewatch replay {} --rules {} --eve {}",
        pcap.display(),
        rules.display(),
        eve.display()
    );
    let status = Command::new(&bin)
        .arg("replay")
        .arg(&pcap)
        .arg("--rules")
        .arg(&rules)
        .arg("--eve")
        .arg(&eve)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    if !status.success() {
        bail!("tidewatch replay failed ({status})");
    }

    let text = std::fs::read_to_string(&eve)?;
    let alerts: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    println!("\n==> first alerts (EVE JSON in {}):", eve.display());
    println!("{:<28} {:>8}  {:<34} flow", "time", "sid", "signature");
    for a in alerts.iter().take(12) {
        println!(
            "{:<28} {:>8}  {:<34} {}:{} -> {}:{}",
            a["timestamp"].as_str().unwrap_or(""),
            a["alert"]["signature_id"],
            a["alert"]["signature"].as_str().unwrap_or(""),
            a["src_ip"].as_str().unwrap_or(""),
            a["src_port"],
            a["dest_ip"].as_str().unwrap_or(""),
            a["dest_port"]
        );
    }
    let mut by_sig: BTreeMap<String, u64> = BTreeMap::new();
    for a in &alerts {
        *by_sig
            .entry(a["alert"]["signature"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    let mut top: Vec<_> = by_sig.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("\n==> {} alerts; most frequent signatures:", alerts.len());
    for (sig, n) in top.iter().take(8) {
        println!("{n:>8}  {sig}");
    }
    println!(
        "\nTry: {} replay {} --rules {} --eve - | head -1 | python3 -m json.tool",
        bin.display(),
        pcap.display(),
        rules.display()
    );
    Ok(())
}
