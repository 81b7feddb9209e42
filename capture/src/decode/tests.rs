//! Decoder tests over hand-built frames: every protocol, VLAN/QinQ, IPv6 extension
//! headers, fragments, every [`DecodeReason`], checksums, and all truncations.

use super::*;
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

// ---- a small frame builder, independent of the decoder's own helpers ----

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [192, 168, 1, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// Naive RFC 1071 checksum: the complement of the folded sum of 16-bit words.
fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let data: Vec<u8> = parts.concat();
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u32::from(pair[0]) << 8 | u32::from(pair.get(1).copied().unwrap_or(0));
        sum += word;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
    tagged(&[], ethertype, body)
}

/// Ethernet with VLAN tags `(tpid, vid)`, outermost first.
fn tagged(tags: &[(u16, u16)], ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa];
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(0x2000 | vid).to_be_bytes()); // priority 1 must be masked off
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn checksum_offset(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(16),
        17 => Some(6),
        1 | 58 => Some(2),
        _ => None,
    }
}

/// Fills the transport checksum of `l4` given the address pair (pseudo header unless ICMPv4).
fn with_l4_checksum(proto: u8, src: &[u8], dst: &[u8], mut l4: Vec<u8>) -> Vec<u8> {
    let Some(at) = checksum_offset(proto) else {
        return l4;
    };
    if l4.len() < at + 2 {
        return l4;
    }
    l4[at] = 0;
    l4[at + 1] = 0;
    let len = l4.len() as u32;
    let c = if proto == 1 {
        inet_checksum(&[&l4])
    } else if src.len() == 4 {
        inet_checksum(&[src, dst, &[0, proto], &(len as u16).to_be_bytes(), &l4])
    } else {
        inet_checksum(&[src, dst, &len.to_be_bytes(), &[0, 0, 0, proto], &l4])
    };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    l4
}

/// IPv4 with options, fragment field and id; the transport checksum is filled when `cksum`.
fn ipv4_full(opts: &[u8], frag: u16, id: u16, proto: u8, l4: &[u8], cksum: bool) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let l4 = if cksum {
        with_l4_checksum(proto, &SRC4, &DST4, l4.to_vec())
    } else {
        l4.to_vec()
    };
    let hlen = 20 + opts.len();
    let total = (hlen + l4.len()) as u16;
    let mut h = vec![0x40 | (hlen / 4) as u8, 0x28];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&SRC4);
    h.extend_from_slice(&DST4);
    h.extend_from_slice(opts);
    let c = inet_checksum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(&l4);
    h
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    ipv4_full(&[], 0, 0x1234, proto, l4, true)
}

/// IPv6 whose first next header is `next`, followed by `ext` (already chained) and a
/// transport `l4` of protocol `proto` (checksum filled unless a fragment header is present).
fn ipv6_full(next: u8, ext: &[u8], proto: u8, l4: &[u8], cksum: bool) -> Vec<u8> {
    let l4 = if cksum {
        with_l4_checksum(proto, &SRC6, &DST6, l4.to_vec())
    } else {
        l4.to_vec()
    };
    let plen = (ext.len() + l4.len()) as u16;
    let mut h = vec![0x6a, 0xb0, 0, 0];
    h.extend_from_slice(&plen.to_be_bytes());
    h.extend_from_slice(&[next, 55]);
    h.extend_from_slice(&SRC6);
    h.extend_from_slice(&DST6);
    h.extend_from_slice(ext);
    h.extend_from_slice(&l4);
    h
}

fn ipv6(proto: u8, l4: &[u8]) -> Vec<u8> {
    ipv6_full(proto, &[], proto, l4, true)
}

fn tcp(sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&2000u32.to_be_bytes());
    t.push((((20 + opts.len()) / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 7]);
    t.extend_from_slice(opts);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn icmp(icmp_type: u8, code: u8, payload: &[u8]) -> Vec<u8> {
    let mut i = vec![icmp_type, code, 0, 0, 0x12, 0x34, 0, 1];
    i.extend_from_slice(payload);
    i
}

/// An extension header of the 8-octet-unit kind (hop-by-hop, routing, destination opts).
fn ext8(next: u8, body_len_units: u8) -> Vec<u8> {
    let mut e = vec![next, body_len_units];
    e.resize(8 * (usize::from(body_len_units) + 1), 0);
    if e.len() > 2 {
        e[2] = 1; // PadN option so the bytes are plausible
        e[3] = (e.len() - 4) as u8;
    }
    e
}

fn frag6(next: u8, offset: u16, more: bool, id: u32) -> Vec<u8> {
    let mut e = vec![next, 0];
    e.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
    e.extend_from_slice(&id.to_be_bytes());
    e
}

/// TCP options: MSS 1460, SACK-permitted, timestamps (7, 9), NOP, window scale 7.
const SYN_OPTS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7,
];

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}
fn v6(a: [u8; 16]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(a))
}

// ---- valid frames ----

