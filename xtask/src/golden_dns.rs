//! The DNS golden scenarios: DNS over UDP as Suricata 7's app layer reads it. Which flows
//! are DNS (server port 53, the probe on each direction's first payload, a reply or junk
//! first), what `dns.query` sees (names joined by dots, compression pointers, several
//! questions, an empty name ending the list, names cut at 1,025 bytes, raw label bytes),
//! `dotprefix`, `bsize`, `nocase`, `pcre`, `endswith`, flow keywords on UDP, `alert dns`
//! payload rules, a `pass` on a request, IPv4, IPv6, VLAN and IPv4 fragments. Rules are in
//! `xtask/golden/dns/dns.rules`; Suricata's alerts on this pcap are the reference
//! (`cargo xtask golden-dns`).

use anyhow::{Context, Result};
use capture::craft::{FrameSpec, L4Spec};
use capture::craft_frag::{even, fragment, fragmentable_len};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub const DNS_RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/dns/dns.rules");
pub const DNS_EXPECTED_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/dns/expected.json");

/// 2024-04-01T00:00:00Z.
const START_NS: u64 = 1_711_929_600_000_000_000;
const STEP_NS: u64 = 1_000_000;

/// One question: a name as labels (raw bytes), type A, class IN.
pub fn question(labels: &[&[u8]]) -> Vec<u8> {
    let mut q = Vec::new();
    for l in labels {
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// A DNS message: id, flags, `qd` questions (already encoded, `body`), `an` answers
/// counted in the header (their bytes are in `body` too).
pub fn message(id: u16, flags: u16, qd: u16, an: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&qd.to_be_bytes());
    m.extend_from_slice(&an.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(body);
    m
}

/// A standard query for one name given as dotted text.
fn query(id: u16, name: &str) -> Vec<u8> {
    let labels: Vec<&[u8]> = name.split('.').map(str::as_bytes).collect();
    message(id, 0x0100, 1, 0, &question(&labels))
}

/// A reply to [`query`]: the question again and one A record by pointer.
fn reply(id: u16, name: &str, extra: &[u8]) -> Vec<u8> {
    let labels: Vec<&[u8]> = name.split('.').map(str::as_bytes).collect();
    reply_to(id, &labels, extra)
}

/// A reply to a query for `labels`: the question again, one A record by pointer, then
/// `extra` bytes.
pub fn reply_to(id: u16, labels: &[&[u8]], extra: &[u8]) -> Vec<u8> {
    let mut body = question(labels);
    body.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    body.extend_from_slice(extra);
    message(id, 0x8180, 1, 1, &body)
}

struct Gen {
    frames: Vec<(u64, Vec<u8>)>,
    now: u64,
    next_port: u16,
}

impl Gen {
    fn udp(
        &mut self,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        vlan: Option<u16>,
        payload: &[u8],
    ) {
        let mut spec = FrameSpec::ip(src, dst, L4Spec::udp(sport, dport)).payload(payload);
        if let Some(v) = vlan {
            spec = spec.vlan(v);
        }
        let mut out = Vec::new();
        spec.write(&mut out);
        self.now += STEP_NS;
        self.frames.push((self.now, out));
    }

    /// A flow from `client` (a fresh port) to `server:port`: `Ok` to the server, `Err`
    /// back to the client.
    fn flow(&mut self, client: IpAddr, server: IpAddr, port: u16, msgs: &[Result<&[u8], &[u8]>]) {
        self.flow_vlan(client, server, port, None, msgs);
    }

    fn flow_vlan(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        port: u16,
        vlan: Option<u16>,
        msgs: &[Result<&[u8], &[u8]>],
    ) {
        self.next_port += 1;
        let cport = self.next_port;
        for m in msgs {
            match m {
                Ok(b) => self.udp(client, cport, server, port, vlan, b),
                Err(b) => self.udp(server, port, client, cport, vlan, b),
            }
        }
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// Every frame with its timestamp, in order.
pub fn dns_frames() -> Vec<(u64, Vec<u8>)> {
    let mut g = Gen {
        frames: Vec::new(),
        now: START_NS,
        next_port: 41000,
    };
    let (c, ns) = (v4(10, 0, 0, 5), v4(192, 0, 2, 53));
    let ext = v4(198, 51, 100, 7);
    let q = |name: &str| query(0x1000, name);
    let r = |name: &str| reply(0x1000, name, &[]);

    // A: a plain query and its reply (1, 2, 20 on the reply's TXT-free bytes: none).
    g.flow(
        c,
        ns,
        53,
        &[Ok(&q("www.example.com")), Err(&r("www.example.com"))],
    );
    // B: case differs: the nocase rule (3) alerts, the exact one (4) does not.
    g.flow(c, ns, 53, &[Ok(&q("EvIl.TeSt"))]);
    // C: dotprefix endswith (5): a subdomain and the domain itself, not a longer label.
    g.flow(c, ns, 53, &[Ok(&q("sub.badguy.example"))]);
    g.flow(c, ns, 53, &[Ok(&q("badguy.example"))]);
    g.flow(c, ns, 53, &[Ok(&q("notbadguy.example"))]);
    // D: two questions, the second matching (6).
    let mut body = question(&[b"a", b"example"]);
    body.extend_from_slice(&question(&[b"target", b"example"]));
    g.flow(c, ns, 53, &[Ok(&message(1, 0x0100, 2, 0, &body))]);
    // E: an empty (root) name first: the list ends there, no 6.
    let mut body = question(&[]);
    body.extend_from_slice(&question(&[b"target", b"example"]));
    g.flow(c, ns, 53, &[Ok(&message(2, 0x0100, 2, 0, &body))]);
    // F: the second question by compression pointer: "ptr." + "target.example" (7).
    let mut body = question(&[b"target", b"example"]);
    body.extend_from_slice(&[3, b'p', b't', b'r', 0xc0, 0x0c, 0, 1, 0, 1]);
    g.flow(c, ns, 53, &[Ok(&message(3, 0x0100, 2, 0, &body))]);
    // G: a reply first turns the flow round; the server's later "request" is then a
    // request to the server (8 on it, with flow:to_server).
    g.flow(
        c,
        ns,
        53,
        &[
            Ok(&reply(4, "turned.example", &[])),
            Err(&query(5, "turned.example")),
        ],
    );
    // H: junk first, then a reply, then a request: the flow is DNS (8).
    g.flow(
        c,
        ns,
        53,
        &[
            Ok(b"this is not dns at all"),
            Err(&r("late.turned.example")),
            Ok(&q("late.turned.example")),
        ],
    );
    // I: port 5353 is not DNS: no dns rule, the udp content rule (9) alerts.
    g.flow(c, ns, 5353, &[Ok(&q("mdns.turned.example"))]);
    // J: a query cut in its type: no transaction (no 10), but the flow is DNS and the
    // `alert dns` payload rule (11) sees it.
    let mut cut = q("cutshort.example");
    cut.truncate(cut.len() - 3);
    g.flow(c, ns, 53, &[Ok(&cut)]);
    // K: bsize (12: exactly 11 bytes; 13: dotprefix makes it 12).
    g.flow(c, ns, 53, &[Ok(&q("abcdefg.com"))]);
    g.flow(c, ns, 53, &[Ok(&q("abcdefgh.com"))]);
    // L: a name past 1,025 bytes is cut: content at its end does not match (14), at its
    // start does (15).
    let long: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            if i == 19 {
                b"tailmark".to_vec()
            } else if i == 0 {
                b"headmark".to_vec()
            } else {
                vec![b'x'; 63]
            }
        })
        .collect();
    let labels: Vec<&[u8]> = long.iter().map(Vec::as_slice).collect();
    g.flow(
        c,
        ns,
        53,
        &[Ok(&message(6, 0x0100, 1, 0, &question(&labels)))],
    );
    // M: IPv6 and VLAN (1).
    let c6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5));
    let ns6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53));
    g.flow(
        c6,
        ns6,
        53,
        &[Ok(&q("www.example.com")), Err(&r("www.example.com"))],
    );
    g.flow_vlan(c, ns, 53, Some(77), &[Ok(&q("www.example.com"))]);
    // N: two requests in one flow: both alert (1); flow:established (16) only after
    // the reply.
    g.flow(
        c,
        ns,
        53,
        &[
            Ok(&q("www.example.com")),
            Err(&r("www.example.com")),
            Ok(&query(7, "www.example.com")),
        ],
    );
    // O: an `alert dns` payload rule on a reply's TXT bytes (17), and the same bytes in
    // a flow that is not DNS (no 17; 18, an `alert udp`, alerts on both).
    let txt = b"\x00\x00\x10\x00\x01TXTMARK";
    g.flow(
        c,
        ns,
        53,
        &[Ok(&q("txt.example")), Err(&reply(8, "txt.example", txt))],
    );
    g.flow(
        c,
        ns,
        53,
        &[Ok(b"TXTMARK junk first"), Err(b"TXTMARK junk back")],
    );
    // P: a pass on a request keeps its other alerts (19, 1-like) from raising.
    g.flow(c, ns, 53, &[Ok(&q("allowed.example"))]);
    // Q: pcre on the name (21), raw label bytes (22: a dot inside a label).
    g.flow(c, ns, 53, &[Ok(&q("abcdefghij.example"))]);
    g.flow(
        c,
        ns,
        53,
        &[Ok(&message(
            9,
            0x0100,
            1,
            0,
            &question(&[b"we.ird", b"example"]),
        ))],
    );
    // R: addresses: an external client is not $HOME_NET (no 23; 1 alerts).
    g.flow(ext, ns, 53, &[Ok(&q("www.example.com"))]);
    // S: the same request from port 53 to port 53.
    g.udp(c, 53, ns, 53, None, &q("www.example.com"));
    // U: drops and passes of `alert dns` rules with no keyword to inspect but a
    // direction cover the flow (34 drops it at its first query: 35 alerts once; 36
    // passes it: no 37); with `flow:established` only the packet (38 on the later
    // queries, 39 on every one).
    let q2 = |name: &str| query(0x2000, name);
    for (client, name, queries) in [
        (v4(10, 0, 0, 77), "dropme.example", 2),
        (v4(10, 0, 0, 78), "passme.example", 2),
        (v4(10, 0, 0, 79), "keepme.example", 3),
    ] {
        let (q, a) = (q2(name), r(name));
        let mut msgs: Vec<Result<&[u8], &[u8]>> = vec![Ok(&q), Err(&a)];
        msgs.extend((1..queries).map(|_| Ok(q.as_slice())));
        g.flow(client, ns, 53, &msgs);
    }
    // T: a request in three IPv4 fragments: reassembled, then parsed (1, 2).
    let mut whole = Vec::new();
    FrameSpec::ip(c, ns, L4Spec::udp(41999, 53))
        .payload(&q("www.example.com"))
        .write(&mut whole);
    let len = fragmentable_len(LinkType::Ethernet, &whole).expect("crafted frame");
    for f in fragment(LinkType::Ethernet, &whole, 0x4242, &even(len, 16)).expect("crafted frame") {
        g.now += STEP_NS;
        g.frames.push((g.now, f));
    }
    g.frames
}

/// Writes the DNS golden pcap into any sink; returns the number of frames.
pub fn write_dns<W: Write>(sink: W) -> Result<usize> {
    let frames = dns_frames();
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    for (ts, f) in &frames {
        w.write_frame(*ts, f)?;
    }
    w.into_inner()?;
    Ok(frames.len())
}

pub fn write_dns_pcap(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write_dns(BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
