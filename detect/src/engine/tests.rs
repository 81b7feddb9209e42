//! Table-driven tests of the matcher: every keyword, relative chains with backtracking,
//! negation, nocase prefiltering, port groups, `<>`, and match order with pass/noalert.

#![allow(clippy::type_complexity)] // test tables are tuples

use std::net::IpAddr;

use capture::decode::tcp_flags::*;
use capture::decode::Packet;

use super::*;
use crate::rules::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn tcp_pkt(payload: &[u8]) -> Packet<'_> {
    test_packet(
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        TestL4::Tcp {
            sport: 1234,
            dport: 80,
            flags: ACK | PSH,
        },
        payload,
    )
}

/// A packet that opens its flow direction: every rule, IP-only ones included, is evaluated.
fn first_packet() -> FlowInfo {
    FlowInfo {
        first_in_direction: true,
        ..FlowInfo::default()
    }
}

fn t(sid: u32) -> RuleBuilder {
    RuleBuilder::new(Proto::Tcp, sid)
}

/// Builds a one-rule engine and checks the packet both through `inspect` (groups and
/// prefilter) and `rule_matches` (verification alone); they must agree.
fn one(rule: Rule, pkt: &Packet<'_>, flow: &FlowInfo, name: &str) -> bool {
    let engine = Engine::build(vec![rule]).expect("engine builds");
    let mut s = engine.scratch();
    engine.inspect(pkt, flow, &mut s);
    let via_inspect = s.matches() == [0];
    assert_eq!(
        via_inspect,
        engine.rule_matches(0, pkt, flow),
        "{name}: inspect and rule_matches disagree"
    );
    via_inspect
}

fn bt(bytes: u8, op: ByteTestOp, value: u64, offset: i32, relative: bool) -> ByteTest {
    ByteTest {
        bytes,
        negated: false,
        op,
        value,
        offset,
        relative,
        format: NumberFormat::Binary(Endian::Big),
        bitmask: None,
    }
}

fn bj(bytes: u8, offset: i32, relative: bool) -> ByteJump {
    ByteJump {
        relative,
        ..ByteJump::new(bytes, offset)
    }
}

