//! The TLS golden scenarios: TLS over TCP as Suricata 7's app layer reads it. Which flows
//! are TLS (the client's first bytes, on any port), when the ClientHello is parsed (when
//! the server acknowledges it) and its `tls.sni` inspected (the client's next packet),
//! ClientHellos split across segments and records, no or several server names, raw
//! `content` rules on TLS flows (each completed record asks for raw inspection; content
//! inspection stops when the handshake ends), `alert tls` header rules, `dotprefix`,
//! `bsize`, `nocase`, a `pass` on a server name, IPv6. Rules are in
//! `xtask/golden/tls/tls.rules`; Suricata's alerts on this pcap are the reference
//! (`cargo xtask golden-tls`).

use crate::golden_stream::{write_file, write_frames, Gen, Op};
use anyhow::Result;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub const TLS_RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/tls/tls.rules");
pub const TLS_EXPECTED_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/tls/expected.json");

/// 2024-05-01T00:00:00Z.
const START_NS: u64 = 1_714_521_600_000_000_000;
const STEP_NS: u64 = 1_000_000;

/// A TLS record: content type, version 3.1 (as clients send their first), body.
pub fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 1];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

/// A TLS 1.2 ClientHello handshake message with the given server-name extensions
/// (each a list of `(name type, name)` entries) and an ALPN extension.
pub fn client_hello(sni_exts: &[&[(u8, &[u8])]]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend((0..32u8).map(|i| i.wrapping_mul(7)));
    b.push(0); // session id
    b.extend_from_slice(&[0, 6, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9c]);
    b.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    for list in sni_exts {
        let mut l = Vec::new();
        for (t, name) in *list {
            l.push(*t);
            l.extend_from_slice(&(name.len() as u16).to_be_bytes());
            l.extend_from_slice(name);
        }
        let mut body = (l.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&l);
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&(body.len() as u16).to_be_bytes());
        exts.extend_from_slice(&body);
    }
    // ALPN "h2", "http/1.1".
    let alpn = b"\x00\x0c\x02h2\x08http/1.1";
    exts.extend_from_slice(&[0, 16]);
    exts.extend_from_slice(&(alpn.len() as u16).to_be_bytes());
    exts.extend_from_slice(alpn);
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend_from_slice(&exts);
    handshake(1, &b)
}

/// One ClientHello record naming `sni` (host_name), or none.
pub(crate) fn hello_record(sni: Option<&[u8]>) -> Vec<u8> {
    match sni {
        Some(name) => record(22, &client_hello(&[&[(0, name)]])),
        None => record(22, &client_hello(&[])),
    }
}

/// The server's ServerHello handshake message (TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256).
pub(crate) fn server_hello() -> Vec<u8> {
    let mut sh = vec![3, 3];
    sh.extend((0..32u8).map(|i| i.wrapping_mul(13)));
    sh.push(0);
    sh.extend_from_slice(&[0xc0, 0x2f, 0]);
    handshake(2, &sh)
}

/// The server's first flight: ServerHello and ServerHelloDone in one record.
pub(crate) fn server_flight() -> Vec<u8> {
    let mut body = server_hello();
    body.extend_from_slice(&handshake(14, &[]));
    let mut r = record(22, &body);
    r[2] = 3;
    r
}

/// ClientKeyExchange, ChangeCipherSpec and the encrypted Finished.
pub(crate) fn client_finish() -> Vec<u8> {
    let mut v = record(22, &handshake(16, &[0x41; 66]));
    v.extend_from_slice(&record(20, &[1]));
    v.extend_from_slice(&record(22, &[0x5a; 40]));
    v
}

/// ChangeCipherSpec and the encrypted Finished of the server.
pub(crate) fn server_finish() -> Vec<u8> {
    let mut v = record(20, &[1]);
    v.extend_from_slice(&record(22, &[0x6b; 40]));
    v
}

/// Application data carrying `text` (as if it were not encrypted).
pub(crate) fn app_data(text: &[u8]) -> Vec<u8> {
    record(23, text)
}

