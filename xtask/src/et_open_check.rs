//! `cargo xtask golden-et-open [--update]`: Suricata's alerts on the 50 MB benchmark pcap
//! with the Emerging Threats Open rules tidewatch enforces (the ruleset lives beside the
//! checkout, in `../shared/rules/et-open/`, and is not copied here; only Suricata's
//! alerts are stored). `tools/tests/et_open.rs` requires tidewatch's alerts on the same
//! pcap with the whole ruleset to equal them, alert by alert.

use crate::benchgen::write_bench_pcap;
use crate::golden::SURICATA_YAML_PATH;
use crate::stream_check::record_or_compare;
use crate::suricata;
use anyhow::{bail, Context, Result};
use detect::rules::{load_files, Classifications, Sticky, Vars};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Suricata's alerts with the enforced ET Open rules on the [`ET_OPEN_PCAP_MB`] bench pcap.
pub const ET_OPEN_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/et_open/expected_bench50.json"
);
/// Suricata's alerts with the enforced ET Open rules on the pcap of queries for the names
/// ET Open's `dns.query` rules look for ([`write_et_dns_pcap`]).
pub const ET_DNS_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/et_open/expected_dns.json"
);
/// Suricata's alerts with the enforced ET Open rules on the pcap of TLS sessions naming
/// what ET Open's `tls.sni` rules look for ([`write_et_tls_pcap`]).
pub const ET_TLS_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/et_open/expected_tls.json"
);
/// Suricata's alerts with the enforced ET Open rules on the pcap of TLS sessions whose
/// server certificates carry what ET Open's certificate rules look for
/// ([`write_et_cert_pcap`]).
pub const ET_CERTS_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/et_open/expected_certs.json"
);
/// Suricata's alerts with the enforced ET Open rules on the pcap of HTTP requests holding
/// what ET Open's HTTP request rules look for ([`crate::et_open_http::write_et_http_pcap`]).
pub const ET_HTTP_EXPECTED_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/golden/et_open/expected_http.json"
);
/// Size of the benchmark pcap the reference is taken on.
pub const ET_OPEN_PCAP_MB: u64 = 50;

/// The ET Open directory: `TIDEWATCH_ET_OPEN_DIR`, else `../shared/rules/et-open` beside
/// the checkout; `None` when it holds no `et-open.rules`.
pub fn et_open_dir() -> Option<PathBuf> {
    let d = std::env::var_os("TIDEWATCH_ET_OPEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/rules/et-open")
        });
    d.join("et-open.rules").exists().then_some(d)
}

/// Writes to `out` the lines of `rules` that tidewatch enforces (Suricata then loads
/// exactly those); returns how many.
pub fn write_enforced(rules: &Path, out: &Path) -> Result<usize> {
    let classes = match rules.parent().map(|d| d.join("classification.config")) {
        Some(c) if c.exists() => Classifications::load(&c)?,
        _ => Classifications::default(),
    };
    let loaded = load_files(&[rules.to_path_buf()], &Vars::default(), &classes, false)?;
    let lines: BTreeSet<u32> = loaded.rules.iter().map(|r| r.location.line).collect();
    let text =
        std::fs::read_to_string(rules).with_context(|| format!("reading {}", rules.display()))?;
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| lines.contains(&(*i as u32 + 1)))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(out, kept).with_context(|| format!("writing {}", out.display()))?;
    Ok(lines.len())
}

