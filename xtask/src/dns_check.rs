//! `cargo xtask golden-dns [--update]`, `cargo xtask golden-tls [--update]` and `cargo
//! xtask golden-tls-certs [--update]`: run Suricata on an app-layer golden pcap with its
//! rules, and store (or verify) its alerts.

use crate::golden::SURICATA_YAML_PATH;
use crate::golden_dns::{write_dns_pcap, DNS_EXPECTED_PATH, DNS_RULES_PATH};
use crate::golden_tls::{write_tls_pcap, TLS_EXPECTED_PATH, TLS_RULES_PATH};
use crate::golden_tls_certs::{
    write_tls_certs_pcap, TLS_CERTS_EXPECTED_PATH, TLS_CERTS_RULES_PATH,
};
use crate::stream_check::record_or_compare;
use crate::suricata;
use anyhow::{bail, Result};
use std::path::Path;

/// The DNS golden set.
pub fn run(update: bool) -> Result<()> {
    run_set(
        "dns",
        DNS_RULES_PATH,
        DNS_EXPECTED_PATH,
        |p| write_dns_pcap(p),
        update,
    )
}

/// The TLS golden set.
pub fn run_tls(update: bool) -> Result<()> {
    run_set(
        "tls",
        TLS_RULES_PATH,
        TLS_EXPECTED_PATH,
        |p| write_tls_pcap(p),
        update,
    )
}

/// The TLS certificate golden set.
pub fn run_tls_certs(update: bool) -> Result<()> {
    run_set(
        "tls-certs",
        TLS_CERTS_RULES_PATH,
        TLS_CERTS_EXPECTED_PATH,
        |p| write_tls_certs_pcap(p),
        update,
    )
}

fn run_set(
    name: &str,
    rules: &str,
    expected: &str,
    write: fn(&Path) -> Result<()>,
    update: bool,
) -> Result<()> {
    let rules = Path::new(rules);
    let yaml = Path::new(SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let dir = suricata::scratch_dir(&format!("golden-{name}"))?;
    let pcap = dir.join(format!("{name}.pcap"));
    write(&pcap)?;
    let result = suricata::run_with(&pcap, rules, yaml, true, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    let mut diffs = Vec::new();
    record_or_compare(name, &result?, expected, update, &mut diffs)?;
    if !diffs.is_empty() {
        bail!(
            "{name} golden mismatch (run `cargo xtask golden-{name} --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}

/// The HTTP golden set.
pub fn run_http(update: bool) -> Result<()> {
    run_set(
        "http",
        crate::golden_http::HTTP_RULES_PATH,
        crate::golden_http::HTTP_EXPECTED_PATH,
        |p| crate::golden_http::write_http_pcap(p),
        update,
    )
}
