//! HTTP calls from one Tessera process to another's internal routes.
//!
//! In the split deployment a domain that needs another domain's data or action calls it over
//! HTTP (DESIGN.md, "The two deployments"); this module is the one place that knows how. A
//! [`ServiceClient`] is bound to one called service ([`Endpoint`]): it presents a service token
//! naming the caller (`Authorization: Bearer`, cached until shortly before it expires), forwards
//! the request id (`X-Request-Id`) so the call shows up under the same id in both processes'
//! logs, bounds every call with a timeout, and keeps pooled keep-alive connections.
//!
//! A domain never uses [`ServiceClient`] directly in its use cases: it calls a client trait
//! ([`crate::domain_clients`]) whose HTTP adapter is built on it. [`ClientError`] is the error of
//! those traits in both adapters, so a caller handles one type and decides with
//! [`ClientError::is_retryable`] (or the conversions into [`JobError`] and [`ApiError`]).
//!
//! Bodies and tokens are never logged, and error messages carry no body content: a failed call
//! logs at `debug` the service, method, path, status and duration only.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_contracts::problem::Problem;

use crate::config::{ConfigError, Env};
use crate::error::ApiError;
use crate::queue::JobError;
use crate::telemetry::{REQUEST_ID, RequestId};
use crate::tokens::{SERVICE_TOKEN_TTL, Tokens};

/// How long a call may take, connect to last body byte, unless `SERVICE_CALL_TIMEOUT` says
/// otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The variable that sets the timeout of every internal call.
pub const TIMEOUT_VAR: &str = "SERVICE_CALL_TIMEOUT";

/// A cached service token is replaced this long before it expires, so a token is never sent
/// with less than a minute to live (clock skew between hosts, a slow call).
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// The largest response body read. Internal answers are small; a larger body means something
/// other than the expected service answered, and reading it all would only cost memory.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where one internal service lives and how long a call to it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The called service's name (`notification`), for logs and error messages.
    pub service: &'static str,
    /// Its base URL without a trailing slash (`http://localhost:4004`); paths are appended.
    base_url: String,
    /// The bound on one call, connect to last body byte.
    pub timeout: Duration,
}

