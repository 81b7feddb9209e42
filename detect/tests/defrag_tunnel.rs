//! Fragments inside a tunnel: the inner datagram is rebuilt and inspected as one packet,
//! and its alert still names the tunnel it came in. (Outer headers' lengths do not fit the
//! rebuilt datagram, so defrag rebuilds it as raw IP and the worker puts the tunnel back.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use capture::craft::{FrameSpec, L4Spec};
use capture::craft_encap::{Encap, Inner, Outer};
use capture::craft_frag::{even, fragment};
use capture::decode::{decode, LinkType, TunnelKind};
use detect::engine::{Engine, RuleBuilder};
use detect::rules::Proto;
use detect::worker::{AlertEvent, Worker, WorkerConfig};

const PATTERN: &[u8] = b"FRAGMENTED-IN-A-TUNNEL";

/// An Ethernet frame with a UDP datagram whose payload has PATTERN across byte 256, so it
/// spans the first two 256-byte fragments.
fn datagram(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut payload = vec![b'.'; 1000];
    payload[240..240 + PATTERN.len()].copy_from_slice(PATTERN);
    let mut f = Vec::new();
    FrameSpec::ip(
        src,
        dst,
        L4Spec::Udp {
            src_port: 40000,
            dst_port: 9999,
        },
    )
    .payload(&payload)
    .write(&mut f);
    f
}

#[test]
fn inner_fragments_in_tunnels_are_reassembled_and_alert_with_the_tunnel() {
    let rules = vec![RuleBuilder::new(Proto::Udp, 7).content(PATTERN).build()];
    let engine = Arc::new(Engine::build(rules).unwrap());
    let o4 = Outer {
        src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
    };
    let o6 = Outer {
        src: IpAddr::V6("2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap()),
        dst: IpAddr::V6("2001:db8:ffff::2".parse::<Ipv6Addr>().unwrap()),
    };
    let encaps = [
        (
            Encap::Vxlan {
                outer: o4,
                src_port: 50000,
                dst_port: 4789,
                vni: 42,
            },
            TunnelKind::Vxlan,
        ),
        (
            Encap::Gre {
                outer: o6,
                checksum: false,
                key: Some(9),
                seq: None,
            },
            TunnelKind::Gre,
        ),
        (Encap::IpInIp { outer: o4 }, TunnelKind::IpInIp),
        (
            Encap::Mpls {
                labels: &[100, 200],
            },
            TunnelKind::Mpls,
        ),
    ];
    let inner = [
        (
            IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 2, 2, 2)),
        ),
        (
            IpAddr::V6("2001:db8:1::1".parse::<Ipv6Addr>().unwrap()),
            IpAddr::V6("2001:db8:2::2".parse::<Ipv6Addr>().unwrap()),
        ),
    ];
    let mut ts = 1_000_000_000u64;
    let mut id = 1u32;
    for (encap, kind) in encaps {
        for (src, dst) in inner {
            // IP-in-IP is named by what it carries: protocol 4 or 41.
            let kind = match (kind, src) {
                (TunnelKind::IpInIp, IpAddr::V6(_)) => TunnelKind::Ipv6InIp,
                _ => kind,
            };
            let mut w = Worker::new(engine.clone(), &WorkerConfig::default(), 0);
            let mut alerts: Vec<AlertEvent> = Vec::new();
            let whole = datagram(src, dst);
            let mut frags = fragment(LinkType::Ethernet, &whole, id, &even(1008, 256)).unwrap();
            id += 1;
            frags.reverse();
            let mut framed = Vec::new();
            for f in &frags {
                encap.wrap(Inner::Ip(&f[14..]), &mut framed);
                let p = decode(LinkType::Ethernet, &framed, false).unwrap();
                assert_eq!(p.tunnel.map(|t| t.kind), Some(kind), "{kind:?} decodes");
                assert!(
                    p.fragment.is_some(),
                    "{kind:?}: the inner packet is a fragment"
                );
                ts += 1_000;
                w.handle_packet(ts, &p, 0, &mut |a| alerts.push(a));
            }
            let what = format!("{kind:?} around {src} -> {dst}");
            let s = w.stats().defrag;
            assert_eq!((s.fragments, s.reassembled), (4, 1), "{what}");
            assert_eq!(alerts.len(), 1, "{what}: one alert for the datagram");
            let a = &alerts[0];
            assert_eq!(
                (a.src, a.dst, a.src_port, a.dst_port),
                (src, dst, 40000, 9999),
                "{what}"
            );
            let t = a.tunnel.expect("the alert names its tunnel");
            assert_eq!(t.kind, kind, "{what}");
            if kind != TunnelKind::Mpls {
                assert!(
                    t.src.is_some() && t.dst.is_some(),
                    "{what}: outer addresses"
                );
            }
            assert!(
                a.payload.windows(PATTERN.len()).any(|x| x == PATTERN),
                "{what}: the payload is the rebuilt one"
            );
        }
    }
}
