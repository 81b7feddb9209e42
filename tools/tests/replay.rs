//! `tidewatch replay` and `tidewatch check` end to end: real pcaps written to disk, the real
//! binary, EVE output parsed back.

mod common;

use capture::craft::{FrameSpec, L4Spec, TcpSession};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use common::*;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

const RULES: &str = r#"
alert udp any any -> any 53 (msg:"evil udp"; content:"EVIL"; sid:1001; rev:1;)
alert tcp any any -> any 80 (msg:"evil http"; flow:established,to_server; content:"GET /evil"; sid:1002; rev:2; classtype:trojan-activity; metadata:created_at 2024_01_01, tag a, tag b;)
"#;

/// A TCP session from 10.0.0.3 to the web server 10.0.0.4.
fn web_session() -> TcpSession {
    TcpSession::new(
        (Ipv4Addr::new(10, 0, 0, 3).into(), 41000),
        (Ipv4Addr::new(10, 0, 0, 4).into(), 80),
        1000,
        5000,
    )
}

/// `n` UDP frames carrying EVIL, then a TCP session with one matching request.
fn write_capture(path: &Path, n: u32) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet).unwrap();
    let mut buf = Vec::new();
    let mut ts = 1_704_067_200_000_000_000u64;
    for i in 0..n {
        FrameSpec::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            L4Spec::Udp {
                src_port: 40000 + i as u16,
                dst_port: 53,
            },
        )
        .payload(b"xxEVILxx")
        .write(&mut buf);
        w.write_frame(ts, &buf).unwrap();
        ts += 1000;
    }
    let mut s = web_session();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    s.handshake(&mut out, &mut |f| frames.push(f.to_vec()));
    s.data(&mut out, true, b"GET /evil HTTP/1.0\r\n\r\n", &mut |f| {
        frames.push(f.to_vec())
    });
    for f in frames {
        w.write_frame(ts, &f).unwrap();
        ts += 1000;
    }
    w.into_inner().unwrap().flush().unwrap();
}

#[test]
fn replay_writes_eve_alerts_and_summary() {
    let dir = scratch_dir("replay_basic");
    let pcap = dir.join("in.pcap");
    write_capture(&pcap, 5);
    std::fs::write(dir.join("t.rules"), RULES).unwrap();
    let eve = dir.join("eve.json");
    let out = run_ok(
        tidewatch()
            .args(["replay"])
            .arg(&pcap)
            .arg("--rules")
            .arg(dir.join("t.rules"))
            .arg("--eve")
            .arg(&eve),
    );
    let alerts = eve_lines(&eve);
    let counts = counts_by_sid(&alerts);
    assert_eq!(counts.get(&1001), Some(&5));
    assert_eq!(counts.get(&1002), Some(&1));
    let http = alerts
        .iter()
        .find(|a| a["alert"]["signature_id"] == 1002)
        .unwrap();
    assert_eq!(http["src_ip"], "10.0.0.3");
    assert_eq!(http["dest_port"], 80);
    assert_eq!(http["proto"], "TCP");
    assert_eq!(http["alert"]["rev"], 2);
    assert_eq!(http["alert"]["category"], "A Network Trojan was detected");
    assert_eq!(http["alert"]["severity"], 1);
    assert_eq!(http["direction"], "to_server");
    assert_eq!(
        http["alert"]["metadata"],
        serde_json::json!({"created_at": ["2024_01_01"], "tag": ["a", "b"]})
    );
    assert!(http["community_id"].as_str().unwrap().starts_with("1:"));
    assert!(http["timestamp"]
        .as_str()
        .unwrap()
        .starts_with("2024-01-01T00:00:00."));
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(http["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload, b"GET /evil HTTP/1.0\r\n\r\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("packets: 10"), "{stderr}");
    assert!(stderr.contains("alerts: 6"), "{stderr}");
    assert!(stderr.contains("rules: 2 enforced"), "{stderr}");
}

#[test]
fn truncated_capture_names_the_offset_after_inspecting_what_came_before() {
    let dir = scratch_dir("replay_truncated");
    let pcap = dir.join("in.pcap");
    write_capture(&pcap, 10);
    let full = std::fs::read(&pcap).unwrap();
    // Cut the last record (the server's ACK after the request) short.
    std::fs::write(&pcap, &full[..full.len() - 30]).unwrap();
    std::fs::write(dir.join("t.rules"), RULES).unwrap();
    let eve = dir.join("eve.json");
    let out = tidewatch()
        .args(["replay"])
        .arg(&pcap)
        .arg("--rules")
        .arg(dir.join("t.rules"))
        .arg("--eve")
        .arg(&eve)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("offset"), "{stderr}");
    let counts = counts_by_sid(&eve_lines(&eve));
    assert_eq!(
        counts.get(&1001),
        Some(&10),
        "frames before the bad record were inspected"
    );
    assert_eq!(counts.get(&1002), Some(&1));
    assert!(stderr.contains("packets: 14"), "{stderr}");
}

