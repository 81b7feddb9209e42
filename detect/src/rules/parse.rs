//! One rule: header and options validated into a [`Rule`], or the list of keywords that
//! keep it from being enforced.

use std::sync::Arc;

use super::ast::*;
use super::classify::{Classifications, UnknownClasstypes, DEFAULT_PRIORITY};
use super::error::{PErr, PResult, RuleError};
use super::keywords;
use super::lexer::{self, RawOpt, Span};
use super::values::{content_bytes, parse_i64, parse_u64, unescape_text, unquote};
use super::vars::{HeaderError, Vars};

/// What a rule line turned into.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// Fully supported: the engine enforces it.
    Rule(Box<Rule>),
    /// Valid, but uses keywords (or an app-layer protocol) the engine does not implement.
    Unsupported {
        sid: u32,
        location: Location,
        /// Every unsupported keyword, deduplicated, in rule order (`app-layer:smtp` first).
        keywords: Vec<String>,
    },
}

/// Parse one rule (continuation lines already joined), as a non-strict load would if it
/// were the only rule.
pub fn parse_rule(
    text: &str,
    location: &Location,
    vars: &Vars,
    classes: &Classifications,
) -> Result<Parsed, RuleError> {
    let mut ctx = Context {
        classes,
        unknown: &mut UnknownClasstypes::default(),
        strict: false,
    };
    parse_rule_ext(text, location, vars, &mut ctx).map(|p| p.parsed)
}

/// What a parse needs beyond the rule's text: the classtypes, those missing from them
/// that earlier rules named, and whether Suricata's warnings are errors.
pub(crate) struct Context<'a> {
    pub classes: &'a Classifications,
    pub unknown: &'a mut UnknownClasstypes,
    /// Refuse what Suricata 7 only warns about unless strict: a classtype missing from
    /// the configuration, `classtype` given twice.
    pub strict: bool,
}

/// A parsed rule with what the loader checks beside it.
pub(crate) struct ParsedExt {
    pub parsed: Parsed,
    pub gid: u32,
    /// Byte offset of the `sid` keyword, for the duplicate-sid error.
    pub sid_pos: usize,
    /// Classtypes the rule names that the configuration lacks (lowercased).
    pub unknown_classtypes: Vec<String>,
}

/// [`parse_rule`] for the loader: with its classtype state and strictness, and what it
/// checks beside the rule.
pub(crate) fn parse_rule_ext(
    text: &str,
    location: &Location,
    vars: &Vars,
    ctx: &mut Context<'_>,
) -> Result<ParsedExt, RuleError> {
    parse_inner(text, location, vars, ctx).map_err(|e| e.at(text, location))
}

fn parse_inner(
    text: &str,
    location: &Location,
    vars: &Vars,
    ctx: &mut Context<'_>,
) -> PResult<ParsedExt> {
    let raw = lexer::split(text)?;
    let mut b = Builder::new(location.clone());
    b.header(&raw.header, vars)?;
    for opt in &raw.options {
        b.option(opt, ctx)?;
    }
    b.finish(text)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Msg,
    Sid,
    Rev,
    Gid,
    Classtype,
    Priority,
    Target,
    Flow,
    Dsize,
    IpProto,
    Threshold,
}

struct Builder {
    rule: Rule,
    explicit_priority: Option<u8>,
    /// Priority of the classtype in effect (see the `classtype` keyword).
    class_priority: Option<u8>,
    unknown_classtypes: Vec<String>,
    unsupported: Vec<String>,
    seen: Vec<Seen>,
    sid_pos: Option<usize>,
    /// Where `dsize` was given, for the error when its bound leaves the contents no room.
    dsize_pos: Option<usize>,
    flow_pos: Option<usize>,
    /// Buffer of each payload entry: 0 = packet payload, n > 0 = n-th sticky buffer.
    buffers: Vec<u32>,
    buffer: u32,
    next_buffer: u32,
    fast_pattern_seen: bool,
    /// Variables declared by `byte_extract`/`byte_math`, usable as numbers.
    byte_vars: Vec<String>,
    /// App-layer sticky buffers given (`dns.query`, `tls.sni`, ...), in order: the
    /// keywords of the `i`th are tagged [`app_tag`]`(i)`.
    app_buffers: Vec<AppBuffer>,
    /// Where `bsize` was given, for the error when the contents cannot fit it.
    bsize_pos: Option<usize>,
    urilen_pos: Option<usize>,
    app_buffer_pos: Option<usize>,
}

/// The buffer tag of the first app-layer sticky buffer's keywords; the next ones count
/// down from it (other sticky buffers count up from 1).
const APP_BUFFER: u32 = u32::MAX;

/// The tag of the `i`th app-layer buffer's keywords.
fn app_tag(i: usize) -> u32 {
    APP_BUFFER - i as u32
}

/// Which app-layer buffer a tag names, if any.
fn app_index(tag: u32) -> Option<usize> {
    let i = (APP_BUFFER - tag) as usize;
    (i < 16).then_some(i)
}

/// The HTTP request buffer of a pcre modifier (Suricata 7's `DetectPcreParse`).
fn pcre_buffer(flag: char) -> Sticky {
    match flag {
        'U' => Sticky::HttpUri,
        'I' => Sticky::HttpUriRaw,
        'P' => Sticky::HttpRequestBody,
        'H' => Sticky::HttpHeader,
        'M' => Sticky::HttpMethod,
        'C' => Sticky::HttpCookie,
        'V' => Sticky::HttpUserAgent,
        'W' => Sticky::HttpHost,
        _ => Sticky::HttpHostRaw,
    }
}

/// The pcre modifier of an HTTP request buffer, for messages.
fn pcre_flag(kind: Sticky) -> char {
    ['U', 'I', 'P', 'H', 'M', 'C', 'V', 'W', 'Z']
        .into_iter()
        .find(|&f| pcre_buffer(f) == kind)
        .unwrap_or('?')
}

fn err<T>(pos: usize, kw: &str, msg: impl Into<String>) -> PResult<T> {
    Err(PErr::new(pos, Some(kw), msg))
}

impl Builder {
    /// Keywords that look at one packet (Suricata's `SIG_FLAG_REQUIRE_PACKET`) cannot sit
    /// in a `tcp-stream` rule: Suricata 7 refuses the rule ("can't mix packet keywords
    /// with tcp-stream").
    fn packet_keyword(&self, pos: usize, kw: &str) -> PResult<()> {
        if self.rule.proto == Proto::TcpStream {
            return err(
                pos,
                kw,
                format!("'{kw}' looks at single packets and cannot be used in a tcp-stream rule"),
            );
        }
        Ok(())
    }

    fn new(location: Location) -> Self {
        Builder {
            rule: Rule::new(location, Action::Alert, Proto::Ip),
            explicit_priority: None,
            class_priority: None,
            unknown_classtypes: Vec::new(),
            unsupported: Vec::new(),
            seen: Vec::new(),
            sid_pos: None,
            dsize_pos: None,
            flow_pos: None,
            buffers: Vec::new(),
            buffer: 0,
            next_buffer: 1,
            fast_pattern_seen: false,
            byte_vars: Vec::new(),
            app_buffers: Vec::new(),
            bsize_pos: None,
            urilen_pos: None,
            app_buffer_pos: None,
        }
    }

    /// The index of the rule's buffer `kind`: a buffer named again continues its
    /// keywords, another one is added (at most 16).
    fn app_buffer_index(&mut self, kind: Sticky, pos: usize, kw: &str) -> PResult<usize> {
        if let Some(i) = self.app_buffers.iter().position(|b| b.kind == kind) {
            return Ok(i);
        }
        if self.app_buffers.len() >= 16 {
            return err(pos, kw, "more than 16 app-layer buffers in one rule");
        }
        self.app_buffers.push(AppBuffer {
            kind,
            ..Default::default()
        });
        Ok(self.app_buffers.len() - 1)
    }

    fn unsupported(&mut self, kw: String) {
        if !self.unsupported.contains(&kw) {
            self.unsupported.push(kw);
        }
    }

    fn once(&mut self, s: Seen, pos: usize, kw: &str) -> PResult<()> {
        if self.seen.contains(&s) {
            return err(pos, kw, format!("duplicated '{kw}' keyword"));
        }
        self.seen.push(s);
        Ok(())
    }

