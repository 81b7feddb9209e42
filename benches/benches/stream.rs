//! Stream reassembly cost: whole TCP sessions (handshake, six 1,000-byte client segments,
//! the server's acknowledgement, teardown) through a worker, with rules that inspect the
//! stream (payload copied into per-flow buffers, prefiltered, inspected at the ack and the
//! FIN) against the same frames with only `tcp-pkt` rules (no copy: the baseline). In
//! order and with two segments swapped (buffered out of order, released when the gap
//! fills). Sessions rotate over many flows so the table is not all in cache.

use capture::craft::TcpSession;
use capture::decode::tcp_flags::{ACK, PSH};
use capture::decode::{decode, LinkType, Packet};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use detect::engine::{Engine, RuleBuilder};
use detect::rules::Proto;
use detect::worker::{Worker, WorkerConfig};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const SESSIONS: u32 = 4_000;
const SEGMENTS: usize = 6;
const SEG_LEN: usize = 1_000;

/// Every session's frames, in the order sent; `swap` exchanges the 2nd and 3rd data
/// segments so one arrives ahead of the gap.
fn sessions(swap: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for i in 0..SESSIONS {
        let client = IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, 1 + (i % 250) as u8));
        let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let mut s = TcpSession::new(
            (client, 40_000 + (i % 20_000) as u16),
            (server, 80),
            i.wrapping_mul(7919),
            i.wrapping_mul(104_729),
        );
        let mut emit = |f: &[u8]| out.push(f.to_vec());
        s.handshake(&mut buf, &mut emit);
        let first = out.len();
        for k in 0..SEGMENTS {
            let data = vec![b'a' + (k as u8 % 26); SEG_LEN];
            s.segment(&mut buf, true, PSH | ACK, &data);
            out.push(buf.clone());
        }
        if swap {
            out.swap(first + 1, first + 2);
        }
        s.segment(&mut buf, false, ACK, &[]);
        out.push(buf.clone());
        let mut emit = |f: &[u8]| out.push(f.to_vec());
        s.teardown(&mut buf, &mut emit);
    }
    out
}

fn worker(proto: Proto) -> Worker {
    // Contents that never occur in the traffic: the cost measured is tracking, copying
    // and scanning, not alerting.
    let rules = vec![
        RuleBuilder::new(proto.clone(), 1)
            .content(b"NOT-IN-THIS-TRAFFIC")
            .build(),
        RuleBuilder::new(proto, 2).content(b"nor-this-one").build(),
    ];
    let engine = Arc::new(Engine::build(rules).expect("engine builds"));
    Worker::new(engine, &WorkerConfig::default(), 0)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream");
    g.sample_size(20);
    for (order, swap) in [("in_order", false), ("reordered", true)] {
        let frames = sessions(swap);
        let pkts: Vec<Packet<'_>> = frames
            .iter()
            .map(|f| decode(LinkType::Ethernet, f, false).expect("crafted frame decodes"))
            .collect();
        g.throughput(Throughput::Bytes(
            u64::from(SESSIONS) * (SEGMENTS * SEG_LEN) as u64,
        ));
        for (rules, proto) in [("pkt_only_baseline", Proto::TcpPkt), ("stream", Proto::Tcp)] {
            let stream = proto == Proto::Tcp;
            let mut w = worker(proto);
            let mut ts = 1_000_000_000u64;
            let pass = |w: &mut Worker, ts: &mut u64| {
                // An hour later: last pass's closed flows have timed out, so each
                // session is new again (a SYN on a closed session starts nothing).
                *ts += 3_600_000_000_000;
                let mut alerts = 0usize;
                for p in &pkts {
                    *ts += 1_000;
                    w.handle_packet(*ts, p, 0, &mut |_| alerts += 1);
                }
                alerts
            };
            // Each pass must do the same work.
            pass(&mut w, &mut ts);
            let once = w.stats().stream.bytes;
            pass(&mut w, &mut ts);
            let twice = w.stats().stream.bytes;
            if stream {
                assert_eq!(twice, 2 * once, "every pass stores the same bytes");
                assert_eq!(once, u64::from(SESSIONS) * (SEGMENTS * SEG_LEN) as u64);
            }
            g.bench_function(format!("{rules}/{order}"), |b| {
                b.iter(|| pass(&mut w, &mut ts))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
