//! `cargo xtask golden-encap [--update]`: run Suricata on each tunnel golden pcap and
//! store (or verify) its alerts, tunnel objects included.

use crate::golden::SURICATA_YAML_PATH;
use crate::golden_encap::{
    encap_alert, write_scenario_pcap, EncapAlert, Scenario, ENCAP_EXPECTED_PATH, ENCAP_RULES_PATH,
};
use crate::suricata;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Suricata's alerts per scenario name.
pub type Expected = BTreeMap<String, Vec<EncapAlert>>;

/// Runs every scenario; with `update` rewrites the expected file instead of comparing.
pub fn run(update: bool) -> Result<()> {
    let rules = Path::new(ENCAP_RULES_PATH);
    let yaml = Path::new(SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let dir = suricata::scratch_dir("golden-encap")?;
    let result = run_in(&dir, rules, yaml);
    let _ = std::fs::remove_dir_all(&dir);
    let now = result?;
    if update {
        let json = serde_json::to_string_pretty(&now)? + "\n";
        std::fs::write(ENCAP_EXPECTED_PATH, json)
            .with_context(|| format!("writing {ENCAP_EXPECTED_PATH}"))?;
        println!("wrote {ENCAP_EXPECTED_PATH}");
        return Ok(());
    }
    let stored = read_expected()?;
    let diffs: Vec<String> = now
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {} alerts now", v.len()))
        .collect();
    if !diffs.is_empty() {
        bail!(
            "tunnel golden mismatch (run `cargo xtask golden-encap --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}

fn run_in(dir: &Path, rules: &Path, yaml: &Path) -> Result<Expected> {
    let mut out = Expected::new();
    for sc in Scenario::ALL {
        let pcap = dir.join(format!("{}.pcap", sc.name()));
        write_scenario_pcap(sc, &pcap)?;
        let run = suricata::run(&pcap, rules, yaml, true)?;
        let eve = run.log_dir.join("eve.json");
        let text =
            std::fs::read_to_string(&eve).with_context(|| format!("reading {}", eve.display()))?;
        let mut alerts = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}: bad JSON", eve.display()))?;
            alerts.extend(encap_alert(&v));
        }
        let _ = std::fs::remove_dir_all(&run.log_dir);
        alerts.sort();
        let mut per_sid = BTreeMap::new();
        for a in &alerts {
            *per_sid.entry(a.sid).or_insert(0u32) += 1;
        }
        println!(
            "{}: {} alerts, per sid {per_sid:?}",
            sc.name(),
            alerts.len()
        );
        out.insert(sc.name().to_string(), alerts);
    }
    Ok(out)
}

/// The stored reference.
pub fn read_expected() -> Result<Expected> {
    let text = std::fs::read_to_string(ENCAP_EXPECTED_PATH)
        .with_context(|| format!("reading {ENCAP_EXPECTED_PATH}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {ENCAP_EXPECTED_PATH}"))
}
