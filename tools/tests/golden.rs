//! The golden test: tidewatch's per-sid alert counts on the golden pcap equal Suricata
//! 7's (`xtask/golden/expected.json`, produced by `cargo xtask golden --update`), and so do
//! the individual alerts (sid, addresses, ports, timestamp), with one and with two workers.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

type AlertKey = (u64, String, u64, String, u64, String);

fn alert_keys(alerts: &[Value]) -> Vec<AlertKey> {
    let mut v: Vec<AlertKey> = alerts
        .iter()
        .map(|a| {
            (
                a["alert"]["signature_id"].as_u64().unwrap(),
                a["src_ip"].as_str().unwrap().to_string(),
                a["src_port"].as_u64().unwrap_or(0),
                a["dest_ip"].as_str().unwrap().to_string(),
                a["dest_port"].as_u64().unwrap_or(0),
                a["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expected_keys() -> Vec<AlertKey> {
    let text = std::fs::read_to_string(xtask::golden::expected_alerts_path()).unwrap();
    let alerts: Vec<Value> = serde_json::from_str(&text).unwrap();
    alert_keys_from_expected(&alerts)
}

fn alert_keys_from_expected(alerts: &[Value]) -> Vec<AlertKey> {
    let mut v: Vec<AlertKey> = alerts
        .iter()
        .map(|a| {
            (
                a["sid"].as_u64().unwrap(),
                a["src_ip"].as_str().unwrap().to_string(),
                a["src_port"].as_u64().unwrap_or(0),
                a["dest_ip"].as_str().unwrap().to_string(),
                a["dest_port"].as_u64().unwrap_or(0),
                a["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn diff_table(ours: &BTreeMap<u64, u64>, theirs: &BTreeMap<u64, u64>) -> String {
    let mut s = String::from("sid: tidewatch vs suricata\n");
    let sids: std::collections::BTreeSet<_> = ours.keys().chain(theirs.keys()).collect();
    for sid in sids {
        let (a, b) = (ours.get(sid).copied().unwrap_or(0), theirs.get(sid).copied().unwrap_or(0));
        if a != b {
            s.push_str(&format!("  {sid}: {a} vs {b}\n"));
        }
    }
    s
}

#[test]
fn golden_pcap_alerts_equal_suricatas() {
    let dir = scratch_dir("golden");
    let pcap = dir.join("golden.pcap");
    xtask::golden::write_golden_pcap(&pcap).unwrap();
    let expected: BTreeMap<u64, u64> = xtask::golden::read_expected_counts()
        .unwrap()
        .into_iter()
        .map(|(s, n)| (s as u64, n))
        .collect();
    assert!(expected.len() > 40, "the golden file covers many rules");
    for workers in ["1", "2"] {
        let eve = dir.join(format!("eve-{workers}.json"));
        run_ok(
            tidewatch()
                .arg("replay")
                .arg(&pcap)
                .arg("--rules")
                .arg(xtask::golden::rules_path())
                .args(["--workers", workers, "--eve"])
                .arg(&eve),
        );
        let alerts = eve_lines(&eve);
        let ours = counts_by_sid(&alerts);
        assert!(
            ours == expected,
            "per-sid alert counts differ with {workers} worker(s):\n{}",
            diff_table(&ours, &expected)
        );
        assert_eq!(alert_keys(&alerts), expected_keys(), "alerts differ in detail");
    }
}
