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

fn run_in(dir: &Path, rules: &Path, update: bool) -> Result<()> {
    let enforced = dir.join("enforced.rules");
    let n = write_enforced(rules, &enforced)?;
    println!("{n} enforced rules");
    let pcap = dir.join("bench50.pcap");
    write_bench_pcap(&pcap, ET_OPEN_PCAP_MB)?;
    let run = suricata::run(&pcap, &enforced, Path::new(SURICATA_YAML_PATH), true)?;
    let mut diffs = Vec::new();
    record_or_compare("et-open", &run, ET_OPEN_EXPECTED_PATH, update, &mut diffs)?;
    let dns = dir.join("et_dns.pcap");
    let queries = write_et_dns_pcap(rules, &dns)?;
    println!("{queries} DNS queries for the names of ET Open's dns.query rules");
    let run = suricata::run(&dns, &enforced, Path::new(SURICATA_YAML_PATH), true)?;
    record_or_compare(
        "et-open dns",
        &run,
        ET_DNS_EXPECTED_PATH,
        update,
        &mut diffs,
    )?;
    let tls = dir.join("et_tls.pcap");
    let sessions = write_et_tls_pcap(rules, &tls)?;
    println!("{sessions} TLS sessions for the names of ET Open's tls.sni rules");
    let run = suricata::run(&tls, &enforced, Path::new(SURICATA_YAML_PATH), true)?;
    record_or_compare(
        "et-open tls",
        &run,
        ET_TLS_EXPECTED_PATH,
        update,
        &mut diffs,
    )?;
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
