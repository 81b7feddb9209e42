//! `Engine::inspect` must not allocate once its scratch is warm: a counting global
//! allocator counts allocations made by this thread while packets are inspected.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use capture::decode::tcp_flags::{ACK, PSH};
use detect::engine::{test_packet, Engine, FlowInfo, RuleBuilder, TestL4};
use detect::rules::{ByteTest, ByteTestOp, Endian, NumberFormat, Proto};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn inspect_does_not_allocate_when_warm() {
    let rules = vec![
        RuleBuilder::new(Proto::Tcp, 1)
            .content(b"GET ")
            .startswith()
            .content(b"/admin")
            .distance(0)
            .build(),
        RuleBuilder::new(Proto::Tcp, 2)
            .content(b"user-agent")
            .nocase()
            .build(),
        RuleBuilder::new(Proto::Tcp, 3)
            .content(b"id=")
            .pcre("^[0-9]{3,}", "R", false)
            .expect("regex")
            .build(),
        RuleBuilder::new(Proto::Tcp, 4)
            .pcre("evil|bad", "i", false)
            .expect("regex")
            .build(),
        RuleBuilder::new(Proto::Tcp, 5)
            .dst_ports(&[(80, 80)], &[])
            .not_content(b"Host:")
            .build(),
        RuleBuilder::new(Proto::Tcp, 6)
            .content(b"LEN")
            .byte_test(ByteTest {
                bytes: 2,
                negated: false,
                op: ByteTestOp::Gt,
                value: 10,
                offset: 0,
                relative: true,
                format: NumberFormat::Binary(Endian::Big),
                bitmask: None,
            })
            .build(),
        RuleBuilder::new(Proto::Udp, 7)
            .content(b"a")
            .content(b"b")
            .within(1)
            .build(),
        RuleBuilder::new(Proto::Ip, 8)
            .dsize(detect::rules::NumMatch::Gt(100))
            .build(),
    ];
    let engine = Engine::build(rules).expect("engine builds");
    let mut scratch = engine.scratch();

    let payloads: Vec<Vec<u8>> = (0..300)
        .map(|i| match i % 6 {
            0 => format!("GET /admin/{i} HTTP/1.1\r\nUser-Agent: x\r\n\r\n").into_bytes(),
            1 => format!("POST /q?id={i}{i}{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes(),
            2 => b"this is EVIL traffic with LEN\x00\x20 and aaab".to_vec(),
            3 => vec![b'a'; 1200],
            4 => b"ab".repeat(100),
            _ => format!("nothing to see {i}").into_bytes(),
        })
        .collect();
    let flow = FlowInfo {
        to_server: true,
        established: true,
        first_in_direction: true,
        flowless: false,
        header_only: false,
        stream_data: false,
        stream_size: None,
        app: Default::default(),
        payload_unread: false,
    };
    let run = |scratch: &mut detect::engine::Scratch| {
        let mut hits = 0;
        for (i, p) in payloads.iter().enumerate() {
            let l4 = if i % 2 == 0 {
                TestL4::Tcp {
                    sport: 40000,
                    dport: 80,
                    flags: ACK | PSH,
                }
            } else {
                TestL4::Udp {
                    sport: 5000,
                    dport: 53,
                }
            };
            let pkt = test_packet(ip("10.0.0.1"), ip("10.0.0.2"), l4, p);
            engine.inspect(&pkt, &flow, scratch);
            hits += scratch.matches().len();
        }
        hits
    };
    let warm = run(&mut scratch);
    COUNTING.with(|c| c.set(true));
    let hits = run(&mut scratch);
    COUNTING.with(|c| c.set(false));
    assert_eq!(hits, warm);
    assert!(hits > 300, "the rules must really match ({hits} matches)");
    assert_eq!(ALLOCS.load(Ordering::Relaxed), 0, "inspect allocated");
}

/// The worker's TCP path in steady state: flows come and go, their bytes are copied into
/// stream buffers, prefiltered, inspected on the stream at the FIN and released; buffers
/// come from the pool, so once warm nothing allocates.
#[test]
fn stream_reassembly_does_not_allocate_when_warm() {
    use capture::craft::TcpSession;
    use capture::decode::{decode, LinkType};
    use detect::rules::FlowbitCmd;
    use detect::worker::{Worker, WorkerConfig};
    use std::sync::Arc;

    let rules = vec![
        RuleBuilder::new(Proto::Tcp, 1)
            .content(b"NOT-IN-THIS-TRAFFIC")
            .build(),
        RuleBuilder::new(Proto::TcpPkt, 2)
            .content(b"nor this")
            .build(),
        // Flowbits written and read on every data packet: the bits live beside the flow
        // entry and are copied in and out of the scratch, never allocated.
        flowbit_rule(3, b"aaaa", FlowbitCmd::Set),
        flowbit_rule(4, b"bbbb", FlowbitCmd::IsSet),
        flowbit_rule(5, b"cccc", FlowbitCmd::Toggle),
    ];
    let engine = Arc::new(Engine::build(rules).expect("engine builds"));
    assert_eq!(engine.flowbit_words(), 1);
    let mut w = Worker::new(engine, &WorkerConfig::default(), 0);
    // Whole sessions: handshake, three acknowledged data segments each way, teardown.
    let frames = |first: u32, n: u32| {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut buf = Vec::new();
        for i in first..first + n {
            let mut s = TcpSession::new(
                (ip(&format!("10.1.{}.{}", i / 250, 1 + i % 250)), 40000),
                (ip("10.0.0.2"), 80),
                i.wrapping_mul(7919),
                i.wrapping_mul(104_729),
            );
            let mut emit = |f: &[u8]| out.push(f.to_vec());
            s.handshake(&mut buf, &mut emit);
            for k in 0..3 {
                let data = vec![b'a' + k as u8; 500];
                s.data(&mut buf, true, &data, &mut emit);
                s.data(&mut buf, false, &data, &mut emit);
            }
            s.teardown(&mut buf, &mut emit);
        }
        out
    };
    let warm = frames(0, 2000);
    let steady = frames(2000, 2000);
    let mut alerts = 0usize;
    let mut sink = |_a| alerts += 1;
    let mut ts = 1_000_000_000u64;
    let mut run =
        |w: &mut Worker, fs: &[Vec<u8>], sink: &mut dyn FnMut(detect::worker::AlertEvent)| {
            for f in fs {
                ts += 1_000;
                let p = decode(LinkType::Ethernet, f, false).expect("crafted frame decodes");
                w.handle_packet(ts, &p, 0, &mut |a| sink(a));
            }
        };
    run(&mut w, &warm, &mut sink);
    COUNTING.with(|c| c.set(true));
    run(&mut w, &steady, &mut sink);
    COUNTING.with(|c| c.set(false));
    let st = w.stats().stream;
    assert!(
        st.inspections >= 4 * 2000,
        "stream inspections ran ({})",
        st.inspections
    );
    assert!(
        st.bytes >= 2 * 4000 * 1500,
        "bytes were stored ({})",
        st.bytes
    );
    assert_eq!(alerts, 0);
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "the stream path allocated"
    );
}