/// `tidewatch check [--strict] --rules FILE`: whether it passed, and stdout then stderr.
fn check(rules: &std::path::Path, strict: bool) -> (bool, String) {
    let mut cmd = tidewatch();
    cmd.arg("check");
    if strict {
        cmd.arg("--strict");
    }
    let out = cmd.arg("--rules").arg(rules).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_names_file_line_and_keyword_of_a_broken_rule_and_keeps_the_rest() {
    let dir = scratch_dir("check_broken");
    let rules = dir.join("bad.rules");
    std::fs::write(
        &rules,
        "alert udp any any -> any 53 (msg:\"ok\"; content:\"a\"; sid:1;)\n\
         # a comment\n\
         alert udp any any -> any 53 (msg:\"bad\"; content:\"a\"; depth:x; sid:2;)\n\
         alert smtp any any -> any any (msg:\"app\"; content:\"a\"; sid:3;)\n",
    )
    .unwrap();
    let (ok, text) = check(&rules, false);
    assert!(!ok, "{text}");
    assert!(text.contains("bad.rules:3:"), "{text}");
    assert!(text.contains("depth"), "{text}");
    assert!(text.contains("1 enforced"), "{text}");
    assert!(text.contains("app-layer:smtp"), "{text}");

    // --strict turns the skipped app-layer rule into an error too; without the broken rule
    // a plain check passes.
    std::fs::write(
        &rules,
        "alert udp any any -> any 53 (msg:\"ok\"; content:\"a\"; sid:1;)\n\
         alert smtp any any -> any any (msg:\"app\"; content:\"a\"; sid:3;)\n",
    )
    .unwrap();
    let (ok, text) = check(&rules, false);
    assert!(ok, "{text}");
    let (ok, text) = check(&rules, true);
    assert!(!ok, "{text}");
}

/// A classtype missing from classification.config: the rule loads (as in Suricata 7) and
/// the summary names the classtype; `--strict` refuses it with file, line and keyword.
#[test]
fn check_takes_an_unknown_classtype_and_strict_refuses_it() {
    let dir = scratch_dir("check_classtype");
    let rules = dir.join("c.rules");
    std::fs::write(
        &rules,
        "alert udp any any -> any 53 (msg:\"ok\"; content:\"a\"; classtype:local-thing; sid:1;)\n\
         alert udp any any -> any 53 (msg:\"ok\"; content:\"b\"; classtype:Local-Thing; sid:2;)\n",
    )
    .unwrap();
    let (ok, text) = check(&rules, false);
    assert!(ok, "{text}");
    assert!(text.contains("2 enforced"), "{text}");
    assert!(
        text.contains("rules naming a classtype classification.config lacks (priority 3):\n        2  local-thing"),
        "{text}"
    );
    let (ok, text) = check(&rules, true);
    assert!(!ok, "{text}");
    assert!(
        text.contains("c.rules:1:63: classtype: unknown classtype 'local-thing'"),
        "{text}"
    );
}

#[test]
fn unknown_config_keys_are_rejected_by_name() {
    let out = tidewatch()
        .args([
            "check",
            "--rules",
            "/nonexistent",
            "--set",
            "detect.wrokers=2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrokers"));
}

/// Suricata 7 inspects packets whose transport checksum is wrong, whatever
/// `checksum-checks` says (checked with `suricata -k all` on the same kind of pcap); the
/// checks only count them.
#[test]
fn bad_checksums_are_counted_and_still_inspected() {
    let dir = scratch_dir("replay_checksum");
    let pcap = dir.join("in.pcap");
    write_capture(&pcap, 3);
    let mut bytes = std::fs::read(&pcap).unwrap();
    // First UDP frame: pcap header 24 + record header 16 + Ethernet 14 + IPv4 20 + 6 bytes
    // into the UDP header is its checksum.
    bytes[24 + 16 + 14 + 20 + 6] ^= 0x5a;
    std::fs::write(&pcap, &bytes).unwrap();
    std::fs::write(dir.join("t.rules"), RULES).unwrap();
    for mode in ["all", "auto", "none"] {
        let eve = dir.join(format!("eve-{mode}.json"));
        let out = run_ok(
            tidewatch()
                .arg("replay")
                .arg(&pcap)
                .arg("--rules")
                .arg(dir.join("t.rules"))
                .args(["--checksum-checks", mode, "--eve"])
                .arg(&eve),
        );
        let counts = counts_by_sid(&eve_lines(&eve));
        assert_eq!(counts.get(&1001), Some(&3), "{mode}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.contains("bad checksums (inspected anyway, as Suricata does): 1"),
            mode != "none",
            "{mode}: {stderr}"
        );
    }
}

#[test]
fn a_flow_that_times_out_mid_capture_has_its_last_bytes_inspected_then() {
    let dir = scratch_dir("replay_timeout_sweep");
    let pcap = dir.join("in.pcap");
    let f = std::fs::File::create(&pcap).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet).unwrap();
    const H: u64 = 3_600_000_000_000;
    let t0 = 1_704_067_200_000_000_000u64; // 2024-01-01T00:00:00Z
                                           // A session whose last request is never acknowledged, then goes quiet.
    let mut s = web_session();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    s.handshake(&mut out, &mut |f| frames.push(f.to_vec()));
    s.segment(
        &mut out,
        true,
        capture::craft::tcp_flags::PSH | capture::craft::tcp_flags::ACK,
        b"GET /tail-at-timeout HTTP/1.0\r\n\r\n",
    );
    frames.push(out.clone());
    for f in &frames {
        w.write_frame(t0, f).unwrap();
    }
    // Five hours on, past every timeout, other traffic; the capture ends five more later.
    let mut buf = Vec::new();
    // 16 batches of 64: the sweep's steps pass over all 64 slots of the table.
    let n = 16 * 64;
    for (i, ts) in (0..n)
        .map(|i| (i, t0 + 5 * H + i * 1000))
        .chain([(n, t0 + 10 * H)])
    {
        buf.clear();
        FrameSpec::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            L4Spec::Udp {
                src_port: 40000 + i as u16 % 8,
                dst_port: 53,
            },
        )
        .payload(b"query")
        .write(&mut buf);
        w.write_frame(ts, &buf).unwrap();
    }
    w.into_inner().unwrap().flush().unwrap();
    std::fs::write(
        dir.join("t.rules"),
        "alert tcp any any -> any 80 (msg:\"tail\"; content:\"/tail-at-timeout\"; sid:2001;)\n",
    )
    .unwrap();
    let eve = dir.join("eve.json");
    run_ok(
        tidewatch()
            .args(["replay"])
            .arg(&pcap)
            .arg("--rules")
            .arg(dir.join("t.rules"))
            .args(["--set", "flow.max_flows=64", "--eve"])
            .arg(&eve),
    );
    let alerts = eve_lines(&eve);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    // Inspected when the sweep found the session timed out, in the traffic five hours
    // on; not at the end of the capture.
    let ts = alerts[0]["timestamp"].as_str().unwrap();
    assert!(ts.starts_with("2024-01-01T05:00:00."), "{ts}");
}
