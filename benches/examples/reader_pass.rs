//! The replay reader's own work over a capture file, without workers: frames, decoding
//! and the flow hash, as `dispatch` does before handing packets over. The file is read
//! once to map it, then timed three times.
//! `cargo run --release -p benches --example reader_pass PCAP` (e.g. the 1 GB bench pcap
//! of `cargo xtask gen-bench`). Prints ns per packet for the whole pass and the time of
//! a pass over the frames alone.

use capture::decode;
use capture::pcap::PcapFile;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: reader_pass PCAP");
    let file = PcapFile::open(&path).expect("opening the capture");
    let warm = file.frames().map_while(Result::ok).count();
    println!("{path}: {warm} frames");
    for _ in 0..3 {
        let t = Instant::now();
        let (mut n, mut h) = (0u64, 0u64);
        for frame in file.frames().map_while(Result::ok) {
            if let Ok(p) = decode::decode(frame.link, frame.data, false) {
                h ^= detect::flow::flow_hash(&p);
                n += 1;
            }
        }
        let full = t.elapsed();
        let t = Instant::now();
        let mut sum = 0u64;
        for frame in file.frames().map_while(Result::ok) {
            sum = sum.wrapping_add(frame.ts_ns ^ frame.data.len() as u64);
        }
        let frames = t.elapsed();
        println!(
            "frames, decode, hash: {full:?} ({:.0} ns/packet, {n} decoded, {h:x}); frames alone: {frames:?} ({sum:x})",
            full.as_nanos() as f64 / n.max(1) as f64
        );
    }
}
