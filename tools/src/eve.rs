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

/// Community ID v1 (seed 0): a flow hash other tools (Zeek, Suricata) compute alike.
pub fn community_id(a: &AlertEvent) -> String {
    let (mut sp, mut dp, mut one_way) = (a.src_port, a.dst_port, false);
    if let Some((t, c)) = a.icmp {
        sp = t as u16;
        match icmp_counterpart(a.src.is_ipv6(), t) {
            Some(o) => dp = o as u16,
            None => {
                dp = c as u16;
                one_way = true;
            }
        }
    }
    let (s, d) = (ip_bytes(&a.src), ip_bytes(&a.dst));
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
    h.update(&[a.ip_proto, 0]);
    if matches!(a.ip_proto, 1 | 6 | 17 | 58 | 132) {
        h.update(&sp.to_be_bytes());
        h.update(&dp.to_be_bytes());
    }
    format!("1:{}", B64.encode(h.digest().bytes()))
}

/// One EVE `alert` object for `a` (without a trailing newline).
pub fn alert_json(a: &AlertEvent, in_iface: Option<&str>) -> Value {
    let rule = a.rule();
    let mut o = Map::new();
    o.insert("timestamp".into(), json!(eve_timestamp(a.ts_ns)));
    o.insert("flow_id".into(), json!(a.flow_id));
    if a.pcap_cnt > 0 {
        o.insert("pcap_cnt".into(), json!(a.pcap_cnt));
    }
    o.insert("event_type".into(), json!("alert"));
    if let Some(i) = in_iface {
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
    o.insert("community_id".into(), json!(community_id(a)));
    let mut alert = Map::new();
    alert.insert("action".into(), json!(rule.action.eve_action()));
    alert.insert("gid".into(), json!(rule.gid));
    alert.insert("signature_id".into(), json!(rule.sid));
    alert.insert("rev".into(), json!(rule.rev));
    alert.insert("signature".into(), json!(rule.msg));
    alert.insert("category".into(), json!(rule.category));
    alert.insert("severity".into(), json!(rule.priority));
    if !rule.metadata.is_empty() {
        // Suricata groups values by key: {"key": ["v1", "v2"]}.
        let mut md: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (k, v) in &rule.metadata {
            md.entry(k.as_str()).or_default().push(v.as_str());
        }
        alert.insert("metadata".into(), json!(md));
    }
    o.insert("alert".into(), Value::Object(alert));
    o.insert(
        "direction".into(),
        json!(if a.to_server {
            "to_server"
        } else {
            "to_client"
        }),
    );
    o.insert("payload".into(), json!(B64.encode(&a.payload)));
    o.insert("packet".into(), json!(B64.encode(&a.packet)));
    o.insert("stream".into(), json!(0));
    Value::Object(o)
}