struct Case {
    name: &'static str,
    link: LinkType,
    frame: Vec<u8>,
    check: fn(&Packet<'_>),
}

fn valid_cases() -> Vec<Case> {
    let padded_udp = {
        let mut f = eth(0x0800, &ipv4(17, &udp(7, 9, b"hi")));
        f.resize(60, 0xee); // Ethernet minimum-size padding is not payload
        f
    };
    let ah = {
        // AH: next header, payload len ((12+4)/4 - 2 = 2 for a 16-byte header), reserved, SPI, seq, ICV 4
        let mut e = vec![
            6, 2, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd,
        ];
        e.truncate(16);
        e
    };
    let mut ext_chain = Vec::new();
    ext_chain.extend(ext8(43, 0)); // hop-by-hop -> routing
    ext_chain.extend(ext8(60, 1)); // routing (16 bytes) -> dest opts
    ext_chain.extend(ext8(51, 0)); // dest opts -> AH
    ext_chain.extend(ah); // AH -> TCP
    let snap = {
        let mut f = eth(
            0x0800,
            &ipv4(6, &tcp(1, 2, tcp_flags::ACK, &[], &[0x41; 1000])),
        );
        f.truncate(14 + 20 + 20 + 100);
        f
    };
    vec![
        Case {
            name: "ipv4 tcp syn with options",
            link: LinkType::Ethernet,
            frame: eth(
                0x0800,
                &ipv4(6, &tcp(40000, 80, tcp_flags::SYN, &SYN_OPTS, b"")),
            ),
            check: |p| {
                assert_eq!((p.src, p.dst), (v4(SRC4), v4(DST4)));
                assert_eq!(
                    (p.l3_offset, p.l4_offset, p.ip_proto, p.ttl, p.ip_id, p.tos),
                    (14, 34, 6, 64, 0x1234, 0x28)
                );
                assert_eq!((p.vlan_count, p.ip_options, p.fragment), (0, false, None));
                let t = p.tcp().expect("tcp");
                assert_eq!(
                    (t.src_port, t.dst_port, t.seq, t.ack),
                    (40000, 80, 1000, 2000)
                );
                assert_eq!(
                    (t.header_len, t.flags, t.window, t.urgent),
                    (40, tcp_flags::SYN, 0xfaf0, 7)
                );
                assert_eq!(
                    (t.mss, t.wscale, t.sack_permitted, t.timestamp),
                    (Some(1460), Some(7), true, Some((7, 9)))
                );
                assert!(p.payload.is_empty());
            },
        },
        Case {
            name: "ethernet padding is not payload",
            link: LinkType::Ethernet,
            frame: padded_udp,
            check: |p| assert_eq!(p.payload, b"hi", "padding leaked into payload"),
        },
        Case {
            name: "ipv4 tcp with payload",
            link: LinkType::Ethernet,
            frame: eth(
                0x0800,
                &ipv4(
                    6,
                    &tcp(
                        1234,
                        443,
                        tcp_flags::PSH | tcp_flags::ACK,
                        &[1, 1, 1, 0],
                        b"hello",
                    ),
                ),
            ),
            check: |p| {
                assert_eq!((p.src_port(), p.dst_port()), (1234, 443));
                let t = p.tcp().expect("tcp");
                assert_eq!((t.header_len, t.mss, t.timestamp), (24, None, None));
                assert_eq!(p.payload, b"hello");
            },
        },
        Case {
            name: "ipv4 udp",
            link: LinkType::Ethernet,
            frame: eth(0x0800, &ipv4(17, &udp(5353, 53, b"query"))),
            check: |p| {
                assert_eq!(
                    p.l4,
                    L4::Udp(UdpHeader {
                        src_port: 5353,
                        dst_port: 53,
                        length: 13
                    })
                );
                assert_eq!((p.l4_offset, p.payload), (34, &b"query"[..]));
            },
        },
        Case {
            name: "ipv4 icmp echo",
            link: LinkType::Ethernet,
            frame: eth(0x0800, &ipv4(1, &icmp(8, 0, b"ping"))),
            check: |p| {
                assert_eq!(
                    p.l4,
                    L4::Icmp(IcmpHeader {
                        icmp_type: 8,
                        code: 0
                    })
                );
                assert_eq!((p.src_port(), p.payload), (0, &b"ping"[..]));
            },
        },
        Case {
            name: "ipv4 with options",
            link: LinkType::Ethernet,
            frame: eth(
                0x0800,
                &ipv4_full(&[0x94, 4, 0, 0], 0, 9, 17, &udp(1, 2, b"x"), true),
            ),
            check: |p| {
                assert!(p.ip_options);
                assert_eq!((p.l4_offset, p.src_port(), p.payload), (38, 1, &b"x"[..]));
            },
        },
        Case {
            name: "ipv4 GRE of a protocol not followed (PPP) has no payload, as in Suricata",
            link: LinkType::Ethernet,
            frame: eth(0x0800, &ipv4(47, &[0, 0, 0x88, 0x0b, 1, 2])),
            check: |p| {
                assert_eq!((p.l4, p.ip_proto, p.l4_offset), (L4::Other, 47, 34));
                assert_eq!(p.payload, &[] as &[u8]);
                assert_eq!(p.tunnel, None);
            },
        },
        Case {
            name: "ipv6 tcp",
            link: LinkType::Ethernet,
            frame: eth(
                0x86dd,
                &ipv6(6, &tcp(5000, 22, tcp_flags::ACK, &[], b"ssh")),
            ),
            check: |p| {
                assert!(p.is_ipv6());
                assert_eq!((p.src, p.dst), (v6(SRC6), v6(DST6)));
                assert_eq!(
                    (p.l3_offset, p.l4_offset, p.ip_proto, p.ttl, p.ip_id, p.tos),
                    (14, 54, 6, 55, 0, 0xab)
                );
                assert_eq!(
                    (p.dst_port(), p.payload, p.ip_options),
                    (22, &b"ssh"[..], false)
                );
            },
        },
        Case {
            name: "ipv6 udp",
            link: LinkType::Ethernet,
            frame: eth(0x86dd, &ipv6(17, &udp(546, 547, b"dhcp"))),
            check: |p| {
                assert_eq!(
                    p.l4,
                    L4::Udp(UdpHeader {
                        src_port: 546,
                        dst_port: 547,
                        length: 12
                    })
                );
                assert_eq!(p.payload, b"dhcp");
            },
        },
        Case {
            name: "ipv6 icmpv6",
            link: LinkType::Ethernet,
            frame: eth(0x86dd, &ipv6(58, &icmp(128, 0, b"v6ping"))),
            check: |p| {
                assert_eq!(
                    p.l4,
                    L4::Icmpv6(IcmpHeader {
                        icmp_type: 128,
                        code: 0
                    })
                );
                assert_eq!(p.payload, b"v6ping");
            },
        },
        Case {
            name: "ipv6 extension chain hop-by-hop, routing, dest opts, AH",
            link: LinkType::Ethernet,
            frame: eth(
                0x86dd,
                &ipv6_full(
                    0,
                    &ext_chain,
                    6,
                    &tcp(7, 8, tcp_flags::SYN, &[], b"z"),
                    true,
                ),
            ),
            check: |p| {
                assert!(p.ip_options);
                assert_eq!((p.ip_proto, p.l4_offset), (6, 14 + 40 + 8 + 16 + 8 + 16));
                assert_eq!((p.src_port(), p.dst_port(), p.payload), (7, 8, &b"z"[..]));
            },
        },
        Case {
            name: "ipv6 jumbogram: zero payload length after hop-by-hop uses the frame",
            link: LinkType::Ethernet,
            frame: {
                let mut f = eth(
                    0x86dd,
                    &ipv6_full(0, &ext8(17, 0), 17, &udp(1, 2, b"jumbo"), true),
                );
                f[18] = 0;
                f[19] = 0;
                f
            },
            check: |p| {
                assert_eq!(
                    (p.ip_proto, p.src_port(), p.payload),
                    (17, 1, &b"jumbo"[..])
                )
            },
        },
        Case {
            name: "ipv6 no next header",
            link: LinkType::Ethernet,
            frame: eth(0x86dd, &ipv6(59, b"")),
            check: |p| assert_eq!((p.l4, p.ip_proto, p.payload.len()), (L4::Other, 59, 0)),
        },
        Case {
            name: "802.1Q vlan",
            link: LinkType::Ethernet,
            frame: tagged(&[(0x8100, 100)], 0x0800, &ipv4(17, &udp(1, 2, b"v"))),
            check: |p| {
                assert_eq!(
                    (p.vlan, p.vlan_count, p.l3_offset, p.payload),
                    ([100, 0], 1, 18, &b"v"[..])
                );
            },
        },
        Case {
            name: "802.1ad QinQ",
            link: LinkType::Ethernet,
            frame: tagged(
                &[(0x88a8, 10), (0x8100, 20)],
                0x86dd,
                &ipv6(17, &udp(1, 2, b"q")),
            ),
            check: |p| {
                assert_eq!(
                    (p.vlan, p.vlan_count, p.l3_offset, p.payload),
                    ([10, 20], 2, 22, &b"q"[..])
                );
            },
        },
        Case {
            name: "0x9100 QinQ",
            link: LinkType::Ethernet,
            frame: tagged(
                &[(0x9100, 4095), (0x8100, 1)],
                0x0800,
                &ipv4(1, &icmp(0, 0, b"")),
            ),
            check: |p| assert_eq!((p.vlan, p.vlan_count, p.l3_offset), ([4095, 1], 2, 22)),
        },
        Case {
            name: "raw ipv4",
            link: LinkType::RawIp,
            frame: ipv4(17, &udp(9, 10, b"raw")),
            check: |p| {
                assert_eq!(
                    (p.l3_offset, p.l4_offset, p.payload, p.vlan_count),
                    (0, 20, &b"raw"[..], 0)
                )
            },
        },
        Case {
            name: "raw ipv6",
            link: LinkType::RawIp,
            frame: ipv6(6, &tcp(9, 10, 0, &[], b"raw6")),
            check: |p| {
                assert_eq!(
                    (p.l3_offset, p.l4_offset, p.payload, p.is_ipv6()),
                    (0, 40, &b"raw6"[..], true)
                )
            },
        },
        Case {
            name: "ipv4 first fragment decodes udp, length covers the datagram",
            link: LinkType::Ethernet,
            frame: {
                let mut u = udp(1000, 2000, &[0x55; 100]);
                u.truncate(8 + 32); // this fragment carries 32 of the 100 data bytes
                eth(0x0800, &ipv4_full(&[], 0x2000, 77, 17, &u, false))
            },
            check: |p| {
                assert_eq!(
                    p.fragment,
                    Some(Fragment {
                        offset: 0,
                        more: true,
                        id: 77
                    })
                );
                assert_eq!(
                    p.l4,
                    L4::Udp(UdpHeader {
                        src_port: 1000,
                        dst_port: 2000,
                        length: 108
                    })
                );
                assert_eq!(p.payload.len(), 32);
            },
        },
        Case {
            name: "ipv4 first fragment too short for tcp keeps IP data",
            link: LinkType::Ethernet,
            frame: eth(
                0x0800,
                &ipv4_full(&[], 0x2000, 78, 6, &[1, 2, 3, 4, 5, 6, 7, 8], false),
            ),
            check: |p| {
                assert_eq!((p.l4, p.ip_proto, p.payload.len()), (L4::Other, 6, 8));
                assert!(p.fragment.is_some());
            },
        },
        Case {
            name: "ipv4 later fragment is not transport-decoded",
            link: LinkType::Ethernet,
            // Offset 185 * 8 = 1480, last fragment; the data looks like a UDP header but is not one.
            frame: eth(
                0x0800,
                &ipv4_full(&[], 185, 77, 17, &udp(1, 2, b"tail"), false),
            ),
            check: |p| {
                assert_eq!(
                    p.fragment,
                    Some(Fragment {
                        offset: 1480,
                        more: false,
                        id: 77
                    })
                );
                assert_eq!(
                    (p.l4, p.ip_proto, p.l4_offset, p.payload.len()),
                    (L4::Other, 17, 34, 12)
                );
            },
        },
        Case {
            name: "ipv6 first fragment decodes udp",
            link: LinkType::Ethernet,
            frame: {
                let mut u = udp(53, 53, &[0x66; 64]);
                u.truncate(8 + 16);
                eth(
                    0x86dd,
                    &ipv6_full(44, &frag6(17, 0, true, 0xdead_beef), 17, &u, false),
                )
            },
            check: |p| {
                assert_eq!(
                    p.fragment,
                    Some(Fragment {
                        offset: 0,
                        more: true,
                        id: 0xdead_beef
                    })
                );
                assert_eq!(
                    (p.ip_proto, p.ip_options, p.src_port(), p.payload.len()),
                    (17, true, 53, 16)
                );
            },
        },
        Case {
            name: "ipv6 later fragment is not transport-decoded",
            link: LinkType::Ethernet,
            frame: eth(
                0x86dd,
                &ipv6_full(44, &frag6(6, 1448, false, 5), 6, b"middle", false),
            ),
            check: |p| {
                assert_eq!(
                    p.fragment,
                    Some(Fragment {
                        offset: 1448,
                        more: false,
                        id: 5
                    })
                );
                assert_eq!(
                    (p.l4, p.ip_proto, p.l4_offset, p.payload),
                    (L4::Other, 6, 62, &b"middle"[..])
                );
            },
        },
        Case {
            name: "snaplen shorter than the IP length keeps what was captured",
            link: LinkType::Ethernet,
            frame: snap,
            check: |p| {
                assert_eq!((p.src_port(), p.payload.len()), (1, 100));
                assert!(p.payload.iter().all(|&b| b == 0x41));
            },
        },
    ]
}

#[test]
fn plain_packets_pack_losslessly_and_others_travel_whole() {
    let (mut packed, mut whole) = (0, 0);
    for case in valid_cases() {
        let p = decode(case.link, &case.frame, false).expect(case.name);
        packed::check_round_trip(&p);
        match packed::Packed::pack(&p) {
            Some(_) => packed += 1,
            None => whole += 1,
        }
    }
    assert!(packed > 10 && whole > 0, "packed {packed}, whole {whole}");
}

#[test]
fn decodes_valid_frames() {
    for case in valid_cases() {
        let p = decode(case.link, &case.frame, true)
            .unwrap_or_else(|e| panic!("{}: unexpected error {e}", case.name));
        (case.check)(&p);
        assert_eq!(p.frame.len(), case.frame.len(), "{}", case.name);
    }
}

#[test]
fn valid_unfragmented_frames_have_good_checksums_and_a_flipped_bit_is_caught() {
    for case in valid_cases() {
        let p = decode(case.link, &case.frame, true).expect(case.name);
        assert!(
            transport_checksum_ok(&p),
            "{}: checksum should verify",
            case.name
        );
        let has_checksum = matches!(p.l4, L4::Tcp(_) | L4::Udp(_) | L4::Icmp(_) | L4::Icmpv6(_));
        let complete = !case.name.starts_with("snaplen");
        if p.fragment.is_some() || !has_checksum || !complete {
            continue;
        }
        // Flip one bit in the last byte of the transport segment.
        let mut bad = case.frame.clone();
        let seg_end = usize::from(p.l4_offset)
            + (p.payload.as_ptr() as usize - p.frame[usize::from(p.l4_offset)..].as_ptr() as usize)
            + p.payload.len();
        bad[seg_end - 1] ^= 0x01;
        let q = decode(case.link, &bad, true).expect(case.name);
        assert!(
            !transport_checksum_ok(&q),
            "{}: corrupted segment should fail",
            case.name
        );
    }
}

#[test]
fn udp_zero_checksum_is_valid_over_ipv4_only() {
    let mut f4 = eth(0x0800, &ipv4_full(&[], 0, 1, 17, &udp(1, 2, b"abc"), false));
    assert_eq!(&f4[40..42], &[0, 0]);
    assert!(transport_checksum_ok(
        &decode(LinkType::Ethernet, &f4, true).unwrap()
    ));
    f4[41] = 1; // a non-zero wrong checksum is caught
    assert!(!transport_checksum_ok(
        &decode(LinkType::Ethernet, &f4, true).unwrap()
    ));
    let f6 = eth(0x86dd, &ipv6_full(17, &[], 17, &udp(1, 2, b"abc"), false));
    assert!(!transport_checksum_ok(
        &decode(LinkType::Ethernet, &f6, true).unwrap()
    ));
}

#[test]
fn ip_checksum_is_checked_only_when_asked() {
    let mut f = eth(0x0800, &ipv4(17, &udp(1, 2, b"x")));
    f[14 + 10] ^= 0xff;
    assert!(decode(LinkType::Ethernet, &f, false).is_ok());
    let e = decode(LinkType::Ethernet, &f, true).unwrap_err();
    assert_eq!((e.reason, e.offset), (DecodeReason::Ipv4BadChecksum, 24));
}

// ---- every failure reason ----

fn error_cases() -> Vec<(&'static str, LinkType, Vec<u8>, DecodeReason, usize)> {
    use DecodeReason::*;
    use LinkType::{Ethernet as E, RawIp as R};
    let good_v4 = ipv4(17, &udp(1, 2, b"data"));
    let good_v6 = ipv6(17, &udp(1, 2, b"data"));
    let with = |mut v: Vec<u8>, at: usize, byte: u8| {
        v[at] = byte;
        v
    };
    let mut bad_csum = eth(0x0800, &good_v4);
    bad_csum[24] ^= 0x10;
    vec![
        ("empty frame", E, vec![], EthernetTruncated, 0),
        ("13-byte frame", E, vec![0; 13], EthernetTruncated, 0),
        (
            "vlan tag cut",
            E,
            tagged(&[], 0x8100, &[0, 5]),
            VlanTruncated,
            14,
        ),
        (
            "second vlan tag cut",
            E,
            tagged(&[(0x88a8, 1)], 0x8100, &[0]),
            VlanTruncated,
            18,
        ),
        (
            "three vlan tags",
            E,
            tagged(&[(0x88a8, 1), (0x8100, 2)], 0x8100, &[0, 3, 8, 0]),
            VlanTooDeep,
            22,
        ),
        ("arp", E, eth(0x0806, &[0; 28]), UnsupportedEtherType, 12),
        (
            "802.3 length field",
            E,
            eth(0x0040, &[0; 64]),
            UnsupportedEtherType,
            12,
        ),
        (
            "arp behind a vlan tag",
            E,
            tagged(&[(0x8100, 7)], 0x0806, &[0; 28]),
            UnsupportedEtherType,
            16,
        ),
        (
            "ipv4 header cut",
            E,
            eth(0x0800, &good_v4[..19]),
            Ipv4Truncated,
            14,
        ),
        (
            "ipv4 options cut",
            E,
            eth(0x0800, &ipv4_full(&[1; 8], 0, 0, 17, &[], false)[..24]),
            Ipv4Truncated,
            14,
        ),
        ("raw empty", R, vec![], Ipv4Truncated, 0),
        (
            "ipv4 ethertype carrying v6",
            E,
            eth(0x0800, &good_v6),
            Ipv4BadVersion,
            14,
        ),
        (
            "raw version 5",
            R,
            with(good_v4.clone(), 0, 0x55),
            Ipv4BadVersion,
            0,
        ),
        (
            "ipv4 ihl 4",
            E,
            eth(0x0800, &with(good_v4.clone(), 0, 0x44)),
            Ipv4BadHeaderLength,
            14,
        ),
        (
            "ipv4 total length below header",
            E,
            eth(0x0800, &with(good_v4.clone(), 3, 19)),
            Ipv4BadTotalLength,
            16,
        ),
        ("ipv4 header checksum", E, bad_csum, Ipv4BadChecksum, 24),
        (
            "ipv6 header cut",
            E,
            eth(0x86dd, &good_v6[..39]),
            Ipv6Truncated,
            14,
        ),
        (
            "raw ipv6 header cut",
            R,
            good_v6[..20].to_vec(),
            Ipv6Truncated,
            0,
        ),
        (
            "ipv6 ethertype carrying v4",
            E,
            eth(0x86dd, &good_v4),
            Ipv6BadVersion,
            14,
        ),
        (
            "ipv6 hop-by-hop beyond payload length",
            E,
            eth(0x86dd, &ipv6_full(0, &ext8(59, 0)[..6], 59, &[], false)),
            Ipv6ExtensionTruncated,
            54,
        ),
        (
            "ipv6 routing length beyond packet",
            E,
            eth(
                0x86dd,
                &ipv6_full(43, &with(ext8(6, 0), 1, 9), 59, &[], false),
            ),
            Ipv6ExtensionTruncated,
            54,
        ),
        (
            "ipv6 fragment header cut",
            E,
            eth(
                0x86dd,
                &ipv6_full(60, &[ext8(44, 0), vec![17, 0, 0]].concat(), 59, &[], false),
            ),
            Ipv6ExtensionTruncated,
            62,
        ),
        (
            "ipv6 AH cut",
            E,
            eth(
                0x86dd,
                &ipv6_full(51, &[6, 4, 0, 0, 0, 0, 0, 0], 59, &[], false),
            ),
            Ipv6ExtensionTruncated,
            54,
        ),
        (
            "tcp header cut by ip length",
            E,
            eth(0x0800, &ipv4(6, &tcp(1, 2, 0, &[], b"")[..12])),
            TcpTruncated,
            34,
        ),
        (
            "tcp options cut by snaplen",
            E,
            eth(0x0800, &ipv4(6, &tcp(1, 2, 0, &SYN_OPTS, b"")))[..14 + 20 + 30].to_vec(),
            TcpTruncated,
            34,
        ),
        (
            "tcp data offset 4",
            E,
            eth(0x0800, &ipv4(6, &with(tcp(1, 2, 0, &[], b""), 12, 0x40))),
            TcpBadHeaderLength,
            46,
        ),
        (
            "tcp data offset beyond ip length",
            E,
            eth(
                0x0800,
                &ipv4(6, &with(tcp(1, 2, 0, &[], b"abcd"), 12, 0xf0)),
            ),
            TcpBadHeaderLength,
            46,
        ),
        (
            "tcp mss length 3",
            E,
            eth(0x0800, &ipv4(6, &tcp(1, 2, 0, &[2, 3, 5, 0], b""))),
            TcpBadOptions,
            54,
        ),
        (
            "tcp option length 0",
            E,
            eth(0x0800, &ipv4(6, &tcp(1, 2, 0, &[1, 0x22, 0, 0], b""))),
            TcpBadOptions,
            55,
        ),
        (
            "tcp option past header",
            E,
            eth(0x0800, &ipv4(6, &tcp(1, 2, 0, &[1, 1, 0x22, 8], b""))),
            TcpBadOptions,
            56,
        ),
        (
            "tcp option kind without length",
            E,
            eth(0x0800, &ipv4(6, &tcp(1, 2, 0, &[1, 1, 1, 0x22], b""))),
            TcpBadOptions,
            57,
        ),
        (
            "tcp timestamp length 6",
            E,
            eth(
                0x0800,
                &ipv4(6, &tcp(1, 2, 0, &[8, 6, 0, 0, 0, 0, 1, 1], b"")),
            ),
            TcpBadOptions,
            54,
        ),
        (
            "udp header cut",
            E,
            eth(0x0800, &ipv4(17, &[0, 1, 0, 2])),
            UdpTruncated,
            34,
        ),
        (
            "ipv6 udp header cut",
            E,
            eth(0x86dd, &ipv6(17, &[0, 1, 0, 2, 0, 9, 0])),
            UdpTruncated,
            54,
        ),
        (
            "udp length below header",
            E,
            eth(0x0800, &ipv4(17, &with(udp(1, 2, b""), 5, 4))),
            UdpBadLength,
            38,
        ),
        (
            "udp length beyond ip length",
            E,
            eth(0x0800, &ipv4(17, &with(udp(1, 2, b"ab"), 5, 11))),
            UdpBadLength,
            38,
        ),
        (
            "udp length short of ip length",
            E,
            eth(0x86dd, &ipv6(17, &with(udp(1, 2, b"ab"), 5, 9))),
            UdpBadLength,
            58,
        ),
        (
            "icmp cut",
            E,
            eth(0x0800, &ipv4(1, &[8, 0, 0, 0])),
            IcmpTruncated,
            34,
        ),
        (
            "icmpv6 cut",
            E,
            eth(0x86dd, &ipv6(58, &[128, 0, 0, 0, 0, 0, 0])),
            Icmpv6Truncated,
            54,
        ),
        (
            "gre cut",
            E,
            eth(0x0800, &ipv4(47, &[0, 0, 8])),
            GreTruncated,
            34,
        ),
        (
            "gre key cut",
            E,
            eth(0x0800, &ipv4(47, &[0x20, 0, 8, 0, 1])),
            GreTruncated,
            34,
        ),
        (
            "gre version 2",
            E,
            eth(0x0800, &ipv4(47, &[0, 2, 8, 0])),
            GreBadVersion,
            35,
        ),
        (
            "gre routing",
            E,
            eth(0x0800, &ipv4(47, &[0x40, 0, 8, 0, 0, 0, 0, 0])),
            GreBadFlags,
            34,
        ),
        (
            "erspan ii header cut",
            E,
            eth(
                0x0800,
                &ipv4(47, &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0]),
            ),
            ErspanTruncated,
            42,
        ),
        (
            "erspan ii with version 2",
            E,
            eth(
                0x0800,
                &ipv4(
                    47,
                    &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0],
                ),
            ),
            ErspanBadVersion,
            42,
        ),
        (
            "vxlan cut",
            E,
            eth(0x0800, &ipv4(17, &udp(1, 4789, &[8, 0, 0]))),
            VxlanTruncated,
            42,
        ),
        (
            "vxlan without the I flag",
            E,
            eth(0x0800, &ipv4(17, &udp(1, 4789, &[0; 8]))),
            VxlanBadFlags,
            42,
        ),
        (
            "geneve cut",
            E,
            eth(0x0800, &ipv4(17, &udp(1, 6081, &[0, 0, 0x65]))),
            GeneveTruncated,
            42,
        ),
        (
            "geneve version 1",
            E,
            eth(
                0x0800,
                &ipv4(17, &udp(1, 6081, &[0x40, 0, 0x65, 0x58, 0, 0, 0, 0])),
            ),
            GeneveBadVersion,
            42,
        ),
        (
            "geneve unknown protocol",
            E,
            eth(
                0x0800,
                &ipv4(17, &udp(1, 6081, &[0, 0, 0x12, 0x34, 0, 0, 0, 0])),
            ),
            GeneveBadProtocol,
            44,
        ),
        ("mpls cut", E, eth(0x8847, &[0, 0, 1]), MplsTruncated, 14),
        (
            "mpls payload neither ip nor pseudowire",
            E,
            eth(0x8847, &[0, 1, 1, 64, 0x50, 0, 0, 0]),
            MplsBadPayload,
            18,
        ),
        (
            "ip-in-ip five deep",
            E,
            eth(
                0x0800,
                &ipv4(
                    4,
                    &ipv4(4, &ipv4(4, &ipv4(4, &ipv4(4, &ipv4(17, &udp(1, 2, b"x")))))),
                ),
            ),
            TunnelTooDeep,
            114,
        ),
    ]
}

