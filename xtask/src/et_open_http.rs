//! The HTTP part of `cargo xtask golden-et-open`: a pcap of HTTP/1.1 sessions, one for
//! each enforced ET Open rule on an HTTP request's buffers, holding that rule's positive
//! contents where the rule looks for them, and one for each raw-content `alert http`
//! rule, holding its contents in a request or response body ([`write_et_http_pcap`]).
//! Suricata's alerts on it with the whole enforced ruleset are the reference
//! (`expected_http.json`).

use anyhow::Result;
use detect::applayer::http::{METHODS, REQUEST_BODY_LIMIT};
use detect::applayer::http_response::RESPONSE_BODY_LIMIT;
use detect::rules::{
    load_files, AddrSet, Classifications, ContentMatch, PayloadMatch, PortSet, Proto, Rule, Sticky,
    Vars,
};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// At most this many sessions (ET Open has fewer HTTP rules than this: all are taken).
pub const MAX_SESSIONS: usize = 14_000;

/// The header each header-valued buffer reads.
fn header_of(kind: Sticky) -> Option<&'static [u8]> {
    Some(match kind {
        Sticky::HttpUserAgent => b"User-Agent",
        Sticky::HttpCookie => b"Cookie",
        Sticky::HttpAccept => b"Accept",
        Sticky::HttpAcceptLang => b"Accept-Language",
        Sticky::HttpAcceptEnc => b"Accept-Encoding",
        Sticky::HttpReferer => b"Referer",
        Sticky::HttpContentType => b"Content-Type",
        Sticky::HttpContentLen => b"Content-Length",
        Sticky::HttpConnection => b"Connection",
        _ => return None,
    })
}

/// Whether `hay` holds `needle` (ASCII case-insensitively with `nocase`).
fn holds(hay: &[u8], needle: &[u8], nocase: bool) -> bool {
    needle.is_empty()
        || hay.windows(needle.len()).any(|w| {
            if nocase {
                w.eq_ignore_ascii_case(needle)
            } else {
                w == needle
            }
        })
}

/// The bytes holding `contents` (one buffer's positive contents, in rule order):
/// `startswith`/`depth`/`offset:0` contents first, `endswith` ones last, the others in
/// between, a relative one right after the previous one, an absolute one only when not
/// already there. `None` when two starts or two ends conflict, or a start is also an end.
fn assemble(contents: &[&ContentMatch]) -> Option<Vec<u8>> {
    let (mut start, mut end): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut mid: Vec<&ContentMatch> = Vec::new();
    for c in contents {
        let p = c.pattern.as_slice();
        let at_start =
            c.startswith || c.offset == Some(0) || (c.depth.is_some() && c.offset.is_none());
        if c.depth.is_some_and(|d| (d as usize) < p.len()) || (at_start && c.endswith) {
            return None;
        }
        if at_start {
            match start {
                None => start = Some(p),
                Some(s) if s.starts_with(p) => {}
                Some(s) if p.starts_with(s) => start = Some(p),
                Some(_) => return None,
            }
        } else if c.endswith {
            match end {
                None => end = Some(p),
                Some(e) if e.ends_with(p) => {}
                Some(e) if p.ends_with(e) => end = Some(p),
                Some(_) => return None,
            }
        } else {
            mid.push(c);
        }
    }
    let mut t = start.map(<[u8]>::to_vec).unwrap_or_default();
    for c in mid {
        if let Some(d) = c.distance.filter(|&d| d > 0) {
            t.extend(std::iter::repeat_n(b'x', d as usize));
        }
        if c.is_relative() || !holds(&t, &c.pattern, c.nocase) {
            t.extend_from_slice(&c.pattern);
        }
    }
    if let Some(e) = end {
        if !t.ends_with(e) {
            t.extend_from_slice(e);
        }
    }
    Some(t)
}

/// The chains of `contents`: each absolute content starts one, each relative one (with
/// the filler its `distance` asks for) extends the last.
fn chains(contents: &[&ContentMatch]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in contents {
        match out.last_mut() {
            Some(last) if c.is_relative() => {
                if let Some(d) = c.distance.filter(|&d| d > 0) {
                    last.extend(std::iter::repeat_n(b'x', d as usize));
                }
                last.extend_from_slice(&c.pattern);
            }
            _ => out.push(c.pattern.clone()),
        }
    }
    out
}