#[test]
fn payload_keywords() {
    let pcre = |b: RuleBuilder, src: &str, flags: &str, neg: bool| {
        b.pcre(src, flags, neg).expect("test regex")
    };
    let rows: Vec<(&str, RuleBuilder, &[u8], bool)> = vec![
        ("content found", t(1).content(b"abc"), b"xxabcxx", true),
        ("content absent", t(1).content(b"abc"), b"xxabxcx", false),
        (
            "content never on empty payload",
            t(1).content(b"abc"),
            b"",
            false,
        ),
        (
            "content is case sensitive",
            t(1).content(b"ABC"),
            b"xabcx",
            false,
        ),
        ("nocase", t(1).content(b"ABC").nocase(), b"xabcx", true),
        (
            "offset skips early occurrence",
            t(1).content(b"abc").offset(2),
            b"abcxxabc",
            true,
        ),
        (
            "offset past only occurrence",
            t(1).content(b"abc").offset(1),
            b"abcxx",
            false,
        ),
        (
            "depth covers",
            t(1).content(b"abc").depth(3),
            b"abcxx",
            true,
        ),
        (
            "depth too short",
            t(1).content(b"abc").depth(3),
            b"xabc",
            false,
        ),
        (
            "depth counts from offset",
            t(1).content(b"abc").offset(1).depth(3),
            b"xabc",
            true,
        ),
        (
            "startswith",
            t(1).content(b"abc").startswith(),
            b"abcx",
            true,
        ),
        (
            "startswith not at start",
            t(1).content(b"abc").startswith(),
            b"xabc",
            false,
        ),
        ("endswith", t(1).content(b"abc").endswith(), b"xxabc", true),
        (
            "endswith not at end",
            t(1).content(b"abc").endswith(),
            b"abcx",
            false,
        ),
        (
            "endswith retries to last occurrence",
            t(1).content(b"abc").endswith(),
            b"abcxabc",
            true,
        ),
        (
            "distance 1 skips adjacent",
            t(1).content(b"a").content(b"b").distance(1),
            b"ab",
            false,
        ),
        (
            "distance 1",
            t(1).content(b"a").content(b"b").distance(1),
            b"axb",
            true,
        ),
        (
            "distance 0",
            t(1).content(b"a").content(b"b").distance(0),
            b"ab",
            true,
        ),
        (
            "distance is after previous match",
            t(1).content(b"b").content(b"a").distance(0),
            b"ab",
            false,
        ),
        (
            "within reaches",
            t(1).content(b"a").content(b"b").within(2),
            b"axb",
            true,
        ),
        (
            "within too short",
            t(1).content(b"a").content(b"b").within(2),
            b"axxb",
            false,
        ),
        (
            "negative distance",
            t(1).content(b"bc").content(b"a").distance(-3).within(1),
            b"abc",
            true,
        ),
        (
            "distance+within window",
            t(1).content(b"a").content(b"b").distance(2).within(1),
            b"axxb",
            true,
        ),
        (
            "distance+within window misses",
            t(1).content(b"a").content(b"b").distance(2).within(1),
            b"axb",
            false,
        ),
        (
            "backtrack previous content",
            t(1).content(b"a").content(b"b").distance(0).within(1),
            b"axxab",
            true,
        ),
        (
            "backtrack a chain of three",
            t(1).content(b"a")
                .content(b"b")
                .distance(0)
                .within(1)
                .content(b"c")
                .distance(0)
                .within(1),
            b"abxabc",
            true,
        ),
        (
            "backtrack chain exhausted",
            t(1).content(b"a")
                .content(b"b")
                .distance(0)
                .within(1)
                .content(b"c")
                .distance(0)
                .within(1),
            b"abxab",
            false,
        ),
        (
            "absolute second content ignores first position",
            t(1).content(b"b").content(b"a"),
            b"ab",
            true,
        ),
        (
            "negated absent",
            t(1).content(b"abc").not_content(b"xyz"),
            b"abc",
            true,
        ),
        (
            "negated present",
            t(1).content(b"abc").not_content(b"xyz"),
            b"abcxyz",
            false,
        ),
        (
            "negated relative backtracks previous",
            t(1).content(b"a").not_content(b"b").within(1),
            b"abac",
            true,
        ),
        (
            "negated relative everywhere",
            t(1).content(b"a").not_content(b"b").within(1),
            b"abab",
            false,
        ),
        (
            "negated relative at end",
            t(1).content(b"a").not_content(b"b").within(1),
            b"a",
            true,
        ),
        (
            "only negated, absent",
            t(1).not_content(b"evil"),
            b"good",
            true,
        ),
        (
            "only negated, present",
            t(1).not_content(b"evil"),
            b"evil",
            false,
        ),
        (
            "only negated never on empty payload",
            t(1).not_content(b"evil"),
            b"",
            false,
        ),
        (
            "negated with depth outside window",
            t(1).not_content(b"evil").depth(4),
            b"xxevil",
            true,
        ),
        (
            "negated endswith elsewhere",
            t(1).content(b"x").not_content(b"evil").endswith(),
            b"xevilx",
            true,
        ),
        (
            "negated endswith at end",
            t(1).content(b"x").not_content(b"evil").endswith(),
            b"xxevil",
            false,
        ),
        // Suricata 7.0.10: a negated fast pattern skips the rule when it occurs anywhere.
        (
            "only negated endswith, elsewhere",
            t(1).not_content(b"evil").endswith(),
            b"evilx",
            false,
        ),
        (
            "only negated endswith, absent",
            t(1).not_content(b"evil").endswith(),
            b"good",
            true,
        ),
        (
            "ineligible longest negated leaves no fast pattern",
            t(1).not_content(b"abcd")
                .startswith()
                .not_content(b"zz")
                .endswith(),
            b"zzx",
            true,
        ),
        (
            "eligible longest negated is the fast pattern",
            t(1).not_content(b"ab")
                .startswith()
                .not_content(b"zzz")
                .endswith(),
            b"zzzx",
            false,
        ),
        (
            "stronger ineligible negated wins a length tie",
            t(1).not_content(b"zzz")
                .endswith()
                .not_content(b"\x02cA")
                .startswith(),
            b"zzzx",
            true,
        ),
        (
            "negated fast_pattern beside a positive",
            t(1).content(b"ab")
                .not_content(b"evil")
                .fast_pattern(None)
                .endswith(),
            b"abevilx",
            false,
        ),
        (
            "longest negated is the fast pattern",
            t(1).not_content(b"evil").endswith().not_content(b"zz"),
            b"evilx",
            false,
        ),
        (
            "negated nocase fast pattern",
            t(1).not_content(b"evil").nocase(),
            b"xEVILx",
            false,
        ),
        (
            "negated case-sensitive, other case",
            t(1).not_content(b"evil"),
            b"xEVILx",
            true,
        ),
        // Suricata 7.0.10 (DetectContentPropagateLimits): a modifier-less negated content
        // counts as ending at its length for the static offset of a following distance.
        (
            "distance after negated content",
            t(1).not_content(b"zz").content(b"b").distance(0),
            b"ab",
            false,
        ),
        (
            "distance after negated content, far",
            t(1).not_content(b"zz").content(b"b").distance(0),
            b"xab",
            true,
        ),
        (
            "within after negated content",
            t(1).not_content(b"zz").content(b"a").within(1),
            b"ab",
            true,
        ),
        (
            "negative distance after negated content",
            t(1).not_content(b"zz").content(b"c").distance(-1),
            b"c",
            false,
        ),
        (
            "negative distance after negated content, far",
            t(1).not_content(b"zz").content(b"c").distance(-1),
            b"abc",
            true,
        ),
        // isdataat:!1,relative right after a content becomes endswith on it (Suricata setup).
        (
            "isdataat:!1,relative folds into the negated content before it",
            t(1).not_content(b"\x01\x02")
                .offset(1)
                .isdataat(1, true, true)
                .content(b"c")
                .distance(1),
            b"Ac\x01\x02",
            true,
        ),
        (
            "distance after negated content in a chain",
            t(1).content(b"x")
                .not_content(b"zz")
                .content(b"b")
                .distance(1),
            b"xab",
            false,
        ),
        ("pcre", pcre(t(1), "fo+", "", false), b"xfoo", true),
        ("pcre absent", pcre(t(1), "fo+", "", false), b"bar", false),
        ("pcre negated", pcre(t(1), "fo+", "", true), b"bar", true),
        (
            "pcre negated present",
            pcre(t(1), "fo+", "", true),
            b"foo",
            false,
        ),
        ("pcre caseless", pcre(t(1), "FOO", "i", false), b"foo", true),
        (
            "pcre relative anchored",
            pcre(t(1).content(b"abc"), "^def", "R", false),
            b"abcdef",
            true,
        ),
        (
            "pcre relative anchored misses",
            pcre(t(1).content(b"abc"), "^def", "R", false),
            b"abcxdef",
            false,
        ),
        (
            "pcre relative backtracks content",
            pcre(t(1).content(b"abc"), "^d", "R", false),
            b"abcxabcd",
            true,
        ),
        (
            "content relative to pcre backtracks pcre",
            pcre(t(1), "a.", "", false)
                .content(b"z")
                .distance(0)
                .within(1),
            b"abxacz",
            true,
        ),
        (
            "content relative to pcre exhausted",
            pcre(t(1), "a.", "", false)
                .content(b"z")
                .distance(0)
                .within(1),
            b"abxacy",
            false,
        ),
        (
            "byte_test relative",
            t(1).content(b"len=")
                .byte_test(bt(1, ByteTestOp::Eq, 5, 0, true)),
            b"len=\x05",
            true,
        ),
        (
            "byte_test relative fails",
            t(1).content(b"len=")
                .byte_test(bt(1, ByteTestOp::Eq, 5, 0, true)),
            b"len=\x06",
            false,
        ),
        (
            "byte_test relative backtracks content",
            t(1).content(b"L")
                .byte_test(bt(1, ByteTestOp::Gt, 5, 0, true)),
            b"L\x01L\x09",
            true,
        ),
        (
            "byte_test relative to pcre backtracks it",
            pcre(t(1), "[ab]{2}", "", false).byte_test(bt(1, ByteTestOp::And, 2, 1, true)),
            b"aaA\x01ab\x00\x02",
            true,
        ),
        // Suricata 7.0.10: the relative byte_test anchors on the absolute byte_test before
        // it, so the pcre is not retried.
        (
            "byte_test relative after an absolute byte_test does not backtrack",
            pcre(t(1), "[ab]{2}", "", false)
                .byte_test(bt(1, ByteTestOp::Gt, 3, 0, false))
                .byte_test(bt(1, ByteTestOp::And, 2, 1, true)),
            b"aaA\x01ab\x00\x02",
            false,
        ),
        (
            "byte_test absolute",
            t(1).byte_test(bt(2, ByteTestOp::Eq, 0x4142, 1, false)),
            b"xAB",
            true,
        ),
        (
            "byte_jump then relative content",
            t(1).content(b"H")
                .byte_jump(bj(1, 0, true))
                .content(b"Z")
                .within(1),
            b"H\x02xxZ",
            true,
        ),
        (
            "byte_jump lands elsewhere",
            t(1).content(b"H")
                .byte_jump(bj(1, 0, true))
                .content(b"Z")
                .within(1),
            b"H\x01xxZ",
            false,
        ),
        (
            "byte_jump past end",
            t(1).content(b"H").byte_jump(bj(1, 0, true)),
            b"H\x09",
            false,
        ),
        (
            "byte_jump to the exact end",
            t(1).content(b"H").byte_jump(bj(1, 0, true)),
            b"H\x00",
            true,
        ),
        (
            "byte_jump to the end, then isdataat:!1,relative",
            t(1).content(b"H")
                .byte_jump(bj(1, 0, true))
                .isdataat(1, true, true),
            b"H\x00",
            true,
        ),
        (
            "isdataat relative",
            t(1).content(b"abc").isdataat(2, true, false),
            b"abcde",
            true,
        ),
        (
            "isdataat relative short",
            t(1).content(b"abc").isdataat(2, true, false),
            b"abcd",
            false,
        ),
        (
            "isdataat negated at end",
            t(1).content(b"abc").isdataat(1, true, true),
            b"xabc",
            true,
        ),
        (
            "isdataat negated with data",
            t(1).content(b"abc").isdataat(1, true, true),
            b"abcx",
            false,
        ),
        (
            "isdataat absolute",
            t(1).isdataat(4, false, false),
            b"12345",
            true,
        ),
        (
            "isdataat absolute short",
            t(1).isdataat(5, false, false),
            b"12345",
            false,
        ),
        (
            "fast_pattern chop",
            t(1).content(b"xxhello").fast_pattern(Some((2, 5))),
            b"..xxhello..",
            true,
        ),
        (
            "fast_pattern chop needs whole content",
            t(1).content(b"xxhello").fast_pattern(Some((2, 5))),
            b"hello",
            false,
        ),
        (
            "fast_pattern on shorter content",
            t(1).content(b"longer").content(b"ab").fast_pattern(None),
            b"ab longer",
            true,
        ),
        ("no payload keywords match on header alone", t(1), b"", true),
    ];
    let flow = first_packet();
    for (name, b, payload, want) in rows {
        assert_eq!(
            one(b.build(), &tcp_pkt(payload), &flow, name),
            want,
            "{name}"
        );
    }
}

