//! Fragment memory stays within `defrag.memcap` under hostile traffic: tens of thousands
//! of fragment trains (IPv4 and IPv6) whose first fragment and endless out-of-order
//! middle fragments arrive but whose last never does. Real worker, real decoder, frames
//! crafted in memory. Every fragment is accounted for: rebuilt, still held, or dropped by
//! a counted reason; and once the flood has timed out, a whole datagram is rebuilt and
//! alerts again.
//!
//! `TIDEWATCH_STRESS_TRAINS` scales the run (default 40,000 trains).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use capture::craft::{FrameSpec, L4Spec};
use capture::craft_frag::{even, fragment, Piece};
use capture::decode::{decode, LinkType};
use detect::defrag::DefragConfig;
use detect::engine::{Engine, RuleBuilder};
use detect::rules::Proto;
use detect::worker::{Worker, WorkerConfig};

const MEMCAP: u64 = 1 << 20;
const TIMEOUT_NS: u64 = 2_000_000_000;

fn datagram(src: IpAddr, dst: IpAddr, sport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    FrameSpec::ip(
        src,
        dst,
        L4Spec::Udp {
            src_port: sport,
            dst_port: 9999,
        },
    )
    .payload(payload)
    .write(&mut f);
    f
}

#[test]
fn fragment_memory_stays_within_the_memcap_and_every_fragment_is_counted() {
    let trains: u32 = std::env::var("TIDEWATCH_STRESS_TRAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let rules = vec![RuleBuilder::new(Proto::Udp, 1)
        .content(b"DEFRAG-AFTER-FLOOD")
        .build()];
    let engine = Arc::new(Engine::build(rules).unwrap());
    let config = WorkerConfig {
        defrag: DefragConfig {
            memcap: MEMCAP,
            max_trackers: 20_000,
            timeout_ns: TIMEOUT_NS,
            ..DefragConfig::default()
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(engine, &config, 0);
    let alerts = std::cell::Cell::new(0u64);
    let mut sink = |_a| alerts.set(alerts.get() + 1);
    let mut ts = 1_000_000_000u64;
    let mut sent = 0u64;
    let mut peak_seen = 0usize;
    let payload = [b'f'; 1000];
    let dst4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let dst6 = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap());
    // 1008 bytes of fragmentable data in 8 pieces of 128 (the last shorter), of which the
    // last is never sent: the first, then the middle ones in reverse order.
    let pieces = even(1008, 128);
    let order: Vec<Piece<'_>> = std::iter::once(pieces[0])
        .chain(pieces[1..pieces.len() - 1].iter().rev().copied())
        .collect();
    for t in 0..trains {
        let (src, dst) = if t % 4 == 3 {
            let s = Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(t));
            (IpAddr::V6(s), dst6)
        } else {
            (IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + t)), dst4)
        };
        let whole = datagram(src, dst, 1024 + (t % 50_000) as u16, &payload);
        for f in fragment(LinkType::Ethernet, &whole, t, &order).unwrap() {
            // 20 µs apart: the flood spans several timeouts.
            ts += 20_000;
            let p = decode(LinkType::Ethernet, &f, false).unwrap();
            w.handle_packet(ts, &p, 0, &mut sink);
            sent += 1;
            peak_seen = peak_seen.max(w.defrag_memory());
        }
    }
    let s = w.stats().defrag;
    println!(
        "defrag stress: {trains} trains, {sent} fragments ({} MB offered): memory peak {} \
         bytes of memcap {MEMCAP} ({:.1}%), held at the end {} fragments in {} trackers; \
         dropped: memcap {}, trackers {}, timed out {} trains ({} fragments), invalid {}",
        sent * 128 / 1_000_000,
        s.peak_memory,
        s.peak_memory as f64 * 100.0 / MEMCAP as f64,
        s.held_fragments,
        s.trackers,
        s.memcap_drops,
        s.tracker_drops,
        s.timeouts,
        s.expired_fragments,
        s.invalid
    );
    assert_eq!(s.fragments, sent);
    assert!(s.peak_memory <= MEMCAP, "peak {} > memcap", s.peak_memory);
    assert!(peak_seen as u64 <= MEMCAP);
    assert!(
        s.peak_memory > MEMCAP * 3 / 4,
        "the flood did fill the memcap"
    );
    assert!(s.memcap_drops > 0 && s.timeouts > 0);
    assert_eq!(s.reassembled, 0);
    assert_eq!(s.invalid, 0);
    // Every fragment: held, or dropped by a counted reason (nothing overlapped).
    assert_eq!(s.discarded, 0);
    assert_eq!(
        s.fragments,
        s.held_fragments + s.memcap_drops + s.tracker_drops + s.expired_fragments
    );
    assert_eq!(alerts.get(), 0, "no train was whole");

    // After the flood has timed out, a whole datagram gets through and alerts.
    ts += 2 * TIMEOUT_NS;
    let mut text = b"DEFRAG-AFTER-FLOOD".to_vec();
    text.resize(300, b'-');
    let whole = datagram(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), dst4, 5555, &text);
    let mut frags = fragment(LinkType::Ethernet, &whole, 7, &even(308, 104)).unwrap();
    frags.reverse();
    for f in &frags {
        ts += 1_000;
        let p = decode(LinkType::Ethernet, f, false).unwrap();
        w.handle_packet(ts, &p, 0, &mut sink);
        sent += 1;
    }
    let s = w.stats().defrag;
    assert_eq!(s.reassembled, 1);
    assert_eq!(alerts.get(), 1);
    assert_eq!((s.trackers, s.held_fragments, s.memory), (0, 0, 0));
    assert_eq!(
        s.fragments,
        s.reassembled_fragments + s.memcap_drops + s.tracker_drops + s.expired_fragments
    );
    assert_eq!(s.fragments, sent);
}
