//! The gateway module: the public edge of the platform.
//!
//! Mounted with `gateway`, a process puts these checks in front of every route, whatever is
//! behind them: CORS, the rate limits, the client address (forwarding headers believed only from
//! trusted proxies, then removed with every client-sent internal header), `/notifications/send`
//! refused as if it did not exist, and the access-token pre-check on protected routes (401
//! without calling the domain). Behind them, each domain is either mounted in the same process
//! (its routes are served directly, no HTTP hop) or reached through the reverse proxy at its
//! `*_SERVICE_URL` ([`proxy`]), with a timeout and a circuit breaker per upstream. Which domain
//! owns which path prefix, and its URL variable, come from the table of services
//! ([`crate::services`]). The gateway also serves Swagger UI at `/docs` and the OpenAPI document
//! at `/openapi.json`.
//!
//! Compiled in with the `gateway` feature of `tessera-app` (the shell's `gateway` feature turns
//! it on); a build without it carries none of this module nor its dependencies (actix-governor,
//! Swagger UI).

pub mod breaker;
pub mod cors;
pub mod limit;
pub mod path;
pub mod proxy;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Uri;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use prometheus::{IntCounterVec, Opts};
use tokio_util::sync::CancellationToken;

use self::breaker::{Breaker, BreakerSettings};
use self::cors::{CorsPolicy, Verdict};
use self::limit::{LimitConfig, Scope};
use self::proxy::Upstream;
use crate::config::{ConfigError, DEFAULT_BODY_LIMIT, Env};
use crate::error::ApiError;
use crate::module::{BoxFuture, Platform, ReadyCheck};
use crate::net::{ClientAddr, TrustedProxies, client_ip};
use crate::services::{self, Service};
use crate::throttle::{DEFAULT_LOGIN_MAX_DELAY, LOGIN_DELAY_HEADROOM};
use crate::tokens::{AuthUser, Tokens, Verified, bearer};

/// Auth routes that take no access token.
const PUBLIC_AUTH_ROUTES: &[&str] = &[
    "/auth/register",
    "/auth/login",
    "/auth/refresh",
    "/auth/logout",
    "/auth/forgot-password",
    "/auth/reset-password",
];

/// The one route that also takes the token as `?access_token=` (browsers' `EventSource` cannot
/// set headers).
const STREAM_ROUTE: &str = "/notifications/stream";

/// Routes only services call; the gateway answers 404 for them.
const INTERNAL_ROUTES: &[&str] = &["/notifications/send"];

/// Client-sent headers the gateway removes: forwarding headers (it sets its own) and the
/// internal namespaces. Matched as prefixes of the lower-case name.
const STRIPPED_HEADER_PREFIXES: &[&str] = &[
    "x-forwarded-",
    "forwarded",
    "x-real-ip",
    "x-internal-",
    "x-tessera-",
];

/// Client headers in the stripped namespaces that are part of the public API and pass: the web
/// app's session switch (`X-Tessera-Session: cookie`, read by the auth domain). It claims
/// nothing about the client; it only asks for the refresh token in a cookie.
const PUBLIC_TESSERA_HEADERS: &[&str] = &["x-tessera-session"];

/// Gateway tuning from the environment.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Requests per minute per client IP (`RATE_LIMIT_PER_MINUTE`, 100).
    pub rate_per_minute: u32,
    /// Requests per minute per client IP on login, register, forgot- and reset-password
    /// (`AUTH_RATE_LIMIT_PER_MINUTE`, 10).
    pub auth_rate_per_minute: u32,
    /// `CORS_ORIGINS` (`http://localhost:3000`).
    pub cors: CorsPolicy,
    /// `TRUSTED_PROXIES` (none).
    pub trusted: Arc<TrustedProxies>,
    /// Wait for an upstream's response head (`UPSTREAM_TIMEOUT`, 10 s).
    pub upstream_timeout: Duration,
    /// Wait for a connection to an upstream (`UPSTREAM_CONNECT_TIMEOUT`, 1 s).
    pub connect_timeout: Duration,
    /// `BREAKER_FAILURES` (5) and `BREAKER_OPEN_FOR` (5 s).
    pub breaker: BreakerSettings,
    /// The largest request body the edge reads (`BODY_LIMIT_BYTES`, 64 KiB): 413 beyond.
    pub body_limit: usize,
    /// How long the edge waits for a whole request body (`BODY_READ_TIMEOUT`, 10 s): 408 after.
    pub body_timeout: Duration,
}

