//! `tidewatch sensor` as a process on a real veth pair in a throwaway namespace: EVE
//! alerts with exact counts, `tidewatch reload` (and a broken rule file keeping the old
//! set), SIGHUP, `tidewatch block`, SIGINT with a summary and the program detached, and
//! `--user`. Needs root (the README's test command).

mod common;

use capture::netns::VethLab;
use common::{scratch_dir, tidewatch, udp_frames};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const RULES_A: &str = "alert udp any any -> any 53 (msg:\"evil\"; content:\"evil\"; sid:1;)\n";
const RULES_B: &str = "alert udp any any -> any 53 (msg:\"good\"; content:\"good\"; sid:2;)\n";

/// Kills the sensor if a test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(lab: &VethLab, dir: &Path, extra: &[&str]) -> (Running, PathBuf, PathBuf) {
    let sock = dir.join("sensor.sock");
    let eve = dir.join("eve.json");
    let child = tidewatch()
        .args(["sensor", "--iface", &lab.host_if, "--rules"])
        .arg(dir.join("a.rules"))
        .arg("--eve")
        .arg(&eve)
        .arg("--control-socket")
        .arg(&sock)
        .args(extra)
        .env("TIDEWATCH_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tidewatch sensor");
    let running = Running(child);
    let end = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < end,
            "sensor did not open its control socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (running, sock, eve)
}

/// Runs a client command (`reload`, `block ...`) against the sensor's control socket.
fn client(sock: &Path, args: &[&str]) -> std::process::Output {
    tidewatch()
        .args(args)
        .arg("--control-socket")
        .arg(sock)
        .output()
        .unwrap()
}

fn ask(sock: &Path, line: &str) -> String {
    let mut c = UnixStream::connect(sock).unwrap();
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    s
}

/// A number after `key` in a status answer.
fn field(status: &str, key: &str) -> u64 {
    let mut it = status.split_whitespace();
    while let Some(w) = it.next() {
        if w == key {
            return it.next().unwrap().parse().unwrap();
        }
    }
    panic!("no {key} in {status}");
}

/// Waits until the sensor inspected `n` frames (bounded).
fn wait_inspected(sock: &Path, n: u64) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = ask(sock, "status");
        if field(&s, "inspected") >= n || Instant::now() > end {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(mut r: Running) -> String {
    let pid = r.0.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = r.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "sensor did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    r.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "sensor failed: {err}");
    err
}

fn eve_sids(eve: &Path) -> Vec<u64> {
    std::fs::read_to_string(eve)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["event_type"], "alert");
            v["alert"]["signature_id"].as_u64().unwrap()
        })
        .collect()
}

fn xdp_attached(iface: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args(["link", "show", iface])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}

