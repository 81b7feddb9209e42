//! Live capture end to end on a real veth pair in a throwaway namespace: frames sent from
//! the namespace, seen by the XDP program, read from AF_XDP sockets and inspected by the
//! workers, with exact counts of frames and alerts. Needs root (the README's test command).

use capture::craft::{FrameSpec, L4Spec};
use capture::netns::VethLab;
use detect::engine::Engine;
use detect::live::{LiveConfig, LiveReport, Sensor};
use detect::rules::{self, Classifications, Vars};
use detect::worker::WorkerConfig;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// `n` UDP frames from `src` over `flows` source ports; every `every`-th carries `hot`.
fn frames(n: usize, src: Ipv4Addr, flows: u16, every: usize, hot: &[u8]) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut v = Vec::new();
            let payload: &[u8] = if every > 0 && i % every == 0 {
                hot
            } else {
                b"nothing to see here"
            };
            FrameSpec::ipv4(
                src,
                Ipv4Addr::new(10, 9, 0, 1),
                L4Spec::udp(20_000 + (i as u16 % flows), 53),
            )
            .payload(payload)
            .write(&mut v);
            v
        })
        .collect()
}

type Sids = Arc<Mutex<Vec<u32>>>;

fn start(lab: &VethLab, queues: u32, workers: Option<usize>, rules: &str) -> (Sensor, Sids) {
    let sids: Sids = Arc::default();
    let s2 = sids.clone();
    let cfg = LiveConfig {
        iface: lab.host_if.clone(),
        queues,
        workers,
        ..LiveConfig::default()
    };
    let sensor = Sensor::start(&cfg, engine(rules), &WorkerConfig::default(), move |a| {
        s2.lock().unwrap().push(a.rule().sid)
    })
    .expect("sensor starts (root needed)");
    (sensor, sids)
}

fn finish(sensor: Sensor) -> LiveReport {
    assert!(
        sensor.wait_idle(Duration::from_secs(10)),
        "workers did not catch up"
    );
    sensor.stop()
}

/// Frames seen == redirected == inspected, nothing dropped anywhere.
fn assert_exact(r: &LiveReport, sent: u64) {
    let s = &r.status;
    assert_eq!(s.seen(), sent, "XDP seen: {:?}", s.xdp);
    assert_eq!(s.redirected(), sent, "XDP redirected: {:?}", s.xdp);
    assert_eq!(s.inspected_total(), sent, "inspected: {:?}", s.inspected);
    assert_eq!(r.totals().packets, sent);
    for k in &s.sockets {
        assert_eq!(k.total(), 0, "socket drops {k:?}");
    }
}

const EVIL: &str = "alert udp any any -> any 53 (msg:\"evil\"; content:\"evil\"; sid:1;)\n";

#[test]
fn run_to_completion_on_two_queues_counts_exactly() {
    let lab = VethLab::new("lq", 2).expect("veth lab (root needed)");
    let (sensor, sids) = start(&lab, 2, None, EVIL);
    assert!(!sensor.dispatch());
    let f = frames(2000, Ipv4Addr::new(10, 8, 0, 1), 64, 4, b"an evil payload");
    assert_eq!(lab.send(&f).unwrap(), 2000);
    let r = finish(sensor);
    assert_exact(&r, 2000);
    // One worker per queue: each inspected exactly its queue's frames.
    for (q, c) in r.status.xdp.iter().enumerate() {
        assert_eq!(r.status.inspected[q], c.seen, "queue {q}");
        assert!(
            c.seen > 0,
            "64 flows should use both queues: {:?}",
            r.status.xdp
        );
    }
    assert_eq!(r.status.alerts, 500);
    assert_eq!(r.totals().alerts, 500);
    assert_eq!(sids.lock().unwrap().len(), 500);
}

#[test]
fn dispatch_mode_spreads_flows_and_counts_exactly() {
    let lab = VethLab::new("ld", 1).expect("veth lab (root needed)");
    let (sensor, sids) = start(&lab, 1, Some(2), EVIL);
    assert!(sensor.dispatch());
    let f = frames(3000, Ipv4Addr::new(10, 8, 0, 1), 64, 3, b"an evil payload");
    assert_eq!(lab.send(&f).unwrap(), 3000);
    let r = finish(sensor);
    assert_exact(&r, 3000);
    assert_eq!(r.status.inspected.len(), 2);
    assert!(
        r.status.inspected.iter().all(|&n| n > 0),
        "64 flows should reach both workers: {:?}",
        r.status.inspected
    );
    assert_eq!(r.status.alerts, 1000);
    assert_eq!(sids.lock().unwrap().len(), 1000);
}

