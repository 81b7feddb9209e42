//! Helpers shared by the binary's integration tests: run `tidewatch`, read EVE output.

#![allow(dead_code)]

pub mod live;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn tidewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidewatch"))
}

/// A fresh directory under the target dir, removed first if a previous run left it.
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// ET Open beside the checkout (one definition, in xtask).
#[allow(unused_imports)]
pub use xtask::et_open_check::et_open_dir;

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running tidewatch");
    assert!(
        out.status.success(),
        "tidewatch failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn eve_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad EVE line {l}: {e}")))
        .collect()
}

pub fn counts_by_sid(alerts: &[Value]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for a in alerts {
        assert_eq!(a["event_type"], "alert");
        *m.entry(a["alert"]["signature_id"].as_u64().unwrap())
            .or_insert(0) += 1;
    }
    m
}

/// Kills a child process if a test fails before it does.
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tidewatch collector` with the certificates in `dir/pki`, its store and control
/// socket in `dir`; returns it once it listens, with the address it printed.
pub fn start_collector(dir: &Path, listen: &str) -> (Proc, String) {
    start_collector_in(dir, listen, None)
}

/// As [`start_collector`], inside network namespace `netns` when given.
#[allow(dead_code)]
pub fn start_collector_in(dir: &Path, listen: &str, netns: Option<&str>) -> (Proc, String) {
    let pki = dir.join("pki");
    start_collector_with(
        dir,
        &[
            "--listen".as_ref(),
            listen.as_ref(),
            "--certs".as_ref(),
            pki.as_os_str(),
        ],
        netns,
    )
}

/// Starts `tidewatch collector ARGS` (inside network namespace `netns` when given) with
/// its store and control socket in `dir`; returns it once it listens, with the address it
/// printed.
pub fn start_collector_with(
    dir: &Path,
    args: &[&std::ffi::OsStr],
    netns: Option<&str>,
) -> (Proc, String) {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_tidewatch")]);
            c
        }
        None => tidewatch(),
    };
    let mut child = cmd
        .arg("collector")
        .args(args)
        .arg("--db")
        .arg(dir.join("alerts.redb"))
        .arg("--control")
        .arg(dir.join("collector.sock"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let l = lines
            .next()
            .expect("collector exited before listening")
            .unwrap();
        if let Some(a) = l.strip_prefix("collector listening on ") {
            break a.to_string();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (Proc(child), addr)
}

/// `(seq, sid)` of every alert stored from `sensor`, through the running collector's
/// control socket (`dir/collector.sock`).
pub fn stored(dir: &Path, sensor: &str) -> Vec<(u64, u64)> {
    stored_eve(dir, Some(sensor))
        .iter()
        .map(|v| {
            (
                v["tidewatch"]["seq"].as_u64().unwrap(),
                v["alert"]["signature_id"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The EVE lines (with `tidewatch.{id,seq}`) of every alert stored (from `sensor`),
/// through the running collector's control socket (`dir/collector.sock`).
pub fn stored_eve(dir: &Path, sensor: Option<&str>) -> Vec<Value> {
    let mut cmd = tidewatch();
    cmd.arg("alerts")
        .arg("--db")
        .arg(dir.join("alerts.redb"))
        .arg("--control")
        .arg(dir.join("collector.sock"))
        .args(["--format", "json", "--limit", "0"]);
    if let Some(s) = sensor {
        cmd.args(["--sensor", s]);
    }
    let out = run_ok(&mut cmd);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Alerts per sid of `(seq, sid)` rows.
pub fn by_sid(rows: &[(u64, u64)]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for (_, sid) in rows {
        *m.entry(*sid).or_insert(0) += 1;
    }
    m
}

/// A port free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` UDP frames from `src` to 10.9.0.1:53 carrying `payload`, source ports cycling
/// through 32 values (the live-capture tests' traffic).
pub fn udp_frames(n: usize, src: std::net::Ipv4Addr, payload: &[u8]) -> Vec<Vec<u8>> {
    use capture::craft::{FrameSpec, L4Spec};
    (0..n)
        .map(|i| {
            let mut v = Vec::new();
            FrameSpec::ipv4(
                src,
                std::net::Ipv4Addr::new(10, 9, 0, 1),
                L4Spec::Udp {
                    src_port: 30_000 + (i as u16 % 32),
                    dst_port: 53,
                },
            )
            .payload(payload)
            .write(&mut v);
            v
        })
        .collect()
}

