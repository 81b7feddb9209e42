//! `cargo xtask golden-stateful [--update]`: run Suricata on the stateful golden pcap
//! with its rules and threshold.config, and store (or verify) its alerts.

use crate::golden::SURICATA_YAML_PATH;
use crate::golden_stateful::{
    write_stateful_pcap, STATEFUL_EXPECTED_PATH, STATEFUL_RULES_PATH, STATEFUL_THRESHOLD_PATH,
};
use crate::stream_check::read_expected;
use crate::suricata;
use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn run(update: bool) -> Result<()> {
    let rules = Path::new(STATEFUL_RULES_PATH);
    let yaml = Path::new(SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let dir = suricata::scratch_dir("golden-stateful")?;
    let pcap = dir.join("stateful.pcap");
    write_stateful_pcap(&pcap)?;
    let set = format!("threshold-file={STATEFUL_THRESHOLD_PATH}");
    let result = suricata::run_with(&pcap, rules, yaml, true, &[set.as_str()]);
    let _ = std::fs::remove_dir_all(&dir);
    let run = result?;
    let _ = std::fs::remove_dir_all(&run.log_dir);
    println!("{} alerts, per sid {:?}", run.alerts.len(), run.counts());
    if update {
        let json = serde_json::to_string_pretty(&run.alerts)? + "\n";
        std::fs::write(STATEFUL_EXPECTED_PATH, json)
            .with_context(|| format!("writing {STATEFUL_EXPECTED_PATH}"))?;
        println!("wrote {STATEFUL_EXPECTED_PATH}");
        return Ok(());
    }
    let stored = read_expected(STATEFUL_EXPECTED_PATH)?;
    if stored != run.alerts {
        bail!(
            "stateful golden mismatch ({} stored, {} now); run `cargo xtask golden-stateful --update` if intended",
            stored.len(),
            run.alerts.len()
        );
    }
    Ok(())
}
