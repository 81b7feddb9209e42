//! Building [`Rule`]s and [`Packet`]s in code, for tests and benchmarks of the matcher
//! without the rule parser or the decoder. Modifier methods apply to the last `content`.

use std::net::IpAddr;
use std::sync::Arc;

use capture::decode::{IcmpHeader, Packet, TcpHeader, UdpHeader, L4};

use crate::rules::*;

/// A [`Rule`] under construction: `alert <proto> any any -> any any (sid:<sid>;)`.
#[derive(Clone, Debug)]
pub struct RuleBuilder {
    rule: Rule,
}

impl RuleBuilder {
    pub fn new(proto: Proto, sid: u32) -> RuleBuilder {
        RuleBuilder {
            rule: Rule {
                sid,
                rev: 1,
                msg: format!("rule {sid}"),
                ..Rule::new(
                    Location {
                        file: Arc::from("<builder>"),
                        line: sid,
                    },
                    Action::Alert,
                    proto,
                )
            },
        }
    }

    pub fn build(self) -> Rule {
        self.rule
    }

    pub fn action(mut self, a: Action) -> Self {
        self.rule.action = a;
        self
    }
    pub fn priority(mut self, p: u8) -> Self {
        self.rule.priority = p;
        self
    }
    pub fn noalert(mut self) -> Self {
        self.rule.noalert = true;
        self
    }
    pub fn bidirectional(mut self) -> Self {
        self.rule.bidirectional = true;
        self
    }
    /// Source networks: `(address, prefix)` included, then excluded.
    pub fn src(mut self, include: &[(IpAddr, u8)], exclude: &[(IpAddr, u8)]) -> Self {
        self.rule.src = addr_set(include, exclude);
        self
    }
    pub fn dst(mut self, include: &[(IpAddr, u8)], exclude: &[(IpAddr, u8)]) -> Self {
        self.rule.dst = addr_set(include, exclude);
        self
    }
    pub fn src_ports(mut self, include: &[(u16, u16)], exclude: &[(u16, u16)]) -> Self {
        self.rule.src_ports = PortSet {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
        };
        self
    }
    pub fn dst_ports(mut self, include: &[(u16, u16)], exclude: &[(u16, u16)]) -> Self {
        self.rule.dst_ports = PortSet {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
        };
        self
    }
    pub fn flow(mut self, to_server: Option<bool>, established: Option<bool>) -> Self {
        self.rule.flow = FlowMatch {
            to_server,
            established,
            ..FlowMatch::default()
        };
        self
    }
    /// `flow:only_stream` (true) or `flow:no_stream` (false).
    pub fn flow_stream(mut self, only: bool) -> Self {
        self.rule.flow.stream = Some(only);
        self
    }
    pub fn dsize(mut self, m: NumMatch) -> Self {
        self.rule.dsize = Some(m);
        self
    }
    pub fn stream_size(mut self, side: crate::rules::StreamSide, cmp: NumMatch) -> Self {
        self.rule
            .stream_size
            .push(crate::rules::StreamSizeMatch { side, cmp });
        self
    }
    pub fn ttl(mut self, m: NumMatch) -> Self {
        self.rule.ttl.push(m);
        self
    }
    pub fn itype(mut self, m: NumMatch) -> Self {
        self.rule.itype.push(m);
        self
    }
    pub fn icode(mut self, m: NumMatch) -> Self {
        self.rule.icode.push(m);
        self
    }
    pub fn ip_proto(mut self, m: NumMatch) -> Self {
        self.rule.ip_proto = Some(IpProtoMatch(m));
        self
    }
    pub fn flags(mut self, flags: u8, ignore: u8, modifier: FlagsModifier) -> Self {
        self.rule.flags.push(FlagsMatch {
            flags,
            ignore,
            modifier,
        });
        self
    }

