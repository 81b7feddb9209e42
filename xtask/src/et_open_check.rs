//! `cargo xtask golden-et-open [--update]`: Suricata's alerts on the 50 MB benchmark pcap
//! with the Emerging Threats Open rules tidewatch enforces (the ruleset lives beside the
//! checkout, in `../shared/rules/et-open/`, and is not copied here; only Suricata's
//! alerts are stored). `tools/tests/et_open.rs` requires tidewatch's alerts on the same
//! pcap with the whole ruleset to equal them, alert by alert.

use crate::benchgen::write_bench_pcap;
use crate::golden::SURICATA_YAML_PATH;
use crate::stream_check::record_or_compare;
use crate::suricata;
use anyhow::{bail, Context, Result};
use detect::rules::{load_files, Classifications, Vars};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Suricata's alerts with the enforced ET Open rules on the [`ET_OPEN_PCAP_MB`] bench pcap.
pub const ET_OPEN_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/et_open/expected_bench50.json"
);
/// Size of the benchmark pcap the reference is taken on.
pub const ET_OPEN_PCAP_MB: u64 = 50;

/// The ET Open directory: `TIDEWATCH_ET_OPEN_DIR`, else `../shared/rules/et-open` beside
/// the checkout; `None` when it holds no `et-open.rules`.
pub fn et_open_dir() -> Option<PathBuf> {
    let d = std::env::var_os("TIDEWATCH_ET_OPEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/rules/et-open")
        });
    d.join("et-open.rules").exists().then_some(d)
}

/// Writes to `out` the lines of `rules` that tidewatch enforces (Suricata then loads
/// exactly those); returns how many.
pub fn write_enforced(rules: &Path, out: &Path) -> Result<usize> {
    let classes = match rules.parent().map(|d| d.join("classification.config")) {
        Some(c) if c.exists() => Classifications::load(&c)?,
        _ => Classifications::default(),
    };
    let loaded = load_files(&[rules.to_path_buf()], &Vars::default(), &classes, false)?;
    let lines: BTreeSet<u32> = loaded.rules.iter().map(|r| r.location.line).collect();
    let text =
        std::fs::read_to_string(rules).with_context(|| format!("reading {}", rules.display()))?;
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| lines.contains(&(*i as u32 + 1)))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(out, kept).with_context(|| format!("writing {}", out.display()))?;
    Ok(lines.len())
}

/// Runs Suricata; with `update` rewrites the stored alerts instead of comparing.
pub fn run(update: bool) -> Result<()> {
    let Some(et) = et_open_dir() else {
        bail!("ET Open not found (set TIDEWATCH_ET_OPEN_DIR)");
    };
    let dir = suricata::scratch_dir("golden-et-open")?;
    let result = run_in(&dir, &et.join("et-open.rules"), update);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &Path, rules: &Path, update: bool) -> Result<()> {
    let enforced = dir.join("enforced.rules");
    let n = write_enforced(rules, &enforced)?;
    println!("{n} enforced rules");
    let pcap = dir.join("bench50.pcap");
    write_bench_pcap(&pcap, ET_OPEN_PCAP_MB)?;
    let run = suricata::run(&pcap, &enforced, Path::new(SURICATA_YAML_PATH), true)?;
    let mut diffs = Vec::new();
    record_or_compare("et-open", &run, ET_OPEN_EXPECTED_PATH, update, &mut diffs)?;
    if !diffs.is_empty() {
        bail!(
            "ET Open golden mismatch (run `cargo xtask golden-et-open --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}