impl GatewaySettings {
    /// Reads and checks the gateway's variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |name: &str, reason: String| ConfigError::Invalid {
            name: name.to_owned(),
            reason,
        };
        let cors = CorsPolicy::parse(&env.list_or("CORS_ORIGINS", &["http://localhost:3000"]))
            .map_err(|r| invalid("CORS_ORIGINS", r))?;
        let trusted = TrustedProxies::parse(&env.list_or("TRUSTED_PROXIES", &[]))
            .map_err(|r| invalid("TRUSTED_PROXIES", r))?;
        let upstream_timeout = env.duration_or("UPSTREAM_TIMEOUT", Duration::from_secs(10))?;
        let login_delay = env.duration_or("LOGIN_MAX_DELAY", DEFAULT_LOGIN_MAX_DELAY)?;
        // `LOGIN_MAX_DELAY=0s` turns the slowdown off, and with it this constraint.
        if !login_delay.is_zero() && upstream_timeout < login_delay + LOGIN_DELAY_HEADROOM {
            return Err(invalid(
                "UPSTREAM_TIMEOUT",
                format!(
                    "must exceed LOGIN_MAX_DELAY ({} ms) by at least {} s, or slowed logins \
                     time out and open the auth service's circuit breaker",
                    login_delay.as_millis(),
                    LOGIN_DELAY_HEADROOM.as_secs()
                ),
            ));
        }
        Ok(Self {
            rate_per_minute: at_least_one(
                "RATE_LIMIT_PER_MINUTE",
                env.parse_or("RATE_LIMIT_PER_MINUTE", 100)?,
            )?,
            auth_rate_per_minute: at_least_one(
                "AUTH_RATE_LIMIT_PER_MINUTE",
                env.parse_or("AUTH_RATE_LIMIT_PER_MINUTE", 10)?,
            )?,
            cors,
            trusted: Arc::new(trusted),
            upstream_timeout,
            connect_timeout: env.duration_or("UPSTREAM_CONNECT_TIMEOUT", Duration::from_secs(1))?,
            breaker: BreakerSettings {
                failures: at_least_one("BREAKER_FAILURES", env.parse_or("BREAKER_FAILURES", 5)?)?,
                open_for: env.duration_or("BREAKER_OPEN_FOR", Duration::from_secs(5))?,
            },
            body_limit: env.parse_or("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT)?,
            body_timeout: env.positive_duration_or("BODY_READ_TIMEOUT", Duration::from_secs(10))?,
        })
    }
}

fn at_least_one(name: &str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            name: name.to_owned(),
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(value)
}

/// What the gateway's middlewares read from the app data.
#[derive(Clone, Default)]
pub struct EdgeState {
    cors: CorsPolicy,
    trusted: Arc<TrustedProxies>,
    body_limit: usize,
    body_timeout: Duration,
}

/// A built gateway: its checks, its upstreams, its limiters and documents.
pub struct Gateway {
    edge: web::Data<EdgeState>,
    upstreams: Vec<Arc<Upstream>>,
    general: LimitConfig,
    strict: LimitConfig,
    openapi: Option<&'static str>,
}