    pub fn content(mut self, pattern: &[u8]) -> Self {
        self.rule.payload.push(PayloadMatch::Content(ContentMatch {
            pattern: pattern.to_vec(),
            ..Default::default()
        }));
        self
    }
    /// `content:!"..."`.
    pub fn not_content(mut self, pattern: &[u8]) -> Self {
        self.rule.payload.push(PayloadMatch::Content(ContentMatch {
            pattern: pattern.to_vec(),
            negated: true,
            ..Default::default()
        }));
        self
    }
    fn last_content(&mut self, f: impl FnOnce(&mut ContentMatch)) {
        if let Some(PayloadMatch::Content(c)) = self
            .rule
            .payload
            .iter_mut()
            .rev()
            .find(|p| matches!(p, PayloadMatch::Content(_)))
        {
            f(c);
        }
    }
    pub fn nocase(mut self) -> Self {
        self.last_content(|c| c.nocase = true);
        self
    }
    pub fn offset(mut self, n: u32) -> Self {
        self.last_content(|c| c.offset = Some(n));
        self
    }
    pub fn depth(mut self, n: u32) -> Self {
        self.last_content(|c| c.depth = Some(n));
        self
    }
    pub fn distance(mut self, n: i32) -> Self {
        self.last_content(|c| c.distance = Some(n));
        self
    }
    pub fn within(mut self, n: u32) -> Self {
        self.last_content(|c| c.within = Some(n));
        self
    }
    pub fn startswith(mut self) -> Self {
        self.last_content(|c| c.startswith = true);
        self
    }
    pub fn endswith(mut self) -> Self {
        self.last_content(|c| c.endswith = true);
        self
    }
    pub fn fast_pattern(mut self, chop: Option<(u16, u16)>) -> Self {
        self.last_content(|c| c.fast_pattern = Some(FastPattern { only: false, chop }));
        self
    }

    /// `pcre:"/source/flags"`: flags `i s m x` go to PCRE2, `R` makes it relative; a
    /// leading `!` on `source`'s keyword is `negated`.
    pub fn pcre(mut self, source: &str, flags: &str, negated: bool) -> Result<Self, pcre2::Error> {
        let mut b = pcre2::bytes::RegexBuilder::new();
        b.caseless(flags.contains('i'))
            .dotall(flags.contains('s'))
            .multi_line(flags.contains('m'))
            .extended(flags.contains('x'))
            .jit_if_available(true);
        let regex = b.build(source)?;
        self.rule.payload.push(PayloadMatch::Pcre(PcreMatch {
            source: source.to_string(),
            negated,
            relative: flags.contains('R'),
            flags: flags.to_string(),
            regex: Arc::new(regex),
        }));
        Ok(self)
    }
    pub fn byte_test(mut self, bt: ByteTest) -> Self {
        self.rule.payload.push(PayloadMatch::ByteTest(bt));
        self
    }
    pub fn byte_jump(mut self, bj: ByteJump) -> Self {
        self.rule.payload.push(PayloadMatch::ByteJump(bj));
        self
    }
    pub fn isdataat(mut self, offset: u32, relative: bool, negated: bool) -> Self {
        self.rule.payload.push(PayloadMatch::IsDataAt(IsDataAt {
            offset,
            relative,
            negated,
            rawbytes: false,
        }));
        self
    }
}

fn addr_set(include: &[(IpAddr, u8)], exclude: &[(IpAddr, u8)]) -> AddrSet {
    let net = |&(addr, prefix): &(IpAddr, u8)| IpNet { addr, prefix };
    AddrSet {
        include: include.iter().map(net).collect(),
        exclude: exclude.iter().map(net).collect(),
        double_negated: false,
    }
}

/// The transport of a test packet.
#[derive(Clone, Copy, Debug)]
pub enum TestL4 {
    Tcp { sport: u16, dport: u16, flags: u8 },
    Udp { sport: u16, dport: u16 },
    Icmp { itype: u8, code: u8 },
    Icmpv6 { itype: u8, code: u8 },
    Other { proto: u8 },
}

/// A decoded-looking packet over `payload` (which also stands in for the frame).
pub fn test_packet(src: IpAddr, dst: IpAddr, l4: TestL4, payload: &[u8]) -> Packet<'_> {
    let (l4, ip_proto) = match l4 {
        TestL4::Tcp {
            sport,
            dport,
            flags,
        } => (
            L4::Tcp(TcpHeader {
                src_port: sport,
                dst_port: dport,
                header_len: 20,
                flags,
                ..Default::default()
            }),
            6,
        ),
        TestL4::Udp { sport, dport } => (
            L4::Udp(UdpHeader {
                src_port: sport,
                dst_port: dport,
                length: (payload.len() + 8) as u16,
            }),
            17,
        ),
        TestL4::Icmp { itype, code } => (
            L4::Icmp(IcmpHeader {
                icmp_type: itype,
                code,
            }),
            1,
        ),
        TestL4::Icmpv6 { itype, code } => (
            L4::Icmpv6(IcmpHeader {
                icmp_type: itype,
                code,
            }),
            58,
        ),
        TestL4::Other { proto } => (L4::Other, proto),
    };
    Packet {
        frame: payload,
        vlan: [0; 2],
        vlan_count: 0,
        l3_offset: 0,
        l4_offset: 0,
        src,
        dst,
        ip_proto,
        ttl: 64,
        ip_id: 0,
        tos: 0,
        ip_options: false,
        fragment: None,
        l4,
        payload,
        tunnel: None,
        tunnel_error: None,
    }
}
