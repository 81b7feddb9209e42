//! `cargo xtask golden [--update]`: run Suricata on the golden pcap and store (or verify)
//! its per-sid alert counts and alert tuples.

use crate::golden::{self, EXPECTED_ALERTS_PATH, EXPECTED_PATH, RULES_PATH, SURICATA_YAML_PATH};
use crate::suricata::{self, AlertTuple};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Runs the golden check; with `update` rewrites the expected files instead of comparing.
pub fn run(update: bool) -> Result<()> {
    let rules = Path::new(RULES_PATH);
    let yaml = Path::new(SURICATA_YAML_PATH);
    suricata::check_rules(rules, yaml)?;
    let dir = suricata::scratch_dir("golden")?;
    let pcap = dir.join("golden.pcap");
    golden::write_golden_pcap(&pcap)?;
    let result = suricata::run(&pcap, rules, yaml, true);
    let _ = std::fs::remove_dir_all(&dir);
    let run = result?;
    let _ = std::fs::remove_dir_all(&run.log_dir);

    let counts = run.counts();
    let all_sids = rule_sids(rules)?;
    let silent: Vec<u64> = all_sids
        .iter()
        .copied()
        .filter(|s| !counts.contains_key(s))
        .collect();
    println!(
        "suricata: {} alerts, {} of {} rules fired; silent: {:?}",
        run.alerts.len(),
        counts.len(),
        all_sids.len(),
        silent
    );
    let counts_json = counts_to_json(&counts);
    let alerts_json = serde_json::to_string_pretty(&run.alerts)? + "\n";
    if update {
        std::fs::write(EXPECTED_PATH, &counts_json)
            .with_context(|| format!("writing {EXPECTED_PATH}"))?;
        std::fs::write(EXPECTED_ALERTS_PATH, &alerts_json)
            .with_context(|| format!("writing {EXPECTED_ALERTS_PATH}"))?;
        println!("wrote {EXPECTED_PATH} and {EXPECTED_ALERTS_PATH}");
        return Ok(());
    }
    let stored: BTreeMap<String, u64> = serde_json::from_str(
        &std::fs::read_to_string(EXPECTED_PATH)
            .with_context(|| format!("reading {EXPECTED_PATH}"))?,
    )
    .with_context(|| format!("parsing {EXPECTED_PATH}"))?;
    let stored_alerts: Vec<AlertTuple> = serde_json::from_str(
        &std::fs::read_to_string(EXPECTED_ALERTS_PATH)
            .with_context(|| format!("reading {EXPECTED_ALERTS_PATH}"))?,
    )
    .with_context(|| format!("parsing {EXPECTED_ALERTS_PATH}"))?;
    let mut diffs = Vec::new();
    let now: BTreeMap<String, u64> = counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    for k in stored
        .keys()
        .chain(now.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (a, b) = (
            stored.get(k).copied().unwrap_or(0),
            now.get(k).copied().unwrap_or(0),
        );
        if a != b {
            diffs.push(format!("sid {k}: stored {a}, suricata now {b}"));
        }
    }
    if stored_alerts != run.alerts {
        diffs.push(format!(
            "alert tuples differ ({} stored, {} now)",
            stored_alerts.len(),
            run.alerts.len()
        ));
    }
    if !diffs.is_empty() {
        bail!(
            "golden mismatch (run `cargo xtask golden --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    println!("golden: Suricata output equals {EXPECTED_PATH} and {EXPECTED_ALERTS_PATH}");
    Ok(())
}

/// `{"sid": count}` sorted numerically by sid, one entry per line.
pub fn counts_to_json(counts: &BTreeMap<u64, u64>) -> String {
    let body: Vec<String> = counts
        .iter()
        .map(|(k, v)| format!("  \"{k}\": {v}"))
        .collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

/// Every sid declared in a rules file (uncommented rules only).
pub fn rule_sids(rules: &Path) -> Result<Vec<u64>> {
    let text =
        std::fs::read_to_string(rules).with_context(|| format!("reading {}", rules.display()))?;
    let mut sids = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sid = line
            .split("sid:")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .and_then(|s| s.trim().parse().ok())
            .with_context(|| {
                format!("{}:{}: rule without a numeric sid", rules.display(), i + 1)
            })?;
        sids.push(sid);
    }
    Ok(sids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_json_is_sorted_numerically() {
        let m: BTreeMap<u64, u64> = [(10_001, 2), (999, 1), (5005, 6)].into_iter().collect();
        assert_eq!(
            counts_to_json(&m),
            "{\n  \"999\": 1,\n  \"5005\": 6,\n  \"10001\": 2\n}\n"
        );
    }

    #[test]
    fn rule_sids_reads_rules_and_rejects_missing_sid() {
        let dir = crate::suricata::scratch_dir("sids-test").unwrap();
        let good = dir.join("good.rules");
        std::fs::write(&good, "# c\nalert ip any any -> any any (sid:5; rev:1;)\n\n pass tcp any any -> any any (msg:\"x\"; sid: 7;)\n").unwrap();
        assert_eq!(rule_sids(&good).unwrap(), vec![5, 7]);
        let bad = dir.join("bad.rules");
        std::fs::write(&bad, "alert ip any any -> any any (msg:\"no sid\";)\n").unwrap();
        let err = rule_sids(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.rules:1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