    fn header(&mut self, h: &[Span], vars: &Vars) -> PResult<()> {
        if h.len() != 7 {
            let pos = h.get(7).or(h.last()).map_or(0, |s| s.pos);
            return err(
                pos,
                "header",
                format!(
                    "expected 'action proto src sport direction dst dport', found {} word(s)",
                    h.len()
                ),
            );
        }
        self.rule.action = match h[0].text {
            "alert" => Action::Alert,
            "pass" => Action::Pass,
            "drop" => Action::Drop,
            "reject" => Action::Reject,
            "rejectsrc" => Action::RejectSrc,
            "rejectdst" => Action::RejectDst,
            "rejectboth" => Action::RejectBoth,
            other => return err(h[0].pos, "action", format!("unknown action '{other}'")),
        };
        self.rule.proto = match h[1].text {
            "tcp" => Proto::Tcp,
            "tcp-pkt" => Proto::TcpPkt,
            "tcp-stream" => Proto::TcpStream,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            "ip" => Proto::Ip,
            "ipv4" | "ip4" => Proto::Ipv4,
            "ipv6" | "ip6" => Proto::Ipv6,
            "dns" => Proto::Dns,
            "tls" => Proto::Tls,
            "http" => Proto::Http,
            p if !p.is_empty()
                && p.bytes().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_'
                })
                && p.as_bytes()[0].is_ascii_lowercase() =>
            {
                Proto::AppLayer(p.to_owned())
            }
            other => return err(h[1].pos, "protocol", format!("unknown protocol '{other}'")),
        };
        if let Proto::AppLayer(name) = &self.rule.proto {
            self.unsupported(format!("app-layer:{name}"));
        }
        self.rule.src = self.addr(h[2], vars)?;
        self.rule.src_ports = self.ports(h[3], vars)?;
        self.rule.bidirectional = match h[4].text {
            "->" => false,
            "<>" => true,
            other => {
                return err(
                    h[4].pos,
                    "direction",
                    format!("'{other}' is not a direction: use '->' or '<>'"),
                )
            }
        };
        self.rule.dst = self.addr(h[5], vars)?;
        self.rule.dst_ports = self.ports(h[6], vars)?;
        Ok(())
    }

    fn header_err(&mut self, s: Span, kw: &str, e: HeaderError) -> PResult<()> {
        if e.unsupported {
            self.unsupported(format!("{kw}:nested-negation"));
            return Ok(());
        }
        err(s.pos.saturating_add(e.pos), kw, e.message)
    }

    fn addr(&mut self, s: Span, vars: &Vars) -> PResult<AddrSet> {
        match vars.parse_addresses(s.text) {
            Ok(a) => Ok(a),
            Err(e) => self.header_err(s, "address", e).map(|_| AddrSet::default()),
        }
    }

    fn ports(&mut self, s: Span, vars: &Vars) -> PResult<PortSet> {
        match vars.parse_ports(s.text) {
            Ok(p) => Ok(p),
            Err(e) => self.header_err(s, "port", e).map(|_| PortSet::default()),
        }
    }

    fn option(&mut self, opt: &RawOpt, ctx: &mut Context<'_>) -> PResult<()> {
        let kw = opt.name.text;
        let pos = opt.name.pos;
        let value = opt.value.map(|v| v.text);
        let need = |v: Option<&str>| -> PResult<String> {
            match v {
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => err(pos, kw, "needs a value"),
            }
        };
        let none = |v: Option<&str>| -> PResult<()> {
            match v {
                None => Ok(()),
                Some(_) => err(pos, kw, "takes no value"),
            }
        };
        let vpos = opt.value.map_or(pos, |v| v.pos);
        match kw {
            "msg" => {
                self.once(Seen::Msg, pos, kw)?;
                self.rule.msg = unescape_text(&need(value)?).or_else(|m| err(vpos, kw, m))?;
            }
            "sid" => {
                self.once(Seen::Sid, pos, kw)?;
                let v = need(value)?;
                match v.trim().parse::<u32>() {
                    Ok(0) => return err(vpos, kw, "sid value 0 is invalid"),
                    Ok(n) => self.rule.sid = n,
                    Err(_) => return err(vpos, kw, format!("bad number '{v}'")),
                }
                self.sid_pos = Some(pos);
            }
            "rev" | "gid" => {
                self.once(if kw == "rev" { Seen::Rev } else { Seen::Gid }, pos, kw)?;
                let v = need(value)?;
                let n = v
                    .trim()
                    .parse::<u32>()
                    .or_else(|_| err(vpos, kw, format!("bad number '{v}'")))?;
                if kw == "rev" {
                    // Suricata 7's bounds: revisions start at 1, and u32::MAX is refused.
                    if n == 0 || n == u32::MAX {
                        return err(vpos, kw, format!("rev {n} is not in 1..=4294967294"));
                    }
                    self.rule.rev = n;
                } else {
                    self.rule.gid = n;
                }
            }
            "classtype" => {
                // Suricata 7 warns about a second classtype and keeps the one of higher
                // priority; strict, it refuses the rule, as it does an unknown classtype.
                if ctx.strict {
                    self.once(Seen::Classtype, pos, kw)?;
                }
                let v = need(value)?;
                let name = v.trim();
                let (priority, category) = match ctx.classes.get(name) {
                    Some(c) => (c.priority, Some(c.description.as_str())),
                    None if ctx.strict => {
                        return err(vpos, kw, format!("unknown classtype '{name}'"));
                    }
                    None => {
                        let lower = name.to_ascii_lowercase();
                        let seen = ctx.unknown.name(&lower);
                        if !self.unknown_classtypes.contains(&lower) {
                            self.unknown_classtypes.push(lower);
                        }
                        seen
                    }
                };
                // The first classtype sets the class; a later one of higher priority (a
                // smaller number) replaces its priority, and its category where it has
                // one (an unknown classtype's first use has none).
                let first = self.class_priority.is_none();
                if first || self.class_priority.is_some_and(|p| priority < p) {
                    self.class_priority = Some(priority);
                    if first || category.is_some() {
                        self.rule.classtype = Some(name.to_owned());
                    }
                    if let Some(d) = category {
                        self.rule.category = d.to_owned();
                    }
                }
            }
            "priority" => {
                // Suricata 7 warns about a second priority and keeps the higher (smaller
                // number); strict, the warning refuses the rule.
                if ctx.strict {
                    self.once(Seen::Priority, pos, kw)?;
                }
                let v = need(value)?;
                // Suricata 7 takes any non-negative number; alert records hold one byte.
                match v.trim().parse::<u8>() {
                    Ok(n) => {
                        self.explicit_priority =
                            Some(self.explicit_priority.map_or(n, |p| p.min(n)))
                    }
                    _ => return err(vpos, kw, format!("priority '{v}' is not in 0..=255")),
                }
            }
            "reference" => {
                let v = need(value)?;
                if !v.contains(',') {
                    return err(vpos, kw, "expected 'type,id'");
                }
                self.rule.references.push(v.trim().to_owned());
            }
            "metadata" => {
                let v = need(value)?;
                for item in v.split(',') {
                    let item = item.trim();
                    if item.is_empty() {
                        continue;
                    }
                    let (k, val) = item.split_once(' ').unwrap_or((item, ""));
                    self.rule
                        .metadata
                        .push((k.trim().to_owned(), val.trim().to_owned()));
                }
            }
            "target" => {
                self.once(Seen::Target, pos, kw)?;
                self.rule.target = Some(match need(value)?.trim() {
                    "src_ip" => Target::SrcIp,
                    "dest_ip" => Target::DestIp,
                    other => {
                        return err(
                            vpos,
                            kw,
                            format!("expected src_ip or dest_ip, not '{other}'"),
                        )
                    }
                });
            }
            "noalert" => {
                none(value)?;
                self.rule.noalert = true;
            }
            "content" => {
                let v = need(value)?;
                let (negated, pattern) = content_bytes(&v).or_else(|m| err(vpos, kw, m))?;
                self.push(PayloadMatch::Content(ContentMatch {
                    pattern,
                    negated,
                    ..ContentMatch::default()
                }));
            }
            "nocase" | "rawbytes" | "startswith" | "endswith" | "fast_pattern" | "offset"
            | "depth" | "distance" | "within" => self.modifier(kw, pos, opt.value)?,
            "pcre" => self.pcre(&need(value)?, vpos, pos)?,
            "byte_test" => self.byte_test(&need(value)?, vpos)?,
            "byte_jump" => self.byte_jump(&need(value)?, vpos)?,
            "isdataat" => self.isdataat(&need(value)?, vpos)?,
            "dsize" => {
                self.once(Seen::Dsize, pos, kw)?;
                self.packet_keyword(pos, kw)?;
                self.dsize_pos = Some(pos);
                self.rule.dsize =
                    Some(num_match(&need(value)?, u16::MAX as u64).or_else(|m| err(vpos, kw, m))?);
            }
            // Each may repeat (Suricata 7 loads such rules and requires every one).
            "ttl" | "itype" | "icode" => {
                self.packet_keyword(pos, kw)?;
                let m = num_match(&need(value)?, u8::MAX as u64).or_else(|m| err(vpos, kw, m))?;
                match kw {
                    "ttl" => self.rule.ttl.push(m),
                    "itype" => self.rule.itype.push(m),
                    _ => self.rule.icode.push(m),
                }
            }
            "stream_size" => {
                let m = stream_size(&need(value)?).or_else(|m| err(vpos, kw, m))?;
                self.rule.stream_size.push(m);
            }
            "ip_proto" => {
                self.once(Seen::IpProto, pos, kw)?;
                if !matches!(self.rule.proto, Proto::Ip | Proto::Ipv4 | Proto::Ipv6) {
                    return err(pos, kw, "ip_proto can only be used in 'ip' rules");
                }
                self.rule.ip_proto = Some(IpProtoMatch(
                    ip_proto(&need(value)?).or_else(|m| err(vpos, kw, m))?,
                ));
            }
            "flags" => {
                self.packet_keyword(pos, kw)?;
                let f = flags(&need(value)?).or_else(|m| err(vpos, kw, m))?;
                self.rule.flags.push(f);
            }
            "flow" => {
                self.once(Seen::Flow, pos, kw)?;
                self.flow_pos = Some(pos);
                self.flow(&need(value)?, vpos)?;
            }
            "flowbits" => match flowbits(&need(value)?).or_else(|m| err(vpos, kw, m))? {
                Fb::Bit(fb) => self.rule.flowbits.push(fb),
                Fb::NoAlert => self.rule.noalert = true,
                Fb::Unsupported(k) => self.unsupported(k),
            },
            "threshold" | "detection_filter" => {
                // Suricata allows one of them per rule.
                if self.seen.contains(&Seen::Threshold) {
                    return err(pos, kw, "only one threshold or detection_filter per rule");
                }
                self.seen.push(Seen::Threshold);
                let spec = threshold(&need(value)?, kw == "detection_filter")
                    .or_else(|m| err(vpos, kw, m))?;
                self.rule.filters.threshold = Some(spec);
            }
            "dns.query"
            | "dns_query"
            | "tls.sni"
            | "tls_sni"
            | "ja3.hash"
            | "ja3_hash"
            | "ja3.string"
            | "ja3_string"
            | "ja3s.hash"
            | "ja3s_hash"
            | "ja3s.string"
            | "ja3s_string"
            | "tls.certs"
            | "tls.cert_subject"
            | "tls_cert_subject"
            | "tls.cert_issuer"
            | "tls_cert_issuer"
            | "tls.cert_serial"
            | "tls_cert_serial"
            | "http.method"
            | "http.uri"
            | "http.uri.normalized"
            | "http.uri.raw"
            | "http.host"
            | "http.host.raw"
            | "http.user_agent"
            | "http.cookie"
            | "http.header"
            | "http.header.raw"
            | "http.request_line"
            | "http_request_line"
            | "http.protocol"
            | "http_protocol"
            | "http.accept"
            | "http_accept"
            | "http.accept_lang"
            | "http_accept_lang"
            | "http.accept_enc"
            | "http_accept_enc"
            | "http.referer"
            | "http_referer"
            | "http.content_type"
            | "http_content_type"
            | "http.content_len"
            | "http_content_len"
            | "http.connection"
            | "http_connection"
            | "http.header_names"
            | "http_header_names"
            | "http.start"
            | "http_start"
            | "http.request_body"
            | "file.data"
            | "file_data"
            | "http.response_body"
            | "http.stat_code" => {
                none(value)?;
                let Some(kind) = Sticky::from_keyword(kw) else {
                    return err(pos, kw, "not an app-layer buffer");
                };
                let tcp_only = matches!(
                    self.rule.proto,
                    Proto::Tcp | Proto::TcpPkt | Proto::TcpStream
                );
                match kind {
                    // Files of other protocols (SMTP, SMB, FTP, ...) are not followed:
                    // only an `alert http` rule's file.data is the response body alone.
                    Sticky::HttpFileData if self.rule.proto != Proto::Http => {
                        if matches!(self.rule.proto, Proto::Udp | Proto::Icmp | Proto::Dns | Proto::Tls | Proto::TcpPkt) {
                            return err(pos, kw, "file.data reads files carried over TCP app-layer protocols (Suricata 7 refuses the rule)");
                        }
                        self.unsupported(format!("file.data:{}", proto_name(&self.rule.proto)));
                    }
                    // DNS over TCP is not parsed: a TCP-only rule could never match.
                    Sticky::DnsQuery if tcp_only => self.unsupported(format!("{kw}:tcp")),
                    Sticky::DnsQuery if self.rule.proto == Proto::Tls => {
                        return err(pos, kw, "a tls rule cannot inspect dns.query (Suricata 7 refuses the rule)")
                    }
                    k if !k.is_http() && self.rule.proto == Proto::Http => {
                        return err(
                            pos,
                            kw,
                            format!("an http rule cannot inspect {} (Suricata 7 refuses the rule)", k.keyword()),
                        )
                    }
                    k if k.is_tls() && self.rule.proto == Proto::Dns => {
                        return err(
                            pos,
                            kw,
                            format!("a dns rule cannot inspect {} (Suricata 7 refuses the rule)", k.keyword()),
                        )
                    }
                    // Suricata takes `alert udp ... tls.sni` (which never matches: TLS
                    // is TCP), but not a TCP rule on single packets.
                    k if (k.is_tls() || k.is_http()) && self.rule.proto == Proto::TcpPkt => {
                        return err(
                            pos,
                            kw,
                            format!("tcp-pkt rules look at single packets, {} at a stream's transaction (Suricata 7 refuses the rule)", k.keyword()),
                        )
                    }
                    k if k.is_http() && matches!(self.rule.proto, Proto::Dns | Proto::Tls) => {
                        return err(
                            pos,
                            kw,
                            format!("a {} rule cannot inspect {} (Suricata 7 refuses the rule)", if self.rule.proto == Proto::Dns { "dns" } else { "tls" }, k.keyword()),
                        )
                    }
                    // HTTP is parsed over TCP only.
                    k if k.is_http() && !matches!(self.rule.proto, Proto::Tcp | Proto::TcpStream | Proto::Http) => {
                        self.unsupported(format!("{kw}:{}", proto_name(&self.rule.proto)))
                    }
                    _ => {}
                }
                self.same_protocol(kind, pos, kw)?;
                if let Some(first) = self.app_buffers.first().map(|b| b.kind) {
                    if first.part() != kind.part() {
                        // A hello's and a certificate's buffers, say: Suricata inspects
                        // them at different points of the transaction.
                        self.unsupported(format!("{}+{}", first.keyword(), kind.keyword()));
                    }
                }
                // A buffer named again continues its keywords; another one starts.
                let i = self.app_buffer_index(kind, pos, kw)?;
                self.app_buffer_pos.get_or_insert(pos);
                self.buffer = app_tag(i);
            }
            "urilen" => {
                // A length check on the normalized (or, with `,raw`, the raw) URI, without
                // making it the sticky buffer.
                let v = need(value)?;
                let (num, kind) = match v.rsplit_once(',') {
                    Some((n, f)) if f.trim() == "raw" => (n, Sticky::HttpUriRaw),
                    Some((n, f)) if f.trim() == "norm" => (n, Sticky::HttpUri),
                    Some(_) => return err(vpos, kw, "expected 'N[,raw|norm]'"),
                    None => (v.as_str(), Sticky::HttpUri),
                };
                let m = num_match(num, u64::from(u16::MAX)).or_else(|m| err(vpos, kw, m))?;
                if matches!(self.rule.proto, Proto::Dns | Proto::Tls | Proto::TcpPkt) {
                    return err(
                        pos,
                        kw,
                        "urilen looks at an HTTP request (Suricata 7 refuses the rule)",
                    );
                }
                if self
                    .app_buffers
                    .first()
                    .is_some_and(|b| b.kind.proto() != kind.proto())
                {
                    return err(pos, kw, "urilen and another protocol's buffer in one rule (Suricata 7 refuses the rule)");
                }
                if !matches!(self.rule.proto, Proto::Tcp | Proto::TcpStream | Proto::Http) {
                    self.unsupported(format!("{kw}:{}", proto_name(&self.rule.proto)));
                }
                let i = self.app_buffer_index(kind, pos, kw)?;
                self.app_buffer_pos.get_or_insert(pos);
                if let Some(b) = self.app_buffers.get_mut(i) {
                    b.bsize.push(m);
                }
                self.urilen_pos.get_or_insert(pos);
            }
            "bsize" if app_index(self.buffer).is_some() => {
                let m = num_match(&need(value)?, u64::MAX).or_else(|m| err(vpos, kw, m))?;
                // Suricata 7 takes a second bsize and requires both; its content check
                // looks at the first.
                if let Some(b) = app_index(self.buffer).and_then(|i| self.app_buffers.get_mut(i)) {
                    b.bsize.push(m);
                }
                self.bsize_pos.get_or_insert(pos);
            }
            "dotprefix" if app_index(self.buffer).is_some() => {
                none(value)?;
                // After a content Suricata 7 starts a second, transformed instance of the
                // buffer for the keywords that follow; tidewatch keeps one per rule.
                if self.buffers.contains(&self.buffer) {
                    self.unsupported("dotprefix:after-content".to_owned());
                }
                if let Some(b) = app_index(self.buffer).and_then(|i| self.app_buffers.get_mut(i)) {
                    b.dotprefix = true;
                }
            }
            "pkt_data" => {
                none(value)?;
                self.unsupported(kw.to_owned());
                self.buffer = 0;
            }
            "byte_extract" | "byte_math" => {
                self.unsupported(kw.to_owned());
                let v = need(value)?;
                let parts: Vec<&str> = v.split(',').map(str::trim).collect();
                if kw == "byte_extract" {
                    // Not enforced, but what Suricata 7 refuses is an error here too.
                    byte_extract_form(&parts).or_else(|m| err(vpos, kw, m))?;
                    match parts.get(2) {
                        Some(name) if !name.is_empty() => self.byte_vars.push((*name).to_owned()),
                        _ => return err(vpos, kw, "expected 'bytes,offset,name[,...]'"),
                    }
                } else if let Some(r) = parts.iter().find_map(|p| p.strip_prefix("result")) {
                    self.byte_vars.push(r.trim().to_owned());
                } else {
                    return err(vpos, kw, "missing 'result name'");
                }
            }
            _ => match keywords::lookup(kw) {
                Some(sticky) => {
                    self.unsupported(kw.to_owned());
                    if sticky {
                        self.buffer = self.next_buffer;
                        self.next_buffer = self.next_buffer.saturating_add(1);
                    }
                }
                None => return err(pos, kw, format!("unknown rule keyword '{kw}'")),
            },
        }
        Ok(())
    }

    fn push(&mut self, m: PayloadMatch) {
        self.rule.payload.push(m);
        self.buffers.push(self.buffer);
    }

    /// The most recent content, for its modifiers.
    fn last_content(&mut self) -> Option<&mut ContentMatch> {
        self.rule.payload.iter_mut().rev().find_map(|m| match m {
            PayloadMatch::Content(c) => Some(c),
            _ => None,
        })
    }

    /// Whether a content or pcre precedes in the buffer tagged `tag` (for relative
    /// keywords).
    fn has_previous_match_in(&self, tag: u32) -> bool {
        self.rule.payload.iter().zip(&self.buffers).any(|(m, &b)| {
            b == tag && matches!(m, PayloadMatch::Content(_) | PayloadMatch::Pcre(_))
        })
    }

    fn modifier(&mut self, kw: &str, pos: usize, value: Option<Span>) -> PResult<()> {
        let vpos = value.map_or(pos, |v| v.pos);
        let value = value.map(|v| v.text.trim());
        // Numbers may name a byte_extract variable: valid, but unsupported.
        let var_ok = |v: &str, vars: &[String]| vars.iter().any(|n| n == v);
        let byte_vars = self.byte_vars.clone();
        let fp_seen = self.fast_pattern_seen;
        let Some(c) = self.last_content() else {
            return err(pos, kw, format!("'{kw}' needs a preceding content"));
        };
        let len = c.pattern.len();
        let mut uses_var = false;
        let mut set_fp = false;
        let no_value = |v: Option<&str>| match v {
            None => Ok(()),
            Some(_) => err(pos, kw, "takes no value"),
        };
        let number = |v: Option<&str>, min: i64, max: i64, uses_var: &mut bool| -> PResult<i64> {
            let Some(v) = v.filter(|v| !v.is_empty()) else {
                return err(pos, kw, "needs a value");
            };
            if var_ok(v, &byte_vars) {
                *uses_var = true;
                return Ok(0);
            }
            match parse_i64(v) {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                Some(_) => err(vpos, kw, format!("invalid value for {kw}: {v}")),
                None if v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                    err(vpos, kw, format!("unknown byte_extract variable '{v}'"))
                }
                None => err(vpos, kw, format!("invalid value for {kw}: {v}")),
            }
        };
        let fp_only = c.fast_pattern.is_some_and(|f| f.only);
        let absolute = c.offset.is_some() || c.depth.is_some();
        let relative = c.distance.is_some() || c.within.is_some();
        let mix = "can't use a relative keyword like within/distance with an absolute keyword like depth/offset for the same content";
        if fp_only && matches!(kw, "offset" | "depth" | "distance" | "within") {
            return err(pos, kw, "can't be used along with 'fast_pattern:only'");
        }
        match kw {
            "nocase" => {
                no_value(value)?;
                if c.nocase {
                    return err(
                        pos,
                        kw,
                        "can't use multiple nocase modifiers with the same content",
                    );
                }
                c.nocase = true;
            }
            "rawbytes" => {
                no_value(value)?;
                if c.rawbytes {
                    return err(
                        pos,
                        kw,
                        "can't use multiple rawbytes modifiers for the same content",
                    );
                }
                c.rawbytes = true;
            }
            "startswith" => {
                no_value(value)?;
                if absolute || relative || c.startswith {
                    return err(pos, kw, "can't be combined with depth, offset, distance, within or another startswith");
                }
                c.startswith = true;
            }
            "endswith" => {
                // Suricata 7 takes a repeated endswith (unlike startswith).
                no_value(value)?;
                c.endswith = true;
            }
            "offset" | "depth" => {
                let n = number(value, 0, u16::MAX as i64, &mut uses_var)?;
                if relative {
                    return err(pos, kw, mix);
                }
                if c.startswith {
                    return err(pos, kw, "can't be combined with startswith");
                }
                let n = u32::try_from(n).unwrap_or(0);
                if kw == "offset" {
                    if c.offset.is_some() {
                        return err(pos, kw, "can't use multiple offsets for the same content");
                    }
                    c.offset = Some(n);
                } else {
                    if c.depth.is_some() {
                        return err(pos, kw, "can't use multiple depths for the same content");
                    }
                    if !uses_var && (n as usize) < len {
                        return err(
                            vpos,
                            kw,
                            format!("depth:{n} smaller than content of len {len}"),
                        );
                    }
                    c.depth = Some(n);
                }
            }
            "distance" | "within" => {
                let n = number(value, -(u16::MAX as i64), u16::MAX as i64, &mut uses_var)?;
                if absolute {
                    return err(pos, kw, mix);
                }
                if c.startswith {
                    return err(pos, kw, "can't be combined with startswith");
                }
                if c.negated && c.fast_pattern.is_some() {
                    return err(
                        pos,
                        kw,
                        "relative modifiers can't be used on a negated fast_pattern content",
                    );
                }
                if kw == "distance" {
                    if c.distance.is_some() {
                        return err(pos, kw, "can't use multiple distances for the same content");
                    }
                    c.distance = Some(i32::try_from(n).unwrap_or(0));
                } else {
                    if c.within.is_some() {
                        return err(pos, kw, "can't use multiple withins for the same content");
                    }
                    if !uses_var && n < len as i64 {
                        return err(vpos, kw, format!("within argument {n} is less than the content length {len}, so it can never match"));
                    }
                    c.within = Some(u32::try_from(n).unwrap_or(0));
                }
            }
            "fast_pattern" => {
                if fp_seen {
                    return err(
                        pos,
                        kw,
                        "fast_pattern can be used on only one content in a rule",
                    );
                }
                let mut fp = FastPattern::default();
                match value {
                    None => {
                        if c.negated && relative {
                            return err(pos, kw, "fast_pattern can't be used on negated content with relative modifiers");
                        }
                    }
                    Some("only") => {
                        if c.negated || relative || absolute {
                            return err(pos, kw, "fast_pattern:only can't be used with negated content or with distance, within, offset or depth");
                        }
                        fp.only = true;
                    }
                    Some(v) => {
                        let parsed = v.split_once(',').and_then(|(a, b)| {
                            Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                        });
                        let Some((o, l)) = parsed else {
                            return err(
                                vpos,
                                kw,
                                format!("expected 'only' or 'offset,length', not '{v}'"),
                            );
                        };
                        if l == 0 || (o as usize).saturating_add(l as usize) > len {
                            return err(vpos, kw, format!("fast pattern (offset {o} + length {l}) exceeds pattern length {len}"));
                        }
                        fp.chop = Some((o, l));
                    }
                }
                c.fast_pattern = Some(fp);
                set_fp = true;
            }
            _ => return err(pos, kw, "not a content modifier"),
        }
        if set_fp {
            self.fast_pattern_seen = true;
        }
        if uses_var {
            self.unsupported("byte_extract".to_owned());
        }
        Ok(())
    }

    fn pcre(&mut self, v: &str, vpos: usize, pos: usize) -> PResult<()> {
        let kw = "pcre";
        let v = v.trim();
        let (negated, v) = match v.strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, v),
        };
        let inner = unquote(v).or_else(|m| err(vpos, kw, m))?;
        // Suricata takes the negation inside the quotes too: `pcre:"!/x/"`.
        let (negated, inner) = match inner.strip_prefix('!') {
            Some(r) if !negated => (true, r),
            Some(_) => return err(vpos, kw, "negated twice ('!' before and inside the quotes)"),
            None => (negated, inner),
        };
        let Some(body) = inner.strip_prefix('/') else {
            return err(vpos, kw, "expected \"/regex/flags\"");
        };
        let Some(slash) = body.rfind('/') else {
            return err(vpos, kw, "missing closing '/'");
        };
        let source = &body[..slash];
        let flag_text = &body[slash + 1..];
        let mut builder = pcre2::bytes::RegexBuilder::new();
        builder.jit_if_available(true);
        let mut relative = false;
        let mut anchored = false;
        let mut ungreedy = false;
        let mut flags = String::new();
        // The HTTP request buffer a flag names (`/U`: `http.uri`, ...).
        let mut http: Option<Sticky> = None;
        for f in flag_text.chars() {
            match f {
                'i' => {
                    builder.caseless(true);
                }
                's' => {
                    builder.dotall(true);
                }
                'm' => {
                    builder.multi_line(true);
                }
                'x' => {
                    builder.extended(true);
                }
                'A' => anchored = true,
                'G' => ungreedy = true,
                'R' => relative = true,
                'B' | 'O' => {}
                'E' => self.unsupported("pcre:E".to_owned()),
                'U' | 'I' | 'P' | 'H' | 'M' | 'C' | 'V' | 'W' | 'Z' => {
                    if http.is_some() {
                        return err(vpos, kw, "more than one buffer modifier");
                    }
                    http = Some(pcre_buffer(f));
                }
                'Q' | 'D' | 'S' | 'Y' | 'K' => self.unsupported(format!("pcre:{f}")),
                other => return err(vpos, kw, format!("unknown regex modifier '{other}'")),
            }
            if matches!(f, 'i' | 's' | 'm' | 'x' | 'A' | 'E' | 'G') {
                flags.push(f);
            }
        }
        let mut pattern = String::with_capacity(source.len() + 12);
        if ungreedy {
            pattern.push_str("(?U)");
        }
        if anchored {
            // PCRE_ANCHORED: match only at the start offset. In extended mode a newline
            // ends a trailing `#` comment before the group closes.
            pattern.push_str("\\G(?:");
            pattern.push_str(source);
            pattern.push_str(if flag_text.contains('x') { "\n)" } else { ")" });
        } else {
            pattern.push_str(source);
        }
        // A buffer modifier puts the regex in that buffer, as the sticky keyword would,
        // but leaves the rule's current buffer as it is.
        let tag = match http {
            Some(kind) => self.pcre_buffer_tag(kind, pos)?,
            None => self.buffer,
        };
        if relative && !self.has_previous_match_in(tag) {
            return err(
                pos,
                kw,
                "pcre with /R (relative) needs a preceding match in the same buffer",
            );
        }
        let regex = builder.build(&pattern).or_else(|e| {
            err(
                vpos,
                kw,
                format!("pcre2 compile of \"/{source}/\" failed: {e}"),
            )
        })?;
        self.rule.payload.push(PayloadMatch::Pcre(PcreMatch {
            source: source.to_owned(),
            negated,
            relative,
            flags,
            regex: Arc::new(regex),
        }));
        self.buffers.push(tag);
        Ok(())
    }

    /// One rule's app-layer buffers must belong to one protocol.
    fn same_protocol(&self, kind: Sticky, pos: usize, kw: &str) -> PResult<()> {
        match self.app_buffers.first().map(|b| b.kind) {
            Some(first) if first.proto() != kind.proto() => err(
                pos,
                kw,
                format!(
                    "{} and {} belong to different protocols (Suricata 7 refuses the rule)",
                    first.keyword(),
                    kind.keyword()
                ),
            ),
            _ => Ok(()),
        }
    }

    /// The buffer tag for a pcre with an HTTP buffer modifier: Suricata 7 refuses one
    /// while another sticky buffer is active; otherwise it joins that buffer's keywords.
    fn pcre_buffer_tag(&mut self, kind: Sticky, pos: usize) -> PResult<u32> {
        let kw = "pcre";
        if let Some(i) = app_index(self.buffer) {
            return match self.app_buffers.get(i) {
                Some(b) if b.kind == kind => Ok(self.buffer),
                _ => err(
                    pos,
                    kw,
                    format!("a /{} modifier while another sticky buffer is active (Suricata 7 refuses the rule)", pcre_flag(kind)),
                ),
            };
        }
        if self.buffer != 0 {
            // An unsupported sticky buffer is active: Suricata refuses this too.
            return err(pos, kw, "a buffer modifier while another sticky buffer is active (Suricata 7 refuses the rule)");
        }
        self.same_protocol(kind, pos, kw)?;
        if !matches!(self.rule.proto, Proto::Tcp | Proto::TcpStream | Proto::Http) {
            self.unsupported(format!(
                "pcre:{}:{}",
                pcre_flag(kind),
                proto_name(&self.rule.proto)
            ));
        }
        let i = self.app_buffer_index(kind, pos, kw)?;
        self.app_buffer_pos.get_or_insert(pos);
        Ok(app_tag(i))
    }

    /// A number field of byte_test/byte_jump/isdataat: a literal or a declared variable.
    fn num_field(&mut self, s: &str, kw: &str, vpos: usize) -> PResult<i64> {
        let s = s.trim();
        if let Some(n) = parse_i64(s).or_else(|| parse_u64(s).and_then(|n| i64::try_from(n).ok())) {
            return Ok(n);
        }
        if self.byte_vars.iter().any(|v| v == s) {
            self.unsupported("byte_extract".to_owned());
            return Ok(0);
        }
        err(
            vpos,
            kw,
            format!("'{s}' is neither a number nor a byte_extract variable"),
        )
    }

    /// Options shared by byte_test and byte_jump: endianness, string format, bitmask.
    fn byte_common(
        &mut self,
        opt: &str,
        kw: &str,
        vpos: usize,
        st: &mut ByteCommon,
    ) -> PResult<bool> {
        match opt {
            "relative" => st.relative = true,
            "big" => st.endian = Some(Endian::Big),
            "little" => st.endian = Some(Endian::Little),
            "string" => st.string = true,
            "hex" => st.base = Some(16),
            "dec" => st.base = Some(10),
            "oct" => st.base = Some(8),
            "dce" => self.unsupported(format!("{kw}:dce")),
            o if o.starts_with("bitmask") => {
                let m = o["bitmask".len()..].trim();
                let n = parse_u64(m)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n != 0);
                match n {
                    Some(n) => st.bitmask = Some(n),
                    None => return err(vpos, kw, format!("bad bitmask '{m}'")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn byte_format(
        &self,
        st: &ByteCommon,
        bytes: u64,
        kw: &str,
        vpos: usize,
    ) -> PResult<NumberFormat> {
        if st.base.is_some() && !st.string {
            return err(vpos, kw, "hex/dec/oct need 'string'");
        }
        if st.string {
            if st.endian.is_some() {
                return err(vpos, kw, "'string' can't be combined with big/little");
            }
            if bytes == 0 {
                // Suricata accepts it (reads the digits present); the matcher does not.
                return Ok(NumberFormat::String(st.base.unwrap_or(10)));
            }
            if bytes > 23 {
                return err(vpos, kw, format!("bytes {bytes} not in 1..=23 with string"));
            }
            Ok(NumberFormat::String(st.base.unwrap_or(10)))
        } else {
            // 0 is taken, as Suricata 7 takes it: the value read is 0.
            if bytes > 8 {
                return err(
                    vpos,
                    kw,
                    format!("cannot test {bytes} bytes without \"string\" (0..=8)"),
                );
            }
            Ok(NumberFormat::Binary(st.endian.unwrap_or(Endian::Big)))
        }
    }

    fn byte_test(&mut self, v: &str, vpos: usize) -> PResult<()> {
        let kw = "byte_test";
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 4 {
            return err(vpos, kw, "expected 'bytes,[!]op,value,offset[,...]'");
        }
        let bytes = parse_u64(parts[0])
            .ok_or_else(|| PErr::new(vpos, Some(kw), format!("bad byte count '{}'", parts[0])))?;
        let op_text = parts[1];
        let (negated, op_text) = match op_text.strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, op_text),
        };
        let (op, negated) = match op_text {
            "<" => (ByteTestOp::Lt, negated),
            ">" => (ByteTestOp::Gt, negated),
            "<=" => (ByteTestOp::Le, negated),
            ">=" => (ByteTestOp::Ge, negated),
            "=" | "==" => (ByteTestOp::Eq, negated),
            "" if negated => (ByteTestOp::Eq, true),
            "&" => (ByteTestOp::And, negated),
            "^" => (ByteTestOp::Xor, negated),
            "!=" => (ByteTestOp::Eq, !negated),
            o => return err(vpos, kw, format!("unknown operator '{o}'")),
        };
        let value = self.num_field(parts[2], kw, vpos)?;
        let value =
            u64::try_from(value).or_else(|_| err(vpos, kw, "value must not be negative"))?;
        let offset = self.num_field(parts[3], kw, vpos)?;
        let offset = i32::try_from(offset).or_else(|_| err(vpos, kw, "offset out of range"))?;
        let mut st = ByteCommon::default();
        for o in &parts[4..] {
            if !self.byte_common(o, kw, vpos, &mut st)? {
                return err(vpos, kw, format!("unknown option '{o}'"));
            }
        }
        let format = self.byte_format(&st, bytes, kw, vpos)?;
        if bytes == 0 && matches!(format, NumberFormat::String(_)) {
            self.unsupported(format!("{kw}:string-0-bytes"));
        }
        self.push(PayloadMatch::ByteTest(ByteTest {
            bytes: bytes as u8,
            negated,
            op,
            value,
            offset,
            relative: st.relative,
            format,
            bitmask: st.bitmask,
        }));
        Ok(())
    }

    fn byte_jump(&mut self, v: &str, vpos: usize) -> PResult<()> {
        let kw = "byte_jump";
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        if parts.len() < 2 {
            return err(vpos, kw, "expected 'bytes,offset[,...]'");
        }
        let bytes = parse_u64(parts[0])
            .ok_or_else(|| PErr::new(vpos, Some(kw), format!("bad byte count '{}'", parts[0])))?;
        let offset = self.num_field(parts[1], kw, vpos)?;
        let offset = i32::try_from(offset).or_else(|_| err(vpos, kw, "offset out of range"))?;
        let mut st = ByteCommon::default();
        let mut j = ByteJump::new(0, offset);
        for o in &parts[2..] {
            if self.byte_common(o, kw, vpos, &mut st)? {
                continue;
            }
            match *o {
                "align" => j.align = true,
                "from_beginning" => j.from_beginning = true,
                "from_end" => j.from_end = true,
                o if o.starts_with("multiplier") => {
                    let m = o["multiplier".len()..].trim();
                    j.multiplier = parse_u64(m)
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|&n| n > 0 && n <= u16::MAX as u32)
                        .ok_or_else(|| {
                            PErr::new(vpos, Some(kw), format!("bad multiplier '{m}'"))
                        })?;
                }
                o if o.starts_with("post_offset") => {
                    let m = o["post_offset".len()..].trim();
                    let n = self.num_field(m, kw, vpos)?;
                    j.post_offset =
                        i32::try_from(n).or_else(|_| err(vpos, kw, "post_offset out of range"))?;
                }
                o => return err(vpos, kw, format!("unknown option '{o}'")),
            }
        }
        if j.from_beginning && j.from_end {
            return err(vpos, kw, "from_beginning and from_end can't be combined");
        }
        j.format = self.byte_format(&st, bytes, kw, vpos)?;
        if bytes == 0 && matches!(j.format, NumberFormat::String(_)) {
            self.unsupported(format!("{kw}:string-0-bytes"));
        }
        j.bytes = bytes as u8;
        j.relative = st.relative;
        j.bitmask = st.bitmask;
        self.push(PayloadMatch::ByteJump(j));
        Ok(())
    }

    fn isdataat(&mut self, v: &str, vpos: usize) -> PResult<()> {
        let kw = "isdataat";
        let mut parts = v.split(',').map(str::trim);
        let first = parts.next().unwrap_or("");
        let (negated, first) = match first.strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, first),
        };
        let n = self.num_field(first, kw, vpos)?;
        let offset = u32::try_from(n)
            .ok()
            .filter(|&n| n <= u16::MAX as u32)
            .ok_or_else(|| PErr::new(vpos, Some(kw), format!("invalid offset '{first}'")))?;
        let mut m = IsDataAt {
            offset,
            relative: false,
            negated,
            rawbytes: false,
        };
        for o in parts {
            match o {
                "relative" => m.relative = true,
                "rawbytes" => m.rawbytes = true,
                o => return err(vpos, kw, format!("unknown option '{o}'")),
            }
        }
        self.push(PayloadMatch::IsDataAt(m));
        Ok(())
    }

    fn flow(&mut self, v: &str, vpos: usize) -> PResult<()> {
        let kw = "flow";
        let f = &mut self.rule.flow;
        let mut extra = Vec::new();
        for o in v.split(',').map(str::trim) {
            let (slot, val) = match o {
                "to_server" | "from_client" => (&mut f.to_server, true),
                "to_client" | "from_server" => (&mut f.to_server, false),
                "established" => (&mut f.established, true),
                "not_established" => (&mut f.established, false),
                "stateless" => {
                    f.stateless = true;
                    continue;
                }
                "only_stream" => (&mut f.stream, true),
                "no_stream" => (&mut f.stream, false),
                "only_frag" | "no_frag" => {
                    extra.push(format!("flow:{o}"));
                    continue;
                }
                o => return err(vpos, kw, format!("unknown flow option '{o}'")),
            };
            if slot.is_some() {
                return err(
                    vpos,
                    kw,
                    format!("'{o}' conflicts with an earlier flow option"),
                );
            }
            *slot = Some(val);
        }
        for e in extra {
            self.unsupported(e);
        }
        Ok(())
    }

    fn finish(mut self, _text: &str) -> PResult<ParsedExt> {
        let Some(sid_pos) = self.sid_pos else {
            return Err(PErr::new(0, Some("sid"), "rule has no sid"));
        };
        self.rule.priority = self
            .explicit_priority
            .or(self.class_priority)
            .unwrap_or(DEFAULT_PRIORITY);
        self.split_app_buffer()?;
        if let (Some((need, max)), Some(pos), true) = (
            dsize_leaves_no_room(&self.rule),
            self.dsize_pos,
            self.unsupported.is_empty(),
        ) {
            return err(
                pos,
                "dsize",
                format!("the contents need {need} bytes, more than dsize's bound of {max} (Suricata 7 refuses the rule)"),
            );
        }
        // Suricata's SigValidate: a rule cannot require both the stream (`tcp-stream`,
        // `flow:only_stream`) and single packets (`tcp-pkt`, `flow:no_stream`, a packet
        // keyword such as `dsize` or `flags`).
        let r = &self.rule;
        let wants_stream = r.proto == Proto::TcpStream || r.flow.stream == Some(true);
        let wants_packet =
            r.proto == Proto::TcpPkt || r.flow.stream == Some(false) || r.has_packet_keyword();
        if let (true, true, Some(pos)) = (wants_stream, wants_packet, self.flow_pos) {
            return err(
                pos,
                "flow",
                "can't mix packet keywords or tcp-pkt with tcp-stream or flow:only_stream (Suricata 7 refuses the rule)",
            );
        }
        let gid = self.rule.gid;
        let parsed = if self.unsupported.is_empty() {
            Parsed::Rule(Box::new(self.rule))
        } else {
            Parsed::Unsupported {
                sid: self.rule.sid,
                location: self.rule.location,
                keywords: self.unsupported,
            }
        };
        Ok(ParsedExt {
            parsed,
            gid,
            sid_pos,
            unknown_classtypes: self.unknown_classtypes,
        })
    }
}