#[test]
fn dispatch_mode_with_two_queues_and_three_workers_counts_exactly() {
    let lab = VethLab::new("l3", 2).expect("veth lab (root needed)");
    let (sensor, sids) = start(&lab, 2, Some(3), EVIL);
    assert!(sensor.dispatch());
    let f = frames(2400, Ipv4Addr::new(10, 8, 0, 1), 64, 2, b"an evil payload");
    assert_eq!(lab.send(&f).unwrap(), 2400);
    let r = finish(sensor);
    assert_exact(&r, 2400);
    assert!(
        r.status.xdp.iter().all(|c| c.seen > 0),
        "{:?}",
        r.status.xdp
    );
    assert_eq!(r.status.inspected.len(), 3);
    assert_eq!(r.status.alerts, 1200);
    assert_eq!(sids.lock().unwrap().len(), 1200);
}

/// A UDP datagram to port 53 from `src_port`, carrying `evil` past its first fragment, cut
/// into three fragments.
fn fragmented(src_port: u16, id: u32) -> Vec<Vec<u8>> {
    use capture::craft_frag::{even, fragment, fragmentable_len};
    use capture::decode::LinkType;
    let mut payload = vec![b'.'; 1200];
    payload[900..904].copy_from_slice(b"evil");
    let mut whole = Vec::new();
    FrameSpec::ipv4(
        Ipv4Addr::new(10, 8, 0, 7),
        Ipv4Addr::new(10, 9, 0, 1),
        L4Spec::Udp {
            src_port,
            dst_port: 53,
        },
    )
    .payload(&payload)
    .write(&mut whole);
    let len = fragmentable_len(LinkType::Ethernet, &whole).expect("fragmentable");
    fragment(LinkType::Ethernet, &whole, id, &even(len, 408)).expect("fragments")
}

#[test]
fn dispatch_mode_counts_fragments_that_come_before_their_first() {
    let lab = VethLab::new("lf", 1).expect("veth lab (root needed)");
    let (sensor, _sids) = start(&lab, 1, Some(2), EVIL);
    assert!(sensor.dispatch());
    // One datagram in order: its fragments follow the first fragment's flow.
    let in_order = fragmented(40_001, 0x1111);
    assert_eq!(in_order.len(), 3);
    // One whose first fragment comes last: the two before it go by addresses.
    let mut late_first = fragmented(40_002, 0x2222);
    late_first.rotate_left(1);
    let frames: Vec<Vec<u8>> = in_order.into_iter().chain(late_first).collect();
    assert_eq!(lab.send(&frames).unwrap(), 6);
    let r = finish(sensor);
    assert_exact(&r, 6);
    assert_eq!(r.status.fragments_unrouted, 2, "{:?}", r.status);
    assert_eq!(r.totals().decode.fragments, 6);
    // The in-order datagram was rebuilt in its flow's worker and alerted; the other one
    // only if the addresses picked that worker too.
    assert!(
        (1..=2).contains(&r.status.alerts),
        "alerts {}",
        r.status.alerts
    );
}

#[test]
fn reload_mid_traffic_loses_no_frame_and_new_rules_take_effect() {
    let lab = VethLab::new("lr", 1).expect("veth lab (root needed)");
    let (sensor, sids) = start(
        &lab,
        1,
        None,
        "alert udp any any -> any 53 (msg:\"alpha\"; content:\"alpha\"; sid:1;)\n",
    );
    let new_rules =
        engine("alert udp any any -> any 53 (msg:\"beta\"; content:\"beta\"; sid:2;)\n");
    // Every frame matches exactly one rule of either set, so alerts == frames whichever
    // set inspected each frame.
    let f = frames(3000, Ipv4Addr::new(10, 8, 0, 1), 16, 1, b"alpha and beta");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, chunk) in f.chunks(100).enumerate() {
                lab.send(chunk).unwrap();
                if i == 10 {
                    tx.send(()).unwrap();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Reload once the first 1100 frames are inspected, while the rest still flows.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while sensor.status().inspected_total() < 1100 && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_micros(200));
        }
        sensor.reload(new_rules);
    });
    // Sent after the reload returned: only the new rules can see these.
    let tail = frames(100, Ipv4Addr::new(10, 8, 0, 2), 4, 1, b"alpha and beta");
    lab.send(&tail).unwrap();
    let r = finish(sensor);
    assert_exact(&r, 3100);
    assert_eq!(r.status.alerts, 3100);
    assert_eq!(r.status.generation, 1);
    let sids = sids.lock().unwrap();
    assert_eq!(sids.len(), 3100);
    let old = sids.iter().filter(|&&s| s == 1).count();
    assert!(
        old >= 1100,
        "1100 frames were inspected before the reload: {old}"
    );
    assert!(
        sids[3000..].iter().all(|&s| s == 2),
        "tail inspected by the old rules"
    );
    assert!(
        sids[..old].iter().all(|&s| s == 1),
        "old and new rules interleaved"
    );
    assert!(
        old < 3000,
        "the reload happened while traffic still flowed: {old}"
    );
}

