//! The stateful golden test: on the stateful golden pcap (`xtask/src/golden_stateful.rs`:
//! flowbits, threshold, detection_filter, threshold.config suppress/rate_filter/threshold)
//! tidewatch raises exactly Suricata 7's alerts — same sids, addresses, ports and packet
//! timestamps, alert by alert — with one worker, and the same per-flow flowbits alerts
//! with two (thresholds are per worker; see `detect::threshold`).

mod common;

use common::*;
use serde_json::Value;
use xtask::golden_stateful::{
    write_stateful_pcap, STATEFUL_EXPECTED_PATH, STATEFUL_RULES_PATH, STATEFUL_THRESHOLD_PATH,
};
use xtask::stream_check::read_expected;

/// (timestamp, sid, src, sport, dst, dport).
type Tuple = (String, u64, String, u16, String, u16);

fn ours(alerts: &[Value]) -> Vec<Tuple> {
    let mut v: Vec<Tuple> = alerts
        .iter()
        .map(|a| {
            (
                a["timestamp"].as_str().unwrap().to_string(),
                a["alert"]["signature_id"].as_u64().unwrap(),
                a["src_ip"].as_str().unwrap().to_string(),
                a["src_port"].as_u64().unwrap() as u16,
                a["dest_ip"].as_str().unwrap().to_string(),
                a["dest_port"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    v.sort();
    v
}

fn replay(dir: &std::path::Path, pcap: &std::path::Path, workers: &str) -> Vec<Value> {
    let eve = dir.join(format!("eve-{workers}.json"));
    let mut cmd = tidewatch();
    cmd.arg("replay")
        .arg(pcap)
        .args([
            "--rules",
            STATEFUL_RULES_PATH,
            "--workers",
            workers,
            "--eve",
        ])
        .arg(&eve)
        .args([
            "--set",
            &format!("rules.threshold_file=\"{STATEFUL_THRESHOLD_PATH}\""),
        ]);
    run_ok(&mut cmd);
    eve_lines(&eve)
}

#[test]
fn stateful_golden_alerts_equal_suricatas() {
    let dir = scratch_dir("stateful-golden");
    let pcap = dir.join("stateful.pcap");
    write_stateful_pcap(&pcap).unwrap();
    let mut theirs: Vec<Tuple> = read_expected(STATEFUL_EXPECTED_PATH)
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.timestamp,
                a.sid,
                a.src_ip,
                a.src_port,
                a.dest_ip,
                a.dest_port,
            )
        })
        .collect();
    theirs.sort();
    assert!(theirs.len() > 30, "the reference covers the cases");
    let alerts = replay(&dir, &pcap, "1");
    let got = ours(&alerts);
    let missing: Vec<_> = theirs.iter().filter(|t| !got.contains(t)).collect();
    let extra: Vec<_> = got.iter().filter(|t| !theirs.contains(t)).collect();
    assert!(
        got == theirs,
        "one worker: missing {missing:?}, extra {extra:?}"
    );
    // The rate filter switched the action after its count: the first two alerts keep the
    // rule's action, the rest carry the new one.
    let actions: Vec<&str> = alerts
        .iter()
        .filter(|a| a["alert"]["signature_id"] == 3004)
        .map(|a| a["alert"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["allowed", "allowed", "blocked", "blocked", "blocked"]
    );

    // Flowbits live in the flow: with two workers every flowbits alert is the same.
    let two = ours(&replay(&dir, &pcap, "2"));
    let fb = |v: &[Tuple]| -> Vec<Tuple> { v.iter().filter(|t| t.1 < 2000).cloned().collect() };
    assert_eq!(fb(&two), fb(&theirs), "flowbits with two workers");
}