impl Endpoint {
    /// An endpoint at `base_url`, which must be an absolute `http`/`https` URL without
    /// credentials, query or fragment (it may have a path prefix). `Err` says what is wrong.
    pub fn new(service: &'static str, base_url: &str, timeout: Duration) -> Result<Self, String> {
        let url = reqwest::Url::parse(base_url.trim())
            .map_err(|e| format!("`{base_url}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http:// or https:// URL".to_owned());
        }
        if url.host_str().is_none() {
            return Err("must name a host".to_owned());
        }
        // A query would be mangled by appending paths; credentials have no business in config
        // that ends up in debug output.
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".to_owned());
        }
        if timeout.is_zero() {
            return Err("the timeout must be positive".to_owned());
        }
        Ok(Self {
            service,
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// The endpoint of `service` from the environment: its URL from `url_var` (or
    /// `default_url`), the timeout from [`TIMEOUT_VAR`] (or [`DEFAULT_TIMEOUT`]).
    pub fn from_env(
        env: &Env,
        service: &'static str,
        url_var: &str,
        default_url: &str,
    ) -> Result<Self, ConfigError> {
        let timeout = env.positive_duration_or(TIMEOUT_VAR, DEFAULT_TIMEOUT)?;
        let url = env.get(url_var).unwrap_or(default_url);
        Self::new(service, url, timeout).map_err(|reason| ConfigError::Invalid {
            name: url_var.to_owned(),
            reason,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// Why an internal call failed. The variants are what a caller acts on, not how it failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service could not answer now: connection refused or reset, timeout, any 5xx, or
    /// 429/408. Retrying later may succeed.
    #[error("the {service} service is unavailable: {reason}")]
    Unavailable {
        /// The called service.
        service: &'static str,
        /// The status it answered, when it answered at all.
        status: Option<u16>,
        /// How long the service asked us to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
        /// What happened, in a few words (`no answer within 5000 ms`, `connection failed`,
        /// `answered 503`).
        reason: String,
        /// The transport error, when there was one.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The service refused the call with a 4xx (other than 408/429) or answered a redirect:
    /// the same call will be refused again.
    #[error("the {service} service refused the call with {status}{}", summary(problem.as_deref()))]
    Rejected {
        /// The called service.
        service: &'static str,
        /// The status it answered.
        status: u16,
        /// Its problem+json body, when it sent one (boxed: it is large, and errors travel by
        /// value through every `?`).
        problem: Option<Box<Problem>>,
    },
    /// A 2xx whose body is not the expected JSON (a contract mismatch, e.g. during a rollout).
    #[error("the {service} service answered {status} with an unexpected body: {reason}")]
    Decode {
        /// The called service.
        service: &'static str,
        /// The status it answered.
        status: u16,
        /// Where decoding failed; never the body's content.
        reason: String,
    },
    /// The call could not be prepared (a service token or the body could not be encoded).
    /// A bug on the calling side; nothing was sent.
    #[error("the call to the {service} service could not be prepared")]
    Build {
        /// The service that would have been called.
        service: &'static str,
        /// What failed.
        #[source]
        source: anyhow::Error,
    },
}

/// `: <problem type> (<fields>)` for a rejected call's message: enough to tell a validation
/// error from an auth error in a dead-letter record, without the body's free text.
fn summary(problem: Option<&Problem>) -> String {
    let Some(p) = problem else {
        return String::new();
    };
    let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
    if fields.is_empty() {
        format!(": {}", p.kind)
    } else {
        format!(": {} (fields: {})", p.kind, fields.join(", "))
    }
}

impl ClientError {
    /// The called service.
    pub fn service(&self) -> &'static str {
        match self {
            ClientError::Unavailable { service, .. }
            | ClientError::Rejected { service, .. }
            | ClientError::Decode { service, .. }
            | ClientError::Build { service, .. } => service,
        }
    }

    /// The status the service answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Unavailable { status, .. } => *status,
            ClientError::Rejected { status, .. } | ClientError::Decode { status, .. } => {
                Some(*status)
            }
            ClientError::Build { .. } => None,
        }
    }

    /// How long the service asked the caller to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the same call may succeed later.
    ///
    /// A [`ClientError::Decode`] counts as retryable: a 2xx with a body we cannot read most
    /// likely comes from a service mid-rollout, and the next attempt may reach a matching one.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ClientError::Unavailable { .. } | ClientError::Decode { .. }
        )
    }
}

/// For job handlers: an unavailable service defers the job without spending an attempt (an
/// outage of any length must not dead-letter it), a body we cannot decode retries (an attempt),
/// the rest dead-letter at once (a 4xx will be refused again on every attempt). `?` on a
/// [`ClientError`] in a handler does this.
///
/// `Retry-After` does not reach the queue (a [`JobError`] carries no delay); the queue's own
/// outage backoff applies.
impl From<ClientError> for JobError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Unavailable { .. } => JobError::Unavailable(err.into()),
            ClientError::Decode { .. } => JobError::Retry(err.into()),
            ClientError::Rejected { .. } | ClientError::Build { .. } => {
                JobError::Permanent(err.into())
            }
        }
    }
}

/// For HTTP handlers that call another service while serving a request:
///
/// - `Unavailable` is a 503 naming the service (`the notification service is unavailable`),
///   with its `Retry-After` or 5 s: our client can retry the whole request.
/// - `Rejected`, `Decode` and `Build` are a 500. A 4xx from an internal call means we sent a
///   call the other service considers wrong (bad token configuration, a body that breaks the
///   contract), which is our bug and not the client's; passing the 4xx through would blame the
///   client, and a 502 would blame an upstream the client does not know about. The cause is
///   logged once, under the request id, by [`ApiError`]'s response.
///
/// A use case that expects a particular 4xx (a 404 for an unknown id, say) matches
/// [`ClientError::Rejected`] itself before converting.
impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Unavailable {
                service,
                retry_after,
                ..
            } => ApiError::Unavailable {
                detail: format!("the {service} service is unavailable"),
                retry_after: Some(retry_after.map_or(5, |d| d.as_secs().max(1))),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

/// A service token and the moment it should be replaced.
struct CachedToken {
    value: String,
    renew_at: Instant,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    caller: String,
    tokens: Tokens,
    token: Mutex<Option<CachedToken>>,
}

/// An HTTP client for one internal service. Cheap to clone (clones share connections and the
/// cached token).
#[derive(Clone)]
pub struct ServiceClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for ServiceClient {
    // The cached token is a credential: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("endpoint", &self.inner.endpoint)
            .field("caller", &self.inner.caller)
            .finish_non_exhaustive()
    }
}

