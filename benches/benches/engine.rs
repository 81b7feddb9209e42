//! Matcher cost per packet with the 100 benchmark rules (`xtask/bench/100.rules`): the
//! prefilter alone and the whole `inspect` (prefilter plus verification), on payloads
//! with and without a rule's trigger in them.

use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::decode::{decode, tcp_flags, LinkType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use detect::engine::{Engine, FlowInfo};
use detect::rules::{load_str, Classifications, Vars};
use std::net::Ipv4Addr;

const RULES: &str = include_str!("../../xtask/bench/100.rules");

fn bench(c: &mut Criterion) {
    let loaded = load_str(
        RULES,
        "100.rules",
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .expect("bench rules load");
    let engine = Engine::build(loaded.rules).expect("bench rules build");
    let mut scratch = engine.scratch();
    let flow = FlowInfo {
        to_server: true,
        established: true,
        first_in_direction: false,
        flowless: false,
        header_only: false,
        stream_data: false,
        stream_size: None,
        app: Default::default(),
        payload_unread: false,
    };
    let filler: Vec<u8> = (0..1400u32)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789 /.-=&?"[(i * 7 % 43) as usize])
        .collect();
    let mut with_trigger = filler.clone();
    with_trigger[700..711].copy_from_slice(b"/etc/passwd");
    let mut g = c.benchmark_group("engine");
    for (name, payload) in [("clean_1400", &filler), ("trigger_1400", &with_trigger)] {
        let mut frame = Vec::new();
        FrameSpec::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(203, 0, 113, 9),
            L4Spec::Tcp(TcpSpec::new(40000, 80, tcp_flags::ACK | tcp_flags::PSH)),
        )
        .payload(payload)
        .write(&mut frame);
        let pkt = decode(LinkType::Ethernet, &frame, false).expect("decodes");
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function(format!("prefilter/{name}"), |b| {
            b.iter(|| engine.prefilter(&pkt, true, &mut scratch))
        });
        g.bench_function(format!("inspect/{name}"), |b| {
            b.iter(|| {
                engine.inspect(&pkt, &flow, &mut scratch);
                scratch.matches().len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
