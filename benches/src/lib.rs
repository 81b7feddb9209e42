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
