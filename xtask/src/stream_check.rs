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
        let _ = std::fs::remove_dir_all(&run.log_dir);
        println!(
            "{}: {} alerts, per sid {:?}",
            v.name,
            run.alerts.len(),
            run.counts()
        );
        let json = serde_json::to_string_pretty(&run.alerts)? + "\n";
        if update {
            std::fs::write(v.expected_path, json)
                .with_context(|| format!("writing {}", v.expected_path))?;
            println!("wrote {}", v.expected_path);
            continue;
        }
        let stored = read_expected(v.expected_path)?;
        if stored != run.alerts {
            diffs.push(format!(
                "{}: alerts differ ({} stored, {} now)",
                v.name,
                stored.len(),
                run.alerts.len()
            ));
        }
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
