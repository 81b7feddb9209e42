//! Symmetric flow hashing: both directions of a flow map to the same value, so a reader
//! can spread flows over workers and each worker sees whole conversations.

use std::net::IpAddr;

fn addr_word(a: &IpAddr) -> u64 {
    match a {
        IpAddr::V4(v4) => u32::from(*v4) as u64,
        IpAddr::V6(v6) => {
            let x = u128::from(*v6);
            (x as u64) ^ ((x >> 64) as u64).rotate_left(17)
        }
    }
}

/// Mixes 64 bits well (the finaliser of SplitMix64); cheap and good enough for spreading.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A hash of the unordered pair of endpoints plus the protocol: `hash(a->b) == hash(b->a)`.
#[inline]
pub fn symmetric_hash(src: &IpAddr, dst: &IpAddr, src_port: u16, dst_port: u16, proto: u8) -> u64 {
    let a = addr_word(src) << 16 | src_port as u64;
    let b = addr_word(dst) << 16 | dst_port as u64;
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    mix(mix(lo) ^ hi.rotate_left(29) ^ (proto as u64) << 56)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_hash_alike_and_flows_differ() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            symmetric_hash(&a, &b, 1234, 80, 6),
            symmetric_hash(&b, &a, 80, 1234, 6)
        );
        assert_ne!(
            symmetric_hash(&a, &b, 1234, 80, 6),
            symmetric_hash(&a, &b, 1235, 80, 6)
        );
        assert_ne!(
            symmetric_hash(&a, &b, 1234, 80, 6),
            symmetric_hash(&a, &b, 1234, 80, 17)
        );
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        let d: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(
            symmetric_hash(&c, &d, 1, 2, 17),
            symmetric_hash(&d, &c, 2, 1, 17)
        );
    }
}
