//! Traces across the split deployment: the six processes export their spans over OTLP/HTTP to a
//! collector this test runs, and one `POST /tasks` must come out as one trace.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::json;
use tessera_app::testkit::{eventually, random_hex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::deploy::{Deployment, Kind, Split, WAIT};

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    attributes: Vec<(String, String)>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP (protobuf) trace receiver on a local port.
struct Collector {
    addr: String,
    spans: Arc<Mutex<Vec<Span>>>,
    /// Export requests received, whatever they held.
    requests: Arc<Mutex<usize>>,
}

impl Collector {
    async fn start(bind: &str) -> Collector {
        let listener = TcpListener::bind(bind).await.expect("collector binds");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (s, r) = (spans.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, s.clone(), r.clone()));
            }
        });
        Collector {
            addr,
            spans,
            requests,
        }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("spans").clone()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().expect("requests")
    }
}

/// Answers export requests on one keep-alive connection until the exporter closes it.
async fn serve(mut socket: TcpStream, spans: Arc<Mutex<Vec<Span>>>, requests: Arc<Mutex<usize>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // One request: head, then Content-Length bytes of body.
        let (head_len, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                assert!(
                    head.starts_with("post /v1/traces "),
                    "unexpected export request: {head}"
                );
                break (end + 4, length);
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head_len + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..head_len + length).skip(head_len).collect();
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
        *requests.lock().expect("requests") += 1;
        spans.lock().expect("spans").extend(flatten(request));
        let ok =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if socket.write_all(ok.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_id: hex(&span.parent_span_id),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn one_post_tasks_is_one_trace_across_gateway_task_worker_and_notification() {
    let collector = Collector::start("127.0.0.1:0").await;
    let mut d = Deployment::start(
        Kind::Split,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.addr.as_str()),
            // Export every 100 ms rather than every 5 s, so the test waits less.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let (_, token, _) = d
        .sign_up(
            &format!("traces-{}@example.com", random_hex(4)),
            "password123",
        )
        .await;
    let res = d
        .client
        .post(d.url("/tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "Trace me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    d.worker_settled().await;

    // The gateway's span of that request is the root of its trace.
    let root = eventually(WAIT, "the gateway's POST /tasks span", || async {
        collector.spans().into_iter().find(|s| {
            s.service == "gateway"
                && s.name == "http_request"
                && s.attribute("http.method") == Some("POST")
                && s.attribute("http.path") == Some("/tasks")
        })
    })
    .await
    .expect("the gateway exported its span");
    assert!(
        root.parent_id.is_empty(),
        "the request came without a traceparent, so the gateway starts the trace: {root:?}"
    );
    let trace = root.trace_id.clone();

    let joined = |service: &'static str, name: &'static str| {
        let collector = &collector;
        let trace = trace.clone();
        async move {
            eventually(
                WAIT,
                &format!("a {name} span of {service} in the trace"),
                || {
                    let trace = trace.clone();
                    async move {
                        collector
                            .spans()
                            .into_iter()
                            .find(|s| s.service == service && s.name == name && s.trace_id == trace)
                    }
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}: {:#?}", collector.spans()))
        }
    };
    let task = joined("task", "http_request").await;
    assert_eq!(
        task.parent_id, root.span_id,
        "the task service's parent is the gateway"
    );
    assert_eq!(task.attribute("http.path"), Some("/tasks"));
    let job = joined("worker", "job").await;
    assert_eq!(job.attribute("job.name"), Some("task.created"));
    let notification = joined("notification", "http_request").await;
    let worker_spans: BTreeSet<String> = collector
        .spans()
        .into_iter()
        .filter(|s| s.service == "worker" && s.trace_id == trace)
        .map(|s| s.span_id)
        .collect();
    assert!(
        worker_spans.contains(&notification.parent_id),
        "the notification call's parent is a worker span: {notification:?}"
    );

    // Only the request's work is in the trace, and none of it in another one.
    let services: BTreeSet<String> = collector
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == trace)
        .map(|s| s.service)
        .collect();
    let expected: BTreeSet<String> = ["gateway", "task", "worker", "notification"]
        .map(str::to_owned)
        .into();
    assert_eq!(services, expected);
    let task_requests: Vec<Span> = collector
        .spans()
        .into_iter()
        .filter(|s| {
            s.service == "task"
                && s.attribute("http.method") == Some("POST")
                && s.attribute("http.path") == Some("/tasks")
        })
        .collect();
    assert_eq!(task_requests.len(), 1, "{task_requests:#?}");

    // The log lines of the request carry the trace id, in every process it crossed.
    let split = d.split();
    for name in ["gateway", "task", "worker", "notification"] {
        assert!(
            split.logs(name).iter().any(|l| l.contains(&trace)),
            "{name} never logged trace {trace}:\n{}",
            split.logs(name).join("\n")
        );
    }
    d.stop().await;
}

#[tokio::test]
async fn the_gateway_continues_a_valid_traceparent_and_ignores_a_malformed_one() {
    let collector = Collector::start("127.0.0.1:0").await;
    let mut split = Split::gateway_alone(&[
        ("JWT_SECRET".into(), random_hex(32)),
        ("INTERNAL_JWT_SECRET".into(), random_hex(32)),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.addr.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
    ])
    .await;
    let base = split.url("gateway");
    let client = reqwest::Client::new();
    let trace = random_hex(16);
    let parent = format!("00-{trace}-00f067aa0ba902b7-01");
    for (path, traceparent) in [
        ("/health?valid", parent.as_str()),
        ("/health?malformed", "00-abc-def-01"),
    ] {
        let res = client
            .get(format!("{base}{path}"))
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let spans = eventually(WAIT, "both /health spans", || async {
        let spans: Vec<Span> = collector
            .spans()
            .into_iter()
            .filter(|s| s.attribute("http.path") == Some("/health"))
            .collect();
        (spans.len() >= 2).then_some(spans)
    })
    .await
    .expect("the gateway exported its spans");
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let continued: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
    assert_eq!(continued.len(), 1, "{spans:#?}");
    assert_eq!(continued[0].parent_id, "00f067aa0ba902b7");
    let fresh = spans.iter().find(|s| s.trace_id != trace).expect("other");
    assert!(fresh.parent_id.is_empty(), "{fresh:?}");
    assert_eq!(fresh.service, "gateway");
    split.stop_all().await;
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_exported() {
    // Where an exporter built without an endpoint would send: the OTLP/HTTP default.
    let collector = Collector::start("127.0.0.1:4318").await;
    let mut split = Split::gateway_alone(&[
        ("JWT_SECRET".into(), random_hex(32)),
        ("INTERNAL_JWT_SECRET".into(), random_hex(32)),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
    ])
    .await;
    let base = split.url("gateway");
    for _ in 0..3 {
        let res = reqwest::get(format!("{base}/health")).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    // A graceful stop flushes whatever an exporter had queued.
    split.stop_all().await;
    let logs = split.logs("gateway");
    assert!(
        logs.iter().any(|l| l.contains("\"trace_id\"")),
        "spans still get trace ids for the logs:\n{}",
        logs.join("\n")
    );
    assert!(
        !logs.iter().any(|l| l.contains("exporting traces")),
        "{}",
        logs.join("\n")
    );
    // The stop above waited for the process to exit, so no export can still be on its way.
    assert_eq!(collector.requests(), 0, "{:#?}", collector.spans());
}
