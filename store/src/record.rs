//! The alert record: what a sensor spools, ships and the collector stores. One archived
//! (rkyv) form serves all three, so an alert is serialized once, on the sensor, and read in
//! place everywhere after (after validation wherever the bytes crossed a trust boundary).

use rkyv::rancor;
use rkyv::{Archive, Deserialize, Serialize};
use std::net::IpAddr;

/// Where an alert came from: our own detection, or an input the collector accepts.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum Origin {
    /// A tidewatch sensor's detection workers (live capture or replay).
    Sensor = 0,
    /// Suricata EVE JSON received by the collector.
    SuricataEve = 1,
    /// A host script writing to the collector's FIFO (AlertR style).
    Fifo = 2,
}

/// A rule's action, as the alert reports it.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum Action {
    Alert = 0,
    Drop = 1,
    Reject = 2,
    Pass = 3,
}

/// An IP address in a fixed 17-byte form (family, then 16 bytes; IPv4 in the first four),
/// so the archived record has no enum with variable layout and indexes can sort it.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub struct Addr {
    /// 4 or 6; 0 when the alert has no address (a FIFO alert).
    pub family: u8,
    pub octets: [u8; 16],
}

impl Addr {
    pub const NONE: Addr = Addr {
        family: 0,
        octets: [0; 16],
    };

    pub fn to_ip(&self) -> Option<IpAddr> {
        to_ip(self.family, &self.octets)
    }
}

fn to_ip(family: u8, o: &[u8; 16]) -> Option<IpAddr> {
    match family {
        4 => Some(IpAddr::from([o[0], o[1], o[2], o[3]])),
        6 => Some(IpAddr::from(*o)),
        _ => None,
    }
}

impl ArchivedAddr {
    pub fn to_ip(&self) -> Option<IpAddr> {
        to_ip(self.family, &self.octets)
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        let mut octets = [0u8; 16];
        match ip {
            IpAddr::V4(a) => {
                octets[..4].copy_from_slice(&a.octets());
                Addr { family: 4, octets }
            }
            IpAddr::V6(a) => Addr {
                family: 6,
                octets: a.octets(),
            },
        }
    }
}

/// The tunnel an alert's packet arrived in (see `capture::decode::Tunnel`): the
/// outermost IP tunnel and how many encapsulations deep the packet was.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct TunnelRecord {
    /// `capture::decode::TunnelKind` as its `u8` value; [`tunnel_kind_name`] names it.
    pub kind: u8,
    /// Outer addresses; [`Addr::NONE`] for MPLS over Ethernet (no outer IP header).
    pub src: Addr,
    pub dst: Addr,
    /// Outer IP protocol (47 GRE/ERSPAN, 17 VXLAN/GENEVE, 4, 41; 0 for MPLS).
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// VNI, GRE key, ERSPAN session id or MPLS bottom label.
    pub id: Option<u32>,
    /// IP-level encapsulations crossed (Suricata's `tunnel.depth`).
    pub depth: u8,
}

/// The name of a [`TunnelRecord::kind`], as `capture::decode::TunnelKind::name` gives it
/// (a test in `tools` keeps the two tables equal).
pub fn tunnel_kind_name(kind: u8) -> &'static str {
    match kind {
        0 => "gre",
        1 => "erspan1",
        2 => "erspan2",
        3 => "erspan3",
        4 => "vxlan",
        5 => "geneve",
        6 => "mpls",
        7 => "ipip",
        8 => "ipv6inip",
        _ => "unknown",
    }
}

/// One alert with its evidence. `(sensor, seq)` names it uniquely for ever: the sensor's
/// spool persists `seq`, so a restart never reuses a number and the collector can
/// de-duplicate resends.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct AlertRecord {
    pub sensor: String,
    pub seq: u64,
    /// Capture timestamp of the packet that raised it, ns since the Unix epoch.
    pub ts_ns: u64,
    /// When the worker raised it (ns since the epoch), for delivery latency.
    pub created_ns: u64,
    pub origin: Origin,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    /// The classtype's description (EVE `alert.category`), empty when the rule has none.
    pub class: String,
    /// 1 is the most urgent (EVE `alert.severity`).
    pub priority: u8,
    pub action: Action,
    pub flow_id: u64,
    pub src: Addr,
    pub dst: Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_proto: u8,
    /// ICMP type and code, when the packet is ICMP or ICMPv6.
    pub icmp: Option<(u8, u8)>,
    /// Outer VLAN first; at most two.
    pub vlan: Vec<u16>,
    /// The tunnel the packet arrived in; addresses, ports and protocol above are the
    /// inner packet's.
    pub tunnel: Option<TunnelRecord>,
    /// Capture interface (EVE `in_iface`), or the input's name for foreign alerts.
    pub iface: String,
    /// The inspected buffer that matched, cut to the configured bound.
    pub payload: Vec<u8>,
    /// The whole packet as captured, cut to the configured bound.
    pub packet: Vec<u8>,
    /// The packet's length on the wire, so a cut packet can be written to pcap honestly.
    pub packet_len: u32,
}

/// Why bytes that claimed to be a record were refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("invalid alert record ({len} bytes): {reason}")]
    Invalid { len: usize, reason: String },
    #[error("encoding an alert record: {0}")]
    Encode(String),
}