impl Gateway {
    /// Builds the gateway for a process that mounts the domains named in `local`; every other
    /// routed service of the table ([`services::routed`]) is proxied to its `*_SERVICE_URL`. `openapi` is the document served at
    /// `/openapi.json` (the committed one, so nothing about it is computed at run time).
    pub fn build(
        platform: &Platform,
        local: &[&str],
        openapi: Option<&'static str>,
    ) -> anyhow::Result<Self> {
        let settings = GatewaySettings::from_env(&platform.env)?;
        let failures = IntCounterVec::new(
            Opts::new(
                "gateway_upstream_failures_total",
                "Upstream calls the gateway answered with 503, by upstream and reason",
            ),
            &["upstream", "reason"],
        )?;
        platform
            .metrics
            .registry
            .register(Box::new(failures.clone()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            // Redirects are the client's business: pass them through.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut upstreams = Vec::new();
        for service in services::routed() {
            // Every URL is checked, also of domains mounted here, so a typo fails on any machine.
            let base = service_url(&platform.env, service)?;
            if local.contains(&service.name) {
                continue;
            }
            for route in service.routes {
                upstreams.push(Arc::new(Upstream {
                    name: service.name,
                    prefix: route.prefix,
                    route: route.label,
                    base: base.clone(),
                    breaker: Breaker::new(settings.breaker),
                    timeout: settings.upstream_timeout,
                    client: client.clone(),
                    failures: failures.clone(),
                }));
            }
        }
        let general = limit::config(
            Scope::General,
            settings.rate_per_minute,
            settings.trusted.clone(),
        )?;
        let strict = limit::config(
            Scope::Strict,
            settings.auth_rate_per_minute,
            settings.trusted.clone(),
        )?;
        Ok(Self {
            edge: web::Data::new(EdgeState {
                cors: settings.cors,
                trusted: settings.trusted,
                body_limit: settings.body_limit,
                body_timeout: settings.body_timeout,
            }),
            upstreams,
            general,
            strict,
            openapi,
        })
    }

    /// The domains this gateway reaches over HTTP.
    pub fn upstream_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.upstreams.iter().map(|u| u.name).collect();
        // A service with several prefixes has an upstream (and a breaker) per prefix.
        names.dedup();
        names
    }

    /// `/ready` includes every upstream service's own `/ready`, once per service.
    pub fn ready_checks(&self) -> Vec<ReadyCheck> {
        let mut seen = Vec::new();
        self.upstreams
            .iter()
            .filter(|up| {
                let first = !seen.contains(&up.name);
                seen.push(up.name);
                first
            })
            .map(|up| {
                let up = up.clone();
                ReadyCheck {
                    name: format!("service:{}", up.name),
                    probe: Arc::new(move || {
                        let up = up.clone();
                        Box::pin(async move {
                            let res = up
                                .client
                                .get(format!("{}/ready", up.base))
                                .send()
                                .await
                                .map_err(|e| {
                                    if e.is_connect() {
                                        "not reachable".to_owned()
                                    } else {
                                        // reqwest's message names the URL; no URL leaves here.
                                        e.without_url().to_string()
                                    }
                                })?;
                            if res.status().is_success() {
                                Ok(())
                            } else {
                                Err(format!("answered {}", res.status().as_u16()))
                            }
                        })
                    }),
                }
            })
            .collect()
    }

    /// The shared state the edge middlewares ([`edge`], [`guard`]) look for.
    pub fn edge_state(&self) -> web::Data<EdgeState> {
        self.edge.clone()
    }

    /// The general rate limit's configuration (its state is shared by every worker).
    pub fn general_limit(&self) -> LimitConfig {
        self.general.clone()
    }

    /// The stricter limit on login, register, forgot- and reset-password.
    pub fn strict_limit(&self) -> LimitConfig {
        self.strict.clone()
    }

    /// Adds the proxy routes of the upstreams and the documentation routes.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        if let Some(doc) = self.openapi {
            cfg.route(
                "/openapi.json",
                web::get().to(move || async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(doc)
                }),
            )
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(
                    utoipa_swagger_ui::Config::new(["/openapi.json"])
                        .persist_authorization(true)
                        .try_it_out_enabled(true),
                ),
            );
        }
        for up in &self.upstreams {
            let up = up.clone();
            cfg.service(web::scope(up.prefix).default_service(web::to(
                move |req: actix_web::HttpRequest, payload: web::Payload| {
                    proxy::forward(up.clone(), req, payload)
                },
            )));
        }
    }

    /// Drops the rate-limit state of clients that have not been seen for a while, so memory
    /// does not grow with every address that ever called.
    pub fn housekeeping(&self, shutdown: CancellationToken) -> BoxFuture<()> {
        let limiters = [self.general.limiter(), self.strict.limiter()];
        Box::pin(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {
                        for l in &limiters {
                            l.retain_recent();
                            l.shrink_to_fit();
                        }
                    }
                }
            }
        })
    }
}