/// Runs Suricata; with `update` rewrites the stored alerts instead of comparing.
pub fn run(update: bool) -> Result<()> {
    let Some(et) = et_open_dir() else {
        bail!("ET Open not found (set TIDEWATCH_ET_OPEN_DIR)");
    };
    let dir = suricata::scratch_dir("golden-et-open")?;
    let result = run_in(&dir, &et.join("et-open.rules"), update);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One ET Open reference: its name, its pcap's file, what writes the pcap (and says how
/// many sessions or queries it holds, and of what), and the expected alerts' file.
type EtSet = (
    &'static str,
    &'static str,
    fn(&Path, &Path) -> Result<String>,
    &'static str,
);

fn run_in(dir: &Path, rules: &Path, update: bool) -> Result<()> {
    let enforced = dir.join("enforced.rules");
    let n = write_enforced(rules, &enforced)?;
    println!("{n} enforced rules");
    let sets: [EtSet; 5] = [
        (
            "et-open",
            "bench50.pcap",
            |_, pcap| {
                write_bench_pcap(pcap, ET_OPEN_PCAP_MB)?;
                Ok(format!("the {ET_OPEN_PCAP_MB} MB bench pcap"))
            },
            ET_OPEN_EXPECTED_PATH,
        ),
        (
            "et-open dns",
            "et_dns.pcap",
            |rules, pcap| {
                let n = write_et_dns_pcap(rules, pcap)?;
                Ok(format!(
                    "{n} DNS queries for the names of ET Open's dns.query rules"
                ))
            },
            ET_DNS_EXPECTED_PATH,
        ),
        (
            "et-open tls",
            "et_tls.pcap",
            |rules, pcap| {
                let n = write_et_tls_pcap(rules, pcap)?;
                Ok(format!(
                    "{n} TLS sessions for the names of ET Open's tls.sni rules"
                ))
            },
            ET_TLS_EXPECTED_PATH,
        ),
        (
            "et-open certs",
            "et_certs.pcap",
            |rules, pcap| {
                let n = write_et_cert_pcap(rules, pcap)?;
                Ok(format!(
                    "{n} TLS sessions for the certificates of ET Open's certificate rules"
                ))
            },
            ET_CERTS_EXPECTED_PATH,
        ),
        (
            "et-open http",
            "et_http.pcap",
            |rules, pcap| {
                let n = crate::et_open_http::write_et_http_pcap(rules, pcap)?;
                Ok(format!(
                    "{n} HTTP sessions for the contents of ET Open's HTTP request rules"
                ))
            },
            ET_HTTP_EXPECTED_PATH,
        ),
    ];
    let mut diffs = Vec::new();
    for (name, file, write, expected) in sets {
        let pcap = dir.join(file);
        println!("{}", write(rules, &pcap)?);
        let run = suricata::run(&pcap, &enforced, Path::new(SURICATA_YAML_PATH), true)?;
        record_or_compare(name, &run, expected, update, &mut diffs)?;
    }
    if !diffs.is_empty() {
        bail!(
            "ET Open golden mismatch (run `cargo xtask golden-et-open --update` if intended):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}

/// The names to ask for one content of a `dns.query` rule: the content itself (after a
/// label when it starts with a dot), in upper case (`nocase`), after an `x` (a `dotprefix`
/// rule must not see a longer label) and with a label after it (`endswith`).
fn names_for(pattern: &[u8]) -> Vec<Vec<u8>> {
    let base = if pattern.first() == Some(&b'.') {
        [b"a".as_slice(), pattern].concat()
    } else {
        pattern.to_vec()
    };
    let bare = pattern.strip_prefix(b".").unwrap_or(pattern);
    vec![
        base.clone(),
        base.to_ascii_uppercase(),
        [b"x".as_slice(), bare].concat(),
        [base.as_slice(), b".local"].concat(),
    ]
}

/// A DNS message for `name` (labels split at dots; `None` when a label is empty or too
/// long): a query, or with `reply` its answer (one A record).
fn dns_message(id: u16, name: &[u8], reply: bool) -> Option<Vec<u8>> {
    use crate::golden_dns::{message, question, reply_to};
    let labels: Vec<&[u8]> = name.split(|&b| b == b'.').collect();
    if labels.iter().any(|l| l.is_empty() || l.len() > 63) {
        return None;
    }
    Some(if reply {
        reply_to(id, &labels, &[])
    } else {
        message(id, 0x0100, 1, 0, &question(&labels))
    })
}

/// The names to ask for, for the enforced rules of one sticky buffer: [`names_for`] each
/// positive content.
fn sticky_names(rules: &Path, kind: Sticky) -> Result<BTreeSet<Vec<u8>>> {
    use detect::rules::PayloadMatch;
    let loaded = load_files(
        &[rules.to_path_buf()],
        &Vars::default(),
        &Classifications::default(),
        false,
    )?;
    let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
    for r in &loaded.rules {
        let Some(b) = r.app_buffer.as_ref().filter(|b| b.kind == kind) else {
            continue;
        };
        for p in &b.payload {
            if let PayloadMatch::Content(c) = p {
                if !c.negated {
                    names.extend(names_for(&c.pattern));
                }
            }
        }
    }
    Ok(names)
}

/// Writes a pcap of TLS sessions, each naming in its ClientHello one of the names ET
/// Open's enforced `tls.sni` rules look for ([`names_for`] each positive content), from a
/// `$HOME_NET` client to outside servers on port 443: handshake, ClientHello, the
/// server's flight, the client's finish, teardown. Returns the number of sessions.
pub fn write_et_tls_pcap(rules: &Path, out: &Path) -> Result<usize> {
    use crate::golden_stream::{Gen, Op};
    use crate::golden_tls::{client_finish, hello_record, server_flight};
    use capture::decode::LinkType;
    use capture::pcap::PcapWriter;
    use std::net::{IpAddr, Ipv4Addr};

    let names = sticky_names(rules, Sticky::TlsSni)?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(file), LinkType::Ethernet)?;
    let (sf, cf) = (server_flight(), client_finish());
    let mut ts = 1_713_000_000_000_000_000u64;
    let mut n = 0usize;
    // A generator numbers its client ports from 41001: a new server every 20,000 flows.
    for (batch, chunk) in names
        .iter()
        .filter(|name| (1..=255).contains(&name.len()) && !name.contains(&0))
        .collect::<Vec<_>>()
        .chunks(20_000)
        .enumerate()
    {
        let mut g = Gen::new();
        g.server = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + batch as u8));
        g.port = 443;
        for name in chunk {
            let hello = hello_record(Some(name));
            g.flow(&[
                Op::Handshake,
                Op::Data(true, &hello),
                Op::Data(false, &sf),
                Op::Data(true, &cf),
                Op::Teardown,
            ]);
            n += 1;
        }
        for f in &g.frames {
            ts += 1_000_000;
            w.write_frame(ts, f)?;
        }
    }
    w.into_inner()?;
    Ok(n)
}

/// Writes a pcap of DNS queries, each with its reply, for the names ET Open's enforced
/// `dns.query` rules look for ([`names_for`] each positive content), from `$HOME_NET`
/// clients to an outside resolver; returns the number of queries.
pub fn write_et_dns_pcap(rules: &Path, out: &Path) -> Result<usize> {
    use capture::craft::{FrameSpec, L4Spec};
    use capture::decode::LinkType;
    use capture::pcap::PcapWriter;
    use std::net::Ipv4Addr;

    let names = sticky_names(rules, Sticky::DnsQuery)?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(file), LinkType::Ethernet)?;
    let resolver = Ipv4Addr::new(8, 8, 8, 8);
    let (mut ts, mut n) = (1_712_000_000_000_000_000u64, 0usize);
    let mut frame = Vec::new();
    for name in &names {
        let (Some(q), Some(a)) = (
            dns_message(n as u16, name, false),
            dns_message(n as u16, name, true),
        ) else {
            continue;
        };
        let client = Ipv4Addr::new(10, 9, (n / 250 % 250) as u8, (1 + n % 250) as u8);
        let port = 10_000 + (n % 50_000) as u16;
        for (src, dst, sport, dport, msg) in [
            (client, resolver, port, 53, &q),
            (resolver, client, 53, port, &a),
        ] {
            frame.clear();
            FrameSpec::ipv4(src, dst, L4Spec::udp(sport, dport))
                .payload(msg)
                .write(&mut frame);
            ts += 1_000_000;
            w.write_frame(ts, &frame)?;
        }
        n += 1;
    }
    w.into_inner()?;
    Ok(n)
}

