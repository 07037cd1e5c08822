//! The reverse proxy of the split deployment: one [`Upstream`] per domain that is not mounted in
//! this process, reached over pooled keep-alive connections.
//!
//! The request body arrives here already read whole by the gateway's guard (within the body
//! limit and read deadline), so an upstream call never waits for a client: a slow or vanished
//! client is answered 408/400 at the edge and never counts as an upstream failure. The response
//! body (a 5 MB list or an endless SSE stream alike) streams back chunk by chunk with the
//! upstream's `Content-Length` when it gave one. The timeout bounds the wait for the upstream's
//! response head, not the life of a stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use prometheus::IntCounterVec;

use super::breaker::{Breaker, Phase};
use super::has_body;
use crate::error::ApiError;
use crate::net::{CLIENT_HOP_HEADER, ClientAddr};
use crate::telemetry::{REQUEST_ID, RequestId, RouteLabel};
use crate::tokens::Tokens;

/// Headers that describe one connection, not the message (RFC 9110 section 7.6.1); never
/// forwarded in either direction, nor is any header a message's `Connection` header names.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// One domain reached over HTTP.
pub struct Upstream {
    /// The domain (`task`), for messages and metrics.
    pub name: &'static str,
    /// The path prefix it owns (`/tasks`).
    pub prefix: &'static str,
    /// The `route` label of its requests in the gateway's metrics (`/tasks/*`).
    pub route: &'static str,
    /// Its base URL without a trailing slash (`http://task:4003`).
    pub base: String,
    /// Its circuit breaker.
    pub breaker: Breaker,
    /// How long to wait for its response head.
    pub timeout: Duration,
    /// The shared, pooled HTTP client.
    pub client: reqwest::Client,
    /// `gateway_upstream_failures_total{upstream, reason}`.
    pub failures: IntCounterVec,
}

impl Upstream {
    fn unavailable(&self, retry_after: Duration) -> ApiError {
        ApiError::Unavailable {
            detail: format!("the {} service is unavailable", self.name),
            retry_after: Some(retry_after.as_secs().max(1)),
        }
    }

    fn failed(&self, reason: &str, request_id: &str) -> ApiError {
        self.failures.with_label_values(&[self.name, reason]).inc();
        let opened = self.breaker.failure(Instant::now());
        tracing::warn!(
            upstream = self.name,
            reason,
            request_id,
            breaker_opened = opened,
            "upstream call failed"
        );
        self.unavailable(Duration::from_secs(1))
    }
}

/// Forwards one request to `upstream` and streams its answer back.
pub async fn forward(
    upstream: Arc<Upstream>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(RouteLabel(upstream.route));
    let url = upstream_url(&upstream.base, &req)?;
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::MethodNotAllowed)?;
    let body = match has_body(req.headers()) {
        true => Some(read_body(payload).await?),
        false => None,
    };
    if let Err(wait) = upstream.breaker.admit(Instant::now()) {
        upstream
            .failures
            .with_label_values(&[upstream.name, "breaker_open"])
            .inc();
        return Err(upstream.unavailable(wait));
    }

    let mut outbound = upstream.client.request(method, url);
    outbound = outbound.headers(request_headers(&req, &request_id));
    if let Some(body) = body {
        outbound = outbound.body(body);
    }

    let sent = tokio::time::timeout(upstream.timeout, outbound.send()).await;
    let response = match sent {
        Err(_) => return Err(upstream.failed("timeout", &request_id.0)),
        Ok(Err(e)) if e.is_connect() => return Err(upstream.failed("connect", &request_id.0)),
        // A request the client could not even build says nothing about the upstream.
        Ok(Err(e)) if e.is_builder() => {
            return Err(ApiError::Internal(
                anyhow::Error::new(e.without_url()).context("building the upstream request"),
            ));
        }
        Ok(Err(e)) => {
            // reqwest's message names the URL, and `?access_token=` lives in its query.
            tracing::warn!(
                upstream = upstream.name,
                error = %e.without_url(),
                "upstream call failed"
            );
            return Err(upstream.failed("request", &request_id.0));
        }
        Ok(Ok(r)) => r,
    };
    if upstream.breaker.phase() != Phase::Closed {
        tracing::info!(
            upstream = upstream.name,
            "upstream answers again; breaker closed"
        );
    }
    upstream.breaker.success();
    Ok(stream_back(response))
}

