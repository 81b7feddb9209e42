//! Flow table lookup-and-update cost, with a table holding many live flows (cache misses
//! are the real cost on a sensor).

use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::decode::{decode, tcp_flags, LinkType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use detect::flow::{FlowConfig, FlowTable};
use std::net::Ipv4Addr;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow");
    for &flows in &[1_000usize, 100_000] {
        let frames: Vec<Vec<u8>> = (0..flows)
            .map(|i| {
                let mut v = Vec::new();
                FrameSpec::ipv4(
                    Ipv4Addr::from(0x0a00_0000 + i as u32),
                    Ipv4Addr::new(192, 168, 0, 1),
                    L4Spec::Tcp(TcpSpec::new(1024 + (i % 60000) as u16, 80, tcp_flags::ACK)),
                )
                .write(&mut v);
                v
            })
            .collect();
        let pkts: Vec<_> = frames
            .iter()
            .map(|f| decode(LinkType::Ethernet, f, false).unwrap())
            .collect();
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
