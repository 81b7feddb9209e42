//! The parsed form of a Suricata rule: what the parser produces and the matcher compiles.
//!
//! Variables are already resolved and keywords already validated, so the matcher never
//! sees text it has to interpret. Payload keywords keep their rule order because relative
//! modifiers (`distance`, `within`, pcre `/R`, relative `byte_test`...) chain on the
//! previous match.

use std::net::IpAddr;
use std::sync::Arc;

/// Where a rule came from, for every message about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Alert,
    Pass,
    Drop,
    Reject,
    RejectSrc,
    RejectDst,
    RejectBoth,
}

impl Action {
    /// The word used in EVE's `alert.action` ("allowed" for alert, as Suricata prints in IDS mode).
    pub fn eve_action(self) -> &'static str {
        match self {
            Action::Alert | Action::Pass => "allowed",
            _ => "blocked",
        }
    }
}

/// The rule's protocol keyword. App-layer protocols parse but are not supported yet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    TcpPkt,
    TcpStream,
    Udp,
    Icmp,
    /// `ip`: any IP packet.
    Ip,
    Ipv4,
    Ipv6,
    /// `dns`: DNS over UDP, told by Suricata's probe on the flow's server port 53.
    Dns,
    /// `tls`: TLS over TCP, told by Suricata's record patterns on the client's first bytes.
    Tls,
    /// `http`: HTTP/1.x over TCP, told by a request method at the start of the client's
    /// bytes (only rules on a request's buffers are enforced).
    Http,
    /// `http`, `tls`, ...: recorded so the skip counter can name it (`app-layer:smtp`).
    AppLayer(String),
}

impl Proto {
    /// An app-layer protocol tidewatch parses (`dns`, `tls`): the rule needs flows of it.
    pub fn is_app(&self) -> bool {
        matches!(self, Proto::Dns | Proto::Tls | Proto::Http)
    }
}

/// An IP network (address and prefix length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let p = self.prefix.min(32) as u32;
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                (u32::from(n) & mask) == (u32::from(*a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = self.prefix.min(128) as u32;
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                (u128::from(n) & mask) == (u128::from(*a) & mask)
            }
            _ => false,
        }
    }
}

/// A resolved address expression: matches when the address is in some `include` network
/// and in no `exclude` network. An empty `include` means `any`, but only for the address
/// families the expression names: as in Suricata, which keeps IPv4 and IPv6 lists apart,
/// `!10.0.0.0/8` matches every IPv4 address outside 10/8 and no IPv6 address at all, so an
/// IPv4-only `$HOME_NET` makes `$EXTERNAL_NET` IPv4-only too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrSet {
    pub include: Vec<IpNet>,
    pub exclude: Vec<IpNet>,
    /// A negation of negated addresses was written (`![!x]`, `!$EXTERNAL_NET`): the set is
    /// the inner addresses, but Suricata 7 then treats the rule as "like IP-only", as it
    /// does for any written negation (checked on the golden pcap).
    pub double_negated: bool,
}

impl AddrSet {
    pub fn is_any(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
    /// Sorts both lists by family and first address and drops networks inside another of
    /// the same list: the set matches the same addresses, and
    /// [`AddrSet::contains_normalized`] can then bisect a long list (ET Open has rules
    /// listing hundreds of addresses, and a linear scan of each on every packet dominated
    /// replay). The engine normalizes every rule it is built with.
    pub fn normalize(&mut self) {
        normalize_nets(&mut self.include);
        normalize_nets(&mut self.exclude);
    }

    /// As [`AddrSet::contains`], bisecting long lists: only for a set
    /// [`AddrSet::normalize`] was called on since its last change.
    pub fn contains_normalized(&self, ip: &IpAddr) -> bool {
        self.contains_with(ip, nets_contain_sorted)
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.contains_with(ip, |nets, ip| nets.iter().any(|n| n.contains(ip)))
    }

    fn contains_with(&self, ip: &IpAddr, any: impl Fn(&[IpNet], &IpAddr) -> bool) -> bool {
        let included = if self.include.is_empty() {
            self.exclude.is_empty()
                || self
                    .exclude
                    .iter()
                    .any(|n| n.addr.is_ipv6() == ip.is_ipv6())
        } else {
            any(&self.include, ip)
        };
        included && !any(&self.exclude, ip)
    }
}

/// Lists at least this long are bisected (short ones are cheaper to scan).
const BISECT_FROM: usize = 16;

/// `(family, first address)`: the order [`AddrSet::normalize`] sorts networks in.
fn net_key(n: &IpNet) -> (bool, u128) {
    match n.addr {
        IpAddr::V4(a) => {
            let p = n.prefix.min(32) as u32;
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            (false, u128::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let p = n.prefix.min(128) as u32;
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            (true, u128::from(a) & mask)
        }
    }
}

fn ip_key(ip: &IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(*a))),
        IpAddr::V6(a) => (true, u128::from(*a)),
    }
}

