//! EVE JSON alert lines for live alerts; the formatter itself is shared with the
//! collector's outputs in [`store::eve`].

use detect::worker::AlertEvent;
use serde_json::Value;
pub use store::eve::{eve_object, proto_name, EveFields};

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
        tunnel: a.tunnel.as_ref().map(crate::deliver::tunnel_record),
    })
}