/// The base URL of `service` from its URL variable (default: its port on localhost):
/// `http(s)://host[:port]`, stored without a trailing slash.
fn service_url(env: &Env, service: &Service) -> Result<String, ConfigError> {
    let Some(var) = service.url_var else {
        return Err(ConfigError::Invalid {
            name: service.name.to_owned(),
            reason: "the table of services gives it no URL variable".to_owned(),
        });
    };
    let default = service.local_url();
    let raw = env.get(var).unwrap_or(&default);
    let url = url::Url::parse(raw).map_err(|e| ConfigError::Invalid {
        name: var.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            name: var.to_owned(),
            reason: "must be an http(s) URL with a host".to_owned(),
        });
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// How the gateway treats a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (public auth routes, operational routes, docs, unknown paths).
    Open,
    /// An access token is required before anything is called.
    User,
    /// Service-only: not routed, 404.
    Internal,
}

/// Classifies `path` (API.md "Gateway" and the route tables).
pub fn access(path: &str) -> Access {
    let path = path.trim_end_matches('/');
    if INTERNAL_ROUTES.iter().any(|r| at_or_under(path, r)) {
        return Access::Internal;
    }
    if PUBLIC_AUTH_ROUTES.contains(&path) {
        return Access::Open;
    }
    let owned = services::routed()
        .flat_map(|s| s.routes)
        .any(|r| at_or_under(path, r.prefix));
    if owned { Access::User } else { Access::Open }
}

/// Whether `path` is `prefix` or below it (`/tasks` and `/tasks/1`, not `/tasksx`), without
/// building `prefix/` (this runs for every request, for every route prefix).
fn at_or_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Hands the request on to the next layer, in the response shape both gateway layers return.
async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    next.call(req)
        .await
        .map(|r| r.map_into_boxed_body().map_into_left_body())
}

/// The outermost gateway layer (inside telemetry): rewrites the path to its canonical spelling
/// ([`path::canonical`]) so every later layer, the router and the proxy see one and the same
/// path, then CORS. Answers preflights itself and adds the CORS headers to every response for an
/// allowed origin, rate-limit and auth refusals included; every response varies by `Origin`.
/// Passes everything through when the gateway is not mounted.
pub async fn edge(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<EdgeState>>().cloned() else {
        return pass(req, next).await;
    };
    if let Err(err) = canonicalise(&mut req) {
        let mut res = req.into_response(err.error_response());
        CorsPolicy::vary(res.headers_mut());
        return Ok(res.map_into_right_body());
    }
    match state.cors.decide(req.method(), req.headers()) {
        Verdict::Plain => {
            // The answer would differ for an allowed origin, so caches must key on it too.
            let mut res = next.call(req).await?.map_into_boxed_body();
            CorsPolicy::vary(res.headers_mut());
            Ok(res.map_into_left_body())
        }
        Verdict::Allowed(origin, credentials) => {
            let mut res = next.call(req).await?.map_into_boxed_body();
            CorsPolicy::response_headers(origin, credentials, res.headers_mut());
            Ok(res.map_into_left_body())
        }
        Verdict::Preflight(origin, credentials) => {
            let (status, headers) =
                CorsPolicy::preflight_headers(origin, credentials, req.headers());
            let mut res = HttpResponse::new(status);
            *res.headers_mut() = headers;
            Ok(req.into_response(res).map_into_right_body())
        }
        Verdict::Refused => {
            let err = ApiError::Forbidden("this origin may not call the API".to_owned());
            let mut res = req.into_response(err.error_response());
            CorsPolicy::vary(res.headers_mut());
            Ok(res.map_into_right_body())
        }
    }
}

