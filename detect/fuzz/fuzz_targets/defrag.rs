//! Any bytes as a sequence of IPv4/IPv6 fragments of a few datagrams (offset, length,
//! more-fragments flag, contents, time steps), some given as raw frames straight from
//! the input: reassembly and the inspection of rebuilt datagrams must never panic, memory
//! must stay within the memcap, and every fragment must be accounted for.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use capture::craft::{FrameSpec, Ipv6Ext, L4Spec};
use capture::decode::{decode, LinkType};
use detect::defrag::{DefragConfig, Policy};
use detect::engine::{Engine, RuleBuilder};
use detect::flow::FlowConfig;
use detect::rules::Proto;
use detect::worker::{Worker, WorkerConfig};
use libfuzzer_sys::fuzz_target;

const MEMCAP: u64 = 16 << 10;

fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        let rules = vec![
            RuleBuilder::new(Proto::Udp, 1).content(b"ab").build(),
            RuleBuilder::new(Proto::Ip, 2).build(),
            RuleBuilder::new(Proto::Tcp, 3).content(b"xyz").build(),
        ];
        Arc::new(Engine::build(rules).expect("fuzz rules build"))
    })
    .clone()
}

const POLICIES: [Policy; 7] = [
    Policy::Bsd,
    Policy::BsdRight,
    Policy::Linux,
    Policy::Windows,
    Policy::Solaris,
    Policy::First,
    Policy::Last,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let config = WorkerConfig {
        flow: FlowConfig {
            max_flows: 8,
            ..FlowConfig::default()
        },
        defrag: DefragConfig {
            memcap: MEMCAP,
            max_trackers: 4,
            timeout_ns: 1_000_000,
            policy: POLICIES[usize::from(first) % POLICIES.len()],
            ..DefragConfig::default()
        },
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(engine(), &config, 0);
    let mut sink = |_a| {};
    let mut frame = Vec::new();
    let mut ts = 1u64;
    let mut fragments = 0u64;
    while rest.len() >= 5 {
        let (head, tail) = rest.split_at(5);
        let kind = head[0];
        let units = u16::from_be_bytes([head[1], head[2]]) & 0x1fff;
        let len = usize::from(head[3]);
        ts += u64::from(head[4]) * 10_000;
        let take = len.min(tail.len());
        let (body, tail) = tail.split_at(take);
        rest = tail;
        if kind & 0x80 != 0 {
            // A raw frame: whatever the decoder makes of it.
            frame.clear();
            frame.extend_from_slice(body);
        } else {
            let more = kind & 1 != 0;
            let id = u16::from(kind >> 1 & 3);
            let l4 = L4Spec::Raw { proto: 17 };
            if kind & 0x40 != 0 {
                let ext = Ipv6Ext::Fragment {
                    offset: units,
                    more,
                    id: u32::from(id),
                };
                FrameSpec::ipv6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, l4)
                    .ipv6_ext(ext)
                    .payload(body)
                    .write(&mut frame);
            } else {
                FrameSpec::ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), l4)
                    .ipv4_fragment(units, more, id)
                    .payload(body)
                    .write(&mut frame);
            }
            if kind & 0x20 != 0 {
                // Claim more than the frame holds.
                frame.truncate(frame.len().saturating_sub(3));
            }
        }
        let Ok(p) = decode(LinkType::Ethernet, &frame, false) else {
            continue;
        };
        if detect::defrag::is_fragment(&p) {
            fragments += 1;
        }
        w.handle_packet(ts, &p, 0, &mut sink);
        assert!(w.defrag_memory() as u64 <= MEMCAP);
    }
    let s = w.stats().defrag;
    assert_eq!(s.fragments, fragments);
    assert!(s.peak_memory <= MEMCAP);
    assert_eq!(
        s.fragments,
        s.reassembled_fragments
            + s.held_fragments
            + s.memcap_drops
            + s.tracker_drops
            + s.discarded
            + s.expired_fragments
            + s.invalid
    );
});
