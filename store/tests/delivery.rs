//! The link and the collector end to end: real TLS on loopback sockets, real redb files.

mod common;

use common::Pki;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::collector::{Collector, CollectorConfig, Reject};
use store::db::{Indexes, Query, Store};
use store::link::{self, Inbound, LinkConfig};
use store::record::{Action, Origin};
use store::AlertRecord;
use tokio::io::AsyncWriteExt;

fn record(sensor: &str, seq: u64) -> AlertRecord {
    AlertRecord {
        sensor: sensor.into(),
        seq,
        ts_ns: 1_700_000_000_000_000_000 + seq * 1000,
        created_ns: 0,
        origin: Origin::Sensor,
        gid: 1,
        sid: 1000 + (seq % 3) as u32,
        rev: 1,
        msg: "test".into(),
        class: String::new(),
        priority: 2,
        action: Action::Alert,
        flow_id: seq,
        src: format!("10.0.{}.{}", seq % 2, seq % 250)
            .parse::<IpAddr>()
            .unwrap()
            .into(),
        dst: "192.0.2.1".parse::<IpAddr>().unwrap().into(),
        src_port: 1000,
        dst_port: 80,
        ip_proto: 6,
        icmp: None,
        vlan: vec![],
        tunnel: None,
        iface: "eth0".into(),
        payload: vec![0x41; 512],
        packet: vec![0x42; 64],
        packet_len: 64,
    }
}

fn encoded(sensor: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<u8>)> {
    seqs.map(|s| (s, record(sensor, s).encode().unwrap().to_vec()))
        .collect()
}

async fn start(
    pki: &Pki,
    db: &std::path::Path,
    tune: impl FnOnce(&mut CollectorConfig),
) -> (Collector, Arc<Store>) {
    let store = Arc::new(Store::open(db, Indexes::Covering).unwrap());
    let mut cfg = CollectorConfig::new("127.0.0.1:0", Some(pki.server()));
    tune(&mut cfg);
    (Collector::start(cfg, store.clone()).await.unwrap(), store)
}

/// Waits (bounded) for an ack of at least `want`; returns the last ack seen.
async fn await_ack(rx: &mut link::LinkRx, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = 0;
    while last < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(Some(Inbound::Ack(n)))) => {
                assert!(n >= last, "acks go forward: {n} after {last}");
                last = n
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("waiting for ack {want} (have {last}): {other:?}"),
        }
    }
    last
}

fn pair(r: &(u64, Vec<u8>)) -> (u64, &[u8]) {
    (r.0, r.1.as_slice())
}

async fn send(tx: &mut link::LinkTx, recs: &[(u64, Vec<u8>)]) {
    for chunk in recs.chunks(500) {
        tx.send_batch(chunk.iter().map(pair)).await.unwrap();
    }
}