fn flowbit_rule(sid: u32, content: &[u8], cmd: detect::rules::FlowbitCmd) -> detect::rules::Rule {
    let mut r = RuleBuilder::new(Proto::TcpPkt, sid)
        .content(content)
        .noalert()
        .build();
    r.flowbits.push(detect::rules::Flowbit {
        cmd,
        names: vec!["x".into()],
    });
    r
}

/// Following tunnels (GRE, ERSPAN, VXLAN, GENEVE, MPLS, IP-in-IP, nested, and one whose
/// VXLAN header is malformed) allocates nothing: inner headers are offsets into the frame.
#[test]
fn tunnel_decode_does_not_allocate() {
    use capture::craft::{FrameSpec, L4Spec, TcpSpec};
    use capture::craft_encap::{Encap, Inner, Outer};
    use capture::decode::{decode, LinkType};
    let mut inner = Vec::new();
    FrameSpec::ip(
        ip("10.77.0.1"),
        ip("10.77.0.2"),
        L4Spec::Tcp(TcpSpec::new(40000, 8080, ACK | PSH)),
    )
    .payload(b"tunnelled payload")
    .raw_ip()
    .write(&mut inner);
    let outer = Outer {
        src: ip("198.51.100.1"),
        dst: ip("198.51.100.2"),
    };
    let encaps = [
        Encap::Gre {
            outer,
            checksum: true,
            key: Some(1),
            seq: Some(2),
        },
        Encap::ErspanI { outer },
        Encap::ErspanII {
            outer,
            session: 1,
            seq: 1,
        },
        Encap::ErspanIII {
            outer,
            session: 1,
            seq: 1,
        },
        Encap::Vxlan {
            outer,
            src_port: 1,
            dst_port: 4789,
            vni: 1,
        },
        Encap::Geneve {
            outer,
            src_port: 1,
            dst_port: 6081,
            vni: 1,
            option_words: 2,
        },
        Encap::Mpls { labels: &[16, 17] },
        Encap::IpInIp { outer },
    ];
    let mut frames: Vec<Vec<u8>> = encaps
        .iter()
        .map(|e| {
            let mut f = Vec::new();
            e.wrap(Inner::Ip(&inner), &mut f);
            f
        })
        .collect();
    let mut nested = Vec::new();
    encaps[0].wrap(Inner::Ip(&frames[4][14..]), &mut nested);
    frames.push(nested);
    let mut bad = frames[4].clone();
    bad[14 + 20 + 8] = 0; // VXLAN without the I flag
    frames.push(bad);
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let mut tunnelled = 0;
    for _ in 0..100 {
        for f in &frames {
            let p = decode(LinkType::Ethernet, f, true).expect("crafted frame decodes");
            tunnelled += usize::from(p.tunnel.is_some());
        }
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        tunnelled,
        100 * (frames.len() - 1),
        "all but the malformed one"
    );
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed) - before,
        0,
        "tunnel decoding allocated"
    );
}

