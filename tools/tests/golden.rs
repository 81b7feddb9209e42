//! The golden test: tidewatch's per-sid alert counts on the golden pcap equal Suricata
//! 7's (`xtask/golden/expected.json`, produced by `cargo xtask golden --update`), and so do
//! the individual alerts (sid, addresses, ports, timestamp), with one and with two workers.
//! `tcp` payload rules are inspected on the reassembled stream, so their alerts carry the
//! packet that triggered stream inspection, as Suricata's do.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// (sid, src, sport, dst, dport, timestamp); addresses parsed, because Suricata writes
/// IPv6 uncompressed and we write RFC 5952 text.
type AlertKey = (u64, IpAddr, u64, IpAddr, u64, String);

fn key(sid: u64, a: &Value) -> AlertKey {
    let ip = |f: &str| a[f].as_str().unwrap().parse::<IpAddr>().unwrap();
    let ts = a["timestamp"].as_str().unwrap().to_string();
    (
        sid,
        ip("src_ip"),
        a["src_port"].as_u64().unwrap_or(0),
        ip("dest_ip"),
        a["dest_port"].as_u64().unwrap_or(0),
        ts,
    )
}

fn sorted_keys(alerts: &[Value], sid_of: impl Fn(&Value) -> u64) -> Vec<AlertKey> {
    let mut v: Vec<AlertKey> = alerts.iter().map(|a| key(sid_of(a), a)).collect();
    v.sort();
    v
}

fn expected_keys() -> Vec<AlertKey> {
    let text = std::fs::read_to_string(xtask::golden::expected_alerts_path()).unwrap();
    let alerts: Vec<Value> = serde_json::from_str(&text).unwrap();
    sorted_keys(&alerts, |a| a["sid"].as_u64().unwrap())
}

fn diff_table(ours: &BTreeMap<u64, u64>, theirs: &BTreeMap<u64, u64>) -> String {
    let mut s = String::from("sid: tidewatch vs suricata\n");
    let sids: BTreeSet<_> = ours.keys().chain(theirs.keys()).collect();
    for sid in sids {
        let (a, b) = (
            ours.get(sid).copied().unwrap_or(0),
            theirs.get(sid).copied().unwrap_or(0),
        );
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
        assert_eq!(
            sorted_keys(&alerts, |a| a["alert"]["signature_id"].as_u64().unwrap()),
            expected_keys(),
            "alerts differ in detail with {workers} worker(s)"
        );
    }
}