#[test]
fn blocklisted_prefix_is_dropped_at_xdp_and_never_inspected() {
    let lab = VethLab::new("lb", 1).expect("veth lab (root needed)");
    let (sensor, sids) = start(&lab, 1, None, EVIL);
    sensor.block(&"192.0.2.0/24".parse().unwrap()).unwrap();
    let mut f = frames(150, Ipv4Addr::new(192, 0, 2, 9), 8, 1, b"evil");
    f.extend(frames(250, Ipv4Addr::new(10, 8, 0, 1), 8, 1, b"evil"));
    lab.send(&f).unwrap();
    assert!(sensor.wait_idle(Duration::from_secs(10)));
    let s = sensor.status();
    assert_eq!(
        (s.seen(), s.xdp[0].blocked, s.redirected()),
        (400, 150, 250)
    );
    assert!(sensor.unblock(&"192.0.2.0/24".parse().unwrap()).unwrap());
    lab.send(&frames(10, Ipv4Addr::new(192, 0, 2, 9), 8, 1, b"evil"))
        .unwrap();
    let r = finish(sensor);
    assert_eq!(r.status.inspected_total(), 260);
    assert_eq!(r.status.alerts, 260);
    assert_eq!(sids.lock().unwrap().len(), 260);
}

/// A TCP session whose last client bytes were never acknowledged, then silence: the
/// stream holds those bytes until the flow times out. With no packets after it, only a
/// sweep stepped by the clock can end the flow and inspect them while the sensor runs.
#[test]
fn a_flow_that_times_out_on_a_quiet_link_has_its_held_bytes_inspected_before_stop() {
    use capture::craft::{tcp_flags as F, TcpSession};
    use detect::flow::{FlowConfig, Timeouts};
    use std::net::IpAddr;

    for (tag, workers) in [("lt", None), ("lu", Some(1))] {
        let lab = VethLab::new(tag, 1).expect("veth lab (root needed)");
        let sids: Sids = Arc::default();
        let s2 = sids.clone();
        let cfg = LiveConfig {
            iface: lab.host_if.clone(),
            queues: 1,
            workers,
            ..LiveConfig::default()
        };
        let second = 1_000_000_000;
        let wcfg = WorkerConfig {
            flow: FlowConfig {
                max_flows: 4096,
                timeouts: Timeouts {
                    tcp_established: second,
                    ..Timeouts::default()
                },
                ..FlowConfig::default()
            },
            ..WorkerConfig::default()
        };
        let rules = "alert tcp any any -> any 80 (msg:\"tail\"; flow:established,to_server; \
                     content:\"QUIET-TAIL\"; sid:7;)\n";
        let sensor = Sensor::start(&cfg, engine(rules), &wcfg, move |a| {
            s2.lock().unwrap().push(a.rule().sid)
        })
        .expect("sensor starts (root needed)");

        let client = (IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1)), 40_000);
        let server = (IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)), 80);
        let mut s = TcpSession::new(client, server, 1000, 5000);
        let mut buf = Vec::new();
        let mut f = Vec::new();
        s.handshake(&mut buf, &mut |x| f.push(x.to_vec()));
        s.segment(
            &mut buf,
            true,
            F::PSH | F::ACK,
            b"the QUIET-TAIL, never acked",
        );
        f.push(buf.clone());
        assert_eq!(lab.send(&f).unwrap(), 4);
        assert!(sensor.wait_idle(Duration::from_secs(10)));
        assert!(
            sids.lock().unwrap().is_empty(),
            "{tag}: unacknowledged bytes wait for the timeout"
        );
        // Timeout 1 s; the idle sweep walks the 4,096 slots in 0.1 s steps.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while sids.lock().unwrap().is_empty() && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
        let seen = sids.lock().unwrap().clone();
        let status = sensor.status();
        let r = sensor.stop();
        assert_eq!(seen, vec![7], "{tag}: alert before stop");
        assert_eq!(status.alerts, 1, "{tag}");
        assert_eq!(r.totals().flows.timed_out, 1, "{tag}");
        assert_eq!(r.totals().alerts, 1, "{tag}: nothing more at stop");
    }
}

