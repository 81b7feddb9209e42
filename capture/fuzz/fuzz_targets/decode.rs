//! Decodes arbitrary bytes as an Ethernet frame and as raw IP, with and without the IPv4
//! header checksum check, and verifies transport checksums of whatever decodes. The
//! decoder must never panic, a decoded packet's views must lie inside the frame, a tunnel
//! is never deeper than the limit, and a plain packet packs and unpacks to itself. Seeds
//! with every encapsulation are in `fuzz/seeds/decode/`, tunnel header tokens in
//! `fuzz/decode.dict`.
#![no_main]

use capture::decode::packed::check_round_trip;
use capture::decode::{decode, transport_checksum_ok, DecodeStats, LinkType, MAX_TUNNEL_DEPTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stats = DecodeStats::default();
    for link in [LinkType::Ethernet, LinkType::RawIp] {
        for verify in [false, true] {
            let result = decode(link, data, verify);
            stats.observe(&result);
            if let Ok(p) = result {
                let frame = data.as_ptr() as usize;
                let start = p.payload.as_ptr() as usize;
                assert!(start >= frame && start + p.payload.len() <= frame + data.len());
                assert!(p.l3_offset <= p.l4_offset && usize::from(p.l4_offset) <= data.len());
                let _ = transport_checksum_ok(&p);
                check_round_trip(&p);
                if let Some(t) = p.tunnel {
                    assert!(t.depth <= MAX_TUNNEL_DEPTH);
                }
            }
        }
    }
});
