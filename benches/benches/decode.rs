//! Decoding cost per frame for the common shapes.

use capture::decode::{decode, transport_checksum_ok, LinkType};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, f) in benches::sample_frames() {
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| decode(LinkType::Ethernet, black_box(&f), false).map(|p| p.payload.len()))
        });
        g.bench_function(format!("{name}+checksum"), |b| {
            b.iter(|| {
                decode(LinkType::Ethernet, black_box(&f), true).map(|p| transport_checksum_ok(&p))
            })
        });
    }
    g.finish();
    // Tunnelled frames: the inner packet of the common tunnels, for the cost of each layer.
    let mut g = c.benchmark_group("decode_tunnel");
    for (name, f) in benches::tunnel_frames() {
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| decode(LinkType::Ethernet, black_box(&f), false).map(|p| p.payload.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
