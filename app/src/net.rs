//! The client's address, trusting `X-Forwarded-For` only from configured proxies.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`, comma-separated IPs).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl TrustedProxies {
    /// Parses a list of IP addresses.
    pub fn parse(items: &[String]) -> Result<Self, String> {
        items
            .iter()
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| format!("`{s}` is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

/// The client IP of `req`: the peer address, or, when the peer is a trusted proxy, the last
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.0.contains(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let hops: Vec<IpAddr> = forwarded
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_default();
    // Walk from the nearest hop back; the first untrusted one is the client as far as we can tell.
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !trusted.0.contains(ip))
            .unwrap_or(peer),
    )
}
