//! The tunnel golden scenarios: one pcap per encapsulation (GRE with IPv4 and IPv6 inside,
//! GRE with checksum/key/sequence, GRE bridging Ethernet, ERSPAN I/II/III, VXLAN, GENEVE,
//! MPLS with one and three labels and as an Ethernet pseudowire, IPv4-in-IPv4,
//! IPv6-in-IPv4, IPv4-in-IPv6, IPv6-in-IPv6, GRE over IPv6, and VXLAN inside GRE), each
//! carrying the same inner TCP connection and UDP datagram, which match
//! `xtask/golden/encap/encap.rules`. Suricata's alerts on each pcap are the reference
//! (`cargo xtask golden-encap`).

use anyhow::{Context, Result};
use capture::craft::{tcp_flags as F, FrameSpec, L4Spec, TcpSession};
use capture::craft_encap::{ethernet, Encap, Inner, Outer};
use capture::decode::LinkType;
use capture::pcap::PcapWriter;
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

/// The tunnel rules file.
pub const ENCAP_RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/encap/encap.rules");
/// Suricata's alerts per scenario.
pub const ENCAP_EXPECTED_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/golden/encap/expected.json");

/// 2024-03-01T00:00:00Z: every pcap's first frame.
const START_NS: u64 = 1_709_251_200_000_000_000;
const STEP_NS: u64 = 1_000_000;

const INNER4: (&str, &str) = ("10.77.0.1", "10.77.0.2");
const INNER6: (&str, &str) = ("fd00:77::1", "fd00:77::2");
const OUTER4: (&str, &str) = ("198.51.100.1", "198.51.100.2");
const OUTER6: (&str, &str) = ("2001:db8:51::1", "2001:db8:51::2");
/// The nested scenario's inner tunnel endpoints.
const MIDDLE4: (&str, &str) = ("192.0.2.1", "192.0.2.2");

/// One alert as compared: the inner tuple and time, and the EVE `tunnel` object when
/// the alert has one (Suricata's fields: src_ip, src_port, dest_ip, dest_port, proto,
/// depth; `pcap_cnt` and `pkt_src` are left out).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EncapAlert {
    pub timestamp: String,
    pub sid: u64,
    pub src_ip: String,
    pub src_port: u16,
    pub dest_ip: String,
    pub dest_port: u16,
    pub tunnel: Option<TunnelObj>,
}

/// The compared fields of an EVE `tunnel` object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TunnelObj {
    pub src_ip: String,
    pub src_port: u16,
    pub dest_ip: String,
    pub dest_port: u16,
    pub proto: String,
    pub depth: u64,
}