/// The upstream URL of `req`: its (canonical) path and query after `base`. The URL parser has
/// its own idea of paths (it resolves `..`, reads a backslash as a slash), so a path it would
/// change is refused rather than sent somewhere the gateway's rules did not look at.
fn upstream_url(base: &str, req: &HttpRequest) -> Result<reqwest::Url, ApiError> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let not_found = || ApiError::NotFound("no route matches this path".to_owned());
    let url = reqwest::Url::parse(&format!("{base}{path}")).map_err(|_| not_found())?;
    let base_path = reqwest::Url::parse(base)
        .map(|b| b.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    if url.path() != format!("{base_path}{}", req.path()) {
        return Err(not_found());
    }
    Ok(url)
}

/// The request body, which the gateway's guard has already read into memory (so this neither
/// waits for the client nor reads more than the body limit).
async fn read_body(mut payload: web::Payload) -> Result<bytes::Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The header names a message's `Connection` header lists (lower-case): hop-by-hop for that
/// connection only (RFC 9110 section 7.6.1).
fn connection_named<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether a header is for this hop only: a fixed hop-by-hop header or one `Connection` names.
fn hop_only(name: &str, named: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || named.iter().any(|n| n == name)
}

/// The client's headers minus hop-by-hop ones and `Host`, plus the forwarding headers the
/// gateway vouches for and the client-hop token through which the services learn the client
/// address. Client-sent forwarding and internal headers were already removed by the gateway's
/// guard.
fn request_headers(req: &HttpRequest, request_id: &RequestId) -> reqwest::header::HeaderMap {
    let mut out = reqwest::header::HeaderMap::new();
    let named = connection_named(
        req.headers()
            .get_all(header::CONNECTION)
            .map(HeaderValue::as_bytes),
    );
    for (name, value) in req.headers() {
        if hop_only(name.as_str(), &named)
            || name == header::HOST
            || name == REQUEST_ID
            || crate::trace::is_trace_header(name.as_str())
        {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    let client = req
        .extensions()
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| req.peer_addr().map(|a| a.ip()));
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&value) {
            out.insert(name, v);
        }
    };
    if let Some(ip) = client {
        set("x-forwarded-for", ip.to_string());
        // X-Forwarded-For is believed only from TRUSTED_PROXIES, which would tie the services to
        // the gateway's network address; the signed token needs no network configuration.
        let hop = req
            .app_data::<web::Data<Tokens>>()
            .map(|t| t.issue_client_hop(ip));
        match hop {
            Some(Ok(token)) => set(CLIENT_HOP_HEADER, token),
            Some(Err(e)) => tracing::warn!(error = %e, "client-hop token not issued"),
            None => tracing::warn!("Tokens missing from app data; no client-hop token"),
        }
    }
    set(
        "x-forwarded-proto",
        req.connection_info().scheme().to_owned(),
    );
    set("x-forwarded-host", req.connection_info().host().to_owned());
    set("x-request-id", request_id.0.clone());
    // The gateway's span is the upstream's parent (the client's own context, if any, is this
    // span's parent already).
    for (name, value) in crate::trace::outgoing() {
        set(name, value);
    }
    out
}

/// The upstream's answer as the gateway's: status, end-to-end headers, and the body streamed.
fn stream_back(response: reqwest::Response) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    let length = response.content_length();
    let named = connection_named(
        response
            .headers()
            .get_all(reqwest::header::CONNECTION)
            .iter()
            .map(|v| v.as_bytes()),
    );
    for (name, value) in response.headers() {
        if hop_only(name.as_str(), &named) || name == reqwest::header::CONTENT_LENGTH {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((n, v));
        }
    }
    let body = response.bytes_stream();
    match length {
        // Known length: passed on as is, so the client sees the same Content-Length.
        Some(n) => builder.body(SizedStream::new(n, body)),
        None => builder.body(BodyStream::new(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_named_in_connection_are_hop_only() {
        let named =
            connection_named([&b"close, X-Secret-Hop"[..], &b" keep-alive ,"[..]].into_iter());
        assert_eq!(named, vec!["close", "x-secret-hop", "keep-alive"]);
        assert!(hop_only("x-secret-hop", &named));
        assert!(hop_only("transfer-encoding", &[]));
        assert!(!hop_only("authorization", &named));
    }
}