#[test]
fn sensor_alerts_reloads_blocks_and_stops_cleanly() {
    let lab = VethLab::new("ts", 1).expect("veth lab (root needed)");
    let dir = scratch_dir("sensor-main");
    std::fs::write(dir.join("a.rules"), RULES_A).unwrap();
    let (running, sock, eve) = start(&lab, &dir, &[]);
    assert!(xdp_attached(&lab.host_if));

    // Rules A: every second frame is evil.
    let mut f = udp_frames(50, Ipv4Addr::new(10, 8, 0, 1), b"evil stuff");
    f.extend(udp_frames(50, Ipv4Addr::new(10, 8, 0, 1), b"good stuff"));
    lab.send(&f).unwrap();
    wait_inspected(&sock, 100);

    // Reload to rules B through `tidewatch reload`.
    std::fs::write(dir.join("a.rules"), RULES_B).unwrap();
    let out = client(&sock, &["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok reloaded: 1 enforced"));

    // A broken file keeps B running, and says so.
    std::fs::write(
        dir.join("a.rules"),
        "alert udp any any -> any 53 (content:\"x\"; sid:3\n",
    )
    .unwrap();
    let out = client(&sock, &["reload"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("old rules keep running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.send(&f).unwrap();
    wait_inspected(&sock, 200);

    // Block a prefix: its frames are dropped at XDP and never inspected.
    let out = client(&sock, &["block", "10.7.0.0/16", "--for", "1h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.send(&udp_frames(30, Ipv4Addr::new(10, 7, 1, 1), b"good stuff"))
        .unwrap();

    // SIGHUP reloads A again.
    std::fs::write(dir.join("a.rules"), RULES_A).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(running.0.id() as i32, libc::SIGHUP) };
    let end = Instant::now() + Duration::from_secs(10);
    while field(&ask(&sock, "status"), "rules_generation") < 2 {
        assert!(Instant::now() < end, "SIGHUP reload did not happen");
        std::thread::sleep(Duration::from_millis(10));
    }
    lab.send(&udp_frames(10, Ipv4Addr::new(10, 8, 0, 1), b"evil stuff"))
        .unwrap();
    let s = wait_inspected(&sock, 210);
    assert_eq!(field(&s, "seen"), 240, "{s}");
    assert_eq!(field(&s, "blocked"), 30, "{s}");
    assert_eq!(field(&s, "inspected"), 210, "{s}");

    let err = stop(running);
    assert!(err.contains("alerts: 110"), "{err}");
    assert!(err.contains("packets: 210"), "{err}");
    assert!(!xdp_attached(&lab.host_if), "XDP left attached");
    assert!(!sock.exists(), "control socket left behind");
    let sids = eve_sids(&eve);
    assert_eq!(sids.len(), 110);
    assert!(sids[..50].iter().all(|&s| s == 1));
    assert!(sids[50..100].iter().all(|&s| s == 2));
    assert!(sids[100..].iter().all(|&s| s == 1));
}

#[test]
fn sensor_drops_to_an_unprivileged_user_and_still_detaches() {
    let lab = VethLab::new("tu", 1).expect("veth lab (root needed)");
    let dir = scratch_dir("sensor-user");
    std::fs::write(dir.join("a.rules"), RULES_A).unwrap();
    let (running, sock, eve) = start(&lab, &dir, &["--user", "nobody"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.0.id())).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut uid_line = String::new();
    while Instant::now() < end {
        let st = std::fs::read_to_string(format!("/proc/{}/status", running.0.id())).unwrap();
        uid_line = st
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .to_string();
        if uid_line.split_whitespace().nth(1) == Some("65534") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid_line} / {status}"
    );
    lab.send(&udp_frames(20, Ipv4Addr::new(10, 8, 0, 1), b"evil stuff"))
        .unwrap();
    wait_inspected(&sock, 20);
    let err = stop(running);
    assert!(err.contains("alerts: 20"), "{err}");
    assert!(
        !xdp_attached(&lab.host_if),
        "XDP left attached after dropping root"
    );
    assert_eq!(eve_sids(&eve).len(), 20);
}

/// Runs a sensor that must fail to start; returns its stderr.
fn start_fails(dir: &Path, args: &[&str]) -> String {
    let out = tidewatch()
        .arg("sensor")
        .args(args)
        .arg("--rules")
        .arg(dir.join("a.rules"))
        .arg("--control-socket")
        .arg(dir.join("s.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn sensor_errors_are_actionable() {
    let dir = scratch_dir("sensor-errors");
    std::fs::write(dir.join("a.rules"), RULES_A).unwrap();
    let err = start_fails(&dir, &["--iface", "tw-nonexist0"]);
    assert!(
        err.contains("interface `tw-nonexist0` does not exist"),
        "{err}"
    );
    let lab = VethLab::new("te", 1).expect("veth lab (root needed)");
    let err = start_fails(&dir, &["--iface", &lab.host_if, "--queues", "3"]);
    assert!(
        err.contains("3 queue(s) asked for but") && err.contains("has 1 RX queue"),
        "{err}"
    );
    assert!(!xdp_attached(&lab.host_if));

    // Without privileges: says what is missing.
    let out = std::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            env!("CARGO_BIN_EXE_tidewatch"),
            "sensor",
            "--iface",
        ])
        .arg(&lab.host_if)
        .arg("--rules")
        .arg(dir.join("a.rules"))
        .arg("--control-socket")
        .arg("/tmp/tw-unused-ctl.sock")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not permitted") && err.contains("run as root"),
        "{err}"
    );
}
