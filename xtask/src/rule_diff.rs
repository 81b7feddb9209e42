//! `cargo xtask rule-diff`: random rule sets run through Suricata 7 and tidewatch on the
//! golden and stream pcaps, compared rule by rule (which ones load) and packet by packet
//! (`pcap_cnt`, sid).
//!
//! The golden rules test what someone thought of; random sets built from the same pcaps'
//! contents, ports and header keywords find the rest. Every difference this found so far
//! became a fix and a golden rule. It is not part of CI: it needs Suricata, and a
//! difference needs someone to read Suricata's source and decide. Alerts Suricata raises
//! on its end-of-flow pseudo packets (no `pcap_cnt`) are left out of the comparison, as
//! is the second alert of a `<>` rule on one packet (README: "Matching Suricata"). Suricata
//! runs with the Aho-Corasick prefilter, since Hyperscan stops it on some generated sets.

use crate::golden::{self, RULES_PATH, SURICATA_YAML_PATH};
use crate::suricata;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of one run.
#[derive(clap::Args, Debug)]
pub struct RuleDiffArgs {
    /// First seed (each seed names one rule set, the same on every machine while the
    /// golden pcaps its contents come from stay the same).
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// How many seeds, from `--from` on.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// Rules per set.
    #[arg(long, default_value_t = 40)]
    pub rules: usize,
    /// Keep each generated rule file (`rules-SEED.rules`) in this directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// DNS rule sets (`dns.query`, `dotprefix`, `bsize`, `alert dns` payload rules) on
    /// the DNS golden pcap, instead of the packet and stream sets.
    #[arg(long)]
    pub dns: bool,
    /// TLS rule sets (`tls.sni`, `dotprefix`, `bsize`, `alert tls` header and content
    /// rules, raw `tcp` content on TLS flows) on the TLS golden pcap.
    #[arg(long, conflicts_with = "dns")]
    pub tls: bool,
    /// TLS certificate rule sets (`tls.certs`, `tls.cert_subject`, `tls.cert_issuer`,
    /// `tls.cert_serial` both ways, beside `tls.sni`, header and raw content rules) on
    /// the TLS certificate golden pcap.
    #[arg(long, conflicts_with_all = ["dns", "tls"])]
    pub tls_certs: bool,
}

/// A generated rule's header.
struct Header {
    proto: &'static str,
    action: &'static str,
    dir: &'static str,
    src: &'static str,
    sp: &'static str,
    dst: &'static str,
    dp: &'static str,
}

impl Header {
    /// Appends the rule with options `opts`, `sid` and `rev:1` to `out`.
    fn write(&self, out: &mut String, opts: &mut Vec<String>, sid: usize) {
        opts.push(format!("sid:{sid}"));
        opts.push("rev:1".into());
        let Header {
            proto,
            action,
            dir,
            src,
            sp,
            dst,
            dp,
        } = self;
        out.push_str(&format!(
            "{action} {proto} {src} {sp} {dir} {dst} {dp} ({};)\n",
            opts.join("; ")
        ));
    }
}