/// Sorted by [`net_key`], widest first at a tie, with every network inside an earlier one
/// dropped. Prefixes either nest or are disjoint, so what remains is disjoint and sorted.
fn normalize_nets(nets: &mut Vec<IpNet>) {
    nets.sort_by_key(|n| (net_key(n), n.prefix));
    let mut out: Vec<IpNet> = Vec::with_capacity(nets.len());
    for n in nets.drain(..) {
        if !out
            .last()
            .is_some_and(|w| w.contains(&n.addr) && w.prefix <= n.prefix)
        {
            out.push(n);
        }
    }
    *nets = out;
}

fn nets_contain_sorted(nets: &[IpNet], ip: &IpAddr) -> bool {
    if nets.len() < BISECT_FROM {
        return nets.iter().any(|n| n.contains(ip));
    }
    // The last network starting at or before `ip` is the only one that can hold it.
    let k = ip_key(ip);
    let i = nets.partition_point(|n| net_key(n) <= k);
    i > 0 && nets[i - 1].contains(ip)
}

impl Rule {
    /// `dsize`, `flags`, `ttl`, `itype`, `icode` or `ip_proto`: Suricata's keywords that
    /// set `SIG_FLAG_REQUIRE_PACKET`, so the rule's content is matched on packets.
    pub fn has_packet_keyword(&self) -> bool {
        self.dsize.is_some()
            || !self.flags.is_empty()
            || !self.ttl.is_empty()
            || !self.itype.is_empty()
            || !self.icode.is_empty()
            || self.ip_proto.is_some()
    }

    /// A rule with no options: gid 1, sid and rev 0, priority 3, matching any address and
    /// port. The parser and test builders fill it in keyword by keyword.
    pub fn new(location: Location, action: Action, proto: Proto) -> Rule {
        Rule {
            location,
            action,
            proto,
            src: AddrSet::default(),
            src_ports: PortSet::default(),
            dst: AddrSet::default(),
            dst_ports: PortSet::default(),
            bidirectional: false,
            gid: 1,
            sid: 0,
            rev: 0,
            msg: String::new(),
            classtype: None,
            category: String::new(),
            priority: 3,
            references: Vec::new(),
            metadata: Vec::new(),
            target: None,
            noalert: false,
            flow: FlowMatch::default(),
            dsize: None,
            ttl: Vec::new(),
            itype: Vec::new(),
            icode: Vec::new(),
            ip_proto: None,
            flags: Vec::new(),
            stream_size: Vec::new(),
            payload: Vec::new(),
            app_buffer: None,
            app_buffers_also: Vec::new(),
            flowbits: Vec::new(),
            filters: AlertFilters::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, prefix: u8) -> IpNet {
        IpNet {
            addr: s.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn negation_stays_within_the_families_it_names() {
        let ext = AddrSet {
            include: vec![],
            exclude: vec![net("10.0.0.0", 8), net("192.168.0.0", 16)],
            double_negated: false,
        };
        assert!(ext.contains(&"8.8.8.8".parse().unwrap()));
        assert!(!ext.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!ext.contains(&"2001:db8::1".parse().unwrap()));
        let any = AddrSet::default();
        assert!(any.contains(&"2001:db8::1".parse().unwrap()));
        let both = AddrSet {
            include: vec![],
            exclude: vec![net("10.0.0.0", 8), net("2001:db8::", 32)],
            double_negated: false,
        };
        assert!(both.contains(&"2001:db9::1".parse().unwrap()));
        assert!(!both.contains(&"2001:db8::1".parse().unwrap()));
    }
}

/// A resolved port expression, inclusive ranges; same include/exclude rule as [`AddrSet`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSet {
    pub include: Vec<(u16, u16)>,
    pub exclude: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn is_any(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
    pub fn contains(&self, port: u16) -> bool {
        (self.include.is_empty() || self.include.iter().any(|&(a, b)| a <= port && port <= b))
            && !self.exclude.iter().any(|&(a, b)| a <= port && port <= b)
    }
}

/// A numeric comparison as in `dsize`, `ttl`, `itype`, `icode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumMatch {
    Eq(u64),
    Ne(u64),
    Lt(u64),
    Le(u64),
    Gt(u64),
    Ge(u64),
    /// `a<>b`: strictly between a and b (Suricata's semantics).
    Between(u64, u64),
}

/// Which direction's byte count `stream_size` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamSide {
    /// What the server sent.
    Server,
    /// What the client sent.
    Client,
    /// Both directions must satisfy the comparison.
    Both,
    /// Either direction may.
    Either,
}

/// `stream_size:<side>,<op>,<n>`: Suricata's count of a TCP session's sequence space per
/// direction (`next_seq - isn`, so the SYN counts as one byte), compared with `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSizeMatch {
    pub side: StreamSide,
    pub cmp: NumMatch,
}

