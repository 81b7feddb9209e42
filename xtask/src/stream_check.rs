//! `cargo xtask golden-stream [--update]`: run Suricata on the stream golden pcap under
//! each stream variant (default settings, midstream pickup) and store (or verify) its
//! alerts.

use crate::golden::SURICATA_YAML_PATH;
use crate::golden_stream::{write_stream_pcap, STREAM_RULES_PATH, STREAM_VARIANTS};
use crate::suricata::{self, AlertTuple};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Runs every variant; with `update` rewrites the expected files instead of comparing.
pub fn run(update: bool) -> Result<()> {
    let rules = Path::new(STREAM_RULES_PATH);
    let yaml = Path::new(SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let dir = suricata::scratch_dir("golden-stream")?;
    let pcap = dir.join("stream.pcap");
    write_stream_pcap(&pcap)?;
    let mut diffs = Vec::new();
    for v in &STREAM_VARIANTS {
        let result = suricata::run_with(&pcap, rules, yaml, true, v.suricata_set);
        let run = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        record_or_compare(v.name, &run, v.expected_path, update, &mut diffs)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !diffs.is_empty() {
        bail!(
            "stream golden mismatch (run `cargo xtask golden-stream --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}

/// Reads one variant's expected alerts.
pub fn read_expected(path: &str) -> Result<Vec<AlertTuple>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {path}"))
}

/// Prints one variant's Suricata run, then stores it as the expected file (`update`) or
/// compares it with the stored one, adding a line to `diffs` when they differ.
pub fn record_or_compare(
    name: &str,
    run: &suricata::SuricataRun,
    expected_path: &str,
    update: bool,
    diffs: &mut Vec<String>,
) -> Result<()> {
    let _ = std::fs::remove_dir_all(&run.log_dir);
    println!(
        "{name}: {} alerts, per sid {:?}",
        run.alerts.len(),
        run.counts()
    );
    if update {
        let json = serde_json::to_string_pretty(&run.alerts)? + "\n";
        std::fs::write(expected_path, json).with_context(|| format!("writing {expected_path}"))?;
        println!("wrote {expected_path}");
        return Ok(());
    }
    let stored = read_expected(expected_path)?;
    if stored != run.alerts {
        diffs.push(format!(
            "{name}: alerts differ ({} stored, {} now)",
            stored.len(),
            run.alerts.len()
        ));
    }
    Ok(())
}