impl Builder {
    /// What Suricata 7 checks of an HTTP request buffer, and what tidewatch cannot
    /// follow: a buffer Suricata also inspects in responses, in a rule not limited to
    /// requests, is skipped (responses are not parsed), and so is one with
    /// `flow:only_stream` or `no_stream`: Suricata gates a request's inspection on what
    /// the packet that runs it added to the stream, which is not modelled (ET Open's
    /// only_stream HTTP rule did not alert where the request was inspected).
    fn check_http_buffer(&mut self, buf: &AppBuffer) -> PResult<()> {
        let at = self.app_buffer_pos.unwrap_or(0);
        let kw = buf.kind.keyword();
        match self.rule.flow.stream {
            Some(true) => self.unsupported("http+flow:only_stream".into()),
            Some(false) => self.unsupported("http+flow:no_stream".into()),
            None => {}
        }
        if buf.kind == Sticky::HttpHeaderRaw && self.rule.flow.to_server.is_none() {
            return err(
                at,
                kw,
                "http.header.raw needs flow:to_server or flow:to_client (Suricata 7 refuses the rule)",
            );
        }
        if buf.kind == Sticky::HttpHost {
            let bad = buf.payload.iter().any(|m| {
                matches!(m, PayloadMatch::Content(c)
                    if c.nocase || c.pattern.iter().any(u8::is_ascii_uppercase))
            });
            if bad {
                return err(
                    at,
                    kw,
                    "http.host is lower-cased: its contents must be lower case and without nocase (Suricata 7 refuses the rule)",
                );
            }
        }
        if buf.kind == Sticky::HttpFileData && self.rule.flow.to_server != Some(false) {
            // Suricata also reads the files of requests (uploads): not modelled.
            self.unsupported("file.data:request".into());
        }
        if buf.kind.http_both_ways() && self.rule.flow.to_server != Some(true) {
            self.unsupported(format!("{kw}:response"));
        }
        Ok(())
    }

