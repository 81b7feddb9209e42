//! `tidewatch alerts`: query the alert store — directly, or through the collector's
//! control socket while a collector holds the file — and print a table, EVE JSON lines,
//! payload dumps, or a pcap of the stored packets.

use crate::eve::proto_name;
use crate::timefmt::eve_timestamp;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::PathBuf;
use store::db::{Cidr, Indexes, Query, Store, StoreError, StoredAlert};

/// `tidewatch alerts`: query stored alerts.
#[derive(clap::Args)]
pub struct AlertsArgs {
    #[arg(long)]
    pub db: PathBuf,
    /// The collector's control socket, used when a collector holds the store.
    #[arg(long, default_value = "/run/tidewatch/collector.sock")]
    pub control: PathBuf,
    /// YYYY-MM-DD[THH:MM:SS], an age (15m, 2h, 7d) or @EPOCH_SECONDS; capture time.
    #[arg(long)]
    pub since: Option<String>,
    /// Exclusive upper bound, same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub sid: Option<u32>,
    /// Source address block, e.g. 10.0.0.0/8.
    #[arg(long)]
    pub src: Option<String>,
    #[arg(long)]
    pub dst: Option<String>,
    #[arg(long)]
    pub sensor: Option<String>,
    /// Newest N alerts (0: all).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    pub format: String,
    /// Show each alert's payload as hex and ASCII.
    #[arg(long)]
    pub payload: bool,
    /// Write the stored packets to this pcap file.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
}

/// Days since the epoch of a civil date (Howard Hinnant's algorithm, inverse of timefmt's).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time for `--since`/`--until`: `2024-01-31`, `2024-01-31T12:00:00[Z]`, an age such as
/// `90s`, `15m`, `2h`, `7d` (that long before `now_ns`), or `@SECONDS` since the epoch.
pub fn parse_time(s: &str, now_ns: u64) -> Result<u64> {
    let bad = || {
        anyhow::anyhow!(
            "bad time {s:?}: want YYYY-MM-DD[THH:MM:SS], an age like 15m/2h/7d, or @EPOCH_SECONDS"
        )
    };
    if let Some(secs) = s.strip_prefix('@') {
        let v: u64 = secs.parse().map_err(|_| bad())?;
        return v.checked_mul(1_000_000_000).ok_or_else(bad);
    }
    if let Some(unit) = s.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = s[..s.len() - 1].parse::<u64>() {
            let mult = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => 86_400,
            };
            return Ok(now_ns.saturating_sub(n.saturating_mul(mult).saturating_mul(1_000_000_000)));
        }
    }
    let s2 = s.trim_end_matches('Z');
    let (date, time) = s2.split_once(['T', ' ']).unwrap_or((s2, "00:00:00"));
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.is_empty() || t.len() > 3 {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<u32>().map_err(|_| bad());
    let (y, mo, da) = (
        d[0].parse::<i64>().map_err(|_| bad())?,
        num(d[1])?,
        num(d[2])?,
    );
    let h = num(t[0])?;
    let mi = t.get(1).map_or(Ok(0), |x| num(x))?;
    let se = t.get(2).map_or(Ok(0), |x| num(x))?;
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || se > 60
        || y < 1970
    {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    Ok(secs as u64 * 1_000_000_000)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn query_of(a: &AlertsArgs) -> Result<Query> {
    let now = now_ns();
    let cidr = |s: &Option<String>, what: &str| -> Result<Option<Cidr>> {
        s.as_deref()
            .map(|v| v.parse::<Cidr>().with_context(|| format!("--{what}")))
            .transpose()
    };
    Ok(Query {
        since_ns: a
            .since
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()
            .context("--since")?,
        until_ns: a
            .until
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()
            .context("--until")?,
        sid: a.sid,
        src: cidr(&a.src, "src")?,
        dst: cidr(&a.dst, "dst")?,
        sensor: a.sensor.clone(),
        limit: a.limit,
    })
}

/// Runs the query on the file, or on the collector that holds it.
pub fn fetch(a: &AlertsArgs, q: &Query) -> Result<Vec<StoredAlert>> {
    if !a.db.exists() {
        bail!("alert store {} does not exist", a.db.display());
    }
    match Store::open(&a.db, Indexes::Covering) {
        Ok(store) => Ok(store.query(q)?),
        Err(StoreError::Busy(_)) => store::collector::query_via_socket(&a.control, q).map_err(|e| {
            anyhow::anyhow!(
                "{} is held by a collector and its control socket did not answer: {e} (give --control PATH)",
                a.db.display()
            )
        }),
        Err(e) => Err(e.into()),
    }
}

/// Classic hex dump: offset, 16 bytes in hex, then ASCII.
pub fn hex_ascii(data: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    for (i, chunk) in data.chunks(16).enumerate() {
        write!(out, "  {:08x}  ", i * 16)?;
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => write!(out, "{b:02x} ")?,
                None => write!(out, "   ")?,
            }
            if j == 7 {
                write!(out, " ")?;
            }
        }
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, " |{ascii}|")?;
    }
    Ok(())
}

