//! The golden scenarios: deterministic traffic that exercises every rule in
//! `xtask/golden/golden.rules` with matching and non-matching packets. Suricata's alerts on
//! this pcap are the reference tidewatch is compared against (`cargo xtask golden`).
//!
//! Each scenario letter matches the `## Scenario X` sections of the rules file. Every match
//! sits inside one packet; TCP payload is sent over sessions with a real handshake, each
//! data segment acknowledged by the peer, and a FIN teardown.

use anyhow::{Context, Result};
use capture::craft::{tcp_flags as F, FrameSpec, Ipv6Ext, L4Spec, TcpSession, TcpSpec};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// 2024-01-01T00:00:00Z in nanoseconds: the first frame's timestamp.
pub const START_NS: u64 = 1_704_067_200_000_000_000;
/// Gap between consecutive frames.
pub const STEP_NS: u64 = 1_000_000;

/// The golden rules file.
pub const RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/golden.rules");
/// Per-sid alert counts Suricata produced on the golden pcap (`{"sid": count}`).
pub const EXPECTED_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/expected.json");
/// Every Suricata alert on the golden pcap as (sid, src, sport, dst, dport, timestamp).
pub const EXPECTED_ALERTS_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/expected_alerts.json");
/// The Suricata configuration used for the golden run and the benchmarks.
pub const SURICATA_YAML_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/suricata.yaml");

/// Paths as `PathBuf`s, for callers that prefer them.
pub fn rules_path() -> PathBuf {
    PathBuf::from(RULES_PATH)
}
pub fn expected_path() -> PathBuf {
    PathBuf::from(EXPECTED_PATH)
}
pub fn expected_alerts_path() -> PathBuf {
    PathBuf::from(EXPECTED_ALERTS_PATH)
}

/// Reads `expected.json` into (sid, count) pairs sorted by sid.
pub fn read_expected_counts() -> Result<Vec<(u32, u64)>> {
    let text = std::fs::read_to_string(EXPECTED_PATH)
        .with_context(|| format!("reading {EXPECTED_PATH}"))?;
    let map: std::collections::BTreeMap<String, u64> =
        serde_json::from_str(&text).with_context(|| format!("parsing {EXPECTED_PATH}"))?;
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let sid: u32 = k
            .parse()
            .with_context(|| format!("{EXPECTED_PATH}: sid key {k:?} is not a number"))?;
        out.push((sid, v));
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads `expected_alerts.json`: every Suricata alert as (timestamp, sid, src, sport, dst,
/// dport). Note Suricata stamps stream-matched TCP alerts with the packet that triggered
/// the stream inspection (the FIN in these scenarios), not the data packet.
pub fn read_expected_alerts() -> Result<Vec<crate::suricata::AlertTuple>> {
    let text = std::fs::read_to_string(EXPECTED_ALERTS_PATH)
        .with_context(|| format!("reading {EXPECTED_ALERTS_PATH}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {EXPECTED_ALERTS_PATH}"))
}

/// Writes the golden pcap (Ethernet link type) to `path`. Deterministic: same bytes on
/// every call.
pub fn write_golden_pcap(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write_golden(BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes the golden pcap into any sink and returns the number of frames.
pub fn write_golden<W: Write>(sink: W) -> Result<usize> {
    let frames = golden_frames();
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    for (i, f) in frames.iter().enumerate() {
        w.write_frame(START_NS + (i as u64) * STEP_NS, f)?;
    }
    w.into_inner()?;
    Ok(frames.len())
}

/// All golden frames in order.
pub fn golden_frames() -> Vec<Vec<u8>> {
    let mut g = Gen::default();
    scenario_a(&mut g);
    scenario_b(&mut g);
    scenario_c(&mut g);
    scenario_d(&mut g);
    scenario_e(&mut g);
    scenario_f(&mut g);
    scenario_g(&mut g);
    scenario_o(&mut g);
    scenario_h(&mut g);
    scenario_i(&mut g);
    scenario_j(&mut g);
    scenario_k(&mut g);
    scenario_l(&mut g);
    scenario_q(&mut g);
    scenario_r(&mut g);
    g.frames
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const CLIENT_F: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);
const HOME2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const HOME3: Ipv4Addr = Ipv4Addr::new(172, 16, 3, 4);
const HOME_J: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const SERVER2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 8);
const EXT2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
const DNS: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
const HOME_Q: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 1);
const SERVER_Q: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 50);
const ROUTER_Q: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 254);
const Q6_CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 1);
const Q6_SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 2);
const HOME_R: Ipv4Addr = Ipv4Addr::new(10, 21, 0, 1);
const PEER_R: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 60);
const R6_HOME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x21, 0, 0, 0, 0, 1);
const R6_PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x21, 0, 0, 0, 0, 2);
const V6_CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);
const V6_SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x20);

