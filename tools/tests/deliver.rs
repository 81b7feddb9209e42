//! `tidewatch replay --collector --spool` as processes against a real `tidewatch
//! collector` over TLS: every alert the replay raised is stored once, and a sensor killed
//! with SIGKILL while its spool holds undelivered alerts delivers them on its next run.

mod common;

use common::{run_ok, scratch_dir, start_collector, stored, tidewatch, Proc};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SENSOR: &str = "edge-r";

fn certs(dir: &Path) {
    run_ok(
        tidewatch()
            .args(["certs", "--out"])
            .arg(dir.join("pki"))
            .args(["--sensor", SENSOR]),
    );
}

fn replay(dir: &Path, pcap: &Path, collector: &str) -> std::process::Command {
    let mut c = tidewatch();
    c.arg("replay")
        .arg(pcap)
        .arg("--rules")
        .arg(xtask::golden::rules_path())
        .args(["--collector", collector, "--spool"])
        .arg(dir.join("sensor.spool"))
        .args(["--spool-mb", "16", "--sensor-id", SENSOR, "--certs"])
        .arg(dir.join("pki"));
    c
}

fn alerts_count(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("alerts: "))
        .expect("an alerts line in the summary")
        .trim()
        .parse()
        .unwrap()
}

fn golden_pcap(dir: &Path) -> std::path::PathBuf {
    let pcap = dir.join("golden.pcap");
    xtask::golden::write_golden_pcap(&pcap).unwrap();
    pcap
}

#[test]
fn replay_delivers_every_alert_to_the_collector_once() {
    let dir = scratch_dir("deliver-replay");
    certs(&dir);
    let pcap = golden_pcap(&dir);
    let (_col, addr) = start_collector(&dir, "127.0.0.1:0");
    let out = run_ok(&mut replay(&dir, &pcap, &addr));
    let err = String::from_utf8_lossy(&out.stderr);
    let n = alerts_count(&err);
    assert!(n > 100, "the golden pcap raises many alerts ({n})");
    assert!(
        err.contains(&format!(
            "delivered: {n} spooled, 0 dropped to the drop channel, acknowledged through seq {n}"
        )),
        "{err}"
    );
    let rows = stored(&dir, SENSOR);
    let seqs: BTreeSet<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(rows.len() as u64, n);
    assert_eq!(seqs, (1..=n).collect(), "seqs 1..=n, each once");
    // The same alerts EVE would show: compare per-sid counts with a plain replay.
    let eve = dir.join("eve.json");
    run_ok(
        tidewatch()
            .arg("replay")
            .arg(&pcap)
            .arg("--rules")
            .arg(xtask::golden::rules_path())
            .arg("--eve")
            .arg(&eve),
    );
    let from_eve = common::counts_by_sid(&common::eve_lines(&eve));
    let mut from_store = std::collections::BTreeMap::new();
    for (_, sid) in rows {
        *from_store.entry(sid).or_insert(0u64) += 1;
    }
    assert_eq!(from_store, from_eve);
}

#[test]
fn a_sensor_killed_with_a_full_spool_delivers_it_on_the_next_run() {
    let dir = scratch_dir("deliver-kill");
    certs(&dir);
    let pcap = golden_pcap(&dir);
    // Reserve a port for the collector, then free it: the first run finds no collector.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut first = Proc(
        replay(&dir, &pcap, &addr)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Wait until detection is done and the alerts wait in the spool for the collector.
    let mut lines = BufReader::new(first.0.stderr.take().unwrap()).lines();
    let n = loop {
        let l = lines
            .next()
            .expect("replay exited before its summary")
            .unwrap();
        if let Some(v) = l.strip_prefix("alerts: ") {
            break v.trim().parse::<u64>().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "replay waits for the collector's acknowledgment"
    );
    // kill -9: the alerts are in the spool and nowhere else.
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    let (_col, addr) = start_collector(&dir, &addr);
    let t = Instant::now();
    let out = run_ok(&mut replay(&dir, &pcap, &addr));
    assert!(t.elapsed() < Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{n} unacknowledged alerts from an earlier run")),
        "{err}"
    );
    let rows = stored(&dir, SENSOR);
    let seqs: BTreeSet<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(rows.len(), seqs.len(), "no alert stored twice");
    assert_eq!(
        seqs,
        (1..=2 * n).collect(),
        "both runs' alerts stored, seqs continuing across the kill"
    );
}
