//! Table-driven tests of the rule parser: header forms, every keyword, error texts, loader.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;

fn loc() -> Location {
    Location {
        file: Arc::from("t.rules"),
        line: 7,
    }
}

fn parse(text: &str) -> Result<Parsed, RuleError> {
    parse_rule(text, &loc(), &Vars::default(), &Classifications::default())
}

fn rule(text: &str) -> Rule {
    match parse(text) {
        Ok(Parsed::Rule(r)) => *r,
        other => panic!("expected an enforced rule for {text}: {other:?}"),
    }
}

/// A tcp rule with the given options and sid 1.
fn opts(o: &str) -> String {
    format!("alert tcp any any -> any any ({o} sid:1;)")
}

fn net(s: &str) -> IpNet {
    vars::parse_net(s).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn actions_and_protocols() {
    let cases = [
        ("alert", Action::Alert),
        ("pass", Action::Pass),
        ("drop", Action::Drop),
        ("reject", Action::Reject),
        ("rejectsrc", Action::RejectSrc),
        ("rejectdst", Action::RejectDst),
        ("rejectboth", Action::RejectBoth),
    ];
    for (word, action) in cases {
        let r = rule(&format!("{word} tcp any any -> any any (sid:1;)"));
        assert_eq!(r.action, action, "{word}");
    }
    let protos = [
        ("tcp", Proto::Tcp),
        ("udp", Proto::Udp),
        ("icmp", Proto::Icmp),
        ("ip", Proto::Ip),
        ("tcp-pkt", Proto::TcpPkt),
        ("tcp-stream", Proto::TcpStream),
        ("ipv4", Proto::Ipv4),
        ("ipv6", Proto::Ipv6),
        ("dns", Proto::Dns),
        ("tls", Proto::Tls),
        ("http", Proto::Http),
    ];
    for (word, proto) in protos {
        let r = rule(&format!("alert {word} any any -> any any (sid:1;)"));
        assert_eq!(r.proto, proto, "{word}");
    }
    for app in ["ftp-data", "smb", "quic", "websocket", "newproto"] {
        match parse(&format!(
            "alert {app} any any -> any any (sid:5; msg:\"x\";)"
        ))
        .unwrap()
        {
            Parsed::Unsupported { sid, keywords, .. } => {
                assert_eq!(sid, 5);
                assert_eq!(keywords, vec![format!("app-layer:{app}")]);
            }
            p => panic!("{app}: {p:?}"),
        }
    }
}

#[test]
fn address_forms() {
    let v = Vars::default();
    let home = vec![
        net("192.168.0.0/16"),
        net("10.0.0.0/8"),
        net("172.16.0.0/12"),
    ];
    let cases: Vec<(&str, AddrSet)> = vec![
        ("any", AddrSet::default()),
        (
            "1.2.3.4",
            AddrSet {
                include: vec![net("1.2.3.4/32")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "10.0.0.0/8",
            AddrSet {
                include: vec![net("10.0.0.0/8")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        // Suricata's IPv4 ranges, as the CIDR blocks covering exactly them.
        (
            "1.2.3.4-1.2.3.9",
            AddrSet {
                include: vec![net("1.2.3.4/30"), net("1.2.3.8/31")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "0.0.0.0-255.255.255.255",
            AddrSet {
                include: vec![net("0.0.0.0/0")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "[10.0.0.0/8,!10.0.0.255-10.0.1.0,]",
            AddrSet {
                include: vec![net("10.0.0.0/8")],
                exclude: vec![net("10.0.0.255/32"), net("10.0.1.0/32")],
                double_negated: false,
            },
        ),
        (
            "10.0.0.0/255.0.0.0",
            AddrSet {
                include: vec![net("10.0.0.0/8")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "2001:db8::/32",
            AddrSet {
                include: vec![net("2001:db8::/32")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "!1.2.3.4",
            AddrSet {
                include: vec![],
                exclude: vec![net("1.2.3.4")],
                double_negated: false,
            },
        ),
        (
            "[1.2.3.4, 5.6.7.8]",
            AddrSet {
                include: vec![net("1.2.3.4"), net("5.6.7.8")],
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "[1.2.3.0/24,!1.2.3.4]",
            AddrSet {
                include: vec![net("1.2.3.0/24")],
                exclude: vec![net("1.2.3.4")],
                double_negated: false,
            },
        ),
        (
            "![1.2.3.4,5.6.7.8]",
            AddrSet {
                include: vec![],
                exclude: vec![net("1.2.3.4"), net("5.6.7.8")],
                double_negated: false,
            },
        ),
        (
            "[1.0.0.0/8,[2.0.0.0/8,!2.2.2.2]]",
            AddrSet {
                include: vec![net("1.0.0.0/8"), net("2.0.0.0/8")],
                exclude: vec![net("2.2.2.2")],
                double_negated: false,
            },
        ),
        (
            "$HOME_NET",
            AddrSet {
                include: home.clone(),
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "$EXTERNAL_NET",
            AddrSet {
                include: vec![],
                exclude: home.clone(),
                double_negated: false,
            },
        ),
        (
            "!$HOME_NET",
            AddrSet {
                include: vec![],
                exclude: home.clone(),
                double_negated: false,
            },
        ),
        (
            "!$EXTERNAL_NET",
            AddrSet {
                include: home.clone(),
                exclude: vec![],
                // Still "like IP-only" in Suricata, as any written negation.
                double_negated: true,
            },
        ),
        (
            "$HTTP_SERVERS",
            AddrSet {
                include: home.clone(),
                exclude: vec![],
                double_negated: false,
            },
        ),
        (
            "$AIM_SERVERS",
            AddrSet {
                include: vec![],
                exclude: home.clone(),
                double_negated: false,
            },
        ),
        (
            "[any,!1.2.3.4]",
            AddrSet {
                include: vec![],
                exclude: vec![net("1.2.3.4")],
                double_negated: false,
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(v.parse_addresses(text), Ok(want), "{text}");
    }
    let ext = v.parse_addresses("$EXTERNAL_NET").unwrap();
    assert!(ext.contains(&ip("8.8.8.8")));
    assert!(!ext.contains(&ip("10.1.2.3")));
}

#[test]
fn address_errors() {
    let mut v = Vars::default();
    v.set_address("A", "$B");
    v.set_address("B", "[1.2.3.4,$A]");
    let cases = [
        ("!any", "'!any' negates the complete space"),
        (
            "[1.2.3.4,!1.2.3.4]",
            "nothing left after removing the negated entries",
        ),
        ("1.2.3.4/33", "bad prefix length in '1.2.3.4/33'"),
        ("1.2.3", "bad address '1.2.3'"),
        ("$NOPE", "undefined address variable $NOPE"),
        ("[1.2.3.4", "expected ',' or ']' in list"),
        ("[]", "bad address ''"),
        ("[1.2.3.4, ]", "bad address ''"),
        ("[1.2.3.4,,5.6.7.8]", "bad address ''"),
        (
            "!0.0.0.0/0",
            "the negation covers a complete address family or port space",
        ),
        (
            "[!::/0,::1]",
            "the negation covers a complete address family or port space",
        ),
        (
            "1.2.3.9-1.2.3.4",
            "address range '1.2.3.9-1.2.3.4' is reversed",
        ),
        (
            "::1-::5",
            "bad address range '::1-::5' (IPv4 'first-last' expected)",
        ),
    ];
    for (text, msg) in cases {
        let e = v.parse_addresses(text).unwrap_err();
        assert_eq!(e.message, msg, "{text}");
    }
    let e = v.parse_addresses("$A").unwrap_err();
    assert!(
        e.message.contains("address variable cycle: $A -> $B -> $A"),
        "{}",
        e.message
    );
    let e = v.parse_addresses("![1.0.0.0/8,!1.1.1.1]").unwrap_err();
    assert!(e.unsupported);
}

#[test]
fn port_forms() {
    let v = Vars::default();
    let cases: Vec<(&str, PortSet)> = vec![
        ("any", PortSet::default()),
        (
            "80",
            PortSet {
                include: vec![(80, 80)],
                exclude: vec![],
            },
        ),
        (
            "1024:",
            PortSet {
                include: vec![(1024, 65535)],
                exclude: vec![],
            },
        ),
        (
            ":1023",
            PortSet {
                include: vec![(0, 1023)],
                exclude: vec![],
            },
        ),
        (
            "80:90",
            PortSet {
                include: vec![(80, 90)],
                exclude: vec![],
            },
        ),
        (
            "!80",
            PortSet {
                include: vec![],
                exclude: vec![(80, 80)],
            },
        ),
        (
            "[80,443,8000:8100]",
            PortSet {
                include: vec![(80, 80), (443, 443), (8000, 8100)],
                exclude: vec![],
            },
        ),
        (
            "[1024:,!8080]",
            PortSet {
                include: vec![(1024, 65535)],
                exclude: vec![(8080, 8080)],
            },
        ),
        (
            "![25,110]",
            PortSet {
                include: vec![],
                exclude: vec![(25, 25), (110, 110)],
            },
        ),
        (
            "$HTTP_PORTS",
            PortSet {
                include: vec![(80, 80)],
                exclude: vec![],
            },
        ),
        (
            "$SHELLCODE_PORTS",
            PortSet {
                include: vec![],
                exclude: vec![(80, 80)],
            },
        ),
        (
            "$FILE_DATA_PORTS",
            PortSet {
                include: vec![(80, 80), (110, 110), (143, 143)],
                exclude: vec![],
            },
        ),
        (
            "$TEREDO_PORTS",
            PortSet {
                include: vec![(3544, 3544)],
                exclude: vec![],
            },
        ),
        (
            "[80,81,]",
            PortSet {
                include: vec![(80, 80), (81, 81)],
                exclude: vec![],
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(v.parse_ports(text), Ok(want), "{text}");
    }
    let errors = [
        ("70000", "bad port '70000'"),
        ("90:80", "port range '90:80' is reversed"),
        ("!any", "'!any' negates the complete space"),
        ("$NOPE", "undefined port variable $NOPE"),
        (
            "[80,!80]",
            "nothing left after removing the negated entries",
        ),
        (
            "!0:",
            "the negation covers a complete address family or port space",
        ),
        ("[80,,81]", "bad port ''"),
    ];
    for (text, msg) in errors {
        assert_eq!(v.parse_ports(text).unwrap_err().message, msg, "{text}");
    }
}

#[test]
fn header_in_rule() {
    let r = rule("alert tcp $HOME_NET [1024:, !8080] <> [1.2.3.4, 5.6.7.8] $HTTP_PORTS (sid:9;)");
    assert!(r.bidirectional);
    assert_eq!(r.src_ports.exclude, vec![(8080, 8080)]);
    assert_eq!(r.dst.include.len(), 2);
    assert_eq!(r.dst_ports.include, vec![(80, 80)]);
}

#[test]
fn meta_keywords() {
    let r = rule(
        r#"alert tcp any any -> any any (msg:"a \"quoted\" \; msg"; reference:url,example.com/a; reference:cve,2020-1; metadata:created_at 2020_01_01, former_category MALWARE; classtype:trojan-activity; target:dest_ip; gid:3; sid:42; rev:7; noalert;)"#,
    );
    assert_eq!(r.msg, "a \"quoted\" ; msg");
    assert_eq!(r.references, vec!["url,example.com/a", "cve,2020-1"]);
    assert_eq!(
        r.metadata,
        vec![
            ("created_at".to_owned(), "2020_01_01".to_owned()),
            ("former_category".to_owned(), "MALWARE".to_owned())
        ]
    );
    assert_eq!(r.classtype.as_deref(), Some("trojan-activity"));
    assert_eq!(r.category, "A Network Trojan was detected");
    assert_eq!(r.priority, 1);
    assert_eq!(r.target, Some(Target::DestIp));
    assert_eq!((r.gid, r.sid, r.rev), (3, 42, 7));
    assert!(r.noalert);
    assert_eq!(r.location, loc());
}

#[test]
fn priority_defaults() {
    let cases = [
        ("", 3),
        ("classtype:misc-attack;", 2),
        ("classtype:misc-attack; priority:5;", 5),
        ("priority:1; classtype:tcp-connection;", 1),
        ("classtype:tcp-connection;", 4),
        // Suricata 7 takes 0 (EVE severity 0).
        ("priority:0;", 0),
        ("classtype:misc-attack; priority:0;", 0),
        // Twice: Suricata 7 warns and keeps the higher priority (the smaller number).
        ("priority:4; priority:2;", 2),
        ("priority:1; classtype:misc-attack; priority:3;", 1),
    ];
    for (o, p) in cases {
        assert_eq!(rule(&opts(o)).priority, p, "{o}");
    }
}

fn content_of(o: &str) -> ContentMatch {
    let r = rule(&opts(o));
    match r.payload.last() {
        Some(PayloadMatch::Content(c)) => c.clone(),
        p => panic!("{o}: {p:?}"),
    }
}

#[test]
fn content_and_modifiers() {
    let base = |p: &[u8]| ContentMatch {
        pattern: p.to_vec(),
        ..ContentMatch::default()
    };
    let cases: Vec<(&str, ContentMatch)> = vec![
        (r#"content:"abc";"#, base(b"abc")),
        (r#"content:"a|20 0d0A|b";"#, base(b"a \r\nb")),
        (r#"content:"a\"b\;c\\d\:e";"#, base(b"a\"b;c\\d:e")),
        (r#"content:"a\;b";"#, base(b"a;b")),
        (
            r#"content:!"abc";"#,
            ContentMatch {
                negated: true,
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; nocase;"#,
            ContentMatch {
                nocase: true,
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; rawbytes;"#,
            ContentMatch {
                rawbytes: true,
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; offset:2; depth:5;"#,
            ContentMatch {
                offset: Some(2),
                depth: Some(5),
                ..base(b"abc")
            },
        ),
        (
            r#"content:"x"; content:"abc"; distance:-3; within:10;"#,
            ContentMatch {
                distance: Some(-3),
                within: Some(10),
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; startswith;"#,
            ContentMatch {
                startswith: true,
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; endswith;"#,
            ContentMatch {
                endswith: true,
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; fast_pattern;"#,
            ContentMatch {
                fast_pattern: Some(FastPattern::default()),
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abc"; fast_pattern:only;"#,
            ContentMatch {
                fast_pattern: Some(FastPattern {
                    only: true,
                    chop: None,
                }),
                ..base(b"abc")
            },
        ),
        (
            r#"content:"abcdef"; fast_pattern:1,3;"#,
            ContentMatch {
                fast_pattern: Some(FastPattern {
                    only: false,
                    chop: Some((1, 3)),
                }),
                ..base(b"abcdef")
            },
        ),
        (
            r#"content:!"abc"; fast_pattern;"#,
            ContentMatch {
                negated: true,
                fast_pattern: Some(FastPattern::default()),
                ..base(b"abc")
            },
        ),
    ];
    for (o, want) in cases {
        assert_eq!(content_of(o), want, "{o}");
    }
}

#[test]
fn payload_keywords() {
    let r = rule(&opts(
        r#"content:"GET"; pcre:"/^x+\;y/Rsi"; byte_test:2,!&,0x80,-1,relative,little; byte_jump:4,0,relative,multiplier 2,align,post_offset -4,bitmask 0xff00; isdataat:!10,relative,rawbytes; byte_test:3,<=,100,0,string,dec;"#,
    ));
    assert_eq!(r.payload.len(), 6);
    let PayloadMatch::Pcre(p) = &r.payload[1] else {
        panic!()
    };
    assert_eq!(p.source, r"^x+\;y");
    assert!(p.relative && !p.negated);
    assert_eq!(p.flags, "si");
    assert!(p.regex.is_match(b"XX;Y").unwrap());
    assert_eq!(
        r.payload[2],
        PayloadMatch::ByteTest(ByteTest {
            bytes: 2,
            negated: true,
            op: ByteTestOp::And,
            value: 0x80,
            offset: -1,
            relative: true,
            format: NumberFormat::Binary(Endian::Little),
            bitmask: None,
        })
    );
    assert_eq!(
        r.payload[3],
        PayloadMatch::ByteJump(ByteJump {
            bytes: 4,
            offset: 0,
            relative: true,
            format: NumberFormat::Binary(Endian::Big),
            multiplier: 2,
            align: true,
            from_beginning: false,
            from_end: false,
            post_offset: -4,
            bitmask: Some(0xff00),
        })
    );
    assert_eq!(
        r.payload[4],
        PayloadMatch::IsDataAt(IsDataAt {
            offset: 10,
            relative: true,
            negated: true,
            rawbytes: true
        })
    );
    let PayloadMatch::ByteTest(t) = &r.payload[5] else {
        panic!()
    };
    assert_eq!((t.op, t.format), (ByteTestOp::Le, NumberFormat::String(10)));
}

#[test]
fn pcre_flags() {
    let cases: &[(&str, &[u8], bool)] = &[
        (r#"pcre:"/abc/i";"#, b"xABC", true),
        (r#"pcre:"/abc/";"#, b"xABC", false),
        (r#"pcre:"/a.c/s";"#, b"a\nc", true),
        (r#"pcre:"/^b$/m";"#, b"a\nb\nc", true),
        (r#"pcre:"/a b # comment/x";"#, b"ab", true),
        (r#"pcre:"/abc/A";"#, b"xabc", false),
        (r#"pcre:"/abc/A";"#, b"abcx", true),
        (r#"pcre:"/a b/Ax";"#, b"ab", true),
        (r#"pcre:"/a.+c/G";"#, b"abcbc", true),
        (r#"pcre:!"/abc/";"#, b"abc", true),
    ];
    for (o, subject, want) in cases {
        let r = rule(&opts(o));
        let PayloadMatch::Pcre(p) = &r.payload[0] else {
            panic!()
        };
        assert_eq!(p.regex.is_match(subject).unwrap(), *want, "{o}");
    }
    let r = rule(&opts(r#"pcre:"/a.+c/G";"#));
    let PayloadMatch::Pcre(p) = &r.payload[0] else {
        panic!()
    };
    assert_eq!(p.regex.find(b"abcbc").unwrap().unwrap().as_bytes(), b"abc");
    // Suricata takes the negation inside the quotes as well as before them.
    for o in [r#"pcre:"!/abc/i";"#, r#"pcre:!"/abc/i";"#] {
        let r = rule(&opts(o));
        let PayloadMatch::Pcre(p) = &r.payload[0] else {
            panic!()
        };
        assert!(p.negated, "{o}");
        assert!(p.regex.is_match(b"ABC").unwrap(), "{o}");
    }
}

/// `ttl`, `itype`, `icode` and `flags` may repeat, as Suricata 7 loads them; each
/// occurrence is kept, in order, and every one must match (golden sids 6013-6016,
/// 10010-10012). `dsize` may not (Suricata refuses two).
#[test]
fn repeated_header_keywords_are_all_kept() {
    let r = rule(&opts(
        "ttl:>1; ttl:<255; itype:8; itype:>5; icode:0; icode:<3; flags:+S; flags:!A;",
    ));
    assert_eq!(r.ttl, vec![NumMatch::Gt(1), NumMatch::Lt(255)]);
    assert_eq!(r.itype, vec![NumMatch::Eq(8), NumMatch::Gt(5)]);
    assert_eq!(r.icode, vec![NumMatch::Eq(0), NumMatch::Lt(3)]);
    assert_eq!(
        r.flags
            .iter()
            .map(|f| (f.flags, f.modifier))
            .collect::<Vec<_>>(),
        vec![(0x02, FlagsModifier::All), (0x10, FlagsModifier::Not)]
    );
    let e = parse(&opts("dsize:3; dsize:4;"))
        .expect_err("two dsize")
        .to_string();
    assert!(e.contains("duplicated 'dsize' keyword"), "{e}");
}

#[test]
fn header_keywords() {
    let r = rule(&opts(
        "dsize:>100; ttl:<=64; itype:8; icode:!0; flags:SA+,12; flow:established,to_server;",
    ));
    assert_eq!(r.dsize, Some(NumMatch::Gt(100)));
    assert_eq!(r.ttl, vec![NumMatch::Le(64)]);
    assert_eq!(r.itype, vec![NumMatch::Eq(8)]);
    assert_eq!(r.icode, vec![NumMatch::Ne(0)]);
    assert_eq!(
        r.flags,
        vec![FlagsMatch {
            flags: 0x12,
            ignore: 0xc0,
            modifier: FlagsModifier::All
        }]
    );
    assert_eq!(
        r.flow,
        FlowMatch {
            to_server: Some(true),
            established: Some(true),
            ..FlowMatch::default()
        }
    );
    let nums = [
        ("5", NumMatch::Eq(5)),
        ("<5", NumMatch::Lt(5)),
        (">=5", NumMatch::Ge(5)),
        ("!5", NumMatch::Ne(5)),
        ("!=5", NumMatch::Ne(5)),
        ("5<>10", NumMatch::Between(5, 10)),
        ("5-10", NumMatch::Between(5, 10)),
    ];
    for (t, want) in nums {
        assert_eq!(rule(&opts(&format!("dsize:{t};"))).dsize, Some(want), "{t}");
    }
    let flags = [
        ("S", 0x02, 0, FlagsModifier::Exact),
        ("0", 0, 0, FlagsModifier::Exact),
        ("!R", 0x04, 0, FlagsModifier::Not),
        ("*FU", 0x21, 0, FlagsModifier::Any),
        ("CE", 0xc0, 0, FlagsModifier::Exact),
        ("P,CE", 0x08, 0xc0, FlagsModifier::Exact),
    ];
    for (t, f, i, m) in flags {
        assert_eq!(
            rule(&opts(&format!("flags:{t};"))).flags,
            vec![FlagsMatch {
                flags: f,
                ignore: i,
                modifier: m
            }],
            "{t}"
        );
    }
    let flows = [
        (
            "to_client",
            FlowMatch {
                to_server: Some(false),
                ..FlowMatch::default()
            },
        ),
        (
            "from_client,not_established",
            FlowMatch {
                to_server: Some(true),
                established: Some(false),
                ..FlowMatch::default()
            },
        ),
        (
            "established,to_server,only_stream",
            FlowMatch {
                to_server: Some(true),
                established: Some(true),
                stream: Some(true),
                ..FlowMatch::default()
            },
        ),
        (
            "no_stream",
            FlowMatch {
                stream: Some(false),
                ..FlowMatch::default()
            },
        ),
        (
            "stateless",
            FlowMatch {
                stateless: true,
                ..FlowMatch::default()
            },
        ),
    ];
    for (t, want) in flows {
        assert_eq!(rule(&opts(&format!("flow:{t};"))).flow, want, "{t}");
    }
    let protos = [
        ("6", NumMatch::Eq(6)),
        ("!tcp", NumMatch::Ne(6)),
        ("<10", NumMatch::Lt(10)),
        (">gre", NumMatch::Gt(47)),
    ];
    for (t, want) in protos {
        let r = rule(&format!(
            "alert ip any any -> any any (ip_proto:{t}; sid:1;)"
        ));
        assert_eq!(r.ip_proto, Some(IpProtoMatch(want)), "{t}");
    }
}

#[test]
fn unsupported_keywords_are_listed_in_order() {
    let cases: &[(&str, &[&str])] = &[
        ("alert http any any -> any any (flowbits:set,x; http.response_body; content:\"a\"; flowbits:noalert; threshold:type limit,track by_src,count 1,seconds 60; sid:1;)",
            &["file.data:request"]),
        ("alert http any any -> any any (flow:to_server; file_data; content:\"a\"; sid:1;)", &["file.data:request"]),
        ("alert tcp any any -> any any (flow:to_client; file_data; content:\"a\"; sid:1;)", &["file.data:tcp"]),
        ("alert http any any -> any any (file.data; content:\"a\"; http.uri; content:\"b\"; sid:1;)", &["file.data+http.uri", "file.data:request"]),
        ("alert http any any -> any any (flow:established,to_server,only_stream; http.request_body; content:\"a\"; sid:1;)",
            &["http+flow:only_stream"]),
        ("alert tcp any any -> any any (flow:established,only_frag; sid:1;)", &["flow:only_frag"]),
        ("alert tcp any any -> any any (content:\"a\"; pcre:\"/a/Q\"; sid:1;)", &["pcre:Q"]),
        ("alert tcp any any -> any any (content:\"a\"; pcre:\"/a/U\"; sid:1;)", &["http.uri+packet-payload"]),
        ("alert tcp any any -> any any (byte_extract:2,0,len; content:\"a\"; depth:len; byte_test:1,>,len,0; sid:1;)", &["byte_extract"]),
        ("alert tcp any any -> any any (content:\"a\"; http_uri; sid:1;)", &["http_uri"]),
        ("alert tcp ![1.0.0.0/8,!1.1.1.1] any -> any any (sid:1;)", &["address:nested-negation"]),
        ("alert tcp any any -> any any (file.data; content:\"b\"; pkt_data; content:\"a\"; sid:1;)", &["file.data:tcp", "pkt_data", "file.data+packet-payload", "file.data:request"]),
    ];
    for (text, want) in cases {
        match parse(text) {
            Ok(Parsed::Unsupported { keywords, sid, .. }) => {
                assert_eq!(sid, 1);
                assert_eq!(
                    keywords,
                    want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "{text}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn error_messages() {
    let cases: &[(&str, &str)] = &[
        ("alert tcp any any -> any any (msg:\"x\";)", "t.rules:7:1: sid: rule has no sid"),
        ("alert tcp any any -> any any (sid:0;)", "t.rules:7:35: sid: sid value 0 is invalid"),
        ("alert tcp any any -> any any (sid:1; sid:2;)", "t.rules:7:38: sid: duplicated 'sid' keyword"),
        ("alert tcp any any -> any any (foobar; sid:1;)", "t.rules:7:31: foobar: unknown rule keyword 'foobar'"),
        ("alert tcp any any -> any any (nocase; sid:1;)", "t.rules:7:31: nocase: 'nocase' needs a preceding content"),
        ("alert tcp any any -> any any (content:\"abc\"; nocase; nocase; sid:1;)", "t.rules:7:54: nocase: can't use multiple nocase modifiers with the same content"),
        ("alert tcp any any -> any any (content:\"abcdef\"; depth:3; sid:1;)", "t.rules:7:55: depth: depth:3 smaller than content of len 6"),
        ("alert tcp any any -> any any (content:\"a\"; content:\"abcdef\"; within:3; sid:1;)", "t.rules:7:69: within: within argument 3 is less than the content length 6, so it can never match"),
        ("alert tcp any any -> any any (content:\"a\"; content:\"abc\"; offset:3; distance:1; sid:1;)", "t.rules:7:69: distance: can't use a relative keyword like within/distance with an absolute keyword like depth/offset for the same content"),
        ("alert tcp any any -> any any (content:\"abc\"; depth:5; depth:6; sid:1;)", "t.rules:7:55: depth: can't use multiple depths for the same content"),
        ("alert tcp any any -> any any (content:!\"abc\"; fast_pattern:only; sid:1;)", "t.rules:7:47: fast_pattern: fast_pattern:only can't be used with negated content or with distance, within, offset or depth"),
        ("alert tcp any any -> any any (content:\"a\"; fast_pattern; content:\"b\"; fast_pattern; sid:1;)", "t.rules:7:71: fast_pattern: fast_pattern can be used on only one content in a rule"),
        ("alert tcp any any -> any any (content:\"abcdef\"; fast_pattern:2,10; sid:1;)", "t.rules:7:62: fast_pattern: fast pattern (offset 2 + length 10) exceeds pattern length 6"),
        ("alert tcp any any -> any any (content:\"abc\"; startswith; depth:5; sid:1;)", "t.rules:7:58: depth: can't be combined with startswith"),
        ("alert tcp any any -> any any (content:\"a\\x\"; sid:1;)", "t.rules:7:39: content: '\\' has to be escaped as '\\\\'"),
        ("alert tcp any any -> any any (content:\"|4|\"; sid:1;)", "t.rules:7:39: content: incomplete hex byte before '|'"),
        ("alert tcp any any -> any any (content:\"|4G|\"; sid:1;)", "t.rules:7:39: content: invalid hex character 'G'"),
        ("alert tcp any any -> any any (content:\"|41\"; sid:1;)", "t.rules:7:39: content: unterminated '|' hex block"),
        ("alert tcp any any -> any any (content:\"\"; sid:1;)", "t.rules:7:39: content: empty content"),
        ("alert tcp any any -> any any (content:\"abc\"; offset:70000; sid:1;)", "t.rules:7:53: offset: invalid value for offset: 70000"),
        ("alert tcp any any -> any any (pcre:\"/(abc/\"; sid:1;)", "t.rules:7:36: pcre: pcre2 compile of \"/(abc/\" failed: PCRE2: error compiling pattern at offset 4: missing closing parenthesis"),
        ("alert tcp any any -> any any (pcre:\"/abc/R\"; sid:1;)", "t.rules:7:31: pcre: pcre with /R (relative) needs a preceding match in the same buffer"),
        ("alert tcp any any -> any any (pcre:\"/abc/J\"; sid:1;)", "t.rules:7:36: pcre: unknown regex modifier 'J'"),
        ("alert tcp any any -> any any (byte_test:9,=,1,0; sid:1;)", "t.rules:7:41: byte_test: cannot test 9 bytes without \"string\" (0..=8)"),
        ("alert tcp any any -> any any (byte_test:1,=,foo,0; sid:1;)", "t.rules:7:41: byte_test: 'foo' is neither a number nor a byte_extract variable"),
        ("alert tcp any any -> any any (byte_jump:4,0,from_beginning,from_end; sid:1;)", "t.rules:7:41: byte_jump: from_beginning and from_end can't be combined"),
        ("alert tcp any any -> any any (dsize:70000; sid:1;)", "t.rules:7:37: dsize: 70000 is larger than 65535"),
        ("alert tcp any any -> any any (dsize:10<>5; sid:1;)", "t.rules:7:37: dsize: range '10<>5' is empty: the first number must be smaller"),
        ("alert tcp any any -> any any (ttl:300; sid:1;)", "t.rules:7:35: ttl: 300 is larger than 255"),
        ("alert tcp any any -> any any (flow:only_stream; dsize:>0; content:\"a\"; sid:1;)", "t.rules:7:31: flow: can't mix packet keywords or tcp-pkt with tcp-stream or flow:only_stream (Suricata 7 refuses the rule)"),
        ("alert tcp-stream any any -> any any (flow:no_stream; content:\"a\"; sid:1;)", "t.rules:7:38: flow: can't mix packet keywords or tcp-pkt with tcp-stream or flow:only_stream (Suricata 7 refuses the rule)"),
        ("alert tcp any any -> any any (content:\"a;b\"; sid:1;)", "t.rules:7:41: content: unescaped ';' inside a quoted value: write it as '\\;'"),
        ("alert tcp any any -> any any (flags:s; sid:1;)", "t.rules:7:37: flags: unknown TCP flag 's' (flags are upper case)"),
        ("alert tcp any any -> any any (rev:0; sid:1;)", "t.rules:7:35: rev: rev 0 is not in 1..=4294967294"),
        ("alert tcp any any -> any any (pcre:!\"!/a/\"; sid:1;)", "t.rules:7:36: pcre: negated twice ('!' before and inside the quotes)"),
        // Suricata 7 refuses packet keywords in tcp-stream rules, and a dsize bound the
        // contents cannot fit in (by its own arithmetic: SigParseMaxRequiredDsize).
        ("alert tcp-stream any any -> any any (content:\"a\"; flags:S; sid:1;)", "t.rules:7:51: flags: 'flags' looks at single packets and cannot be used in a tcp-stream rule"),
        ("alert tcp-stream any any -> any any (dsize:>5; sid:1;)", "t.rules:7:38: dsize: 'dsize' looks at single packets and cannot be used in a tcp-stream rule"),
        ("alert tcp any any -> any any (dsize:0; content:\"-DATA\"; sid:1;)", "t.rules:7:31: dsize: the contents need 5 bytes, more than dsize's bound of 0 (Suricata 7 refuses the rule)"),
        ("alert tcp any any -> any any (dsize:<10; content:\"abc\"; offset:8; sid:1;)", "t.rules:7:31: dsize: the contents need 11 bytes, more than dsize's bound of 10 (Suricata 7 refuses the rule)"),
        ("alert tcp any any -> any any (content:\"abc\"; content:!\"de\"; distance:2; within:6; dsize:8; sid:1;)", "t.rules:7:83: dsize: the contents need 11 bytes, more than dsize's bound of 8 (Suricata 7 refuses the rule)"),
        ("alert tcp any any -> any any (dsize:!5; content:\"abcdef\"; sid:1;)", "t.rules:7:31: dsize: the contents need 6 bytes, more than dsize's bound of 5 (Suricata 7 refuses the rule)"),
        ("alert tcp any any -> any any (dsize:6; content:\"abc\"; content:\"def\"; distance:1; sid:1;)", "t.rules:7:31: dsize: the contents need 7 bytes, more than dsize's bound of 6 (Suricata 7 refuses the rule)"),
        ("alert udp any any -> any any (dsize:2; content:\"abc\"; sid:1;)", "t.rules:7:31: dsize: the contents need 3 bytes, more than dsize's bound of 2 (Suricata 7 refuses the rule)"),
        // Suricata 7 rejects comparisons that always or never hold, and empty ranges.
        ("alert tcp any any -> any any (dsize:>=0; sid:1;)", "t.rules:7:37: dsize: '>=0' always matches: leave the keyword out"),
        ("alert tcp any any -> any any (dsize:<=65535; sid:1;)", "t.rules:7:37: dsize: '<=65535' always matches: leave the keyword out"),
        ("alert tcp any any -> any any (ttl:<0; sid:1;)", "t.rules:7:35: ttl: '<0' never matches"),
        ("alert tcp any any -> any any (icode:>255; sid:1;)", "t.rules:7:37: icode: '>255' never matches"),
        ("alert tcp any any -> any any (itype:4<>5; sid:1;)", "t.rules:7:37: itype: range '4<>5' is empty: no number lies strictly between 4 and 5"),
        ("alert tcp any any -> any any (dsize:0x10; sid:1;)", "t.rules:7:37: dsize: bad number in '0x10' (decimal digits expected)"),
        ("alert tcp any any -> any any (flags:X; sid:1;)", "t.rules:7:37: flags: unknown TCP flag 'X'"),
        ("alert tcp any any -> any any (flow:to_server,to_client; sid:1;)", "t.rules:7:36: flow: 'to_client' conflicts with an earlier flow option"),
        ("alert tcp any any -> any any (ip_proto:6; sid:1;)", "t.rules:7:31: ip_proto: ip_proto can only be used in 'ip' rules"),
        ("alert tcp any any -> any any (target:both; sid:1;)", "t.rules:7:38: target: expected src_ip or dest_ip, not 'both'"),
        ("alert tcp any any -> any any (content:\"a\"; byte_extract:9,0,v; sid:1;)", "t.rules:7:57: byte_extract: cannot extract 9 bytes without \"string\" (0..=8)"),
        ("alert tcp any any -> any any (content:\"a\"; byte_extract:21,0,v,string; sid:1;)", "t.rules:7:57: byte_extract: cannot extract 21 bytes with \"string\" (0..=20)"),
        ("alert tcp any any -> any any (content:\"a\"; byte_extract:4,0,v,hex,string; sid:1;)", "t.rules:7:57: byte_extract: base 'hex' before or without 'string'"),
        ("alert tcp any any -> any any (content:\"a\"; byte_extract:x,0,v; sid:1;)", "t.rules:7:57: byte_extract: bad byte count 'x'"),
        ("alert tcp any any -> any any (priority:256; sid:1;)", "t.rules:7:40: priority: priority '256' is not in 0..=255"),
        ("alert tcp any any -> any any (msg:\"x\"; msg:\"y\"; sid:1;)", "t.rules:7:40: msg: duplicated 'msg' keyword"),
        ("alert tcp any any -> any any (noalert:1; sid:1;)", "t.rules:7:31: noalert: takes no value"),
        ("alert tcp !any any -> any any (sid:1;)", "t.rules:7:11: address: '!any' negates the complete space"),
        ("alert tcp $FOO any -> any any (sid:1;)", "t.rules:7:11: address: undefined address variable $FOO"),
        ("alert tcp any 90:80 -> any any (sid:1;)", "t.rules:7:15: port: port range '90:80' is reversed"),
        ("alert tcp any any <- any any (sid:1;)", "t.rules:7:19: direction: '<-' is not a direction: use '->' or '<>'"),
        ("alarm tcp any any -> any any (sid:1;)", "t.rules:7:1: action: unknown action 'alarm'"),
        ("alert TCP any any -> any any (sid:1;)", "t.rules:7:7: protocol: unknown protocol 'TCP'"),
        ("alert tcp any any -> any (sid:1;)", "t.rules:7:22: header: expected 'action proto src sport direction dst dport', found 6 word(s)"),
        ("alert tcp any any -> any any sid:1;", "t.rules:7:1: missing '(' before the rule options"),
        ("alert tcp any any -> any any (sid:1;", "t.rules:7:37: missing ')' at the end of the rule"),
        ("alert tcp any any -> any any (msg:\"x\"; sid:1)", "t.rules:7:40: sid: missing ';' after the option"),
        ("alert tcp any any -> any any (msg:\"x; sid:1;)", "t.rules:7:31: msg: unterminated quoted value"),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let e = parse(text).expect_err(text);
        if e.to_string() != *want {
            bad.push(format!("{text}\n  got:  {e}\n  want: {want}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn error_column_counts_characters() {
    let e = parse("alert tcp any any -> any any (msg:\"é\"; bogus; sid:1;)").unwrap_err();
    assert_eq!(e.col, 40);
}

#[test]
fn classifications_parse() {
    let c = Classifications::parse(
        "# comment\n\nconfig classification: foo,Foo Things, 2\nconfig classification: Bar,Bar,4\n",
        "c.config",
    )
    .unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(
        c.get("foo").unwrap(),
        &Classification {
            description: "Foo Things".into(),
            priority: 2
        }
    );
    assert_eq!(c.get("bar").unwrap().priority, 4);
    let e = Classifications::parse("config classification: foo,Foo\n", "c.config").unwrap_err();
    assert_eq!(
        e.to_string(),
        "c.config:1:1: classification: expected three comma-separated fields"
    );
    let stock = Classifications::default();
    assert_eq!(stock.len(), 43);
    assert_eq!(stock.get("trojan-activity").unwrap().priority, 1);
    assert_eq!(stock.get("tcp-connection").unwrap().priority, 4);
}

#[test]
fn loader_lines_comments_duplicates() {
    let text = "# a comment\n\
        \n\
        alert tcp any any -> any any (msg:\"one\"; \\\n  content:\"a\"; sid:1;)\n\
        alert smb any any -> any any (msg:\"two\"; sid:2;)\r\n\
        # alert tcp any any -> any any (sid:3;)\n\
        alert tcp any any -> any any (msg:\"dup\"; sid:1;)\n\
        alert tcp any any -> any any (msg:\"gid\"; gid:2; sid:1;)\n\
        alert tcp any any -> any any (msg:\"broken\"; sid:4\n";
    let l = load_str(
        text,
        "f.rules",
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .unwrap();
    assert_eq!(l.files, 1);
    assert_eq!(l.rules.len(), 2);
    assert_eq!(l.rules[0].location.line, 3);
    assert_eq!(l.rules[0].msg, "one");
    assert_eq!(l.rules[1].gid, 2);
    assert_eq!(
        l.skipped,
        vec![Skipped {
            location: Location {
                file: Arc::from("f.rules"),
                line: 5
            },
            sid: 2,
            keywords: vec!["app-layer:smb".into()],
        }]
    );
    assert_eq!(l.skipped_by_keyword.get("app-layer:smb"), Some(&1));
    let errs: Vec<String> = l.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        vec![
            "f.rules:7:42: sid: duplicate signature 1:1, first defined at f.rules:3".to_owned(),
            "f.rules:9:50: missing ')' at the end of the rule".to_owned(),
        ]
    );
    let strict = load_str(
        text,
        "f.rules",
        &Vars::default(),
        &Classifications::default(),
        true,
    )
    .unwrap_err();
    let LoadError::Strict {
        errors,
        skipped,
        first,
    } = strict
    else {
        panic!()
    };
    assert_eq!((errors, skipped, first.len()), (2, 1, 3));
}

/// Classtypes as Suricata 7.0.10 took them (its EVE `alert.category` and `severity` for
/// each rule, run in this order on one pcap): a classtype missing from
/// `classification.config` loads with priority 3, without a category where a rule names it
/// first and as "Unknown Classtype" after; of two classtypes the one of higher priority
/// wins, its category only when it has one; `priority` wins over both. Strict loading
/// refuses both forms, with the error Suricata's strict mode gives.
#[test]
fn classtypes_as_suricata_takes_them() {
    let rows: &[(&str, u32, &str, u8)] = &[
        ("classtype:nope-nope;", 2, "", 3),
        ("classtype:nope-nope;", 5, "Unknown Classtype", 3),
        ("priority:2; classtype:zzz;", 6, "", 2),
        ("classtype:zzz;", 7, "Unknown Classtype", 3),
        (
            "classtype:misc-activity; classtype:trojan-activity;",
            8,
            "A Network Trojan was detected",
            1,
        ),
        (
            "classtype:trojan-activity; classtype:misc-activity;",
            9,
            "A Network Trojan was detected",
            1,
        ),
        (
            "priority:4; classtype:misc-activity; classtype:trojan-activity;",
            10,
            "A Network Trojan was detected",
            4,
        ),
        (
            "classtype:misc-activity; classtype:qqq;",
            11,
            "Misc activity",
            3,
        ),
        (
            "classtype:tcp-connection; classtype:unknown1;",
            12,
            "A TCP connection was detected",
            3,
        ),
        (
            "classtype:tcp-connection; classtype:nope-nope;",
            13,
            "Unknown Classtype",
            3,
        ),
        ("classtype:unknown2; classtype:misc-activity;", 14, "", 3),
        (
            "classtype:unknown3; classtype:trojan-activity;",
            15,
            "A Network Trojan was detected",
            1,
        ),
        ("classtype:unknown4; classtype:tcp-connection;", 16, "", 3),
        (
            "classtype:tcp-connection; priority:2; classtype:misc-activity;",
            17,
            "Misc activity",
            2,
        ),
        (
            "classtype:misc-activity; classtype:tcp-connection;",
            18,
            "Misc activity",
            3,
        ),
    ];
    let text: String = rows
        .iter()
        .map(|(o, sid, _, _)| format!("alert ip any any -> any any ({o} sid:{sid};)\n"))
        .collect();
    let classes = Classifications::default();
    let l = load_str(&text, "c.rules", &Vars::default(), &classes, false).expect("loads");
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    let got: Vec<(u32, &str, u8)> = l
        .rules
        .iter()
        .map(|r| (r.sid, r.category.as_str(), r.priority))
        .collect();
    let want: Vec<(u32, &str, u8)> = rows.iter().map(|&(_, sid, c, p)| (sid, c, p)).collect();
    assert_eq!(got, want);
    let counted: Vec<(&str, usize)> = l
        .unknown_classtypes
        .iter()
        .map(|(k, &n)| (k.as_str(), n))
        .collect();
    assert_eq!(
        counted,
        [
            ("nope-nope", 3),
            ("qqq", 1),
            ("unknown1", 1),
            ("unknown2", 1),
            ("unknown3", 1),
            ("unknown4", 1),
            ("zzz", 2)
        ]
    );
    // The routing key keeps the classtype the rule names (the first, or a replacement
    // with a category).
    let classtype = |sid| {
        l.rules
            .iter()
            .find(|r| r.sid == sid)
            .and_then(|r| r.classtype.clone())
    };
    assert_eq!(classtype(2).as_deref(), Some("nope-nope"));
    assert_eq!(classtype(12).as_deref(), Some("tcp-connection"));
    assert_eq!(classtype(13).as_deref(), Some("nope-nope"));

    for (text, want) in [
        (
            "alert tcp any any -> any any (classtype:nope; sid:1;)",
            "s.rules:1:41: classtype: unknown classtype 'nope'",
        ),
        (
            "alert tcp any any -> any any (classtype:misc-activity; classtype:misc-attack; sid:1;)",
            "s.rules:1:56: classtype: duplicated 'classtype' keyword",
        ),
        (
            "alert tcp any any -> any any (priority:3; priority:1; sid:1;)",
            "s.rules:1:43: priority: duplicated 'priority' keyword",
        ),
    ] {
        let e = load_str(text, "s.rules", &Vars::default(), &classes, true).unwrap_err();
        let LoadError::Strict { errors, first, .. } = e else {
            panic!("{text}: {e}")
        };
        assert_eq!((errors, first), (1, vec![want.to_owned()]), "{text}");
    }
}

#[test]
fn load_files_reports_io_errors() {
    let e = load_files(
        &["/nonexistent/x.rules".into()],
        &Vars::default(),
        &Classifications::default(),
        false,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read rule file /nonexistent/x.rules:"),
        "{e}"
    );
}

#[test]
fn hostile_input_does_not_panic() {
    let deep = format!(
        "alert tcp {}1.2.3.4{} any -> any any (sid:1;)",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert!(parse(&deep).is_err());
    for text in [
        "",
        "(",
        ")",
        "alert",
        "a b c d e f g (",
        "alert tcp any any -> any any (:;)",
        "alert tcp any any -> any any (content:\"\\",
        "alert tcp any any -> any any (byte_test:1,=,99999999999999999999,0; sid:1;)",
    ] {
        let _ = parse(text);
    }
}

#[test]
fn flowbits_parse_into_commands_groups_and_noalert() {
    let r = rule(&opts(
        "flowbits:set,a; flowbits:isset,b|c; flowbits:isnotset,d; flowbits:toggle,e; \
         flowbits:unset,f; flowbits:isset,g&h; flowbits:noalert;",
    ));
    let got: Vec<(FlowbitCmd, Vec<&str>)> = r
        .flowbits
        .iter()
        .map(|f| (f.cmd, f.names.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        got,
        [
            (FlowbitCmd::Set, vec!["a"]),
            (FlowbitCmd::IsSet, vec!["b", "c"]),
            (FlowbitCmd::IsNotSet, vec!["d"]),
            (FlowbitCmd::Toggle, vec!["e"]),
            (FlowbitCmd::Unset, vec!["f"]),
            // As in Suricata 7, `&` is part of the name.
            (FlowbitCmd::IsSet, vec!["g&h"]),
        ]
    );
    assert!(r.noalert);
    // Suricata accepts a `|` group on set, but sets no named bit: skipped, not enforced.
    match parse(&opts("flowbits:set,a|b;")).unwrap() {
        Parsed::Unsupported { keywords, .. } => {
            assert_eq!(keywords, ["flowbits:group-action"])
        }
        p => panic!("{p:?}"),
    }
    for bad in ["flowbits:frob,a;", "flowbits:set;", "flowbits:noalert,a;"] {
        let e = parse(&opts(bad)).unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("flowbits"), "{bad}: {e}");
    }
}

#[test]
fn threshold_and_detection_filter_parse() {
    let r = rule(&opts(
        "threshold: type both, track by_dst, count 5, seconds 30;",
    ));
    assert_eq!(
        r.filters.threshold,
        Some(ThresholdSpec {
            kind: ThresholdKind::Both,
            track: Track::ByDst,
            count: 5,
            seconds: 30
        })
    );
    let r = rule(&opts("detection_filter:track by_dst, count 1, seconds 1;"));
    assert_eq!(
        r.filters.threshold.map(|t| (t.kind, t.track, t.count)),
        Some((ThresholdKind::Detection, Track::ByDst, 1))
    );
    // Suricata's pattern takes a trailing ", ".
    let r = rule(&opts(
        "threshold:type limit, track by_src, count 1, seconds 60, ;",
    ));
    assert_eq!(r.filters.threshold.map(|t| t.seconds), Some(60));
    for bad in [
        "threshold:type limit, track by_src, count 1;",
        "threshold:type sometimes, track by_src, count 1, seconds 1;",
        "threshold:type limit, track by_src, count x, seconds 1;",
        "threshold:type limit, track by_src, count 1, seconds 1; detection_filter:track by_src, count 1, seconds 1;",
        // Refused by Suricata 7 too (suricata -T).
        "threshold:type limit, track by_src, count 1, seconds 60, count 2;",
        "detection_filter:track by_rule, count 5, seconds 60;",
        "detection_filter:track by_flow, count 5, seconds 60;",
        "threshold:type limit, track by_flow, count 1, seconds 1;",
        "detection_filter:track by_dst, count 0, seconds 60;",
        "detection_filter:track by_src, count 1, seconds 0;",
        "content:\"a\"; rawbytes; rawbytes;",
    ] {
        assert!(parse(&opts(bad)).is_err(), "{bad}");
    }
}

#[test]
fn selection_disables_and_enables_by_sid_and_file() {
    let text = "alert tcp any any -> any any (content:\"a\"; sid:1;)\n\
                # alert tcp any any -> any any (content:\"b\"; sid:2;)\n\
                # alert tcp any any -> any any (content:\"c\"; sid:3;)\n\
                # just a comment\n\
                alert tcp any any -> any any (content:\"d\"; sid:4;)\n";
    let dir = std::env::temp_dir().join(format!("tw-sel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.rules");
    let b = dir.join("b.rules");
    std::fs::write(&a, text).unwrap();
    std::fs::write(&b, "alert udp any any -> any any (content:\"e\"; sid:5;)\n").unwrap();
    let load = |sel: &Selection| {
        let l = load_files_selected(
            &[a.clone(), b.clone()],
            &Vars::default(),
            &Classifications::default(),
            false,
            sel,
        )
        .unwrap();
        let mut sids: Vec<u32> = l.rules.iter().map(|r| r.sid).collect();
        sids.sort();
        (sids, l.disabled, l.disabled_files, l.enabled)
    };
    assert_eq!(load(&Selection::default()), (vec![1, 4, 5], 0, 0, 0));
    let sel = Selection {
        enable_sids: [3].into(),
        disable_sids: [4].into(),
        disable_files: vec!["b.rules".into()],
        ..Selection::default()
    };
    assert_eq!(load(&sel), (vec![1, 3], 1, 1, 1));
    let sel = Selection {
        enable_files: vec![a.display().to_string()],
        ..Selection::default()
    };
    assert_eq!(load(&sel), (vec![1, 2, 3, 4, 5], 0, 0, 2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Numeric forms of `dsize`, `ttl`, `itype` and `icode`: which Suricata 7.0.10 accepts
/// and which it rejects (`suricata -T`, one rule per form), so a rule loads here exactly
/// when it loads there.
#[test]
fn number_forms_load_as_in_suricata() {
    let table: &[(&str, &[&str], &[&str])] = &[
        (">=0", &[], &["dsize", "icode", "itype", "ttl"]),
        ("<0", &[], &["dsize", "icode", "itype", "ttl"]),
        (">0", &["dsize", "icode", "itype", "ttl"], &[]),
        ("<=0", &["dsize", "icode", "itype", "ttl"], &[]),
        (">65535", &[], &["dsize"]),
        ("<=65535", &[], &["dsize"]),
        (">=65535", &["dsize"], &[]),
        ("<65535", &["dsize"], &[]),
        ("5<>5", &[], &["dsize", "icode", "itype", "ttl"]),
        ("4<>5", &[], &["dsize", "icode", "itype", "ttl"]),
        ("4<>6", &["dsize", "icode", "itype", "ttl"], &[]),
        ("5-6", &[], &["dsize", "icode", "itype", "ttl"]),
        ("4-6", &["dsize", "icode", "itype", "ttl"], &[]),
        ("!=0", &["dsize", "icode", "itype", "ttl"], &[]),
        ("!65535", &["dsize"], &[]),
        ("0", &["dsize", "icode", "itype", "ttl"], &[]),
        ("65535", &["dsize"], &[]),
        ("=3", &["dsize", "icode", "itype", "ttl"], &[]),
        ("0<>1", &[], &["dsize", "icode", "itype", "ttl"]),
        ("0<>65535", &["dsize"], &[]),
        ("65534<>65535", &[], &["dsize"]),
        ("> 3", &["dsize", "icode", "itype", "ttl"], &[]),
        (" > 3", &["dsize", "icode", "itype", "ttl"], &[]),
        ("3 <> 6", &["dsize", "icode", "itype", "ttl"], &[]),
        ("0x10", &[], &["dsize", "icode", "itype", "ttl"]),
        ("<>5", &[], &["dsize", "icode", "itype", "ttl"]),
        ("5<>", &[], &["dsize", "icode", "itype", "ttl"]),
        ("!>3", &[], &["dsize", "icode", "itype", "ttl"]),
        ("+3", &[], &["dsize", "icode", "itype", "ttl"]),
        ("-3", &[], &["dsize", "icode", "itype", "ttl"]),
        (">255", &[], &["icode", "itype", "ttl"]),
        ("<=255", &[], &["icode", "itype", "ttl"]),
        (">=255", &["icode", "itype", "ttl"], &[]),
        ("<255", &["icode", "itype", "ttl"], &[]),
        ("!255", &["icode", "itype", "ttl"], &[]),
        ("255", &["icode", "itype", "ttl"], &[]),
        ("0<>255", &["icode", "itype", "ttl"], &[]),
        ("254<>255", &[], &["icode", "itype", "ttl"]),
    ];
    for (form, accepted, rejected) in table {
        for (kws, ok) in [(accepted, true), (rejected, false)] {
            for kw in kws.iter() {
                let proto = match *kw {
                    "dsize" => "udp",
                    "ttl" => "ip",
                    _ => "icmp",
                };
                let text =
                    format!("alert {proto} any any -> any any (msg:\"x\"; {kw}:{form}; sid:1;)");
                assert_eq!(parse(&text).is_ok(), ok, "{text}");
            }
        }
    }
}

/// Forms next to the refused ones above that Suricata 7 loads (checked with `suricata -T`):
/// `>`, `<=` and `>=` bounds are not checked against the contents, nor are contents that
/// are not relative after the first, and `tcp-pkt` takes packet keywords.
#[test]
fn dsize_and_packet_keyword_forms_suricata_loads() {
    for text in [
        "alert tcp any any -> any any (dsize:>3; content:\"abcdef\"; sid:1;)",
        "alert tcp any any -> any any (dsize:6; content:\"abcdef\"; sid:1;)",
        "alert tcp any any -> any any (dsize:<=3; content:\"abcdef\"; sid:1;)",
        "alert tcp any any -> any any (dsize:6; content:\"abc\"; content:\"defgh\"; sid:1;)",
        "alert tcp any any -> any any (dsize:<6; content:\"abc\"; content:\"de\"; distance:0; sid:1;)",
        "alert tcp-pkt any any -> any any (content:\"a\"; flags:S; ttl:3; dsize:>1; sid:1;)",
    ] {
        parse(text).expect(text);
    }
}

#[test]
fn stream_size_forms_as_suricata_loads() {
    // Each checked with `suricata -T`: the accepted forms load there, the refused do not.
    use NumMatch::*;
    let accepted: &[(&str, StreamSide, NumMatch)] = &[
        ("server,<,5", StreamSide::Server, Lt(5)),
        (" server , != , 5 ", StreamSide::Server, Ne(5)),
        ("client,!,5", StreamSide::Client, Ne(5)),
        ("both,<=,10", StreamSide::Both, Le(10)),
        ("either,>=,0", StreamSide::Either, Ge(0)),
        ("server,<,0", StreamSide::Server, Lt(0)),
        (
            "client,>,4294967295",
            StreamSide::Client,
            Gt(u64::from(u32::MAX)),
        ),
        ("client,=,1", StreamSide::Client, Eq(1)),
    ];
    for &(v, side, cmp) in accepted {
        let r = rule(&opts(&format!("stream_size:{v};")));
        assert_eq!(r.stream_size, vec![StreamSizeMatch { side, cmp }], "{v}");
    }
    let refused: &[(&str, &str)] = &[
        ("server,<>,5", "'<>' is not an operator"),
        (
            "=<",
            "expected <server|client|both|either>,<operator>,<number>",
        ),
        ("server,=<,5", "'=<' is not an operator"),
        ("Server,<,5", "'Server' is not a side"),
        ("server,<5", "expected <server|client|both|either>"),
        (
            "server,<,4294967296",
            "4294967296 is larger than 4294967295",
        ),
        ("server,<,-1", "'-1' is not a number"),
    ];
    for &(v, want) in refused {
        let e = parse(&opts(&format!("stream_size:{v};")))
            .expect_err(v)
            .to_string();
        assert!(e.contains("stream_size: ") && e.contains(want), "{v}: {e}");
    }
    // Repeated, each must hold.
    let r = rule(&opts("stream_size:server,<,5; stream_size:client,>,1;"));
    assert_eq!(r.stream_size.len(), 2);
    let m = StreamSizeMatch {
        side: StreamSide::Both,
        cmp: Gt(1),
    };
    assert!(m.matches([2, 3]) && !m.matches([2, 1]));
    let m = StreamSizeMatch {
        side: StreamSide::Either,
        cmp: Gt(1),
    };
    assert!(m.matches([0, 3]) && !m.matches([1, 1]));
}

#[test]
fn repeated_negation_marks_are_one_as_in_suricata() {
    // Suricata's address and port parsers set a flag on each '!' rather than toggle it;
    // checked on the golden pcap (`alert ip !!203.0.113.7 ...` alerts as `!203.0.113.7`).
    let v = Vars::default();
    for (text, same_as) in [
        ("!!1.2.3.4", "!1.2.3.4"),
        ("!!!1.2.3.4", "!1.2.3.4"),
        ("! !1.2.3.4", "!1.2.3.4"),
        ("[!!1.2.3.4,5.6.7.8]", "[!1.2.3.4,5.6.7.8]"),
        ("[!!1.2.3.4]", "[!1.2.3.4]"),
    ] {
        assert_eq!(
            v.parse_addresses(text).unwrap(),
            v.parse_addresses(same_as).unwrap(),
            "{text}"
        );
    }
    for (text, same_as) in [("!!80", "!80"), ("[!!80,81]", "[!80,81]")] {
        assert_eq!(
            v.parse_ports(text).unwrap(),
            v.parse_ports(same_as).unwrap(),
            "{text}"
        );
    }
    // A negation of a negated group is the inner addresses, marked so the rule stays
    // "like IP-only" as in Suricata (`alert ip ![!203.0.113.7] ...` alerts on every
    // packet from 203.0.113.7 there, `!$EXTERNAL_NET` on every packet from $HOME_NET).
    let a = v.parse_addresses("![!1.2.3.4]").unwrap();
    assert_eq!(
        (a.include, a.double_negated),
        (vec![net("1.2.3.4/32")], true)
    );
    let mut ext = Vars::default();
    ext.set_address("HOME_NET", "[10.0.0.0/8]");
    ext.set_address("EXTERNAL_NET", "!$HOME_NET");
    let a = ext.parse_addresses("!$EXTERNAL_NET").unwrap();
    assert_eq!(
        (a.include, a.double_negated),
        (vec![net("10.0.0.0/8")], true)
    );
    assert!(!ext.parse_addresses("$HOME_NET").unwrap().double_negated);
}

#[test]
fn dns_query_rules_as_suricata_loads_them() {
    // Each form was checked with `suricata -T` (7.0.10).
    let r = rule(
        r#"alert dns $HOME_NET any -> any any (dns.query; dotprefix; content:".evil.test"; nocase; endswith; bsize:>5; sid:1;)"#,
    );
    assert_eq!(r.proto, Proto::Dns);
    assert!(
        r.payload.is_empty(),
        "the buffer's keywords leave the packet payload"
    );
    let b = r.app_buffer.expect("a dns.query buffer");
    assert!(b.dotprefix);
    assert_eq!(b.bsize, vec![NumMatch::Gt(5)]);
    assert!(matches!(&b.payload[..], [PayloadMatch::Content(c)] if c.nocase && c.endswith));
    // The legacy name, udp and ip rules, and an alert dns payload rule.
    for text in [
        r#"alert dns any any -> any any (dns_query; content:"x"; sid:1;)"#,
        r#"alert udp any any -> any 53 (dns.query; content:"x"; sid:1;)"#,
        r#"alert ip any any -> any any (dns.query; content:"x"; sid:1;)"#,
        r#"alert dns any any -> any any (dns.query; bsize:2; bsize:3; sid:1;)"#,
    ] {
        assert!(rule(text).app_buffer.is_some(), "{text}");
    }
    let p = rule(r#"alert dns any any -> any any (content:"x"; sid:1;)"#);
    assert!(p.app_buffer.is_none() && p.payload.len() == 1);
    // Without payload keywords: a header rule on the packets of DNS flows.
    let h = rule(r#"alert dns any any -> any any (flow:to_server; sid:1;)"#);
    assert!(h.app_buffer.is_none() && h.payload.is_empty() && h.proto == Proto::Dns);
    // Refused, as Suricata refuses them.
    for (text, msg) in [
        (
            r#"alert dns any any -> any any (dns.query; sid:1;)"#,
            "no keywords to match",
        ),
        (
            r#"alert dns any any -> any any (dns.query; bsize:3; content:"abcd"; sid:1;)"#,
            "more than bsize's bound of 3",
        ),
        (
            r#"alert dns any any -> any any (dns.query; content:"abc"; bsize:<2; sid:1;)"#,
            "bound of 2",
        ),
        (
            r#"alert dns any any -> any any (flow:to_client; dns.query; content:"x"; sid:1;)"#,
            "directions conflict",
        ),
    ] {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(msg), "{text}: {e}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // Valid in Suricata, not enforced here: each names why.
    for (text, kw) in [
        (
            r#"alert tcp any any -> any 53 (dns.query; content:"x"; sid:1;)"#,
            "dns.query:tcp",
        ),
        (
            r#"alert dns any any -> any any (content:"x"; dns.query; content:"y"; sid:1;)"#,
            "dns.query+packet-payload",
        ),
        (
            r#"alert dns any any -> any any (dns.query; content:"x"; dotprefix; sid:1;)"#,
            "dotprefix:after-content",
        ),
        (
            r#"alert dns any any -> any any (bsize:3; content:"x"; sid:1;)"#,
            "bsize",
        ),
    ] {
        match parse(text) {
            Ok(Parsed::Unsupported { keywords, .. }) => {
                assert!(keywords.iter().any(|k| k == kw), "{text}: {keywords:?}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn tls_sni_rules_as_suricata_loads_them() {
    // Each form was checked with `suricata -T` (7.0.10).
    let r = rule(
        r#"alert tls $HOME_NET any -> $EXTERNAL_NET any (flow:established,to_server; tls.sni; dotprefix; content:".evil.test"; nocase; endswith; bsize:>5; sid:1;)"#,
    );
    assert_eq!(r.proto, Proto::Tls);
    assert!(r.payload.is_empty());
    let b = r.app_buffer.expect("a tls.sni buffer");
    assert_eq!(b.kind, Sticky::TlsSni);
    assert!(b.dotprefix);
    assert_eq!(b.bsize, vec![NumMatch::Gt(5)]);
    // The legacy name; tcp, tcp-stream and ip rules; udp and icmp rules, which Suricata
    // takes though they never match (TLS is TCP); several contents.
    for text in [
        r#"alert tls any any -> any any (tls_sni; content:"a"; pcre:"/b/R"; sid:1;)"#,
        r#"alert tcp any any -> any any (tls.sni; content:"x"; sid:1;)"#,
        r#"alert tcp-stream any any -> any any (tls.sni; content:"x"; sid:1;)"#,
        r#"alert ip any any -> any any (tls.sni; content:"x"; sid:1;)"#,
        r#"alert udp any any -> any any (tls.sni; content:"x"; sid:1;)"#,
        r#"alert icmp any any -> any any (tls.sni; content:"x"; sid:1;)"#,
        r#"alert tls any any -> any any (tls.sni; content:"a"; content:"b"; sid:1;)"#,
    ] {
        let r = rule(text);
        assert_eq!(r.app_buffer.map(|b| b.kind), Some(Sticky::TlsSni), "{text}");
    }
    // Without payload keywords: a header rule on the packets of TLS flows.
    let h = rule(r#"alert tls any any -> any any (flow:to_server; sid:1;)"#);
    assert!(h.app_buffer.is_none() && h.proto == Proto::Tls);
    // Refused, as Suricata refuses them.
    for (text, msg) in [
        (
            r#"alert tls any any -> any any (tls.sni; sid:1;)"#,
            "no keywords to match",
        ),
        (
            r#"alert tls any any -> any any (tls.sni; bsize:3; content:"abcd"; sid:1;)"#,
            "more than bsize's bound of 3",
        ),
        (
            r#"alert tls any any -> any any (flow:to_client; tls.sni; content:"a"; sid:1;)"#,
            "directions conflict",
        ),
        (
            r#"alert dns any any -> any any (tls.sni; content:"a"; sid:1;)"#,
            "dns rule cannot inspect tls.sni",
        ),
        (
            r#"alert tls any any -> any any (dns.query; content:"a"; sid:1;)"#,
            "tls rule cannot inspect dns.query",
        ),
        (
            r#"alert tcp any any -> any any (tls.sni; content:"a"; dns.query; content:"b"; sid:1;)"#,
            "different protocols",
        ),
        (
            r#"alert tcp-pkt any any -> any any (tls.sni; content:"a"; sid:1;)"#,
            "tcp-pkt",
        ),
    ] {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(msg), "{text}: {e}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // JA3: the first ja3.hash content must be a whole MD5 in hex; contents are
    // lower-cased as Suricata does.
    let j = rule(
        r#"alert tls any any -> any any (ja3.hash; content:"F304B683DC0E3E41D087A99F999E232B"; content:"AB"; sid:1;)"#,
    );
    let b = j.app_buffer.expect("a ja3.hash buffer");
    assert_eq!(b.kind, Sticky::Ja3Hash);
    let pats: Vec<&[u8]> = b
        .payload
        .iter()
        .filter_map(|m| match m {
            PayloadMatch::Content(c) => Some(&c.pattern[..]),
            _ => None,
        })
        .collect();
    assert_eq!(pats, [&b"f304b683dc0e3e41d087a99f999e232b"[..], b"ab"]);
    for text in [
        r#"alert tls any any -> any any (ja3_hash; pcre:"/^f3/"; sid:1;)"#,
        r#"alert tls any any -> any any (ja3.string; content:"771,"; sid:1;)"#,
        r#"alert tcp any any -> any any (ja3_string; content:"771,"; sid:1;)"#,
    ] {
        assert!(
            rule(text).app_buffer.is_some_and(|b| b.kind.is_tls()),
            "{text}"
        );
    }
    for (text, msg) in [
        (
            r#"alert tls any any -> any any (ja3.hash; content:"abc"; sid:1;)"#,
            "32 characters",
        ),
        (
            r#"alert dns any any -> any any (ja3.hash; content:"f304b683dc0e3e41d087a99f999e232b"; sid:1;)"#,
            "dns rule cannot inspect ja3.hash",
        ),
        (
            r#"alert tls any any -> any any (flow:to_client; ja3.hash; content:"f304b683dc0e3e41d087a99f999e232b"; sid:1;)"#,
            "directions conflict",
        ),
        (
            r#"alert tcp-pkt any any -> any any (ja3.string; content:"771,"; sid:1;)"#,
            "tcp-pkt",
        ),
    ] {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(msg), "{text}: {e}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // Two buffers of the ClientHello in one rule: each must match.
    let two = rule(
        r#"alert tls any any -> any any (ja3.hash; content:"F304B683DC0E3E41D087A99F999E232B"; tls.sni; content:"a"; sid:1;)"#,
    );
    let first = two.app_buffer.expect("a ja3.hash buffer");
    assert_eq!(first.kind, Sticky::Ja3Hash);
    match &first.payload[0] {
        PayloadMatch::Content(c) => assert_eq!(c.pattern, b"f304b683dc0e3e41d087a99f999e232b"),
        other => panic!("{other:?}"),
    }
    let also: Vec<Sticky> = two.app_buffers_also.iter().map(|b| b.kind).collect();
    assert_eq!(also, [Sticky::TlsSni]);
    // The hello's and a certificate's buffers: valid in Suricata, skipped here.
    match parse(
        r#"alert tls any any -> any any (tls.sni; content:"a"; tls.cert_subject; content:"b"; sid:1;)"#,
    ) {
        Ok(Parsed::Unsupported { keywords, .. }) => {
            assert!(
                keywords.iter().any(|k| k == "tls.sni+tls.cert_subject"),
                "{keywords:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Valid in Suricata, not enforced here.
    match parse(r#"alert tls any any -> any any (content:"a"; tls.sni; content:"b"; sid:1;)"#) {
        Ok(Parsed::Unsupported { keywords, .. }) => {
            assert!(
                keywords.iter().any(|k| k == "tls.sni+packet-payload"),
                "{keywords:?}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_certificate_rules_as_suricata_loads_them() {
    // Each form was checked with `suricata -T` (7.0.10).
    for (text, kind) in [
        (
            r#"alert tls $EXTERNAL_NET any -> $HOME_NET any (flow:established,to_client; tls.cert_subject; content:"CN=*.evil.test"; nocase; endswith; sid:1;)"#,
            Sticky::TlsCertSubject,
        ),
        (
            r#"alert tls any any -> any any (flow:to_client; tls_cert_issuer; content:"O=Evil"; sid:1;)"#,
            Sticky::TlsCertIssuer,
        ),
        (
            r#"alert tcp any any -> any any (flow:from_server; tls.cert_serial; content:"00:A1"; sid:1;)"#,
            Sticky::TlsCertSerial,
        ),
        (
            r#"alert tls any any -> any any (flow:to_client; tls.certs; content:"|06 03 55 04 03|"; pcre:"/^\d/R"; sid:1;)"#,
            Sticky::TlsCerts,
        ),
        (
            r#"alert tls any any -> any any (flow:to_client; tls.cert_issuer; bsize:>3; sid:1;)"#,
            Sticky::TlsCertIssuer,
        ),
    ] {
        let r = rule(text);
        assert_eq!(r.app_buffer.map(|b| b.kind), Some(kind), "{text}");
        assert!(r.payload.is_empty(), "{text}");
    }
    // Both ways: the client's own certificate goes to the server.
    for text in [
        r#"alert tls any any -> any any (tls.certs; content:"a"; sid:1;)"#,
        r#"alert tls any any -> any any (flow:to_server; tls.cert_subject; content:"a"; sid:1;)"#,
    ] {
        assert!(
            rule(text).app_buffer.is_some_and(|b| b.kind.is_cert()),
            "{text}"
        );
    }
    // Several buffers of the certificate: each must match; a buffer named again goes on
    // with its own keywords.
    let r = rule(
        r#"alert tls any any -> any any (flow:to_client; tls.cert_subject; content:"a"; tls.cert_issuer; content:"b"; bsize:>3; tls.cert_subject; content:"c"; distance:0; sid:1;)"#,
    );
    let first = r.app_buffer.expect("a subject buffer");
    assert_eq!(
        (first.kind, first.payload.len()),
        (Sticky::TlsCertSubject, 2)
    );
    assert_eq!(r.app_buffers_also.len(), 1);
    let issuer = &r.app_buffers_also[0];
    assert_eq!(issuer.kind, Sticky::TlsCertIssuer);
    assert_eq!((issuer.payload.len(), issuer.bsize.len()), (1, 1));
    for (text, msg) in [
        (
            r#"alert tls any any -> any any (flow:to_client; tls.certs; sid:1;)"#,
            "no keywords to match",
        ),
        (
            r#"alert tcp-pkt any any -> any any (flow:to_client; tls.certs; content:"a"; sid:1;)"#,
            "tcp-pkt",
        ),
        (
            r#"alert dns any any -> any any (flow:to_client; tls.cert_subject; content:"a"; sid:1;)"#,
            "dns rule cannot inspect",
        ),
        (
            r#"alert tls any any -> any any (flow:to_client; tls.sni; content:"a"; tls.cert_issuer; content:"b"; sid:1;)"#,
            "directions conflict",
        ),
    ] {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(msg), "{text}: {e}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn ja3s_rules_as_suricata_loads_them() {
    // Each form was checked with `suricata -T` (7.0.10).
    let r = rule(
        r#"alert tls $EXTERNAL_NET any -> $HOME_NET any (flowbits:isset,ET.x; ja3s.hash; content:"F6DFDD25D1522E4E1C7CD09BD37CE619"; sid:1;)"#,
    );
    let b = r.app_buffer.expect("a ja3s.hash buffer");
    assert_eq!(b.kind, Sticky::Ja3sHash);
    match &b.payload[0] {
        PayloadMatch::Content(c) => assert_eq!(c.pattern, b"f6dfdd25d1522e4e1c7cd09bd37ce619"),
        other => panic!("{other:?}"),
    }
    let s = rule(
        r#"alert tls any any -> any any (flow:to_client; ja3s_string; content:"771,"; sid:1;)"#,
    );
    assert_eq!(s.app_buffer.map(|b| b.kind), Some(Sticky::Ja3sString));
    for (text, msg) in [
        (
            r#"alert tls any any -> any any (ja3s.hash; content:"abc"; sid:1;)"#,
            "32 characters",
        ),
        (
            r#"alert tls any any -> any any (flow:to_server; ja3s.hash; content:"f304b683dc0e3e41d087a99f999e232b"; sid:1;)"#,
            "directions conflict",
        ),
    ] {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(msg), "{text}: {e}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // The server's hello beside a certificate: valid in Suricata, skipped here.
    match parse(
        r#"alert tls any any -> any any (ja3s.hash; content:"f304b683dc0e3e41d087a99f999e232b"; tls.cert_subject; content:"a"; sid:1;)"#,
    ) {
        Ok(Parsed::Unsupported { keywords, .. }) => assert!(
            keywords.iter().any(|k| k == "ja3s.hash+tls.cert_subject"),
            "{keywords:?}"
        ),
        other => panic!("{other:?}"),
    }
}

/// HTTP request buffers: what Suricata 7.0.10 loads (`suricata -T`), refuses, and what
/// tidewatch skips because it does not parse responses.
#[test]
fn http_request_buffers_load_as_suricata_loads_them() {
    let r = rule(
        r#"alert http any any -> any any (flow:established,to_server; http.uri; content:"/x"; http.user_agent; content:"curl"; sid:1;)"#,
    );
    assert_eq!(r.proto, Proto::Http);
    assert_eq!(r.app_buffer.as_ref().map(|b| b.kind), Some(Sticky::HttpUri));
    // Raw content of protocol `http`: a payload rule on flows told HTTP.
    let raw = rule(r#"alert http any any -> any any (flow:to_client; content:"x"; sid:2;)"#);
    assert_eq!(raw.proto, Proto::Http);
    assert!(raw.app_buffer.is_none() && raw.payload.len() == 1);
    assert_eq!(
        r.app_buffers_also
            .iter()
            .map(|b| b.kind)
            .collect::<Vec<_>>(),
        [Sticky::HttpUserAgent]
    );
    // urilen checks the URI's length without becoming the sticky buffer.
    let u =
        rule(r#"alert tcp any any -> any any (http.method; content:"GET"; urilen:5<>20; sid:2;)"#);
    assert_eq!(
        u.app_buffer.as_ref().map(|b| b.kind),
        Some(Sticky::HttpMethod)
    );
    assert_eq!(u.app_buffers_also[0].kind, Sticky::HttpUri);
    assert_eq!(u.app_buffers_also[0].bsize, [NumMatch::Between(5, 20)]);
    let raw =
        rule(r#"alert http any any -> any any (http.uri; content:"/ab"; urilen:3,raw; sid:3;)"#);
    assert_eq!(raw.app_buffers_also[0].kind, Sticky::HttpUriRaw);
    for text in [
        r#"alert http any any -> any any (urilen:5; sid:4;)"#,
        r#"alert http any any -> any any (http.uri; content:"/abcdef"; urilen:>3; sid:4;)"#,
        r#"alert http any any -> any any (flow:to_server; http_header_names; content:"|0d 0a|Host"; sid:4;)"#,
        r#"alert http any any -> any any (flow:to_server; http.header.raw; content:"Host"; sid:4;)"#,
        r#"alert http any any -> any any (http.request_body; content:"cmd="; pcre:"/cmd=\w+/"; sid:4;)"#,
        r#"alert http any any -> any any (pcre:"/^\/x/U"; sid:4;)"#,
        r#"alert http any any -> any any (flow:to_server; http.uri; content:"/a"; pcre:"/b/UR"; sid:4;)"#,
    ] {
        assert!(
            rule(text).app_buffer.is_some_and(|b| b.kind.is_http()),
            "{text}"
        );
    }
    for (text, msg) in [
        (
            r#"alert http any any -> any any (http.host; content:"Example.com"; sid:1;)"#,
            "lower case",
        ),
        (
            r#"alert http any any -> any any (flow:to_server; http.uri; content:"x"; pcre:"/y/M"; sid:1;)"#,
            "another sticky buffer",
        ),
        (
            r#"alert http any any -> any any (flow:to_server; pcre:"/y/UI"; sid:1;)"#,
            "more than one buffer modifier",
        ),
        (
            r#"alert http any any -> any any (http.host; content:"example.com"; nocase; sid:1;)"#,
            "lower case",
        ),
        (
            r#"alert http any any -> any any (http.header.raw; content:"Host"; sid:1;)"#,
            "needs flow",
        ),
        (
            r#"alert http any any -> any any (flow:to_client; http.uri; content:"/x"; sid:1;)"#,
            "directions conflict",
        ),
        (
            r#"alert http any any -> any any (urilen:3; http.uri; content:"/abcdef"; sid:1;)"#,
            "urilen",
        ),
        (
            r#"alert http any any -> any any (http.uri; content:"/abcdef"; urilen:<=3; sid:1;)"#,
            "urilen",
        ),
        (
            r#"alert http any any -> any any (http.uri; content:"/abcdef"; urilen:3<>5; sid:1;)"#,
            "urilen",
        ),
        (
            r#"alert tls any any -> any any (http.uri; content:"/ab"; sid:1;)"#,
            "tls rule cannot inspect",
        ),
        (
            r#"alert dns any any -> any any (http.uri; content:"/ab"; sid:1;)"#,
            "dns rule cannot inspect",
        ),
        (
            r#"alert http any any -> any any (tls.sni; content:"ab"; sid:1;)"#,
            "http rule cannot inspect",
        ),
        (
            r#"alert http any any -> any any (dns.query; content:"ab"; sid:1;)"#,
            "http rule cannot inspect",
        ),
        (
            r#"alert tcp any any -> any any (http.uri; content:"/ab"; tls.sni; content:"x"; sid:1;)"#,
            "different protocols",
        ),
        (
            r#"alert tcp-pkt any any -> any any (http.uri; content:"/ab"; sid:1;)"#,
            "tcp-pkt",
        ),
    ] {
        match parse(text) {
            Err(e) => assert!(e.to_string().contains(msg), "{text}: {e}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // Loaded by Suricata, not enforced here: response buffers are not parsed, and HTTP
    // over UDP never is.
    for (text, kw) in [
        (
            r#"alert http any any -> any any (http.header; content:"X"; sid:1;)"#,
            "http.header:response",
        ),
        (
            r#"alert http any any -> any any (http_header_names; content:"|0d 0a|Host"; sid:1;)"#,
            "http.header_names:response",
        ),
        (
            r#"alert http any any -> any any (flow:established; http.cookie; content:"a"; sid:1;)"#,
            "http.cookie:response",
        ),
        (
            r#"alert udp any any -> any any (http.uri; content:"/x"; sid:1;)"#,
            "http.uri:udp",
        ),
        (
            r#"alert http any any -> any any (content:"x"; http.uri; content:"/x"; sid:1;)"#,
            "http.uri+packet-payload",
        ),
    ] {
        match parse(text) {
            Ok(Parsed::Unsupported { keywords, .. }) => {
                assert!(keywords.iter().any(|k| k == kw), "{text}: {keywords:?}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn file_data_reads_an_http_response_body() {
    for kw in ["file.data", "file_data", "http.response_body"] {
        let r = rule(&format!(
            "alert http any any -> any any (flow:established,to_client; {kw}; content:\"<html\"; startswith; sid:1;)"
        ));
        let b = r.app_buffer.as_ref().unwrap();
        assert_eq!(b.kind, Sticky::HttpFileData, "{kw}");
        assert_eq!(b.payload.len(), 1);
        assert!(r.payload.is_empty());
    }
    let r = rule("alert http any any -> any any (flow:to_client; http.stat_code; content:\"404\"; file.data; content:\"x\"; sid:1;)");
    assert_eq!(r.app_buffer.as_ref().unwrap().kind, Sticky::HttpStatCode);
    assert_eq!(r.app_buffers_also[0].kind, Sticky::HttpFileData);
    let e = parse(
        "alert http any any -> any any (flow:to_server; http.stat_code; content:\"200\"; sid:1;)",
    )
    .unwrap_err();
    assert!(e.to_string().contains("directions conflict"), "{e}");
    let e = parse("alert udp any any -> any any (file.data; content:\"a\"; sid:1;)").unwrap_err();
    assert!(e.to_string().contains("file.data"), "{e}");
}
