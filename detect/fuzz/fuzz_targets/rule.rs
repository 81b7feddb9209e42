//! Any bytes as a rules file: the loader must never panic, only report broken rules; the
//! rules it accepts must build into an engine and run on a few fixed packets (TCP, UDP,
//! a DNS request and its reply) without a panic.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::decode::{decode, LinkType};
use detect::engine::Engine;
use detect::flow::FlowConfig;
use detect::rules::{load_str, Classifications, Vars};
use detect::worker::{Worker, WorkerConfig};
use libfuzzer_sys::fuzz_target;

/// The fixed frames every accepted rule set runs on.
fn frames() -> &'static [Vec<u8>] {
    static F: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    F.get_or_init(|| {
        let (c, s) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 53));
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01";
        let mut reply = query.to_vec();
        reply[2] = 0x81;
        let specs = [
            FrameSpec::ipv4(c, s, L4Spec::udp(40000, 53)).payload(query),
            FrameSpec::ipv4(s, c, L4Spec::udp(53, 40000)).payload(&reply),
            FrameSpec::ipv4(c, s, L4Spec::Tcp(TcpSpec::new(40001, 80, 0x18)))
                .payload(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"),
        ];
        specs
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                f.write(&mut out);
                out
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars = Vars::default();
    let classes = Classifications::default();
    let Ok(loaded) = load_str(&text, "fuzz.rules", &vars, &classes, false) else {
        return;
    };
    if loaded.rules.is_empty() {
        return;
    }
    let Ok(engine) = Engine::build(loaded.rules) else {
        return;
    };
    let config = WorkerConfig {
        flow: FlowConfig {
            max_flows: 8,
            ..FlowConfig::default()
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(Arc::new(engine), &config, 0);
    let mut ts = 1_000_000u64;
    for f in frames() {
        ts += 1_000;
        if let Ok(p) = decode(LinkType::Ethernet, f, false) {
            w.handle_packet(ts, &p, 1, &mut |_a| {});
        }
    }
    w.finish(ts, &mut |_a| {});
});