    /// Moves the keywords given after `dns.query`, `tls.sni` and the other app-layer
    /// buffers from the packet payload to the rule's buffers, and checks what Suricata 7
    /// checks of them.
    fn split_app_buffer(&mut self) -> PResult<()> {
        let mut bufs = std::mem::take(&mut self.app_buffers);
        if bufs.is_empty() {
            return Ok(());
        }
        let payload = std::mem::take(&mut self.rule.payload);
        let mut raw = false;
        for (m, &b) in payload.into_iter().zip(&self.buffers) {
            match app_index(b).and_then(|i| bufs.get_mut(i)) {
                Some(buf) => buf.payload.push(m),
                None => {
                    // Buffer 0 is the packet payload; others are unsupported sticky
                    // buffers (`http.response_body`), skipped under their own keyword.
                    raw |= b == 0;
                    self.rule.payload.push(m)
                }
            }
        }
        if raw {
            // A packet payload match and a transaction's buffer in one rule.
            self.unsupported(format!("{}+packet-payload", bufs[0].kind.keyword()));
        }
        let mut checked = Vec::with_capacity(bufs.len());
        for buf in bufs.drain(..) {
            checked.push(self.check_app_buffer(buf)?);
        }
        let mut it = checked.into_iter();
        self.rule.app_buffer = it.next();
        self.rule.app_buffers_also = it.collect();
        Ok(())
    }

