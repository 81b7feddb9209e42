//! The end of a TCP flow as Suricata 7 handles it: a pseudo packet per direction of a
//! session that ends established and not closed, on which its "like IP-only" rules (a
//! negated address, nothing per packet) alert once more, with no capture position. Real
//! rule parser, engine, worker and decoder; frames crafted in memory.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use capture::craft::{tcp_flags as F, TcpSession};
use capture::decode::{decode, LinkType};
use detect::engine::Engine;
use detect::rules::{self, Classifications, Vars};
use detect::worker::{AlertEvent, Worker, WorkerConfig};

const T0: u64 = 1_700_000_000_000_000_000;

fn engine(text: &str) -> Arc<Engine> {
    let loaded = rules::load_str(
        text,
        "test.rules",
        &Vars::default(),
        &Classifications::default(),
        true,
    )
    .expect("rules load");
    Arc::new(Engine::build(loaded.rules).expect("engine builds"))
}

/// `(sid, pcap_cnt, to_server)` of every alert of a session run through one worker:
/// handshake, one request, one reply, then `close` (FIN exchange) or not, then the end
/// of input.
fn run(rules: &str, close: bool) -> Vec<(u32, u64, bool)> {
    let engine = engine(rules);
    let mut w = Worker::new(engine.clone(), &WorkerConfig::default(), 0);
    let client = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 40_000);
    let server = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
    let mut s = TcpSession::new(client, server, 1000, 5000);
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    s.handshake(&mut buf, &mut |f| frames.push(f.to_vec()));
    s.segment(&mut buf, true, F::PSH | F::ACK, b"GET / HTTP/1.0\r\n\r\n");
    frames.push(buf.clone());
    s.segment(&mut buf, false, F::PSH | F::ACK, b"HTTP/1.0 200 OK\r\n\r\n");
    frames.push(buf.clone());
    s.segment(&mut buf, true, F::ACK, b"");
    frames.push(buf.clone());
    if close {
        for (from_client, flags) in [
            (true, F::FIN | F::ACK),
            (false, F::FIN | F::ACK),
            (true, F::ACK),
        ] {
            s.segment(&mut buf, from_client, flags, b"");
            frames.push(buf.clone());
        }
    }
    let alerts = RefCell::new(Vec::new());
    let mut sink = |a: AlertEvent| {
        let sid = engine.rules()[a.rule as usize].sid;
        alerts.borrow_mut().push((sid, a.pcap_cnt, a.to_server));
    };
    for (i, f) in frames.iter().enumerate() {
        let p = decode(LinkType::Ethernet, f, false).expect("crafted frame decodes");
        w.handle_packet(T0, &p, i as u64 + 1, &mut sink);
    }
    w.finish(T0, &mut sink);
    alerts.into_inner()
}

const LIKE_IP_ONLY: &str = "alert tcp !10.9.9.9 any -> any any (msg:\"like ip-only\"; sid:1;)\n";

#[test]
fn an_established_session_ends_with_a_pseudo_packet_each_way_that_like_ip_only_rules_see() {
    let alerts = run(LIKE_IP_ONLY, false);
    let packets: Vec<_> = alerts.iter().filter(|a| a.1 > 0).collect();
    let pseudo: Vec<_> = alerts.iter().filter(|a| a.1 == 0).copied().collect();
    assert_eq!(packets.len(), 6, "every real packet: {alerts:?}");
    assert_eq!(pseudo, vec![(1, 0, true), (1, 0, false)], "{alerts:?}");
}

#[test]
fn a_closed_session_ends_without_pseudo_packets() {
    let alerts = run(LIKE_IP_ONLY, true);
    assert_eq!(alerts.len(), 9, "{alerts:?}");
    assert!(alerts.iter().all(|a| a.1 > 0), "{alerts:?}");
}

#[test]
fn pseudo_packets_skip_ip_only_and_per_packet_rules() {
    // IP-only (seen on each direction's first packet), a `flow` keyword and a `flags`
    // keyword (Suricata's SIG_TYPE_PKT, skipped on pseudo packets) and a TTL the
    // pseudo packet would have (64).
    let rules = "alert tcp any any -> any any (msg:\"ip-only\"; sid:2;)\n\
                 alert tcp !10.9.9.9 any -> any any (msg:\"flow\"; flow:established; sid:3;)\n\
                 alert tcp !10.9.9.9 any -> any any (msg:\"flags\"; flags:0; sid:4;)\n\
                 alert tcp !10.9.9.9 any -> any any (msg:\"ttl\"; ttl:64; sid:5;)\n";
    let alerts = run(rules, false);
    assert!(alerts.iter().all(|a| a.1 > 0), "{alerts:?}");
    assert_eq!(alerts.iter().filter(|a| a.0 == 2).count(), 2, "{alerts:?}");
}
