//! The monitoring assets under `deploy/` against the running services: every series the Grafana
//! dashboard (`deploy/grafana/tessera.json`) and the alerting rules (`deploy/prometheus/alerts.yml`)
//! query must be on the `/metrics` of the split deployment's processes, the ones Prometheus
//! scrapes (`deploy/prometheus/prometheus.yml`). A renamed or removed metric fails here instead of
//! leaving an empty panel or an alert that can never fire.
//!
//! Many series exist only once something happened (a labelled counter has no sample before its
//! first increment), so the scenario makes each happen: a sign-up (password hashing, events
//! through the queue), a first task (the worker, the mail dispatcher), a live stream, an e-mail
//! for a user the notification service does not know (deferred), a job the worker can never
//! handle (dead-lettered), and an upstream the gateway cannot reach (its failure counter).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};
use tessera_app::queue::Job;
use tessera_app::testkit::{eventually, random_hex, random_uuid};

use crate::deploy::{Deployment, Kind, WAIT};

/// Series the scenario cannot make appear from outside, with the reason; for these the test
/// checks that the code still registers the name (a labelled counter has no line on `/metrics`
/// before its first increment).
///
/// `tessera_queue_jobs_retried_total` counts failures that are neither an outage (a 503 or a
/// refused connection defers the job: `tessera_queue_jobs_deferred_total`) nor a rejection (a 4xx
/// or a bad payload dead-letters it): nothing a test can cause through the services' interfaces.
const UNPROVOKED: &[(&str, &str)] = &[(
    "tessera_queue_jobs_retried_total",
    include_str!("../../../app/src/queue/metrics.rs"),
)];

/// The processes Prometheus scrapes in the split deployment: every service of the table but the
/// web app (its `/metrics` carries only the HTTP series, which the others have too).
fn scraped() -> Vec<&'static str> {
    tessera_app::services::SERVICES
        .iter()
        .filter(|s| s.kind != tessera_app::services::Kind::WebApp)
        .map(|s| s.name)
        .collect()
}

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every PromQL expression of the dashboard's panels and variables.
fn dashboard_queries() -> Vec<String> {
    let path = deploy_dir().join("grafana/tessera.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        // Rows may hold their panels when collapsed.
        if let Some(inner) = panel["panels"].as_array() {
            panels.extend(inner);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            queries.push(expr.to_owned());
        }
        if panel["type"] != "row" {
            assert!(
                panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "panel {:?} queries nothing",
                panel["title"]
            );
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if var["type"] == "query" {
            queries.push(var["query"]["query"].as_str().expect("query").to_owned());
        }
    }
    queries
}

/// Every `expr` of the alerting rules.
fn alert_queries() -> Vec<String> {
    let path = deploy_dir().join("prometheus/alerts.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let rules: yaml_serde::Value = yaml_serde::from_str(&text).expect("alerts.yml is YAML");
    let mut queries = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            queries.push(rule["expr"].as_str().expect("expr").to_owned());
        }
    }
    queries
}

/// The series names an expression selects. The assets' convention: every selector is written
/// with braces (`tessera_queue_lag{}`), so a name is the identifier right before a `{`; label
/// names, functions and `by (...)` lists never are. A metric-looking word outside a selector
/// breaks the convention and fails, so no name slips past this check.
fn series_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut i = 0;
    let mut depth = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'{' {
            depth += 1;
        } else if b == b'}' {
            depth = depth.saturating_sub(1);
        } else if b == b'"' {
            // Label values: skip the quoted string (escapes included).
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
        } else if (b.is_ascii_alphabetic() || b == b'_') && depth == 0 && b != b'$' {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let preceded_by_dollar = start > 0 && bytes[start - 1] == b'$';
            if bytes.get(i) == Some(&b'{') {
                names.insert(word.to_owned());
            } else if !preceded_by_dollar
                && ["http_", "tessera_", "gateway_", "db_", "auth_"]
                    .iter()
                    .any(|p| word.starts_with(p))
            {
                panic!("{word} in {expr:?} is not written as a selector ({word}{{...}})");
            }
            continue;
        }
        i += 1;
    }
    names
}