/// A full TLS 1.2 session after the handshake: ClientHello `hello` (already split into
/// segments), then the rest of the handshake, one application exchange and a teardown.
fn session(g: &mut Gen, hello: &[Op<'_>]) {
    let sf = server_flight();
    session_with(
        g,
        hello,
        &[Op::Data(false, &sf)],
        &client_finish(),
        b"GET /secret-path HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nevil-marker\r\n\r\n",
    );
}

/// A TLS 1.2 session: handshake, the client's `hello` steps, the server's first flight
/// as the `server` steps, the client's flight `client` (its finish), the server's finish,
/// one application exchange (`req`, `resp` as application data), teardown.
pub(crate) fn session_with(
    g: &mut Gen,
    hello: &[Op<'_>],
    server: &[Op<'_>],
    client: &[u8],
    req: &[u8],
    resp: &[u8],
) {
    use Op::*;
    let sfin = server_finish();
    let (req, resp) = (app_data(req), app_data(resp));
    let mut ops = vec![Handshake];
    ops.extend_from_slice(hello);
    ops.extend_from_slice(server);
    ops.extend_from_slice(&[
        Data(true, client),
        Data(false, &sfin),
        Data(true, &req),
        Data(false, &resp),
        Ack(true),
        Teardown,
    ]);
    g.flow(&ops);
}

/// All TLS golden frames in order.
pub fn tls_frames() -> Vec<Vec<u8>> {
    use Op::*;
    let mut g = Gen::new();
    g.server = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 80));
    g.port = 443;
    // 1. A plain session naming www.example.com.
    let h = hello_record(Some(b"www.example.com"));
    session(&mut g, &[Data(true, &h)]);
    // 2. A name for the dotprefix, bsize and endswith rules.
    let h = hello_record(Some(b"cdn.evil-domain.net"));
    session(&mut g, &[Data(true, &h)]);
    // 3. Upper case, for nocase.
    let h = hello_record(Some(b"Login.BANK-Portal.com"));
    session(&mut g, &[Data(true, &h)]);
    // 4. No server name.
    let h = hello_record(None);
    session(&mut g, &[Data(true, &h)]);
    // 5. The ClientHello split across two segments, acknowledged together.
    let h = hello_record(Some(b"split.example.org"));
    let (a, b) = h.split_at(40);
    session(&mut g, &[Data(true, a), Data(true, b)]);
    // 6. The same, the server acknowledging each part.
    let h = hello_record(Some(b"acked.example.org"));
    let (a, b) = h.split_at(40);
    session(&mut g, &[Data(true, a), Ack(false), Data(true, b)]);
    // 7. The ClientHello message split across two records.
    let m = client_hello(&[&[(0, b"records.example.org")]]);
    let (a, b) = m.split_at(30);
    let mut two = record(22, a);
    two.extend_from_slice(&record(22, b));
    session(&mut g, &[Data(true, &two)]);
    // 8. Two server-name extensions (the first counts) and a list with two entries.
    let hm = client_hello(&[
        &[(0, b"first.example.net"), (0, b"second.example.net")],
        &[(0, b"third.example.net")],
    ]);
    let h = record(22, &hm);
    session(&mut g, &[Data(true, &h)]);
    // 9. A name type other than host_name.
    let hm = client_hello(&[&[(1, b"other.example.net")]]);
    let h = record(22, &hm);
    session(&mut g, &[Data(true, &h)]);
    // 10. A name for the pass rule (its other alerts are passed).
    let h = hello_record(Some(b"allowed.pass-me.org"));
    session(&mut g, &[Data(true, &h)]);
    // 11. Not TLS on port 443 (nor anything another Suricata parser tells, whose own
    // raw-inspection triggers tidewatch does not follow).
    g.flow(&[
        Handshake,
        Data(true, b"XYZZY plain text, not TLS\r\n"),
        Data(false, b"XYZZY ok\r\n"),
        Ack(true),
        Teardown,
    ]);
    // 12. The client sends its ClientHello and closes without a reply.
    let h = hello_record(Some(b"lonely.example.com"));
    g.flow(&[Handshake, Data(true, &h), Ack(false), Teardown]);
    // 13. The ClientHello's segments out of order: the stream puts them back in order.
    let h = hello_record(Some(b"reordered.example.org"));
    let (a, b) = h.split_at(50);
    session(
        &mut g,
        &[At(true, 50, b), Data(true, a), Lost(true, b.len() as u32)],
    );
    // (A gap in a TLS flow is left out: Suricata's app layer fails on it, and what it
    // then inspects and when is not modelled; see the TCP app layer's module doc.)
    // 14. TLS on another port.
    g.port = 8443;
    let h = hello_record(Some(b"www.example.com"));
    session(&mut g, &[Data(true, &h)]);
    // 15. IPv6.
    g.server = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x443));
    g.port = 443;
    let h = hello_record(Some(b"v6.example.com"));
    session(&mut g, &[Data(true, &h)]);
    g.frames
}

/// Writes the TLS golden pcap into any sink; returns the number of frames.
pub fn write_tls<W: Write>(sink: W) -> Result<usize> {
    write_frames(sink, &tls_frames(), START_NS, STEP_NS)
}

/// Writes the TLS golden pcap to `path`.
pub fn write_tls_pcap(path: impl AsRef<Path>) -> Result<()> {
    write_file(path.as_ref(), write_tls)
}