/// Waits (bounded) until `cond` holds; fails naming `what` otherwise.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A stored-alert record from sensor `edge-1`: sid 2000010 for every 10th seq, else
/// 2000001; a small HTTP payload; every 20th packet as if cut from a 70,000-byte frame.
pub fn sample_record(seq: u64) -> store::AlertRecord {
    use std::net::IpAddr;
    use store::record::{Action, Origin};
    store::AlertRecord {
        sensor: "edge-1".into(),
        seq,
        ts_ns: 1_704_067_200_000_000_000 + seq * 1_000_000_000,
        created_ns: 0,
        origin: Origin::Sensor,
        gid: 1,
        sid: if seq.is_multiple_of(10) {
            2_000_010
        } else {
            2_000_001
        },
        rev: 2,
        msg: format!("alert {seq}"),
        class: "Misc activity".into(),
        priority: 3,
        action: Action::Alert,
        flow_id: seq,
        src: IpAddr::from([10, 0, (seq % 4) as u8, 1]).into(),
        dst: IpAddr::from([192, 0, 2, 7]).into(),
        src_port: 40000,
        dst_port: 80,
        ip_proto: 6,
        icmp: None,
        vlan: vec![],
        tunnel: None,
        iface: "eth0".into(),
        payload: format!("GET /{seq} HTTP/1.1\r\n").into_bytes(),
        packet: {
            let mut p = vec![0u8; 60];
            p[..8].copy_from_slice(&seq.to_be_bytes());
            p
        },
        // Every 20th as if cut from a longer frame (evidence is bounded).
        packet_len: if seq.is_multiple_of(20) { 70_000 } else { 60 },
    }
}

/// Starts `tidewatch collector --insecure` with `config`; returns it and its address.
pub fn start_collector_config(dir: &Path, config: &str) -> (Proc, String) {
    let conf = dir.join("collector.toml");
    std::fs::write(&conf, config).unwrap();
    start_collector_with(
        dir,
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--insecure".as_ref(),
            "--config".as_ref(),
            conf.as_os_str(),
        ],
        None,
    )
}

/// Sends records over the link and waits until the last is acknowledged (stored).
pub fn deliver(addr: &str, recs: &[store::AlertRecord]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    use std::time::{Duration, Instant};
    use store::link::{self, Backoff, Inbound, LinkConfig};
    rt.block_on(async {
        let cfg = LinkConfig::new(addr, "edge-1", None);
        let last = recs.last().unwrap().seq;
        let (mut tx, mut rx, _) = link::connect_with_backoff(
            &cfg,
            last,
            &mut Backoff::new(Duration::from_millis(20), Duration::from_millis(500)),
            Some(Instant::now() + Duration::from_secs(20)),
        )
        .await
        .unwrap();
        let enc: Vec<(u64, Vec<u8>)> = recs
            .iter()
            .map(|r| (r.seq, r.encode().unwrap().to_vec()))
            .collect();
        for chunk in enc.chunks(200) {
            tx.send_batch(chunk.iter().map(|(s, b)| (*s, b.as_slice())))
                .await
                .unwrap();
        }
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(m)) = rx.recv().await {
                if matches!(m, Inbound::Ack(n) if n == last) {
                    return;
                }
            }
            panic!("link closed before the last ack");
        })
        .await
        .expect("ack of the last record");
    });
}

