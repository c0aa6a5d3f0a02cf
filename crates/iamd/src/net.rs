//! Who is on the other end: the client address and scheme of a request, behind trusted reverse
//! proxies. Only a peer inside `--trusted-proxies` may speak for a client through `X-Forwarded-For`
//! and `X-Forwarded-Proto`; from anyone else those headers are ignored, so a client cannot pick the
//! address its guesses are counted under, or what `aws:SourceIp` says.

use std::net::IpAddr;

/// An address block, `10.0.0.0/8` or `fd00::/8` (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.parse().map_err(|_| format!("'{s}' is not an address block (like 10.0.0.0/8 or fd00::/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask(u32::from(n) as u128, u32::from(a) as u128, self.prefix, 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => mask(u128::from(n), u128::from(a), self.prefix, 128),
            _ => false,
        }
    }
}

fn mask(net: u128, addr: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (net >> shift) == (addr >> shift)
}

/// The client of a request: its address, and whether a trusted proxy says it used HTTPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub forwarded_https: Option<bool>,
}

/// From the TCP peer and the request's headers. Behind trusted proxies, the client is the rightmost
/// `X-Forwarded-For` address that is not itself a trusted proxy (what the nearest trusted proxy saw).
pub fn client(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[Cidr]) -> Client {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Client { ip: peer, forwarded_https: None };
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    let ip = chain.iter().rev().copied().find(|a| !is_trusted(*a)).or_else(|| chain.first().copied()).unwrap_or(peer);
    let proto =
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).and_then(|v| v.rsplit(',').next()).map(|p| p.trim().eq_ignore_ascii_case("https"));
    Client { ip, forwarded_https: proto }
}

/// The source that floods and guesses are counted by: an IPv4 address as it is, an IPv6 address by
/// its /64 (one host commonly holds a whole /64).
pub fn source_group(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.chars().take(64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_group_by_slash_64() {
        assert_eq!(source_group("2001:db8:1:2:aaaa::1"), source_group("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(source_group("2001:db8:1:2::1"), source_group("2001:db8:1:3::1"));
        assert_eq!(source_group("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(source_group("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn blocks_contain_what_they_should() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.9.8.7".parse().unwrap()) && !c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
        assert!("127.0.0.1".parse::<Cidr>().unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err() && "nope".parse::<Cidr>().is_err());
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.5".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let via = client("10.0.0.2".parse().unwrap(), &h, &trusted);
        assert_eq!(via, Client { ip: "203.0.113.9".parse().unwrap(), forwarded_https: Some(true) });
        let direct = client("198.51.100.1".parse().unwrap(), &h, &trusted);
        assert_eq!(direct, Client { ip: "198.51.100.1".parse().unwrap(), forwarded_https: None });
        // A client that writes its own X-Forwarded-For behind the proxy cannot hide behind it.
        h.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
        assert_eq!(client("10.0.0.2".parse().unwrap(), &h, &trusted).ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }
}