impl StreamSizeMatch {
    /// `sizes`: `[client, server]`.
    pub fn matches(&self, sizes: [u32; 2]) -> bool {
        let [c, s] = sizes.map(u64::from);
        match self.side {
            StreamSide::Server => self.cmp.matches(s),
            StreamSide::Client => self.cmp.matches(c),
            StreamSide::Both => self.cmp.matches(c) && self.cmp.matches(s),
            StreamSide::Either => self.cmp.matches(c) || self.cmp.matches(s),
        }
    }
}

impl NumMatch {
    pub fn matches(&self, v: u64) -> bool {
        match *self {
            NumMatch::Eq(n) => v == n,
            NumMatch::Ne(n) => v != n,
            NumMatch::Lt(n) => v < n,
            NumMatch::Le(n) => v <= n,
            NumMatch::Gt(n) => v > n,
            NumMatch::Ge(n) => v >= n,
            NumMatch::Between(a, b) => a < v && v < b,
        }
    }
}

/// `flags:` — `mask` bits must equal `value` after ignoring `ignore` bits, per the modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagsMatch {
    /// The flags named in the rule (bits of `capture::decode::tcp_flags`).
    pub flags: u8,
    /// Flags after the comma: ignored when comparing.
    pub ignore: u8,
    pub modifier: FlagsModifier,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagsModifier {
    /// No modifier: exactly these flags (outside `ignore`).
    Exact,
    /// `+`: these flags and possibly others.
    All,
    /// `*`: any of these flags.
    Any,
    /// `!`: none of these flags.
    Not,
}

/// `flow:` options: direction, establishment, and stream or packet matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowMatch {
    /// `to_server`/`from_client` (Some(true)) or `to_client`/`from_server` (Some(false)).
    pub to_server: Option<bool>,
    /// `established` (Some(true)) or `not_established` (Some(false)).
    pub established: Option<bool>,
    /// `stateless`: matches whether or not the flow is tracked.
    pub stateless: bool,
    /// `only_stream` (Some(true)): only a match of the rule's content on the reassembled
    /// stream counts; `no_stream` (Some(false)): only a match on a packet's own payload.
    pub stream: Option<bool>,
}

/// `ip_proto:` value with an optional comparison (`ip_proto:!6`, `ip_proto:<10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpProtoMatch(pub NumMatch);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    SrcIp,
    DestIp,
}

/// One `content` with its modifiers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentMatch {
    /// The bytes to find, escapes and `|hex|` already decoded.
    pub pattern: Vec<u8>,
    pub negated: bool,
    pub nocase: bool,
    pub offset: Option<u32>,
    pub depth: Option<u32>,
    /// Relative to the end of the previous payload match; may be negative.
    pub distance: Option<i32>,
    pub within: Option<u32>,
    pub startswith: bool,
    pub endswith: bool,
    /// `fast_pattern` given on this content (with `only` or `offset,length` chop when given).
    pub fast_pattern: Option<FastPattern>,
    pub rawbytes: bool,
}

