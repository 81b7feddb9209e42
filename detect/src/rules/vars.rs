//! Address and port variables and the header expressions that use them: `any`, addresses,
//! CIDR, ports and ranges, lists, negation and `$VARS`, resolved to [`AddrSet`]/[`PortSet`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use super::ast::{AddrSet, IpNet, PortSet};

/// Nesting limit of brackets and variables, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

/// Address and port variables (`address-groups` and `port-groups` of suricata.yaml).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vars {
    addresses: HashMap<String, String>,
    ports: HashMap<String, String>,
}

impl Default for Vars {
    /// Suricata 7's suricata.yaml defaults.
    fn default() -> Self {
        let mut v = Vars {
            addresses: HashMap::new(),
            ports: HashMap::new(),
        };
        for (k, val) in [
            ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
            ("EXTERNAL_NET", "!$HOME_NET"),
            ("HTTP_SERVERS", "$HOME_NET"),
            ("SMTP_SERVERS", "$HOME_NET"),
            ("SQL_SERVERS", "$HOME_NET"),
            ("DNS_SERVERS", "$HOME_NET"),
            ("TELNET_SERVERS", "$HOME_NET"),
            ("AIM_SERVERS", "$EXTERNAL_NET"),
            ("DC_SERVERS", "$HOME_NET"),
            ("DNP3_SERVER", "$HOME_NET"),
            ("DNP3_CLIENT", "$HOME_NET"),
            ("MODBUS_CLIENT", "$HOME_NET"),
            ("MODBUS_SERVER", "$HOME_NET"),
            ("ENIP_CLIENT", "$HOME_NET"),
            ("ENIP_SERVER", "$HOME_NET"),
        ] {
            v.set_address(k, val);
        }
        for (k, val) in [
            ("HTTP_PORTS", "80"),
            ("SHELLCODE_PORTS", "!80"),
            ("ORACLE_PORTS", "1521"),
            ("SSH_PORTS", "22"),
            ("DNP3_PORTS", "20000"),
            ("MODBUS_PORTS", "502"),
            ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
            ("FTP_PORTS", "21"),
            ("GENEVE_PORTS", "6081"),
            ("VXLAN_PORTS", "4789"),
            ("TEREDO_PORTS", "3544"),
        ] {
            v.set_port(k, val);
        }
        v
    }
}

impl Vars {
    /// No variables at all (every `$VAR` is then an error).
    pub fn empty() -> Self {
        Vars {
            addresses: HashMap::new(),
            ports: HashMap::new(),
        }
    }

    /// Define or override an address variable (`name` with or without `$`).
    pub fn set_address(&mut self, name: &str, value: &str) {
        self.addresses
            .insert(name.trim_start_matches('$').to_owned(), value.to_owned());
    }

    /// Define or override a port variable (`name` with or without `$`).
    pub fn set_port(&mut self, name: &str, value: &str) {
        self.ports
            .insert(name.trim_start_matches('$').to_owned(), value.to_owned());
    }

    /// The raw text of an address variable.
    pub fn address(&self, name: &str) -> Option<&str> {
        self.addresses.get(name).map(String::as_str)
    }

    /// The raw text of a port variable.
    pub fn port(&self, name: &str) -> Option<&str> {
        self.ports.get(name).map(String::as_str)
    }

    /// Resolve an address expression (`[$HOME_NET,!10.0.0.1]`).
    pub fn parse_addresses(&self, text: &str) -> Result<AddrSet, HeaderError> {
        let mut stack = Vec::new();
        let g = parse_group(text, &Kind::Addr(self), &mut stack, 0)?;
        let Group::Addr(items) = g else {
            return Err(HeaderError::at(
                0,
                "internal: port group from address parser",
            ));
        };
        items.finish()
    }

    /// Resolve a port expression (`[1024:,!8080]`).
    pub fn parse_ports(&self, text: &str) -> Result<PortSet, HeaderError> {
        let mut stack = Vec::new();
        let g = parse_group(text, &Kind::Port(self), &mut stack, 0)?;
        let Group::Port(items) = g else {
            return Err(HeaderError::at(
                0,
                "internal: address group from port parser",
            ));
        };
        items.finish()
    }
}