#[test]
fn recursion_limit_bounds_work() {
    let mut b = t(1).content(b"a");
    for _ in 0..8 {
        b = b.content(b"a").distance(0);
    }
    let rule = b.content(b"b").distance(0).build();
    let payload = vec![b'a'; 1000];
    let start = std::time::Instant::now();
    assert!(!one(rule, &tcp_pkt(&payload), &first_packet(), "limit"));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "recursion limit did not stop the search"
    );
}

#[test]
fn header_keywords() {
    let v4 = |l4: TestL4| test_packet(ip("10.0.0.1"), ip("10.0.0.2"), l4, b"abc");
    let v6 = |l4: TestL4| test_packet(ip("2001:db8::1"), ip("2001:db8::2"), l4, b"abc");
    let tcp = TestL4::Tcp {
        sport: 1234,
        dport: 80,
        flags: ACK,
    };
    let syn = TestL4::Tcp {
        sport: 1234,
        dport: 80,
        flags: SYN,
    };
    let udp = TestL4::Udp {
        sport: 1234,
        dport: 53,
    };
    let icmp = TestL4::Icmp { itype: 8, code: 0 };
    let icmp6 = TestL4::Icmpv6 {
        itype: 128,
        code: 0,
    };
    let gre = TestL4::Other { proto: 47 };
    let est = FlowInfo {
        to_server: true,
        established: true,
        first_in_direction: true,
        flowless: false,
        header_only: false,
        stream_data: false,
        stream_size: None,
        app: Default::default(),
        payload_unread: false,
    };
    let no = first_packet();
    // A session whose client sent 10 bytes after its SYN and whose server only answered.
    let session = FlowInfo {
        stream_size: Some([11, 1]),
        ..first_packet()
    };
    let streamed = FlowInfo {
        stream_data: true,
        ..first_packet()
    };
    let outer = FlowInfo {
        header_only: true,
        ..first_packet()
    };
    let empty = |l4: TestL4| test_packet(ip("10.0.0.1"), ip("10.0.0.2"), l4, b"");
    let r = |p: Proto| RuleBuilder::new(p, 1);
    let net = |s: &str, p: u8| (ip(s), p);
    let rows: Vec<(&str, RuleBuilder, Packet<'_>, FlowInfo, bool)> = vec![
        ("tcp on tcp", r(Proto::Tcp), v4(tcp), no, true),
        ("tcp-pkt on tcp", r(Proto::TcpPkt), v4(tcp), no, true),
        ("tcp on udp", r(Proto::Tcp), v4(udp), no, false),
        ("udp on udp", r(Proto::Udp), v4(udp), no, true),
        ("icmp on icmpv4", r(Proto::Icmp), v4(icmp), no, true),
        ("icmp on icmpv6", r(Proto::Icmp), v6(icmp6), no, true),
        ("icmp on tcp", r(Proto::Icmp), v4(tcp), no, false),
        ("ip on other", r(Proto::Ip), v4(gre), no, true),
        ("ip on tcp", r(Proto::Ip), v6(tcp), no, true),
        ("tcp on other", r(Proto::Tcp), v4(gre), no, false),
        ("ipv4 on v6", r(Proto::Ipv4), v6(tcp), no, false),
        ("ipv4 on v4", r(Proto::Ipv4), v4(udp), no, true),
        ("ipv6 on v6", r(Proto::Ipv6), v6(icmp6), no, true),
        (
            "src net",
            r(Proto::Tcp).src(&[net("10.0.0.0", 8)], &[]),
            v4(tcp),
            no,
            true,
        ),
        (
            "src other net",
            r(Proto::Tcp).src(&[net("192.168.0.0", 16)], &[]),
            v4(tcp),
            no,
            false,
        ),
        (
            "src excluded",
            r(Proto::Tcp).src(&[], &[net("10.0.0.1", 32)]),
            v4(tcp),
            no,
            false,
        ),
        (
            "dst net v6",
            r(Proto::Tcp).dst(&[net("2001:db8::", 32)], &[]),
            v6(tcp),
            no,
            true,
        ),
        (
            "v4 net on v6",
            r(Proto::Tcp).dst(&[net("10.0.0.0", 8)], &[]),
            v6(tcp),
            no,
            false,
        ),
        (
            "dst port",
            r(Proto::Tcp).dst_ports(&[(80, 80)], &[]),
            v4(tcp),
            no,
            true,
        ),
        (
            "dst port range",
            r(Proto::Tcp).dst_ports(&[(1, 1024)], &[]),
            v4(tcp),
            no,
            true,
        ),
        (
            "dst other port",
            r(Proto::Tcp).dst_ports(&[(443, 443)], &[]),
            v4(tcp),
            no,
            false,
        ),
        (
            "dst port excluded",
            r(Proto::Tcp).dst_ports(&[], &[(80, 80)]),
            v4(tcp),
            no,
            false,
        ),
        (
            "src port",
            r(Proto::Tcp).src_ports(&[(1234, 1234)], &[]),
            v4(tcp),
            no,
            true,
        ),
        (
            "src port other",
            r(Proto::Tcp).src_ports(&[(80, 80)], &[]),
            v4(tcp),
            no,
            false,
        ),
        (
            "bidirectional reverse",
            r(Proto::Tcp)
                .src(&[net("10.0.0.2", 32)], &[])
                .src_ports(&[(80, 80)], &[])
                .bidirectional(),
            v4(tcp),
            no,
            true,
        ),
        (
            "unidirectional reverse",
            r(Proto::Tcp)
                .src(&[net("10.0.0.2", 32)], &[])
                .src_ports(&[(80, 80)], &[]),
            v4(tcp),
            no,
            false,
        ),
        (
            "no_stream: on the packet",
            r(Proto::Tcp).flow_stream(false).content(b"abc"),
            v4(tcp),
            no,
            true,
        ),
        (
            "no_stream without content",
            r(Proto::Tcp).flow_stream(false),
            v4(tcp),
            no,
            true,
        ),
        (
            "stream_size client",
            r(Proto::Tcp).stream_size(StreamSide::Client, NumMatch::Gt(10)),
            v4(tcp),
            session,
            true,
        ),
        (
            "stream_size server",
            r(Proto::Tcp).stream_size(StreamSide::Server, NumMatch::Gt(1)),
            v4(tcp),
            session,
            false,
        ),
        (
            "stream_size both",
            r(Proto::Tcp).stream_size(StreamSide::Both, NumMatch::Ge(1)),
            v4(tcp),
            session,
            true,
        ),
        (
            "stream_size without a session",
            r(Proto::Tcp).stream_size(StreamSide::Either, NumMatch::Ge(0)),
            v4(tcp),
            no,
            false,
        ),
        (
            "dsize eq",
            r(Proto::Tcp).dsize(NumMatch::Eq(3)),
            v4(tcp),
            no,
            true,
        ),
        (
            "dsize gt",
            r(Proto::Tcp).dsize(NumMatch::Gt(3)),
            v4(tcp),
            no,
            false,
        ),
        (
            "dsize between",
            r(Proto::Tcp).dsize(NumMatch::Between(2, 4)),
            v4(tcp),
            no,
            true,
        ),
        (
            "dsize not 5 on a payload",
            r(Proto::Udp).dsize(NumMatch::Ne(5)),
            v4(udp),
            no,
            true,
        ),
        (
            "dsize not 5 needs a payload (Suricata's payload mask)",
            r(Proto::Udp).dsize(NumMatch::Ne(5)),
            empty(udp),
            no,
            false,
        ),
        (
            "dsize not 5 on an empty TCP packet without stream data to inspect",
            r(Proto::Tcp).dsize(NumMatch::Ne(5)),
            empty(tcp),
            no,
            false,
        ),
        (
            "dsize not 5 on an empty TCP packet whose stream has data to inspect",
            r(Proto::Tcp).dsize(NumMatch::Ne(5)),
            empty(tcp),
            streamed,
            true,
        ),
        (
            "dsize below 5 needs none",
            r(Proto::Udp).dsize(NumMatch::Lt(5)),
            empty(udp),
            no,
            true,
        ),
        (
            "dsize on a tunnel's outer packet",
            r(Proto::Udp).dsize(NumMatch::Gt(0)),
            v4(udp),
            outer,
            false,
        ),
        (
            "dsize 0 or less on an outer packet",
            r(Proto::Udp).dsize(NumMatch::Le(3)),
            v4(udp),
            outer,
            true,
        ),
        (
            "ttl",
            r(Proto::Tcp).ttl(NumMatch::Eq(64)),
            v4(tcp),
            no,
            true,
        ),
        (
            "ttl lt",
            r(Proto::Tcp).ttl(NumMatch::Lt(10)),
            v4(tcp),
            no,
            false,
        ),
        (
            "itype",
            r(Proto::Icmp).itype(NumMatch::Eq(8)),
            v4(icmp),
            no,
            true,
        ),
        (
            "itype v6",
            r(Proto::Icmp).itype(NumMatch::Eq(128)),
            v6(icmp6),
            no,
            true,
        ),
        (
            "itype other",
            r(Proto::Icmp).itype(NumMatch::Eq(0)),
            v4(icmp),
            no,
            false,
        ),
        (
            "itype on tcp",
            r(Proto::Ip).itype(NumMatch::Eq(8)),
            v4(tcp),
            no,
            false,
        ),
        (
            "icode",
            r(Proto::Icmp).icode(NumMatch::Eq(0)),
            v4(icmp),
            no,
            true,
        ),
        (
            "icode other",
            r(Proto::Icmp).icode(NumMatch::Gt(0)),
            v4(icmp),
            no,
            false,
        ),
        (
            "ip_proto",
            r(Proto::Ip).ip_proto(NumMatch::Eq(47)),
            v4(gre),
            no,
            true,
        ),
        (
            "ip_proto ne",
            r(Proto::Ip).ip_proto(NumMatch::Ne(6)),
            v4(tcp),
            no,
            false,
        ),
        (
            "flags S",
            r(Proto::Tcp).flags(SYN, 0, FlagsModifier::Exact),
            v4(syn),
            no,
            true,
        ),
        (
            "flags S on ACK",
            r(Proto::Tcp).flags(SYN, 0, FlagsModifier::Exact),
            v4(tcp),
            no,
            false,
        ),
        (
            "flags on udp",
            r(Proto::Ip).flags(SYN, 0, FlagsModifier::Any),
            v4(udp),
            no,
            false,
        ),
        (
            "flow to_server",
            r(Proto::Tcp).flow(Some(true), None),
            v4(tcp),
            est,
            true,
        ),
        (
            "flow to_client",
            r(Proto::Tcp).flow(Some(false), None),
            v4(tcp),
            est,
            false,
        ),
        (
            "flow established",
            r(Proto::Tcp).flow(None, Some(true)),
            v4(tcp),
            est,
            true,
        ),
        (
            "flow established not yet",
            r(Proto::Tcp).flow(None, Some(true)),
            v4(tcp),
            no,
            false,
        ),
        (
            "flow not_established",
            r(Proto::Tcp).flow(None, Some(false)),
            v4(tcp),
            no,
            true,
        ),
    ];
    for (name, b, pkt, flow, want) in rows {
        assert_eq!(one(b.build(), &pkt, &flow, name), want, "{name}");
    }
}

