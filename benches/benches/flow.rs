//! Flow table lookup-and-update cost, with a table holding many live flows (cache misses
//! are the real cost on a sensor).

use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::decode::{decode, tcp_flags, LinkType, Packet};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use detect::flow::{FlowConfig, FlowTable};
use std::net::Ipv4Addr;

/// One TCP frame with `flags` for each of `n` flows (distinct clients, one server).
fn frames(n: usize, flags: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut v = Vec::new();
            FrameSpec::ipv4(
                Ipv4Addr::from(0x0a00_0000 + i as u32),
                Ipv4Addr::new(192, 168, 0, 1),
                L4Spec::Tcp(TcpSpec::new(1024 + (i % 60000) as u16, 80, flags)),
            )
            .write(&mut v);
            v
        })
        .collect()
}

fn packets(frames: &[Vec<u8>]) -> Vec<Packet<'_>> {
    frames
        .iter()
        .map(|f| decode(LinkType::Ethernet, f, false).unwrap())
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow");
    for &flows in &[1_000usize, 100_000] {
        let frames = frames(flows, tcp_flags::ACK);
        let pkts = packets(&frames);
        let mut table = FlowTable::new(
            &FlowConfig {
                max_flows: flows * 2,
                ..FlowConfig::default()
            },
            0,
        );
        for p in &pkts {
            table.update(p, 0);
        }
        g.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        g.bench_function(format!("update_{flows}_flows"), |b| {
            b.iter(|| {
                i = (i + 7919) % pkts.len();
                table.update(&pkts[i], 1).id
            })
        });
    }
    // New flows into a full table: each packet starts a flow whose window is full of live
    // ones, so the table walks the window for the least recently seen and evicts it (on
    // the 1 GB bench a fifth of the flows start this way).
    let slots = 1usize << 16;
    let frames = frames(slots * 4, tcp_flags::SYN);
    let pkts = packets(&frames);
    let mut table = FlowTable::new(
        &FlowConfig {
            max_flows: slots,
            ..FlowConfig::default()
        },
        0,
    );
    for p in &pkts {
        table.update(p, 0);
    }
    let mut i = 0usize;
    g.bench_function("new_flows_in_a_full_table", |b| {
        b.iter(|| {
            i = (i + 1) % pkts.len();
            // Same time for all: nothing times out, every new flow evicts.
            table.update(&pkts[i], 1).created
        })
    });
    // The same with the window warmed four packets ahead, as a worker does for a SYN.
    let hashes: Vec<u64> = pkts.iter().map(detect::flow::flow_hash).collect();
    g.bench_function("new_flows_in_a_full_table_window_prefetched", |b| {
        b.iter(|| {
            i = (i + 1) % pkts.len();
            let ahead = hashes[(i + 4) % pkts.len()];
            table.prefetch(ahead);
            table.prefetch_window(ahead);
            table.update(&pkts[i], 1).created
        })
    });
    g.bench_function("new_flows_in_a_full_table_first_slot_prefetched", |b| {
        b.iter(|| {
            i = (i + 1) % pkts.len();
            table.prefetch(hashes[(i + 4) % pkts.len()]);
            table.update(&pkts[i], 1).created
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