/// A worker on the rules `text`, whose engine `check` accepts.
fn worker_for(text: &str, check: impl Fn(&Engine) -> bool) -> detect::worker::Worker {
    use detect::rules::{load_str, Classifications, Vars};
    use detect::worker::{Worker, WorkerConfig};
    let loaded = load_str(
        text,
        "t.rules",
        &Vars::default(),
        &Classifications::default(),
        true,
    )
    .expect("rules load");
    let engine = std::sync::Arc::new(Engine::build(loaded.rules).expect("engine builds"));
    assert!(check(&engine), "the engine takes the app-layer rules");
    Worker::new(engine, &WorkerConfig::default(), 0)
}

/// Runs `warm` through the worker, then `steady` with this thread's allocations counted;
/// returns the alerts raised.
fn warm_then_count(w: &mut detect::worker::Worker, warm: &[Vec<u8>], steady: &[Vec<u8>]) -> usize {
    use capture::decode::{decode, LinkType};
    let mut alerts = 0usize;
    let mut ts = 1_000_000_000u64;
    let mut run = |w: &mut detect::worker::Worker, fs: &[Vec<u8>]| {
        for f in fs {
            ts += 1_000;
            let p = decode(LinkType::Ethernet, f, false).expect("crafted frame decodes");
            w.handle_packet(ts, &p, 0, &mut |_a| alerts += 1);
        }
    };
    run(w, warm);
    COUNTING.with(|c| c.set(true));
    run(w, steady);
    COUNTING.with(|c| c.set(false));
    alerts
}

/// DNS over UDP: the probe on each flow's first payloads, the request parser and the
/// `dns.query` rules (prefilter, `dotprefix`, `bsize`, `pcre`) reuse the worker's buffers.
#[test]
fn dns_requests_do_not_allocate_when_warm() {
    use capture::craft::{FrameSpec, L4Spec};

    let rules = r#"
alert dns any any -> any any (msg:"a"; dns.query; content:"not-in-this.example"; nocase; sid:1;)
alert dns any any -> any any (msg:"b"; dns.query; dotprefix; content:".nowhere.test"; endswith; sid:2;)
alert dns any any -> any any (msg:"c"; dns.query; bsize:3; sid:3;)
alert dns any any -> any any (msg:"d"; dns.query; pcre:"/^zz+$/"; sid:4;)
alert dns any any -> any any (msg:"e"; content:"NOPE"; sid:5;)
"#;
    let mut w = worker_for(rules, |e| e.has_dns_rules());
    let frames = |first: u32, n: u32| {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for i in first..first + n {
            let client: std::net::Ipv4Addr = [10, 1, (i / 250) as u8, (1 + i % 250) as u8].into();
            let server: std::net::Ipv4Addr = [192, 0, 2, 53].into();
            let port = 20000 + (i % 40000) as u16;
            let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
            q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
            let mut r = q.clone();
            r[2] = 0x81;
            for (src, dst, sport, dport, msg) in [
                (client, server, port, 53, &q),
                (server, client, 53, port, &r),
            ] {
                let mut f = Vec::new();
                FrameSpec::ipv4(src, dst, L4Spec::udp(sport, dport))
                    .payload(msg)
                    .write(&mut f);
                out.push(f);
            }
        }
        out
    };
    let warm = frames(0, 2000);
    let steady = frames(2000, 2000);
    let alerts = warm_then_count(&mut w, &warm, &steady);
    assert_eq!(w.stats().app.dns_requests, 4000, "every request was parsed");
    assert_eq!(alerts, 0);
    assert_eq!(ALLOCS.load(Ordering::Relaxed), 0, "the DNS path allocated");
}

