//! The real-world ruleset users load: Emerging Threats Open (24,795 rules). `check` and
//! `replay` must load it without an error or a panic and say what they enforce and skip.
//! Skipped (with a message) when `../shared/rules/et-open` is not beside the checkout.

mod common;

use common::*;

#[test]
fn et_open_loads_and_replays_with_a_summary() {
    let Some(dir) = et_open_dir() else {
        eprintln!("ET Open not found beside the checkout: skipped");
        return;
    };
    let rules = dir.join("et-open.rules");
    let out = run_ok(tidewatch().arg("check").arg("--rules").arg(&rules));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().next().unwrap();
    // "rules: N enforced, M skipped, 0 invalid, from 1 file(s)"
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums[2], 0, "no invalid rule: {line}");
    assert_eq!(
        nums[0] + nums[1],
        24_795,
        "every rule enforced or skipped: {line}"
    );
    assert!(
        nums[0] > 10_000,
        "most non-app-layer rules, the DNS and the TLS rules are enforced: {line}"
    );
    // flowbits, threshold, detection_filter, DNS queries, TLS server names, JA3S and
    // certificates (two of them in one rule too) are enforced: no rule is skipped for
    // them alone.
    for kw in [
        "flowbits",
        "threshold",
        "detection_filter",
        "dns.query",
        "dns_query",
        "app-layer:dns",
        "tls.sni",
        "tls_sni",
        "ja3s.hash",
        "tls.certs",
        "tls.cert_subject",
        "tls.cert_issuer",
        "tls.cert_serial",
        "tls.cert_subject+tls.cert_issuer",
        "ja3.hash+tls.sni",
        "app-layer:http",
    ] {
        assert!(
            !stdout
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(kw)),
            "{kw} still skips rules: {stdout}"
        );
    }
    // The response headers are not parsed yet.
    assert!(stdout.contains("http.content_type:response"), "{stdout}");
    assert!(stdout.contains("configuration OK"));

    let work = scratch_dir("et_open_replay");
    let pcap = work.join("golden.pcap");
    xtask::golden::write_golden_pcap(&pcap).unwrap();
    let eve = work.join("eve.json");
    let out = run_ok(
        tidewatch()
            .arg("replay")
            .arg(&pcap)
            .arg("--rules")
            .arg(&rules)
            .arg("--eve")
            .arg(&eve),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipped rules by unsupported keyword"),
        "{stderr}"
    );
    assert!(stderr.contains("packets: "), "{stderr}");
    for a in eve_lines(&eve) {
        assert_eq!(a["event_type"], "alert");
    }
}

/// With the whole ET Open ruleset (what it enforces), tidewatch raises on the 50 MB bench
/// pcap exactly the alerts Suricata 7 raises with the rules tidewatch enforces
/// (`cargo xtask golden-et-open`): same sids, addresses, ports and packet times.
#[test]
fn et_open_alerts_equal_suricatas_on_the_bench_pcap() {
    use xtask::et_open_check::{ET_OPEN_EXPECTED_PATH, ET_OPEN_PCAP_MB};
    let Some(dir) = et_open_dir() else {
        eprintln!("ET Open not found beside the checkout: skipped");
        return;
    };
    let theirs = expected_tuples(ET_OPEN_EXPECTED_PATH);
    assert!(theirs.len() > 100, "the reference has alerts");
    let work = scratch_dir("et_open_golden");
    let pcap = work.join("bench50.pcap");
    xtask::benchgen::write_bench_pcap(&pcap, ET_OPEN_PCAP_MB).unwrap();
    replay_equals(&work, &pcap, &dir.join("et-open.rules"), &theirs);
}

/// Replays `pcap` with the whole ruleset `rules` and requires Suricata's alerts `theirs`,
/// alert by alert; removes `work` when they are equal.
fn replay_equals(
    work: &std::path::Path,
    pcap: &std::path::Path,
    rules: &std::path::Path,
    theirs: &[Tuple],
) {
    let eve = work.join("eve.json");
    run_ok(
        tidewatch()
            .arg("replay")
            .arg(pcap)
            .arg("--rules")
            .arg(rules)
            .arg("--eve")
            .arg(&eve),
    );
    let got = eve_tuples(&eve_lines(&eve));
    let missing: Vec<_> = theirs.iter().filter(|t| !got.contains(t)).take(5).collect();
    let extra: Vec<_> = got.iter().filter(|t| !theirs.contains(t)).take(5).collect();
    assert!(
        got == theirs,
        "{} alerts against Suricata's {}: missing {missing:?}, extra {extra:?}",
        got.len(),
        theirs.len()
    );
    let _ = std::fs::remove_dir_all(work);
}