/// The subject, issuer and serial of one certificate of [`write_et_cert_pcap`], and
/// where its server is: the subject and issuer as x509-parser prints them (`C=US, O=Evil
/// Corp, CN=evil.example`), the serial's DER bytes (`None`: a serial of the session's
/// own).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CertSpec {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    serial: Option<Vec<u8>>,
    server: ServerAt,
    port: u16,
}

/// Where the server of a session of [`write_et_cert_pcap`] is: the rule's source, which
/// for most is `$EXTERNAL_NET` (an outside address of the session's own); `$HOME_NET`
/// for some (an inside address of its own); a list of networks for a few (its first
/// network's first host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ServerAt {
    Outside,
    Inside,
    At(std::net::IpAddr),
}

impl ServerAt {
    /// The address of session `n`'s server.
    fn addr(self, n: usize) -> std::net::IpAddr {
        use std::net::{IpAddr, Ipv4Addr};
        let (c, d) = ((n / 250) as u8, 1 + (n % 250) as u8);
        match self {
            ServerAt::Outside => IpAddr::V4(Ipv4Addr::new(198, 51, 100 + c, d)),
            ServerAt::Inside => IpAddr::V4(Ipv4Addr::new(10, 77, c, d)),
            ServerAt::At(a) => a,
        }
    }