impl ContentMatch {
    /// Whether this content's position depends on the previous payload match.
    pub fn is_relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastPattern {
    pub only: bool,
    /// `fast_pattern:offset,length`: use only this slice of the pattern in the prefilter.
    pub chop: Option<(u16, u16)>,
}

/// A `pcre` keyword: the regex source and its Suricata-level flags; the regex is compiled
/// by the parser so a bad pattern is a parse error with a location.
#[derive(Clone, Debug)]
pub struct PcreMatch {
    /// The text between the slashes, as written.
    pub source: String,
    pub negated: bool,
    /// `R`: match relative to the end of the previous payload match.
    pub relative: bool,
    /// PCRE-level flags (`i s m x A E G`) as given, for display.
    pub flags: String,
    pub regex: Arc<pcre2::bytes::Regex>,
}

impl PartialEq for PcreMatch {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && self.negated == other.negated
            && self.relative == other.relative
            && self.flags == other.flags
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Big,
    Little,
}

/// How `byte_test`/`byte_jump` read their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberFormat {
    Binary(Endian),
    /// `string` with `hex`, `dec` or `oct`: ASCII digits in this base.
    String(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteTestOp {
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    /// `&`: (value & operand) != 0
    And,
    /// `^`: (value ^ operand) != 0
    Xor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteTest {
    pub bytes: u8,
    pub negated: bool,
    pub op: ByteTestOp,
    pub value: u64,
    pub offset: i32,
    pub relative: bool,
    pub format: NumberFormat,
    /// `bitmask`: applied (and shifted right by its trailing zeros) before comparing.
    pub bitmask: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteJump {
    pub bytes: u8,
    pub offset: i32,
    pub relative: bool,
    pub format: NumberFormat,
    pub multiplier: u32,
    /// `align`: round the jump up to a multiple of 4.
    pub align: bool,
    /// `from_beginning`: jump from the start of the buffer, not from after the read bytes.
    pub from_beginning: bool,
    /// `from_end`: jump from the end of the buffer.
    pub from_end: bool,
    pub post_offset: i32,
    pub bitmask: Option<u32>,
}

impl ByteJump {
    /// A big-endian binary jump with no options: multiplier 1, no alignment, no
    /// post-offset. Options are set on top as the rule names them.
    pub fn new(bytes: u8, offset: i32) -> ByteJump {
        ByteJump {
            bytes,
            offset,
            relative: false,
            format: NumberFormat::Binary(Endian::Big),
            multiplier: 1,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset: 0,
            bitmask: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsDataAt {
    pub offset: u32,
    pub relative: bool,
    pub negated: bool,
    pub rawbytes: bool,
}

/// Which app-layer sticky buffer a transaction rule inspects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sticky {
    /// `dns.query`: each query name of a DNS request.
    #[default]
    DnsQuery,
    /// `tls.sni`: the server name of the client's TLS ClientHello.
    TlsSni,
    /// `ja3.hash`: the MD5 of the ClientHello's JA3 string, in hex.
    Ja3Hash,
    /// `ja3.string`: the ClientHello's JA3 string.
    Ja3String,
    /// `ja3s.hash`: the MD5 of the ServerHello's JA3S string, in hex.
    Ja3sHash,
    /// `ja3s.string`: the ServerHello's JA3S string.
    Ja3sString,
    /// `tls.certs`: each certificate (DER) of the server's Certificate message.
    TlsCerts,
    /// `tls.cert_subject`: the server's first certificate's subject.
    TlsCertSubject,
    /// `tls.cert_issuer`: its issuer.
    TlsCertIssuer,
    /// `tls.cert_serial`: its serial number (`XX:XX:...`).
    TlsCertSerial,
    /// `http.method`: an HTTP request's method, as sent.
    HttpMethod,
    /// `http.uri`: the request target, normalized as libhtp does (path and query
    /// percent-decoded, dot segments removed; see [`crate::applayer::http`]).
    HttpUri,
    /// `http.uri.raw`: the request target as sent.
    HttpUriRaw,
    /// `http.request_line`: the request line without its line end.
    HttpRequestLine,
    /// `http.protocol`: the request line's protocol (`HTTP/1.1`).
    HttpProtocol,
    /// `http.host`: the request's host, without its port (lower-cased when it had none).
    HttpHost,
    /// `http.host.raw`: the Host header's value.
    HttpHostRaw,
    /// `http.user_agent`: the User-Agent header's value.
    HttpUserAgent,
    /// `http.cookie`: the Cookie header's value.
    HttpCookie,
    /// `http.accept`, `http.accept_lang`, `http.accept_enc`, `http.referer`,
    /// `http.content_type`, `http.content_len`, `http.connection`: that header's value.
    HttpAccept,
    HttpAcceptLang,
    HttpAcceptEnc,
    HttpReferer,
    HttpContentType,
    HttpContentLen,
    HttpConnection,
    /// `http.header`: every header but Cookie as `Name: value\r\n`.
    HttpHeader,
    /// `http.header_names`: `\r\n`, each header's name and `\r\n`, then `\r\n`.
    HttpHeaderNames,
    /// `http.start`: the request line and the headers as `http.header` writes them
    /// (Cookie too), then `\r\n`.
    HttpStart,
    /// `http.header.raw`: the header block as sent, with its empty line.
    HttpHeaderRaw,
    /// `http.request_body`: the request's body, de-chunked, up to libhtp's request body
    /// limit, offered once per new bytes (see [`crate::applayer::http`]).
    HttpRequestBody,
    /// `file.data` (`file_data`, `http.response_body`) on an HTTP response: its body's
    /// first bytes, as Suricata's file tracking keeps them (see
    /// [`crate::applayer::http_response`]).
    HttpFileData,
    /// `http.stat_code`: the response line's status token, as sent.
    HttpStatCode,
}

impl Sticky {
    /// Every buffer of an HTTP request, in the order Suricata 7 registers their engines.
    pub const HTTP_REQUEST: [Sticky; 21] = [
        Sticky::HttpMethod,
        Sticky::HttpUri,
        Sticky::HttpUriRaw,
        Sticky::HttpRequestLine,
        Sticky::HttpProtocol,
        Sticky::HttpHost,
        Sticky::HttpHostRaw,
        Sticky::HttpUserAgent,
        Sticky::HttpCookie,
        Sticky::HttpAccept,
        Sticky::HttpAcceptLang,
        Sticky::HttpAcceptEnc,
        Sticky::HttpReferer,
        Sticky::HttpContentType,
        Sticky::HttpContentLen,
        Sticky::HttpConnection,
        Sticky::HttpHeader,
        Sticky::HttpHeaderNames,
        Sticky::HttpStart,
        Sticky::HttpHeaderRaw,
        Sticky::HttpRequestBody,
    ];

    /// Every buffer of an HTTP response, in the order of the progress Suricata 7
    /// inspects them at.
    pub const HTTP_RESPONSE: [Sticky; 2] = [Sticky::HttpStatCode, Sticky::HttpFileData];

    /// The keyword's name, for messages.
    pub fn keyword(self) -> &'static str {
        match self {
            Sticky::DnsQuery => "dns.query",
            Sticky::TlsSni => "tls.sni",
            Sticky::Ja3Hash => "ja3.hash",
            Sticky::Ja3String => "ja3.string",
            Sticky::Ja3sHash => "ja3s.hash",
            Sticky::Ja3sString => "ja3s.string",
            Sticky::TlsCerts => "tls.certs",
            Sticky::TlsCertSubject => "tls.cert_subject",
            Sticky::TlsCertIssuer => "tls.cert_issuer",
            Sticky::TlsCertSerial => "tls.cert_serial",
            Sticky::HttpMethod => "http.method",
            Sticky::HttpUri => "http.uri",
            Sticky::HttpUriRaw => "http.uri.raw",
            Sticky::HttpRequestLine => "http.request_line",
            Sticky::HttpProtocol => "http.protocol",
            Sticky::HttpHost => "http.host",
            Sticky::HttpHostRaw => "http.host.raw",
            Sticky::HttpUserAgent => "http.user_agent",
            Sticky::HttpCookie => "http.cookie",
            Sticky::HttpAccept => "http.accept",
            Sticky::HttpAcceptLang => "http.accept_lang",
            Sticky::HttpAcceptEnc => "http.accept_enc",
            Sticky::HttpReferer => "http.referer",
            Sticky::HttpContentType => "http.content_type",
            Sticky::HttpContentLen => "http.content_len",
            Sticky::HttpConnection => "http.connection",
            Sticky::HttpHeader => "http.header",
            Sticky::HttpHeaderNames => "http.header_names",
            Sticky::HttpStart => "http.start",
            Sticky::HttpHeaderRaw => "http.header.raw",
            Sticky::HttpRequestBody => "http.request_body",
            Sticky::HttpFileData => "file.data",
            Sticky::HttpStatCode => "http.stat_code",
        }
    }

    /// The buffer of a keyword (or its legacy name).
    pub fn from_keyword(kw: &str) -> Option<Sticky> {
        Some(match kw {
            "dns.query" | "dns_query" => Sticky::DnsQuery,
            "tls.sni" | "tls_sni" => Sticky::TlsSni,
            "ja3.hash" | "ja3_hash" => Sticky::Ja3Hash,
            "ja3.string" | "ja3_string" => Sticky::Ja3String,
            "ja3s.hash" | "ja3s_hash" => Sticky::Ja3sHash,
            "ja3s.string" | "ja3s_string" => Sticky::Ja3sString,
            "tls.certs" => Sticky::TlsCerts,
            "tls.cert_subject" | "tls_cert_subject" => Sticky::TlsCertSubject,
            "tls.cert_issuer" | "tls_cert_issuer" => Sticky::TlsCertIssuer,
            "tls.cert_serial" | "tls_cert_serial" => Sticky::TlsCertSerial,
            // The legacy names of these are content modifiers, not buffers: not here.
            "http.method" => Sticky::HttpMethod,
            "http.uri" | "http.uri.normalized" => Sticky::HttpUri,
            "http.uri.raw" => Sticky::HttpUriRaw,
            "http.host" => Sticky::HttpHost,
            "http.host.raw" => Sticky::HttpHostRaw,
            "http.user_agent" => Sticky::HttpUserAgent,
            "http.cookie" => Sticky::HttpCookie,
            "http.header" => Sticky::HttpHeader,
            "http.header.raw" => Sticky::HttpHeaderRaw,
            "http.request_body" => Sticky::HttpRequestBody,
            "file.data" | "file_data" | "http.response_body" => Sticky::HttpFileData,
            "http.stat_code" => Sticky::HttpStatCode,
            // Sticky buffers under their legacy names too.
            "http.request_line" | "http_request_line" => Sticky::HttpRequestLine,
            "http.protocol" | "http_protocol" => Sticky::HttpProtocol,
            "http.accept" | "http_accept" => Sticky::HttpAccept,
            "http.accept_lang" | "http_accept_lang" => Sticky::HttpAcceptLang,
            "http.accept_enc" | "http_accept_enc" => Sticky::HttpAcceptEnc,
            "http.referer" | "http_referer" => Sticky::HttpReferer,
            "http.content_type" | "http_content_type" => Sticky::HttpContentType,
            "http.content_len" | "http_content_len" => Sticky::HttpContentLen,
            "http.connection" | "http_connection" => Sticky::HttpConnection,
            "http.header_names" | "http_header_names" => Sticky::HttpHeaderNames,
            "http.start" | "http_start" => Sticky::HttpStart,
            _ => return None,
        })
    }

    /// Whether the buffer is one of a TLS flow's.
    pub fn is_tls(self) -> bool {
        !matches!(self, Sticky::DnsQuery) && !self.is_http()
    }

    /// The app-layer protocol the buffer belongs to: one rule's buffers must share it.
    pub fn proto(self) -> Proto {
        if self == Sticky::DnsQuery {
            Proto::Dns
        } else if self.is_http() {
            Proto::Http
        } else {
            Proto::Tls
        }
    }

    /// Whether the buffer is one of an HTTP transaction's (request or response).
    pub fn is_http(self) -> bool {
        self.http_progress().is_some() || self.http_response_progress().is_some()
    }

    /// The response progress (libhtp's `htp_tx_res_progress_t`, 3 the body) at which
    /// Suricata 7 registers a response buffer's inspection engine.
    pub fn http_response_progress(self) -> Option<u8> {
        match self {
            Sticky::HttpStatCode => Some(1),
            Sticky::HttpFileData => Some(3),
            _ => None,
        }
    }

    /// The request progress (libhtp's `htp_tx_req_progress_t`: 1 the request line, 2 the
    /// headers, 3 the body) at which Suricata 7 registers the buffer's inspection engine.
    pub fn http_progress(self) -> Option<u8> {
        Some(match self {
            Sticky::HttpMethod
            | Sticky::HttpUri
            | Sticky::HttpUriRaw
            | Sticky::HttpRequestLine
            | Sticky::HttpProtocol => 1,
            Sticky::HttpHost
            | Sticky::HttpHostRaw
            | Sticky::HttpUserAgent
            | Sticky::HttpCookie
            | Sticky::HttpAccept
            | Sticky::HttpAcceptLang
            | Sticky::HttpAcceptEnc
            | Sticky::HttpReferer
            | Sticky::HttpContentType
            | Sticky::HttpContentLen
            | Sticky::HttpConnection
            | Sticky::HttpHeader
            | Sticky::HttpHeaderNames
            | Sticky::HttpStart => 2,
            Sticky::HttpHeaderRaw | Sticky::HttpRequestBody => 3,
            _ => return None,
        })
    }

    /// Whether Suricata 7 also inspects the buffer in responses (a rule without
    /// `flow:to_server` on it matches a response's too).
    pub fn http_both_ways(self) -> bool {
        matches!(
            self,
            Sticky::HttpProtocol
                | Sticky::HttpCookie
                | Sticky::HttpContentType
                | Sticky::HttpContentLen
                | Sticky::HttpConnection
                | Sticky::HttpHeader
                | Sticky::HttpHeaderNames
                | Sticky::HttpStart
                | Sticky::HttpHeaderRaw
        )
    }

    /// Whether the buffer is one of the ServerHello's, which Suricata inspects going to
    /// the client.
    pub fn is_server_hello(self) -> bool {
        matches!(self, Sticky::Ja3sHash | Sticky::Ja3sString)
    }

    /// Which part of a transaction the buffer is read from, and so when it is inspected:
    /// a DNS request, the client's hello, the server's hello, a certificate, an HTTP
    /// request, an HTTP response.
    pub fn part(self) -> u8 {
        match self {
            Sticky::DnsQuery => 0,
            Sticky::TlsSni | Sticky::Ja3Hash | Sticky::Ja3String => 1,
            Sticky::Ja3sHash | Sticky::Ja3sString => 2,
            Sticky::HttpFileData | Sticky::HttpStatCode => 5,
            k if k.is_http() => 4,
            _ => 3,
        }
    }

    /// Whether the buffer is a certificate's (a side's first certificate, or each of its
    /// chain), which Suricata inspects once the handshake is done.
    pub fn is_cert(self) -> bool {
        matches!(
            self,
            Sticky::TlsCerts
                | Sticky::TlsCertSubject
                | Sticky::TlsCertIssuer
                | Sticky::TlsCertSerial
        )
    }
}

/// The keywords of one app-layer sticky buffer (`dns.query`, `tls.sni`), with the
/// buffer's own checks: what Suricata inspects per buffer instance of a transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppBuffer {
    pub kind: Sticky,
    /// `dotprefix`: the buffer is inspected with a `.` before it (when not empty).
    pub dotprefix: bool,
    /// `bsize`: the (transformed) buffer's length; each given must hold.
    pub bsize: Vec<NumMatch>,
    /// Content, pcre, byte and isdataat keywords on the buffer, in rule order.
    pub payload: Vec<PayloadMatch>,
}

/// A payload keyword, in rule order.
#[derive(Clone, Debug, PartialEq)]
pub enum PayloadMatch {
    Content(ContentMatch),
    Pcre(PcreMatch),
    ByteTest(ByteTest),
    ByteJump(ByteJump),
    IsDataAt(IsDataAt),
}

/// A rule the engine enforces in full.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub location: Location,
    pub action: Action,
    pub proto: Proto,
    pub src: AddrSet,
    pub src_ports: PortSet,
    pub dst: AddrSet,
    pub dst_ports: PortSet,
    /// `<>`: the header matches in either direction.
    pub bidirectional: bool,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    pub classtype: Option<String>,
    /// The classification's description (EVE `alert.category`), empty without classtype.
    pub category: String,
    /// `priority` keyword, else the classtype's priority, else 3 (EVE `alert.severity`).
    pub priority: u8,
    pub references: Vec<String>,
    /// `metadata` key/value pairs, in order (EVE `alert.metadata` groups values by key).
    pub metadata: Vec<(String, String)>,
    pub target: Option<Target>,
    pub noalert: bool,
    pub flow: FlowMatch,
    pub dsize: Option<NumMatch>,
    /// `ttl`, `itype`, `icode` and `flags` may each repeat: as in Suricata 7, the packet
    /// must satisfy every occurrence.
    pub ttl: Vec<NumMatch>,
    pub itype: Vec<NumMatch>,
    pub icode: Vec<NumMatch>,
    pub ip_proto: Option<IpProtoMatch>,
    pub flags: Vec<FlagsMatch>,
    /// `stream_size`, which may repeat: every occurrence must hold.
    pub stream_size: Vec<StreamSizeMatch>,
    pub payload: Vec<PayloadMatch>,
    /// An app-layer sticky buffer: `dns.query` (a DNS request's query names, any of
    /// which may match) or `tls.sni`. Such a rule runs on transactions, not on packet
    /// payloads.
    pub app_buffer: Option<AppBuffer>,
    /// Further buffers of the same transaction (`tls.cert_subject` and `tls.cert_issuer`,
    /// say): each must match too.
    pub app_buffers_also: Vec<AppBuffer>,
    /// `flowbits` conditions and actions, in rule order.
    pub flowbits: Vec<Flowbit>,
    /// What decides whether a match becomes an alert: the rule's `threshold` or
    /// `detection_filter`, and the `threshold.config` entries naming it.
    pub filters: AlertFilters,
}

/// A `flowbits` operation. As in Suricata 7, `|` joins names into an OR group for
/// `isset`/`isnotset` only, and `&` is not an operator: it is part of the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flowbit {
    pub cmd: FlowbitCmd,
    /// One name, or several for an `isset`/`isnotset` OR group (`a|b`).
    pub names: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowbitCmd {
    Set,
    Unset,
    Toggle,
    /// Matches when the bit (or any bit of the group) is set.
    IsSet,
    /// Matches when the bit (or any bit of the group) is not set.
    IsNotSet,
}

impl FlowbitCmd {
    /// Conditions are checked before the rule matches; the others run after it matched.
    pub fn is_condition(self) -> bool {
        matches!(self, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet)
    }
}

/// Which matches a threshold counts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    BySrc,
    ByDst,
    ByRule,
    /// Source and destination address pair.
    ByBoth,
}

/// `threshold` types, `detection_filter` and `threshold.config`'s `rate_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdKind {
    /// Alert on the first `count` matches of each window.
    Limit,
    /// Alert on every `count`-th match within a window.
    Threshold,
    /// Alert once per window, on the `count`-th match.
    Both,
    /// `detection_filter`: alert on every match after the first `count` of a window.
    Detection,
}

/// A `threshold`/`detection_filter` keyword or a `threshold`/`event_filter` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdSpec {
    pub kind: ThresholdKind,
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
}