/// Data direction in a session script.
#[derive(Clone, Copy)]
enum Dir {
    /// Client to server.
    C,
    /// Server to client.
    S,
}

#[derive(Default)]
struct Gen {
    frames: Vec<Vec<u8>>,
    buf: Vec<u8>,
    /// Counter making client ports and ISNs distinct per session.
    sessions: u32,
}

impl Gen {
    fn push(&mut self, spec: FrameSpec<'_>) {
        spec.write(&mut self.buf);
        self.frames.push(self.buf.clone());
    }

    /// A full TCP session: handshake, each payload acknowledged by the peer, teardown.
    fn session(
        &mut self,
        client: IpAddr,
        server: (IpAddr, u16),
        vlans: &[u16],
        script: &[(Dir, &[u8])],
    ) {
        let mut s = self.new_session(client, server, vlans);
        let frames = &mut self.frames;
        let mut emit = |f: &[u8]| frames.push(f.to_vec());
        s.handshake(&mut self.buf, &mut emit);
        for (dir, payload) in script {
            s.data(&mut self.buf, matches!(dir, Dir::C), payload, &mut emit);
        }
        s.teardown(&mut self.buf, &mut emit);
    }

    fn new_session(&mut self, client: IpAddr, server: (IpAddr, u16), vlans: &[u16]) -> TcpSession {
        self.sessions += 1;
        let n = self.sessions;
        let cport = 40000 + u16::try_from(n % 20000).unwrap_or(0);
        let mut s = TcpSession::new(
            (client, cport),
            server,
            1_000_000u32.wrapping_mul(n),
            0x8000_0000u32.wrapping_add(n * 7919),
        );
        for v in vlans {
            s = s.vlan(*v);
        }
        s
    }

    /// Every script entry in its own session, the whole script twice (so expected counts
    /// are doubled). One payload per session keeps Suricata's stream inspection window equal
    /// to that one packet: Suricata inspects TCP payload rules on the reassembled stream
    /// (at the FIN here), so several payloads in one session would be matched as one buffer.
    fn twice(&mut self, client: IpAddr, server: (IpAddr, u16), script: &[(Dir, &[u8])]) {
        for _ in 0..2 {
            for item in script {
                self.session(client, server, &[], std::slice::from_ref(item));
            }
        }
    }

    fn udp(&mut self, src: IpAddr, sport: u16, dst: IpAddr, dport: u16, payload: &[u8]) {
        let spec = FrameSpec::ip(
            src,
            dst,
            L4Spec::Udp {
                src_port: sport,
                dst_port: dport,
            },
        )
        .payload(payload);
        self.push(spec);
    }
}

