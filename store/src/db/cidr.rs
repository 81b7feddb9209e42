//! Address blocks for query filters, over the record's fixed 17-byte address form so a
//! block is also a key range of an address index.

use crate::record::{Addr, ArchivedAddr};
use std::net::IpAddr;

/// `addr/prefix`, host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub net: Addr,
    pub prefix: u8,
}

#[derive(Debug, thiserror::Error)]
#[error("bad CIDR {text:?}: {why}")]
pub struct CidrError {
    text: String,
    why: &'static str,
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a host).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = |why| CidrError {
            text: s.into(),
            why,
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = a.trim().parse().map_err(|_| err("not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| err("prefix is not a number"))?,
            None => max,
        };
        if prefix > max {
            return Err(err("prefix longer than the address"));
        }
        Ok(Cidr::new(ip.into(), prefix))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.net.to_ip() {
            Some(ip) => write!(f, "{ip}/{}", self.prefix),
            None => write!(f, "none"),
        }
    }
}

fn mask(octets: &mut [u8; 16], prefix: u8, fill: u8) {
    for (i, b) in octets.iter_mut().enumerate() {
        let bits = (prefix as usize).saturating_sub(i * 8).min(8);
        let keep = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
        *b = (*b & keep) | (fill & !keep);
    }
}

impl Cidr {
    pub fn new(addr: Addr, prefix: u8) -> Cidr {
        let mut net = addr;
        let p = if net.family == 4 {
            prefix.min(32)
        } else {
            prefix.min(128)
        };
        let mut o = net.octets;
        mask(&mut o, p, 0);
        if net.family == 4 {
            o[4..].fill(0);
        }
        net.octets = o;
        Cidr { net, prefix: p }
    }

    pub fn contains(&self, a: &ArchivedAddr) -> bool {
        if a.family != self.net.family {
            return false;
        }
        let mut o = a.octets;
        mask(&mut o, self.prefix, 0);
        o == self.net.octets
    }

    pub fn contains_key(&self, k: &[u8; 17]) -> bool {
        let mut o = [0u8; 16];
        o.copy_from_slice(&k[1..]);
        mask(&mut o, self.prefix, 0);
        k[0] == self.net.family && o == self.net.octets
    }

    /// First and last 17-byte key inside the block.
    pub fn key_range(&self) -> ([u8; 17], [u8; 17]) {
        let lo = addr_key_parts(self.net.family, &self.net.octets);
        let mut hi_o = self.net.octets;
        mask(&mut hi_o, self.prefix, 0xff);
        if self.net.family == 4 {
            hi_o[4..].fill(0);
        }
        (lo, addr_key_parts(self.net.family, &hi_o))
    }
}

pub(crate) fn addr_key_parts(family: u8, octets: &[u8; 16]) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = family;
    k[1..].copy_from_slice(octets);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> ArchivedAddr {
        let x: Addr = s.parse::<IpAddr>().unwrap().into();
        ArchivedAddr {
            family: x.family,
            octets: x.octets,
        }
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        let c: Cidr = "10.1.2.3/16".parse().unwrap();
        assert_eq!(c.to_string(), "10.1.0.0/16");
        assert!(c.contains(&a("10.1.255.7")));
        assert!(!c.contains(&a("10.2.0.1")));
        assert!(!c.contains(&a("::ffff:10.1.0.1")));
        let six: Cidr = "2001:db8::/33".parse().unwrap();
        assert!(six.contains(&a("2001:db8:7fff::1")));
        assert!(!six.contains(&a("2001:db8:8000::1")));
        let (lo, hi) = c.key_range();
        assert_eq!(&lo[..5], &[4, 10, 1, 0, 0]);
        assert_eq!(&hi[..5], &[4, 10, 1, 255, 255]);
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        let host: Cidr = "192.0.2.1".parse().unwrap();
        assert_eq!(host.prefix, 32);
    }
}
