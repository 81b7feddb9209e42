//! The HTTP golden scenarios: HTTP/1.x requests over TCP as Suricata 7's app layer reads
//! them. Which flows are HTTP (a method at the start of the client's stream, on any
//! port), when a request is parsed (when the server acknowledges it) and inspected (the
//! client's next packet), requests split across segments, keep-alive and pipelined
//! requests, bodies (length-delimited and chunked) that are not parsed as requests, URI
//! normalization, Host and header parsing (case, ports, repeats, folding, LF-only lines,
//! lines without a colon), flows that are not HTTP, HTTP/1.0 without headers, a request
//! cut short by the end of the flow, raw `content` rules on HTTP flows (a completed
//! request asks for raw inspection), a `pass` on a URI, IPv6, request bodies (the body
//! limit, extra body lines, keep-alive, chunks across segments), raw content rules of
//! protocol `http` in both directions, response bodies as `file.data` reads them (by
//! length, chunked, past the body limit, until close, bodiless, compressed). Rules are in
//! `xtask/golden/http/http.rules`; Suricata's alerts on this pcap are the reference
//! (`cargo xtask golden-http`).

use crate::golden_stream::{write_file, write_frames, Gen, Op};
use anyhow::Result;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub const HTTP_RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/http/http.rules");
pub const HTTP_EXPECTED_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/http/expected.json");

/// 2024-06-01T00:00:00Z.
const START_NS: u64 = 1_717_200_000_000_000_000;
const STEP_NS: u64 = 1_000_000;

/// Outside `$HOME_NET`, so `$HOME_NET any -> $EXTERNAL_NET any` rules apply.
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 80);

