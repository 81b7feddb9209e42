//! `cargo xtask golden-defrag [--update]`: run Suricata on the defrag golden pcap under
//! each overlap policy (its default, and `host-os-policy` giving every address one
//! policy), and on the per-host pcap under a `host-os-policy` of several networks, and
//! store (or verify) its alerts.

use crate::golden::SURICATA_YAML_PATH;
use crate::golden_defrag::{
    host_os_policy_yaml, write_defrag_pcap, write_host_policy_pcap, DEFRAG_RULES_PATH,
    DEFRAG_VARIANTS, HOSTS_EXPECTED_PATH, HOSTS_SURICATA_YAML,
};
use crate::stream_check::record_or_compare;
use crate::suricata;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Runs every variant; with `update` rewrites the expected files instead of comparing.
pub fn run(update: bool) -> Result<()> {
    let rules = Path::new(DEFRAG_RULES_PATH);
    let base = std::fs::read_to_string(SURICATA_YAML_PATH)
        .with_context(|| format!("reading {SURICATA_YAML_PATH}"))?;
    let dir = suricata::scratch_dir("golden-defrag")?;
    let result = run_in(&dir, rules, &base, update);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &Path, rules: &Path, base: &str, update: bool) -> Result<()> {
    suricata::check_rules(rules, Path::new(SURICATA_YAML_PATH))?;
    let pcap = dir.join("defrag.pcap");
    write_defrag_pcap(&pcap)?;
    let mut diffs = Vec::new();
    for v in &DEFRAG_VARIANTS {
        let yaml = dir.join(format!("suricata-{}.yaml", v.policy));
        let text = match v.suricata_os {
            None => base.to_string(),
            Some(os) => format!("{base}{}", host_os_policy_yaml(os)),
        };
        std::fs::write(&yaml, text).with_context(|| format!("writing {}", yaml.display()))?;
        let run = suricata::run(&pcap, rules, &yaml, true)?;
        record_or_compare(v.policy, &run, v.expected_path, update, &mut diffs)?;
    }
    // Per-host policies: the overlap shapes to hosts of different policies.
    let pcap = dir.join("hosts.pcap");
    write_host_policy_pcap(&pcap)?;
    let yaml = dir.join("suricata-hosts.yaml");
    std::fs::write(&yaml, format!("{base}{HOSTS_SURICATA_YAML}"))
        .with_context(|| format!("writing {}", yaml.display()))?;
    let run = suricata::run(&pcap, rules, &yaml, true)?;
    record_or_compare("hosts", &run, HOSTS_EXPECTED_PATH, update, &mut diffs)?;
    if !diffs.is_empty() {
        bail!(
            "defrag golden mismatch (run `cargo xtask golden-defrag --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}