    /// What Suricata 7 checks of one app-layer buffer of the rule.
    fn check_app_buffer(&mut self, mut buf: AppBuffer) -> PResult<AppBuffer> {
        if buf.payload.is_empty() && buf.bsize.is_empty() {
            let at = self.app_buffer_pos.unwrap_or(0);
            return err(
                at,
                buf.kind.keyword(),
                "the buffer has no keywords to match (Suricata 7 refuses the rule)",
            );
        }
        if matches!(buf.kind, Sticky::Ja3Hash | Sticky::Ja3sHash) {
            // Suricata's ja3.hash and ja3s.hash callbacks: the first content must be a
            // whole MD5 in hex, and every content is lower-cased (the buffer is lower-case
            // hex).
            let first = buf.payload.iter().find_map(|m| match m {
                PayloadMatch::Content(c) => Some(c.pattern.len()),
                _ => None,
            });
            if first.is_some_and(|n| n != 32) {
                let at = self.app_buffer_pos.unwrap_or(0);
                return err(
                    at,
                    buf.kind.keyword(),
                    "the JA3 hash content must be 32 characters long (Suricata 7 refuses the rule)",
                );
            }
            for m in &mut buf.payload {
                if let PayloadMatch::Content(c) = m {
                    c.pattern.make_ascii_lowercase();
                }
            }
        }
        if buf.kind.is_http() {
            self.check_http_buffer(&buf)?;
        }
        // Certificate buffers go both ways (the client's certificate to the server, the
        // server's to the client), a hello's only its sender's way.
        if let (Some(pos), Some(to_server)) = (self.flow_pos, self.rule.flow.to_server) {
            let conflict = match buf.kind.part() {
                // A DNS request, a ClientHello, an HTTP request.
                0 | 1 => !to_server,
                // Buffers Suricata also reads in responses go either way.
                4 => !to_server && !buf.kind.http_both_ways(),
                // A response's buffers (file.data also reads requests' files).
                5 => to_server && buf.kind != Sticky::HttpFileData,
                2 => to_server,
                _ => false,
            };
            if conflict {
                let whose = if to_server { "server" } else { "client" };
                return err(
                    pos,
                    "flow",
                    format!("{} looks at the {whose}'s data, which goes the other way: the directions conflict (Suricata 7 refuses the rule)", buf.kind.keyword()),
                );
            }
        }
        let urilen =
            self.urilen_pos.is_some() && matches!(buf.kind, Sticky::HttpUri | Sticky::HttpUriRaw);
        let (kw, at) = if urilen {
            ("urilen", self.urilen_pos)
        } else {
            ("bsize", self.bsize_pos)
        };
        if let (Some(&bsize), Some(pos)) = (buf.bsize.first(), at) {
            let max = match bsize {
                NumMatch::Eq(n) | NumMatch::Lt(n) => Some(n),
                // Suricata's urilen check also takes `<=`; its bsize check does not.
                NumMatch::Le(n) if urilen => Some(n),
                NumMatch::Between(_, b) => Some(b),
                _ => None,
            };
            if let Some((need, max)) =
                max.and_then(|m| contents_exceed(&buf.payload, m.min(i64::MAX as u64) as i64))
            {
                return err(
                    pos,
                    kw,
                    format!("the contents need {need} bytes, more than {kw}'s bound of {max} (Suricata 7 refuses the rule)"),
                );
            }
        }
        Ok(buf)
    }
}