fn endpoint(ip: Option<std::net::IpAddr>, port: u16, proto: u8) -> String {
    let ip = ip.map_or("-".to_string(), |i| i.to_string());
    if matches!(proto, 6 | 17 | 132) {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    } else {
        ip
    }
}

pub fn run(a: AlertsArgs) -> Result<()> {
    let q = query_of(&a)?;
    let alerts = fetch(&a, &q)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if a.format != "json" {
        writeln!(
            out,
            "{:>8}  {:<31}  {:<12} {:>8}  {:>10}  {:<5} {:<45} {:<45} MSG",
            "ID", "TIME", "SENSOR", "SEQ", "SID", "PROTO", "SRC", "DST"
        )?;
    }
    let mut pcap = match &a.pcap {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            Some(capture::pcap::PcapWriter::new(
                std::io::BufWriter::new(f),
                capture::decode::LinkType::Ethernet,
            )?)
        }
        None => None,
    };
    for s in &alerts {
        let r = s.record()?;
        if a.format == "json" {
            let v = store::eve::record_eve_tagged(Some(s.id), r);
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{:>8}  {:<31}  {:<12} {:>8}  {:>10}  {:<5} {:<45} {:<45} {}",
                s.id,
                eve_timestamp(r.ts_ns.to_native()),
                r.sensor.as_str(),
                r.seq.to_native(),
                format!("{}:{}", r.gid.to_native(), r.sid.to_native()),
                proto_name(r.ip_proto),
                endpoint(r.src.to_ip(), r.src_port.to_native(), r.ip_proto),
                endpoint(r.dst.to_ip(), r.dst_port.to_native(), r.ip_proto),
                r.msg.as_str()
            )?;
        }
        if a.payload {
            if a.format == "json" {
                // JSON lines stay machine-readable: the dump goes to stderr.
                hex_ascii(&r.payload, &mut std::io::stderr().lock())?;
            } else {
                hex_ascii(&r.payload, &mut out)?;
            }
        }
        if let Some(w) = pcap.as_mut() {
            if !r.packet.is_empty() {
                w.write_cut_frame(r.ts_ns.to_native(), &r.packet, r.packet_len.to_native())?;
            }
        }
    }
    if let Some(w) = pcap {
        w.into_inner()?.flush()?;
    }
    out.flush()?;
    if a.pcap.is_some() {
        eprintln!(
            "{} alerts, packets written to {}",
            alerts.len(),
            a.pcap
                .as_deref()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_documented_form() {
        assert_eq!(
            parse_time("2024-01-01", 0).unwrap(),
            1_704_067_200_000_000_000
        );
        assert_eq!(
            parse_time("2024-02-29T12:34:56Z", 0).unwrap(),
            1_709_210_096_000_000_000
        );
        assert_eq!(parse_time("@10", 0).unwrap(), 10_000_000_000);
        assert_eq!(
            parse_time("2h", 10_000 * 1_000_000_000).unwrap(),
            (10_000 - 7200) * 1_000_000_000
        );
        assert!(parse_time("yesterday", 0).is_err());
        assert!(parse_time("2024-13-01", 0).is_err());
    }

    #[test]
    fn hex_dump_shows_hex_and_ascii() {
        let mut v = Vec::new();
        hex_ascii(b"GET / HTTP/1.1\r\nHost", &mut v).unwrap();
        let s = String::from_utf8(v).unwrap();
        assert!(s.starts_with("  00000000  47 45 54 20"), "{s}");
        assert!(s.contains("|GET / HTTP/1.1..|"), "{s}");
        assert!(s.contains("|Host|"), "{s}");
    }
}