#[test]
fn every_reason_has_a_failing_input() {
    let mut seen = HashSet::new();
    for (name, link, frame, reason, offset) in error_cases() {
        // A tunnel that cannot be followed leaves its outer packet to inspect, with the
        // reason beside it.
        let e = match decode(link, &frame, true) {
            Ok(p) => match p.tunnel_error {
                // The outer packet of a GRE or IP-in-IP tunnel has no payload of its own
                // (Suricata's neither): content rules do not see the tunnel bytes.
                Some(_) if p.l4 == L4::Other && !p.payload.is_empty() => {
                    panic!("{name}: outer tunnel packet with payload {:?}", p.payload)
                }
                Some(e) => e,
                None => panic!("{name}: decoded unexpectedly: {p:?}"),
            },
            Err(e) => e,
        };
        assert_eq!((e.reason, e.offset), (reason, offset), "{name}");
        assert!(e.to_string().contains(reason.name()), "{name}: {e}");
        seen.insert(reason);
    }
    let missing: Vec<_> = DecodeReason::ALL
        .iter()
        .filter(|r| !seen.contains(*r))
        .collect();
    assert!(missing.is_empty(), "reasons without a test: {missing:?}");
}

#[test]
fn stats_count_reasons_and_fragments() {
    let mut stats = DecodeStats::default();
    for (_, link, frame, _, _) in error_cases() {
        stats.observe(&decode(link, &frame, true));
    }
    for case in valid_cases() {
        stats.observe(&decode(case.link, &case.frame, true));
    }
    assert_eq!(stats.total(), error_cases().len() as u64);
    assert_eq!(stats.fragments, 5);
    assert_eq!(stats.by_reason[DecodeReason::TcpBadOptions as usize], 5);
    let names: Vec<_> = stats.iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), DecodeReason::ALL.len());
    let mut merged = DecodeStats::default();
    merged.merge(&stats);
    merged.merge(&stats);
    assert_eq!((merged.total(), merged.fragments), (2 * stats.total(), 10));
}