/// `(bytes the contents need, dsize's bound)` when a packet within the bound cannot hold
/// the rule's contents, by Suricata 7's own arithmetic (`SigParseMaxRequiredDsize`, which
/// refuses the rule): the bound is the number in `dsize:N`, `<N`, `!N` and the top of
/// `a<>b` (other forms are not checked); the first content and each later relative one
/// add their length and distance, a later negated relative one must fit with its
/// distance and within, and the largest offset is added at the end.
fn dsize_leaves_no_room(r: &Rule) -> Option<(i64, i64)> {
    let max = match r.dsize? {
        NumMatch::Eq(n) | NumMatch::Ne(n) | NumMatch::Lt(n) => n as i64,
        NumMatch::Between(_, b) => b as i64,
        _ => return None,
    };
    contents_exceed(&r.payload, max)
}

/// Suricata's `SigParseRequiredContentSize` against a bound `max`: `(need, max)` when the
/// contents of `payload` cannot fit (shared by `dsize` and `bsize`).
fn contents_exceed(payload: &[PayloadMatch], max: i64) -> Option<(i64, i64)> {
    let (mut total, mut max_offset, mut first) = (0i64, 0i64, true);
    for p in payload {
        let PayloadMatch::Content(c) = p else {
            continue;
        };
        let distance = c.distance.unwrap_or(0) as i64;
        if !first {
            if !c.is_relative() {
                continue;
            }
            if c.negated {
                let check = total + distance + c.within.unwrap_or(0) as i64;
                if check > max {
                    return Some((check, max));
                }
                continue;
            }
        }
        total += c.pattern.len() as i64 + distance;
        max_offset = max_offset.max(c.offset.unwrap_or(0) as i64);
        first = false;
    }
    [total, total + max_offset]
        .into_iter()
        .find(|&need| need > max)
        .map(|need| (need, max))
}