/// Inspects and returns the sids of the reported matches.
fn sids(engine: &Engine, s: &mut Scratch, pkt: &Packet<'_>) -> (Verdict, Vec<u32>) {
    let v = engine.inspect(pkt, &first_packet(), s);
    (
        v,
        s.matches().iter().map(|&i| engine.rules()[i].sid).collect(),
    )
}

#[test]
fn port_groups_merge_any_port_rules() {
    let mut rules = vec![
        t(1).dst_ports(&[(80, 80)], &[]).content(b"a").build(),
        t(2).content(b"a").build(),
        t(3).dst_ports(&[(443, 443)], &[]).content(b"a").build(),
        t(4).dst_ports(&[(80, 80)], &[]).build(),
        t(5).src_ports(&[(80, 80)], &[])
            .bidirectional()
            .content(b"a")
            .build(),
        t(6).dst_ports(&[(1, 60000)], &[]).content(b"a").build(),
        RuleBuilder::new(Proto::Udp, 7).content(b"a").build(),
        RuleBuilder::new(Proto::Ip, 8).content(b"a").build(),
    ];
    // More port-specific ports than MAX_PORT_GROUPS: the rest share the misc group.
    for i in 0..(MAX_PORT_GROUPS as u32 + 8) {
        rules.push(
            t(100 + i)
                .dst_ports(&[(2000 + i as u16, 2000 + i as u16)], &[])
                .content(b"a")
                .build(),
        );
    }
    let engine = Engine::build(rules).expect("builds");
    let mut s = engine.scratch();
    let pkt = |sport: u16, dport: u16| {
        test_packet(
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            TestL4::Tcp {
                sport,
                dport,
                flags: ACK,
            },
            b"a",
        )
    };
    let rows: &[(u16, u16, &[u32])] = &[
        (1234, 80, &[1, 2, 4, 5, 6, 8]),
        (1234, 443, &[2, 3, 6, 8]),
        (1234, 8080, &[2, 6, 8]),
        (80, 5555, &[2, 5, 6, 8]),
        (1234, 2000, &[2, 6, 8, 100]),
        (1234, 2039, &[2, 6, 8, 139]),
        (1234, 2038, &[2, 6, 8, 138]),
        (1234, 61000, &[2, 8]),
    ];
    for (sport, dport, want) in rows {
        let (_, mut got) = sids(&engine, &mut s, &pkt(*sport, *dport));
        got.sort();
        assert_eq!(&got, want, "{sport} -> {dport}");
    }
    let udp = test_packet(
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        TestL4::Udp {
            sport: 1,
            dport: 80,
        },
        b"a",
    );
    assert_eq!(sids(&engine, &mut s, &udp).1, vec![7, 8]);
}