/// Reads one alert of an EVE line (Suricata's or ours).
pub fn encap_alert(v: &serde_json::Value) -> Option<EncapAlert> {
    if v["event_type"] != "alert" {
        return None;
    }
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let port = |v: &serde_json::Value, k: &str| {
        v[k].as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    };
    let t = &v["tunnel"];
    let tunnel = t.is_object().then(|| TunnelObj {
        src_ip: s(t, "src_ip"),
        src_port: port(t, "src_port"),
        dest_ip: s(t, "dest_ip"),
        dest_port: port(t, "dest_port"),
        proto: s(t, "proto"),
        depth: t["depth"].as_u64().unwrap_or(0),
    });
    Some(EncapAlert {
        timestamp: s(v, "timestamp"),
        sid: v["alert"]["signature_id"].as_u64()?,
        src_ip: s(v, "src_ip"),
        src_port: port(v, "src_port"),
        dest_ip: s(v, "dest_ip"),
        dest_port: port(v, "dest_port"),
        tunnel,
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn outer(pair: (&str, &str)) -> Outer {
    Outer {
        src: ip(pair.0),
        dst: ip(pair.1),
    }
}

/// Outer addresses for a direction: replies travel the tunnel the other way, except for
/// mirrored traffic (ERSPAN), which always flows from the mirror to the collector.
fn dir(o: Outer, from_client: bool, mirror: bool) -> Outer {
    if from_client || mirror {
        o
    } else {
        Outer {
            src: o.dst,
            dst: o.src,
        }
    }
}

/// The encapsulations, by scenario name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Gre4,
    Gre6,
    GreKeySeq,
    GreTeb,
    GreOverIpv6,
    ErspanI,
    ErspanII,
    ErspanIII,
    Vxlan,
    Geneve,
    MplsSingle,
    MplsStacked,
    MplsPseudowire,
    IpIp,
    Ipv6InIpv4,
    Ipv4InIpv6,
    Ipv6InIpv6,
    VxlanInGre,
}

impl Scenario {
    pub const ALL: [Scenario; 18] = [
        Scenario::Gre4,
        Scenario::Gre6,
        Scenario::GreKeySeq,
        Scenario::GreTeb,
        Scenario::GreOverIpv6,
        Scenario::ErspanI,
        Scenario::ErspanII,
        Scenario::ErspanIII,
        Scenario::Vxlan,
        Scenario::Geneve,
        Scenario::MplsSingle,
        Scenario::MplsStacked,
        Scenario::MplsPseudowire,
        Scenario::IpIp,
        Scenario::Ipv6InIpv4,
        Scenario::Ipv4InIpv6,
        Scenario::Ipv6InIpv6,
        Scenario::VxlanInGre,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Gre4 => "gre_ipv4",
            Scenario::Gre6 => "gre_ipv6",
            Scenario::GreKeySeq => "gre_key_seq_checksum",
            Scenario::GreTeb => "gre_ethernet",
            Scenario::GreOverIpv6 => "gre_over_ipv6",
            Scenario::ErspanI => "erspan_type1",
            Scenario::ErspanII => "erspan_type2",
            Scenario::ErspanIII => "erspan_type3",
            Scenario::Vxlan => "vxlan",
            Scenario::Geneve => "geneve",
            Scenario::MplsSingle => "mpls_single",
            Scenario::MplsStacked => "mpls_stacked",
            Scenario::MplsPseudowire => "mpls_pseudowire",
            Scenario::IpIp => "ipv4_in_ipv4",
            Scenario::Ipv6InIpv4 => "ipv6_in_ipv4",
            Scenario::Ipv4InIpv6 => "ipv4_in_ipv6",
            Scenario::Ipv6InIpv6 => "ipv6_in_ipv6",
            Scenario::VxlanInGre => "vxlan_in_gre",
        }
    }

    /// Whether the inner packets are IPv6.
    fn inner_v6(self) -> bool {
        matches!(
            self,
            Scenario::Gre6 | Scenario::Ipv6InIpv4 | Scenario::Ipv6InIpv6
        )
    }

    /// Wraps one inner IP packet travelling in the given direction.
    fn wrap(self, ip: &[u8], from_client: bool, out: &mut Vec<u8>) {
        let o4 = |m| dir(outer(OUTER4), from_client, m);
        let o6 = |m| dir(outer(OUTER6), from_client, m);
        let gre = |o| Encap::Gre {
            outer: o,
            checksum: false,
            key: None,
            seq: None,
        };
        let vxlan = |o| Encap::Vxlan {
            outer: o,
            src_port: 49152,
            dst_port: 4789,
            vni: 0x00_1234,
        };
        let inner = Inner::Ip(ip);
        match self {
            Scenario::Gre4 | Scenario::Gre6 => gre(o4(false)).wrap(inner, out),
            Scenario::GreKeySeq => Encap::Gre {
                outer: o4(false),
                checksum: true,
                key: Some(0x0102_0304),
                seq: Some(7),
            }
            .wrap(inner, out),
            Scenario::GreTeb => gre(o4(false)).wrap(Inner::Ethernet(&ethernet(ip)), out),
            Scenario::GreOverIpv6 => gre(o6(false)).wrap(inner, out),
            Scenario::ErspanI => Encap::ErspanI { outer: o4(true) }.wrap(inner, out),
            Scenario::ErspanII => Encap::ErspanII {
                outer: o4(true),
                session: 100,
                seq: 1,
            }
            .wrap(inner, out),
            Scenario::ErspanIII => Encap::ErspanIII {
                outer: o4(true),
                session: 300,
                seq: 1,
            }
            .wrap(inner, out),
            Scenario::Vxlan => vxlan(o4(false)).wrap(inner, out),
            Scenario::Geneve => Encap::Geneve {
                outer: o4(false),
                src_port: 49153,
                dst_port: 6081,
                vni: 0x00_5678,
                option_words: 2,
            }
            .wrap(inner, out),
            Scenario::MplsSingle => Encap::Mpls { labels: &[100] }.wrap(inner, out),
            Scenario::MplsStacked => Encap::Mpls {
                labels: &[100, 200, 300],
            }
            .wrap(inner, out),
            Scenario::MplsPseudowire => Encap::Mpls {
                labels: &[100, 400],
            }
            .wrap(Inner::Ethernet(&ethernet(ip)), out),
            Scenario::IpIp | Scenario::Ipv6InIpv4 => {
                Encap::IpInIp { outer: o4(false) }.wrap(inner, out)
            }
            Scenario::Ipv4InIpv6 | Scenario::Ipv6InIpv6 => {
                Encap::IpInIp { outer: o6(false) }.wrap(inner, out)
            }
            Scenario::VxlanInGre => {
                let mut mid = Vec::new();
                vxlan(dir(outer(MIDDLE4), from_client, false)).wrap(inner, &mut mid);
                gre(o4(false)).wrap(Inner::Ip(mid.get(14..).unwrap_or_default()), out);
            }
        }
    }

    /// All frames of this scenario's pcap.
    pub fn frames(self) -> Vec<Vec<u8>> {
        let (c, s) = if self.inner_v6() { INNER6 } else { INNER4 };
        let mut session = TcpSession::new((ip(c), 40001), (ip(s), 8080), 1000, 5000);
        session.eth = None;
        let mut frames = Vec::new();
        let mut raw = Vec::new();
        let mut push = |raw: &[u8], from_client: bool| {
            let mut out = Vec::new();
            self.wrap(raw, from_client, &mut out);
            frames.push(out);
        };
        let script: [(bool, u8, &[u8]); 9] = [
            (true, F::SYN, b""),
            (false, F::SYN | F::ACK, b""),
            (true, F::ACK, b""),
            (true, F::PSH | F::ACK, b"GET ENCAP-TCP-ATTACK now"),
            (false, F::ACK, b""),
            (false, F::PSH | F::ACK, b"ENCAP-REPLY here"),
            (true, F::ACK, b""),
            (true, F::FIN | F::ACK, b""),
            (false, F::FIN | F::ACK, b""),
        ];
        for (from_client, flags, payload) in script {
            session.segment(&mut raw, from_client, flags, payload);
            push(&raw, from_client);
        }
        session.segment(&mut raw, true, F::ACK, b"");
        push(&raw, true);
        FrameSpec::ip(
            ip(c),
            ip(s),
            L4Spec::Udp {
                src_port: 40002,
                dst_port: 5353,
            },
        )
        .payload(b"udp ENCAP-UDP-ATTACK udp")
        .raw_ip()
        .write(&mut raw);
        push(&raw, true);
        frames
    }
}

/// Writes one scenario's pcap into any sink; returns the number of frames.
pub fn write_scenario<W: Write>(sc: Scenario, sink: W) -> Result<usize> {
    let frames = sc.frames();
    let mut w = PcapWriter::new(sink, LinkType::Ethernet)?;
    for (i, f) in frames.iter().enumerate() {
        w.write_frame(START_NS + (i as u64) * STEP_NS, f)?;
    }
    w.into_inner()?;
    Ok(frames.len())
}

/// Writes one scenario's pcap to `path`.
pub fn write_scenario_pcap(sc: Scenario, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write_scenario(sc, BufWriter::new(file))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