#[derive(Default)]
struct ByteCommon {
    relative: bool,
    endian: Option<Endian>,
    string: bool,
    base: Option<u32>,
    bitmask: Option<u32>,
}

/// `N`, `!N`, `<N`, `>N`, `<=N`, `>=N`, `N<>M`, `N-M` with every number decimal and at
/// most `max`. As in Suricata 7 (checked with `suricata -T`), a comparison that always or
/// never holds (`>=0`, `<0`, `>max`, `<=max`) and a range with no number strictly inside
/// it (`4<>5`) are errors, not rules that silently match everything or nothing.
/// `stream_size`'s value, `<server|client|both|either>,<op>,<n>` with `op` one of `<`,
/// `<=`, `>`, `>=`, `=`, `!=` or `!`, as Suricata 7 reads it (spaces allowed around each
/// part; a comparison that can never hold is accepted, as Suricata accepts it).
pub(crate) fn stream_size(v: &str) -> Result<StreamSizeMatch, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [side, op, n] = parts[..] else {
        return Err(format!(
            "'{v}': expected <server|client|both|either>,<operator>,<number>"
        ));
    };
    let side = match side {
        "server" => StreamSide::Server,
        "client" => StreamSide::Client,
        "both" => StreamSide::Both,
        "either" => StreamSide::Either,
        _ => {
            return Err(format!(
                "'{side}' is not a side: server, client, both or either"
            ))
        }
    };
    if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("'{n}' is not a number (decimal digits expected)"));
    }
    let n = n
        .parse::<u32>()
        .map_err(|_| format!("{n} is larger than {}", u32::MAX))?;
    let n = u64::from(n);
    let cmp = match op {
        "<" => NumMatch::Lt(n),
        "<=" => NumMatch::Le(n),
        ">" => NumMatch::Gt(n),
        ">=" => NumMatch::Ge(n),
        "=" => NumMatch::Eq(n),
        "!=" | "!" => NumMatch::Ne(n),
        _ => {
            return Err(format!(
                "'{op}' is not an operator: <, <=, >, >=, =, != or !"
            ))
        }
    };
    Ok(StreamSizeMatch { side, cmp })
}

pub(crate) fn num_match(v: &str, max: u64) -> Result<NumMatch, String> {
    let v = v.trim();
    let num = |s: &str| -> Result<u64, String> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("bad number in '{v}' (decimal digits expected)"));
        }
        match s.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            Ok(n) => Err(format!("{n} is larger than {max}")),
            Err(_) => Err(format!("{s} is larger than {max}")),
        }
    };
    let between = |a: &str, b: &str| -> Result<NumMatch, String> {
        let (a, b) = (num(a)?, num(b)?);
        if a >= b {
            return Err(format!(
                "range '{v}' is empty: the first number must be smaller"
            ));
        }
        if a + 1 == b {
            return Err(format!(
                "range '{v}' is empty: no number lies strictly between {a} and {b}"
            ));
        }
        Ok(NumMatch::Between(a, b))
    };
    let always = || -> Result<NumMatch, String> {
        Err(format!("'{v}' always matches: leave the keyword out"))
    };
    let never = || -> Result<NumMatch, String> { Err(format!("'{v}' never matches")) };
    if let Some(r) = v.strip_prefix("<=") {
        match num(r)? {
            n if n == max => always(),
            n => Ok(NumMatch::Le(n)),
        }
    } else if let Some(r) = v.strip_prefix(">=") {
        match num(r)? {
            0 => always(),
            n => Ok(NumMatch::Ge(n)),
        }
    } else if let Some(r) = v.strip_prefix('<') {
        match num(r)? {
            0 => never(),
            n => Ok(NumMatch::Lt(n)),
        }
    } else if let Some(r) = v.strip_prefix('>') {
        match num(r)? {
            n if n == max => never(),
            n => Ok(NumMatch::Gt(n)),
        }
    } else if let Some(r) = v.strip_prefix("!=").or_else(|| v.strip_prefix('!')) {
        // Suricata 7 takes both `!5` and `!=5`.
        Ok(NumMatch::Ne(num(r)?))
    } else if let Some(r) = v.strip_prefix('=') {
        Ok(NumMatch::Eq(num(r)?))
    } else if let Some((a, b)) = v.split_once("<>") {
        between(a, b)
    } else if let Some((a, b)) = v.split_once('-') {
        between(a, b)
    } else {
        Ok(NumMatch::Eq(num(v)?))
    }
}

