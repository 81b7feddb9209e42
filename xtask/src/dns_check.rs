//! `cargo xtask golden-dns [--update]`: run Suricata on the DNS golden pcap with its
//! rules, and store (or verify) its alerts.

use crate::golden::SURICATA_YAML_PATH;
use crate::golden_dns::{write_dns_pcap, DNS_EXPECTED_PATH, DNS_RULES_PATH};
use crate::stream_check::record_or_compare;
use crate::suricata;
use anyhow::{bail, Result};
use std::path::Path;

pub fn run(update: bool) -> Result<()> {
    let rules = Path::new(DNS_RULES_PATH);
    let yaml = Path::new(SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let dir = suricata::scratch_dir("golden-dns")?;
    let pcap = dir.join("dns.pcap");
    write_dns_pcap(&pcap)?;
    let result = suricata::run_with(&pcap, rules, yaml, true, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    let mut diffs = Vec::new();
    record_or_compare("dns", &result?, DNS_EXPECTED_PATH, update, &mut diffs)?;
    if !diffs.is_empty() {
        bail!(
            "dns golden mismatch (run `cargo xtask golden-dns --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}