#[test]
fn nocase_prefilter_and_exact_recheck() {
    let engine = Engine::build(vec![
        t(1).content(b"Hello").build(),
        t(2).content(b"hello").nocase().build(),
        t(3).content(b"HELLO").build(),
        t(4).content(b"hello").build(),
    ])
    .expect("builds");
    let mut s = engine.scratch();
    let rows: &[(&[u8], &[u32])] = &[
        (b"HELLO", &[2, 3]),
        (b"hElLo", &[2]),
        (b"Hello hello", &[1, 2, 4]),
        (b"help", &[]),
    ];
    for (payload, want) in rows {
        assert_eq!(
            &sids(&engine, &mut s, &tcp_pkt(payload)).1,
            want,
            "{payload:?}"
        );
    }
}

#[test]
fn order_pass_noalert_and_once() {
    let rules = vec![
        t(5).priority(1).content(b"x").build(),
        t(9).action(Action::Drop).content(b"x").build(),
        t(2).content(b"x").build(),
        t(1).content(b"x").content(b"x").distance(0).build(),
        t(3).noalert().content(b"x").build(),
        t(4).action(Action::Reject).build(),
        RuleBuilder::new(Proto::Tcp, 7)
            .bidirectional()
            .content(b"x")
            .build(),
    ];
    let engine = Engine::build(rules.clone()).expect("builds");
    let mut s = engine.scratch();
    assert_eq!(
        sids(&engine, &mut s, &tcp_pkt(b"xx x")),
        (Verdict::Drop, vec![9, 4, 5, 1, 2, 7])
    );
    // A drop or reject match alerts. Sid 4 is IP-only, so its reject covers the flow
    // (Suricata's RuleActionToFlow, IDS mode too); on a later packet it is not evaluated.
    assert_eq!(sids(&engine, &mut s, &tcp_pkt(b"y")).0, Verdict::Drop);
    assert_eq!(
        engine.inspect(&tcp_pkt(b"x"), &FlowInfo::default(), &mut s),
        Verdict::Inspected,
        "a content drop matched on a packet covers that packet alone"
    );
    let v = engine.inspect_stream(&tcp_pkt(b""), b"xx x", &FlowInfo::default(), &mut s);
    let stream: Vec<u32> = s.matches().iter().map(|&i| engine.rules()[i].sid).collect();
    assert_eq!(
        (v, stream),
        (Verdict::Drop, vec![9, 5, 1, 2, 7]),
        "on the stream it covers the flow (Suricata's FLOW_IF_STATEFUL)"
    );
    // sid 1 needs two x's; sid 4 has no payload keyword and matches an empty payload.
    assert_eq!(sids(&engine, &mut s, &tcp_pkt(b"x")).1, vec![9, 4, 5, 2, 7]);
    assert_eq!(sids(&engine, &mut s, &tcp_pkt(b"")).1, vec![4]);

    let mut with_pass = rules;
    with_pass.push(t(50).action(Action::Pass).content(b"pass").build());
    let engine = Engine::build(with_pass).expect("builds");
    let mut s = engine.scratch();
    assert_eq!(
        sids(&engine, &mut s, &tcp_pkt(b"x pass")),
        (Verdict::PassPacket, vec![])
    );
    assert_eq!(
        sids(&engine, &mut s, &tcp_pkt(b"x")),
        (Verdict::Drop, vec![9, 4, 5, 2, 7])
    );
    // A drop rule sorted after the pass rule is never reached.
    assert_eq!(
        engine.inspect_stream(&tcp_pkt(b""), b"x pass", &first_packet(), &mut s),
        Verdict::Pass
    );
    assert!(s.matches().is_empty());
}

