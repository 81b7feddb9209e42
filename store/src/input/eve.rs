//! Suricata EVE JSON lines to alert records: the parser behind the EVE socket and the
//! EVE file tail. Only `event_type: "alert"` makes a record; other events are counted as
//! ignored. Bytes are untrusted: every failure is a [`LineError`] naming the field.

use super::{foreign_record, LineError, Reject};
use crate::record::{Action, AlertRecord, Origin};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use std::borrow::Cow;
use std::net::IpAddr;

/// What one EVE line is.
#[derive(Debug)]
pub enum Eve {
    /// An alert, as a record without `sensor` and `seq` (the input stamps them).
    Alert(Box<AlertRecord>),
    /// Another event type (flow, dns, stats...), counted and not stored.
    Ignored,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Line<'a> {
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    flow_id: Option<u64>,
    #[serde(borrow)]
    in_iface: Option<Cow<'a, str>>,
    vlan: Option<Vec<u16>>,
    #[serde(borrow)]
    src_ip: Option<Cow<'a, str>>,
    src_port: Option<u16>,
    #[serde(borrow)]
    dest_ip: Option<Cow<'a, str>>,
    dest_port: Option<u16>,
    proto: Option<Proto<'a>>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    alert: Option<Alert<'a>>,
    #[serde(borrow)]
    payload: Option<Cow<'a, str>>,
    #[serde(borrow)]
    packet: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Proto<'a> {
    Number(u8),
    #[serde(borrow)]
    Name(Cow<'a, str>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Alert<'a> {
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    gid: Option<u32>,
    signature_id: Option<u32>,
    rev: Option<u32>,
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    severity: Option<u8>,
}

fn bad(what: impl Into<String>) -> LineError {
    LineError::new(Reject::BadField, what)
}

/// Parses one EVE line (without its newline). `input` names the input (the record's
/// `iface` when the event has no `in_iface`).
pub fn parse_eve(line: &[u8], input: &str) -> Result<Eve, LineError> {
    let l: Line<'_> =
        serde_json::from_slice(line).map_err(|e| LineError::new(Reject::NotJson, e.to_string()))?;
    match l.event_type.as_deref() {
        Some("alert") => {}
        Some(_) => return Ok(Eve::Ignored),
        None => return Err(bad("no event_type")),
    }
    let a = l
        .alert
        .ok_or_else(|| bad("event_type alert without an alert object"))?;
    let mut r = foreign_record(Origin::SuricataEve);
    r.ts_ns = parse_timestamp(l.timestamp.as_deref().ok_or_else(|| bad("no timestamp"))?)
        .ok_or_else(|| bad("timestamp is not like 2024-01-31T12:00:00.123456+0000"))?;
    r.sid = a.signature_id.ok_or_else(|| bad("no alert.signature_id"))?;
    r.gid = a.gid.unwrap_or(1);
    r.rev = a.rev.unwrap_or(0);
    r.msg = a.signature.unwrap_or_default().into_owned();
    r.class = a.category.unwrap_or_default().into_owned();
    r.priority = a.severity.unwrap_or(3);
    r.action = match a.action.as_deref() {
        None | Some("allowed") => Action::Alert,
        Some("blocked") => Action::Drop,
        Some(o) => return Err(bad(format!("alert.action `{o}` is not allowed or blocked"))),
    };
    r.flow_id = l.flow_id.unwrap_or(0);
    r.src = ip(l.src_ip.as_deref(), "src_ip")?.into();
    r.dst = ip(l.dest_ip.as_deref(), "dest_ip")?.into();
    r.ip_proto = match l.proto.ok_or_else(|| bad("no proto"))? {
        Proto::Number(n) => n,
        Proto::Name(n) => proto_number(&n).ok_or_else(|| bad(format!("proto `{n}` unknown")))?,
    };
    r.src_port = l.src_port.unwrap_or(0);
    r.dst_port = l.dest_port.unwrap_or(0);
    r.icmp = l.icmp_type.map(|t| (t, l.icmp_code.unwrap_or(0)));
    r.vlan = l.vlan.unwrap_or_default();
    if r.vlan.len() > 2 {
        return Err(bad("vlan has more than two tags"));
    }
    r.iface = l.in_iface.as_deref().unwrap_or(input).to_string();
    r.payload = base64(l.payload.as_deref(), "payload")?;
    r.packet = base64(l.packet.as_deref(), "packet")?;
    r.packet_len = r.packet.len() as u32;
    Ok(Eve::Alert(Box::new(r)))
}

fn ip(s: Option<&str>, field: &str) -> Result<IpAddr, LineError> {
    let s = s.ok_or_else(|| bad(format!("no {field}")))?;
    s.parse()
        .map_err(|_| bad(format!("{field} `{s}` is not an IP address")))
}

fn base64(s: Option<&str>, field: &str) -> Result<Vec<u8>, LineError> {
    match s {
        None => Ok(Vec::new()),
        Some(s) => B64
            .decode(s)
            .map_err(|e| bad(format!("{field} is not base64: {e}"))),
    }
}

/// Suricata's `proto` names (any case), or a number in a string.
fn proto_number(n: &str) -> Option<u8> {
    crate::eve::proto_number(n)
}

fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |a, d| {
        a.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](+HHMM|+HH:MM|Z)` to ns since the epoch (Suricata writes
/// `2024-01-31T12:00:00.123456+0000`). None for anything else or before 1970.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u64;
    if let Some(r) = rest.strip_prefix(b".") {
        let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&r[..n])? * 10u64.pow(9 - n as u32);
        rest = &r[n..];
    }
    let offset: i64 = match rest {
        b"Z" | b"" => 0,
        [sign @ (b'+' | b'-'), h1, h2, tail @ ..] => {
            let mm = match tail {
                [b':', m1, m2] | [m1, m2] => digits(&[*m1, *m2])?,
                _ => return None,
            };
            let v = (digits(&[*h1, *h2])? * 3600 + mm * 60) as i64;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y as i64, mo as i64, d as i64);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + sec) as i64 - offset;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// `eve::civil_from_days`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eve::eve_timestamp;

    #[test]
    fn input_timestamps_invert_the_formatter() {
        for ns in [
            0,
            1_704_067_200_000_123_000,
            1_709_210_096_500_000_000,
            4_102_444_799_999_999_000,
        ] {
            assert_eq!(parse_timestamp(&eve_timestamp(ns)), Some(ns), "{ns}");
        }
        assert_eq!(
            parse_timestamp("2024-01-01T01:00:00.5+01:00"),
            Some(1_704_067_200_500_000_000)
        );
        assert_eq!(
            parse_timestamp("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000_000_000)
        );
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-01-01 00:00:00",
            "1969-12-31T23:59:59Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+9",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn input_eve_round_trips_our_own_lines() {
        let mut r = foreign_record(Origin::SuricataEve);
        r.sensor = "eve:x".into();
        r.seq = 9;
        r.ts_ns = 1_704_067_200_000_123_000;
        r.sid = 2_100_498;
        r.gid = 1;
        r.rev = 7;
        r.msg = "GPL ATTACK_RESPONSE id check returned root".into();
        r.class = "Potentially Bad Traffic".into();
        r.priority = 2;
        r.flow_id = 1234567;
        r.src = "2001:db8::1".parse::<IpAddr>().unwrap().into();
        r.dst = "2001:db8::2".parse::<IpAddr>().unwrap().into();
        r.src_port = 80;
        r.dst_port = 40000;
        r.ip_proto = 6;
        r.vlan = vec![10, 20];
        r.iface = "eth1".into();
        r.payload = b"uid=0(root) gid=0(root)".to_vec();
        r.packet = vec![0x45; 90];
        r.packet_len = 90;
        let bytes = r.encode().unwrap();
        let line = crate::eve::record_eve(crate::record::access(&bytes).unwrap()).to_string();
        let Eve::Alert(mut back) = parse_eve(line.as_bytes(), "in").unwrap() else {
            panic!("not an alert");
        };
        back.sensor = r.sensor.clone();
        back.seq = r.seq;
        back.created_ns = r.created_ns;
        assert_eq!(*back, r);
        let again = back.encode().unwrap();
        let line2 = crate::eve::record_eve(crate::record::access(&again).unwrap()).to_string();
        assert_eq!(line, line2);
    }

    #[test]
    fn input_eve_refuses_with_a_reason() {
        let cases: [(&str, Reject, &str); 6] = [
            ("{not json", Reject::NotJson, ""),
            (
                r#"{"timestamp":"2024-01-01T00:00:00Z"}"#,
                Reject::BadField,
                "event_type",
            ),
            (
                r#"{"event_type":"alert","timestamp":"2024-01-01T00:00:00Z","src_ip":"1.2.3.4","dest_ip":"1.2.3.5","proto":"TCP","alert":{}}"#,
                Reject::BadField,
                "signature_id",
            ),
            (
                r#"{"event_type":"alert","timestamp":"yesterday","alert":{"signature_id":1}}"#,
                Reject::BadField,
                "timestamp",
            ),
            (
                r#"{"event_type":"alert","timestamp":"2024-01-01T00:00:00Z","src_ip":"1.2.3.999","dest_ip":"1.2.3.5","proto":"TCP","alert":{"signature_id":1}}"#,
                Reject::BadField,
                "src_ip",
            ),
            (
                r#"{"event_type":"alert","timestamp":"2024-01-01T00:00:00Z","src_ip":"1.2.3.4","dest_ip":"1.2.3.5","proto":"TCP","payload":"!!","alert":{"signature_id":1}}"#,
                Reject::BadField,
                "payload",
            ),
        ];
        for (line, reason, word) in cases {
            let e = parse_eve(line.as_bytes(), "in").unwrap_err();
            assert_eq!(e.reason, reason, "{line}: {e}");
            assert!(e.to_string().contains(word), "{line}: {e}");
        }
        assert!(matches!(
            parse_eve(br#"{"event_type":"flow","src_ip":"x"}"#, "in"),
            Ok(Eve::Ignored)
        ));
    }
}
