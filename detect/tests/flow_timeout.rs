//! A flow that times out is ended by the worker's timeout sweep while traffic goes on:
//! what its stream still holds is inspected then, as Suricata's flow manager does, not
//! when a new flow happens to need its slot or the capture ends. Real worker and decoder,
//! frames crafted in memory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use std::cell::RefCell;

use capture::craft::{tcp_flags as F, FrameSpec, L4Spec, TcpSession};
use capture::decode::{decode, LinkType};
use detect::engine::{Engine, RuleBuilder};
use detect::flow::FlowConfig;
use detect::rules::Proto;
use detect::worker::{AlertEvent, Worker, WorkerConfig};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;
/// Past every TCP and UDP timeout.
const LATER: u64 = T0 + 10 * 3600 * S;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

#[test]
fn a_timed_out_flow_is_swept_and_its_held_bytes_inspected_while_traffic_goes_on() {
    let engine = Arc::new(
        Engine::build(vec![RuleBuilder::new(Proto::Tcp, 7)
            .content(b"TIMEOUT-TAIL")
            .build()])
        .unwrap(),
    );
    let config = WorkerConfig {
        flow: FlowConfig {
            max_flows: 64,
            ..FlowConfig::default()
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(engine, &config, 0);
    let alerts: RefCell<Vec<(u32, u64)>> = RefCell::new(Vec::new());
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut feed = |w: &mut Worker, ts: u64, frame: &[u8]| {
        n += 1;
        let p = decode(LinkType::Ethernet, frame, false).unwrap();
        w.handle_packet(ts, &p, n, &mut |a: AlertEvent| {
            alerts.borrow_mut().push((a.rule, a.ts_ns))
        });
    };

    // A session whose last bytes were never acknowledged: nothing inspects them yet.
    let mut s = TcpSession::new((ip(9), 40000), (ip(1), 80), 1000, 5000);
    let mut frames = Vec::new();
    s.handshake(&mut buf, &mut |f| frames.push(f.to_vec()));
    s.segment(
        &mut buf,
        true,
        F::PSH | F::ACK,
        b"a TIMEOUT-TAIL in the last segment",
    );
    frames.push(buf.clone());
    for f in &frames {
        feed(&mut w, T0, f);
    }
    // Other traffic: one UDP flow, before and long after the session went quiet.
    let udp = |out: &mut Vec<u8>| {
        out.clear();
        FrameSpec::ip(
            ip(20),
            ip(21),
            L4Spec::Udp {
                src_port: 5000,
                dst_port: 53,
            },
        )
        .payload(b"query")
        .write(out);
    };
    udp(&mut buf);
    feed(&mut w, T0, &buf);
    assert!(alerts.borrow().is_empty(), "unacknowledged bytes wait");
    for i in 0..10 {
        udp(&mut buf);
        feed(&mut w, LATER + i * S, &buf);
    }
    assert!(alerts.borrow().is_empty(), "no sweep yet");
    // Ends of batches: steps of the sweep, until one pass over the table's 64 slots.
    let batch_end = LATER + 9 * S;
    for _ in 0..64 {
        w.sweep(batch_end, &mut |a: AlertEvent| {
            alerts.borrow_mut().push((a.rule, a.ts_ns))
        });
    }
    assert_eq!(
        *alerts.borrow(),
        vec![(0, batch_end)],
        "the tail is inspected at the sweep"
    );
    assert!(w.stats().flows.timed_out >= 1);
    assert_eq!(w.flows_active(), 1, "only the UDP flow is held");
}
