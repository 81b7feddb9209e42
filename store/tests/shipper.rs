//! Spool → shipper → TLS link → collector → redb, all real: the delivery faults of the
//! delivery issue, each checked with `spooled = stored` and
//! `submitted = stored + dropped-and-handed-to-the-drop-channel`, with no duplicates.

mod common;

use common::Pki;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::collector::{Collector, CollectorConfig};
use store::db::{Indexes, Query, Store};
use store::drop_channel::{read_drop_file, DropChannel};
use store::link::LinkConfig;
use store::outbox::{Outbox, Outcome};
use store::shipper::{Shipper, ShipperConfig};
use store::spool::{Spool, SpoolOptions, SpoolStats};
use store::testkit;

const SENSOR: &str = "sensor-test";

fn sensor_link(pki: &Pki, addr: &str) -> LinkConfig {
    let mut cfg = LinkConfig::new(addr, SENSOR, Some(pki.client(SENSOR)));
    cfg.server_name = Some("localhost".into());
    cfg
}

async fn start_collector(
    pki: &Pki,
    listen: &str,
    db: &Path,
    tune: impl FnOnce(&mut CollectorConfig),
) -> (Collector, Arc<Store>) {
    let store = Arc::new(Store::open(db, Indexes::Covering).unwrap());
    let mut cfg = CollectorConfig::new(listen, Some(pki.server()));
    tune(&mut cfg);
    (Collector::start(cfg, store.clone()).await.unwrap(), store)
}

