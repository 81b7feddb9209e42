//! Any bytes as a rules file: the loader must never panic, only report broken rules; the
//! rules it accepts must build into an engine and run on a few fixed packets (TCP, UDP,
//! a DNS request and its reply, a TLS session naming a server and carrying a
//! certificate, an HTTP session of two requests) without a panic.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use capture::craft::{tcp_flags as F, FrameSpec, L4Spec, TcpSession, TcpSpec};
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
        let mut frames: Vec<Vec<u8>> = specs
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                f.write(&mut out);
                out
            })
            .collect();
        // A TLS session: handshake, a ClientHello naming www.example.com, the server's
        // reply (which acknowledges it), application data both ways, teardown.
        let mut hello = vec![0x16, 3, 1, 0, 0, 1, 0, 0, 0, 3, 3];
        hello.extend_from_slice(&[7; 32]);
        hello.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0, 0, 20, 0, 0, 0, 16, 0, 14, 0, 0, 11]);
        hello.extend_from_slice(b"example.com");
        let body = (hello.len() - 5) as u16;
        hello[3..5].copy_from_slice(&body.to_be_bytes());
        let hs = (hello.len() - 9) as u32;
        hello[6..9].copy_from_slice(&hs.to_be_bytes()[1..]);
        // The server's flight: its certificate and ServerHelloDone, then ChangeCipherSpec.
        let leaf: &[u8] = include_bytes!("../../src/applayer/testdata/leaf.der");
        let mut chain = (leaf.len() as u32).to_be_bytes()[1..].to_vec();
        chain.extend_from_slice(leaf);
        let mut msgs = vec![11];
        msgs.extend_from_slice(&((chain.len() + 3) as u32).to_be_bytes()[1..]);
        msgs.extend_from_slice(&(chain.len() as u32).to_be_bytes()[1..]);
        msgs.extend_from_slice(&chain);
        msgs.extend_from_slice(&[14, 0, 0, 0]);
        let mut server = vec![0x16, 3, 3];
        server.extend_from_slice(&(msgs.len() as u16).to_be_bytes());
        server.extend_from_slice(&msgs);
        server.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
        let data = [0x17, 3, 3, 0, 3, b'a', b'b', b'c'];
        let mut t = TcpSession::new((c.into(), 40002), (s.into(), 443), 1000, 9000);
        let mut buf = Vec::new();
        for (client, flags, payload) in [
            (true, F::SYN, &[][..]),
            (false, F::SYN | F::ACK, &[][..]),
            (true, F::ACK, &[][..]),
            (true, F::PSH | F::ACK, &hello[..]),
            (false, F::PSH | F::ACK, &server[..]),
            (true, F::PSH | F::ACK, &data[..]),
            (false, F::PSH | F::ACK, &data[..]),
            (true, F::FIN | F::ACK, &[][..]),
            (false, F::FIN | F::ACK, &[][..]),
            (true, F::ACK, &[][..]),
        ] {
            t.segment(&mut buf, client, flags, payload);
            frames.push(buf.clone());
        }
        // An HTTP session: two keep-alive requests (the second with a body), answered.
        let get = b"GET /a/../index.html?q=%41 HTTP/1.1\r\nHost: www.Example.com\r\n\
User-Agent: fuzz\r\nCookie: c=1\r\n\r\n";
        let post = b"POST /form HTTP/1.1\r\nHost: www.example.com:8080\r\n\
Content-Length: 5\r\n\r\nhello";
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let mut h = TcpSession::new((c.into(), 40003), (s.into(), 80), 5000, 7000);
        for (client, flags, payload) in [
            (true, F::SYN, &[][..]),
            (false, F::SYN | F::ACK, &[][..]),
            (true, F::ACK, &[][..]),
            (true, F::PSH | F::ACK, &get[..]),
            (false, F::PSH | F::ACK, &ok[..]),
            (true, F::PSH | F::ACK, &post[..]),
            (false, F::PSH | F::ACK, &ok[..]),
            (true, F::FIN | F::ACK, &[][..]),
            (false, F::FIN | F::ACK, &[][..]),
            (true, F::ACK, &[][..]),
        ] {
            h.segment(&mut buf, client, flags, payload);
            frames.push(buf.clone());
        }
        frames
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
