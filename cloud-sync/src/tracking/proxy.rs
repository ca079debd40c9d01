//! The client address behind trusted reverse proxies: `[tracking]
//! trusted_proxies` (CIDR blocks). When the TCP peer is one of them, the
//! client is the right-most `X-Forwarded-For` address that is not (the
//! left-most when every one is); otherwise the header is ignored, since a
//! client writes what it likes there. Pure.

use std::net::IpAddr;

/// An address block, `10.0.0.0/8` or `fd00::/8` (a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        };
        Some(Self { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => masked(u128::from(n.to_bits()), u128::from(a.to_bits()), self.prefix, 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => masked(n.to_bits(), a.to_bits(), self.prefix, 128),
            _ => false,
        }
    }
}

fn masked(net: u128, addr: u128, prefix: u8, width: u32) -> bool {
    let host_bits = width - u32::from(prefix);
    net.checked_shr(host_bits).unwrap_or(0) == addr.checked_shr(host_bits).unwrap_or(0)
}

/// The client of a request from `peer` carrying `forwarded_for` (every
/// `X-Forwarded-For` value, in order). A header that does not parse gives
/// the peer.
pub fn client_ip<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            return peer;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| Cidr::parse(s).expect("cidr")).collect()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let ten = Cidr::parse("10.0.0.0/8").expect("cidr");
        assert!(ten.contains(ip("10.200.1.1")));
        assert!(ten.contains(ip("::ffff:10.0.0.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").expect("all").contains(ip("8.8.8.8")));
        assert!(Cidr::parse("fd00::/8").expect("v6").contains(ip("fd12::1")));
        assert!(Cidr::parse("192.0.2.7").expect("one").contains(ip("192.0.2.7")));
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "x/8", "10.0.0.0/-1"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let from = |peer: &str, xff: &[&str]| client_ip(ip(peer), xff.iter().copied(), &trusted);
        assert_eq!(from("10.0.0.2", &["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1, 203.0.113.9, 10.0.0.3"]),
            ip("203.0.113.9"),
            "a client-written left part is not believed"
        );
        assert_eq!(from("10.0.0.2", &["198.51.100.1", "203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(from("10.0.0.2", &["10.0.0.9, 10.0.0.8"]), ip("10.0.0.9"));
        assert_eq!(from("10.0.0.2", &["not an address"]), ip("10.0.0.2"));
        assert_eq!(from("10.0.0.2", &[]), ip("10.0.0.2"));
        assert_eq!(
            from("198.51.100.7", &["203.0.113.9"]),
            ip("198.51.100.7"),
            "untrusted peer"
        );
    }
}