impl ServiceClient {
    /// A client calling `endpoint` as `caller` (the calling service's name, which becomes the
    /// token's `sub`), signing service tokens with `tokens`.
    pub fn new(endpoint: Endpoint, caller: &str, tokens: Tokens) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            // A redirect from an internal route is a misconfiguration; following it could hand
            // the service token to another host.
            .redirect(reqwest::redirect::Policy::none())
            // Internal calls go straight to the other service, never through an HTTP(S)_PROXY
            // meant for outbound traffic.
            .no_proxy()
            .user_agent(format!("tessera-{caller}/{}", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                caller: caller.to_owned(),
                tokens,
                token: Mutex::new(None),
            }),
        })
    }

    /// The endpoint this client calls.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The calling service's name (the token's `sub`).
    pub fn caller(&self) -> &str {
        &self.inner.caller
    }

    /// `POST`s `body` as JSON to `path` and decodes a 2xx answer as `Res`.
    ///
    /// `request_id` is forwarded as `X-Request-Id` when it is a valid one (anything else would
    /// be replaced by the other side anyway).
    pub async fn post_json<Req, Res>(
        &self,
        path: &str,
        body: &Req,
        request_id: Option<&str>,
    ) -> Result<Res, ClientError>
    where
        Req: Serialize + ?Sized,
        Res: DeserializeOwned,
    {
        let (status, bytes) = self
            .execute(Method::POST, path, Some(body), request_id)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            service: self.inner.endpoint.service,
            status: status.as_u16(),
            reason: decode_reason(&e),
        })
    }

    /// `POST`s `body` as JSON to `path`, expecting any 2xx (typically 204); the answer's body,
    /// if any, is ignored.
    pub async fn post_no_content<Req>(
        &self,
        path: &str,
        body: &Req,
        request_id: Option<&str>,
    ) -> Result<(), ClientError>
    where
        Req: Serialize + ?Sized,
    {
        self.execute(Method::POST, path, Some(body), request_id)
            .await
            .map(|_| ())
    }

    /// A service token with at least [`TOKEN_RENEW_MARGIN`] to live, minted when the cached one
    /// is missing or about to expire.
    fn token(&self) -> Result<String, ClientError> {
        // The lock only guards a clone or one HMAC signature, never an await; a poisoned lock
        // still holds a usable (or empty) cache.
        let mut slot = self
            .inner
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some(cached) = slot.as_ref().filter(|c| now < c.renew_at) {
            return Ok(cached.value.clone());
        }
        let value = self
            .inner
            .tokens
            .issue_service(&self.inner.caller)
            .map_err(|source| ClientError::Build {
                service: self.inner.endpoint.service,
                source,
            })?;
        *slot = Some(CachedToken {
            value: value.clone(),
            renew_at: now + SERVICE_TOKEN_TTL.saturating_sub(TOKEN_RENEW_MARGIN),
        });
        Ok(value)
    }

    /// Sends one call and classifies its outcome; `Ok` only for a 2xx, with its body.
    async fn execute<Req>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Req>,
        request_id: Option<&str>,
    ) -> Result<(StatusCode, Vec<u8>), ClientError>
    where
        Req: Serialize + ?Sized,
    {
        let service = self.inner.endpoint.service;
        let build = |source: anyhow::Error| ClientError::Build { service, source };

        let url = if path.starts_with('/') {
            format!("{}{path}", self.inner.endpoint.base_url)
        } else {
            format!("{}/{path}", self.inner.endpoint.base_url)
        };
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            // reqwest marks this header sensitive, so it is redacted from its own debug output.
            .bearer_auth(self.token()?)
            .header(ACCEPT, "application/json, application/problem+json");
        if let Some(id) = request_id.and_then(RequestId::accept) {
            request = request.header(REQUEST_ID.as_str(), id.0);
        }
        // The caller's trace (the job's span, in the worker) continues in the called service.
        for (name, value) in crate::trace::outgoing() {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| build(e.into()))?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }

        let started = Instant::now();
        let outcome = async {
            let mut response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_limited(&mut response).await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

        let (status, headers, body) = match outcome {
            Ok(answer) => answer,
            Err(e) => {
                let reason = transport_reason(&e, self.inner.endpoint.timeout);
                tracing::debug!(
                    service,
                    method = %method,
                    path,
                    duration_ms,
                    error = %reason,
                    "service call failed"
                );
                return Err(ClientError::Unavailable {
                    service,
                    status: None,
                    retry_after: None,
                    reason,
                    // The URL is ours and harmless, but drop it so no error ever carries one.
                    source: Some(e.without_url()),
                });
            }
        };
        tracing::debug!(
            service,
            method = %method,
            path,
            status = status.as_u16(),
            duration_ms,
            "service call"
        );

        match classify(status) {
            Outcome::Success => match body {
                Some(bytes) => Ok((status, bytes)),
                None => Err(ClientError::Decode {
                    service,
                    status: status.as_u16(),
                    reason: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                }),
            },
            Outcome::Transient => Err(ClientError::Unavailable {
                service,
                status: Some(status.as_u16()),
                retry_after: retry_after(&headers),
                reason: format!("answered {}", status.as_u16()),
                source: None,
            }),
            Outcome::Refused => Err(ClientError::Rejected {
                service,
                status: status.as_u16(),
                // Lenient: any body that parses as a problem counts, whatever its media type.
                problem: body
                    .and_then(|b| serde_json::from_slice::<Problem>(&b).ok())
                    .map(Box::new),
            }),
        }
    }
}