// ---- robustness ----

/// Invariants every successful decode must satisfy.
fn check_invariants(p: &Packet<'_>, frame: &[u8]) {
    assert!(usize::from(p.l3_offset) <= frame.len());
    assert!(p.l3_offset <= p.l4_offset);
    let start = p.payload.as_ptr() as usize - frame.as_ptr() as usize;
    assert!(start + p.payload.len() <= frame.len());
    assert!(start >= usize::from(p.l4_offset) || p.payload.is_empty());
    let _ = transport_checksum_ok(p);
    packed::check_round_trip(p);
}

#[test]
fn every_truncation_of_valid_frames_decodes_without_panic() {
    for case in valid_cases() {
        for len in 0..=case.frame.len() {
            let prefix = &case.frame[..len];
            for link in [LinkType::Ethernet, LinkType::RawIp] {
                for verify in [false, true] {
                    if let Ok(p) = decode(link, prefix, verify) {
                        check_invariants(&p, prefix);
                    }
                }
            }
            // A strict prefix of an Ethernet frame that has the full IP header is
            // snaplen-truncated, and must not be mistaken for a different protocol.
            if let Err(e) = decode(case.link, prefix, true) {
                assert_ne!(
                    e.reason,
                    DecodeReason::UnsupportedEtherType,
                    "{} at {len}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn mutated_frames_never_panic() {
    // Deterministic xorshift mutations of the valid frames: byte flips, length changes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let cases = valid_cases();
    let mut ok = 0;
    for i in 0..20_000 {
        let case = &cases[i % cases.len()];
        let mut f = case.frame.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % f.len();
            f[at] = next() as u8;
        }
        if next() % 4 == 0 {
            f.truncate((next() as usize) % (f.len() + 1));
        }
        if let Ok(p) = decode(case.link, &f, next() % 2 == 0) {
            check_invariants(&p, &f);
            ok += 1;
        }
    }
    assert!(ok > 1000, "mutations should mostly still decode, got {ok}");
}

/// Payloads of other protocols as Suricata 7 gives them (checked on a pcap with `content`
/// and `dsize` rules): after the ESP and SCTP headers, none otherwise.
#[test]
fn other_protocols_carry_suricatas_payload() {
    let rows: &[(u8, &[u8], &[u8])] = &[
        (50, b"\0\0\0\x01\0\0\0\x01ESP", b"ESP"),
        (50, &[0, 0, 0, 1], b""),
        (132, b"\0\x01\0\x02\0\0\0\0\0\0\0\0data", b"data"),
        (132, b"\0\x01\0\x02SCT", b""),
        (99, b"xyz", b""),
    ];
    for &(proto, data, want) in rows {
        let frame = eth(0x0800, &ipv4(proto, data));
        let p = decode(LinkType::Ethernet, &frame, true).expect("decodes");
        assert_eq!((p.l4, p.payload), (L4::Other, want), "protocol {proto}");
    }
}

#[test]
fn icmp_payloads_are_suricatas() {
    // (ICMPv6?, type, code, bytes after the 8-byte header, payload), as Suricata 7's
    // decode-icmpv4.c and decode-icmpv6.c set them; the MLD form was also checked by
    // running Suricata on the golden pcap (its MLD query and report).
    type Row = (bool, u8, u8, &'static [u8], &'static [u8]);
    let rows: &[Row] = &[
        (false, 8, 0, b"ping", b"ping"),
        // Timestamp: the three timestamps are header when present.
        (false, 13, 0, b"000011112222xy", b"xy"),
        (false, 13, 0, b"short", b"short"),
        // Router advertisement: 1 address of 2 words (bytes 4, 5 of the header: 0x12, 0x34
        // here make it too long for the message, so only 8 bytes are header).
        (false, 9, 0, b"addrs", b"addrs"),
        (true, 128, 0, b"v6ping", b"v6ping"),
        (true, 1, 4, b"quoted", b"quoted"),
        // Echo with an unknown code, MLD, router solicitation: "info" messages, whose
        // payload runs from byte 4 for the length past 8 bytes less 4.
        (true, 128, 1, b"v6ping", &[0x12, 0x34]),
        (true, 130, 0, b"Q-ICMP", &[0x12, 0x34]),
        (true, 133, 0, b"abcdefgh", &[0x12, 0x34, 0, 1]),
        (true, 133, 0, b"abc", b""),
    ];
    for &(v6, t, code, data, want) in rows {
        let frame = if v6 {
            eth(0x86dd, &ipv6(58, &icmp(t, code, data)))
        } else {
            eth(0x0800, &ipv4(1, &icmp(t, code, data)))
        };
        let p = decode(LinkType::Ethernet, &frame, true).expect("decodes");
        assert_eq!(p.payload, want, "ICMPv6 {v6}, type {t}, code {code}");
    }
}
