use super::*;
use capture::craft::{FrameSpec, Ipv6Ext, L4Spec};
use capture::craft_frag::{even, fragment, Piece};
use capture::decode::{decode, L4};
use std::net::{Ipv4Addr, Ipv6Addr};

const S: u64 = 1_000_000_000;

fn udp_v4(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    FrameSpec::ipv4(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        L4Spec::Udp {
            src_port: 1000,
            dst_port: 53,
        },
    )
    .ip_id(4242)
    .payload(payload)
    .write(&mut f);
    f
}

fn udp_v6(payload: &[u8], ext: Option<Ipv6Ext>) -> Vec<u8> {
    let mut f = Vec::new();
    let mut s = FrameSpec::ipv6(
        "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
        "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
        L4Spec::Udp {
            src_port: 1000,
            dst_port: 53,
        },
    )
    .payload(payload);
    if let Some(e) = ext {
        s = s.ipv6_ext(e);
    }
    s.write(&mut f);
    f
}

/// Feeds `frames` in order; returns the payload of each rebuilt datagram.
fn feed(d: &mut Defrag, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    feed_checked(d, frames, true)
}

/// [`feed`]; `checksums`: the rebuilt transport checksum must be right (false when pieces
/// carry bytes of their own).
fn feed_checked(d: &mut Defrag, frames: &[Vec<u8>], checksums: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut got = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let p = decode(LinkType::Ethernet, f, true).unwrap();
        assert!(is_fragment(&p));
        if let Some(link) = d.insert(&p, S + i as u64, &mut out) {
            let r = decode(link, &out, true).expect("the rebuilt frame decodes");
            assert!(r.fragment.is_none());
            assert!(matches!(r.l4, L4::Udp(_)));
            assert!(!checksums || capture::decode::transport_checksum_ok(&r));
            got.push(r.payload.to_vec());
        }
    }
    got
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn in_order_reversed_and_duplicated_trains_rebuild_the_datagram() {
    let data = payload(100);
    let whole = udp_v4(&data);
    let pieces = even(108, 24);
    let frags = fragment(LinkType::Ethernet, &whole, 0, &pieces).unwrap();
    let mut d = Defrag::new(DefragConfig::default());
    assert_eq!(feed(&mut d, &frags), vec![data.clone()]);
    let mut rev = frags.clone();
    rev.reverse();
    assert_eq!(feed(&mut d, &rev), vec![data.clone()]);
    let mut dup = frags.clone();
    dup.insert(1, frags[0].clone());
    dup.insert(3, frags[2].clone());
    assert_eq!(feed(&mut d, &dup), vec![data.clone()]);
    let s = d.stats();
    assert_eq!(s.reassembled, 3);
    assert_eq!((s.trackers, s.held_fragments, s.memory), (0, 0, 0));
    assert_eq!(s.overlaps, 2);
    assert_eq!(s.fragments, s.reassembled_fragments + s.discarded);
}

/// The three overlap shapes that tell the policies apart: a held fragment `A` (old bytes)
/// and a later `B` (new bytes) that starts before A (1), at A's offset with A's length
/// (2), or inside A and past its end (3). Returns, per shape, which bytes the rebuilt
/// datagram has where they overlap.
fn overlap_winners(policy: Policy) -> [u8; 3] {
    overlap_winners_with(&DefragConfig {
        policy,
        ..DefragConfig::default()
    })
}