/// The sample names of a Prometheus text exposition.
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_expression_parser_finds_selectors_only() {
    let names = series_names(
        r#"histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{service=~"$service",route!="/a{b}"}[$__rate_interval]))) / max(tessera_mail_pending{})"#,
    );
    let expected: BTreeSet<String> = [
        "http_request_duration_seconds_bucket",
        "tessera_mail_pending",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(names, expected);
    let bare = std::panic::catch_unwind(|| series_names("sum(tessera_queue_lag)"));
    assert!(bare.is_err(), "a bare metric name is refused");
}

#[tokio::test]
async fn dashboard_and_alert_series_exist_on_the_services_metrics() {
    let mut wanted = BTreeSet::new();
    let queries: Vec<String> = dashboard_queries()
        .into_iter()
        .chain(alert_queries())
        .collect();
    for q in &queries {
        let names = series_names(q);
        assert!(!names.is_empty(), "{q:?} selects no series");
        wanted.extend(names);
    }
    assert!(wanted.contains("http_requests_total"), "{wanted:?}");

    let mut d = Deployment::start(Kind::Split, &[]).await;
    let email = format!("metrics-{}@example.com", random_hex(6));
    let (_, token, _) = d.sign_up(&email, "a long enough password").await;
    let res = d
        .post("/tasks", Some(&token), json!({"title": "first"}))
        .await;
    assert_eq!(res.status(), 201);
    // The live stream: opened and closed again.
    let stream = d
        .client
        .get(d.url(&format!("/notifications/stream?access_token={token}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(stream.status(), 200);
    drop(stream);
    // An e-mail to a user the notification service never heard of: 503, deferred.
    let orphan = Job::new(
        "email.send",
        json!({
            "userId": random_uuid(),
            "to": format!("nobody-{}@example.com", random_hex(6)),
            "template": "password-reset",
            "data": {"resetUrl": "http://localhost:3000/reset-password?token=x", "expiresInMinutes": 30},
        }),
    );
    d.queue.publish(&orphan).await.expect("publish");
    // A job the worker can never handle (no task in it): dead-lettered.
    d.expect_dead_letters();
    let malformed = Job::new("task.created", json!({"unexpected": true}));
    d.queue.publish(&malformed).await.expect("publish");
    eventually(WAIT, "the malformed job to be dead-lettered", || async {
        d.queue
            .list_dead()
            .await
            .ok()?
            .into_iter()
            .any(|dead| dead.job.as_ref().is_some_and(|j| j.id == malformed.id))
            .then_some(())
    })
    .await
    .expect("dead-lettered");
    for (name, source) in UNPROVOKED {
        assert!(
            wanted.contains(*name),
            "{name} is no longer queried: remove it from UNPROVOKED"
        );
        assert!(
            source.contains(&format!("\"{name}\"")),
            "{name} is no longer registered by the code"
        );
    }

    // Scrape every process until the welcome e-mail has gone out and the gauges have caught up.
    let urls: Vec<String> = scraped()
        .iter()
        .map(|name| format!("{}/metrics", d.split().url(name)))
        .collect();
    let seen = Mutex::new(BTreeSet::new());
    let missing = || -> Vec<String> {
        let seen = seen.lock().expect("lock");
        wanted
            .iter()
            // Only an upstream failure makes this one: checked below.
            .filter(|n| !seen.contains(*n) && n.as_str() != "gateway_upstream_failures_total")
            .filter(|n| !UNPROVOKED.iter().any(|(u, _)| u == n))
            .cloned()
            .collect()
    };
    let _ = eventually(WAIT, "every queried series on /metrics", || async {
        for url in &urls {
            let text = d.client.get(url).send().await.ok()?.text().await.ok()?;
            seen.lock().expect("lock").extend(exposed(&text));
        }
        missing().is_empty().then_some(())
    })
    .await;
    let missing = missing();
    assert!(
        missing.is_empty(),
        "queried by deploy/grafana/tessera.json or deploy/prometheus/alerts.yml but on no \
         service's /metrics: {missing:?}"
    );

    // An upstream the gateway cannot reach: its failure counter appears.
    d.split().kill("user").await;
    let res = d.get("/users/me", &token).await;
    assert_eq!(res.status(), 503, "the user service is gone");
    let gateway = format!("{}/metrics", d.split().url("gateway"));
    let text = d
        .client
        .get(&gateway)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gateway_series = exposed(&text);
    for name in wanted.iter().filter(|n| n.starts_with("gateway_")) {
        assert!(
            gateway_series.contains(name),
            "{name} is not on the gateway's /metrics"
        );
    }
    d.stop().await;
}

