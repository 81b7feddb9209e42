//! Running Suricata on a pcap and reading its EVE alerts, for the golden reference and
//! the throughput comparison.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One alert as compared between engines: signature and flow tuple and packet time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlertTuple {
    pub timestamp: String,
    pub sid: u64,
    pub src_ip: String,
    pub src_port: u16,
    pub dest_ip: String,
    pub dest_port: u16,
}

/// What one Suricata run produced.
#[derive(Debug)]
pub struct SuricataRun {
    pub wall: Duration,
    pub alerts: Vec<AlertTuple>,
    pub log_dir: PathBuf,
    /// Suricata's console output (stdout, then stderr): its rule errors name file and line.
    pub log: String,
}

impl SuricataRun {
    /// Alert counts per sid (sorted).
    pub fn counts(&self) -> BTreeMap<u64, u64> {
        let mut m = BTreeMap::new();
        for a in &self.alerts {
            *m.entry(a.sid).or_insert(0) += 1;
        }
        m
    }
}

/// A fresh scratch directory under the system temp dir (removed by the caller).
pub fn scratch_dir(tag: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("tidewatch-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `suricata -T`: checks that the config and every rule load, failing on any rule error.
pub fn check_rules(rules: &Path, yaml: &Path) -> Result<()> {
    let dir = scratch_dir("suricata-T")?;
    let out = Command::new("suricata")
        .args(["-T", "-c"])
        .arg(yaml)
        .arg("-S")
        .arg(rules)
        .arg("-l")
        .arg(&dir)
        .env("TZ", "UTC")
        .output()
        .context("running suricata -T (is suricata installed?)")?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || text.contains("E: ") {
        bail!("suricata -T failed on {}:\n{text}", rules.display());
    }
    Ok(())
}

/// Runs `suricata -r pcap` in single runmode with `rules` and `yaml`, logging into a new
/// scratch directory, and reads the alerts from eve.json when `eve` is set.
pub fn run(pcap: &Path, rules: &Path, yaml: &Path, eve: bool) -> Result<SuricataRun> {
    run_with(pcap, rules, yaml, eve, &[])
}

/// [`run`] with extra `--set key=value` overrides.
pub fn run_with(
    pcap: &Path,
    rules: &Path,
    yaml: &Path,
    eve: bool,
    sets: &[&str],
) -> Result<SuricataRun> {
    let dir = scratch_dir("suricata")?;
    let start = Instant::now();
    let out = Command::new("suricata")
        .arg("-r")
        .arg(pcap)
        .args(["--runmode", "single", "-k", "none", "-c"])
        .arg(yaml)
        .arg("-S")
        .arg(rules)
        .arg("-l")
        .arg(&dir)
        .env("TZ", "UTC")
        .args([
            "--set",
            if eve {
                "outputs.0.eve-log.enabled=yes"
            } else {
                "outputs.0.eve-log.enabled=no"
            },
        ])
        .args(sets.iter().flat_map(|s| ["--set", s]))
        .output()
        .context("running suricata (is it installed?)")?;
    let wall = start.elapsed();
    if !out.status.success() {
        bail!(
            "suricata exited with {} on {}:\n{}{}",
            out.status,
            pcap.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let alerts = if eve {
        read_eve_alerts(&dir.join("eve.json"))?
    } else {
        Vec::new()
    };
    Ok(SuricataRun {
        wall,
        alerts,
        log_dir: dir,
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

/// Reads `event_type: alert` records from an EVE JSON file, sorted.
pub fn read_eve_alerts(path: &Path) -> Result<Vec<AlertTuple>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: bad JSON", path.display(), i + 1))?;
        if v["event_type"] != "alert" {
            continue;
        }
        let sid = v["alert"]["signature_id"]
            .as_u64()
            .with_context(|| format!("{}:{}: alert without signature_id", path.display(), i + 1))?;
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let port = |k: &str| {
            v[k].as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0)
        };
        out.push(AlertTuple {
            timestamp: s("timestamp"),
            sid,
            src_ip: s("src_ip"),
            src_port: port("src_port"),
            dest_ip: s("dest_ip"),
            dest_port: port("dest_port"),
        });
    }
    out.sort();
    Ok(out)
}
