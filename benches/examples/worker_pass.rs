//! One worker's own work over a capture file, on one thread, without the reader: every
//! frame is decoded first (not timed), then the frames go through `Worker::handle_packet`
//! three times, each pass with a fresh worker. With `reader_pass` it splits replay's time
//! between its two threads, and it measures a change to the worker without the noise of
//! the handoff. Prints ns per packet for all packets, and the number of packets without
//! payload, so runs over a pcap's halves can split the cost per kind.
//! `cargo run --release -p benches --example worker_pass PCAP RULES`.

use capture::decode::{self, Packet};
use capture::pcap::PcapFile;
use detect::engine::Engine;
use detect::rules::{load_files, Classifications, Vars};
use detect::worker::{Worker, WorkerConfig};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (pcap, rules) = match (args.next(), args.next()) {
        (Some(p), Some(r)) => (p, r),
        _ => panic!("usage: worker_pass PCAP RULES"),
    };
    let loaded = load_files(
        &[rules.into()],
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .expect("loading the rules");
    let engine = Arc::new(Engine::build(loaded.rules).expect("building the engine"));
    let file = PcapFile::open(&pcap).expect("opening the capture");
    let packets: Vec<(u64, Packet<'_>)> = file
        .frames()
        .map_while(Result::ok)
        .filter_map(|f| Some((f.ts_ns, decode::decode(f.link, f.data, false).ok()?)))
        .collect();
    let bare = packets.iter().filter(|(_, p)| p.payload.is_empty()).count();
    println!("{pcap}: {} packets, {bare} without payload", packets.len());
    for _ in 0..3 {
        let mut w = Worker::new(engine.clone(), &WorkerConfig::default(), 0);
        let mut alerts = 0u64;
        let t = Instant::now();
        for (i, (ts, p)) in packets.iter().enumerate() {
            w.handle_packet(*ts, p, i as u64 + 1, &mut |_| alerts += 1);
        }
        let last = packets.last().map_or(0, |(ts, _)| *ts);
        w.finish(last, &mut |_| alerts += 1);
        let e = t.elapsed();
        println!(
            "worker: {e:?} ({:.0} ns/packet, {alerts} alerts)",
            e.as_nanos() as f64 / packets.len().max(1) as f64
        );
    }
}