pub fn control(dir: &Path, line: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(dir.join("collector.sock")).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// (sent, missed, failed) of one output from the collector's `status`.
pub fn output_counts(dir: &Path, name: &str) -> (u64, u64, u64) {
    (
        output_field(dir, name, "sent"),
        output_field(dir, name, "missed"),
        output_field(dir, name, "failed"),
    )
}

/// A named counter (`key=N`) of one output in the collector's `status`.
pub fn output_field(dir: &Path, output: &str, key: &str) -> u64 {
    let st = control(dir, "status");
    let line = st
        .lines()
        .find_map(|l| l.strip_prefix(&format!("output {output}: ")))
        .unwrap_or_else(|| panic!("no output {output} in status: {st}"))
        .to_string();
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}

/// A port nobody listens on now (bound, then freed).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `GET path` over HTTP/1.0; returns the status code and body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut c = std::net::TcpStream::connect(addr)?;
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    c.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

pub fn scrape(addr: &str) -> String {
    let (code, body) = http_get(addr, "/metrics").expect("scraping /metrics");
    assert_eq!(code, 200, "{body}");
    body
}

/// Samples of an exposition by series (`name{labels}` exactly as written).
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, v) = l.rsplit_once(' ').unwrap();
            (series.to_string(), v.parse::<f64>().unwrap())
        })
        .collect()
}

/// (timestamp, sid, src, sport, dst, dport) with addresses parsed: how the golden tests
/// compare our alerts with Suricata's (its IPv6 text differs from ours, the addresses not).
pub type Tuple = (String, u64, std::net::IpAddr, u16, std::net::IpAddr, u16);

/// Our EVE alerts as sorted tuples; ports are 0 where the protocol has none.
pub fn eve_tuples(alerts: &[Value]) -> Vec<Tuple> {
    let mut v: Vec<Tuple> = alerts
        .iter()
        .map(|a| {
            let ip = |f: &str| a[f].as_str().unwrap().parse().unwrap();
            let port = |f: &str| a[f].as_u64().unwrap_or(0) as u16;
            (
                a["timestamp"].as_str().unwrap().to_string(),
                a["alert"]["signature_id"].as_u64().unwrap(),
                ip("src_ip"),
                port("src_port"),
                ip("dest_ip"),
                port("dest_port"),
            )
        })
        .collect();
    v.sort();
    v
}

/// Suricata's alerts for a golden variant (`xtask/golden/...json`) as sorted tuples.
pub fn expected_tuples(path: &str) -> Vec<Tuple> {
    let mut v: Vec<Tuple> = xtask::stream_check::read_expected(path)
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.timestamp,
                a.sid,
                a.src_ip.parse().unwrap(),
                a.src_port,
                a.dest_ip.parse().unwrap(),
                a.dest_port,
            )
        })
        .collect();
    v.sort();
    v
}

/// Replays the pcap `write` makes with `rules`, with one worker and with two, and requires
/// Suricata's alerts stored at `expected` (more than `min` of them), alert by alert.
pub fn assert_golden_equal(
    name: &str,
    write: impl Fn(&Path) -> anyhow::Result<()>,
    rules: &str,
    expected: &str,
    min: usize,
) {
    let dir = scratch_dir(&format!("{name}-golden"));
    let pcap = dir.join(format!("{name}.pcap"));
    write(&pcap).unwrap();
    let theirs = expected_tuples(expected);
    assert!(theirs.len() > min, "the reference covers the cases");
    for workers in ["1", "2"] {
        let eve = dir.join(format!("eve-{workers}.json"));
        let mut cmd = tidewatch();
        cmd.arg("replay")
            .arg(&pcap)
            .args(["--rules", rules, "--workers", workers, "--eve"])
            .arg(&eve);
        run_ok(&mut cmd);
        let got = eve_tuples(&eve_lines(&eve));
        let missing: Vec<_> = theirs.iter().filter(|t| !got.contains(t)).collect();
        let extra: Vec<_> = got.iter().filter(|t| !theirs.contains(t)).collect();
        assert!(
            got == theirs,
            "{workers} worker(s): missing {missing:?}, extra {extra:?}"
        );
    }
}