/// Rewrites the request's path to its canonical spelling, for the rest of the stack and the
/// router alike (the way actix's `NormalizePath` does it).
fn canonicalise(req: &mut ServiceRequest) -> Result<(), ApiError> {
    let Some(canonical) = path::canonical(req.path()) else {
        return Ok(());
    };
    let path_and_query = match req.query_string() {
        "" => canonical,
        query => format!("{canonical}?{query}"),
    };
    let malformed = || ApiError::bad_request("the request path is malformed");
    let mut parts = req.head().uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| malformed())?);
    let uri = Uri::from_parts(parts).map_err(|_| malformed())?;
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    Ok(())
}

/// The innermost gateway layer (inside the rate limits): resolves the client address, removes
/// client-sent forwarding and internal headers, hides internal routes, checks the access token
/// of protected routes before any domain (local or remote) is involved, and reads the request
/// body whole within the body limit and deadline, so a slow, oversized or abandoned body is
/// answered here (408, 413, 400) and never occupies a domain or an upstream.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<EdgeState>>().cloned() else {
        return pass(req, next).await;
    };
    if let Some(ip) = client_ip(req.request(), &state.trusted) {
        req.extensions_mut().insert(ClientAddr(ip));
    }
    let mut req = req;
    strip_headers(req.headers_mut());

    let refusal = match access(req.path()) {
        Access::Open => None,
        Access::Internal => Some(ApiError::NotFound("no route matches this path".to_owned())),
        Access::User => match check_token(&req) {
            Ok(user) => {
                req.extensions_mut().insert(Verified(user));
                None
            }
            Err(err) => Some(err),
        },
    };
    let refusal = match refusal {
        Some(err) => Some(err),
        None => buffer_body(&mut req, state.body_limit, state.body_timeout)
            .await
            .err(),
    };
    if let Some(err) = refusal {
        return Ok(req
            .into_response(err.error_response())
            .map_into_right_body());
    }
    pass(req, next).await
}