/// What a status means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 2xx.
    Success,
    /// 5xx, 429 (rate limited) and 408 (the server gave up waiting for us): try again later.
    Transient,
    /// Every other status (4xx, and the 1xx/3xx an internal route never answers).
    Refused,
}

fn classify(status: StatusCode) -> Outcome {
    if status.is_success() {
        Outcome::Success
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Outcome::Transient
    } else {
        Outcome::Refused
    }
}

/// Reads the body up to [`MAX_BODY_BYTES`]; `None` when it is larger.
async fn read_limited(response: &mut reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 allows both).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// A few words on a transport failure, for the error message and the debug line.
fn transport_reason(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else if err.is_body() || err.is_decode() {
        "the answer was cut off".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

/// Where a body failed to decode, without quoting it: serde's messages can echo values
/// (`invalid type: string "..."`), and bodies can hold personal data. A missing field names only
/// our own field, so that message is kept.
fn decode_reason(err: &serde_json::Error) -> String {
    let msg = err.to_string();
    if msg.starts_with("missing field") {
        return msg;
    }
    let kind = match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "truncated or empty JSON",
    };
    format!("{kind} at line {} column {}", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use actix_web::ResponseError;
    use reqwest::header::HeaderValue;
    use tessera_contracts::problem::FieldError;

    use super::*;

    #[test]
    fn statuses_split_into_success_transient_and_refused() {
        assert_eq!(classify(StatusCode::OK), Outcome::Success);
        assert_eq!(classify(StatusCode::CREATED), Outcome::Success);
        assert_eq!(classify(StatusCode::NO_CONTENT), Outcome::Success);
        for s in [500, 502, 503, 504, 429, 408] {
            assert_eq!(
                classify(StatusCode::from_u16(s).unwrap()),
                Outcome::Transient,
                "{s}"
            );
        }
        for s in [301, 400, 401, 403, 404, 409, 413, 415] {
            assert_eq!(
                classify(StatusCode::from_u16(s).unwrap()),
                Outcome::Refused,
                "{s}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&soon).unwrap());
        let secs = retry_after(&h).unwrap().as_secs();
        assert!((115..=120).contains(&secs), "{secs}");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only the error matters")]
        struct Answer {
            id: u32,
        }
        let err = serde_json::from_str::<Answer>(r#"{"id":"ada@example.com"}"#).unwrap_err();
        let reason = decode_reason(&err);
        assert!(!reason.contains("ada"), "{reason}");
        assert!(reason.starts_with("JSON of the wrong shape"), "{reason}");
        let err = serde_json::from_str::<Answer>("{}").unwrap_err();
        assert!(decode_reason(&err).contains("missing field `id`"));
        let err = serde_json::from_str::<Answer>("<html>").unwrap_err();
        assert!(decode_reason(&err).starts_with("not JSON"));
    }

    #[test]
    fn endpoints_refuse_unusable_urls() {
        let ok = Endpoint::new("notification", "http://notification:4004/", DEFAULT_TIMEOUT);
        assert_eq!(
            ok.map(|e| e.base_url).as_deref(),
            Ok("http://notification:4004")
        );
        let prefixed = Endpoint::new("n", "https://internal.example/api/", DEFAULT_TIMEOUT);
        assert_eq!(
            prefixed.map(|e| e.base_url).as_deref(),
            Ok("https://internal.example/api")
        );
        for bad in [
            "localhost:4004",
            "ftp://host",
            "http://host?x=1",
            "http://user:pw@host",
            "nonsense",
        ] {
            assert!(Endpoint::new("n", bad, DEFAULT_TIMEOUT).is_err(), "{bad}");
        }
        assert!(Endpoint::new("n", "http://host", Duration::ZERO).is_err());
    }

    #[test]
    fn endpoints_read_the_url_and_timeout_variables() {
        let env = Env::from_pairs([("AUTH_SERVICE_URL", "http://x:1"), (TIMEOUT_VAR, "250ms")]);
        let e = Endpoint::from_env(&env, "x", "AUTH_SERVICE_URL", "http://default:2").unwrap();
        assert_eq!(
            (e.base_url(), e.timeout),
            ("http://x:1", Duration::from_millis(250))
        );
        let e = Endpoint::from_env(&Env::default(), "x", "AUTH_SERVICE_URL", "http://default:2")
            .unwrap();
        assert_eq!(
            (e.base_url(), e.timeout),
            ("http://default:2", DEFAULT_TIMEOUT)
        );
        let err = Endpoint::from_env(
            &Env::from_pairs([("AUTH_SERVICE_URL", "x:1")]),
            "x",
            "AUTH_SERVICE_URL",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("AUTH_SERVICE_URL is invalid"), "{err}");
        let err = Endpoint::from_env(
            &Env::from_pairs([(TIMEOUT_VAR, "0")]),
            "x",
            "AUTH_SERVICE_URL",
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("SERVICE_CALL_TIMEOUT is invalid"), "{err}");
    }

    fn unavailable(retry_after: Option<Duration>) -> ClientError {
        ClientError::Unavailable {
            service: "notification",
            status: Some(503),
            retry_after,
            reason: "answered 503".to_owned(),
            source: None,
        }
    }

    fn rejected() -> ClientError {
        ClientError::Rejected {
            service: "notification",
            status: 400,
            problem: Some(Box::new(Problem {
                kind: "urn:tessera:problem:validation".to_owned(),
                title: "Request validation failed".to_owned(),
                status: 400,
                detail: Some("message must not be empty: 'secret text'".to_owned()),
                instance: None,
                request_id: None,
                errors: vec![FieldError {
                    field: "message".to_owned(),
                    message: "must not be empty".to_owned(),
                }],
            })),
        }
    }

    #[test]
    fn unavailable_is_a_503_naming_the_service_and_a_retry() {
        let api = ApiError::from(unavailable(Some(Duration::from_secs(30))));
        assert_eq!(api.status_code().as_u16(), 503);
        assert_eq!(
            api.problem().detail.as_deref(),
            Some("the notification service is unavailable")
        );
        assert!(matches!(
            api,
            ApiError::Unavailable {
                retry_after: Some(30),
                ..
            }
        ));
        assert!(matches!(
            ApiError::from(unavailable(None)),
            ApiError::Unavailable {
                retry_after: Some(5),
                ..
            }
        ));
        assert!(matches!(
            JobError::from(unavailable(None)),
            JobError::Unavailable(_)
        ));
    }

    #[test]
    fn rejected_is_our_bug_a_500_and_a_permanent_job_failure() {
        let err = rejected();
        let message = err.to_string();
        assert_eq!(
            message,
            "the notification service refused the call with 400: \
             urn:tessera:problem:validation (fields: message)"
        );
        // The problem's free text stays out of messages and logs.
        assert!(!message.contains("secret"), "{message}");
        assert_eq!(ApiError::from(rejected()).status_code().as_u16(), 500);
        assert!(matches!(JobError::from(rejected()), JobError::Permanent(_)));
    }

    #[test]
    fn a_decode_error_retries_but_is_a_500_for_a_request() {
        let err = || ClientError::Decode {
            service: "notification",
            status: 200,
            reason: "not JSON at line 1 column 1".to_owned(),
        };
        assert!(matches!(JobError::from(err()), JobError::Retry(_)));
        assert_eq!(ApiError::from(err()).status_code().as_u16(), 500);
    }
}