#[test]
fn build_errors_name_the_rule() {
    let app = RuleBuilder::new(Proto::AppLayer("http".into()), 11).build();
    let e = Engine::build(vec![app]).expect_err("app-layer rejected");
    assert!(e.to_string().contains("sid 11"), "{e}");
    let empty = t(12).content(b"").build();
    assert!(matches!(
        Engine::build(vec![empty]),
        Err(BuildError::EmptyContent { sid: 12, .. })
    ));
    let chop = t(13).content(b"abc").fast_pattern(Some((2, 5))).build();
    let e = Engine::build(vec![chop]).expect_err("bad chop");
    assert!(e.to_string().contains("fast_pattern:2,5"), "{e}");
}

#[test]
fn empty_rule_set_inspects_nothing() {
    let engine = Engine::build(Vec::new()).expect("builds");
    let mut s = engine.scratch();
    assert_eq!(
        sids(&engine, &mut s, &tcp_pkt(b"abc")),
        (Verdict::Inspected, vec![])
    );
}

#[test]
fn engine_is_shareable_and_prefilter_reports_candidates() {
    fn shared<T: Send + Sync>() {}
    fn owned<T: Send>() {}
    shared::<Engine>();
    owned::<Scratch>();
    let engine = Engine::build(vec![
        t(1).content(b"abc").build(),
        t(2).content(b"abd").content(b"zz").build(),
        t(3).build(),
    ])
    .expect("builds");
    let mut s = engine.scratch();
    assert_eq!(engine.prefilter(&tcp_pkt(b"abc abd"), true, &mut s), 2);
    assert_eq!(engine.prefilter(&tcp_pkt(b"abd"), true, &mut s), 1);
    assert_eq!(engine.prefilter(&tcp_pkt(b"xyz"), true, &mut s), 0);
}

#[test]
fn direction_groups_leave_out_rules_of_the_other_direction() {
    let engine = Engine::build(vec![
        t(1).content(b"abc").flow(Some(true), None).build(),
        t(2).content(b"abd").flow(Some(false), None).build(),
        t(3).content(b"abe").build(),
    ])
    .expect("builds");
    let mut s = engine.scratch();
    let p = tcp_pkt(b"abc abd abe");
    // Each direction's group proposes its own rule and the one without a direction.
    assert_eq!(engine.prefilter(&p, true, &mut s), 2);
    assert_eq!(engine.prefilter(&p, false, &mut s), 2);
    for (to_server, want) in [(true, [0, 2]), (false, [1, 2])] {
        let info = FlowInfo {
            to_server,
            ..first_packet()
        };
        engine.inspect(&p, &info, &mut s);
        assert_eq!(s.matches(), want, "to_server {to_server}");
    }
    // Only to-server stream rules: the client's direction needs no reassembly.
    let one_way =
        Engine::build(vec![t(1).content(b"abc").flow(Some(true), None).build()]).expect("builds");
    assert!(one_way.wants_stream(&p, true));
    assert!(!one_way.wants_stream(&p, false));
    assert_eq!(one_way.prefilter(&p, false, &mut one_way.scratch()), 0);
}

/// A UDP packet 10.0.0.1:1 -> 10.0.0.2:53 with payload "x".
fn dns_query_pkt() -> Packet<'static> {
    test_packet(
        ip("10.0.0.1"),
        ip("10.0.0.2"),
        TestL4::Udp {
            sport: 1,
            dport: 53,
        },
        b"x",
    )
}

