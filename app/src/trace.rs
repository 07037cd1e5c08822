//! Distributed traces: the W3C trace context (`traceparent`, `tracestate`) carried from the
//! gateway through every service and every job, and the spans exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The `tracing` spans the code already opens (a request's `http_request`, a job's `job`) become
//! OpenTelemetry spans through `tracing-opentelemetry`. A trace crosses a boundary as a
//! `traceparent`:
//! - into a process: the request middleware continues a valid incoming `traceparent`
//!   ([`continue_trace`]);
//! - out of a process: the gateway's proxy and the service client write the current span's
//!   context into the outgoing request ([`outgoing`]);
//! - through the queue: [`crate::outbox::enqueue`] stores the current context in the outbox row
//!   ([`current`]), the relay copies it into the job, and the consumer's job span continues it
//!   ([`continue_job`]).
//!
//! An incoming context is only ever a parent: it never sets a request id, never reaches a log
//! line as it came, and never decides anything else. It is checked strictly (W3C version 00
//! layout, lowercase hex, non-zero ids, a bounded `tracestate`); anything else is ignored and the
//! span starts a trace of its own. What leaves a process is always re-encoded from the parsed
//! context, never the raw input.
//!
//! Without an endpoint the spans still get trace ids (so log lines of one request carry the same
//! `trace_id` in every service), but no exporter is built and nothing is sent.

use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::{ConfigError, Env};

/// The W3C trace context header naming the trace and the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header of vendor-specific trace data, carried along with `traceparent`.
pub const TRACESTATE: &str = "tracestate";
/// The longest `tracestate` accepted; W3C asks to propagate at least 512 characters and allows
/// dropping a longer one.
const MAX_TRACESTATE_LEN: usize = 512;
/// How long shutdown waits for the last spans to be exported.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// The OTLP call's default timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds per the spec).
const DEFAULT_EXPORT_TIMEOUT_MS: u64 = 10_000;

/// A trace context as it travels through the outbox and the queue: the two W3C headers' values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<trace id>-<parent span id>-<flags>`.
    pub traceparent: String,
    /// Vendor data, when there is any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// Whether `raw` is a `traceparent` of the W3C layout this code speaks (version 00: exactly
/// `00-` 32 lowercase hex `-` 16 lowercase hex `-` 2 hex). Later versions may only append after
/// a `-`, and their first 55 characters must read the same; version `ff` is invalid.
/// The ids being non-zero is checked when the context is parsed.
pub fn valid_traceparent(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes.len() < 55 || (bytes.len() > 55 && bytes[55] != b'-') {
        return false;
    }
    let hex = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let version_ok =
        hex(0..2) && &bytes[0..2] != b"ff" && (bytes.len() == 55 || &bytes[0..2] != b"00");
    version_ok
        && bytes[2] == b'-'
        && hex(3..35)
        && bytes[35] == b'-'
        && hex(36..52)
        && bytes[52] == b'-'
        && hex(53..55)
}

/// The two headers as the propagator reads them, already checked: an invalid `traceparent` or
/// an oversized `tracestate` reads as absent.
struct Checked<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Checked<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.traceparent,
            TRACESTATE => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// The parent context in a request's or a job's headers, when they hold a valid one.