fn v4(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

/// Scenario A: content basics (hex, escapes, negation, nocase, offset/depth).
fn scenario_a(g: &mut Gen) {
    use Dir::*;
    let script: [(Dir, &[u8]); 6] = [
        (C, b"LOGIN \"admin\"; pass\\x \x00\x01 end"),
        (C, b"LOGIN guest"),
        (C, b"xxxxCMD run"),
        (C, b"CMD run xxxx"),
        (C, b"login \"admin\" pass\\y \x00\x02"),
        (S, b"LOGIN OK \x00\x01"),
    ];
    g.twice(v4(CLIENT), (v4(SERVER), 8001), &script);
}

/// Scenario B: relative modifiers, startswith/endswith, isdataat.
fn scenario_b(g: &mut Gen) {
    use Dir::*;
    let script: [(Dir, &[u8]); 14] = [
        (C, b"key=bad;key=ok;"),
        (C, b"key=bad;ok"),
        (C, b"abxyz"),
        (C, b"ab_xyz"),
        (C, b"HELLO world BYE"),
        (C, b" HELLO BYE "),
        (C, b"DATA0123456789"),
        (C, b"xxDATA"),
        (C, b"FROM abc TO"),
        (C, b"FROM TO"),
        (C, b"X1..Y2"),
        (C, b"X1....Y2"),
        (C, b"<a><b>__<a><b><c>"),
        (C, b"<a><b>__<c>"),
    ];
    g.twice(v4(CLIENT), (v4(SERVER), 8002), &script);
}

/// Scenario C: fast_pattern variants, rawbytes, pcre.
fn scenario_c(g: &mut Gen) {
    use Dir::*;
    let script: [(Dir, &[u8]); 21] = [
        (C, b"alpha betagamma"),
        (C, b"betagamma only"),
        (C, b"zeta zone"),
        (C, b"zet a"),
        (C, b"XXlongpattern123"),
        (C, b"pattern123"),
        (C, b"RAW bytes"),
        (C, b"foobar"),
        (C, b"foobaz"),
        (C, b"user=root"),
        (C, b"admin=root"),
        (C, b"SECRET\nstuff token"),
        (C, b"xsecret token"),
        (C, b"line1\nline2\nline3"),
        (C, b"line1 line2"),
        (C, b"xxabcxx"),
        (C, b"a b c"),
        (C, b"id=123"),
        (C, b"id=ab1234"),
        (C, b"GET /index"),
        (C, b"GET /ADMIN"),
    ];
    g.twice(v4(CLIENT), (v4(SERVER), 8003), &script);
}

/// Scenario D: byte_test and byte_jump over UDP, one matching and one non-matching
/// packet per tag, each sent twice.
fn scenario_d(g: &mut Gen) {
    let pkts: [&[u8]; 50] = [
        b"T01\x03\xe9",
        b"T01\x03\xe8",
        b"T02\x00\x09",
        b"T02\x00\x0a",
        b"T03\x07",
        b"T03\x08",
        b"T04\x08",
        b"T04\x07",
        b"T05\x81",
        b"T05\x01",
        b"T06\x02",
        b"T06\x01",
        b"T07\x00\x64",
        b"T07\x00\x65",
        b"T08\x00\x64",
        b"T08\x00\x63",
        b"T09123",
        b"T09124",
        b"T10ff",
        b"T10fe",
        b"T11010",
        b"T11011",
        b"T12\x02\x01",
        b"T12\x01\x02",
        b"T13LEN\x06",
        b"T13LEN\x05",
        b"T14\xff\x1f",
        b"T14\xff\x2f",
        b"T15\x05",
        b"T15\x04",
        b"T20\x02xxOK",
        b"T20\x01xxOK",
        b"T21\x02xxOK",
        b"T21\x03xxOK",
        b"T22\x02xxxxOK",
        b"T22\x02xxOK",
        b"T23\x01xxxxOK",
        b"T23\x01xOK",
        b"T24\x06xxOK",
        b"T24\x04xxOK",
        b"T25\x01xyzOK",
        b"T25\x01xOK",
        b"T2603abcOK",
        b"T2602abcOK",
        b"T27\x02\x00xxOK",
        b"T27\x00\x02xxOK",
        // Short packets: every byte_test/byte_jump read past the end must fail, not panic.
        b"T01\x03",
        b"T20",
        b"T26",
        b"T09",
    ];
    for round in 0..2u16 {
        for p in pkts {
            g.udp(v4(HOME2), 33000 + round, v4(EXT2), 9004, p);
        }
    }
}

/// Scenario E: dsize with payload lengths 3, 10, 15 and 150, each twice.
fn scenario_e(g: &mut Gen) {
    let big = [b'e'; 150];
    let pkts: [&[u8]; 4] = [b"abc", b"0123456789", b"0123456789abcde", &big];
    for round in 0..2u16 {
        for p in pkts {
            g.udp(v4(HOME2), 34000 + round, v4(EXT2), 9005, p);
        }
    }
}

/// Scenario F: single TCP packets (no session) with chosen flags, TTLs and (one) payload,
/// each twice from distinct source ports; then two simultaneous opens.
fn scenario_f(g: &mut Gen) {
    let cases: [(u8, u8, &[u8]); 7] = [
        (F::SYN, 64, b""),
        (F::SYN | F::ECE | F::CWR, 64, b""),
        (F::FIN | F::PSH | F::URG, 3, b""),
        (F::RST, 15, b""),
        (F::SYN | F::ACK, 128, b""),
        (F::ACK | F::PSH, 64, b""),
        (F::FIN | F::PSH | F::ACK, 64, b"F-FIN-DATA"),
    ];
    let mut port = 45000u16;
    for _ in 0..2 {
        for (flags, ttl, payload) in cases {
            port += 1;
            let mut t = TcpSpec::new(port, 8006, flags);
            t.seq = 12345;
            t.ack = if flags & F::ACK != 0 { 777 } else { 0 };
            g.push(
                FrameSpec::ipv4(CLIENT_F, SERVER, L4Spec::Tcp(t))
                    .ttl(ttl)
                    .payload(payload),
            );
        }
    }
    // A simultaneous open, twice: the client's SYN from port 8099, then the server's own
    // SYN back to 8099 (to the client: a SYN during a session's handshake does not start
    // a new flow in Suricata).
    for server_port in [50001u16, 50002] {
        let mut t = TcpSpec::new(8099, server_port, F::SYN);
        t.seq = 4000;
        g.push(FrameSpec::ipv4(CLIENT_F, SERVER, L4Spec::Tcp(t)));
        let mut t = TcpSpec::new(server_port, 8099, F::SYN);
        t.seq = 9000;
        g.push(FrameSpec::ipv4(SERVER, CLIENT_F, L4Spec::Tcp(t)));
    }
}

/// Scenario G: flow direction over sessions with replies, plus data on the handshake ACK.
fn scenario_g(g: &mut Gen) {
    use Dir::*;
    // One request and one response per session: each direction's stream holds one payload.
    for _ in 0..2 {
        g.session(
            v4(CLIENT),
            (v4(SERVER), 8007),
            &[],
            &[(C, b"G-REQ one"), (S, b"G-RESP one")],
        );
        g.session(
            v4(CLIENT),
            (v4(SERVER), 8007),
            &[],
            &[(C, b"G-REQ two"), (S, b"G-RESP two")],
        );
    }
    // Twice: SYN, SYN-ACK, then the client's first data segment completes the handshake.
    for _ in 0..2 {
        let mut s = g.new_session(v4(CLIENT), (v4(SERVER), 8007), &[]);
        let frames = &mut g.frames;
        let mut emit = |f: &[u8]| frames.push(f.to_vec());
        s.segment(&mut g.buf, true, F::SYN, &[]);
        emit(&g.buf);
        s.segment(&mut g.buf, false, F::SYN | F::ACK, &[]);
        emit(&g.buf);
        s.data(&mut g.buf, true, b"G-EARLY data", &mut emit);
        s.teardown(&mut g.buf, &mut emit);
    }
}

/// Scenario O: TCP payload without any handshake (mid-stream pickup disabled by default).
fn scenario_o(g: &mut Gen) {
    for i in 0..3u32 {
        let mut t = TcpSpec::new(46000, 8008, F::PSH | F::ACK);
        t.seq = 5000 + i * 14;
        t.ack = 9000;
        g.push(FrameSpec::ipv4(CLIENT, SERVER, L4Spec::Tcp(t)).payload(b"ORPHAN payload"));
    }
}

/// Scenario H: UDP flow state: two pings before the reply, one after; two flows.
fn scenario_h(g: &mut Gen) {
    for sport in [5555u16, 5556] {
        g.udp(v4(CLIENT), sport, v4(EXT2), 9007, b"PING 1");
        g.udp(v4(CLIENT), sport, v4(EXT2), 9007, b"PING 2");
        g.udp(v4(EXT2), 9007, v4(CLIENT), sport, b"PONG");
        g.udp(v4(CLIENT), sport, v4(EXT2), 9007, b"PING 3");
    }
}

/// Scenario I: ICMP and ICMPv6 types and codes.
fn scenario_i(g: &mut Gen) {
    for seq in 1..=2u16 {
        let icmp = |t: u8, c: u8| L4Spec::Icmp {
            icmp_type: t,
            code: c,
            id: 0x77,
            seq,
        };
        g.push(FrameSpec::ipv4(CLIENT, DNS, icmp(8, 0)).payload(b"ICMP-PING abc"));
        g.push(FrameSpec::ipv4(DNS, CLIENT, icmp(0, 0)).payload(b"ICMP-PING abc"));
        // Echo request from outside to home: itype 8 but not $HOME_NET -> !$HOME_NET.
        g.push(FrameSpec::ipv4(EXT2, HOME3, icmp(8, 0)).payload(b"inbound ping"));
        g.push(FrameSpec::ipv4(SERVER, CLIENT, icmp(3, 3)).payload(b"unreachable"));
        g.push(FrameSpec::ipv4(SERVER, CLIENT, icmp(3, 1)).payload(b"host unreachable"));
        g.push(FrameSpec::ipv4(SERVER, CLIENT, icmp(11, 0)).payload(b"ttl exceeded"));
        let icmp6 = |t: u8| L4Spec::Icmpv6 {
            icmp_type: t,
            code: 0,
            id: 0x66,
            seq,
        };
        g.push(FrameSpec::ipv6(V6_CLIENT, V6_SERVER, icmp6(128)).payload(b"ping6"));
        g.push(FrameSpec::ipv6(V6_SERVER, V6_CLIENT, icmp6(129)).payload(b"ping6"));
    }
}

/// Scenario J: raw IP protocol 47, UDP by name, IPv6 UDP behind a hop-by-hop header.
fn scenario_j(g: &mut Gen) {
    for _ in 0..2 {
        g.push(
            FrameSpec::ipv4(HOME_J, EXT2, L4Spec::Raw { proto: 47 })
                .payload(b"\x00\x00\x08\x00GRE-PAYLOAD"),
        );
        g.udp(v4(HOME_J), 7000, v4(EXT2), 7001, b"J-UDP datagram");
        let mut t = TcpSpec::new(7002, 7003, F::SYN);
        t.seq = 1;
        g.push(FrameSpec::ipv4(HOME_J, EXT2, L4Spec::Tcp(t)));
        let spec = FrameSpec::ipv6(
            V6_CLIENT,
            V6_SERVER,
            L4Spec::Udp {
                src_port: 7004,
                dst_port: 7005,
            },
        )
        .ipv6_ext(Ipv6Ext::HopByHop)
        .payload(b"V6-EXT datagram");
        g.push(spec);
    }
}

/// Scenario K: address and port matching, variables, VLAN, QinQ, IPv6 sessions.
fn scenario_k(g: &mut Gen) {
    use Dir::*;
    let http: [(Dir, &[u8]); 2] = [
        (C, b"GET /K-HTTP HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    g.twice(v4(CLIENT), (v4(SERVER), 80), &http);
    let port: [(Dir, &[u8]); 1] = [(C, b"K-PORT probe")];
    for p in [8105u16, 8120, 8130, 8200] {
        g.session(v4(CLIENT), (v4(SERVER), p), &[], &port);
    }
    g.session(v4(HOME2), (v4(SERVER2), 8105), &[], &port);
    g.session(v4(HOME3), (v4(SERVER2), 8120), &[], &port);
    g.twice(v4(EXT2), (v4(HOME3), 8300), &[(C, b"K-INBOUND hello")]);
    for _ in 0..2 {
        g.session(
            IpAddr::V6(V6_CLIENT),
            (IpAddr::V6(V6_SERVER), 8050),
            &[],
            &[(C, b"K-V6 data"), (S, b"ok")],
        );
    }
    for _ in 0..2 {
        g.session(
            v4(CLIENT),
            (v4(SERVER), 8060),
            &[100],
            &[(C, b"K-VLAN data")],
        );
    }
    for sport in [9100u16, 9101] {
        let spec = FrameSpec::ipv4(
            HOME2,
            EXT2,
            L4Spec::Udp {
                src_port: sport,
                dst_port: 9060,
            },
        )
        .vlan(10)
        .vlan(20)
        .payload(b"K-QINQ datagram");
        g.push(spec);
    }
}

/// Scenario L: pass (over UDP, where every packet is inspected on its own), drop, noalert,
/// metadata keywords, tcp-pkt.
fn scenario_l(g: &mut Gen) {
    use Dir::*;
    g.udp(v4(CLIENT), 6000, v4(EXT2), 9040, b"L-DATA 1");
    g.udp(v4(CLIENT), 6000, v4(EXT2), 9040, b"ALLOWME");
    g.udp(v4(CLIENT), 6000, v4(EXT2), 9040, b"L-DATA 2");
    g.udp(v4(EXT2), 9040, v4(CLIENT), 6000, b"reply");
    g.udp(v4(CLIENT), 6000, v4(EXT2), 9040, b"L-DATA 3");
    g.udp(v4(CLIENT), 6001, v4(EXT2), 9040, b"L-DATA 4");
    g.udp(v4(CLIENT), 6001, v4(EXT2), 9040, b"L-DATA 5");
    // TCP pass: the client's ALLOWME passes the flow; the server's L-DATA in the other
    // direction then must not alert. Control sessions without ALLOWME alert.
    for _ in 0..2 {
        g.session(
            v4(CLIENT),
            (v4(SERVER), 8040),
            &[],
            &[(C, b"ALLOWME"), (S, b"L-DATA a")],
        );
        g.session(
            v4(CLIENT),
            (v4(SERVER), 8040),
            &[],
            &[(C, b"hello"), (S, b"L-DATA b")],
        );
    }
    let script: [(Dir, &[u8]); 4] = [
        (C, b"L-DROP me"),
        (C, b"L-META x"),
        (C, b"L-PKT y"),
        (C, b"nothing"),
    ];
    g.twice(v4(CLIENT), (v4(SERVER), 8041), &script);
}

/// Scenario Q: ICMPv4 errors and flows. A UDP flow and a TCP SYN between HOME_Q and
/// SERVER_Q, then destination unreachables quoting them: from the server (to the client
/// in that flow), from a router (also to the client), from the client about the server's
/// reply (to the server), quoting only 8 bytes of the TCP header (no flow), quoting it
/// whole (the TCP flow), quoting a flow never seen, and with an unknown code (no flow);
/// and time exceededs (no flow: Suricata ties only destination unreachables to flows).
/// Then ICMP flows of their own (echo, timestamp) and ICMPv6 errors and messages.
fn scenario_q(g: &mut Gen) {
    let (home, server, router) = (HOME_Q, SERVER_Q, ROUTER_Q);
    let udp = |src, sp, dst, dp, payload: &'static [u8]| {
        FrameSpec::ipv4(
            src,
            dst,
            L4Spec::Udp {
                src_port: sp,
                dst_port: dp,
            },
        )
        .payload(payload)
    };
    let request = udp(home, 5000, server, 9999, b"Q-REQUEST");
    let reply = udp(server, 9999, home, 5000, b"Q-REPLY");
    let unseen = udp(home, 7000, server, 9999, b"Q-UNSEEN");
    let syn = FrameSpec::ipv4(home, server, L4Spec::Tcp(TcpSpec::new(6000, 7777, F::SYN)));
    // The IPv4 packet of a frame (past its 14-byte Ethernet header), cut to `n` bytes.
    let quote = |spec: &FrameSpec<'_>, n: usize| {
        let mut f = Vec::new();
        spec.write(&mut f);
        f[14..14 + n].to_vec()
    };
    let (req_q, reply_q, unseen_q) = (quote(&request, 28), quote(&reply, 28), quote(&unseen, 28));
    let (syn8, syn20) = (quote(&syn, 28), quote(&syn, 40));
    g.push(request);
    g.push(reply);
    g.push(syn);
    let error = |t: u8, c: u8| L4Spec::Icmp {
        icmp_type: t,
        code: c,
        id: 0,
        seq: 0,
    };
    for _ in 0..2 {
        g.push(FrameSpec::ipv4(server, home, error(3, 3)).payload(&req_q));
        g.push(FrameSpec::ipv4(router, server, error(3, 3)).payload(&req_q));
        g.push(FrameSpec::ipv4(home, server, error(3, 3)).payload(&reply_q));
        g.push(FrameSpec::ipv4(server, home, error(3, 3)).payload(&syn8));
        g.push(FrameSpec::ipv4(server, home, error(3, 3)).payload(&syn20));
        g.push(FrameSpec::ipv4(server, home, error(3, 3)).payload(&unseen_q));
        g.push(FrameSpec::ipv4(server, home, error(3, 20)).payload(&req_q));
        g.push(FrameSpec::ipv4(router, home, error(11, 0)).payload(&req_q));
    }
    // ICMP flows of their own are keyed by type and the answering type: an echo and a
    // timestamp exchange are two flows; an echo with another code joins the echo flow.
    // ICMPv6 errors have flows (by type), whatever they quote; multicast listener query
    // and report answer each other.
    let (h4, s4) = (v4(home), v4(server));
    let (c6, s6) = (IpAddr::V6(Q6_CLIENT), IpAddr::V6(Q6_SERVER));
    for (src, dst, t, c) in [
        (h4, s4, 8, 0),
        (s4, h4, 0, 0),
        (h4, s4, 13, 0),
        (s4, h4, 14, 0),
        (h4, s4, 8, 3),
        (s6, c6, 1, 4),
        (s6, c6, 1, 4),
        (s6, c6, 2, 0),
        (c6, s6, 130, 0),
        (s6, c6, 131, 0),
    ] {
        let (icmp_type, code, id, seq) = (t, c, 0x51, 1);
        let l4 = if src.is_ipv4() {
            L4Spec::Icmp {
                icmp_type,
                code,
                id,
                seq,
            }
        } else {
            L4Spec::Icmpv6 {
                icmp_type,
                code,
                id,
                seq,
            }
        };
        g.push(FrameSpec::ip(src, dst, l4).payload(b"Q-ICMP"));
    }
}

/// Scenario R: flows of protocols without ports. ESP over IPv4 and IPv6: one flow per
/// direction and SPI (two SAs one way, one back), every packet to the server; an ESP
/// packet too short for its header has no flow. Protocol 99 has no flow at all.
fn scenario_r(g: &mut Gen) {
    let (h4, p4) = (IpAddr::V4(HOME_R), IpAddr::V4(PEER_R));
    let (h6, p6) = (IpAddr::V6(R6_HOME), IpAddr::V6(R6_PEER));
    const SA1: &[u8] = b"\x00\x00\x10\x01\x00\x00\x00\x01R-ESP-DATA";
    const SA1_NEXT: &[u8] = b"\x00\x00\x10\x01\x00\x00\x00\x02R-ESP-DATA";
    const SA2: &[u8] = b"\x00\x00\x20\x02\x00\x00\x00\x01R-ESP-DATA";
    const SA3: &[u8] = b"\x00\x00\x30\x03\x00\x00\x00\x01R-ESP-DATA";
    const SHORT: &[u8] = b"\x00\x00\x10\x01";
    let esp = L4Spec::Raw { proto: 50 };
    let other = L4Spec::Raw { proto: 99 };
    for (src, dst, l4, payload) in [
        (h4, p4, esp, SA1),
        (h4, p4, esp, SA1_NEXT),
        (p4, h4, esp, SA2),
        (p4, h4, esp, SA2),
        (h4, p4, esp, SA3),
        (h4, p4, esp, SHORT),
        (h6, p6, esp, SA1),
        (p6, h6, esp, SA2),
        (h6, p6, esp, SA1_NEXT),
        (h4, p4, other, b"R-OTHER".as_slice()),
        (p4, h4, other, b"R-OTHER"),
        (h4, p4, other, b"R-OTHER"),
        (h6, p6, other, b"R-OTHER"),
        (p6, h6, other, b"R-OTHER"),
    ] {
        g.push(FrameSpec::ip(src, dst, l4).payload(payload));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_pcap_is_deterministic_and_well_formed() {
        let mut a = Vec::new();
        let n = write_golden(&mut a).unwrap();
        let mut b = Vec::new();
        write_golden(&mut b).unwrap();
        assert_eq!(a, b);
        assert!(n > 300, "{n} frames");
        // Walk the records: timestamps start at 2024-01-01 and step by 1 ms.
        let mut off = 24;
        let mut i = 0u64;
        while off < a.len() {
            let secs = u32::from_le_bytes(a[off..off + 4].try_into().unwrap()) as u64;
            let ns = u32::from_le_bytes(a[off + 4..off + 8].try_into().unwrap()) as u64;
            assert_eq!(secs * 1_000_000_000 + ns, START_NS + i * STEP_NS);
            let len = u32::from_le_bytes(a[off + 8..off + 12].try_into().unwrap()) as usize;
            off += 16 + len;
            i += 1;
        }
        assert_eq!(off, a.len());
        assert_eq!(i as usize, n);
    }

    #[test]
    fn expected_files_agree_with_each_other_and_the_rules() {
        let counts = read_expected_counts().unwrap();
        let alerts = read_expected_alerts().unwrap();
        let total: u64 = counts.iter().map(|(_, c)| c).sum();
        assert_eq!(total as usize, alerts.len());
        for (sid, c) in &counts {
            let n = alerts.iter().filter(|a| a.sid == u64::from(*sid)).count() as u64;
            assert_eq!(n, *c, "sid {sid}");
        }
        let sids = crate::golden_check::rule_sids(std::path::Path::new(RULES_PATH)).unwrap();
        for (sid, _) in &counts {
            assert!(
                sids.contains(&u64::from(*sid)),
                "expected.json sid {sid} not in the rules"
            );
        }
        // The silent rules are exactly the documented non-matching cases
        // (each one's scenario comment says why it cannot fire); a rule that
        // stops or starts firing must be looked at, not averaged away.
        const SILENT: [u64; 19] = [
            4029, 6014, 6016, 6021, 6022, 7006, 7009, 7102, 10011, 11006, 12023, 13001, 13003,
            13005, 13009, 13011, 18003, 18004, 18009,
        ];
        let mut silent: Vec<u64> = sids
            .iter()
            .copied()
            .filter(|s| !counts.iter().any(|(c, _)| u64::from(*c) == *s))
            .collect();
        silent.sort_unstable();
        assert_eq!(
            silent, SILENT,
            "rules that raise no alert on the golden pcap"
        );
    }

    #[test]
    fn every_rule_has_a_scenario_comment_and_unique_sid() {
        let text = std::fs::read_to_string(RULES_PATH).unwrap();
        let mut prev = "";
        let mut sids = std::collections::BTreeSet::new();
        for line in text.lines() {
            if line.starts_with("alert") || line.starts_with("pass") || line.starts_with("drop") {
                assert!(
                    prev.starts_with("# "),
                    "rule without a scenario comment: {line}"
                );
                let sid = line
                    .split("sid:")
                    .nth(1)
                    .and_then(|s| s.split(';').next())
                    .unwrap();
                assert!(sids.insert(sid.to_string()), "duplicate sid {sid}");
            }
            prev = line;
        }
        assert!(sids.len() >= 60, "{} rules", sids.len());
    }
}