    /// Where a to-client rule's server (its source, `src`) is: outside when the rule
    /// allows it, else inside, else its first network's first host.
    fn of(src: &detect::rules::AddrSet) -> ServerAt {
        use std::net::IpAddr;
        for at in [ServerAt::Outside, ServerAt::Inside] {
            if src.contains(&at.addr(0)) {
                return at;
            }
        }
        let first = src.include.iter().find_map(|net| match net.addr {
            IpAddr::V4(a) if net.prefix < 32 => Some(IpAddr::V4((u32::from(a) + 1).into())),
            a @ IpAddr::V4(_) => Some(a),
            IpAddr::V6(_) => None,
        });
        match first {
            Some(a) if src.contains(&a) => ServerAt::At(a),
            _ => ServerAt::Outside,
        }
    }
}

/// The subject of a certificate no rule asks about a subject of.
const DEFAULT_SUBJECT: &[u8] = b"CN=server.tidewatch.test";
/// The issuer of a certificate no rule asks about an issuer of.
const DEFAULT_ISSUER: &[u8] = b"C=US, O=Tidewatch, CN=Tidewatch Test Root";

/// The attribute names x509-parser 0.15 prints (its abbreviations), with the DER of their
/// OIDs.
const DN_KEYS: [(&[u8], &[u8]); 8] = [
    (b"C", &[0x55, 4, 6]),
    (b"ST", &[0x55, 4, 8]),
    (b"L", &[0x55, 4, 7]),
    (b"O", &[0x55, 4, 10]),
    (b"OU", &[0x55, 4, 11]),
    (b"CN", &[0x55, 4, 3]),
    (
        b"DC",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
    ),
    (
        b"Email",
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
    ),
];

/// The OID of the attribute `t` starts with (`CN=...`), if any.
fn dn_key(t: &[u8]) -> Option<(&'static [u8], &'static [u8])> {
    DN_KEYS
        .iter()
        .find(|(k, _)| t.starts_with(k) && t.get(k.len()) == Some(&b'='))
        .copied()
}

/// Appends `p` to the name text `t`: a `K=V` content as an RDN of its own, a value
/// fragment to the last value (or as a CN when `t` is empty).
fn dn_append(t: &mut Vec<u8>, p: &[u8]) {
    match (t.is_empty(), dn_key(p).is_some()) {
        (true, true) => {}
        (true, false) => t.extend_from_slice(b"CN="),
        (false, true) => t.extend_from_slice(b", "),
        (false, false) => {}
    }
    t.extend_from_slice(p);
}

