//! Criterion benchmarks of the hot paths (decode, prefilter, verification, flow lookup);
//! run them with `cargo bench -p benches` or `cargo xtask bench`. This library holds the
//! sample traffic the benchmarks share.

use capture::craft::{FrameSpec, L4Spec, TcpSpec};
use capture::decode::tcp_flags;
use std::net::Ipv4Addr;

/// Representative frames: small TCP ACK, full-size TCP data, DNS-sized UDP, VLAN-tagged
/// TCP and IPv6 TCP.
pub fn sample_frames() -> Vec<(&'static str, Vec<u8>)> {
    let payload: Vec<u8> = (0..1400u32).map(|i| (i * 7 % 251) as u8).collect();
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(192, 168, 1, 2);
    let tcp = L4Spec::Tcp(TcpSpec::new(40000, 80, tcp_flags::ACK | tcp_flags::PSH));
    let specs: Vec<(&'static str, FrameSpec)> = vec![
        (
            "tcp_ack_64",
            FrameSpec::ipv4(a, b, L4Spec::Tcp(TcpSpec::new(40000, 80, tcp_flags::ACK))),
        ),
        ("tcp_1400", FrameSpec::ipv4(a, b, tcp).payload(&payload)),
        (
            "udp_100",
            FrameSpec::ipv4(
                a,
                b,
                L4Spec::Udp {
                    src_port: 5353,
                    dst_port: 53,
                },
            )
            .payload(&payload[..100]),
        ),
        (
            "vlan_tcp_600",
            FrameSpec::ipv4(a, b, tcp)
                .vlan(100)
                .payload(&payload[..600]),
        ),
        (
            "ipv6_tcp_600",
            FrameSpec::ipv6(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
                tcp,
            )
            .payload(&payload[..600]),
        ),
    ];
    specs
        .into_iter()
        .map(|(n, s)| {
            let mut v = Vec::new();
            s.write(&mut v);
            (n, v)
        })
        .collect()
}

pub mod delivery;

/// A 600-byte TCP segment in GRE, VXLAN, GENEVE, MPLS and VXLAN-in-GRE, for the decode
/// bench's tunnel group.
pub fn tunnel_frames() -> Vec<(&'static str, Vec<u8>)> {
    use capture::craft_encap::{Encap, Inner, Outer};
    let payload: Vec<u8> = (0..600u32).map(|i| (i * 7 % 251) as u8).collect();
    let tcp = L4Spec::Tcp(TcpSpec::new(40000, 80, tcp_flags::ACK | tcp_flags::PSH));
    let mut ip = Vec::new();
    FrameSpec::ipv4(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(192, 168, 1, 2),
        tcp,
    )
    .payload(&payload)
    .raw_ip()
    .write(&mut ip);
    let outer = Outer {
        src: Ipv4Addr::new(198, 51, 100, 1).into(),
        dst: Ipv4Addr::new(198, 51, 100, 2).into(),
    };
    let gre = Encap::Gre {
        outer,
        checksum: false,
        key: Some(1),
        seq: None,
    };
    let vxlan = Encap::Vxlan {
        outer,
        src_port: 49152,
        dst_port: 4789,
        vni: 7,
    };
    let geneve = Encap::Geneve {
        outer,
        src_port: 49152,
        dst_port: 6081,
        vni: 7,
        option_words: 2,
    };
    let mpls = Encap::Mpls {
        labels: &[100, 200],
    };
    let mut out = Vec::new();
    for (name, e) in [
        ("gre_tcp_600", gre),
        ("vxlan_tcp_600", vxlan),
        ("geneve_tcp_600", geneve),
        ("mpls2_tcp_600", mpls),
    ] {
        let mut f = Vec::new();
        e.wrap(Inner::Ip(&ip), &mut f);
        out.push((name, f));
    }
    let mut mid = Vec::new();
    vxlan.wrap(Inner::Ip(&ip), &mut mid);
    let mut f = Vec::new();
    gre.wrap(Inner::Ip(&mid[14..]), &mut f);
    out.push(("vxlan_in_gre_tcp_600", f));
    out
}
