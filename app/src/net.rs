//! The client's address, trusting `X-Forwarded-For` only from configured proxies, and the key
//! per-address limits count it under.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::{HttpMessage, HttpRequest, web};

use crate::tokens::Tokens;

/// The header in which the gateway's proxy hands a service the client address, as a client-hop
/// token signed with `INTERNAL_JWT_SECRET` ([`Tokens::issue_client_hop`]). Clients cannot set it:
/// the gateway strips client-sent `X-Tessera-*` headers, and they cannot sign one anyway.
pub const CLIENT_HOP_HEADER: &str = "x-tessera-client";

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`: comma-separated IPs or
/// CIDR ranges such as `172.16.0.0/12`, for a gateway whose container address is not fixed).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

/// An IP range: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `10.0.0.0/8`, `::1/128` or a bare address (one host).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{raw}` is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{raw}` has an invalid prefix length"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in this range.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(*ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(*ip) & mask
            }
            _ => false,
        }
    }
}

impl TrustedProxies {
    /// Parses a list of IP addresses and CIDR ranges.
    pub fn parse(items: &[String]) -> Result<Self, String> {
        items
            .iter()
            .map(|s| IpNet::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Reads `TRUSTED_PROXIES` (none when unset); fails naming it when an entry is malformed.
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::config::ConfigError> {
        Self::parse(&env.list_or("TRUSTED_PROXIES", &[])).map_err(|reason| {
            crate::config::ConfigError::Invalid {
                name: "TRUSTED_PROXIES".to_owned(),
                reason,
            }
        })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

/// The client address the gateway resolved for a request, kept in its extensions so the domains
/// mounted behind it in the same process see the same address after the gateway strips the
/// forwarding headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key every per-address limit counts this client under: an IPv4 address as it is, an
    /// IPv6 address by its /64. One IPv6 subscriber usually holds a whole /64 (RFC 6177), so
    /// counting single addresses would hand one client 2^64 fresh budgets. IPv4-mapped IPv6
    /// addresses count as the IPv4 address they carry.
    pub fn limit_key(&self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
            },
        }
    }
}

/// The client IP of `req`: the one the gateway resolved in this process, else the peer address,
/// or, when the peer is a trusted proxy, the last address in `X-Forwarded-For` that is not
/// itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    if let Some(ClientAddr(ip)) = req.extensions().get::<ClientAddr>() {
        return Some(*ip);
    }
    let peer = req.peer_addr()?.ip();
    Some(resolve(peer, forwarded_for(req), trusted))
}

/// The client IP as a service behind the gateway sees it: the address the gateway resolved in
/// this process, else the one a valid client-hop token from the gateway's proxy names
/// ([`CLIENT_HOP_HEADER`]), else [`client_ip`] (a service called directly, or from behind
/// `TRUSTED_PROXIES`).
pub fn service_client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    if let Some(ClientAddr(ip)) = req.extensions().get::<ClientAddr>() {
        return Some(*ip);
    }
    if let Some(token) = req
        .headers()
        .get(CLIENT_HOP_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        let tokens = req.app_data::<web::Data<Tokens>>();
        match tokens.map(|t| t.verify_client_hop(token)) {
            Some(Ok(ip)) => return Some(ip),
            // Not fatal: the peer address still counts, but every client then shares it.
            Some(Err(e)) => tracing::warn!(error = %e, "client-hop token refused"),
            None => tracing::warn!("Tokens missing from app data; client-hop token ignored"),
        }
    }
    client_ip(req, trusted)
}

fn forwarded_for(req: &HttpRequest) -> Vec<IpAddr> {
    req.headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// The client behind `peer`: walking `X-Forwarded-For` from the nearest hop back while the hop
/// is trusted, the first untrusted address is the client as far as we can tell.
pub fn resolve(peer: IpAddr, hops: Vec<IpAddr>, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.trusts(&peer) {
        return peer;
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.trusts(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn trusted(items: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_default()
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let t = trusted(&["172.16.0.0/12", "::1"]);
        assert!(t.trusts(&ip("172.18.0.5")));
        assert!(!t.trusts(&ip("172.32.0.1")));
        assert!(t.trusts(&ip("::1")));
        assert!(!t.trusts(&ip("127.0.0.1")));
        assert!(trusted(&["0.0.0.0/0"]).trusts(&ip("8.8.8.8")));
    }

    #[test]
    fn bad_entries_are_refused_by_value() {
        let err = TrustedProxies::parse(&["10.0.0.0/33".to_owned()]).err();
        assert!(err.unwrap_or_default().contains("10.0.0.0/33"));
        assert!(TrustedProxies::parse(&["proxy".to_owned()]).is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let key = |s: &str| ClientAddr(ip(s)).limit_key();
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), ip("2001:db8:1:2::"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(key("::ffff:198.51.100.7"), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_peer() {
        let t = trusted(&["10.0.0.1"]);
        let hops = vec![ip("1.2.3.4"), ip("5.6.7.8")];
        // An untrusted peer's header is a client's claim: ignored.
        assert_eq!(resolve(ip("9.9.9.9"), hops.clone(), &t), ip("9.9.9.9"));
        // Behind the trusted proxy, the nearest untrusted hop is the client.
        assert_eq!(resolve(ip("10.0.0.1"), hops, &t), ip("5.6.7.8"));
        assert_eq!(resolve(ip("10.0.0.1"), Vec::new(), &t), ip("10.0.0.1"));
    }
}
