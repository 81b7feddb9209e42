//! Delivery latency at a steady rate: alert creation (the sensor stamps `created_ns`) to
//! the collector's acknowledgment of its durable commit, over real TLS on loopback.
//! `cargo run --release -p benches --example delivery_latency [RATE_PER_S] [SECONDS]`
//! (defaults 10000 and 10). Prints p50/p99/p99.9/max.

use benches::delivery::{alert, now_ns, Rig};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use store::db::Indexes;
use store::link::Inbound;

fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args
        .next()
        .map_or(10_000, |a| a.parse().expect("RATE_PER_S"));
    let secs: u64 = args.next().map_or(10, |a| a.parse().expect("SECONDS"));
    let total = rate * secs;
    let per_ms = rate.div_ceil(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lat = rt.block_on(async move {
        let Rig {
            collector,
            mut tx,
            mut rx,
            store: _store,
            ..
        } = Rig::start(Indexes::Covering).await;
        let created: Arc<Vec<AtomicU64>> =
            Arc::new((0..=total).map(|_| AtomicU64::new(0)).collect());
        let c = created.clone();
        let acks = tokio::spawn(async move {
            let mut lat = Vec::with_capacity(total as usize);
            let mut done = 0u64;
            while done < total {
                match rx.recv().await.unwrap() {
                    Some(Inbound::Ack(n)) => {
                        let now = now_ns();
                        for s in done + 1..=n {
                            lat.push(now.saturating_sub(c[s as usize].load(Relaxed)));
                        }
                        done = n;
                    }
                    Some(_) => {}
                    None => panic!("collector closed the link"),
                }
            }
            lat
        });
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut seq = 1u64;
        let mut buf: Vec<(u64, rkyv::util::AlignedVec)> = Vec::new();
        while seq <= total {
            tick.tick().await;
            buf.clear();
            for _ in 0..per_ms.min(total - seq + 1) {
                let t = now_ns();
                created[seq as usize].store(t, Relaxed);
                buf.push((seq, alert("bench", seq, t).encode().unwrap()));
                seq += 1;
            }
            tx.send_batch(buf.iter().map(|(s, b)| (*s, b.as_slice())))
                .await
                .unwrap();
        }
        let lat = acks.await.unwrap();
        eprintln!("{}", collector.stats.summary());
        collector.shutdown().await;
        lat
    });
    let mut lat = lat;
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1e6;
    println!(
        "{} alerts at {rate}/s: creation to ack p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        lat.len(),
        q(0.50),
        q(0.99),
        q(0.999),
        q(1.0)
    );
}
