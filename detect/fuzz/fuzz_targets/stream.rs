//! Any bytes as a sequence of TCP segments of a few flows (direction, flags, sequence and
//! acknowledgement moves, payload, now and then hours of quiet): reassembly, stream
//! inspection and the end of flows (timeout sweep, pseudo packets, pass and drop) must
//! never panic, and memory must stay within the memcap.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use capture::decode::{Packet, TcpHeader, L4};
use detect::engine::{Engine, RuleBuilder};
use detect::flow::FlowConfig;
use detect::rules::{Action, Proto};
use detect::stream::StreamConfig;
use detect::worker::{Worker, WorkerConfig};
use libfuzzer_sys::fuzz_target;

fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        let nine = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9));
        let rules = vec![
            RuleBuilder::new(Proto::Tcp, 1).content(b"ab").build(),
            RuleBuilder::new(Proto::Tcp, 2).content(b"xyz").depth(8).build(),
            RuleBuilder::new(Proto::TcpStream, 3).content(b"zz").build(),
            // "Like IP-only" rules, which the end-of-flow pseudo packets run: an alert, a
            // drop of one flow's and a pass of another's.
            RuleBuilder::new(Proto::Tcp, 4).src(&[], &[(nine, 32)]).build(),
            RuleBuilder::new(Proto::Tcp, 5)
                .action(Action::Drop)
                .src_ports(&[(40003, 40003)], &[])
                .dst(&[], &[(nine, 32)])
                .build(),
            RuleBuilder::new(Proto::Tcp, 6)
                .action(Action::Pass)
                .dst_ports(&[(40002, 40002)], &[])
                .src(&[], &[(nine, 32)])
                .build(),
        ];
        Arc::new(Engine::build(rules).expect("fuzz rules build"))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let config = WorkerConfig {
        flow: FlowConfig {
            max_flows: 8,
            ..FlowConfig::default()
        },
        stream: StreamConfig {
            midstream: data.first().is_some_and(|b| b & 1 != 0),
            async_oneside: data.first().is_some_and(|b| b & 2 != 0),
            memcap: 64 << 10,
            depth: 4096,
            chunk_size: 64,
            window: 8192,
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(engine(), &config, 0);
    let mut sink = |_a| {};
    let (client, server) = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    );
    let mut seq = [1000u32, 5000u32];
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut ts = 1u64;
    while rest.len() >= 5 {
        let (head, tail) = rest.split_at(5);
        let to_server = head[0] & 0x80 == 0;
        let flow = u16::from(head[0] >> 5 & 3);
        let flags = head[1];
        let d = usize::from(!to_server);
        let moved = i16::from_le_bytes([head[2], head[3]]) as i32;
        seq[d] = seq[d].wrapping_add(moved as u32);
        let len = usize::from(head[4] % 64).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let (src, dst, sport, dport) = if to_server {
            (client, server, 40000 + flow, 80)
        } else {
            (server, client, 80, 40000 + flow)
        };
        let p = Packet {
            frame: &[],
            vlan: [0; 2],
            vlan_count: 0,
            l3_offset: 0,
            l4_offset: 0,
            src,
            dst,
            ip_proto: 6,
            ttl: 64,
            ip_id: 0,
            tos: 0,
            ip_options: false,
            fragment: None,
            l4: L4::Tcp(TcpHeader {
                src_port: sport,
                dst_port: dport,
                seq: seq[d],
                ack: seq[1 - d],
                flags,
                ..TcpHeader::default()
            }),
            payload,
            tunnel: None,
            tunnel_error: None,
        };
        ts += 1_000;
        if head[0] & 0x1f == 0x1f {
            // Hours of quiet: the timeout sweep ends every flow (pseudo packets and all).
            ts += 7_200_000_000_000;
            w.sweep(ts, &mut sink);
        }
        w.handle_packet(ts, &p, 0, &mut sink);
        let st = w.stats().stream;
        assert!(st.memory <= 64 << 10, "memory {} past the memcap", st.memory);
    }
    w.finish(ts, &mut sink);
});