/// A `rate_filter` entry: after `count` matches within `seconds`, alerts take
/// `new_action` for `timeout` seconds (the alert is still raised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateFilter {
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
    pub new_action: Action,
    pub timeout: u32,
}

/// Which address a `suppress` entry looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressTrack {
    /// No track: every alert of the rule.
    All,
    BySrc,
    ByDst,
    /// Source or destination.
    ByEither,
}

/// A `suppress` entry: alerts whose tracked address is in `addrs` are not raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppress {
    pub track: SuppressTrack,
    pub addrs: AddrSet,
}

/// Every filter between a match and its alert, applied as Suricata does: suppressions
/// first, then the threshold, then the rate filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilters {
    pub suppress: Vec<Suppress>,
    pub threshold: Option<ThresholdSpec>,
    pub rate: Option<RateFilter>,
}

impl AlertFilters {
    pub fn is_empty(&self) -> bool {
        self.suppress.is_empty() && self.threshold.is_none() && self.rate.is_none()
    }
}

#[cfg(test)]
mod addr_tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Bisection on a normalized set answers as the linear scan of the original does, for
    /// long lists of nesting, overlapping and duplicate networks of both families.
    #[test]
    fn normalized_bisection_agrees_with_the_linear_scan() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut bisected = 0;
        // A small address space of both families, so networks nest and collide often.
        let addr = |r: u64| {
            if r.is_multiple_of(5) {
                IpAddr::V6(Ipv6Addr::from(
                    (0x2001_0db8u128 << 96) | u128::from(r >> 48 & 0xff),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r >> 40 & 0x3ff) as u32))
            }
        };
        let net = |r: u64| {
            let a = addr(r);
            let prefix = if a.is_ipv6() {
                120 + (r % 9) as u8
            } else {
                26 + (r % 7) as u8
            };
            IpNet { addr: a, prefix }
        };
        for round in 0..200 {
            let include: Vec<IpNet> = (0..16 + round % 64).map(|_| net(next())).collect();
            let exclude: Vec<IpNet> = (0..round % 20).map(|_| net(next())).collect();
            let plain = AddrSet {
                include,
                exclude,
                double_negated: false,
            };
            let mut norm = plain.clone();
            norm.normalize();
            assert!(norm.include.len() <= plain.include.len());
            bisected += usize::from(norm.include.len() >= BISECT_FROM);
            for _ in 0..500 {
                let ip = addr(next());
                assert_eq!(
                    norm.contains_normalized(&ip),
                    plain.contains(&ip),
                    "{ip} in {plain:?}"
                );
            }
        }
        assert!(
            bisected > 100,
            "only {bisected} rounds took the bisecting path"
        );
    }
}