pub fn extract<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<opentelemetry::Context> {
    let checked = Checked {
        traceparent: get(TRACEPARENT)
            .map(str::trim)
            .filter(|v| valid_traceparent(v)),
        tracestate: get(TRACESTATE)
            .map(str::trim)
            .filter(|v| v.len() <= MAX_TRACESTATE_LEN),
    };
    let cx = TraceContextPropagator::new().extract(&checked);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` (not yet entered) continue the trace in `get`'s `traceparent`, when it is valid,
/// and records the span's trace id in its `trace_id` field (declare it `Empty`) so every log line
/// inside carries it. Returns the trace id, when there is one.
pub fn continue_trace<'a>(
    span: &tracing::Span,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    if let Some(parent) = extract(get) {
        // Fails only without the OpenTelemetry layer (tests that install no subscriber) or for
        // a span the filter disabled: the span then simply starts no trace.
        let _ = span.set_parent(parent);
    }
    let trace_id = trace_id(span)?;
    span.record("trace_id", trace_id.as_str());
    Some(trace_id)
}

/// [`continue_trace`] from the context a job carries.
pub fn continue_job(span: &tracing::Span, context: Option<&TraceContext>) -> Option<String> {
    continue_trace(span, |key| match (key, context) {
        (TRACEPARENT, Some(c)) => Some(c.traceparent.as_str()),
        (TRACESTATE, Some(c)) => c.tracestate.as_deref(),
        _ => None,
    })
}

/// The trace id of `span`, when it belongs to a trace (the OpenTelemetry layer is installed).
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Whether `name` (lowercase) is one of the trace context headers, which a proxy replaces with
/// its own span's rather than forwarding.
pub fn is_trace_header(name: &str) -> bool {
    name == TRACEPARENT || name == TRACESTATE
}

/// Collects what the propagator writes.
#[derive(Default)]
struct Collect(Vec<(&'static str, String)>);

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        let key = match key {
            TRACEPARENT => TRACEPARENT,
            TRACESTATE if !value.is_empty() => TRACESTATE,
            _ => return,
        };
        self.0.push((key, value));
    }
}

/// The headers that carry the current span's context to the next service (`traceparent`, and
/// `tracestate` when it has any); none outside a trace.
pub fn outgoing() -> Vec<(&'static str, String)> {
    let cx = tracing::Span::current().context();
    let mut headers = Collect::default();
    TraceContextPropagator::new().inject_context(&cx, &mut headers);
    headers.0
}

/// The current span's context, to store with an event or a job.
pub fn current() -> Option<TraceContext> {
    let mut traceparent = None;
    let mut tracestate = None;
    for (key, value) in outgoing() {
        match key {
            TRACEPARENT => traceparent = Some(value),
            _ => tracestate = Some(value),
        }
    }
    Some(TraceContext {
        traceparent: traceparent?,
        tracestate,
    })
}

/// Where spans go: the OTLP endpoint and the name this process reports as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// The full URL spans are posted to (`…/v1/traces`); `None` exports nothing.
    pub endpoint: Option<String>,
    /// `service.name` of the spans.
    pub service_name: String,
    /// How long one export call may take.
    pub timeout: Duration,
}

impl TraceSettings {
    /// The standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is) or else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base, `/v1/traces` appended); `OTEL_SERVICE_NAME`
    /// (default `default_service`, the module this process runs); `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// in milliseconds.
    pub fn from_env(env: &Env, default_service: &str) -> Result<Self, ConfigError> {
        let endpoint = match (
            env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(url), _) => Some(url.to_owned()),
            (None, Some(base)) => Some(format!("{}/v1/traces", base.trim_end_matches('/'))),
            (None, None) => None,
        };
        if let Some(url) = &endpoint {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(ConfigError::Invalid {
                    name: "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                    reason: "must be an http:// or https:// URL (OTLP over HTTP)".to_owned(),
                });
            }
        }
        let timeout_ms: u64 =
            env.parse_or("OTEL_EXPORTER_OTLP_TIMEOUT", DEFAULT_EXPORT_TIMEOUT_MS)?;
        Ok(Self {
            endpoint,
            service_name: env
                .get("OTEL_SERVICE_NAME")
                .unwrap_or(default_service)
                .to_owned(),
            timeout: Duration::from_millis(timeout_ms.max(1)),
        })
    }
}

/// The tracer provider of a process; [`Tracer::shutdown`] exports what is left.
pub struct Tracer {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Tracer {
    /// A provider for `settings`: with a batch exporter when an endpoint is set, else with none
    /// (spans get ids for propagation and logs, and are dropped when they end).
    pub fn new(settings: &TraceSettings) -> anyhow::Result<Self> {
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(settings.service_name.clone())
            .build();
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        let exporting = settings.endpoint.is_some();
        if let Some(endpoint) = &settings.endpoint {
            // The blocking reqwest client runs on the batch processor's own thread, which has no
            // tokio runtime; the async client would need one.
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_timeout(settings.timeout)
                .build()?;
            builder = builder.with_batch_exporter(exporter);
        }
        Ok(Self {
            provider: builder.build(),
            exporting,
        })
    }

    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// The tracer the `tracing` bridge writes to.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("tessera")
    }