/// DNS over UDP on the live path: queries sent from the namespace, each its own flow,
/// parsed by the workers' app layer and inspected by a `dns.query` rule.
#[test]
fn dns_queries_are_parsed_and_inspected_live() {
    let lab = VethLab::new("ldns", 2).expect("veth lab (root needed)");
    let rules = "alert dns any any -> any any (msg:\"evil domain\"; dns.query; dotprefix; content:\".evil.example\"; nocase; endswith; sid:7;)\n";
    let (sensor, sids) = start(&lab, 2, None, rules);
    let query = |name: &str| {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    };
    let f: Vec<Vec<u8>> = (0..600u16)
        .map(|i| {
            // Every third asks for a subdomain of evil.example; the others do not match
            // (a longer label, or another domain).
            let name = match i % 3 {
                0 => "www.EVIL.example",
                1 => "notevil.example",
                _ => "www.example.com",
            };
            let mut v = Vec::new();
            FrameSpec::ipv4(
                Ipv4Addr::new(10, 8, 0, 1),
                Ipv4Addr::new(10, 9, 0, 1),
                L4Spec::udp(30_000 + i, 53),
            )
            .payload(&query(name))
            .write(&mut v);
            v
        })
        .collect();
    assert_eq!(lab.send(&f).unwrap(), 600);
    let r = finish(sensor);
    assert_exact(&r, 600);
    assert_eq!(r.totals().app.dns_requests, 600, "every query parsed");
    assert_eq!(r.status.alerts, 200);
    let sids = sids.lock().unwrap();
    assert_eq!(sids.len(), 200);
    assert!(sids.iter().all(|&s| s == 7));
}

/// TLS over TCP on the live path: whole TLS sessions sent from the namespace, followed by
/// the workers' TCP app layer (dispatch mode, two workers), each ClientHello's server
/// name inspected by a `tls.sni` rule on the client's packet after the server's reply.
#[test]
fn tls_server_names_are_parsed_and_inspected_live() {
    use capture::craft::{tcp_flags as F, TcpSession};
    use std::net::IpAddr;

    let lab = VethLab::new("ltls", 1).expect("veth lab (root needed)");
    let rules = "alert tls any any -> any any (msg:\"evil name\"; tls.sni; dotprefix; \
                 content:\".evil.example\"; nocase; endswith; sid:9;)\n";
    let (sensor, sids) = start(&lab, 1, Some(2), rules);
    let record = |ct: u8, body: &[u8]| {
        let mut r = vec![ct, 3, 1];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    let hello = |name: &[u8]| {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[9; 32]);
        b.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        b.extend_from_slice(&((name.len() + 9) as u16).to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
        b.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        b.push(0);
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(name);
        let mut m = vec![1];
        m.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(&b);
        record(22, &m)
    };
    let server = record(22, &[14, 0, 0, 0]);
    let finish_flight = [record(20, &[1]), record(22, &[0x5a; 40])].concat();
    let mut f: Vec<Vec<u8>> = Vec::new();
    let mut buf = Vec::new();
    for i in 0..100u16 {
        // Every other session names a subdomain of evil.example; the others do not match
        // (a longer label, or another domain).
        let name: &[u8] = match i % 4 {
            0 | 2 => b"cdn.EVIL.example",
            1 => b"notevil.example",
            _ => b"www.example.com",
        };
        let client = (IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1)), 30_000 + i);
        let server_ep = (IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)), 443);
        let mut s = TcpSession::new(client, server_ep, 1000 + u32::from(i), 7000);
        s.handshake(&mut buf, &mut |x| f.push(x.to_vec()));
        for (c, flags, p) in [
            (true, F::PSH | F::ACK, hello(name)),
            (false, F::PSH | F::ACK, server.clone()),
            (true, F::PSH | F::ACK, finish_flight.clone()),
            (true, F::FIN | F::ACK, Vec::new()),
            (false, F::FIN | F::ACK, Vec::new()),
            (true, F::ACK, Vec::new()),
        ] {
            s.segment(&mut buf, c, flags, &p);
            f.push(buf.clone());
        }
    }
    assert_eq!(lab.send(&f).unwrap(), 900);
    let r = finish(sensor);
    assert_exact(&r, 900);
    let app = r.totals().app;
    assert_eq!(
        (app.tls_flows, app.tls_sni),
        (100, 100),
        "every hello parsed"
    );
    assert_eq!(r.status.alerts, 50);
    let sids = sids.lock().unwrap();
    assert_eq!(sids.len(), 50);
    assert!(sids.iter().all(|&s| s == 9));
}