/// The name text holding each of `contents` (one buffer's positive contents, in rule
/// order): `startswith` (or `depth`/`offset:0`) contents first, `endswith` ones last,
/// others in between ([`dn_append`]); `None` when none can be placed. Adds to `skipped`
/// the contents that cannot be: not UTF-8 or holding a NUL (Suricata hands the text on as
/// a C string), a value fragment at the start (a name's text starts with `K=`), a second
/// start or end that does not extend the first, or an `offset` past 0.
fn dn_text(contents: &[&detect::rules::ContentMatch], skipped: &mut usize) -> Option<Vec<u8>> {
    let (mut start, mut end): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut mid: Vec<&detect::rules::ContentMatch> = Vec::new();
    for c in contents {
        let p = c.pattern.as_slice();
        let at_start = c.startswith || c.offset.is_some() || c.depth.is_some();
        let placeable = !p.is_empty()
            && !p.contains(&0)
            && std::str::from_utf8(p).is_ok()
            && c.offset.unwrap_or(0) == 0
            && c.depth.is_none_or(|d| d as usize >= p.len())
            && !(at_start && c.endswith)
            && !(at_start && dn_key(p).is_none());
        if !placeable {
            *skipped += 1;
        } else if at_start {
            match start {
                None => start = Some(p),
                Some(s) if s.starts_with(p) => {}
                Some(s) if p.starts_with(s) => start = Some(p),
                Some(_) => *skipped += 1,
            }
        } else if c.endswith {
            match end {
                None => end = Some(p),
                Some(e) if e.ends_with(p) => {}
                Some(e) if p.ends_with(e) => end = Some(p),
                Some(_) => *skipped += 1,
            }
        } else {
            mid.push(c);
        }
    }
    let mut t = start.map(<[u8]>::to_vec).unwrap_or_default();
    for c in mid {
        let p = c.pattern.as_slice();
        if c.is_relative() || !t.windows(p.len()).any(|w| w == p) {
            dn_append(&mut t, p);
        }
    }
    if let Some(e) = end {
        if !t.ends_with(e) {
            dn_append(&mut t, e);
        }
    }
    (!t.is_empty()).then_some(t)
}

/// A DER TLV (definite length, short or long form).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let len = n.to_be_bytes();
        let skip = len.iter().take_while(|&&b| b == 0).count();
        v.push(0x80 | (len.len() - skip) as u8);
        v.extend_from_slice(&len[skip..]);
    }
    v.extend_from_slice(content);
    v
}

/// The DER Name whose x509-parser text is `t` (`K=V, K=V`, split before each `, K=` of a
/// known attribute, each value a UTF8String, one attribute per RDN); `None` when `t` does
/// not start with a known attribute.
fn dn_der(t: &[u8]) -> Option<Vec<u8>> {
    dn_key(t)?;
    let mut cuts = vec![0];
    cuts.extend(
        (1..t.len()).filter(|&i| t[i..].starts_with(b", ") && dn_key(&t[i + 2..]).is_some()),
    );
    cuts.push(t.len());
    let mut rdns = Vec::new();
    for w in cuts.windows(2) {
        let part = &t[if w[0] == 0 { 0 } else { w[0] + 2 }..w[1]];
        let (key, oid) = dn_key(part)?;
        let mut atv = der(0x06, oid);
        atv.extend_from_slice(&der(0x0c, &part[key.len() + 1..]));
        rdns.extend_from_slice(&der(0x31, &der(0x30, &atv)));
    }
    Some(der(0x30, &rdns))
}

/// The serial bytes a `tls.cert_serial` content spells (`0A:E1:...`, as Suricata prints
/// serials), if it spells whole bytes.
fn serial_of(c: &detect::rules::ContentMatch) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(&c.pattern).ok()?;
    text.split(':')
        .map(|h| {
            (h.len() == 2)
                .then(|| u8::from_str_radix(h, 16).ok())
                .flatten()
        })
        .collect::<Option<Vec<u8>>>()
        .filter(|v| !v.is_empty() && c.offset.unwrap_or(0) == 0)
}