/// Whether the client announced a body (a length above zero, or chunked).
pub(crate) fn has_body(headers: &header::HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// Reads the request body into memory, at most `limit` bytes within `deadline`, and puts it back
/// as the request's payload. A body is at most [`DEFAULT_BODY_LIMIT`]-sized by design, so holding
/// it is cheap; in exchange a client that stalls, sends too much or disconnects is answered at
/// the edge and can never pass for an upstream fault (which would count towards its circuit
/// breaker) nor hold a domain's worker.
async fn buffer_body(
    req: &mut ServiceRequest,
    limit: usize,
    deadline: Duration,
) -> Result<(), ApiError> {
    if !has_body(req.headers()) {
        return Ok(());
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut payload = req.take_payload();
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    let body =
        tokio::time::timeout(deadline, read)
            .await
            .map_err(|_| ApiError::RequestTimeout {
                secs: deadline.as_secs() + u64::from(deadline.subsec_nanos() > 0),
            })??;
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(futures_util::stream::once(async move { Ok(body) }));
    req.set_payload(Payload::from(stream));
    Ok(())
}

fn strip_headers(headers: &mut header::HeaderMap) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            STRIPPED_HEADER_PREFIXES
                .iter()
                .any(|p| name.as_str().starts_with(p))
                && !PUBLIC_TESSERA_HEADERS.contains(&name.as_str())
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

fn check_token(req: &ServiceRequest) -> Result<AuthUser, ApiError> {
    let tokens = req
        .app_data::<web::Data<Tokens>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("Tokens missing from app data")))?;
    let from_query;
    let token = match bearer(req.request()) {
        Some(t) => t,
        None if req.path() == STREAM_ROUTE => {
            from_query = url::form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned());
            from_query
                .as_deref()
                .ok_or_else(|| ApiError::bad_token("a bearer access token is required"))?
        }
        None => return Err(ApiError::bad_token("a bearer access token is required")),
    };
    AuthUser::from_token(tokens, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_per_the_contract() {
        assert_eq!(access("/notifications/send"), Access::Internal);
        assert_eq!(access("/notifications/send/"), Access::Internal);
        assert_eq!(access("/notifications/send/x"), Access::Internal);
        assert_eq!(access("/notifications/sendx"), Access::User);
        assert_eq!(access("/auth/login"), Access::Open);
        assert_eq!(access("/auth/me"), Access::User);
        assert_eq!(access("/tasks"), Access::User);
        assert_eq!(access("/tasks/abc"), Access::User);
        assert_eq!(access("/tasksx"), Access::Open);
        assert_eq!(access("/notifications/stream"), Access::User);
        assert_eq!(access("/health"), Access::Open);
        assert_eq!(access("/docs/"), Access::Open);
    }

    #[test]
    fn forwarding_and_internal_headers_are_stripped() {
        let mut h = header::HeaderMap::new();
        for name in [
            "x-forwarded-for",
            "forwarded",
            "x-internal-user",
            "x-tessera-client",
            "x-tessera-session",
            "x-request-id",
        ] {
            h.insert(
                HeaderName::from_static(name),
                header::HeaderValue::from_static("1"),
            );
        }
        strip_headers(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, vec!["x-request-id", "x-tessera-session"]);
    }

    #[test]
    fn a_slowed_login_fits_in_the_upstream_timeout() {
        // The defaults leave the headroom; so must any setting the gateway accepts.
        let defaults = GatewaySettings::from_env(&Env::from_pairs::<&str, &str>([]));
        assert!(defaults.is_ok_and(|s| s.upstream_timeout
            >= DEFAULT_LOGIN_MAX_DELAY + LOGIN_DELAY_HEADROOM));
        let env = Env::from_pairs([("UPSTREAM_TIMEOUT", "5s"), ("LOGIN_MAX_DELAY", "5s")]);
        assert!(GatewaySettings::from_env(&env).is_err());
        let env = Env::from_pairs([("LOGIN_MAX_DELAY", "10s")]);
        assert!(GatewaySettings::from_env(&env).is_err());
        let env = Env::from_pairs([("UPSTREAM_TIMEOUT", "3s"), ("LOGIN_MAX_DELAY", "1s")]);
        assert!(GatewaySettings::from_env(&env).is_ok());
        let env = Env::from_pairs([("UPSTREAM_TIMEOUT", "300ms"), ("LOGIN_MAX_DELAY", "0s")]);
        assert!(GatewaySettings::from_env(&env).is_ok());
    }

    #[test]
    fn service_urls_must_be_http() {
        let env = Env::from_pairs([("TASK_SERVICE_URL", "ftp://x")]);
        assert!(service_url(&env, &services::TASK).is_err());
        let env = Env::from_pairs([("TASK_SERVICE_URL", "http://task:4003/")]);
        assert_eq!(
            service_url(&env, &services::TASK).ok().as_deref(),
            Some("http://task:4003")
        );
        let unset = Env::from_pairs::<&str, &str>([]);
        assert_eq!(
            service_url(&unset, &services::TASK).ok().as_deref(),
            Some("http://localhost:4003")
        );
        assert!(service_url(&unset, &services::WORKER).is_err());
    }
}
