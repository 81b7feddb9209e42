//! The collector as a process: killed with SIGKILL mid-stream and restarted, the sensor
//! resends from its last ack and every alert is stored exactly once; `tidewatch alerts`
//! answers through the control socket while the collector runs, and from the file after.

mod common;

use common::{sample_record as record, scratch_dir, start_collector, tidewatch, Proc};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::link::{self, Backoff, Inbound, LinkConfig};

const N: u64 = 6000;

fn alerts(dir: &Path, extra: &[&str]) -> String {
    let out = tidewatch()
        .arg("alerts")
        .arg("--db")
        .arg(dir.join("alerts.redb"))
        .arg("--control")
        .arg(dir.join("collector.sock"))
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "alerts {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn seqs_of(json_lines: &str) -> Vec<u64> {
    let mut v: Vec<u64> = json_lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["tidewatch"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    v.sort();
    v
}

/// Sends `from..=N` until the link breaks or everything is acked; returns the last ack.
async fn deliver(cfg: &LinkConfig, from: u64, kill_at: Option<(u64, &mut Proc)>) -> u64 {
    let (mut tx, mut rx, welcome) = link::connect_with_backoff(
        cfg,
        N,
        &mut Backoff::new(Duration::from_millis(20), Duration::from_millis(500)),
        Some(Instant::now() + Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert!(welcome.stored_through.unwrap_or(0) >= from.saturating_sub(1));
    let acked = Arc::new(AtomicU64::new(from - 1));
    let a = acked.clone();
    let acks = tokio::spawn(async move {
        while let Ok(Some(m)) = rx.recv().await {
            if let Inbound::Ack(n) = m {
                a.store(n, SeqCst);
                if n == N {
                    break;
                }
            }
        }
    });
    let recs: Vec<(u64, Vec<u8>)> = (from..=N)
        .map(|s| (s, record(s).encode().unwrap().to_vec()))
        .collect();
    let mut kill_at = kill_at;
    for chunk in recs.chunks(100) {
        if tx
            .send_batch(chunk.iter().map(|(s, b)| (*s, b.as_slice())))
            .await
            .is_err()
        {
            break;
        }
        if let Some((at, p)) = kill_at.as_mut() {
            if chunk[0].0 >= *at {
                // Once something is acked, kill -9 while later batches are in flight: no
                // shutdown, uncommitted batches die with the process.
                let t = Instant::now();
                while acked.load(SeqCst) < from && t.elapsed() < Duration::from_secs(10) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                p.0.kill().unwrap();
                p.0.wait().unwrap();
                kill_at = None;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(20), acks).await;
    acked.load(SeqCst)
}

#[test]
fn collector_killed_mid_stream_loses_nothing_and_stores_nothing_twice() {
    let dir: PathBuf = scratch_dir("collector-kill");
    let st = tidewatch()
        .args(["certs", "--sensor", "edge-1", "--out"])
        .arg(dir.join("pki"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let pki = dir.join("pki");
    let client = link::client_config(
        &pki.join("ca.pem"),
        &pki.join("sensor-edge-1.pem"),
        &pki.join("sensor-edge-1-key.pem"),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let (mut first, addr) = start_collector(&dir, "127.0.0.1:0");
    let mut cfg = LinkConfig::new(addr.clone(), "edge-1", Some(client));
    cfg.server_name = Some("localhost".into());
    let acked = rt.block_on(deliver(&cfg, 1, Some((N / 2, &mut first))));
    eprintln!("killed with {acked} of {N} acknowledged");
    assert!(acked < N, "the kill must land mid-stream (acked {acked})");
    drop(first);

    // Restart on the same port; the sensor resends from its last ack.
    let (_second, addr2) = start_collector(&dir, &addr);
    assert_eq!(addr2, addr);
    let acked = rt.block_on(deliver(&cfg, acked + 1, None));
    assert_eq!(acked, N);

    // Through the control socket (the collector holds the file).
    let all = alerts(&dir, &["--format", "json", "--limit", "0"]);
    assert_eq!(
        seqs_of(&all),
        (1..=N).collect::<Vec<_>>(),
        "every alert once"
    );
    let ten = alerts(
        &dir,
        &["--format", "json", "--limit", "0", "--sid", "2000010"],
    );
    assert_eq!(
        seqs_of(&ten),
        (1..=N / 10).map(|i| i * 10).collect::<Vec<_>>()
    );
}

#[test]
fn alerts_filters_print_json_table_payload_and_pcap_from_the_file() {
    let dir = scratch_dir("alerts-cli");
    let db = dir.join("alerts.redb");
    {
        let store = store::db::Store::open(&db, store::db::Indexes::Covering).unwrap();
        let mut enc = store::wire::BatchEncoder::new();
        for s in 1..=40u64 {
            enc.push(s, &record(s).encode().unwrap());
        }
        let mut payload = rkyv::util::AlignedVec::<16>::new();
        payload.extend_from_slice(&enc.frame()[store::wire::HEADER_LEN..]);
        let batch = store::wire::Batch::parse(&payload, &Default::default()).unwrap();
        let c = store
            .commit(&[store::db::Incoming {
                sensor: "edge-1",
                batch,
            }])
            .unwrap();
        assert_eq!(c.stored, 40);
    }
    // Newest first, limit.
    let j = alerts(&dir, &["--format", "json", "--limit", "3"]);
    let lines: Vec<serde_json::Value> = j
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["tidewatch"]["seq"], 40);
    assert_eq!(lines[0]["event_type"], "alert");
    assert_eq!(lines[0]["host"], "edge-1");
    assert_eq!(lines[0]["src_ip"], "10.0.0.1");
    assert_eq!(lines[0]["dest_port"], 80);
    assert_eq!(lines[0]["alert"]["signature_id"], 2_000_010);
    assert_eq!(lines[0]["alert"]["signature"], "alert 40");
    assert!(lines[0]["community_id"].as_str().unwrap().starts_with("1:"));
    // Filters: source block, time window (seq s has ts 2024-01-01 + s seconds), sensor.
    let src = seqs_of(&alerts(
        &dir,
        &["--format", "json", "--limit", "0", "--src", "10.0.1.0/24"],
    ));
    assert_eq!(src, (1..=40).filter(|s| s % 4 == 1).collect::<Vec<_>>());
    let win = seqs_of(&alerts(
        &dir,
        &[
            "--format",
            "json",
            "--limit",
            "0",
            "--since",
            "2024-01-01T00:00:05",
            "--until",
            "2024-01-01T00:00:08Z",
        ],
    ));
    assert_eq!(win, vec![5, 6, 7]);
    assert!(alerts(&dir, &["--format", "json", "--sensor", "nobody"]).is_empty());
    assert!(
        alerts(
            &dir,
            &["--format", "json", "--dst", "192.0.2.0/24", "--limit", "0"]
        )
        .lines()
        .count()
            == 40
    );
    // Table with payload dump.
    let t = alerts(&dir, &["--limit", "1", "--payload"]);
    assert!(
        t.contains("2024-01-01T00:00:40.000000+0000") && t.contains("alert 40"),
        "{t}"
    );
    assert!(
        t.contains("|GET /40 HTTP/1.1|") && t.contains("0d 0a"),
        "{t}"
    );
    // pcap of the stored packets, read back.
    let pcap = dir.join("out.pcap");
    alerts(
        &dir,
        &[
            "--limit",
            "0",
            "--sid",
            "2000010",
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let f = capture::pcap::PcapFile::open(&pcap).unwrap();
    let mut seqs: Vec<u64> = f
        .frames()
        .map(|fr| {
            let fr = fr.unwrap();
            assert_eq!(fr.data.len(), 60);
            let seq = u64::from_be_bytes(fr.data[..8].try_into().unwrap());
            let orig = if seq % 20 == 0 { 70_000 } else { 60 };
            assert_eq!(fr.orig_len, orig, "seq {seq}: original length kept");
            seq
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, vec![10, 20, 30, 40]);
    // Bad input is named.
    let bad = tidewatch()
        .arg("alerts")
        .arg("--db")
        .arg(&db)
        .args(["--src", "10.0.0.0/99"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--src"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
