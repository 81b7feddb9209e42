//! The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-header sums.

use std::net::IpAddr;

/// Adds `data` as big-endian 16-bit words to `initial`, unfolded. A u64 accumulator over
/// 32-bit words cannot overflow for any frame size we can see.
#[inline]
pub(crate) fn sum(data: &[u8], initial: u64) -> u64 {
    let mut acc = initial;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        acc += u64::from(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        acc += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&b) = rest.first() {
        acc += u64::from(b) << 8;
    }
    acc
}

/// The Internet checksum of `data` (for an IPv4 header: with its checksum field zeroed),
/// for code that writes headers: frame crafting and the rebuilt datagrams of defrag.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Folds an unfolded sum to 16 bits (end-around carry).
#[inline]
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum for a transport segment of `len` bytes.
#[inline]
pub(crate) fn pseudo_header(src: &IpAddr, dst: &IpAddr, proto: u8, len: usize) -> u64 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(&s.octets(), sum(&d.octets(), 0)),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum(&s.octets(), sum(&d.octets(), 0)),
        // Mixed families never come out of the decoder; sum both anyway.
        (s, d) => sum(&octets16(s), sum(&octets16(d), 0)),
    };
    addrs + u64::from(proto) + len as u64
}

fn octets16(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_sums_to_known_value() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)),
            0xddf2
        );
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        for n in 0..20usize {
            let data: Vec<u8> = (0..n as u8)
                .map(|b| b.wrapping_mul(37).wrapping_add(11))
                .collect();
            let mut naive: u64 = 0;
            for pair in data.chunks(2) {
                let hi = u64::from(pair[0]) << 8;
                let lo = pair.get(1).map_or(0, |&b| u64::from(b));
                naive += hi | lo;
            }
            assert_eq!(fold(sum(&data, 0)), fold(naive), "length {n}");
        }
    }
}
