//! EVE JSON alert lines with Suricata's field names, so tools that read Suricata's EVE
//! read ours unchanged.

use crate::timefmt::eve_timestamp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use detect::worker::AlertEvent;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// Suricata's protocol names in `proto`.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        47 => "GRE".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
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
}

/// One EVE `alert` object for `a` (without a trailing newline).
pub fn alert_json(a: &AlertEvent, in_iface: Option<&str>) -> Value {
    let rule = a.rule();
    eve_object(&EveFields {
        ts_ns: a.ts_ns,
        flow_id: a.flow_id,
        pcap_cnt: a.pcap_cnt,
        in_iface,
        host: None,
        vlan: &a.vlan,
        src: a.src,
        dst: a.dst,
        src_port: a.src_port,
        dst_port: a.dst_port,
        ip_proto: a.ip_proto,
        icmp: a.icmp,
        action: a.action().eve_action(),
        gid: rule.gid,
        sid: rule.sid,
        rev: rule.rev,
        msg: &rule.msg,
        category: &rule.category,
        severity: rule.priority,
        metadata: &rule.metadata,
        to_server: Some(a.to_server),
        payload: &a.payload,
        packet: &a.packet,
    })
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
