//! The metrics endpoints under a real Prometheus (Debian's `prometheus`, installed by
//! `.ci/install-deps`): a sensor on a veth pair raising alerts and blocking a prefix, a
//! `replay --collector` whose alerts wait in its spool before the collector starts, and
//! the collector. Prometheus scrapes all three every second; queries through its HTTP API
//! must return the exact alert and drop counts and latency quantiles that are both
//! within bounds the test controls and equal to what the endpoints themselves serve.
//! Every scrape passes `promtool check metrics`, and every expression of the Grafana
//! dashboard names a metric these processes export and evaluates in Prometheus.
//! Needs root (namespaces, XDP).

mod common;

use capture::craft::{FrameSpec, L4Spec};
use capture::netns::VethLab;
use common::{
    free_addr, http_get, run_ok, samples, scrape, scratch_dir, tidewatch, wait_for, Proc,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SENSOR_ID: &str = "edge-m";
const RULES: &str = "alert udp any any -> any 53 (msg:\"evil\"; content:\"evil\"; sid:1;)\n";

fn frames(n: usize, src: Ipv4Addr, payload: &[u8]) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut v = Vec::new();
            FrameSpec::ipv4(
                src,
                Ipv4Addr::new(10, 9, 0, 1),
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

/// Names of the samples an exposition carries (families with samples only).
fn sample_names(text: &str) -> BTreeSet<String> {
    samples(text)
        .keys()
        .map(|s| s.split('{').next().unwrap().to_string())
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus started for the test, killed and its data removed at the end.
struct Prometheus {
    _proc: Proc,
    addr: String,
}

impl Prometheus {
    fn start(dir: &Path, jobs: &[(&str, &str)]) -> Prometheus {
        let addr = free_addr();
        let mut cfg = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n",
        );
        for (job, target) in jobs {
            cfg += &format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            );
        }
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, cfg).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("running prometheus (Debian package `prometheus`; .ci/install-deps)");
        let p = Prometheus {
            _proc: Proc(child),
            addr,
        };
        let end = Instant::now() + Duration::from_secs(20);
        while !matches!(http_get(&p.addr, "/-/ready"), Ok((200, _))) {
            assert!(
                Instant::now() < end,
                "prometheus not ready: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// The raw answer of `/api/v1/query`.
    fn query_raw(&self, q: &str) -> Value {
        let (_, body) = http_get(&self.addr, &format!("/api/v1/query?query={}", urlencode(q)))
            .expect("querying prometheus");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad answer to {q}: {e}: {body}"))
    }

    /// `(labels, value)` of an instant vector query.
    fn query(&self, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let v = self.query_raw(q);
        assert_eq!(v["status"], "success", "{q}: {v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let val = r["value"][1].as_str().unwrap().parse::<f64>().unwrap();
                (labels, val)
            })
            .collect()
    }

    /// The value of a query expected to give one series, if it does.
    fn one(&self, q: &str) -> Option<f64> {
        let r = self.query(q);
        (r.len() == 1).then(|| r[0].1)
    }
}

fn promtool_check(text: &str, what: &str) {
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool (Debian package `prometheus`)");
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics on the {what} scrape: {said}"
    );
}

fn dashboard_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/tidewatch.json")
}

/// Every PromQL expression in the dashboard.
fn dashboard_exprs() -> Vec<String> {
    let d: Value = serde_json::from_str(&std::fs::read_to_string(dashboard_path()).unwrap())
        .expect("the dashboard is JSON");
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(e)) = m.get("expr") {
                    out.push(e.clone());
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&d, &mut out);
    out
}

/// The `tidewatch_*` metric names an expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = expr[i..].find("tidewatch_") {
        let start = i + p;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        out.push(expr[start..end].to_string());
        i = end;
    }
    out
}

#[test]
fn dashboard_and_provisioning_are_well_formed() {
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_path()).unwrap()).unwrap();
    assert_eq!(d["uid"], "tidewatch-overview", "a stable uid");
    assert!(
        d.get("id").is_none(),
        "no database id in a provisioned dashboard"
    );
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 10, "{exprs:?}");
    for e in &exprs {
        assert!(!metric_names(e).is_empty(), "{e} reads no tidewatch metric");
    }
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Drops",
        "Latency",
        "Spool fill",
        "Per-sensor state",
        "Rates",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "{want}: {titles:?}"
        );
    }
    let prov = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/provisioning/dashboards.yaml"),
    )
    .unwrap();
    assert!(prov.contains("apiVersion: 1") && prov.contains("type: file"));
}