fn count(store: &Store, sensor: &str) -> usize {
    store
        .query(&Query {
            sensor: Some(sensor.into()),
            ..Default::default()
        })
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_every_record_once_and_resends_are_deduplicated() {
    let pki = Pki::new(&["s1"]);
    let tmp = tempfile::tempdir().unwrap();
    let (col, store) = start(&pki, &tmp.path().join("a.redb"), |_| {}).await;
    let cfg = LinkConfig::new(col.local_addr.to_string(), "s1", Some(pki.client("s1")));
    let mut cfg = cfg;
    cfg.server_name = Some("localhost".into());
    let (mut tx, mut rx, welcome) = link::connect(&cfg, 0).await.unwrap();
    assert_eq!(welcome.stored_through, None);
    let recs = encoded("s1", 1..=3000);
    send(&mut tx, &recs).await;
    assert_eq!(await_ack(&mut rx, 3000).await, 3000);
    // Reconnect and resend an acked range plus new records: stored once each.
    drop((tx, rx));
    let (mut tx, mut rx, welcome) = link::connect(&cfg, 3000).await.unwrap();
    assert_eq!(welcome.stored_through, Some(3000));
    send(&mut tx, &encoded("s1", 2001..=3500)).await;
    assert_eq!(await_ack(&mut rx, 3500).await, 3500);
    assert_eq!(count(&store, "s1"), 3500);
    assert_eq!(col.stats.stored.load(Relaxed), 3500);
    assert_eq!(col.stats.duplicates.load(Relaxed), 1000);
    let mut seqs: Vec<u64> = store
        .query(&Query::default())
        .unwrap()
        .iter()
        .map(|a| a.record().unwrap().seq.to_native())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=3500).collect::<Vec<_>>());
    col.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_garbage_are_refused_while_a_good_sensor_delivers() {
    let pki = Pki::new(&["good", "liar"]);
    let other = Pki::new(&["good"]);
    let tmp = tempfile::tempdir().unwrap();
    let (col, store) = start(&pki, &tmp.path().join("b.redb"), |_| {}).await;
    let addr = col.local_addr.to_string();
    let mut good = LinkConfig::new(addr.clone(), "good", Some(pki.client("good")));
    good.server_name = Some("localhost".into());
    let (mut tx, mut rx, _) = link::connect(&good, 0).await.unwrap();
    send(&mut tx, &encoded("good", 1..=100)).await;
    await_ack(&mut rx, 100).await;

    // A certificate from another CA.
    let mut stranger = good.clone();
    stranger.tls = Some(other.client("good"));
    assert!(link::connect(&stranger, 0).await.is_err());
    // A valid certificate used to claim another sensor's name.
    let mut liar = good.clone();
    liar.tls = Some(pki.client("liar"));
    assert!(link::connect(&liar, 0).await.is_err());
    // No TLS at all: plain Hello bytes into a TLS port.
    let mut plain = good.clone();
    plain.tls = None;
    assert!(link::connect(&plain, 0).await.is_err());
    // Garbage after an authenticated Hello.
    let (mut gtx, mut grx, _) = link::connect(&good, 0).await.unwrap();
    let junk_len = (store::wire::HEADER_LEN + 4) as u8;
    let _ = junk_len;
    gtx.send_batch([(200u64, &[0xde, 0xad, 0xbe, 0xef][..])])
        .await
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), grx.recv())
        .await
        .unwrap();
    assert!(
        matches!(end, Ok(None) | Err(_)),
        "garbage link must be closed: {end:?}"
    );

    // The good sensor is unharmed.
    send(&mut tx, &encoded("good", 101..=300)).await;
    await_ack(&mut rx, 300).await;
    assert_eq!(count(&store, "good"), 300);
    let deadline = Instant::now() + Duration::from_secs(5);
    while col.stats.rejected(Reject::Handshake) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        col.stats.rejected(Reject::Handshake) >= 2,
        "{}",
        col.stats.summary()
    );
    assert_eq!(
        col.stats.rejected(Reject::Identity),
        1,
        "{}",
        col.stats.summary()
    );
    assert_eq!(
        col.stats.rejected(Reject::Malformed),
        1,
        "{}",
        col.stats.summary()
    );
    col.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_garbage_on_a_plain_port_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("c.redb"), Indexes::Covering).unwrap());
    let cfg = CollectorConfig::new("127.0.0.1:0", None);
    let col = Collector::start(cfg, store).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(col.local_addr)
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut huge = tokio::net::TcpStream::connect(col.local_addr)
        .await
        .unwrap();
    huge.write_all(&store::wire::Header::encode(
        store::wire::Kind::Hello,
        1 << 30,
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while (col.stats.rejected(Reject::Malformed) < 1 || col.stats.rejected(Reject::TooLarge) < 1)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(col.stats.rejected(Reject::Malformed), 1);
    assert_eq!(col.stats.rejected(Reject::TooLarge), 1);
    col.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_writer_stops_reading_and_acks_nothing_uncommitted() {
    let pki = Pki::new(&["s1"]);
    let tmp = tempfile::tempdir().unwrap();
    let (col, store) = start(&pki, &tmp.path().join("d.redb"), |c| {
        c.buffer_bytes = 1 << 20
    })
    .await;
    let mut cfg = LinkConfig::new(col.local_addr.to_string(), "s1", Some(pki.client("s1")));
    cfg.server_name = Some("localhost".into());
    let (mut tx, mut rx, _) = link::connect(&cfg, 0).await.unwrap();
    send(&mut tx, &encoded("s1", 1..=500)).await;
    assert_eq!(await_ack(&mut rx, 500).await, 500);
    col.pause_writer(true);
    // 20,000 records of ~700 B is 14 MB: far beyond the 1 MiB buffer and socket buffers.
    let more = encoded("s1", 501..=20_500);
    let sender = tokio::spawn(async move {
        send(&mut tx, &more).await;
        tx
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !sender.is_finished(),
        "the sender must be held back by TCP flow control"
    );
    let cap = col.stats.buffer_capacity.load(Relaxed);
    assert!(
        col.stats.buffer_peak.load(Relaxed) <= cap,
        "buffer stays bounded: {}",
        col.stats.summary()
    );
    assert!(
        col.stats.buffer_bytes.load(Relaxed) > cap / 2,
        "buffer filled: {}",
        col.stats.summary()
    );
    let received = col.stats.received.load(Relaxed);
    assert!(
        received < 20_500,
        "the collector stopped reading: {received}"
    );
    assert_eq!(count(&store, "s1"), 500);
    // Nothing beyond what was committed was acknowledged.
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv())
        .await
        .is_err());
    col.pause_writer(false);
    assert_eq!(await_ack(&mut rx, 20_500).await, 20_500);
    sender.await.unwrap();
    assert_eq!(count(&store, "s1"), 20_500);
    assert_eq!(col.stats.buffer_bytes.load(Relaxed), 0);
    col.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sensors_are_reported_and_commands_reach_sensors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("e.redb"), Indexes::Covering).unwrap());
    let mut cfg = CollectorConfig::new("127.0.0.1:0", None);
    cfg.silence = Duration::from_millis(200);
    let col = Collector::start(cfg, store).await.unwrap();
    let lc = LinkConfig::new(col.local_addr.to_string(), "quiet", None);
    let (mut tx, mut rx, _) = link::connect(&lc, 0).await.unwrap();
    tx.ping(7).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), Some(Inbound::Pong(7)));
    let block = store::wire::Command::Block(store::wire::Block {
        net: "198.51.100.0".parse().unwrap(),
        prefix: 24,
        secs: 60,
    });
    assert_eq!(col.command(Some("quiet".into()), block), 1);
    assert_eq!(rx.recv().await.unwrap(), Some(Inbound::Command(block)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while col.stats.silent_sensors().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(col.stats.silent_sensors(), vec!["quiet".to_string()]);
    tx.ping(8).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), Some(Inbound::Pong(8)));
    assert!(col.stats.silent_sensors().is_empty());
    col.shutdown().await;
}
