//! Any bytes as a UDP conversation on port 53: each message goes through Suricata's DNS
//! probe and request parser and then the worker with `dns.query` rules. Nothing may
//! panic, no name may pass 1,025 bytes, and a message that makes a request transaction
//! must also probe as a DNS request.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use capture::craft::{FrameSpec, L4Spec};
use capture::decode::{decode, LinkType};
use detect::applayer::dns::{self, Queries, MAX_NAME_LEN};
use detect::engine::Engine;
use detect::flow::FlowConfig;
use detect::rules::{load_str, Classifications, Vars};
use detect::worker::{Worker, WorkerConfig};
use libfuzzer_sys::fuzz_target;

const RULES: &str = r#"
alert dns any any -> any any (msg:"q"; dns.query; content:"a"; sid:1;)
alert dns any any -> any any (msg:"dot"; dns.query; dotprefix; content:".b"; endswith; bsize:>2; sid:2;)
pass dns any any -> any any (msg:"p"; dns.query; content:"pass"; sid:3;)
alert dns any any -> any any (msg:"payload"; content:"c"; sid:4;)
alert udp any any -> any any (msg:"udp"; content:"d"; sid:5;)
drop dns any any -> any any (msg:"d"; dns.query; pcre:"/^x+$/"; sid:6;)
"#;

fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        let loaded = load_str(RULES, "fuzz.rules", &Vars::default(), &Classifications::default(), true)
            .expect("fuzz rules load");
        Arc::new(Engine::build(loaded.rules).expect("fuzz rules build"))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let mut q = Queries::default();
    if dns::parse_request(data, &mut q) {
        assert_eq!(dns::probe(data), Some(true), "a request that does not probe as one");
        assert!(q.names().all(|n| n.len() <= MAX_NAME_LEN));
    }
    let config = WorkerConfig {
        flow: FlowConfig {
            max_flows: 8,
            ..FlowConfig::default()
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(engine(), &config, 0);
    let mut sink = |_a| {};
    let (c, s) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 53));
    let mut frame = Vec::new();
    // Messages: a length byte, a direction bit, then the bytes.
    let mut rest = data;
    let mut ts = 1u64;
    while let Some((&head, tail)) = rest.split_first() {
        let len = usize::from(head & 0x7f).min(tail.len());
        let (msg, tail) = tail.split_at(len);
        rest = tail;
        let (src, dst, sport, dport) = if head & 0x80 == 0 { (c, s, 40000, 53) } else { (s, c, 53, 40000) };
        frame.clear();
        FrameSpec::ipv4(src, dst, L4Spec::udp(sport, dport))
            .payload(msg)
            .write(&mut frame);
        ts += 1000;
        if let Ok(p) = decode(LinkType::Ethernet, &frame, false) {
            w.handle_packet(ts, &p, ts, &mut sink);
        }
    }
    w.finish(ts, &mut sink);
});