#[test]
fn ip_only_rules_run_on_the_first_packet_of_a_direction_and_pass_scope_follows_suricata() {
    use crate::engine::is_ip_only;
    let ip_only = RuleBuilder::new(Proto::Ip, 1)
        .ip_proto(NumMatch::Ne(6))
        .build();
    let with_port = RuleBuilder::new(Proto::Udp, 2)
        .dst_ports(&[(53, 53)], &[])
        .build();
    let with_ttl = RuleBuilder::new(Proto::Ip, 3).ttl(NumMatch::Eq(64)).build();
    // Ports do not count (Suricata 7, the golden pcap's scenario P); flowbits do.
    let with_bits = RuleBuilder::new(Proto::Udp, 4)
        .dst_ports(&[(53, 53)], &[])
        .build();
    let with_bits = Rule {
        flowbits: vec![Flowbit {
            cmd: FlowbitCmd::IsSet,
            names: vec!["x".into()],
        }],
        ..with_bits
    };
    assert!(is_ip_only(&ip_only));
    assert!(is_ip_only(&with_port));
    assert!(!is_ip_only(&with_ttl));
    assert!(!is_ip_only(&with_bits));

    let udp = dns_query_pkt();
    let engine = Engine::build(vec![ip_only, with_port, with_ttl]).unwrap();
    let mut s = engine.scratch();
    engine.inspect(&udp, &first_packet(), &mut s);
    let mut first: Vec<usize> = s.matches().to_vec();
    first.sort_unstable();
    assert_eq!(first, vec![0, 1, 2]);
    engine.inspect(&udp, &FlowInfo::default(), &mut s);
    let mut later: Vec<usize> = s.matches().to_vec();
    later.sort_unstable();
    assert_eq!(later, vec![2], "the IP-only rules are not evaluated again");

    // pass on a packet covers the packet only, TCP included; on the TCP stream (or an
    // IP-only pass) the whole flow.
    let pass_udp = RuleBuilder::new(Proto::Udp, 10)
        .action(Action::Pass)
        .content(b"x")
        .build();
    let pass_tcp = RuleBuilder::new(Proto::Tcp, 11)
        .action(Action::Pass)
        .content(b"x")
        .build();
    let engine = Engine::build(vec![pass_udp, pass_tcp]).unwrap();
    let mut s = engine.scratch();
    assert_eq!(
        engine.inspect(&udp, &first_packet(), &mut s),
        Verdict::PassPacket
    );
    assert_eq!(
        engine.inspect(&tcp_pkt(b"x"), &first_packet(), &mut s),
        Verdict::PassPacket
    );
    assert_eq!(
        engine.inspect_stream(&tcp_pkt(b""), b"x", &first_packet(), &mut s),
        Verdict::Pass
    );
    assert!(s.matches().is_empty(), "pass rules are not reported");
    // A pass of ports alone is IP-only: it passes the whole UDP flow, as in Suricata.
    let pass_port = RuleBuilder::new(Proto::Udp, 12)
        .action(Action::Pass)
        .dst_ports(&[(53, 53)], &[])
        .build();
    let engine = Engine::build(vec![pass_port]).unwrap();
    assert_eq!(
        engine.inspect(&udp, &first_packet(), &mut engine.scratch()),
        Verdict::Pass
    );
}

#[test]
fn a_direction_without_port_rules_has_no_port_table_and_still_finds_its_group() {
    let engine = Engine::build(vec![
        t(1).content(b"abc")
            .flow(Some(true), None)
            .dst_ports(&[(80, 80)], &[])
            .build(),
        t(2).content(b"abd").flow(Some(false), None).build(),
    ])
    .expect("builds");
    let to_server = &engine.tables.by_port[0][groups::Class::Tcp as usize][0];
    let to_client = &engine.tables.by_port[1][groups::Class::Tcp as usize][0];
    assert_eq!(
        to_server.ports.len(),
        65536,
        "port 80 has a rule of its own"
    );
    assert!(
        to_client.ports.is_empty(),
        "only an any-port rule goes to the client"
    );
    let p = tcp_pkt(b"abc abd");
    assert_eq!(engine.prefilter(&p, true, &mut engine.scratch()), 1);
    assert_eq!(engine.prefilter(&p, false, &mut engine.scratch()), 1);
    let mut other_port = tcp_pkt(b"abc abd");
    if let capture::decode::L4::Tcp(t) = &mut other_port.l4 {
        t.dst_port = 8080;
    }
    assert_eq!(
        engine.prefilter(&other_port, true, &mut engine.scratch()),
        0
    );
    assert_eq!(
        engine.prefilter(&other_port, false, &mut engine.scratch()),
        1
    );
}

/// A packet the stream took is inspected the same whether its own payload is searched
/// again or the stream's scan of its bytes stands in (`prefilter_stream` keeping the
/// candidates from the split on): groups whose packet scan is the full prefilter, its own
/// smaller one (with and without a depth bound), or none, on pseudo-random payloads
/// behind pseudo-random stream bytes.
#[test]
fn the_stream_scan_stands_in_for_the_packet_scan() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pkt_rule = |sid| RuleBuilder::new(Proto::TcpPkt, sid);
    let rule_sets: Vec<(&str, Vec<Rule>)> = vec![
        (
            "packet rules only (full prefilter)",
            vec![
                pkt_rule(1).content(b"ab").build(),
                pkt_rule(2).content(b"Ba").nocase().build(),
                t(3).content(b"ca").depth(4).build(),
            ],
        ),
        (
            "stream and packet rules (own prefilter)",
            vec![
                t(1).content(b"ab").build(),
                pkt_rule(2).content(b"bca").build(),
                pkt_rule(3).content(b"AC").nocase().build(),
                t(4).content(b"cab").build(),
                RuleBuilder::new(Proto::TcpStream, 5).content(b"bb").build(),
            ],
        ),
        (
            "own prefilter bounded by depth",
            vec![
                t(1).content(b"ab").build(),
                t(2).content(b"ba").offset(1).depth(3).build(),
            ],
        ),
        (
            "stream rules only (no packet scan)",
            vec![t(1).content(b"ab").build(), t(2).content(b"ca").build()],
        ),
    ];
    let flow = FlowInfo {
        to_server: true,
        established: true,
        ..FlowInfo::default()
    };
    let mut kept = 0;
    for (name, rules) in rule_sets {
        let engine = Engine::build(rules).expect("builds");
        let mut s = engine.scratch();
        for _ in 0..300 {
            let gen = |n: u64, next: &mut dyn FnMut() -> u64| -> Vec<u8> {
                let len = (next() % n) as usize;
                (0..len).map(|_| b"abcAB"[(next() % 5) as usize]).collect()
            };
            let lookback = gen(4, &mut next);
            let payload = gen(24, &mut next);
            let pkt = tcp_pkt(&payload);
            let hay = [&lookback[..], &payload[..]].concat();

            s.begin_packet();
            engine.inspect_packet(&pkt, &flow, true, &mut s);
            let mut want: Vec<usize> = s.matches().to_vec();

            let mut out = Vec::new();
            let keep = engine.prefilter_stream(&pkt, true, &hay, lookback.len(), &mut s, &mut out);
            s.begin_packet();
            if keep {
                kept += 1;
                engine.inspect_packet_prefiltered(&pkt, &flow, &mut s);
            } else {
                engine.inspect_packet(&pkt, &flow, true, &mut s);
            }
            let mut got: Vec<usize> = s.matches().to_vec();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{name}: {lookback:?} + {payload:?}");
        }
    }
    assert!(kept > 500, "the stand-in ran: {kept} packets");
}