/// A minimal X.509 v3 certificate (DER) with `subject`, `issuer` (DER Names) and serial
/// bytes `serial`: ecdsa-with-SHA256, valid 2024-01-01 to 2034-01-01, P-256's generator
/// as the public key, a fixed signature (nothing verifies it), no extensions.
fn der_cert(subject: &[u8], issuer: &[u8], serial: &[u8]) -> Vec<u8> {
    let ecdsa_sha256 = der(0x30, &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2]));
    let validity = [der(0x17, b"240101000000Z"), der(0x17, b"340101000000Z")].concat();
    let mut point = vec![0, 4];
    point.extend_from_slice(&[
        0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
        0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98,
        0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c,
        0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68,
        0x37, 0xbf, 0x51, 0xf5,
    ]);
    let key_alg = der(
        0x30,
        &[
            der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1]),
            der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7]),
        ]
        .concat(),
    );
    let spki = der(0x30, &[key_alg, der(0x03, &point)].concat());
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, serial),
            ecdsa_sha256.clone(),
            issuer.to_vec(),
            der(0x30, &validity),
            subject.to_vec(),
            spki,
        ]
        .concat(),
    );
    let sig = der(0x30, &[der(0x02, &[1]), der(0x02, &[1])].concat());
    let sig_bits = der(0x03, &[&[0u8][..], &sig].concat());
    der(0x30, &[tbs, ecdsa_sha256, sig_bits].concat())
}

