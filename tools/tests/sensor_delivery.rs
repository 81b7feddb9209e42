//! `tidewatch sensor --collector --spool` as a process on a real veth pair, delivering to
//! a real `tidewatch collector` over TLS: live alerts are stored exactly once, a block
//! sent through the collector is applied at the sensor's XDP program and expires on time,
//! and a network cut between sensor and collector loses nothing and stores nothing twice.
//! Needs root (namespaces, XDP).

mod common;

use capture::netns::VethLab;
use common::live::{field, wait_stored, LiveSensor};
use common::{
    by_sid, run_ok, scratch_dir, start_collector, start_collector_in, stored, tidewatch, udp_frames,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

const SENSOR: &str = "edge-live";
const RULES: &str = "alert udp any any -> any 53 (msg:\"evil\"; content:\"evil\"; sid:1;)\n\
                     alert udp any any -> any 53 (msg:\"worse\"; content:\"worse\"; sid:2;)\n";

#[test]
fn live_sensor_ships_alerts_and_applies_blocks_sent_through_the_collector() {
    let lab = VethLab::new("sd", 1).expect("veth lab (root needed)");
    let dir = scratch_dir("sensor-delivery");
    run_ok(
        tidewatch()
            .args(["certs", "--out"])
            .arg(dir.join("pki"))
            .args(["--sensor", SENSOR]),
    );
    let (_col, addr) = start_collector(&dir, "127.0.0.1:0");
    let sensor = LiveSensor::start(&lab, &dir, &addr, SENSOR, RULES, &[]);

    // 40 sid 1, 25 sid 2, 30 that match nothing.
    let src = Ipv4Addr::new(10, 8, 0, 1);
    let mut f = udp_frames(40, src, b"evil stuff");
    f.extend(udp_frames(25, src, b"worse stuff"));
    f.extend(udp_frames(30, src, b"good stuff"));
    lab.send(&f).unwrap();
    let s = sensor.wait_seen(95);
    assert_eq!(field(&s, "inspected"), 95, "{s}");
    let rows = wait_stored(&dir, SENSOR, 65, Duration::from_secs(15));
    assert_eq!(rows.len(), 65, "every live alert stored");
    assert_eq!(by_sid(&rows), BTreeMap::from([(1, 40), (2, 25)]));
    let seqs: BTreeSet<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=65).collect(), "seqs 1..=65, each once");

    // A block sent through the collector's control socket reaches the sensor's XDP.
    let out = run_ok(
        tidewatch()
            .args(["block", "10.7.0.0/16", "--for", "3s", "--collector-socket"])
            .arg(dir.join("collector.sock"))
            .args(["--sensor", SENSOR]),
    );
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains(&format!("sent to {SENSOR}")), "{answer}");
    let (applied, at) =
        sensor.wait_log("ok blocked 10.7.0.0/16 for 3s", 0, Duration::from_secs(10));
    let blocked_src = Ipv4Addr::new(10, 7, 1, 1);
    lab.send(&udp_frames(30, blocked_src, b"evil stuff"))
        .unwrap();
    let s = sensor.wait_seen(125);
    assert_eq!(field(&s, "blocked"), 30, "{s}");
    assert_eq!(field(&s, "inspected"), 95, "{s}");

    // Still in force a second later; lifted after 3 s (the sensor checks every 100 ms).
    std::thread::sleep(Duration::from_millis(1000).saturating_sub(applied.elapsed()));
    lab.send(&udp_frames(5, blocked_src, b"evil stuff"))
        .unwrap();
    let s = sensor.wait_seen(130);
    assert_eq!(field(&s, "blocked"), 35, "{s}");
    let (expired, _) = sensor.wait_log("block expired", at, Duration::from_secs(10));
    let lasted = expired - applied;
    assert!(
        lasted >= Duration::from_millis(2800) && lasted <= Duration::from_millis(3600),
        "block lasted {lasted:?}, want 3 s"
    );
    lab.send(&udp_frames(10, blocked_src, b"evil stuff"))
        .unwrap();
    let s = sensor.wait_seen(140);
    assert_eq!(field(&s, "blocked"), 35, "{s}");
    assert_eq!(field(&s, "inspected"), 105, "{s}");

    // Blocks for a sensor that is not connected are refused, not silently lost.
    let out = tidewatch()
        .args(["block", "10.6.0.0/16", "--collector-socket"])
        .arg(dir.join("collector.sock"))
        .args(["--sensor", "nobody-here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sensor nobody-here is not connected"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rows = wait_stored(&dir, SENSOR, 75, Duration::from_secs(15));
    let log = sensor.stop();
    assert!(log.contains("alerts: 75"), "{log}");
    assert!(
        log.contains(
            "delivered: 75 spooled, 0 dropped to the drop channel, acknowledged through seq 75"
        ),
        "{log}"
    );
    assert_eq!(by_sid(&rows), BTreeMap::from([(1, 50), (2, 25)]));
    let seqs: BTreeSet<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!((rows.len(), seqs), (75, (1..=75).collect()));
    // EVE output stays available alongside delivery.
    assert_eq!(common::eve_lines(&dir.join("eve.json")).len(), 75);
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Raises the link again if a test fails while it is cut (the lab's Drop then removes it).
struct Cut<'a>(&'a VethLab);

impl Cut<'_> {
    fn new(link: &VethLab) -> Cut<'_> {
        ip(&["link", "set", &link.host_if, "down"]);
        Cut(link)
    }
}

impl Drop for Cut<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "set", &self.0.host_if, "up"])
            .status();
    }
}

/// `(spooled, dropped)` from the sensor's `delivered:` summary line.
fn delivered(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("delivered: "))
        .unwrap_or_else(|| panic!("no delivered line in {log}"));
    let w: Vec<&str> = line.split_whitespace().collect();
    (w[0].parse().unwrap(), w[2].parse().unwrap())
}