/// One step of an HTTP session.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// Client data, then the server's ACK of it (which makes Suricata parse it).
    C(&'a [u8]),
    /// An HTTP response (`200 OK` with this body), then the client's ACK.
    R(&'a [u8]),
    /// Raw server data (not HTTP), then the client's ACK.
    S(&'a [u8]),
}

/// `HTTP/1.1 200 OK` with a Content-Length and `body`.
fn response(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

/// A session: handshake, the steps, FIN teardown.
fn session(g: &mut Gen, steps: &[Step<'_>]) {
    use Op::*;
    let resps: Vec<Vec<u8>> = steps
        .iter()
        .map(|s| match s {
            Step::R(body) => response(body),
            _ => Vec::new(),
        })
        .collect();
    let mut ops = vec![Handshake];
    for (s, r) in steps.iter().zip(&resps) {
        match *s {
            Step::C(d) => ops.extend_from_slice(&[Data(true, d), Ack(false)]),
            Step::R(_) => ops.extend_from_slice(&[Data(false, r), Ack(true)]),
            Step::S(d) => ops.extend_from_slice(&[Data(false, d), Ack(true)]),
        }
    }
    ops.push(Teardown);
    g.flow(&ops);
}

/// One request answered by one response.
fn simple(g: &mut Gen, req: &[u8]) {
    session(g, &[Step::C(req), Step::R(b"ok")]);
}

/// The request of scenario a (and l, and the IPv6 session).
const REQ_A: &[u8] = b"GET /index.html?id=42 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (TideTest)\r\n\
Accept: text/html\r\n\
Cookie: session=abc123; theme=dark\r\n\
Connection: keep-alive\r\n\r\n";

/// The 40-byte body of the POST of scenario e, which looks like a request.
const BODY_E: &[u8] = b"GET /inbody HTTP/1.1\r\nx=1&y=222222222222";

/// All HTTP golden frames in order.
pub fn http_frames() -> Vec<Vec<u8>> {
    use Step::*;
    assert_eq!(BODY_E.len(), 40);
    let mut g = Gen::new();
    g.server = IpAddr::V4(SERVER);
    g.port = 80;
    // 1. (a) A simple GET, all headers in one segment.
    simple(&mut g, REQ_A);
    // 2. (b) The request line alone in the first segment, ending at its `\n`: the
    //    transaction is not inspected until a header byte arrives; the headers in two
    //    more segments, each acknowledged.
    session(
        &mut g,
        &[
            C(b"GET /split/line HTTP/1.1\r\n"),
            C(b"Host: split.example.com\r\nUser-Agent: SplitAgent/1.0\r\n"),
            C(b"Accept: */*\r\n\r\n"),
            R(b"split"),
        ],
    );
    // 3. (b) The first segment ends one byte into the first header.
    session(
        &mut g,
        &[
            C(b"GET /split/byte HTTP/1.1\r\nH"),
            C(b"ost: byte.example.com\r\n\
User-Agent: ByteAgent\r\n\
Accept-Language: en-US\r\n\
Accept-Encoding: gzip, deflate\r\n\
Referer: http://ref.example.net/start\r\n\r\n"),
            R(b"byte"),
        ],
    );
    // 4. (c) Keep-alive: two requests on one connection, each answered.
    session(
        &mut g,
        &[
            C(b"GET /ka/one HTTP/1.1\r\nHost: ka.example.com\r\n\r\n"),
            R(b"one"),
            C(b"GET /ka/two HTTP/1.1\r\nHost: ka.example.com\r\nUser-Agent: KeepAlive\r\n\r\n"),
            R(b"two"),
        ],
    );
    // 5. (d) Pipelining: three requests in one segment, then three responses.
    session(
        &mut g,
        &[
            C(b"GET /pipe/1 HTTP/1.1\r\nHost: pipe.example.com\r\n\r\n\
GET /pipe/2 HTTP/1.1\r\nHost: pipe.example.com\r\n\r\n\
GET /pipe/3 HTTP/1.1\r\nHost: pipe.example.com\r\n\r\n"),
            R(b"p1"),
            R(b"p2"),
            R(b"p3"),
        ],
    );
    // 6. (e) A POST with a Content-Length body that looks like a request (not parsed as
    //    one), and a request right after the body in the same segment. Port 8080.
    g.port = 8080;
    let mut post = b"POST /form/submit HTTP/1.1\r\n\
Host: form.example.com\r\n\
Content-Type: application/x-www-form-urlencoded\r\n\
Content-Length: 40\r\n\r\n"
        .to_vec();
    post.extend_from_slice(BODY_E);
    post.extend_from_slice(b"GET /after-body HTTP/1.1\r\nHost: form.example.com\r\n\r\n");
    session(&mut g, &[C(&post), R(b"posted"), R(b"after")]);
    // 7. (e) A POST whose body spans two acknowledged segments.
    session(
        &mut g,
        &[
            C(b"POST /upload/spanned HTTP/1.1\r\n\
Host: span.example.com\r\n\
Content-Type: text/plain\r\n\
Content-Length: 32\r\n\r\n\
first half of the "),
            C(b"body, 32 bytes"),
            R(b"spanned"),
        ],
    );
    // 8. (f) A chunked POST with a trailer, all in one segment.
    session(
        &mut g,
        &[
            C(b"POST /upload/chunked HTTP/1.1\r\n\
Host: chunk.example.com\r\n\
Transfer-Encoding: chunked\r\n\
Content-Type: application/octet-stream\r\n\r\n\
5\r\nhello\r\n6\r\n world\r\n0\r\n\
X-Trailer: tail-value\r\n\r\n"),
            R(b"chunked"),
        ],
    );
    g.port = 80;
    // 9. (g) Percent-encoding in path and query, `%2f` (kept encoded in the path,
    //    decoded in the query), `+` (kept).
    simple(
        &mut g,
        b"GET /norm/%7Euser/a%20b/%2fenc/%2Fup/plus+path?q=a%20b+c&r=%2f%41 HTTP/1.1\r\n\
Host: norm.example.com\r\n\r\n",
    );
    // 10. (g) Dot segments.
    simple(
        &mut g,
        b"GET /a/./b/../c/d.js HTTP/1.1\r\nHost: dots.example.com\r\n\r\n",
    );
    // 11. (g) Absolute form: host and port from the URI, not the Host header.
    simple(
        &mut g,
        b"GET http://Host.Example:81/p/../q%41?a=%42 HTTP/1.1\r\nHost: ignored.example.org\r\n\r\n",
    );
    // 12. (h) An upper-case Host without a port (http.host lower-cases it).
    simple(
        &mut g,
        b"GET /host/upper HTTP/1.1\r\nHost: UPPER.Example.COM\r\n\r\n",
    );
    // 13. (h) A Host with a port (http.host drops the port and keeps the case). Port
    //     8080.
    g.port = 8080;
    simple(
        &mut g,
        b"GET /host/port HTTP/1.1\r\nHost: Port.Example.com:8080\r\n\r\n",
    );
    g.port = 80;
    // 14. (h) Repeated headers, joined with ", ".
    simple(
        &mut g,
        b"GET /repeat HTTP/1.1\r\n\
Host: multi-a.example.com\r\n\
User-Agent: UA-One\r\n\
Cookie: a=1\r\n\
Host: multi-b.example.com\r\n\
User-Agent: UA-Two\r\n\
Cookie: b=2\r\n\r\n",
    );
    // 15. (h) A folded header: continuation lines kept with their leading whitespace.
    simple(
        &mut g,
        b"GET /folded HTTP/1.1\r\n\
Host: fold.example.com\r\n\
User-Agent: Folded/1.0\r\n  continued\r\n\tmore\r\n\
Accept: */*\r\n\r\n",
    );
    // 16. (h) LF-only line endings.
    simple(
        &mut g,
        b"GET /lf/only HTTP/1.1\nHost: lf.example.com\nUser-Agent: LfAgent\n\n",
    );
    // 17. (h) A header line without a colon (a header with an empty name).
    simple(
        &mut g,
        b"GET /nocolon HTTP/1.1\r\n\
Host: nc.example.com\r\n\
ThisLineHasNoColon\r\n\
Accept: */*\r\n\r\n",
    );
    // 18. (i) A lower-case method: still detected as HTTP.
    simple(
        &mut g,
        b"get /lower HTTP/1.1\r\nHost: lower.example.com\r\n\r\n",
    );
    // 19. (i) Not HTTP: `FOO` is no method and the server answers junk, so the flow is
    //     not HTTP and http rules do not fire (raw rules do, on the stream's own terms).
    session(
        &mut g,
        &[
            C(b"FOO /foo-x HTTP/1.1\r\nHost: foo.example.com\r\n\r\n"),
            S(b"XYZZY not http\r\n"),
        ],
    );
    // 20. (i) Not HTTP: a request-like payload not at the start of the stream.
    session(
        &mut g,
        &[
            C(b"junk-prefix GET /notfirst HTTP/1.1\r\nHost: nf.example.com\r\n\r\n"),
            S(b"XYZZY still not http\r\n"),
        ],
    );
    // 21. (j) HTTP/1.0 without headers: http.header is absent.
    simple(&mut g, b"GET /http10 HTTP/1.0\r\n\r\n");
    // 22. (k) The client sends a partial header block and closes; no response.
    session(
        &mut g,
        &[C(
            b"GET /partial HTTP/1.1\r\nHost: partial.example.com\r\nUser-Agent: Partial",
        )],
    );
    // 23. (l) The request of session 1 on port 8181: detection is port-independent.
    g.port = 8181;
    simple(&mut g, REQ_A);
    g.port = 80;
    // 24. A request the `pass` rule matches, then another one on the same connection.
    session(
        &mut g,
        &[
            C(b"GET /pass-me/index.html HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (TideTest)\r\n\r\n"),
            R(b"passed"),
            C(b"GET /after-pass HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
            R(b"after"),
        ],
    );
    // 25. IPv6 (the client is outside $HOME_NET, whose ranges are IPv4): the request of
    //     session 1 with its own Host; only the rule without address variables fires.
    g.server = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x80));
    simple(
        &mut g,
        b"GET /index.html?id=42 HTTP/1.1\r\n\
Host: v6.example.com\r\n\
User-Agent: Mozilla/5.0 (TideTest)\r\n\
Accept: text/html\r\n\
Cookie: session=abc123; theme=dark\r\n\
Connection: keep-alive\r\n\r\n",
    );
    // 26. (m) A POST whose 6,000-byte body passes libhtp's request body limit (4,096
    //     bytes kept) in three segments: the body is inspected when the limit is reached,
    //     before the request completes; a mark past the limit, or cut by it, is not seen.
    g.server = IpAddr::V4(SERVER);
    let big = big_body();
    let mut head = format!(
        "POST /upload/big HTTP/1.1\r\nHost: big.example.com\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    head.extend_from_slice(&big[..2000]);
    session(
        &mut g,
        &[C(&head), C(&big[2000..4200]), C(&big[4200..]), R(b"big")],
    );
    // 27. (m) A line after a Content-Length body that starts with no method: libhtp
    //     takes it as more body, line end included; the request after it is parsed.
    session(
        &mut g,
        &[
            C(b"POST /extra/line HTTP/1.1\r\nHost: extra.example.com\r\nContent-Length: 5\r\n\r\n\
abcdeJUNKLINE here\r\n\
GET /extra/next HTTP/1.1\r\nHost: extra.example.com\r\n\r\n"),
            R(b"extra"),
            R(b"next"),
        ],
    );
    // 28. (m) Keep-alive: two POSTs, each with its own body; then a GET without one.
    session(
        &mut g,
        &[
            C(b"POST /ka/body1 HTTP/1.1\r\nHost: kab.example.com\r\nContent-Length: 11\r\n\r\nfirst=apple"),
            R(b"one"),
            C(b"POST /ka/body2 HTTP/1.1\r\nHost: kab.example.com\r\nContent-Length: 12\r\n\r\nsecond=pear!"),
            R(b"two"),
            C(b"GET /ka/nobody HTTP/1.1\r\nHost: kab.example.com\r\n\r\n"),
            R(b"three"),
        ],
    );
    // 29. (m) A chunked body whose chunks arrive in separate segments, the last chunk
    //     and the end in a third: inspected once, when the request moves past its body.
    session(
        &mut g,
        &[
            C(b"PUT /put/chunks HTTP/1.1\r\nHost: put.example.com\r\nTransfer-Encoding: chunked\r\n\r\n\
7\r\ncmd=run\r\n"),
            C(b"9\r\n&arg=calc\r\n"),
            C(b"0\r\n\r\n"),
            R(b"put"),
        ],
    );
    // 30. (n) Raw content on an HTTP flow's responses: a page with an ActiveX object,
    //     then a second request on the connection and its answer.
    session(
        &mut g,
        &[
            C(b"GET /activex/page.html HTTP/1.1\r\nHost: ax.example.com\r\n\r\n"),
            R(b"<html><object classid=\"clsid:TIDE-0001\"></object>\
<script>var o = new ActiveXObject(\"Tide.Format\"); o.GetItem1(\"%n%n\");</script></html>"),
            C(b"GET /activex/second.html HTTP/1.1\r\nHost: ax.example.com\r\n\r\n"),
            R(b"second page, no object"),
        ],
    );
    // 31. (o) file.data: a response body in two segments, the mark across them; then a
    //     chunked body whose mark spans two chunks (file data is de-chunked), with a
    //     trailer in a later segment.
    session(
        &mut g,
        &[
            C(b"GET /file/plain.txt HTTP/1.1\r\nHost: file.example.com\r\n\r\n"),
            S(b"HTTP/1.1 200 OK\r\nContent-Length: 31\r\n\r\nplain text FILEM"),
            S(b"ARK-plain here."),
            C(b"GET /file/chunked.js HTTP/1.1\r\nHost: file.example.com\r\n\r\n"),
            S(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nvar FILEM\r\n"),
            S(b"C\r\nARK-chunked\r\n0\r\n"),
            S(b"X-Trailer: done\r\n\r\n"),
        ],
    );
    // 32. (o) file.data past the response body limit: 6,000 bytes in three segments;
    //     4,096 are kept and inspected when a byte past the limit closes the file.
    let resp = big_response();
    session(
        &mut g,
        &[
            C(b"GET /file/big.bin HTTP/1.1\r\nHost: big.example.com\r\n\r\n"),
            S(&resp[..2500]),
            S(&resp[2500..4400]),
            S(&resp[4400..]),
        ],
    );
    // 33. (o) Responses without a body (a HEAD's, a 304), a keep-alive pair whose second
    //     body is the one marked, and a body `startswith` and `pcre` look at.
    session(
        &mut g,
        &[
            C(b"HEAD /file/head HTTP/1.1\r\nHost: nb.example.com\r\n\r\n"),
            S(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"),
            C(b"GET /file/cached HTTP/1.1\r\nHost: nb.example.com\r\n\r\n"),
            S(b"HTTP/1.1 304 Not Modified\r\n\r\n"),
            C(b"GET /file/first HTTP/1.1\r\nHost: nb.example.com\r\n\r\n"),
            R(b"<html>first body, nothing here</html>"),
            C(b"GET /file/second HTTP/1.1\r\nHost: nb.example.com\r\n\r\n"),
            R(b"<html>second-body id=31337 TIDEFILE</html>"),
        ],
    );
    // 34. (o) An HTTP/1.0 body that runs until the server closes.
    session(
        &mut g,
        &[
            C(b"GET /file/close HTTP/1.0\r\nHost: close.example.com\r\n\r\n"),
            S(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close: UNTILCLOSE-mark"),
        ],
    );
    // 35. (p) Compressed bodies, decompressed as libhtp does before file.data sees
    //     them: gzip in one segment, gzip across two, zlib-wrapped and raw deflate, a
    //     chunked x-gzip body of 20,000 bytes (past the body limit once inflated), an
    //     unknown coding and a "gzip" body that is not compressed (both pass through).
    let page =
        |mark: &str| format!("<html><body>compressed page {mark} end</body></html>").into_bytes();
    let gz = gzip(&page("GZIPMARK-one"));
    let gz2 = gzip(&page("GZIPMARK-two"));
    let (a, b) = gz2.split_at(gz2.len() / 2);
    let mut big = vec![b'x'; 20_000];
    big[100..107].copy_from_slice(b"GZEARLY");
    big[6000..6006].copy_from_slice(b"GZLATE");
    let big = gzip(&big);
    let mut chunked = Vec::new();
    for c in big.chunks(700) {
        chunked.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        chunked.extend_from_slice(c);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let coded = |coding: &str, body: &[u8]| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let gz_head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz2.len()
    );
    let mut first = gz_head.into_bytes();
    first.extend_from_slice(a);
    let responses = [
        coded("gzip", &gz),
        coded("deflate", &zlib(&page("ZLIBMARK-deflate"))),
        coded("deflate", &raw_deflate(&page("RAWMARK-deflate"))),
        coded("br", &page("BRMARK-plain")),
        coded("gzip", &page("NOTGZIPMARK-plain")),
    ];
    let mut steps = vec![
        C(b"GET /gz/split HTTP/1.1\r\nHost: gz.example.com\r\n\r\n"),
        S(&first),
        S(b),
    ];
    let big_head =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut big_resp = big_head.to_vec();
    big_resp.extend_from_slice(&chunked);
    steps.push(C(b"GET /gz/big HTTP/1.1\r\nHost: gz.example.com\r\n\r\n"));
    for part in big_resp.chunks(900) {
        steps.push(S(part));
    }
    for r in &responses {
        steps.push(C(b"GET /gz/page HTTP/1.1\r\nHost: gz.example.com\r\n\r\n"));
        steps.push(S(r));
    }
    session(&mut g, &steps);
    g.frames
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("writing to memory");
    e.finish().expect("writing to memory")
}

fn zlib(b: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("writing to memory");
    e.finish().expect("writing to memory")
}

fn raw_deflate(b: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// The response of session 32: a 6,000-byte body with `EARLYRESP` at 100, `EDGERESP`
/// across the body limit (4,090..4,098) and `LATERESP` at 5,000.
fn big_response() -> Vec<u8> {
    let mut b: Vec<u8> = (0..6000u32).map(|i| b'A' + (i % 26) as u8).collect();
    b[100..109].copy_from_slice(b"EARLYRESP");
    b[4090..4098].copy_from_slice(b"EDGERESP");
    b[5000..5008].copy_from_slice(b"LATERESP");
    let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n".to_vec();
    r.extend_from_slice(&b);
    r
}

/// The body of session 26: filler with `EARLYMARK` at 100, `EDGEMARK` across the body
/// limit (4,090..4,098) and `LATEMARK` at 5,000.
fn big_body() -> Vec<u8> {
    let mut b: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
    b[100..109].copy_from_slice(b"EARLYMARK");
    b[4090..4098].copy_from_slice(b"EDGEMARK");
    b[5000..5008].copy_from_slice(b"LATEMARK");
    b
}

/// Writes the HTTP golden pcap into any sink; returns the number of frames.
pub fn write_http<W: Write>(sink: W) -> Result<usize> {
    write_frames(sink, &http_frames(), START_NS, STEP_NS)
}

/// Writes the HTTP golden pcap to `path`.
pub fn write_http_pcap(path: impl AsRef<Path>) -> Result<()> {
    write_file(path.as_ref(), write_http)
}
