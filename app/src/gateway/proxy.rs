//! The reverse proxy of the split deployment: one [`Upstream`] per domain that is not mounted in
//! this process, reached over pooled keep-alive connections.
//!
//! Bodies stream both ways: the request body is forwarded chunk by chunk as the client sends it,
//! and the response body (a 5 MB list or an endless SSE stream alike) is passed on chunk by chunk
//! with the upstream's `Content-Length` when it gave one. The timeout bounds the wait for the
//! upstream's response head, not the life of a stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;
use prometheus::IntCounterVec;

use super::breaker::{Breaker, Phase};
use crate::error::ApiError;
use crate::net::ClientAddr;
use crate::telemetry::{REQUEST_ID, RequestId, RouteLabel};

/// Headers that describe one connection, not the message (RFC 9110 section 7.6.1); never
/// forwarded in either direction.
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
    if let Err(wait) = upstream.breaker.admit(Instant::now()) {
        upstream
            .failures
            .with_label_values(&[upstream.name, "breaker_open"])
            .inc();
        return Err(upstream.unavailable(wait));
    }

    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{}", upstream.base, path);
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::MethodNotAllowed)?;
    let mut outbound = upstream.client.request(method, url);
    outbound = outbound.headers(request_headers(&req, &request_id));
    if has_body(req.headers()) {
        outbound = outbound.body(reqwest::Body::wrap_stream(relay_body(payload)));
    }

    let sent = tokio::time::timeout(upstream.timeout, outbound.send()).await;
    let response = match sent {
        Err(_) => return Err(upstream.failed("timeout", &request_id.0)),
        Ok(Err(e)) if e.is_connect() => return Err(upstream.failed("connect", &request_id.0)),
        Ok(Err(e)) => {
            tracing::warn!(upstream = upstream.name, error = %e, "upstream call failed");
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

/// Whether the client sends a body (a length above zero, or chunked).
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// The client's headers minus hop-by-hop ones and `Host`, plus the forwarding headers the
/// gateway vouches for. Client-sent forwarding and internal headers were already removed by the
/// gateway's guard.
fn request_headers(req: &HttpRequest, request_id: &RequestId) -> reqwest::header::HeaderMap {
    let mut out = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) || name == header::HOST || name == REQUEST_ID {
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
    }
    set(
        "x-forwarded-proto",
        req.connection_info().scheme().to_owned(),
    );
    set("x-forwarded-host", req.connection_info().host().to_owned());
    set("x-request-id", request_id.0.clone());
    out
}

/// The client's body as a `Send` stream for reqwest: actix's payload lives on this worker's
/// thread, so a local task reads it and hands the chunks over a small channel (back-pressure:
/// the client is read no faster than the upstream takes).
fn relay_body(
    mut payload: web::Payload,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// The upstream's answer as the gateway's: status, end-to-end headers, and the body streamed.
fn stream_back(response: reqwest::Response) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    let length = response.content_length();
    for (name, value) in response.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) || name == reqwest::header::CONTENT_LENGTH {
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