/// TLS over TCP: following each flow's bytes, protocol detection, the record parser, the
/// ClientHello's server name and JA3, the `tls.sni` and `ja3` rules and the end of
/// content inspection reuse the worker's buffers and connection slab.
#[test]
fn tls_sessions_do_not_allocate_when_warm() {
    use capture::craft::tcp_flags as F;

    let rules = r#"
alert tls any any -> any any (msg:"a"; tls.sni; content:"not-in-this.example"; nocase; sid:1;)
alert tls any any -> any any (msg:"b"; tls.sni; dotprefix; content:".nowhere.test"; endswith; sid:2;)
alert tls any any -> any any (msg:"c"; tls.sni; bsize:3; sid:3;)
alert tcp any any -> any any (msg:"d"; content:"NOPE"; sid:4;)
alert tls any any -> any any (msg:"e"; ja3.hash; content:"00000000000000000000000000000000"; sid:5;)
alert tls any any -> any any (msg:"f"; ja3.string; content:",99999,"; sid:6;)
"#;
    let mut w = worker_for(rules, |e| e.has_tls_rules());
    let record = |ct: u8, body: &[u8]| {
        let mut r = vec![ct, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    let sni = b"www.example.com";
    let mut ch = vec![3, 3];
    ch.extend_from_slice(&[7; 32]);
    ch.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    let ext_len = sni.len() + 9;
    ch.extend_from_slice(&(ext_len as u16).to_be_bytes());
    ch.extend_from_slice(&[0, 0]);
    ch.extend_from_slice(&((sni.len() + 5) as u16).to_be_bytes());
    ch.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    ch.push(0);
    ch.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ch.extend_from_slice(sni);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(ch.len() as u16).to_be_bytes());
    hs.extend_from_slice(&ch);
    let hello = record(22, &hs);
    let server = [
        record(
            22,
            &[
                2, 0, 0, 38, 3, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0, 0x13, 0x01, 0,
            ],
        ),
        record(20, &[1]),
    ]
    .concat();
    let client_fin = [record(20, &[1]), record(22, &[0x5a; 40])].concat();
    let data = record(23, &[0x42; 200]);
    let script = [
        (true, F::SYN, &[][..]),
        (false, F::SYN | F::ACK, &[][..]),
        (true, F::ACK, &[][..]),
        (true, F::PSH | F::ACK, &hello[..]),
        (false, F::PSH | F::ACK, &server[..]),
        (true, F::PSH | F::ACK, &client_fin[..]),
        (false, F::PSH | F::ACK, &data[..]),
        (true, F::PSH | F::ACK, &data[..]),
        (false, F::ACK, &[][..]),
        (true, F::FIN | F::ACK, &[][..]),
        (false, F::FIN | F::ACK, &[][..]),
        (true, F::ACK, &[][..]),
    ];
    let frames = |first: u32, n: u32| tcp_sessions(first, n, 2, 443, &script);
    let warm = frames(0, 1000);
    let steady = frames(1000, 1000);
    let alerts = warm_then_count(&mut w, &warm, &steady);
    let app = w.stats().app;
    assert_eq!(
        (app.tls_flows, app.tls_sni),
        (2000, 2000),
        "every hello was parsed"
    );
    assert_eq!(alerts, 0);
    assert_eq!(ALLOCS.load(Ordering::Relaxed), 0, "the TLS path allocated");
}

/// HTTP over TCP: following each flow's bytes, the method probe, the request parser (two
/// keep-alive requests, one with a body), the URI and host normalization, the request
/// buffers' rules, the retiring of finished requests, the response framing and raw
/// content rules on HTTP flows reuse the worker's buffers.
#[test]
fn http_requests_do_not_allocate_when_warm() {
    use capture::craft::tcp_flags as F;

    let rules = r#"
alert http any any -> any any (msg:"a"; flow:established,to_server; http.uri; content:"/not-here"; sid:1;)
alert http any any -> any any (msg:"b"; flow:to_server; http.host; content:"nowhere.test"; endswith; sid:2;)
alert http any any -> any any (msg:"c"; flow:to_server; http.user_agent; content:"NopeAgent"; nocase; sid:3;)
alert http any any -> any any (msg:"d"; flow:to_server; http.header; content:"X-Never|3a|"; sid:4;)
alert http any any -> any any (msg:"e"; flow:to_server; http.header.raw; content:"|0d 0a|X-Never"; sid:5;)
alert http any any -> any any (msg:"f"; flow:to_server; http.method; content:"PUT"; urilen:>500; sid:6;)
alert http any any -> any any (msg:"g"; flow:to_server; http.uri.raw; pcre:"/zz+$/"; sid:7;)
alert tcp any any -> any any (msg:"h"; content:"NOPE"; sid:8;)
alert http any any -> any any (msg:"i"; flow:to_client; content:"NEVER-IN-A-RESPONSE"; sid:9;)
alert http any any -> any any (msg:"j"; flow:established,to_client; file.data; content:"NEVER-IN-A-BODY"; sid:10;)
"#;
    let mut w = worker_for(rules, |e| e.has_http_rules() && e.has_http_response_rules());
    let first = b"GET /a/./b/../index.html?q=%41%42 HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\n\
User-Agent: curl/8.0\r\nAccept: */*\r\nCookie: s=1\r\n\r\n";
    let second = b"POST /form HTTP/1.1\r\nHost: www.example.com\r\nContent-Type: text/plain\r\n\
Content-Length: 11\r\nConnection: close\r\n\r\nhello world";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nok, a body file.data inspects.";
    let script = [
        (true, F::SYN, &[][..]),
        (false, F::SYN | F::ACK, &[][..]),
        (true, F::ACK, &[][..]),
        (true, F::PSH | F::ACK, &first[..]),
        (false, F::PSH | F::ACK, &response[..]),
        (true, F::PSH | F::ACK, &second[..]),
        (false, F::PSH | F::ACK, &response[..]),
        (true, F::FIN | F::ACK, &[][..]),
        (false, F::FIN | F::ACK, &[][..]),
        (true, F::ACK, &[][..]),
    ];
    let frames = |first: u32, n: u32| tcp_sessions(first, n, 3, 80, &script);
    let warm = frames(0, 1000);
    let steady = frames(1000, 1000);
    let alerts = warm_then_count(&mut w, &warm, &steady);
    let app = w.stats().app;
    assert_eq!(
        (app.http_flows, app.http_requests, app.http_responses),
        (2000, 4000, 4000),
        "every request was parsed, every response framed"
    );
    assert_eq!(alerts, 0);
    assert_eq!(ALLOCS.load(Ordering::Relaxed), 0, "the HTTP path allocated");
}

/// Frames of `n` TCP sessions numbered from `first`, each from its own client in
/// 10.`net`.0.0/16 to 192.0.2.`net`:`port`, playing `script` (from the client, flags,
/// payload).
fn tcp_sessions(
    first: u32,
    n: u32,
    net: u8,
    port: u16,
    script: &[(bool, u8, &[u8])],
) -> Vec<Vec<u8>> {
    use capture::craft::TcpSession;
    let mut out = Vec::new();
    for i in first..first + n {
        let client: std::net::Ipv4Addr = [10, net, (i / 250) as u8, (1 + i % 250) as u8].into();
        let mut s = TcpSession::new(
            (client.into(), 20000 + (i % 40000) as u16),
            (std::net::Ipv4Addr::new(192, 0, 2, net).into(), port),
            1000 + i,
            9000 + i,
        );
        let mut buf = Vec::new();
        for &(c, fl, p) in script {
            s.segment(&mut buf, c, fl, p);
            out.push(buf.clone());
        }
    }
    out
}