/// With the whole ET Open ruleset, tidewatch raises on queries (and replies) for the names
/// ET Open's `dns.query` rules look for exactly the alerts Suricata 7 raises with the
/// rules tidewatch enforces (`cargo xtask golden-et-open`): thousands of real DNS rules,
/// with their `dotprefix`, `bsize`, `nocase`, `endswith` and `pcre`, alert by alert.
#[test]
fn et_open_dns_alerts_equal_suricatas() {
    use xtask::et_open_check::{write_et_dns_pcap, ET_DNS_EXPECTED_PATH};
    let Some(dir) = et_open_dir() else {
        eprintln!("ET Open not found beside the checkout: skipped");
        return;
    };
    let theirs = expected_tuples(ET_DNS_EXPECTED_PATH);
    assert!(theirs.len() > 5_000, "the reference has alerts");
    let work = scratch_dir("et_open_dns");
    let pcap = work.join("et_dns.pcap");
    let rules = dir.join("et-open.rules");
    let queries = write_et_dns_pcap(&rules, &pcap).unwrap();
    assert!(queries > 10_000, "{queries} queries");
    replay_equals(&work, &pcap, &rules, &theirs);
}

/// With the whole ET Open ruleset, tidewatch raises on TLS sessions naming what ET Open's
/// `tls.sni` rules look for exactly the alerts Suricata 7 raises with the rules tidewatch
/// enforces (`cargo xtask golden-et-open`): about 1,700 real server-name rules, with their
/// `dotprefix`, `bsize`, `nocase`, `endswith` and `pcre`, alert by alert and packet by
/// packet (the client's packet after the server acknowledged the ClientHello).
#[test]
fn et_open_tls_alerts_equal_suricatas() {
    use xtask::et_open_check::{write_et_tls_pcap, ET_TLS_EXPECTED_PATH};
    let Some(dir) = et_open_dir() else {
        eprintln!("ET Open not found beside the checkout: skipped");
        return;
    };
    let theirs = expected_tuples(ET_TLS_EXPECTED_PATH);
    assert!(theirs.len() > 2_000, "the reference has alerts");
    let work = scratch_dir("et_open_tls");
    let pcap = work.join("et_tls.pcap");
    let rules = dir.join("et-open.rules");
    let sessions = write_et_tls_pcap(&rules, &pcap).unwrap();
    assert!(sessions > 5_000, "{sessions} sessions");
    replay_equals(&work, &pcap, &rules, &theirs);
}

/// With the whole ET Open ruleset, tidewatch raises on TLS sessions whose server
/// certificates carry what ET Open's `tls.cert_subject`, `tls.cert_issuer` and
/// `tls.cert_serial` rules look for exactly the alerts Suricata 7 raises with the rules
/// tidewatch enforces (`cargo xtask golden-et-open`): a few hundred real certificate
/// rules, subject and issuer in one rule among them, with their `startswith`,
/// `endswith`, `bsize`, `nocase`, `pcre` and thresholds, alert by alert and packet by
/// packet (the server's packet after the client acknowledged the certificate).
#[test]
fn et_open_cert_alerts_equal_suricatas() {
    use xtask::et_open_check::{write_et_cert_pcap, ET_CERTS_EXPECTED_PATH};
    let Some(dir) = et_open_dir() else {
        eprintln!("ET Open not found beside the checkout: skipped");
        return;
    };
    let theirs = expected_tuples(ET_CERTS_EXPECTED_PATH);
    assert!(theirs.len() > 100, "the reference has alerts");
    let work = scratch_dir("et_open_certs");
    let pcap = work.join("et_certs.pcap");
    let rules = dir.join("et-open.rules");
    let sessions = write_et_cert_pcap(&rules, &pcap).unwrap();
    assert!(sessions > 200, "{sessions} sessions");
    replay_equals(&work, &pcap, &rules, &theirs);
}

/// With the whole ET Open ruleset, tidewatch raises on HTTP/1.1 requests holding what ET
/// Open's HTTP request rules look for (`http.uri`, `http.method`, `http.host`,
/// `http.user_agent`, `http.header`, `http.header_names`, ...) exactly the alerts Suricata
/// 7 raises with the rules tidewatch enforces (`cargo xtask golden-et-open`): thousands
/// of real HTTP rules, one session each, alert by alert and packet by packet.
#[test]
fn et_open_http_alerts_equal_suricatas() {
    use xtask::et_open_check::ET_HTTP_EXPECTED_PATH;
    use xtask::et_open_http::write_et_http_pcap;
    let Some(dir) = et_open_dir() else {
        eprintln!("ET Open not found beside the checkout: skipped");
        return;
    };
    let theirs = expected_tuples(ET_HTTP_EXPECTED_PATH);
    assert!(theirs.len() > 1_000, "the reference has alerts");
    let work = scratch_dir("et_open_http");
    let pcap = work.join("et_http.pcap");
    let rules = dir.join("et-open.rules");
    let sessions = write_et_http_pcap(&rules, &pcap).unwrap();
    assert!(sessions > 1_000, "{sessions} sessions");
    replay_equals(&work, &pcap, &rules, &theirs);
}