/// Seqs in the sensor's drop file (the drop channel's fallback when no notifier listens).
fn dropped_seqs(dir: &Path) -> Vec<u64> {
    let f = store::drop_channel::read_drop_file(dir.join("sensor.spool.drops")).unwrap_or_default();
    assert_eq!(f.skipped_bytes, 0, "damaged drop file: {:?}", f.first_error);
    f.records
        .iter()
        .map(|r| r.access().unwrap().seq.to_native())
        .collect()
}

#[test]
fn network_cut_between_sensor_and_collector_loses_nothing_and_stores_nothing_twice() {
    let lab = VethLab::new("nc", 1).expect("veth lab (root needed)");
    // The collector lives in a second namespace, reached over its own veth pair.
    let link = VethLab::new("nl", 1).expect("veth lab (root needed)");
    let net = format!("10.231.{}", std::process::id() % 250);
    ip(&["addr", "add", &format!("{net}.1/24"), "dev", &link.host_if]);
    ip(&[
        "-n",
        &link.ns,
        "addr",
        "add",
        &format!("{net}.2/24"),
        "dev",
        &link.peer_if,
    ]);
    let dir = scratch_dir("sensor-netcut");
    run_ok(
        tidewatch()
            .args(["certs", "--out"])
            .arg(dir.join("pki"))
            .args(["--sensor", SENSOR]),
    );
    let (_col, addr) = start_collector_in(&dir, &format!("{net}.2:0"), Some(&link.ns));
    // A 1 MiB spool: the alerts raised while the link is down pass its high watermark.
    let sensor = LiveSensor::start(
        &lab,
        &dir,
        &addr,
        SENSOR,
        RULES,
        &["--spool-mb", "1", "--server-name", "localhost"],
    );
    let src = Ipv4Addr::new(10, 8, 0, 1);
    let burst = udp_frames(500, src, &[b'e', b'v', b'i', b'l', b' '].repeat(40));
    lab.send(&burst).unwrap();
    assert_eq!(
        wait_stored(&dir, SENSOR, 500, Duration::from_secs(15)).len(),
        500
    );

    // Cut the link for about 3 s while 8,000 more alerts are raised.
    let cut = Cut::new(&link);
    let before = stored(&dir, SENSOR).len();
    let cut_at = Instant::now();
    for i in 0..16 {
        lab.send(&burst).unwrap();
        sensor.wait_seen(500 * (i + 2));
        std::thread::sleep(Duration::from_millis(150));
    }
    std::thread::sleep(Duration::from_secs(3).saturating_sub(cut_at.elapsed()));
    let during = stored(&dir, SENSOR).len();
    assert_eq!(during, before, "nothing reached the collector while cut");
    drop(cut);

    lab.send(&burst).unwrap();
    let s = sensor.wait_seen(9000);
    let raised = field(&s, "alerts");
    assert_eq!((field(&s, "inspected"), raised), (9000, 9000), "{s}");
    // Wait (bounded) until everything is either stored or in the drop file.
    let end = Instant::now() + Duration::from_secs(60);
    let (rows, drops) = loop {
        let rows = stored(&dir, SENSOR);
        let drops = dropped_seqs(&dir);
        if rows.len() + drops.len() >= raised as usize || Instant::now() > end {
            break (rows, drops);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = sensor.stop();
    let (spooled, dropped) = delivered(&log);
    assert!(
        dropped > 0,
        "the cut should have pushed the spool past its watermark"
    );
    assert_eq!(
        spooled + dropped,
        raised,
        "every raised alert spooled or dropped"
    );
    assert_eq!(rows.len() as u64, spooled, "spooled = stored");
    assert_eq!(drops.len() as u64, dropped, "dropped = in the drop channel");
    let stored_seqs: BTreeSet<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(stored_seqs.len(), rows.len(), "no alert stored twice");
    let drop_seqs: BTreeSet<u64> = drops.iter().copied().collect();
    assert_eq!(drop_seqs.len(), drops.len(), "no alert dropped twice");
    assert!(stored_seqs.is_disjoint(&drop_seqs));
    let all: BTreeSet<u64> = stored_seqs.union(&drop_seqs).copied().collect();
    assert_eq!(all, (1..=raised).collect(), "every seq accounted for once");
}

/// A 1 MiB tmpfs, unmounted on drop (also when an assertion fails).
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_spool_that_cannot_be_allocated_stops_the_sensor_before_capture() {
    let lab = VethLab::new("sa", 1).expect("veth lab (root needed)");
    let dir = scratch_dir("sensor-spool-alloc");
    std::fs::write(dir.join("a.rules"), RULES).unwrap();
    let disk = dir.join("small");
    std::fs::create_dir_all(&disk).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1M", "tidewatch-test"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(st.success(), "mounting a tmpfs (root needed)");
    let _disk = SmallDisk(disk.clone());
    let spool = disk.join("sensor.spool");
    let out = tidewatch()
        .args(["sensor", "--iface", &lab.host_if, "--rules"])
        .arg(dir.join("a.rules"))
        .arg("--control-socket")
        .arg(dir.join("s.sock"))
        .args(["--collector", "127.0.0.1:9", "--insecure", "--spool"])
        .arg(&spool)
        .args(["--spool-mb", "16"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("opening the spool {}", spool.display())),
        "{err}"
    );
    assert!(!err.contains("capturing on"), "{err}");
    let link = std::process::Command::new("ip")
        .args(["link", "show", &lab.host_if])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&link.stdout).contains("xdp"),
        "XDP attached although the spool failed"
    );
    assert!(!dir.join("s.sock").exists(), "control socket opened");
}