    /// Exports the spans still queued and stops, waiting at most [`FLUSH_TIMEOUT`] (a collector
    /// that is down must not hold up a shutdown).
    pub async fn shutdown(self) {
        if !self.exporting {
            return;
        }
        let provider = self.provider;
        let flush =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        match tokio::time::timeout(FLUSH_TIMEOUT + Duration::from_secs(1), flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "could not export the last spans"),
            Ok(Err(err)) => tracing::warn!(error = %err, "span export stopped unexpectedly"),
            Err(_) => tracing::warn!("exporting the last spans timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests")]

    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    #[test]
    fn a_valid_traceparent_is_extracted_with_its_state() {
        let pairs = [(TRACEPARENT, VALID), (TRACESTATE, "vendor=abc")];
        let cx = extract(headers(&pairs)).expect("valid");
        let span = cx.span();
        let sc = span.span_context();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().header(), "vendor=abc");
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "garbage",
            // Upper-case hex, short ids (the propagator alone would read these), zero ids.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-abc-def-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Version ff, version 00 with a tail, a later version without the separator.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        ] {
            let pairs = [(TRACEPARENT, bad)];
            assert!(extract(headers(&pairs)).is_none(), "{bad:?} accepted");
        }
        assert!(extract(headers(&[])).is_none());
    }

    #[test]
    fn a_later_version_is_read_by_its_version_00_prefix() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        assert!(extract(headers(&[(TRACEPARENT, later)])).is_some());
    }

    #[test]
    fn an_oversized_tracestate_is_dropped_but_the_parent_kept() {
        let long = format!("vendor={}", "a".repeat(MAX_TRACESTATE_LEN));
        let pairs = [(TRACEPARENT, VALID), (TRACESTATE, long.as_str())];
        let cx = extract(headers(&pairs)).expect("parent kept");
        assert_eq!(cx.span().span_context().trace_state().header(), "");
    }

    /// A subscriber with the bridge and a provider that exports nothing, for the current thread.
    fn with_bridge(test: impl FnOnce()) {
        use tracing_subscriber::layer::SubscriberExt as _;
        let tracer = Tracer::new(&TraceSettings {
            endpoint: None,
            service_name: "test".to_owned(),
            timeout: Duration::from_secs(1),
        })
        .expect("no exporter to build");
        assert!(!tracer.exporting());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer()));
        tracing::subscriber::with_default(subscriber, test);
    }

    #[test]
    fn a_span_continues_the_incoming_trace_and_injects_itself_as_parent() {
        with_bridge(|| {
            let span = tracing::info_span!("http_request", trace_id = tracing::field::Empty);
            let pairs = [(TRACEPARENT, VALID), (TRACESTATE, "vendor=abc")];
            let id = continue_trace(&span, headers(&pairs));
            assert_eq!(id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
            let out = span.in_scope(outgoing);
            let parent = out
                .iter()
                .find(|(k, _)| *k == TRACEPARENT)
                .map(|(_, v)| v.clone());
            let parent = parent.expect("traceparent injected");
            assert!(valid_traceparent(&parent), "{parent}");
            assert!(parent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
            // The new span is the parent downstream, not the caller's span.
            assert!(!parent.contains("00f067aa0ba902b7"), "{parent}");
            assert!(out.contains(&(TRACESTATE, "vendor=abc".to_owned())));

            let stored = span.in_scope(current).expect("a context to store");
            assert_eq!(stored.traceparent, parent);
            let job = tracing::info_span!("job", trace_id = tracing::field::Empty);
            assert_eq!(
                continue_job(&job, Some(&stored)).as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );
        });
    }

    #[test]
    fn a_malformed_parent_starts_a_new_trace() {
        with_bridge(|| {
            let span = tracing::info_span!("http_request", trace_id = tracing::field::Empty);
            let pairs = [(TRACEPARENT, "00-abc-def-01")];
            let id = continue_trace(&span, headers(&pairs)).expect("a trace of its own");
            assert_eq!(id.len(), 32);
            assert_ne!(id, "00000000000000000000000000000abc");
            let job = tracing::info_span!("job", trace_id = tracing::field::Empty);
            let fresh = continue_job(&job, None).expect("a trace of its own");
            assert_ne!(fresh, id);
        });
    }

    #[test]
    fn outside_a_trace_nothing_is_injected() {
        assert!(outgoing().is_empty());
        assert!(current().is_none());
    }

    #[test]
    fn the_endpoint_follows_the_otel_variables() {
        let base = Env::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]);
        let s = TraceSettings::from_env(&base, "task").expect("valid");
        assert_eq!(
            s.endpoint.as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(s.service_name, "task");
        let full = base
            .clone()
            .with(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://other:4318/custom",
            )
            .with("OTEL_SERVICE_NAME", "tessera-task");
        let s = TraceSettings::from_env(&full, "task").expect("valid");
        assert_eq!(s.endpoint.as_deref(), Some("http://other:4318/custom"));
        assert_eq!(s.service_name, "tessera-task");
        let none = TraceSettings::from_env(&Env::default(), "gateway").expect("valid");
        assert_eq!(none.endpoint, None);
        let grpc = Env::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]);
        assert!(TraceSettings::from_env(&grpc, "task").is_err());
    }
}