#[test]
fn prometheus_scrapes_sensor_replay_and_collector() {
    let dir = scratch_dir("metrics-prometheus");
    std::fs::write(dir.join("a.rules"), RULES).unwrap();
    run_ok(
        tidewatch()
            .args(["certs", "--out"])
            .arg(dir.join("pki"))
            .args(["--sensor", SENSOR_ID]),
    );
    let pcap = dir.join("golden.pcap");
    xtask::golden::write_golden_pcap(&pcap).unwrap();
    let (sensor_m, replay_m, collector_m, collector_addr) =
        (free_addr(), free_addr(), free_addr(), free_addr());
    let prom = Prometheus::start(
        &dir,
        &[
            ("sensor", &sensor_m),
            ("replay", &replay_m),
            ("collector", &collector_m),
        ],
    );

    // 1. A replay raises alerts and spools them; its collector is not up yet.
    let started = Instant::now();
    let mut replay = Proc(
        tidewatch()
            .arg("replay")
            .arg(&pcap)
            .arg("--rules")
            .arg(xtask::golden::rules_path())
            .args(["--collector", &collector_addr, "--spool"])
            .arg(dir.join("replay.spool"))
            .args(["--spool-mb", "16", "--sensor-id", SENSOR_ID, "--certs"])
            .arg(dir.join("pki"))
            .args(["--metrics", &replay_m])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(replay.0.stderr.take().unwrap()).lines();
    let n_alerts: u64 = loop {
        let l = lines.next().expect("replay ended early").unwrap();
        if let Some(v) = l.strip_prefix("alerts: ") {
            break v.trim().parse().unwrap();
        }
    };
    // Every alert record exists from here on.
    let alerts_made = Instant::now();
    let replay_log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    assert!(n_alerts > 100, "the golden pcap raises many alerts");
    let replay_text = scrape(&replay_m);
    let rs = samples(&replay_text);
    assert!(rs["tidewatch_spool_fill_ratio"] > 0.0, "{replay_text}");
    assert_eq!(rs["tidewatch_collector_connected"], 0.0);
    assert_eq!(rs["tidewatch_spool_appended_total"], n_alerts as f64);

    // 2. Meanwhile, a sensor on a veth pair: 50 alerting frames, 50 quiet ones, and 30
    //    from a blocked prefix that XDP drops.
    let lab = VethLab::new("tm", 1).expect("veth lab (root needed)");
    let sock = dir.join("sensor.sock");
    let mut sensor = Proc(
        tidewatch()
            .args(["sensor", "--iface", &lab.host_if, "--rules"])
            .arg(dir.join("a.rules"))
            .arg("--eve")
            .arg(dir.join("eve.json"))
            .arg("--control-socket")
            .arg(&sock)
            .args(["--metrics", &sensor_m])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut sensor_err = BufReader::new(sensor.0.stderr.take().unwrap()).lines();
    loop {
        let l = sensor_err.next().expect("sensor ended early").unwrap();
        if l.starts_with("metrics on http://") {
            break;
        }
    }
    std::thread::spawn(move || for _ in sensor_err.by_ref() {});
    run_ok(
        tidewatch()
            .args(["block", "10.7.0.0/16", "--control-socket"])
            .arg(&sock),
    );
    let mut f = frames(50, Ipv4Addr::new(10, 8, 0, 1), b"evil stuff");
    f.extend(frames(50, Ipv4Addr::new(10, 8, 0, 2), b"good stuff"));
    f.extend(frames(30, Ipv4Addr::new(10, 7, 0, 9), b"evil but blocked"));
    lab.send(&f).unwrap();
    wait_for("the sensor to inspect 100 frames", 10, || {
        samples(&scrape(&sensor_m))
            .get("tidewatch_worker_packets_total{worker=\"0\"}")
            .copied()
            == Some(100.0)
    });
    // Prometheus scraped the replay while its alerts waited in the spool.
    wait_for("a scrape of the waiting replay", 10, || {
        prom.one("max_over_time(tidewatch_spool_fill_ratio{job=\"replay\"}[5m])")
            .is_some_and(|v| v > 0.0)
    });

    // 3. The collector starts at least 2 s after the alerts were made, so every deliver
    //    latency is at least the gap measured here.
    let gap_wanted = Duration::from_secs(2);
    if let Some(rest) = gap_wanted.checked_sub(alerts_made.elapsed()) {
        std::thread::sleep(rest);
    }
    let mut collector = Proc(
        tidewatch()
            .args(["collector", "--listen", &collector_addr, "--certs"])
            .arg(dir.join("pki"))
            .arg("--db")
            .arg(dir.join("alerts.redb"))
            .arg("--control")
            .arg(dir.join("collector.sock"))
            .args(["--metrics", &collector_m])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let gap = alerts_made.elapsed().as_secs_f64();
    let mut col_err = BufReader::new(collector.0.stderr.take().unwrap()).lines();
    std::thread::spawn(move || for _ in col_err.by_ref() {});
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = replay.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "replay did not finish delivering");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = replay_log.join().unwrap().join("\n");
    assert!(status.success(), "replay failed: {log}");
    assert!(log.contains("0 dropped to the drop channel"), "{log}");
    let longest = started.elapsed().as_secs_f64();

    // 4. What Prometheus holds equals what the endpoints serve, and the values are right.
    let want = |q: &str, v: f64| prom.one(q) == Some(v);
    let n = n_alerts as f64;
    wait_for("prometheus to scrape the final counts", 20, || {
        want("tidewatch_alerts_total{job=\"sensor\"}", 50.0)
            && want(
                "tidewatch_drops_total{job=\"sensor\",stage=\"xdp\",reason=\"blocklist\"}",
                30.0,
            )
            && want(
                "tidewatch_alert_latency_seconds_count{job=\"sensor\",stage=\"detect\"}",
                50.0,
            )
            && want(
                "tidewatch_alert_latency_seconds_count{job=\"collector\",stage=\"deliver\"}",
                n,
            )
            && want(
                "tidewatch_collector_records_stored_total{job=\"collector\"}",
                n,
            )
    });
    let sensor_text = scrape(&sensor_m);
    let collector_text = scrape(&collector_m);
    let (ss, cs) = (samples(&sensor_text), samples(&collector_text));
    assert_eq!(ss["tidewatch_packets_total{queue=\"0\"}"], 130.0);
    let blocked: f64 = ss
        .iter()
        .filter(|(k, _)| {
            k.starts_with("tidewatch_xdp_packets_total{") && k.contains("action=\"blocked\"")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(blocked, 30.0, "blocked frames summed over CPUs");
    assert_eq!(ss["tidewatch_rules_loaded"], 1.0);
    assert_eq!(
        ss["tidewatch_drops_total{stage=\"rx_ring\",reason=\"full\"}"],
        0.0
    );
    assert_eq!(
        cs[&format!("tidewatch_sensor_records_received_total{{sensor=\"{SENSOR_ID}\"}}")],
        n
    );
    for (job, stage, text, lo, hi) in [
        ("sensor", "detect", &sensor_text, 0.0, 1.0),
        ("collector", "deliver", &collector_text, gap, longest),
    ] {
        let direct = samples(text);
        let mut last = 0.0;
        for q in ["0.5", "0.9", "0.99", "0.999"] {
            let series =
                format!("tidewatch_alert_latency_seconds{{stage=\"{stage}\",quantile=\"{q}\"}}");
            let served = direct[&series];
            let from_prom = prom
                .one(&format!(
                    "tidewatch_alert_latency_seconds{{job=\"{job}\",stage=\"{stage}\",quantile=\"{q}\"}}"
                ))
                .unwrap_or_else(|| panic!("no {series} in prometheus"));
            assert_eq!(from_prom, served, "{series}: prometheus vs endpoint");
            assert!(
                served > lo && served <= hi && served >= last,
                "{series} = {served}, want in ({lo}, {hi}] and rising"
            );
            last = served;
        }
        let count = direct[&format!("tidewatch_alert_latency_seconds_count{{stage=\"{stage}\"}}")];
        let sum = direct[&format!("tidewatch_alert_latency_seconds_sum{{stage=\"{stage}\"}}")];
        assert!(
            sum / count > lo && sum / count <= hi,
            "{stage} mean {}",
            sum / count
        );
    }
    assert_eq!(prom.one("up{job=\"sensor\"}"), Some(1.0));
    assert_eq!(prom.one("up{job=\"collector\"}"), Some(1.0));

    // Kept beside the test's other files, for reading when something fails.
    for (name, text) in [
        ("sensor", &sensor_text),
        ("collector", &collector_text),
        ("replay", &replay_text),
    ] {
        std::fs::write(dir.join(format!("{name}.prom")), text).unwrap();
    }

    // 5. promtool finds nothing to complain about in any scrape.
    promtool_check(&sensor_text, "sensor");
    promtool_check(&collector_text, "collector");
    promtool_check(&replay_text, "replay");

    // 6. Every dashboard expression names metrics these processes export, and evaluates.
    let exported: BTreeSet<String> = [&sensor_text, &collector_text, &replay_text]
        .iter()
        .flat_map(|t| sample_names(t))
        .collect();
    for e in dashboard_exprs() {
        for m in metric_names(&e) {
            assert!(
                exported.contains(&m),
                "dashboard expression {e} reads {m}, which nothing exports"
            );
        }
        let q = e.replace("$__rate_interval", "1m");
        let v = prom.query_raw(&q);
        assert_eq!(v["status"], "success", "dashboard expression {q}: {v}");
    }
    drop(sensor);
    drop(collector);
}