/// The certificates for the enforced rules of `rules` that inspect `tls.cert_subject`,
/// `tls.cert_issuer` or `tls.cert_serial` (in rule order, each once), and the number of
/// positive contents that could not be placed ([`dn_text`], [`serial_of`]).
fn cert_specs(rules: &Path) -> Result<(Vec<CertSpec>, usize)> {
    use detect::rules::PayloadMatch;
    let loaded = load_files(
        &[rules.to_path_buf()],
        &Vars::default(),
        &Classifications::default(),
        false,
    )?;
    let (mut specs, mut seen, mut skipped) = (Vec::new(), BTreeSet::new(), 0usize);
    for r in &loaded.rules {
        let contents = |kind: Sticky| {
            r.app_buffer
                .iter()
                .chain(&r.app_buffers_also)
                .filter(|b| b.kind == kind)
                .flat_map(|b| &b.payload)
                .filter_map(|p| match p {
                    PayloadMatch::Content(c) if !c.negated => Some(c),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let (subject, issuer, serial) = (
            contents(Sticky::TlsCertSubject),
            contents(Sticky::TlsCertIssuer),
            contents(Sticky::TlsCertSerial),
        );
        if subject.is_empty() && issuer.is_empty() && serial.is_empty() {
            continue;
        }
        let subject = dn_text(&subject, &mut skipped);
        let issuer = dn_text(&issuer, &mut skipped);
        let mut serials = serial
            .iter()
            .filter_map(|c| serial_of(c))
            .collect::<Vec<_>>();
        skipped += serial.len() - serials.len();
        if serials.len() > 1 {
            skipped += serials.len() - 1;
            serials.truncate(1);
        }
        let spec = CertSpec {
            subject: subject.unwrap_or_else(|| DEFAULT_SUBJECT.to_vec()),
            issuer: issuer.unwrap_or_else(|| DEFAULT_ISSUER.to_vec()),
            serial: serials.pop(),
            server: ServerAt::of(&r.src),
            port: if r.src_ports.contains(443) {
                443
            } else {
                r.src_ports.include.first().map_or(443, |&(lo, _)| lo)
            },
        };
        if seen.insert(spec.clone()) {
            specs.push(spec);
        }
    }
    Ok((specs, skipped))
}

/// Writes a pcap of TLS 1.2 sessions, one for each certificate that carries what ET
/// Open's enforced `tls.cert_subject`, `tls.cert_issuer` and `tls.cert_serial` rules look
/// for (each positive content of a rule's buffers placed in the subject's or issuer's
/// text, or spelling the serial; rules asking for the same share a session): from a
/// `$HOME_NET` client to a server of its own where the rule's header looks for it
/// ([`ServerAt`]; on port 443, or the rule's first source port), the handshake, the
/// ClientHello, the server's flight with the certificate (ServerHello, Certificate,
/// ServerHelloDone), the client's finish, the server's finish, one application exchange,
/// teardown. The certificates are assembled here ([`der_cert`]), deterministic. Prints
/// how many contents could not be placed; returns the number of sessions.
pub fn write_et_cert_pcap(rules: &Path, out: &Path) -> Result<usize> {
    use crate::golden_stream::Gen;
    use crate::golden_stream::Op;
    use crate::golden_stream::{write_file, write_frames};
    use crate::golden_tls::client_finish;
    use crate::golden_tls_certs::{cert_flight, session};

    let (specs, skipped) = cert_specs(rules)?;
    println!("{skipped} certificate rule contents could not be placed in a certificate");
    let cf = client_finish();
    let mut g = Gen::new();
    for (n, spec) in specs.iter().enumerate() {
        let (Some(subject), Some(issuer)) = (dn_der(&spec.subject), dn_der(&spec.issuer)) else {
            bail!("no DER name for {spec:?}");
        };
        let serial = spec
            .serial
            .clone()
            .unwrap_or_else(|| vec![0x10, (n >> 8) as u8, n as u8]);
        let cert = der_cert(&subject, &issuer, &serial);
        let sf = cert_flight(&[&cert]);
        g.server = spec.server.addr(n);
        g.port = spec.port;
        let sni = format!("c{n}.certs.tidewatch.test");
        session(&mut g, sni.as_bytes(), &[Op::Data(false, &sf)], &cf);
    }
    write_file(out, |sink| {
        write_frames(sink, &g.frames, 1_716_000_000_001_000_000, 1_000_000)
    })?;
    Ok(specs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use detect::rules::ContentMatch;

    fn content(p: &str) -> ContentMatch {
        ContentMatch {
            pattern: p.as_bytes().to_vec(),
            ..ContentMatch::default()
        }
    }

    #[test]
    fn names_hold_the_contents() {
        let skipped = std::cell::Cell::new(0);
        let text = |cs: &[ContentMatch]| {
            let refs: Vec<&ContentMatch> = cs.iter().collect();
            let mut n = skipped.get();
            let t = dn_text(&refs, &mut n).map(|t| String::from_utf8(t).unwrap());
            skipped.set(n);
            t
        };
        let ends = |p: &str| ContentMatch {
            endswith: true,
            ..content(p)
        };
        let starts = |p: &str| ContentMatch {
            startswith: true,
            ..content(p)
        };
        assert_eq!(text(&[content("covid")]).unwrap(), "CN=covid");
        assert_eq!(
            text(&[ends("CN=eu.minerpool.pw"), content("O=X")]).unwrap(),
            "O=X, CN=eu.minerpool.pw"
        );
        assert_eq!(
            text(&[starts("CN="), ends(".anycast.example")]).unwrap(),
            "CN=.anycast.example"
        );
        assert_eq!(
            text(&[content("LogMeIn, Inc."), content("join.me")]).unwrap(),
            "CN=LogMeIn, Inc.join.me"
        );
        assert_eq!(skipped.get(), 0);
        assert_eq!(text(&[starts("Let's Encrypt")]), None);
        assert_eq!(skipped.get(), 1);
    }

    #[test]
    fn der_names_print_as_their_text() {
        let t = b"C=US, O=Cloudflare, Inc., CN=cloudflare-dns.com";
        let d = dn_der(t).unwrap();
        // Three RDNs, the second's value with its ", Inc.".
        assert_eq!(d.iter().filter(|&&b| b == 0x31).count(), 3);
        assert!(d.windows(16).any(|w| w == b"Cloudflare, Inc."));
        assert!(dn_der(b"C=, ST=, CN=").is_some());
        assert_eq!(dn_der(b"covid"), None);
        assert_eq!(der(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(der(4, &[0; 300])[..4], [4, 0x82, 1, 44]);
    }
}