impl AlertRecord {
    /// Archives the record into `buf`'s allocation (reused across calls on hot paths).
    pub fn encode_into(
        &self,
        buf: rkyv::util::AlignedVec,
    ) -> Result<rkyv::util::AlignedVec, RecordError> {
        let mut buf = buf;
        buf.clear();
        rkyv::api::high::to_bytes_in::<_, rancor::Error>(self, buf)
            .map_err(|e| RecordError::Encode(e.to_string()))
    }

    /// Archives the record into a fresh buffer.
    pub fn encode(&self) -> Result<rkyv::util::AlignedVec, RecordError> {
        self.encode_into(rkyv::util::AlignedVec::new())
    }
}

/// Validates untrusted bytes (from a spool after a crash, or from a peer) and gives the
/// archived record in place. `bytes` must be 16-byte aligned (copy into an `AlignedVec`
/// when it is not).
pub fn access(bytes: &[u8]) -> Result<&ArchivedAlertRecord, RecordError> {
    rkyv::access::<ArchivedAlertRecord, rancor::Error>(bytes).map_err(|e| RecordError::Invalid {
        len: bytes.len(),
        reason: e.to_string(),
    })
}

/// Validates and deserializes into an owned record.
pub fn decode(bytes: &[u8]) -> Result<AlertRecord, RecordError> {
    let a = access(bytes)?;
    rkyv::deserialize::<AlertRecord, rancor::Error>(a).map_err(|e| RecordError::Invalid {
        len: bytes.len(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(seq: u64) -> AlertRecord {
        AlertRecord {
            sensor: "sensor-a".into(),
            seq,
            ts_ns: 1_700_000_000_000_000_000 + seq,
            created_ns: 1_700_000_000_000_001_000 + seq,
            origin: Origin::Sensor,
            gid: 1,
            sid: 2_000_000 + seq as u32,
            rev: 3,
            msg: "ET TEST something".into(),
            class: "Potentially Bad Traffic".into(),
            priority: 2,
            action: Action::Alert,
            flow_id: 0xdead_beef,
            src: "10.0.0.1".parse::<IpAddr>().unwrap().into(),
            dst: "2001:db8::1".parse::<IpAddr>().unwrap().into(),
            src_port: 1234,
            dst_port: 80,
            ip_proto: 6,
            icmp: None,
            vlan: vec![10, 20],
            tunnel: None,
            iface: "eth0".into(),
            payload: vec![0x41; 512],
            packet: vec![0x42; 600],
            packet_len: 600,
        }
    }

    #[test]
    fn round_trips_through_the_archive() {
        let r = sample(7);
        let bytes = r.encode().unwrap();
        let a = access(&bytes).unwrap();
        assert_eq!(a.seq.to_native(), 7);
        assert_eq!(a.sensor.as_str(), "sensor-a");
        assert_eq!(a.src.to_ip(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(a.dst.to_ip(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(decode(&bytes).unwrap(), r);
    }

    #[test]
    fn tunnel_round_trips_and_prints_as_suricata_does() {
        let mut r = sample(8);
        r.tunnel = Some(TunnelRecord {
            kind: 4,
            src: "198.51.100.1".parse::<IpAddr>().unwrap().into(),
            dst: "198.51.100.2".parse::<IpAddr>().unwrap().into(),
            proto: 17,
            src_port: 49152,
            dst_port: 4789,
            id: Some(0x1234),
            depth: 1,
        });
        let bytes = r.encode().unwrap();
        assert_eq!(decode(&bytes).unwrap(), r);
        let v = crate::eve::record_eve(access(&bytes).unwrap());
        let t = &v["tunnel"];
        assert_eq!(t["src_ip"], "198.51.100.1");
        assert_eq!(t["dest_ip"], "198.51.100.2");
        assert_eq!(
            (t["src_port"].as_u64(), t["dest_port"].as_u64()),
            (Some(49152), Some(4789))
        );
        assert_eq!(
            (t["proto"].as_str(), t["depth"].as_u64()),
            (Some("UDP"), Some(1))
        );
        assert_eq!(
            (t["kind"].as_str(), t["id"].as_u64()),
            (Some("vxlan"), Some(0x1234))
        );
        // MPLS over Ethernet has no outer IP packet: Suricata writes no tunnel object.
        r.tunnel = Some(TunnelRecord {
            kind: 6,
            src: Addr::NONE,
            dst: Addr::NONE,
            proto: 0,
            src_port: 0,
            dst_port: 0,
            id: Some(100),
            depth: 0,
        });
        let bytes = r.encode().unwrap();
        assert_eq!(decode(&bytes).unwrap(), r);
        assert!(crate::eve::record_eve(access(&bytes).unwrap())
            .get("tunnel")
            .is_none());
    }

    #[test]
    fn corrupt_bytes_are_refused_not_trusted() {
        let bytes = sample(1).encode().unwrap();
        let mut cut = rkyv::util::AlignedVec::<16>::new();
        cut.extend_from_slice(&bytes[..bytes.len() / 2]);
        let err = access(&cut).unwrap_err();
        assert!(err.to_string().contains("invalid alert record"), "{err}");
        let mut flipped = rkyv::util::AlignedVec::<16>::new();
        flipped.extend_from_slice(&bytes);
        let n = flipped.len();
        // The root's relative pointer to the sensor string sits at the end: aim it outside.
        for b in &mut flipped[n - 16..] {
            *b = 0xff;
        }
        assert!(access(&flipped).is_err());
    }
}
