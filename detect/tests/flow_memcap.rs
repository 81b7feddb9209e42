//! `flow.memcap` is never exceeded however many flows arrive: the worker's flow state
//! (flow entries, stream sessions, flowbits) is sized within the cap at start, new flows
//! past it evict old ones, and every eviction is counted. Real worker and decoder, frames
//! crafted in memory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use capture::craft::{tcp_flags as F, FrameSpec, L4Spec, TcpSpec};
use capture::decode::{decode, LinkType};
use detect::engine::{Engine, RuleBuilder};
use detect::flow::FlowConfig;
use detect::rules::{Flowbit, FlowbitCmd, Proto};
use detect::worker::{Worker, WorkerConfig};

fn engine() -> Arc<Engine> {
    let mut r = RuleBuilder::new(Proto::Tcp, 1)
        .content(b"NEVER-THERE")
        .build();
    r.flowbits.push(Flowbit {
        cmd: FlowbitCmd::Set,
        names: vec!["seen".into()],
    });
    Arc::new(Engine::build(vec![r]).unwrap())
}

#[test]
fn flow_memcap_is_never_exceeded_and_evictions_are_counted() {
    const MEMCAP: u64 = 2 << 20;
    const FLOWS: u32 = 100_000;
    let engine = engine();
    let config = WorkerConfig {
        flow: FlowConfig {
            max_flows: 1 << 20,
            memcap: Some(MEMCAP),
            ..FlowConfig::default()
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::try_new(engine.clone(), &config, 0).unwrap();
    let mem = w.flow_memory() as u64;
    assert!(
        mem <= MEMCAP,
        "{mem} bytes of flow state over the {MEMCAP} memcap"
    );
    assert!(
        mem > MEMCAP / 4,
        "the table uses a fair share of the cap ({mem})"
    );
    let mut buf = Vec::with_capacity(256);
    let mut sink = |_a| {};
    for i in 0..FLOWS {
        let t = TcpSpec::new(1024 + (i % 60000) as u16, 80, F::SYN);
        buf.clear();
        FrameSpec::ip(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            L4Spec::Tcp(t),
        )
        .write(&mut buf);
        let p = decode(LinkType::Ethernet, &buf, false).unwrap();
        // 10 µs apart: no flow times out during the run.
        w.handle_packet(1_000_000_000 + i as u64 * 10_000, &p, 0, &mut sink);
        assert!(w.flow_memory() as u64 <= MEMCAP);
    }
    let st = w.stats().flows;
    let per_flow = (detect::flow::FlowTable::slot_bytes()
        + detect::stream::StreamTable::slot_bytes()
        + 8 * engine.flowbit_words()
        + detect::applayer::SLOT_BYTES) as u64;
    let slots = mem / per_flow;
    assert_eq!(mem % per_flow, 0);
    assert!(slots.is_power_of_two() && slots < FLOWS as u64);
    assert_eq!(st.created, FLOWS as u64);
    assert_eq!(st.timed_out, 0);
    // Every flow the table could not keep was evicted and counted: what is left fits.
    assert!(st.created - st.evicted <= slots, "{st:?}, {slots} slots");
    assert!(st.created - st.evicted > slots / 2, "{st:?}, {slots} slots");
    assert!(st.emergency >= 1, "eviction enters emergency mode: {st:?}");
    println!(
        "flow memcap {MEMCAP} B: table {mem} B, {} created, {} evicted, {} emergencies",
        st.created, st.evicted, st.emergency
    );
}

#[test]
fn a_memcap_below_a_minimal_table_is_an_error() {
    let engine = engine();
    let config = WorkerConfig {
        flow: FlowConfig {
            memcap: Some(64),
            ..FlowConfig::default()
        },
        ..WorkerConfig::default()
    };
    let e = Worker::try_new(engine.clone(), &config, 0).err().unwrap();
    assert!(e.to_string().contains("flow.memcap"), "{e}");
    assert!(Worker::min_flow_memcap(&engine) > 64);
}
