//! EVE JSON alert objects with Suricata's field names and order, so tools that read
//! Suricata's EVE read ours unchanged. Lives in `store` because both the live sensor
//! (through `tools`) and the collector's outputs (`route`) print alerts the same way.

use crate::record::{tunnel_kind_name, Addr, ArchivedAction, ArchivedAlertRecord, TunnelRecord};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// Suricata 7's names in EVE `proto` (its table of IANA keywords, with `IP-in-IP` for 4;
/// the protocols IANA names "any ..." it calls `Any`). Others are written as numbers.
const PROTO_NAMES: [(u8, &str); 24] = [
    (0, "HOPOPT"),
    (1, "ICMP"),
    (2, "IGMP"),
    (4, "IP-in-IP"),
    (6, "TCP"),
    (17, "UDP"),
    (33, "DCCP"),
    (41, "IPv6"),
    (43, "IPv6-Route"),
    (44, "IPv6-Frag"),
    (46, "RSVP"),
    (47, "GRE"),
    (50, "ESP"),
    (51, "AH"),
    (58, "IPv6-ICMP"),
    (59, "IPv6-NoNxt"),
    (60, "IPv6-Opts"),
    (61, "Any"),
    (63, "Any"),
    (68, "Any"),
    (99, "Any"),
    (114, "Any"),
    (132, "SCTP"),
    (137, "MPLS-in-IP"),
];

/// Suricata's protocol names in `proto`.
pub fn proto_name(p: u8) -> String {
    match PROTO_NAMES.iter().find(|(n, _)| *n == p) {
        Some((_, name)) => (*name).into(),
        None => p.to_string(),
    }
}

/// The protocol number of a Suricata `proto` name (any case), or of a number. `Any`
/// stands for several numbers and reads as the first (61); unknown names are `None`.
pub fn proto_number(name: &str) -> Option<u8> {
    if let Some((n, _)) = PROTO_NAMES
        .iter()
        .find(|(_, s)| s.eq_ignore_ascii_case(name))
    {
        return Some(*n);
    }
    match name.to_ascii_uppercase().as_str() {
        "ICMPV6" => Some(58),
        other => other.parse().ok(),
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The ICMP "port" a reply would carry, for types that have one (Community ID spec).
fn icmp_counterpart(v6: bool, t: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if v6 {
        &[
            (128, 129),
            (133, 134),
            (135, 136),
            (130, 131),
            (139, 140),
            (144, 145),
        ]
    } else {
        &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)]
    };
    pairs.iter().find_map(|&(a, b)| {
        if a == t {
            Some(b)
        } else if b == t {
            Some(a)
        } else {
            None
        }
    })
}

/// Community ID v1 (seed 0): a flow hash other tools (Zeek, Suricata) compute alike,
/// from plain 5-tuple fields so live and stored alerts share it.
pub fn community_id_of(
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    ip_proto: u8,
    icmp: Option<(u8, u8)>,
) -> String {
    let (mut sp, mut dp, mut one_way) = (src_port, dst_port, false);
    if let Some((t, c)) = icmp {
        sp = t as u16;
        match icmp_counterpart(src.is_ipv6(), t) {
            Some(o) => dp = o as u16,
            None => {
                dp = c as u16;
                one_way = true;
            }
        }
    }
    let (s, d) = (ip_bytes(&src), ip_bytes(&dst));
    let ordered = one_way || (s.as_slice(), sp) < (d.as_slice(), dp);
    let (s, d, sp, dp) = if ordered {
        (s, d, sp, dp)
    } else {
        (d, s, dp, sp)
    };
    let mut h = sha1_smol::Sha1::new();
    h.update(&0u16.to_be_bytes());
    h.update(&s);
    h.update(&d);
    h.update(&[ip_proto, 0]);
    if matches!(ip_proto, 1 | 6 | 17 | 58 | 132) {
        h.update(&sp.to_be_bytes());
        h.update(&dp.to_be_bytes());
    }
    format!("1:{}", B64.encode(h.digest().bytes()))
}

/// The fields of one EVE alert, from wherever the alert comes (a live `AlertEvent` or a
/// stored record), so both print the same object.
pub struct EveFields<'a> {
    pub ts_ns: u64,
    pub flow_id: u64,
    /// 0 when not from a pcap.
    pub pcap_cnt: u64,
    pub in_iface: Option<&'a str>,
    /// EVE `host`: the sensor's name (stored alerts).
    pub host: Option<&'a str>,
    pub vlan: &'a [u16],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_proto: u8,
    pub icmp: Option<(u8, u8)>,
    pub action: &'a str,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: &'a str,
    pub category: &'a str,
    pub severity: u8,
    pub metadata: &'a [(String, String)],
    /// `None` when unknown (stored records do not carry it).
    pub to_server: Option<bool>,
    pub payload: &'a [u8],
    pub packet: &'a [u8],
    /// The tunnel the packet arrived in (EVE `tunnel`, written when it has outer addresses).
    pub tunnel: Option<TunnelRecord>,
}

