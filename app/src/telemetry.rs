//! Logs, request ids and HTTP metrics.
//!
//! One middleware wraps every request: it accepts or generates the `X-Request-Id`, opens the
//! request's root span, turns any error (including actix's own bare 404/405) into problem+json
//! with `instance` and `requestId`, records the Prometheus series, and writes one log line per
//! request. Only the path is logged, never the query string (`?access_token=` lives there).
//! The request's span continues an incoming W3C `traceparent` and carries its `trace_id` into
//! every log line inside it ([`crate::trace`]).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use tessera_contracts::problem::{PROBLEM_JSON, Problem};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::{problem_for_status, problem_response};

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global tracing subscriber, without traces. `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    init(format, None);
}

/// Installs the global tracing subscriber: log lines in `format`, filtered by `RUST_LOG`
/// (default `info`), and, given a tracer, the bridge that turns spans into OpenTelemetry spans
/// ([`crate::trace`]).
pub fn init(format: LogFormat, tracer: Option<opentelemetry_sdk::trace::SdkTracer>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_target(true);
    let fmt = match format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => fmt.boxed(),
    };
    // Log lines inside a span also become its span events, so an exported trace shows them.
    let traces = tracer.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    // A second init (tests embedding the server) is harmless; ignore the error.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(traces)
        .with(filter)
        .try_init();
}

/// The id of the current request, in its extensions; also what outgoing calls and jobs carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A client's id when it is 1-64 chars of `[A-Za-z0-9._-]`, else `None`.
    pub fn accept(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| RequestId(raw.to_owned()))
    }

    /// A fresh random id (from a thread-local generator seeded once: uuid's `fast-rng`, where
    /// the default asks the kernel for every id, a system call per request).
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::new_v4().to_string())
    }
}

impl actix_web::FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        std::future::ready(Ok(id))
    }
}

/// The `route` label of a request that no route pattern names (the gateway's proxied
/// requests: `/tasks/*`), set in the request's extensions by the handler.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// The Prometheus registry of one process and the HTTP series in it.
#[derive(Clone)]
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// Database pool connections by `domain` and `state` (`idle`, `in_use`), refreshed on scrape.
    pub db_pool: IntGaugeVec,
}

impl Metrics {
    /// A new registry with the HTTP and pool series registered.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method, route pattern and status",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )?;
        let db_pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections by domain and state",
            ),
            &["domain", "state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(db_pool.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            db_pool,
        })
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}

/// The per-request middleware; mount with `actix_web::middleware::from_fn(telemetry)` as the
/// outermost layer. Needs `web::Data<Metrics>` in the app data.
pub async fn telemetry(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::accept)
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(request_id.clone());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let path = req.path().to_owned();

    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id.0,
        trace_id = tracing::field::Empty,
        http.method = %method,
        http.path = %path,
        otel.kind = "server",
    );
    // Continues the caller's trace (the gateway's, or the client's at the edge) when it sent a
    // valid `traceparent`; the context is used as the span's parent and for nothing else.
    crate::trace::continue_trace(&span, |name| {
        req.headers().get(name).and_then(|v| v.to_str().ok())
    });
    let mut res = match next.call(req).instrument(span.clone()).await {
        Ok(res) => res.map_into_boxed_body(),
        // An inner middleware failed and took the request with it: answer through the error
        // path with a response we prepare here, so it still carries the problem body and id.
        Err(err) => {
            let mut res = err.error_response();
            let status = res.status().as_u16();
            let mut problem = res
                .extensions()
                .get::<Problem>()
                .cloned()
                .unwrap_or_else(|| problem_for_status(res.status()));
            problem.instance = Some(path.clone());
            problem.request_id = Some(request_id.0.clone());
            let mut fresh = problem_response(problem);
            copy_headers(res.headers(), fresh.headers_mut());
            fresh
                .headers_mut()
                .insert(REQUEST_ID, header_value(&request_id.0));
            res = fresh;
            let seconds = started.elapsed().as_secs_f64();
            if let Some(m) = &metrics {
                m.observe(&method, "unmatched", status, seconds);
            }
            span.in_scope(|| log_request(status, "unmatched", seconds));
            return Err(
                actix_web::error::InternalError::from_response(err.to_string(), res).into(),
            );
        }
    };

    let route = res
        .request()
        .extensions()
        .get::<RouteLabel>()
        .map(|l| l.0.to_owned())
        .or_else(|| res.request().match_pattern())
        .unwrap_or_else(|| "unmatched".to_owned());
    render_problem(&mut res, &path, &request_id);
    res.headers_mut()
        .insert(REQUEST_ID, header_value(&request_id.0));
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(m) = &metrics {
        m.observe(&method, &route, status, seconds);
    }
    span.in_scope(|| log_request(status, &route, seconds));
    Ok(res)
}

/// Logs the one line a request gets: errors at warn/error so they stand out at 3 a.m.
fn log_request(status: u16, route: &str, seconds: f64) {
    let duration_ms = (seconds * 1000.0 * 100.0).round() / 100.0;
    if status >= 500 {
        tracing::error!(
            http.status = status,
            http.route = route,
            duration_ms,
            "request finished"
        );
    } else if status >= 400 && status != 404 && status != 401 {
        tracing::warn!(
            http.status = status,
            http.route = route,
            duration_ms,
            "request finished"
        );
    } else {
        tracing::info!(
            http.status = status,
            http.route = route,
            duration_ms,
            "request finished"
        );
    }
}

fn header_value(id: &str) -> HeaderValue {
    // Ids are checked or generated as ASCII above, so this cannot fail; fall back to nothing.
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Adds `instance` and `requestId` to problem responses and turns bare framework errors
/// (actix's empty 404/405) into problem+json.
fn render_problem(res: &mut ServiceResponse<BoxBody>, path: &str, request_id: &RequestId) {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    let known = res.response().extensions().get::<Problem>().cloned();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let mut problem = match known {
        Some(p) => p,
        // Already problem+json from elsewhere (a proxied upstream): leave it as it is.
        None if is_problem => return,
        None => problem_for_status(status),
    };
    problem.instance = Some(path.to_owned());
    problem.request_id = Some(request_id.0.clone());
    let mut fresh = problem_response(problem);
    copy_headers(res.headers(), fresh.headers_mut());
    let placeholder = HttpResponse::new(status);
    let original = std::mem::replace(
        res,
        ServiceResponse::new(res.request().clone(), placeholder),
    );
    *res = original.into_response(fresh);
}

/// Keeps headers the original response set (Retry-After, WWW-Authenticate, Allow).
fn copy_headers(from: &header::HeaderMap, to: &mut header::HeaderMap) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.append(name.clone(), value.clone());
        }
    }
}