/// [`overlap_winners`] under a whole configuration (the datagrams go to 10.0.0.2).
fn overlap_winners_with(config: &DefragConfig) -> [u8; 3] {
    let whole = udp_v4(&payload(32));
    let a = [b'A'; 16];
    let b = [b'B'; 16];
    // (A's offset, B's offset, the bytes checked, the rest as spans)
    type Shape = (usize, usize, usize, &'static [(usize, usize)]);
    let shapes: [Shape; 3] = [
        (16, 8, 16, &[(0, 8), (32, 8)]),
        (8, 8, 8, &[(0, 8), (24, 16)]),
        (8, 16, 16, &[(0, 8), (32, 8)]),
    ];
    let mut won = [0u8; 3];
    for (k, (ao, bo, check, rest)) in shapes.iter().enumerate() {
        let mut pieces = vec![
            Piece::bytes(*ao, &a).more(true),
            Piece::span(rest[0].0, rest[0].1),
        ];
        pieces.push(Piece::bytes(*bo, &b).more(true));
        pieces.push(Piece::span(rest[1].0, rest[1].1));
        let frames = fragment(LinkType::Ethernet, &whole, 0, &pieces).unwrap();
        let mut d = Defrag::new(config.clone());
        let got = feed_checked(&mut d, &frames, false);
        assert_eq!(got.len(), 1, "{config:?} shape {}", k + 1);
        // Payload byte i is fragment byte i + 8 (after the UDP header).
        won[k] = got[0][check - 8];
        assert_eq!(d.stats().overlaps, 1);
    }
    won
}

#[test]
fn policies_choose_the_bytes_suricata_does() {
    assert_eq!(&overlap_winners(Policy::Bsd), b"BAA");
    assert_eq!(&overlap_winners(Policy::Linux), b"BBA");
    assert_eq!(&overlap_winners(Policy::First), b"AAA");
    assert_eq!(&overlap_winners(Policy::Last), b"BBB");
}

#[test]
fn the_most_specific_host_network_picks_the_policy_and_others_get_the_default() {
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (broad, exact, v6) = (
        list(&["10.0.0.0/8"]),
        list(&["\"10.0.0.2\""]),
        list(&["::/0"]),
    );
    let config = |entries: &[(&str, &Vec<String>)]| DefragConfig {
        policy: Policy::Bsd,
        hosts: HostPolicies::parse(entries.iter().map(|(n, l)| (*n, l.as_slice()))).unwrap(),
        ..DefragConfig::default()
    };
    // The /32 beats the /8 whichever is written first.
    for entries in [
        [("linux", &broad), ("first", &exact)],
        [("first", &exact), ("linux", &broad)],
    ] {
        assert_eq!(&overlap_winners_with(&config(&entries)), b"AAA");
    }
    assert_eq!(&overlap_winners_with(&config(&[("linux", &broad)])), b"BBA");
    // An IPv6 network never holds an IPv4 destination: the default (BSD) applies.
    assert_eq!(&overlap_winners_with(&config(&[("last", &v6)])), b"BAA");
    // OS names map as Suricata's do; a bad name or network is an error naming it.
    assert_eq!(
        HostPolicies::parse([("vista", exact.as_slice())])
            .unwrap()
            .lookup(&"10.0.0.2".parse().unwrap()),
        Some(Policy::Windows)
    );
    let bad_os = HostPolicies::parse([("beos", exact.as_slice())]).unwrap_err();
    assert!(bad_os.contains("`beos`"), "{bad_os}");
    let bad_net = list(&["10.0.0.0/33"]);
    let e = HostPolicies::parse([("linux", bad_net.as_slice())]).unwrap_err();
    assert!(e.starts_with("linux: ") && e.contains("10.0.0.0/33"), "{e}");
}

#[test]
fn ipv6_after_hop_by_hop_rebuilds_with_the_next_header_patched() {
    let data = payload(70);
    for ext in [None, Some(Ipv6Ext::HopByHop), Some(Ipv6Ext::DestOpts)] {
        let whole = udp_v6(&data, ext);
        let n = capture::craft_frag::fragmentable_len(LinkType::Ethernet, &whole).unwrap();
        let frags = fragment(LinkType::Ethernet, &whole, 99, &even(n, 16)).unwrap();
        let mut d = Defrag::new(DefragConfig::default());
        let mut rev = frags.clone();
        rev.swap(0, 2);
        assert_eq!(feed(&mut d, &rev), vec![data.clone()], "{ext:?}");
    }
}

#[test]
fn incomplete_trains_time_out_and_the_memcap_refuses_fragments() {
    let data = payload(64);
    let whole = udp_v4(&data);
    let frags = fragment(LinkType::Ethernet, &whole, 0, &even(72, 16)).unwrap();
    let cap = 3 * (TRACKER_COST + 200);
    let mut d = Defrag::new(DefragConfig {
        memcap: cap as u64,
        timeout_ns: 2 * S,
        ..DefragConfig::default()
    });
    let mut out = Vec::new();
    let mut ids = 0u16;
    let mut sent = 0;
    for f in frags.iter().take(4) {
        // Each frame under many ids: never complete.
        for id in 0..20u16 {
            let mut g = f.clone();
            g[18..20].copy_from_slice(&id.to_be_bytes());
            let sum_at = 24;
            g[sum_at] = 0;
            g[sum_at + 1] = 0;
            let p = decode(LinkType::Ethernet, &g, false).unwrap();
            assert!(d.insert(&p, S, &mut out).is_none());
            sent += 1;
            ids = ids.max(id);
        }
    }
    let s = d.stats();
    assert!(s.peak_memory <= cap as u64, "{s:?}");
    assert!(s.memcap_drops > 0);
    assert_eq!(
        s.fragments,
        s.held_fragments + s.memcap_drops + s.discarded + s.invalid
    );
    assert_eq!(s.fragments, sent);
    d.sweep(4 * S);
    let s = d.stats();
    assert_eq!((s.trackers, s.memory, s.held_fragments), (0, 0, 0));
    assert!(s.timeouts > 0 && s.expired_fragments > 0);
    assert_eq!(
        s.fragments,
        s.expired_fragments + s.memcap_drops + s.discarded + s.invalid
    );
}

#[test]
fn too_long_and_truncated_fragments_are_invalid() {
    let whole = udp_v4(&payload(40));
    let mut frags = fragment(
        LinkType::Ethernet,
        &whole,
        0,
        &[Piece::span(0, 16), Piece::span(16, 32)],
    )
    .unwrap();
    // Offset 8184 units = 65472 bytes + 32 bytes of data: past 65535.
    frags[1][20] = 0x1f;
    frags[1][21] = 0xff;
    let mut d = Defrag::new(DefragConfig::default());
    let mut out = Vec::new();
    let p = decode(LinkType::Ethernet, &frags[1], false).unwrap();
    assert!(d.insert(&p, S, &mut out).is_none());
    assert_eq!(d.stats().invalid, 1);
}