/// The EVE object for plain fields, with Suricata's field names and order.
pub fn eve_object(a: &EveFields<'_>) -> Value {
    let mut o = Map::new();
    o.insert("timestamp".into(), json!(eve_timestamp(a.ts_ns)));
    o.insert("flow_id".into(), json!(a.flow_id));
    if a.pcap_cnt > 0 {
        o.insert("pcap_cnt".into(), json!(a.pcap_cnt));
    }
    o.insert("event_type".into(), json!("alert"));
    if let Some(h) = a.host {
        o.insert("host".into(), json!(h));
    }
    if let Some(i) = a.in_iface {
        o.insert("in_iface".into(), json!(i));
    }
    if !a.vlan.is_empty() {
        o.insert("vlan".into(), json!(a.vlan));
    }
    o.insert("src_ip".into(), json!(a.src.to_string()));
    if a.icmp.is_none() && matches!(a.ip_proto, 6 | 17 | 132) {
        o.insert("src_port".into(), json!(a.src_port));
    }
    o.insert("dest_ip".into(), json!(a.dst.to_string()));
    if a.icmp.is_none() && matches!(a.ip_proto, 6 | 17 | 132) {
        o.insert("dest_port".into(), json!(a.dst_port));
    }
    o.insert("proto".into(), json!(proto_name(a.ip_proto)));
    if let Some((t, c)) = a.icmp {
        o.insert("icmp_type".into(), json!(t));
        o.insert("icmp_code".into(), json!(c));
    }
    o.insert(
        "pkt_src".into(),
        json!(if a.pcap_cnt > 0 { "wire/pcap" } else { "wire" }),
    );
    o.insert(
        "community_id".into(),
        json!(community_id_of(
            a.src, a.dst, a.src_port, a.dst_port, a.ip_proto, a.icmp
        )),
    );
    let mut alert = Map::new();
    alert.insert("action".into(), json!(a.action));
    alert.insert("gid".into(), json!(a.gid));
    alert.insert("signature_id".into(), json!(a.sid));
    alert.insert("rev".into(), json!(a.rev));
    alert.insert("signature".into(), json!(a.msg));
    alert.insert("category".into(), json!(a.category));
    alert.insert("severity".into(), json!(a.severity));
    if !a.metadata.is_empty() {
        // Suricata groups values by key: {"key": ["v1", "v2"]}.
        let mut md: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (k, v) in a.metadata {
            md.entry(k.as_str()).or_default().push(v.as_str());
        }
        alert.insert("metadata".into(), json!(md));
    }
    o.insert("alert".into(), Value::Object(alert));
    if let Some(t) = a.tunnel.as_ref().and_then(|t| tunnel_object(t, a.pcap_cnt)) {
        o.insert("tunnel".into(), t);
    }
    if let Some(ts) = a.to_server {
        o.insert(
            "direction".into(),
            json!(if ts { "to_server" } else { "to_client" }),
        );
    }
    o.insert("payload".into(), json!(B64.encode(a.payload)));
    o.insert("packet".into(), json!(B64.encode(a.packet)));
    o.insert("stream".into(), json!(0));
    Value::Object(o)
}

/// Suricata 7's `tunnel` object (the outermost tunnel packet: addresses, ports, protocol,
/// depth, capture position) plus tidewatch's `kind` and `id` (VNI, GRE key, ERSPAN
/// session). `None` for an MPLS-only path, which Suricata does not treat as a tunnel.
fn tunnel_object(t: &TunnelRecord, pcap_cnt: u64) -> Option<Value> {
    let (src, dst) = (t.src.to_ip()?, t.dst.to_ip()?);
    let mut o = Map::new();
    o.insert("src_ip".into(), json!(src.to_string()));
    o.insert("src_port".into(), json!(t.src_port));
    o.insert("dest_ip".into(), json!(dst.to_string()));
    o.insert("dest_port".into(), json!(t.dst_port));
    o.insert("proto".into(), json!(proto_name(t.proto)));
    o.insert("depth".into(), json!(t.depth));
    if pcap_cnt > 0 {
        o.insert("pcap_cnt".into(), json!(pcap_cnt));
    }
    o.insert(
        "pkt_src".into(),
        json!(if pcap_cnt > 0 { "wire/pcap" } else { "wire" }),
    );
    o.insert("kind".into(), json!(tunnel_kind_name(t.kind)));
    if let Some(id) = t.id {
        o.insert("id".into(), json!(id));
    }
    Some(Value::Object(o))
}