/// Suricata's "like IP-only" rules: a negated address keeps a header-only rule out of the
/// IP-only engine, so it runs on every packet; a `pass` among them still covers the flow.
#[test]
fn negated_addresses_make_like_ip_only_rules_that_run_on_every_packet() {
    use crate::engine::{is_ip_only, is_like_ip_only};
    let not_a = AddrSet {
        include: vec![],
        exclude: vec![IpNet {
            addr: ip("10.9.9.9"),
            prefix: 32,
        }],
        double_negated: false,
    };
    let like = Rule {
        src: not_a.clone(),
        ..RuleBuilder::new(Proto::Udp, 1).build()
    };
    let plain = RuleBuilder::new(Proto::Udp, 2).build();
    assert!(!is_ip_only(&like) && is_like_ip_only(&like));
    assert!(is_ip_only(&plain) && !is_like_ip_only(&plain));
    let udp = dns_query_pkt();
    let engine = Engine::build(vec![like, plain]).unwrap();
    let mut s = engine.scratch();
    assert_eq!(sids(&engine, &mut s, &udp).1, vec![1, 2]);
    engine.inspect(&udp, &FlowInfo::default(), &mut s);
    let later: Vec<u32> = s.matches().iter().map(|&i| engine.rules()[i].sid).collect();
    assert_eq!(
        later,
        vec![1],
        "the like-IP-only rule runs on a later packet too"
    );

    let pass = Rule {
        src: not_a,
        action: Action::Pass,
        ..RuleBuilder::new(Proto::Udp, 3).build()
    };
    let engine = Engine::build(vec![pass]).unwrap();
    assert_eq!(
        engine.inspect(&udp, &FlowInfo::default(), &mut engine.scratch()),
        Verdict::Pass,
        "its pass covers the flow, as an IP-only one does"
    );
}

#[test]
fn syn_only_rules_to_ports_without_a_direction_leave_the_to_client_groups() {
    use FlagsModifier::*;
    let syn = |sport, dport| {
        test_packet(
            ip("10.0.0.2"),
            ip("10.0.0.1"),
            TestL4::Tcp {
                sport,
                dport,
                flags: SYN,
            },
            b"",
        )
    };
    let p = syn(50001, 8099);
    let to_port = || t(0).dst_ports(&[(8099, 8099)], &[]);
    // (rule, matches the SYN to the server, matches the SYN to the client)
    let cases: Vec<(&str, Rule, bool, bool)> = vec![
        (
            "S to a port",
            to_port().flags(SYN, 0, Exact).build(),
            true,
            false,
        ),
        (
            "+S to a port",
            to_port().flags(SYN, 0, All).build(),
            true,
            false,
        ),
        (
            "S,CE to a port",
            to_port().flags(SYN, CWR | ECE, Exact).build(),
            true,
            false,
        ),
        (
            "*S to a port",
            to_port().flags(SYN, 0, Any).build(),
            true,
            false,
        ),
        (
            "excluded ports",
            t(0).dst_ports(&[], &[(80, 80)])
                .flags(SYN, 0, Exact)
                .build(),
            true,
            false,
        ),
        (
            "S to any port",
            t(0).flags(SYN, 0, Exact).build(),
            true,
            true,
        ),
        (
            "ports adding up to all",
            t(0).dst_ports(&[(0, 9000), (9001, 65535)], &[])
                .flags(SYN, 0, Exact)
                .build(),
            true,
            true,
        ),
        (
            "*SF is not SYN alone",
            to_port().flags(SYN | FIN, 0, Any).build(),
            true,
            true,
        ),
        (
            "S with !A",
            to_port().flags(SYN, 0, Exact).flags(ACK, 0, Not).build(),
            true,
            false,
        ),
        (
            "flow:to_client",
            to_port()
                .flow(Some(false), None)
                .flags(SYN, 0, Exact)
                .build(),
            false,
            true,
        ),
        (
            "<> with any source port: its swapped copy stays, and needs source port 8099",
            to_port().bidirectional().flags(SYN, 0, Exact).build(),
            true,
            false,
        ),
        (
            "<> with ports on both sides",
            to_port()
                .src_ports(&[(50001, 50001)], &[])
                .bidirectional()
                .flags(SYN, 0, Exact)
                .build(),
            true,
            false,
        ),
    ];
    for (name, rule, want_server, want_client) in cases {
        let engine = Engine::build(vec![rule]).expect("builds");
        let mut s = engine.scratch();
        for (to_server, want) in [(true, want_server), (false, want_client)] {
            let info = FlowInfo {
                to_server,
                ..first_packet()
            };
            engine.inspect(&p, &info, &mut s);
            assert_eq!(s.matches() == [0], want, "{name}, to_server {to_server}");
        }
    }
}

/// `flow:only_stream` and `flow:no_stream` choose the passes a rule runs in, as
/// Suricata's flow keyword reads whether the rule's content matched on the stream.
#[test]
fn only_stream_and_no_stream_pick_the_pass() {
    let tcp_pkt = |payload: &'static [u8]| {
        test_packet(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            TestL4::Tcp {
                sport: 1234,
                dport: 80,
                flags: ACK,
            },
            payload,
        )
    };
    let rules = vec![
        t(1).flow_stream(true).content(b"abc").build(),
        t(2).flow_stream(false).content(b"abc").build(),
        t(3).flow_stream(true).build(),
        t(4).content(b"abc").build(),
    ];
    let engine = Engine::build(rules).expect("builds");
    let mut s = engine.scratch();
    let sids = |s: &Scratch| -> Vec<u32> {
        let mut v: Vec<u32> = s.matches().iter().map(|&i| engine.rules()[i].sid).collect();
        v.sort();
        v
    };
    let info = first_packet();
    // On the stream: only_stream and plain content; no_stream never, nor only_stream
    // without a content.
    s.begin_packet();
    engine.inspect_stream(&tcp_pkt(b""), b"xabcx", &info, &mut s);
    assert_eq!(sids(&s), vec![1, 4]);
    // On a packet the stream took: no_stream only (a plain content waits for the stream).
    s.begin_packet();
    engine.inspect_packet(&tcp_pkt(b"xabcx"), &info, true, &mut s);
    assert_eq!(sids(&s), vec![2]);
    // On a packet the stream did not take: no_stream and the plain content.
    s.begin_packet();
    engine.inspect_packet(&tcp_pkt(b"xabcx"), &info, false, &mut s);
    assert_eq!(sids(&s), vec![2, 4]);
}