/// A header expression error: byte offset in the expression (0 when inside a variable's
/// value, whose name the message gives).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    pub pos: usize,
    pub message: String,
    /// The expression negates a group that has both includes and excludes, which the flat
    /// include/exclude model cannot express: the rule is skipped, not broken.
    pub unsupported: bool,
}

impl HeaderError {
    fn at(pos: usize, message: impl Into<String>) -> Self {
        HeaderError {
            pos,
            message: message.into(),
            unsupported: false,
        }
    }
}

enum Kind<'v> {
    Addr(&'v Vars),
    Port(&'v Vars),
}

/// Includes (all when `any` was written or when only excludes are given), minus excludes.
#[derive(Clone, Debug)]
struct Items<T> {
    any: bool,
    include: Vec<T>,
    exclude: Vec<T>,
    /// A negation was applied to negated entries (see [`AddrSet::double_negated`]).
    double_negated: bool,
}

enum Group {
    Addr(Items<IpNet>),
    Port(Items<(u16, u16)>),
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items {
            any: false,
            include: Vec::new(),
            exclude: Vec::new(),
            double_negated: false,
        }
    }
}

trait Covers: Copy {
    fn covered_by(&self, other: &Self) -> bool;
    /// Whether this one entry is a whole address family or every port.
    fn complete(&self) -> bool;
}

impl Covers for IpNet {
    fn covered_by(&self, other: &Self) -> bool {
        other.prefix <= self.prefix && other.contains(&self.addr)
    }
    fn complete(&self) -> bool {
        self.prefix == 0
    }
}

impl Covers for (u16, u16) {
    fn covered_by(&self, other: &Self) -> bool {
        other.0 <= self.0 && self.1 <= other.1
    }
    fn complete(&self) -> bool {
        *self == (0, u16::MAX)
    }
}

impl<T: Covers> Items<T> {
    fn negate(self, pos: usize) -> Result<Self, HeaderError> {
        if self.any && self.exclude.is_empty() {
            return Err(HeaderError::at(pos, "'!any' negates the complete space"));
        }
        // Suricata 7 refuses `!0.0.0.0/0`, `!::/0` and `!0:65535` as it refuses `!any`.
        if self.include.iter().any(Covers::complete) {
            return Err(HeaderError::at(
                pos,
                "the negation covers a complete address family or port space",
            ));
        }
        if self.any || self.include.is_empty() {
            // !(any - E) = E
            return Ok(Items {
                any: false,
                double_negated: self.double_negated || !self.exclude.is_empty(),
                include: self.exclude,
                exclude: Vec::new(),
            });
        }
        if !self.exclude.is_empty() {
            return Err(HeaderError {
                pos,
                message: "negation of a group with both included and excluded entries".into(),
                unsupported: true,
            });
        }
        // !I = any - I
        Ok(Items {
            any: false,
            include: Vec::new(),
            exclude: self.include,
            double_negated: self.double_negated,
        })
    }

    fn merge(&mut self, other: Items<T>) {
        self.any |= other.any;
        self.double_negated |= other.double_negated;
        self.include.extend(other.include);
        self.exclude.extend(other.exclude);
    }

    fn check(self, pos: usize) -> Result<(Vec<T>, Vec<T>), HeaderError> {
        let include = if self.any { Vec::new() } else { self.include };
        if include.is_empty() && !self.any && self.exclude.is_empty() {
            return Err(HeaderError::at(pos, "empty list"));
        }
        if !include.is_empty()
            && include
                .iter()
                .all(|i| self.exclude.iter().any(|e| i.covered_by(e)))
        {
            return Err(HeaderError::at(
                pos,
                "nothing left after removing the negated entries",
            ));
        }
        Ok((include, self.exclude))
    }
}