/// Splits `t` at its CRLFs, dropping empty pieces.
fn lines(t: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = t;
    loop {
        let at = rest.windows(2).position(|w| w == b"\r\n");
        let piece = &rest[..at.unwrap_or(rest.len())];
        if !piece.is_empty() {
            out.push(piece.to_vec());
        }
        match at {
            Some(i) => rest = &rest[i + 2..],
            None => return out,
        }
    }
}

/// Whether `b` is a header name (an HTTP token).
fn is_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Whether `b` may stand in a header value or a raw request target.
fn clean(b: &[u8], space_ok: bool) -> bool {
    !b.iter()
        .any(|&c| c == b'\r' || c == b'\n' || c == 0 || (!space_ok && c == b' '))
}

/// `p` percent-encoded where libhtp would otherwise read it differently: the normalized
/// URI (`http.uri`) then holds `p` itself.
fn uri_encode(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &c in p {
        if c <= 0x20 || c >= 0x7f || c == b'%' || c == b'#' {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

/// Two assembled strings for one slot (`http.uri` and `http.uri.raw`, `http.host` and
/// `http.host.raw`) as one.
fn merge(a: Vec<u8>, b: Vec<u8>) -> Vec<u8> {
    if a.is_empty() || holds(&a, &b, false) {
        if a.is_empty() {
            b
        } else {
            a
        }
    } else if b.is_empty() || holds(&b, &a, false) {
        if b.is_empty() {
            a
        } else {
            b
        }
    } else {
        [a, b].concat()
    }
}

/// The headers of a request, in order; a repeated name is kept once when one value holds
/// the other.
#[derive(Default)]
struct Headers(Vec<(Vec<u8>, Vec<u8>)>);

impl Headers {
    fn add(&mut self, name: &[u8], value: &[u8]) {
        for (n, v) in &mut self.0 {
            if n.eq_ignore_ascii_case(name) {
                if holds(v, value, false) {
                    return;
                }
                if holds(value, v, false) {
                    *v = value.to_vec();
                    return;
                }
            }
        }
        self.0.push((name.to_vec(), value.to_vec()));
    }
}

/// The positive contents of `r`'s buffers of `kind`, in rule order.
fn contents_of(r: &Rule, kind: Sticky) -> Vec<&ContentMatch> {
    r.app_buffer
        .iter()
        .chain(&r.app_buffers_also)
        .filter(|b| b.kind == kind)
        .flat_map(|b| &b.payload)
        .filter_map(|p| match p {
            PayloadMatch::Content(c) if !c.negated => Some(c),
            _ => None,
        })
        .collect()
}

/// Whether a negated content of `r`'s header or header-name buffers mentions `name`.
fn refuses_header(r: &Rule, name: &[u8]) -> bool {
    r.app_buffer
        .iter()
        .chain(&r.app_buffers_also)
        .filter(|b| {
            matches!(
                b.kind,
                Sticky::HttpHeader | Sticky::HttpHeaderNames | Sticky::HttpHeaderRaw
            )
        })
        .flat_map(|b| &b.payload)
        .any(
            |p| matches!(p, PayloadMatch::Content(c) if c.negated && holds(&c.pattern, name, true)),
        )
}

/// The request (bytes) holding `r`'s positive contents, for session `n`; `None` when the
/// rule cannot be satisfied this way.
fn request_for(r: &Rule, n: usize) -> Option<Vec<u8>> {
    let methods = contents_of(r, Sticky::HttpMethod);
    // The body's contents, kept within libhtp's request body limit.
    let wanted_body = assemble(&contents_of(r, Sticky::HttpRequestBody))?;
    if wanted_body.len() > REQUEST_BODY_LIMIT {
        return None;
    }
    let has_len = !contents_of(r, Sticky::HttpContentLen).is_empty() || !wanted_body.is_empty();
    let method: &[u8] = if methods.is_empty() {
        if has_len {
            b"POST"
        } else {
            b"GET"
        }
    } else {
        METHODS.iter().copied().find(|m| {
            methods.iter().all(|c| {
                let p = c.pattern.as_slice();
                holds(m, p, c.nocase)
                    && (!c.startswith || m.starts_with(p))
                    && (!c.endswith || m.ends_with(p))
            })
        })?
    };
    let protocols = contents_of(r, Sticky::HttpProtocol);
    let proto: &[u8] = [b"HTTP/1.1".as_slice(), b"HTTP/1.0"]
        .into_iter()
        .find(|p| protocols.iter().all(|c| holds(p, &c.pattern, c.nocase)))?;

    // The request target: http.uri contents encoded, http.uri.raw ones as they are.
    let uri = assemble(&contents_of(r, Sticky::HttpUri))?;
    let raw = assemble(&contents_of(r, Sticky::HttpUriRaw))?;
    if !clean(&raw, false) {
        return None;
    }
    let mut target = merge(uri_encode(&uri), raw);
    if target.first() != Some(&b'/') {
        let starts = contents_of(r, Sticky::HttpUri)
            .into_iter()
            .chain(contents_of(r, Sticky::HttpUriRaw))
            .any(|c| c.startswith || c.depth.is_some() || c.offset == Some(0));
        if starts && !target.is_empty() {
            return None;
        }
        target.insert(0, b'/');
    }

    let mut h = Headers::default();
    // Host: http.host is lower case.
    let host = assemble(&contents_of(r, Sticky::HttpHost))?.to_ascii_lowercase();
    let host_raw = assemble(&contents_of(r, Sticky::HttpHostRaw))?;
    let host = merge(host, host_raw);
    if !clean(&host, true) {
        return None;
    }
    if !host.is_empty() {
        h.add(b"Host", &host);
    } else if !refuses_header(r, b"Host") {
        h.add(b"Host", format!("h{n}.tidewatch.test").as_bytes());
    }
    for kind in Sticky::HTTP_REQUEST {
        let Some(name) = header_of(kind) else {
            continue;
        };
        let cs = contents_of(r, kind);
        if cs.is_empty() {
            continue;
        }
        let v = assemble(&cs)?;
        if !clean(&v, true) {
            return None;
        }
        h.add(name, &v);
    }
    // http.header and http.header.raw: `Name: value` lines, fragments under a name of
    // their own.
    let mut extra = 0;
    for kind in [Sticky::HttpHeader, Sticky::HttpHeaderRaw] {
        for chain in chains(&contents_of(r, kind)) {
            let starts_line = chain.starts_with(b"\r\n");
            for (i, line) in lines(&chain).into_iter().enumerate() {
                if !clean(&line, true) {
                    return None;
                }
                let colon = line.iter().position(|&c| c == b':');
                match colon {
                    Some(at) if at > 0 && is_token(&line[..at]) => {
                        let v = &line[at + 1..];
                        let v = v.strip_prefix(b" ").unwrap_or(v);
                        h.add(&line[..at], if v.is_empty() { b"1" } else { v });
                    }
                    None if (starts_line || i > 0) && is_token(&line) => h.add(&line, b"1"),
                    _ => {
                        extra += 1;
                        let name = format!("X-Tw{extra}");
                        let v = line.strip_prefix(b":").unwrap_or(&line);
                        let v = v.strip_prefix(b" ").unwrap_or(v);
                        h.add(name.as_bytes(), v);
                    }
                }
            }
        }
    }
    if !wanted_body.is_empty()
        && !h
            .0
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(b"Content-Length"))
    {
        h.add(b"Content-Length", wanted_body.len().to_string().as_bytes());
    }
    // http.header_names: those names, in their order, first (last when the rule looks
    // for the end of the list).
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut names_last = false;
    for chain in chains(&contents_of(r, Sticky::HttpHeaderNames)) {
        names_last |= chain.ends_with(b"\r\n\r\n");
        for name in lines(&chain) {
            if !is_token(&name) {
                return None;
            }
            order.push(name);
        }
    }
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let named: Vec<(Vec<u8>, Vec<u8>)> = order
        .iter()
        .map(|name| {
            let v =
                h.0.iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map_or(b"1".to_vec(), |(_, v)| v.clone());
            (name.clone(), v)
        })
        .collect();
    let others: Vec<(Vec<u8>, Vec<u8>)> =
        h.0.iter()
            .filter(|(n, _)| !order.iter().any(|o| o.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
    if names_last {
        headers.extend(others);
        headers.extend(named);
    } else {
        headers.extend(named);
        headers.extend(others);
    }

    // A body as long as Content-Length says: the rule's body contents, then filler.
    let mut body = wanted_body;
    if let Some((_, v)) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"Content-Length"))
    {
        let len: usize = std::str::from_utf8(v).ok()?.trim().parse().ok()?;
        if len > REQUEST_BODY_LIMIT || len < body.len() {
            return None;
        }
        body.resize(len, b'A');
    }

    let line = [method, b" ", &target, b" ", proto].concat();
    let mut req = line.clone();
    req.extend_from_slice(b"\r\n");
    let mut start = req.clone();
    for (name, v) in &headers {
        for t in [name.as_slice(), b": ", v, b"\r\n"] {
            req.extend_from_slice(t);
            start.extend_from_slice(t);
        }
    }
    req.extend_from_slice(b"\r\n");
    start.extend_from_slice(b"\r\n");
    req.extend_from_slice(&body);
    // Buffers not built from their own contents: the request must hold them anyway.
    let fits = |kind: Sticky, buf: &[u8]| {
        contents_of(r, kind)
            .iter()
            .all(|c| holds(buf, &c.pattern, c.nocase))
    };
    (fits(Sticky::HttpRequestLine, &line) && fits(Sticky::HttpStart, &start)).then_some(req)
}

/// Whether `r` inspects an HTTP request buffer.
fn is_http(r: &Rule) -> bool {
    r.app_buffer
        .iter()
        .chain(&r.app_buffers_also)
        .any(|b| Sticky::HTTP_REQUEST.contains(&b.kind))
}

/// Whether `r` is an `alert http` rule on raw payloads (no HTTP buffer).
fn is_raw_http(r: &Rule) -> bool {
    r.proto == Proto::Http && r.app_buffer.is_none()
}

/// The positive contents among `payload`'s keywords, in rule order.
fn positive(payload: &[PayloadMatch]) -> Vec<&ContentMatch> {
    payload
        .iter()
        .filter_map(|p| match p {
            PayloadMatch::Content(c) if !c.negated => Some(c),
            _ => None,
        })
        .collect()
}

/// Whether `r` reads an HTTP response (`http.stat_code`, `file.data`).
fn is_response(r: &Rule) -> bool {
    r.app_buffer
        .as_ref()
        .is_some_and(|b| Sticky::HTTP_RESPONSE.contains(&b.kind))
}

/// The positive contents of `r`'s buffer `kind`, assembled (anchored ones first);
/// `Some(None)` when the rule does not read it, `None` when they cannot be placed.
fn buffer_text(r: &Rule, kind: Sticky) -> Option<Option<Vec<u8>>> {
    let reads = r
        .app_buffer
        .iter()
        .chain(&r.app_buffers_also)
        .any(|b| b.kind == kind);
    if !reads {
        return Some(None);
    }
    let contents = contents_of(r, kind);
    if contents.is_empty() {
        return None;
    }
    assemble(&contents).map(Some)
}

/// The status token and body of the response holding a response rule's positive
/// contents: its `http.stat_code` contents as the status (else `200`), its `file.data`
/// contents as the body (else a short one); `None` when they cannot be placed (a
/// status that is not a token, a body past the response body limit).
fn response_for(r: &Rule) -> Option<(Vec<u8>, Vec<u8>)> {
    let status = buffer_text(r, Sticky::HttpStatCode)?.unwrap_or_else(|| b"200".to_vec());
    let body = buffer_text(r, Sticky::HttpFileData)?.unwrap_or_else(|| b"ok".to_vec());
    let token = !status.is_empty() && status.iter().all(|b| b.is_ascii_graphic());
    (token && body.len() <= RESPONSE_BODY_LIMIT).then_some((status, body))
}

/// The body holding a raw `alert http` rule's positive contents, and whether it goes to
/// the server (`flow:to_server`) or in a response; `None` without contents, or with one
/// anchored to the start of the stream (`depth`, `offset`, `startswith`), which a body
/// cannot hold.
fn raw_body_for(r: &Rule) -> Option<(Vec<u8>, bool)> {
    let contents = positive(&r.payload);
    if contents.is_empty()
        || contents
            .iter()
            .any(|c| c.startswith || c.offset.is_some() || c.depth.is_some())
    {
        return None;
    }
    let body = assemble(&contents)?;
    (body.len() <= REQUEST_BODY_LIMIT).then_some((body, r.flow.to_server == Some(true)))
}

/// The request and response of a raw `alert http` rule's session: the body in a POST,
/// or in a `200 OK` answering a GET.
fn raw_exchange(status: &[u8], body: &[u8], to_server: bool) -> (Vec<u8>, Vec<u8>) {
    let with_body = |head: &str| {
        let mut m = format!("{head}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        m.extend_from_slice(body);
        m
    };
    if to_server {
        (
            with_body("POST /upload HTTP/1.1\r\nHost: raw.example.com\r\n"),
            RESP.to_vec(),
        )
    } else {
        (
            b"GET /page.html HTTP/1.1\r\nHost: raw.example.com\r\n\r\n".to_vec(),
            with_body(&format!(
                "HTTP/1.1 {} OK\r\nContent-Type: text/html\r\n",
                String::from_utf8_lossy(status)
            )),
        )
    }
}

/// The small answer of request sessions.
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

/// The server's port for a rule whose server side has `ports`: the one port, else 80
/// when it is among them, else the first.
fn server_port(ports: &PortSet) -> u16 {
    match ports.include.as_slice() {
        [(lo, hi)] if lo == hi => *lo,
        _ if ports.contains(80) => 80,
        [(lo, _), ..] => *lo,
        [] => 80,
    }
}

/// Session `n`'s `$HOME_NET` and outside addresses (two of each).
fn addrs(n: usize) -> [IpAddr; 4] {
    let (c, d) = ((n / 250) as u8, 1 + (n % 250) as u8);
    [
        IpAddr::V4(Ipv4Addr::new(10, 20, c, d)),
        IpAddr::V4(Ipv4Addr::new(10, 21, c, d)),
        IpAddr::V4(Ipv4Addr::new(198, 18, c, d)),
        IpAddr::V4(Ipv4Addr::new(198, 19, c, d)),
    ]
}

/// The client and server of session `n` for `r`: a `$HOME_NET` client and an outside
/// server, unless the rule's header wants the server at home (an inbound rule) or both
/// at home. A `flow:to_client` rule's source is the server.
fn endpoints(r: &Rule, n: usize) -> (IpAddr, IpAddr) {
    let [home, home2, out, out2] = addrs(n);
    let pick = |set: &AddrSet, a: IpAddr, b: IpAddr| [a, b].into_iter().find(|x| set.contains(x));
    let (client, server) = if r.flow.to_server == Some(false) {
        (&r.dst, &r.src)
    } else {
        (&r.src, &r.dst)
    };
    match (pick(client, home, out), pick(server, out2, home2)) {
        (Some(c), Some(s)) => (c, s),
        _ => (home, out),
    }
}

/// Appends to `frames` a session from `client` to `server:port`: handshake, the request
/// (acknowledged by the server), the response (acknowledged), FIN teardown.
fn session(
    frames: &mut Vec<Vec<u8>>,
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    (req, resp): (&[u8], &[u8]),
    n: u32,
) {
    use capture::craft::{tcp_flags as F, TcpSession};
    let mut s = TcpSession::new(
        client,
        server,
        0x1000_0000u32.wrapping_mul(n + 1),
        0x9000_0000u32.wrapping_add(n.wrapping_mul(7919)),
    );
    let steps: [(bool, u8, &[u8]); 10] = [
        (true, F::SYN, &[]),
        (false, F::SYN | F::ACK, &[]),
        (true, F::ACK, &[]),
        (true, F::PSH | F::ACK, req),
        (false, F::ACK, &[]),
        (false, F::PSH | F::ACK, resp),
        (true, F::ACK, &[]),
        (true, F::FIN | F::ACK, &[]),
        (false, F::FIN | F::ACK, &[]),
        (true, F::ACK, &[]),
    ];
    for (c, fl, p) in steps {
        let mut buf = Vec::new();
        s.segment(&mut buf, c, fl, p);
        frames.push(buf);
    }
}

/// Writes a pcap of HTTP/1.1 sessions, one for each enforced ET Open rule inspecting an
/// HTTP request buffer whose positive contents could be placed in a request
/// ([`request_for`]: the URI's contents joined into the path, the method, Host and the
/// other headers' values, `http.header` lines, `http.header_names` in order, the body; rules
/// asking for the same request share a session), at most [`MAX_SESSIONS`]: from a
/// `$HOME_NET` client to an outside server (the other way for inbound rules) on the
/// rule's destination port when it is one port (else 80): the handshake, the request
/// acknowledged by the server, a small `200 OK` acknowledged by the client, FIN teardown.
/// Then a session for each raw-content `alert http` rule whose contents a body can hold
/// ([`raw_body_for`]), in a POST's body or a response's (the rule's source port is then
/// the server's). Then one for each `file.data` rule, its contents in a response's body
/// ([`file_body_for`]). Prints how many rules were skipped; returns the number of
/// sessions.
pub fn write_et_http_pcap(rules: &Path, out: &Path) -> Result<usize> {
    use crate::golden_stream::{write_file, write_frames};

    let loaded = load_files(
        &[rules.to_path_buf()],
        &Vars::default(),
        &Classifications::default(),
        false,
    )?;
    let (mut frames, mut seen, mut skipped, mut rules_n) =
        (Vec::new(), BTreeSet::new(), 0usize, 0usize);
    let mut n = 0usize;
    for r in loaded.rules.iter().filter(|r| is_http(r)) {
        rules_n += 1;
        let Some(req) = request_for(r, n) else {
            skipped += 1;
            continue;
        };
        let port = server_port(&r.dst_ports);
        let inbound = endpoints(r, n).0 != addrs(n)[0];
        if !seen.insert((req.clone(), port, inbound)) || n >= MAX_SESSIONS {
            continue;
        }
        let (client, server) = endpoints(r, n);
        let cport = 20_000 + (n % 40_000) as u16;
        session(
            &mut frames,
            (client, cport),
            (server, port),
            (&req, RESP),
            n as u32,
        );
        n += 1;
    }
    println!(
        "{rules_n} enforced HTTP rules, {skipped} of them skipped (contents not placeable in a request)"
    );
    // Sessions of rules whose contents go in a body, raw ones then `file.data` ones; one
    // per body, direction, port and orientation.
    let mut bodies = BTreeSet::new();
    let mut body_session = |frames: &mut Vec<Vec<u8>>,
                            n: &mut usize,
                            r: &Rule,
                            status: &[u8],
                            body: Vec<u8>,
                            to_server: bool| {
        let port = server_port(if to_server {
            &r.dst_ports
        } else {
            &r.src_ports
        });
        let (client, server) = endpoints(r, *n);
        let inbound = client != addrs(*n)[0];
        let key = (status.to_vec(), body.clone(), to_server, port, inbound);
        if !bodies.insert(key) || *n >= MAX_SESSIONS {
            return;
        }
        let (req, resp) = raw_exchange(status, &body, to_server);
        let cport = 20_000 + (*n % 40_000) as u16;
        session(
            frames,
            (client, cport),
            (server, port),
            (&req, &resp),
            *n as u32,
        );
        *n += 1;
    };
    let (mut raw_n, mut raw_skipped) = (0usize, 0usize);
    for r in loaded.rules.iter().filter(|r| is_raw_http(r)) {
        raw_n += 1;
        match raw_body_for(r) {
            Some((body, to_server)) => {
                body_session(&mut frames, &mut n, r, b"200", body, to_server)
            }
            None => raw_skipped += 1,
        }
    }
    println!(
        "{raw_n} enforced raw-content http rules, {raw_skipped} of them skipped (no content, or one anchored to the stream's start)"
    );
    let (mut resp_n, mut resp_skipped) = (0usize, 0usize);
    for r in loaded.rules.iter().filter(|r| is_response(r)) {
        resp_n += 1;
        match response_for(r) {
            Some((status, body)) => body_session(&mut frames, &mut n, r, &status, body, false),
            None => resp_skipped += 1,
        }
    }
    println!(
        "{resp_n} enforced HTTP response rules (http.stat_code, file.data), {resp_skipped} of them skipped (a buffer without contents, a status that is not a token, a body past the limit)"
    );
    // Frames 1 ms apart from 2024-06-10T06:13:20.001Z.
    write_file(out, |sink| {
        write_frames(sink, &frames, 1_718_000_000_001_000_000, 1_000_000)
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(p: &str) -> ContentMatch {
        ContentMatch {
            pattern: p.as_bytes().to_vec(),
            ..ContentMatch::default()
        }
    }

    #[test]
    fn contents_are_assembled_in_place() {
        let starts = ContentMatch {
            startswith: true,
            ..content("/adm")
        };
        let ends = ContentMatch {
            endswith: true,
            ..content(".php")
        };
        let mid = content("in/x");
        assert_eq!(
            assemble(&[&ends, &mid, &starts]).unwrap(),
            b"/admin/x.php".to_vec()
        );
        let other = ContentMatch {
            startswith: true,
            ..content("/b")
        };
        assert_eq!(assemble(&[&starts, &other]), None);
        assert_eq!(uri_encode(b"a b%"), b"a%20b%25".to_vec());
        assert_eq!(lines(b"\r\nHost\r\nUser-Agent\r\n\r\n").len(), 2);
    }
}
