//! Rate limits with actix-governor, keyed by the client IP (`X-Forwarded-For` only from trusted
//! proxies; IPv6 clients by their /64, [`ClientAddr::limit_key`]): a general limit per client on
//! every route but the operational ones, and a stricter one on the routes that guess or create
//! credentials. Paths are compared in their canonical spelling (the gateway's `edge` layer
//! rewrites them first), so `/auth/%6Cogin` counts as `/auth/login`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};

use crate::error::ApiError;
use crate::net::{ClientAddr, TrustedProxies, client_ip};

/// Routes with the stricter limit: they guess passwords, create accounts or send e-mail.
pub const STRICT_ROUTES: &[&str] = &[
    "/auth/login",
    "/auth/register",
    "/auth/forgot-password",
    "/auth/reset-password",
];
/// Routes no limit applies to: probes and scrapes come often and from one address.
pub const EXEMPT_ROUTES: &[&str] = &["/health", "/ready", "/metrics"];

/// Which requests a limiter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every route except [`EXEMPT_ROUTES`].
    General,
    /// [`STRICT_ROUTES`] only.
    Strict,
}

impl Scope {
    fn counts(self, path: &str) -> bool {
        let path = match path.len() {
            0 | 1 => path,
            _ => path.trim_end_matches('/'),
        };
        match self {
            Scope::General => !EXEMPT_ROUTES.contains(&path),
            Scope::Strict => STRICT_ROUTES.contains(&path),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Scope::General => "too many requests from this address",
            Scope::Strict => "too many sign-in, sign-up or reset attempts from this address",
        }
    }
}

/// The key of a request: its client's [`ClientAddr::limit_key`], or `None` for requests the
/// limiter does not count (whitelisted, so governor passes them through).
#[derive(Clone)]
pub struct ClientKey {
    scope: Scope,
    trusted: Arc<TrustedProxies>,
}

impl KeyExtractor for ClientKey {
    type Key = Option<IpAddr>;
    type KeyExtractionError = ApiError;

    fn extract(&self, req: &ServiceRequest) -> Result<Self::Key, Self::KeyExtractionError> {
        if !self.scope.counts(req.path()) {
            return Ok(None);
        }
        // No peer address only happens on non-TCP listeners; they share one bucket.
        Ok(Some(
            client_ip(req.request(), &self.trusted)
                .map(|ip| ClientAddr(ip).limit_key())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        // Round up: "retry after 0 seconds" would invite an immediate, refused retry.
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::TooManyRequests {
            detail: self.scope.what().to_owned(),
            retry_after: retry_after.max(1),
        }
        .error_response()
    }

    fn whitelisted_keys(&self) -> Vec<Self::Key> {
        vec![None]
    }
}

/// A limiter's configuration: `per_minute` requests per client, as a burst that refills evenly
/// over the minute.
pub type LimitConfig = GovernorConfig<ClientKey, NoOpMiddleware>;

/// Builds the configuration of one limiter.
pub fn config(
    scope: Scope,
    per_minute: u32,
    trusted: Arc<TrustedProxies>,
) -> anyhow::Result<LimitConfig> {
    let per_minute = per_minute.max(1);
    let period = Duration::from_nanos(60_000_000_000 / u64::from(per_minute));
    let mut builder = GovernorConfigBuilder::default().key_extractor(ClientKey { scope, trusted });
    builder.period(period).burst_size(per_minute);
    builder
        .finish()
        .ok_or_else(|| anyhow::anyhow!("rate limit of {per_minute}/min is not representable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_count_their_routes() {
        assert!(Scope::General.counts("/tasks"));
        assert!(!Scope::General.counts("/health"));
        assert!(Scope::Strict.counts("/auth/login"));
        assert!(Scope::Strict.counts("/auth/login/"));
        assert!(!Scope::Strict.counts("/auth/me"));
    }
}
