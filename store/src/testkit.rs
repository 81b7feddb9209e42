//! Plausible alert records for tests, benchmarks and fuzzing of the spool and the
//! transport, so they all exercise the same sizes and shapes.

use crate::record::{Action, Addr, AlertRecord, Origin};
use std::net::{IpAddr, Ipv4Addr};

/// A sensor alert with `payload_len` payload bytes and no packet (about 190 bytes of
/// archive overhead on top of the payload).
pub fn alert(seq: u64, payload_len: usize) -> AlertRecord {
    AlertRecord {
        sensor: "sensor-test".into(),
        seq,
        ts_ns: 1_700_000_000_000_000_000 + seq,
        created_ns: 1_700_000_000_000_000_500 + seq,
        origin: Origin::Sensor,
        gid: 1,
        sid: 2_000_000 + (seq % 1000) as u32,
        rev: 1,
        msg: "ET POLICY test alert".into(),
        class: "Potentially Bad Traffic".into(),
        priority: 2,
        action: Action::Alert,
        flow_id: seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        src: Addr::from(IpAddr::V4(Ipv4Addr::new(
            10,
            0,
            (seq >> 8) as u8,
            seq as u8,
        ))),
        dst: Addr::from(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1))),
        src_port: 40_000 + (seq % 20_000) as u16,
        dst_port: 80,
        ip_proto: 6,
        icmp: None,
        vlan: vec![],
        tunnel: None,
        iface: "eth0".into(),
        payload: (0..payload_len).map(|i| (i as u64 ^ seq) as u8).collect(),
        packet: vec![],
        packet_len: payload_len as u32 + 54,
    }
}

/// [`alert`], archived.
pub fn archived(seq: u64, payload_len: usize) -> rkyv::util::AlignedVec {
    alert(seq, payload_len)
        .encode()
        .expect("a sample alert encodes")
}