impl Items<IpNet> {
    fn finish(self) -> Result<AddrSet, HeaderError> {
        let double_negated = self.double_negated;
        let (include, exclude) = self.check(0)?;
        Ok(AddrSet {
            include,
            exclude,
            double_negated,
        })
    }
}

impl Items<(u16, u16)> {
    fn finish(self) -> Result<PortSet, HeaderError> {
        let (include, exclude) = self.check(0)?;
        Ok(PortSet { include, exclude })
    }
}

fn empty_group(kind: &Kind) -> Group {
    match kind {
        Kind::Addr(_) => Group::Addr(Items::default()),
        Kind::Port(_) => Group::Port(Items::default()),
    }
}

fn merge(into: &mut Group, other: Group) {
    match (into, other) {
        (Group::Addr(a), Group::Addr(b)) => a.merge(b),
        (Group::Port(a), Group::Port(b)) => a.merge(b),
        _ => {}
    }
}

fn negate(g: Group, pos: usize) -> Result<Group, HeaderError> {
    Ok(match g {
        Group::Addr(i) => Group::Addr(i.negate(pos)?),
        Group::Port(i) => Group::Port(i.negate(pos)?),
    })
}

/// Parse a whole expression: one element, or a bracketed list.
fn parse_group(
    text: &str,
    kind: &Kind,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Group, HeaderError> {
    let mut p = Cursor { s: text, i: 0 };
    p.skip_ws();
    let g = parse_elem(&mut p, kind, stack, depth)?;
    p.skip_ws();
    if p.i < text.len() {
        return Err(HeaderError::at(
            p.i,
            format!("unexpected '{}'", &text[p.i..]),
        ));
    }
    Ok(g)
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
}

fn parse_elem(
    p: &mut Cursor,
    kind: &Kind,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Group, HeaderError> {
    if depth > MAX_DEPTH {
        return Err(HeaderError::at(p.i, "nesting too deep"));
    }
    p.skip_ws();
    let start = p.i;
    match p.peek() {
        None => Err(HeaderError::at(p.i, "missing value")),
        Some(b'!') => {
            // Suricata's address and port parsers set their negation flag on each '!'
            // rather than toggle it: `!!x` and `!!!x` are `!x`.
            while p.peek() == Some(b'!') {
                p.i += 1;
                p.skip_ws();
            }
            let g = parse_elem(p, kind, stack, depth + 1)?;
            negate(g, start)
        }
        Some(b'[') => {
            p.i += 1;
            let mut acc = empty_group(kind);
            loop {
                let g = parse_elem(p, kind, stack, depth + 1)?;
                merge(&mut acc, g);
                p.skip_ws();
                match p.peek() {
                    // Suricata takes one trailing comma right before the ']'.
                    Some(b',') if p.s.as_bytes().get(p.i + 1) == Some(&b']') => {
                        p.i += 2;
                        break;
                    }
                    Some(b',') => p.i += 1,
                    Some(b']') => {
                        p.i += 1;
                        break;
                    }
                    _ => return Err(HeaderError::at(p.i, "expected ',' or ']' in list")),
                }
            }
            Ok(acc)
        }
        Some(_) => {
            let end = p.s[p.i..]
                .find(|c: char| c == ',' || c == ']' || c == '[' || c.is_ascii_whitespace())
                .map_or(p.s.len(), |n| p.i + n);
            let word = &p.s[p.i..end];
            p.i = end;
            if let Some(name) = word.strip_prefix('$') {
                resolve_var(name, start, kind, stack, depth)
            } else if word.eq_ignore_ascii_case("any") {
                Ok(match kind {
                    Kind::Addr(_) => Group::Addr(Items {
                        any: true,
                        ..Items::default()
                    }),
                    Kind::Port(_) => Group::Port(Items {
                        any: true,
                        ..Items::default()
                    }),
                })
            } else {
                match kind {
                    Kind::Addr(_) => {
                        let include = match word.split_once('-') {
                            Some((a, b)) => parse_v4_range(word, a, b),
                            None => parse_net(word).map(|n| vec![n]),
                        }
                        .map_err(|m| HeaderError::at(start, m))?;
                        Ok(Group::Addr(Items {
                            include,
                            ..Items::default()
                        }))
                    }
                    Kind::Port(_) => {
                        let r = parse_port_range(word).map_err(|m| HeaderError::at(start, m))?;
                        Ok(Group::Port(Items {
                            include: vec![r],
                            ..Items::default()
                        }))
                    }
                }
            }
        }
    }
}

fn resolve_var(
    name: &str,
    pos: usize,
    kind: &Kind,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Group, HeaderError> {
    let (value, what) = match kind {
        Kind::Addr(v) => (v.address(name), "address"),
        Kind::Port(v) => (v.port(name), "port"),
    };
    let Some(value) = value else {
        return Err(HeaderError::at(
            pos,
            format!("undefined {what} variable ${name}"),
        ));
    };
    if stack.iter().any(|s| s == name) {
        return Err(HeaderError::at(
            pos,
            format!("{what} variable cycle: ${} -> ${name}", stack.join(" -> $")),
        ));
    }
    stack.push(name.to_owned());
    let r = parse_group(value, kind, stack, depth + 1).map_err(|mut e| {
        if !e.message.contains("in variable $") {
            e.message = format!("{} (in variable ${name} = \"{value}\")", e.message);
        }
        e.pos = pos;
        e
    });
    stack.pop();
    r
}

/// `1.2.3.4`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `2001:db8::/32`.
pub(crate) fn parse_net(word: &str) -> Result<IpNet, String> {
    let (addr, prefix) = match word.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (word, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| format!("bad address '{word}'"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => {
            if let (true, Ok(mask)) = (addr.is_ipv4(), p.parse::<Ipv4Addr>()) {
                let m = u32::from(mask);
                if m.leading_ones() + m.trailing_zeros() != 32 {
                    return Err(format!("bad netmask in '{word}'"));
                }
                m.leading_ones() as u8
            } else {
                match p.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => return Err(format!("bad prefix length in '{word}'")),
                }
            }
        }
    };
    Ok(IpNet { addr, prefix })
}

/// `1.2.3.4-1.2.3.9`: an IPv4 range (Suricata has no IPv6 ones), as the fewest CIDR
/// blocks that cover exactly it.
fn parse_v4_range(word: &str, a: &str, b: &str) -> Result<Vec<IpNet>, String> {
    let bad = || format!("bad address range '{word}' (IPv4 'first-last' expected)");
    let (a, b) = match (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>()) {
        (Ok(a), Ok(b)) => (u64::from(u32::from(a)), u64::from(u32::from(b))),
        _ => return Err(bad()),
    };
    if a > b {
        return Err(format!("address range '{word}' is reversed"));
    }
    let mut nets = Vec::new();
    let mut lo = a;
    while lo <= b {
        // The largest block aligned at `lo` that does not pass `b`.
        let mut size = 1u64 << lo.trailing_zeros().min(32);
        while lo + size - 1 > b {
            size >>= 1;
        }
        nets.push(IpNet {
            addr: IpAddr::V4(Ipv4Addr::from(lo as u32)),
            prefix: 32 - size.trailing_zeros() as u8,
        });
        lo += size;
    }
    Ok(nets)
}

/// `80`, `80:90`, `1024:`, `:1023`.
fn parse_port_range(word: &str) -> Result<(u16, u16), String> {
    let num = |s: &str| -> Result<u16, String> {
        s.parse::<u16>().map_err(|_| format!("bad port '{word}'"))
    };
    let r = match word.split_once(':') {
        None => {
            let n = num(word)?;
            (n, n)
        }
        Some(("", "")) => return Err(format!("bad port range '{word}'")),
        Some((a, "")) => (num(a)?, u16::MAX),
        Some(("", b)) => (0, num(b)?),
        Some((a, b)) => (num(a)?, num(b)?),
    };
    if r.0 > r.1 {
        return Err(format!("port range '{word}' is reversed"));
    }
    Ok(r)
}