fn stored_seqs(store: &Store) -> Vec<u64> {
    let mut seqs: Vec<u64> = store
        .query(&Query {
            sensor: Some(SENSOR.into()),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|a| a.record().unwrap().seq.to_native())
        .collect();
    seqs.sort_unstable();
    seqs
}

struct Sensor {
    outbox: Outbox,
    shipper: Option<Shipper>,
    stats: Arc<SpoolStats>,
    drop_file: std::path::PathBuf,
    spooled: Vec<u64>,
    dropped: Vec<u64>,
}

impl Sensor {
    fn open(dir: &Path, capacity: u64, link: LinkConfig) -> Sensor {
        let stats = Arc::new(SpoolStats::default());
        let spool = Spool::open_with_stats(
            dir.join("spool"),
            &SpoolOptions::with_capacity(capacity),
            stats.clone(),
        )
        .unwrap();
        let (writer, reader) = spool.split();
        let drop_file = dir.join("drops");
        // No one listens on the drop socket: dropped alerts go to the file.
        let drops = DropChannel::new(dir.join("drop.sock"), &drop_file, stats.clone()).unwrap();
        let mut cfg = ShipperConfig::new(link);
        cfg.backoff_min = Duration::from_millis(20);
        cfg.backoff_max = Duration::from_millis(200);
        let shipper = Shipper::start(reader, cfg, |_| {}).unwrap();
        Sensor {
            outbox: Outbox::new(writer, drops),
            shipper: Some(shipper),
            stats,
            drop_file,
            spooled: Vec::new(),
            dropped: Vec::new(),
        }
    }

    fn submit(&mut self, n: usize) {
        for _ in 0..n {
            let mut rec = testkit::archived(0, 512);
            match self.outbox.submit(&mut rec).unwrap() {
                Outcome::Spooled { seq } => self.spooled.push(seq),
                Outcome::Dropped { seq, .. } => self.dropped.push(seq),
            }
        }
    }

    async fn wait_all_acked(&self, secs: u64) {
        let last = *self.spooled.last().unwrap();
        let stats = self.shipper.as_ref().unwrap().stats().clone();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while stats.acked_seq.load(Acquire) < last {
            assert!(
                Instant::now() < deadline,
                "acked {} of {last} after {secs}s",
                stats.acked_seq.load(Acquire)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spooled_alert_is_stored_once_across_a_collector_restart() {
    let pki = Pki::new(&[SENSOR]);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("alerts.redb");
    let (col, store) = start_collector(&pki, "127.0.0.1:0", &db, |_| {}).await;
    let addr = col.local_addr.to_string();
    let mut sensor = Sensor::open(tmp.path(), 64 << 20, sensor_link(&pki, &addr));

    sensor.submit(3000);
    sensor.wait_all_acked(30).await;
    // The collector goes away mid-stream; the spool keeps taking alerts meanwhile.
    col.shutdown().await;
    drop(store);
    sensor.submit(2000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (col, store) = start_collector(&pki, &addr, &db, |_| {}).await;
    sensor.submit(1000);
    sensor.wait_all_acked(30).await;

    let ship = sensor.shipper.take().unwrap();
    assert!(ship.stats().connects.load(Relaxed) >= 2, "it reconnected");
    // One deliver latency per acknowledged alert, resends included once; the sum is
    // exact (testkit records were created in 2023, so each is about that old).
    let lat = ship.stats().deliver_latency.snapshot();
    assert_eq!(lat.count, 6000);
    let age = (store::latency::now_ns() - 1_700_000_000_000_000_500) as f64 / 1e9;
    assert!(
        (lat.sum_seconds / 6000.0 - age).abs() < 60.0,
        "{lat:?} vs {age}"
    );
    // The collector takes one per record of each committed batch.
    assert_eq!(
        col.stats.deliver_latency.snapshot().count,
        col.stats.stored.load(Relaxed) + col.stats.duplicates.load(Relaxed)
    );
    ship.stop();
    assert!(sensor.dropped.is_empty());
    assert_eq!(
        stored_seqs(&store),
        sensor.spooled,
        "each spooled alert stored once"
    );
    assert_eq!(sensor.spooled.len(), 6000);
    assert_eq!(sensor.stats.snapshot().acked, 6000);
    col.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_writer_pushes_back_into_the_spool_and_only_its_watermark_drops() {
    let pki = Pki::new(&[SENSOR]);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("alerts.redb");
    let (col, store) = start_collector(&pki, "127.0.0.1:0", &db, |c| {
        c.buffer_bytes = 256 << 10;
        c.limits.max_frame = 128 << 10;
    })
    .await;
    col.pause_writer(true);
    let addr = col.local_addr.to_string();
    // 1 MiB of spool holds about 1,400 alerts of 512-byte payload.
    let mut link = sensor_link(&pki, &addr);
    link.limits.max_frame = 128 << 10;
    let mut sensor = Sensor::open(tmp.path(), 1 << 20, link);

    // Nothing is acknowledged while the writer stalls, so alerts pile up in the spool
    // and, past its high watermark, go to the drop channel.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sensor.dropped.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the spool never reached its watermark"
        );
        sensor.submit(100);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        col.stats.stored.load(Relaxed),
        0,
        "nothing committed while paused"
    );
    assert_eq!(
        sensor
            .shipper
            .as_ref()
            .unwrap()
            .stats()
            .acked_seq
            .load(Acquire),
        0,
        "nothing acknowledged while the writer stalls"
    );
    let first_drop = sensor.dropped[0];
    assert!(
        first_drop > 1000,
        "the spool absorbed the surge before dropping (first drop at seq {first_drop})"
    );
    // Keep submitting past the drop point, then let the writer go.
    sensor.submit(500);
    col.pause_writer(false);
    sensor.wait_all_acked(30).await;
    sensor.submit(200);
    sensor.wait_all_acked(30).await;
    sensor.shipper.take().unwrap().stop();

    let stored = stored_seqs(&store);
    assert_eq!(stored, sensor.spooled, "each spooled alert stored once");
    let file = read_drop_file(&sensor.drop_file).unwrap();
    let in_file: Vec<u64> = file
        .records
        .iter()
        .map(|d| d.access().unwrap().seq.to_native())
        .collect();
    assert_eq!(
        in_file, sensor.dropped,
        "every dropped alert is in the drop file"
    );
    let all: BTreeSet<u64> = stored.iter().chain(in_file.iter()).copied().collect();
    let submitted = sensor.spooled.len() + sensor.dropped.len();
    assert_eq!(all.len(), submitted, "no seq both stored and dropped");
    assert_eq!(
        all,
        (1..=submitted as u64).collect(),
        "every seq accounted for"
    );
    assert_eq!(
        sensor.stats.snapshot().dropped_high_water,
        sensor.dropped.len() as u64
    );
    col.shutdown().await;
}