/// `ip_proto`: number or name, with optional `!`, `<`, `>`.
fn ip_proto(v: &str) -> Result<NumMatch, String> {
    let v = v.trim();
    let (prefix, rest) = match v.as_bytes().first() {
        Some(b'!' | b'<' | b'>') => v.split_at(1),
        _ => ("", v),
    };
    let rest = rest.trim();
    let n = match parse_u64(rest) {
        Some(n) if n <= 255 => n,
        Some(_) => return Err(format!("protocol number '{rest}' is larger than 255")),
        None => match rest.to_ascii_lowercase().as_str() {
            "ip" | "hopopt" => 0,
            "icmp" => 1,
            "igmp" => 2,
            "ipip" | "ipencap" => 4,
            "tcp" => 6,
            "egp" => 8,
            "udp" => 17,
            "ipv6" => 41,
            "ipv6-route" => 43,
            "ipv6-frag" => 44,
            "rsvp" => 46,
            "gre" => 47,
            "esp" => 50,
            "ah" => 51,
            "ipv6-icmp" | "icmpv6" => 58,
            "ipv6-nonxt" => 59,
            "ipv6-opts" => 60,
            "eigrp" => 88,
            "ospf" => 89,
            "pim" => 103,
            "vrrp" => 112,
            "l2tp" => 115,
            "sctp" => 132,
            _ => return Err(format!("unknown protocol '{rest}'")),
        },
    };
    Ok(match prefix {
        "!" => NumMatch::Ne(n),
        "<" => NumMatch::Lt(n),
        ">" => NumMatch::Gt(n),
        _ => NumMatch::Eq(n),
    })
}

/// `flags:[modifier]FSRPAUCE12[,ignored]`.
fn flags(v: &str) -> Result<FlagsMatch, String> {
    let (main, ignore) = match v.split_once(',') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (v.trim(), None),
    };
    let bit = |c: char| -> Option<u8> {
        // Upper case only, as Suricata 7 has it (`flags:s` is an error there).
        Some(match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' | '2' => 0x40,
            'C' | '1' => 0x80,
            _ => return None,
        })
    };
    let mut m = FlagsMatch {
        flags: 0,
        ignore: 0,
        modifier: FlagsModifier::Exact,
    };
    let mut any = false;
    for c in main.chars() {
        match c {
            '+' => m.modifier = FlagsModifier::All,
            '*' => m.modifier = FlagsModifier::Any,
            '!' => m.modifier = FlagsModifier::Not,
            '0' => any = true,
            c => {
                m.flags |= bit(c).ok_or_else(|| match c.is_ascii_lowercase() {
                    true => format!("unknown TCP flag '{c}' (flags are upper case)"),
                    false => format!("unknown TCP flag '{c}'"),
                })?;
                any = true;
            }
        }
    }
    if !any {
        return Err(format!("no flags in '{v}'"));
    }
    if let Some(ig) = ignore {
        for c in ig.chars() {
            m.ignore |=
                bit(c).ok_or_else(|| format!("unknown TCP flag '{c}' in the ignore mask"))?;
        }
    }
    Ok(m)
}

enum Fb {
    Bit(Flowbit),
    NoAlert,
    /// Valid for Suricata, not enforced here (named for the skip counter).
    Unsupported(String),
}

/// `flowbits:cmd[,name]`.
fn flowbits(v: &str) -> Result<Fb, String> {
    let (cmd, name) = match v.split_once(',') {
        Some((c, n)) => (c.trim(), n.trim()),
        None => (v.trim(), ""),
    };
    let cmd = match cmd {
        "noalert" => {
            if !name.is_empty() {
                return Err("noalert takes no name".into());
            }
            return Ok(Fb::NoAlert);
        }
        "set" => FlowbitCmd::Set,
        "unset" => FlowbitCmd::Unset,
        "toggle" => FlowbitCmd::Toggle,
        "isset" => FlowbitCmd::IsSet,
        "isnotset" => FlowbitCmd::IsNotSet,
        other => return Err(format!("unknown flowbits command '{other}'")),
    };
    if name.is_empty() {
        return Err(format!("flowbits:{v} needs a name"));
    }
    let names: Vec<String> = if name.contains('|') {
        if !cmd.is_condition() {
            // Suricata 7 accepts this but then operates on no named bit at all.
            return Ok(Fb::Unsupported("flowbits:group-action".into()));
        }
        name.split('|')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    } else {
        vec![name.to_owned()]
    };
    if names.is_empty() {
        return Err("no flowbit names".into());
    }
    if names.iter().any(|n| n.contains(char::is_whitespace)) {
        return Err("spaces are not allowed in flowbit names".into());
    }
    Ok(Fb::Bit(Flowbit { cmd, names }))
}

/// The checks Suricata 7 makes of a `byte_extract` (a keyword skipped as unsupported): a
/// byte count, at most 8 without `string` and 20 with it, and a base only after `string`.
fn byte_extract_form(parts: &[&str]) -> Result<(), String> {
    let bytes = parts
        .first()
        .and_then(|b| parse_u64(b))
        .ok_or_else(|| format!("bad byte count '{}'", parts.first().unwrap_or(&"")))?;
    let mut string = false;
    for o in parts.iter().skip(3) {
        match *o {
            "string" => string = true,
            "hex" | "dec" | "oct" if !string => {
                return Err(format!("base '{o}' before or without 'string'"))
            }
            _ => {}
        }
    }
    match (string, bytes) {
        (false, 9..) => Err(format!(
            "cannot extract {bytes} bytes without \"string\" (0..=8)"
        )),
        (true, 21..) => Err(format!(
            "cannot extract {bytes} bytes with \"string\" (0..=20)"
        )),
        _ => Ok(()),
    }
}

/// `threshold: type T, track K, count N, seconds S` or `detection_filter: track K, count N,
/// seconds S`.
pub(crate) fn threshold(v: &str, detection: bool) -> Result<ThresholdSpec, String> {
    let (mut kind, mut track, mut count, mut seconds) = (None, None, None, None);
    let mut seen: Vec<&str> = Vec::new();
    for part in v.split(',') {
        let part = part.trim();
        // Suricata takes empty parts after the last one.
        if part.is_empty() && seen.len() == 4 - usize::from(detection) {
            continue;
        }
        let (k, val) = part
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .ok_or_else(|| format!("expected 'name value', found '{part}'"))?;
        let num = |s: &str| -> Result<u32, String> {
            s.parse::<u32>()
                .map_err(|_| format!("bad number '{s}' for {k}"))
        };
        if seen.contains(&k) {
            return Err(format!("'{k}' given twice"));
        }
        seen.push(k);
        match k {
            "type" if !detection => {
                kind = Some(match val {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    o => return Err(format!("unknown threshold type '{o}'")),
                })
            }
            // Suricata 7's detection_filter tracks by source or destination only.
            "track" if detection && !matches!(val, "by_src" | "by_dst") => {
                return Err(format!(
                    "detection_filter tracks by_src or by_dst, not '{val}'"
                ));
            }
            "track" => track = Some(parse_track(val)?),
            "count" => count = Some(num(val)?),
            "seconds" => seconds = Some(num(val)?),
            o => return Err(format!("unknown option '{o}'")),
        }
    }
    let kind = if detection {
        ThresholdKind::Detection
    } else {
        kind.ok_or("missing 'type'")?
    };
    let spec = ThresholdSpec {
        kind,
        track: track.ok_or("missing 'track'")?,
        count: count.ok_or("missing 'count'")?,
        seconds: seconds.ok_or("missing 'seconds'")?,
    };
    // Suricata 7 takes `count 0` in a threshold (limit 0 then lets one alert through
    // per window like limit 1, threshold 0 every match but a window's first, both 0
    // none: what the counting below does too) but not in a detection_filter.
    if detection && spec.count == 0 {
        return Err("count must be at least 1".into());
    }
    if detection && spec.seconds == 0 {
        return Err("seconds must be at least 1".into());
    }
    Ok(spec)
}

/// `by_src`, `by_dst`, `by_rule`, `by_both`: Suricata 7's tracks (`by_flow` came with
/// Suricata 8, and 7 refuses it in rules and threshold.config alike).
pub(crate) fn parse_track(v: &str) -> Result<Track, String> {
    Ok(match v {
        "by_src" => Track::BySrc,
        "by_dst" => Track::ByDst,
        "by_rule" => Track::ByRule,
        "by_both" => Track::ByBoth,
        "by_flow" => return Err("track 'by_flow' is Suricata 8's, not 7's".into()),
        o => return Err(format!("unknown track '{o}'")),
    })
}

/// A protocol's name in rules, for skip keywords (`http.uri:udp`).
fn proto_name(p: &Proto) -> String {
    match p {
        Proto::Tcp => "tcp".into(),
        Proto::TcpPkt => "tcp-pkt".into(),
        Proto::TcpStream => "tcp-stream".into(),
        Proto::Udp => "udp".into(),
        Proto::Icmp => "icmp".into(),
        Proto::Ip => "ip".into(),
        Proto::Ipv4 => "ipv4".into(),
        Proto::Ipv6 => "ipv6".into(),
        Proto::Dns => "dns".into(),
        Proto::Tls => "tls".into(),
        Proto::Http => "http".into(),
        Proto::AppLayer(n) => n.clone(),
    }
}