/// The bench generator's SplitMix64, with the picks a rule set needs: deterministic, so
/// a seed is a rule set anyone can regenerate.
struct Rng(crate::benchgen::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// True with probability `percent`/100.
    /// `c`, or (with `percent` chance) a random piece of it when it has no hex bytes.
    fn piece(&mut self, c: String, percent: u64) -> String {
        if self.chance(percent) && !c.contains('|') && c.len() > 2 {
            let a = self.below(c.len());
            let b = a + 1 + self.below(c.len() - a);
            return c[a..b].to_string();
        }
        c
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.0.per_mille(percent * 10)
    }

    /// An app-layer rule's header: protocol, action (`pass` or `drop` `pass_drop` percent
    /// of the time), direction, ports (`any` for `ip`) and addresses, drawn in that order.
    fn header(
        &mut self,
        protos: &[&'static str],
        pass_drop: u64,
        addrs: &[&'static str],
        ports: &[&'static str],
    ) -> Header {
        let proto = *self.pick(protos);
        let action = if self.chance(pass_drop) {
            *self.pick(&["pass", "drop"])
        } else {
            "alert"
        };
        let dir = if self.chance(15) { "<>" } else { "->" };
        let (sp, dp) = if proto == "ip" {
            ("any", "any")
        } else {
            (*self.pick(ports), *self.pick(ports))
        };
        let (src, dst) = (*self.pick(addrs), *self.pick(addrs));
        Header {
            proto,
            action,
            dir,
            src,
            sp,
            dst,
            dp,
        }
    }

    /// A `bsize` of one of its forms around a size from `lo` to `lo + span - 1`.
    fn bsize(&mut self, lo: usize, span: usize) -> String {
        let k = lo + self.below(span);
        format!(
            "bsize:{}",
            self.pick(&[
                format!("{k}"),
                format!(">{k}"),
                format!("<{k}"),
                format!("{}<>{}", k - 4, k + 4)
            ])
        )
    }

    /// `n` contents from `pool` (pieces of them at times), `negated` percent of them
    /// negated, with `nocase`, `startswith`, `distance` and (when `ends`) `endswith`.
    fn contents(
        &mut self,
        opts: &mut Vec<String>,
        pool: &[&str],
        n: usize,
        negated: u64,
        ends: bool,
    ) {
        for j in 0..n {
            let picked = (*self.pick(pool)).to_string();
            let c = self.piece(picked, 30);
            let neg = if self.chance(negated) { "!" } else { "" };
            opts.push(format!("content:{neg}\"{c}\""));
            if self.chance(30) {
                opts.push("nocase".into());
            }
            if j == 0 && self.chance(15) {
                opts.push("startswith".into());
            } else if j > 0 && self.chance(30) {
                opts.push(format!("distance:{}", self.below(4)));
            }
            if ends && self.chance(20) {
                opts.push("endswith".into());
            }
        }
    }
}

/// Contents of the golden rule files (they occur in the golden pcaps), plus short ones
/// that occur everywhere. Contents with escapes are left out.
fn content_pool() -> Result<Vec<String>> {
    let mut pool = BTreeSet::new();
    for path in [RULES_PATH, crate::golden_stream::STREAM_RULES_PATH] {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        for piece in text.split("content:\"").skip(1) {
            if let Some((c, _)) = piece.split_once('"') {
                if !c.is_empty() && !c.contains('\\') && c.matches('|').count() % 2 == 0 {
                    pool.insert(c.to_string());
                }
            }
        }
    }
    pool.extend(
        [
            "GET", "A", "a", "|00|", "|0d 0a|", "HTTP", "T", "-", "ATTACK", "E", "|01|",
        ]
        .map(String::from),
    );
    Ok(pool.into_iter().collect())
}

/// One random rule set: `n` rules, sids 100000 on.
pub fn generate(seed: u64, n: usize, pool: &[String]) -> String {
    let mut r = Rng(crate::benchgen::Rng::new(seed));
    let ports = [
        "any",
        "any",
        "any",
        "8001",
        "8002",
        "8003",
        "8040",
        "8041",
        "8060",
        "8100",
        "9004",
        "9005",
        "9040",
        "9999",
        "7777",
        "[8000:8100]",
        "!8001",
        "$HTTP_PORTS",
    ];
    let addrs = [
        "any",
        "any",
        "$HOME_NET",
        "$EXTERNAL_NET",
        "10.0.0.0/8",
        "!10.1.0.1",
    ];
    let mut out = String::new();
    for i in 0..n {
        let proto = *r.pick(&[
            "tcp",
            "tcp",
            "tcp",
            "udp",
            "icmp",
            "ip",
            "tcp-pkt",
            "tcp-stream",
        ]);
        let action = if r.chance(10) {
            *r.pick(&["pass", "drop"])
        } else {
            "alert"
        };
        let dir = if r.chance(25) { "<>" } else { "->" };
        let ported = !matches!(proto, "icmp" | "ip");
        let (sp, dp) = if ported {
            (
                if r.chance(50) { "any" } else { *r.pick(&ports) },
                *r.pick(&ports),
            )
        } else {
            ("any", "any")
        };
        let src = *r.pick(&addrs);
        let tcp = proto.starts_with("tcp");
        let mut opts = vec![format!("msg:\"r{i}\"")];
        if tcp && r.chance(50) {
            let f = *r.pick(&[
                "established",
                "to_server",
                "to_client",
                "established,to_server",
                "established,to_client",
                "not_established",
                "stateless",
                "from_server",
                "established,only_stream",
                "to_server,no_stream",
            ]);
            opts.push(format!("flow:{f}"));
        }
        if proto == "udp" && r.chance(20) {
            opts.push(format!("flow:{}", r.pick(&["to_server", "to_client"])));
        }
        if tcp && r.chance(20) {
            opts.push(format!(
                "flags:{}",
                r.pick(&["S", "SA", "A", "PA", "F+", "R", "A+", "!S", "*S"])
            ));
        }
        if r.chance(20) {
            opts.push(format!(
                "dsize:{}",
                r.pick(&["0", ">0", "<10", ">20", "5<>40", "!0", ">1000"])
            ));
        }
        if r.chance(10) {
            opts.push(format!("ttl:{}", r.pick(&["64", "<64", ">1", "128"])));
        }
        if tcp && r.chance(10) {
            opts.push(format!(
                "stream_size:{}",
                r.pick(&[
                    "server,<,5",
                    "client,>,1",
                    "client,<,100",
                    "both,>,10",
                    "either,=,1",
                    "server,>=,50",
                ])
            ));
        }
        for j in 0..*r.pick(&[0usize, 1, 1, 1, 2, 2, 3]) {
            let picked = r.pick(pool).clone();
            let c = r.piece(picked, 40);
            let len = c.replace('|', "").len();
            let neg = if r.chance(10) { "!" } else { "" };
            opts.push(format!("content:{neg}\"{c}\""));
            if r.chance(20) {
                opts.push("nocase".into());
            }
            if j == 0 {
                if r.chance(20) {
                    opts.push(format!("offset:{}", r.below(8)));
                }
                if r.chance(20) {
                    opts.push(format!(
                        "depth:{}",
                        len + r.below(40usize.saturating_sub(len) + 1)
                    ));
                }
            } else {
                if r.chance(30) {
                    opts.push(format!("distance:{}", r.below(8) as i64 - 3));
                }
                if r.chance(30) {
                    opts.push(format!("within:{}", len + 2 + r.below(58)));
                }
            }
        }
        if r.chance(10) {
            let re = *r.pick(&["ATT[A-Z]+", "^G", "K-\\w+", "\\d{2}", "(?i)login"]);
            let flag = *r.pick(&["", "R", "i", "s"]);
            opts.push(format!("pcre:\"/{re}/{flag}\""));
        }
        if r.chance(5) {
            opts.push("noalert".into());
        }
        opts.push(format!("sid:{}", 100_000 + i));
        opts.push("rev:1".into());
        out.push_str(&format!(
            "{action} {proto} {src} {sp} {dir} any {dp} ({};)\n",
            opts.join("; ")
        ));
    }
    out
}

/// Names and pieces of names the DNS golden pcap carries (plus some it does not).
const DNS_POOL: &[&str] = &[
    "www.example.com",
    "example",
    "example.com",
    "evil.test",
    "EvIl",
    "badguy.example",
    ".badguy.example",
    "target.example",
    "ptr.",
    "turned.example",
    "cutshort",
    "abcdefg.com",
    "abcdefgh",
    "headmark",
    "xxxxxxxx",
    "txt",
    "TXTMARK",
    "allowed",
    "we.ird",
    ".com",
    "com",
    "mdns",
    "sub.",
    "|00 01|",
    "w",
];

/// One random DNS rule set: `n` rules, sids 200000 on.
pub fn generate_dns(seed: u64, n: usize) -> String {
    let mut r = Rng(crate::benchgen::Rng::new(seed));
    let addrs = ["any", "any", "$HOME_NET", "$EXTERNAL_NET", "10.0.0.0/8"];
    let ports = ["any", "any", "any", "53", "!53", "5353", "[50:60]"];
    let mut out = String::new();
    for i in 0..n {
        let h = r.header(
            &["dns", "dns", "dns", "dns", "udp", "ip"],
            10,
            &addrs,
            &ports,
        );
        let proto = h.proto;
        let mut opts = vec![format!("msg:\"d{i}\"")];
        let query = proto != "dns" || r.chance(75);
        if r.chance(30) {
            let f = if query {
                *r.pick(&[
                    "to_server",
                    "established",
                    "established,to_server",
                    "not_established",
                ])
            } else {
                *r.pick(&["to_server", "to_client", "established", "not_established"])
            };
            opts.push(format!("flow:{f}"));
        }
        if query {
            opts.push((*r.pick(&["dns.query", "dns.query", "dns_query"])).into());
            if r.chance(30) {
                opts.push("dotprefix".into());
            }
            if r.chance(20) {
                opts.push(r.bsize(5, 16));
            }
        }
        let contents = if query {
            *r.pick(&[1usize, 1, 1, 2, 2, 0])
        } else {
            *r.pick(&[0usize, 1, 1, 2])
        };
        r.contents(&mut opts, DNS_POOL, contents, 10, true);
        if query && (contents == 0 || r.chance(10)) {
            let re = *r.pick(&["^[a-z]+\\.", "example$", "(?i)EVIL", "\\d", "^w+"]);
            opts.push(format!("pcre:\"/{re}/\""));
        }
        h.write(&mut out, &mut opts, 200_000 + i);
    }
    out
}

/// Names in the TLS golden pcap's ClientHellos, pieces of them, and raw bytes of its
/// records and data.
const TLS_POOL: &[&str] = &[
    "www.example.com",
    "cdn.evil-domain.net",
    "Login.BANK-Portal.com",
    "split.example.org",
    "acked.example.org",
    "records.example.org",
    "first.example.net",
    "other.example.net",
    "allowed.pass-me.org",
    "lonely.example.com",
    "reordered.example.org",
    "v6.example.com",
    "example",
    ".com",
    "org",
    "evil",
    "|16 03 01|",
    "|16 03 03|",
    "|14 03 03|",
    "|17 03 01|",
    "secret-path",
    "evil-marker",
    "XYZZY",
    "http/1.1",
];

/// The JA3 hashes of the TLS golden pcap's hellos (name and ALPN, ALPN only, extensions
/// cut by a bad name type) and one of none of them.
const JA3_HASHES: &[&str] = &[
    "f304b683dc0e3e41d087a99f999e232b",
    "2e390db90213d2eb580ed77bef9fe1a1",
    "d12efec3a7501dfb43e0bf44e1445670",
    "F304B683DC0E3E41D087A99F999E232B",
    "00000000000000000000000000000000",
];

/// Pieces of the TLS golden pcap's JA3 strings.
const JA3_POOL: &[&str] = &[
    "771,",
    "49199-49200-156",
    ",0-16,",
    ",16,",
    ",,,",
    "-156",
    "771,49199",
];

/// One random TLS rule set: `n` rules, sids 300000 on.
pub fn generate_tls(seed: u64, n: usize) -> String {
    let mut r = Rng(crate::benchgen::Rng::new(seed));
    let addrs = ["any", "any", "$HOME_NET", "$EXTERNAL_NET", "203.0.113.0/24"];
    let ports = ["any", "any", "any", "443", "!443", "8443", "[400:500]"];
    let mut out = String::new();
    for i in 0..n {
        let h = r.header(
            &["tls", "tls", "tls", "tls", "tcp", "tcp", "ip"],
            8,
            &addrs,
            &ports,
        );
        let proto = h.proto;
        let mut opts = vec![format!("msg:\"t{i}\"")];
        let sni = proto != "tcp" && r.chance(60);
        if r.chance(35) {
            let f = if sni {
                *r.pick(&["to_server", "established", "established,to_server"])
            } else {
                *r.pick(&[
                    "to_server",
                    "to_client",
                    "established",
                    "established,to_server",
                    "established,to_client",
                ])
            };
            opts.push(format!("flow:{f}"));
        }
        // One buffer of the hello in four: a JA3 hash (a whole one, as Suricata requires
        // of the first content) or a JA3 string, else the server name.
        let ja3 = if sni && r.chance(25) {
            Some(r.chance(50))
        } else {
            None
        };
        let contents = match ja3 {
            Some(true) => {
                opts.push((*r.pick(&["ja3.hash", "ja3_hash"])).into());
                let h = *r.pick(JA3_HASHES);
                let neg = if r.chance(10) { "!" } else { "" };
                opts.push(format!("content:{neg}\"{h}\""));
                0
            }
            Some(false) => {
                opts.push((*r.pick(&["ja3.string", "ja3_string"])).into());
                let n = *r.pick(&[1usize, 1, 2]);
                r.contents(&mut opts, JA3_POOL, n, 8, true);
                0
            }
            None => {
                if sni {
                    opts.push((*r.pick(&["tls.sni", "tls.sni", "tls_sni"])).into());
                    if r.chance(30) {
                        opts.push("dotprefix".into());
                    }
                    if r.chance(20) {
                        opts.push(r.bsize(10, 12));
                    }
                }
                if sni {
                    *r.pick(&[1usize, 1, 1, 2, 0])
                } else {
                    *r.pick(&[0usize, 1, 1, 1, 2])
                }
            }
        };
        r.contents(&mut opts, TLS_POOL, contents, 8, sni);
        let sni = sni && ja3.is_none();
        if sni && (contents == 0 || r.chance(10)) {
            let re = *r.pick(&[
                "^[a-z]+\\.",
                "example\\.(com|org)$",
                "(?i)BANK",
                "\\d",
                "^w+",
            ]);
            opts.push(format!("pcre:\"/{re}/\""));
        }
        h.write(&mut out, &mut opts, 300_000 + i);
    }
    out
}

/// Pieces of the certificate golden pcap's subjects and issuers, and some of none.
const CERT_NAME_POOL: &[&str] = &[
    "C=US, O=Evil Corp, CN=evil.example.com",
    "CN=evil.example.com",
    "O=Evil Corp",
    "C=DE, ST=Berlin, OU=Web Team + O=Good GmbH, CN=www.good.example",
    "OU=Web Team + O=Good GmbH",
    "CN=www.good.example",
    "C=US, O=Client Org, CN=client.example.net",
    "client.example.net",
    "C=US, O=Tidewatch Test, CN=Tidewatch Test Root CA",
    "Tidewatch Test",
    "Root CA",
    "C=US, ",
    ", CN=",
    "example",
    "CN=nowhere.example",
];

/// The certificate golden pcap's serials, pieces of them, and one of none.
const CERT_SERIAL_POOL: &[&str] = &[
    "00:C0:FF:EE:01:23:45:67:89",
    "00:C0",
    "C0:FF",
    ":89",
    "12:34",
    "7E:01",
    "01",
    "AB:CD",
];

/// Bytes of the certificate golden pcap's certificates (DER): OIDs, names, a date's
/// start, and some of none.
const CERT_DER_POOL: &[&str] = &[
    "|06 03 55 04 03|",
    "|06 03 55 04 0a|",
    "|06 03 55 04 06 13 02|US",
    "|30 82|",
    "|2a 86 48 ce 3d|",
    "evil.example.com",
    "www.good.example",
    "client.example.net",
    "Tidewatch Test Root CA",
    "Good GmbH",
    "|17 0d|",
    "|c0 ff ee|",
    "|de ad be ef|",
    "nowhere",
];

/// One random TLS certificate rule set: `n` rules, sids 400000 on.
pub fn generate_tls_certs(seed: u64, n: usize) -> String {
    let mut r = Rng(crate::benchgen::Rng::new(seed));
    let addrs = ["any", "any", "$HOME_NET", "$EXTERNAL_NET", "203.0.113.0/24"];
    let ports = ["any", "any", "any", "443", "!443", "8443"];
    let mut out = String::new();
    for i in 0..n {
        let h = r.header(&["tls", "tls", "tls", "tcp", "ip"], 6, &addrs, &ports);
        let mut opts = vec![format!("msg:\"c{i}\"")];
        // Most rules inspect a certificate buffer; some the server name, some raw bytes.
        let kind = *r.pick(&[
            "tls.cert_subject",
            "tls.cert_subject",
            "tls.cert_issuer",
            "tls.cert_serial",
            "tls.certs",
            "tls.certs",
            "tls.sni",
            "raw",
        ]);
        let cert = kind.starts_with("tls.cert");
        let f = if cert {
            *r.pick(&[
                "established,to_client",
                "established,to_client",
                "to_client",
                "established,to_server",
                "established",
                "",
            ])
        } else if kind == "tls.sni" {
            *r.pick(&["to_server", "established", ""])
        } else {
            *r.pick(&["established,to_client", "established,to_server", ""])
        };
        if !f.is_empty() {
            opts.push(format!("flow:{f}"));
        }
        if r.chance(8) {
            let op = *r.pick(&["set", "isset", "isnotset"]);
            opts.push(format!("flowbits:{op},c.bit"));
        }
        let (pool, ends) = match kind {
            "tls.cert_subject" | "tls.cert_issuer" => (CERT_NAME_POOL, true),
            "tls.cert_serial" => (CERT_SERIAL_POOL, true),
            "tls.certs" => (CERT_DER_POOL, false),
            "tls.sni" => (TLS_POOL, true),
            _ => (CERT_DER_POOL, false),
        };
        if kind != "raw" {
            opts.push(kind.into());
            if cert && r.chance(10) {
                opts.push(r.bsize(8, 50));
            }
        }
        let k = *r.pick(&[1usize, 1, 1, 2]);
        r.contents(&mut opts, pool, k, 10, ends);
        if cert && r.chance(12) {
            let re = *r.pick(&[
                "^C=(US|DE), ",
                "CN=[a-z]+\\.example\\.(com|net)$",
                "(?i)evil",
                "^00:",
                "\\+ O=",
            ]);
            opts.push(format!("pcre:\"/{re}/\""));
        }
        h.write(&mut out, &mut opts, 400_000 + i);
    }
    out
}

/// What one engine did with one rule file on one pcap.
struct Outcome {
    /// 1-based lines of the rules it refused.
    refused: BTreeSet<usize>,
    /// `(packet, sid)` of each alert: the packet's `pcap_cnt`, alerts without one left
    /// out ([`Key::PcapCnt`]), or its timestamp ([`Key::Time`]).
    alerts: BTreeSet<(String, u64)>,
}

/// What names an alert's packet in a comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    /// `pcap_cnt`: alerts on pseudo packets (no `pcap_cnt`) are left out.
    PcapCnt,
    /// The timestamp, for pcaps without TCP (so without end-of-flow pseudo packets) where
    /// every frame has its own time: Suricata gives a datagram rebuilt from fragments no
    /// `pcap_cnt`, tidewatch the completing fragment's.
    Time,
}

fn eve_pairs(text: &str, key: Key) -> BTreeSet<(String, u64)> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event_type"] == "alert")
        .filter_map(|v| {
            let packet = match key {
                Key::PcapCnt => v["pcap_cnt"].as_u64()?.to_string(),
                Key::Time => v["timestamp"].as_str()?.to_string(),
            };
            Some((packet, v["alert"]["signature_id"].as_u64()?))
        })
        .collect()
}

/// Line numbers named by "at line N" (Suricata) or "FILE:N:" (tidewatch) in `log`.
fn refused_lines(log: &str, marker: &str) -> BTreeSet<usize> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn run_suricata(pcap: &Path, rules: &Path, sets: &[&str], key: Key) -> Result<Outcome> {
    // Aho-Corasick rather than Hyperscan: Hyperscan refuses to compile some patterns
    // whose depth is shorter than the pattern ("Expression has max_offset=10 but
    // requires 18 bytes to match"), and then Suricata stops with the whole set; the
    // prefilter algorithm does not change what matches.
    let mut all = vec!["mpm-algo=ac"];
    all.extend_from_slice(sets);
    let run = suricata::run_with(pcap, rules, Path::new(SURICATA_YAML_PATH), true, &all)?;
    let eve = std::fs::read_to_string(run.log_dir.join("eve.json")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&run.log_dir);
    Ok(Outcome {
        refused: refused_lines(&run.log, " at line "),
        alerts: eve_pairs(&eve, key),
    })
}

fn run_tidewatch(
    bin: &Path,
    pcap: &Path,
    rules: &Path,
    sets: &[&str],
    key: Key,
) -> Result<Outcome> {
    let out = Command::new(bin)
        .arg("replay")
        .arg(pcap)
        .arg("--rules")
        .arg(rules)
        .args(["--eve", "-"])
        .args(sets.iter().flat_map(|s| ["--set", s]))
        .output()
        .context("running tidewatch replay")?;
    let log = String::from_utf8_lossy(&out.stderr);
    let marker = format!("{}:", rules.display());
    let errors: String = log
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(Outcome {
        refused: refused_lines(&errors, &marker),
        alerts: eve_pairs(&String::from_utf8_lossy(&out.stdout), key),
    })
}

/// Differences of one comparison, as report lines (empty when equal).
fn compare(s: &Outcome, t: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    let only = |a: &BTreeSet<usize>, b: &BTreeSet<usize>| -> Vec<usize> {
        a.difference(b).copied().collect()
    };
    let (rs, rt) = (only(&s.refused, &t.refused), only(&t.refused, &s.refused));
    if !rs.is_empty() || !rt.is_empty() {
        lines.push(format!(
            "refused only by Suricata: lines {rs:?}; only by tidewatch: lines {rt:?}"
        ));
    }
    let mut per_sid: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (_, sid) in s.alerts.difference(&t.alerts) {
        per_sid.entry(*sid).or_default().0 += 1;
    }
    for (_, sid) in t.alerts.difference(&s.alerts) {
        per_sid.entry(*sid).or_default().1 += 1;
    }
    for (sid, (missing, extra)) in per_sid {
        lines.push(format!(
            "sid {sid}: {missing} alerts only Suricata's, {extra} only tidewatch's"
        ));
    }
    lines
}

/// Generates and compares `args.seeds` rule sets; prints each difference.
pub fn run(args: &RuleDiffArgs) -> Result<()> {
    let bin = crate::pipeline::build_tidewatch()?;
    let dir = suricata::scratch_dir("rule-diff")?;
    let pcaps = if args.dns {
        let p = dir.join("dns.pcap");
        crate::golden_dns::write_dns_pcap(&p)?;
        vec![p]
    } else if args.tls {
        let p = dir.join("tls.pcap");
        crate::golden_tls::write_tls_pcap(&p)?;
        vec![p]
    } else if args.tls_certs {
        let p = dir.join("tls-certs.pcap");
        crate::golden_tls_certs::write_tls_certs_pcap(&p)?;
        vec![p]
    } else {
        let pcaps = vec![dir.join("golden.pcap"), dir.join("stream.pcap")];
        golden::write_golden_pcap(&pcaps[0])?;
        crate::golden_stream::write_stream_pcap(&pcaps[1])?;
        pcaps
    };
    let pool = content_pool()?;
    let keep = args.keep.clone().unwrap_or_else(|| dir.clone());
    std::fs::create_dir_all(&keep).with_context(|| format!("creating {}", keep.display()))?;
    let mut differing = 0;
    for seed in args.from..args.from + args.seeds {
        let rules = keep.join(format!("rules-{seed}.rules"));
        let text = if args.dns {
            generate_dns(seed, args.rules)
        } else if args.tls {
            generate_tls(seed, args.rules)
        } else if args.tls_certs {
            generate_tls_certs(seed, args.rules)
        } else {
            generate(seed, args.rules, &pool)
        };
        std::fs::write(&rules, text).with_context(|| format!("writing {}", rules.display()))?;
        let mut report = Vec::new();
        let mut alerts = 0;
        for pcap in &pcaps {
            let name = pcap.file_name().unwrap_or_default().to_string_lossy();
            // Suricata can fail on a whole set (a hyperscan pattern it cannot compile);
            // that set is reported and the next one goes on.
            let key = if args.dns { Key::Time } else { Key::PcapCnt };
            let diff = match run_suricata(pcap, &rules, &[], key) {
                Ok(s) => {
                    alerts += s.alerts.len();
                    compare(&s, &run_tidewatch(&bin, pcap, &rules, &[], key)?)
                }
                Err(e) => vec![format!(
                    "Suricata failed: {}",
                    e.to_string().lines().next().unwrap_or("")
                )],
            };
            report.extend(diff.into_iter().map(|l| format!("  {name}: {l}")));
        }
        if report.is_empty() {
            println!("seed {seed}: equal ({alerts} alerts)");
        } else {
            differing += 1;
            println!("seed {seed}: differs ({})", rules.display());
            println!("{}", report.join("\n"));
        }
    }
    println!("{differing} of {} rule sets differ", args.seeds);
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// The largest count [`stream_size_rules`] names one by one.
const STREAM_SIZE_MAX: u32 = 3000;

/// One rule per direction and count, `stream_size:client|server,=,N` for N up to
/// [`STREAM_SIZE_MAX`], and one per direction for anything above: every TCP packet with
/// a session raises exactly one alert per direction, naming its count.
fn stream_size_rules() -> String {
    let mut out = String::new();
    for n in 0..=STREAM_SIZE_MAX {
        for (side, base) in [("client", 100_000), ("server", 200_000)] {
            out.push_str(&format!(
                "alert tcp any any -> any any (msg:\"{side} {n}\"; stream_size:{side},=,{n}; sid:{};)\n",
                base + n
            ));
        }
    }
    for (side, sid) in [("client", 300_001), ("server", 300_002)] {
        out.push_str(&format!(
            "alert tcp any any -> any any (msg:\"{side} big\"; stream_size:{side},>,{STREAM_SIZE_MAX}; sid:{sid};)\n"
        ));
    }
    out
}

/// `cargo xtask stream-size-check`: the `stream_size` counts of every TCP packet of the
/// golden and stream golden pcaps, by default and with midstream pickup, from Suricata
/// and from tidewatch ([`stream_size_rules`]); fails on any difference.
pub fn run_stream_sizes() -> Result<()> {
    let bin = crate::pipeline::build_tidewatch()?;
    let dir = suricata::scratch_dir("stream-size")?;
    let pcaps = [dir.join("golden.pcap"), dir.join("stream.pcap")];
    golden::write_golden_pcap(&pcaps[0])?;
    crate::golden_stream::write_stream_pcap(&pcaps[1])?;
    let rules = dir.join("stream_size.rules");
    std::fs::write(&rules, stream_size_rules())
        .with_context(|| format!("writing {}", rules.display()))?;
    let mut report = Vec::new();
    for (variant, sets) in [
        ("default", &[][..]),
        ("midstream", &["stream.midstream=true"][..]),
    ] {
        for pcap in &pcaps {
            let name = pcap.file_name().unwrap_or_default().to_string_lossy();
            let s = run_suricata(pcap, &rules, sets, Key::PcapCnt)?;
            let t = run_tidewatch(&bin, pcap, &rules, sets, Key::PcapCnt)?;
            let diff = compare(&s, &t);
            println!(
                "{variant} {name}: {} counts (one per packet and direction) from Suricata, {} from tidewatch, {}",
                s.alerts.len(),
                t.alerts.len(),
                if diff.is_empty() {
                    "equal"
                } else {
                    "DIFFERENT"
                }
            );
            report.extend(diff.into_iter().map(|l| format!("  {variant} {name}: {l}")));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !report.is_empty() {
        anyhow::bail!("stream_size counts differ:\n{}", report.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_one_rule_set() {
        let pool = vec!["ABC".to_string(), "|00|".to_string()];
        assert_eq!(generate(7, 30, &pool), generate(7, 30, &pool));
        assert_ne!(generate(7, 30, &pool), generate(8, 30, &pool));
        assert_eq!(generate(7, 30, &pool).lines().count(), 30);
    }

    #[test]
    fn stream_size_rules_name_each_count_once() {
        let rules = stream_size_rules();
        assert_eq!(
            rules.lines().count(),
            2 * (STREAM_SIZE_MAX as usize + 1) + 2
        );
        let sids: BTreeSet<&str> = rules
            .lines()
            .filter_map(|l| l.split("sid:").nth(1))
            .collect();
        assert_eq!(sids.len(), rules.lines().count());
    }

    #[test]
    fn refusals_are_read_from_both_logs() {
        let suri = "E: detect: error parsing signature \"x\" from file r.rules at line 15\n";
        assert_eq!(refused_lines(suri, " at line "), BTreeSet::from([15]));
        let tw = "error: /tmp/r.rules:3:51: flags: 'flags' looks at single packets\n";
        assert_eq!(refused_lines(tw, "/tmp/r.rules:"), BTreeSet::from([3]));
    }
}