/// Formats nanoseconds since the epoch as UTC with microseconds, as Suricata writes it.
pub fn eve_timestamp(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let micros = (ts_ns % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn action_str(a: &ArchivedAction) -> &'static str {
    match a {
        ArchivedAction::Alert => "allowed",
        ArchivedAction::Drop => "blocked",
        ArchivedAction::Reject => "blocked",
        ArchivedAction::Pass => "allowed",
    }
}

fn unspecified() -> std::net::IpAddr {
    std::net::IpAddr::from([0u8, 0, 0, 0])
}

/// The EVE object of a record with `tidewatch: {id, seq}` (the store id when stored), as
/// `tidewatch alerts --format json` and the collector's outputs print it.
pub fn record_eve_tagged(id: Option<u64>, r: &ArchivedAlertRecord) -> Value {
    let mut v = record_eve(r);
    if let Some(o) = v.as_object_mut() {
        let mut t = Map::new();
        if let Some(id) = id {
            t.insert("id".into(), json!(id));
        }
        t.insert("seq".into(), json!(r.seq.to_native()));
        t.insert("sensor".into(), json!(r.sensor.as_str()));
        o.insert("tidewatch".into(), Value::Object(t));
    }
    v
}

/// The EVE object of a stored record (`host` is its sensor).
pub fn record_eve(r: &ArchivedAlertRecord) -> serde_json::Value {
    let vlan: Vec<u16> = r.vlan.iter().map(|v| v.to_native()).collect();
    let icmp = r.icmp.as_ref().map(|t| (t.0, t.1));
    eve_object(&EveFields {
        ts_ns: r.ts_ns.to_native(),
        flow_id: r.flow_id.to_native(),
        pcap_cnt: 0,
        in_iface: Some(r.iface.as_str()).filter(|s| !s.is_empty()),
        host: Some(r.sensor.as_str()),
        vlan: &vlan,
        src: r.src.to_ip().unwrap_or_else(unspecified),
        dst: r.dst.to_ip().unwrap_or_else(unspecified),
        src_port: r.src_port.to_native(),
        dst_port: r.dst_port.to_native(),
        ip_proto: r.ip_proto,
        icmp,
        action: action_str(&r.action),
        gid: r.gid.to_native(),
        sid: r.sid.to_native(),
        rev: r.rev.to_native(),
        msg: r.msg.as_str(),
        category: r.class.as_str(),
        severity: r.priority,
        metadata: &[],
        to_server: None,
        payload: &r.payload,
        packet: &r.packet,
        tunnel: r.tunnel.as_ref().map(|t| TunnelRecord {
            kind: t.kind,
            src: Addr {
                family: t.src.family,
                octets: t.src.octets,
            },
            dst: Addr {
                family: t.dst.family,
                octets: t.dst.octets,
            },
            proto: t.proto,
            src_port: t.src_port.to_native(),
            dst_port: t.dst_port.to_native(),
            id: t.id.as_ref().map(|i| i.to_native()),
            depth: t.depth,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_are_suricatas_and_read_back() {
        for (n, name) in [
            (50, "ESP"),
            (41, "IPv6"),
            (4, "IP-in-IP"),
            (99, "Any"),
            (58, "IPv6-ICMP"),
        ] {
            assert_eq!(proto_name(n), name);
        }
        assert_eq!(proto_name(253), "253");
        for (name, n) in [
            ("esp", 50),
            ("IPV6", 41),
            ("ICMPv6", 58),
            ("gre", 47),
            ("200", 200),
        ] {
            assert_eq!(proto_number(name), Some(n), "{name}");
        }
        assert_eq!(proto_number("Any"), Some(61));
        assert_eq!(proto_number("NOPE"), None);
    }

    #[test]
    fn known_instants() {
        assert_eq!(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(
            eve_timestamp(1_704_067_200_000_123_456),
            "2024-01-01T00:00:00.000123+0000"
        );
        // 2024-02-29 12:34:56.5
        assert_eq!(
            eve_timestamp(1_709_210_096_500_000_000),
            "2024-02-29T12:34:56.500000+0000"
        );
    }
}
