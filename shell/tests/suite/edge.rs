//! The gateway's rules (API.md "Gateway"), the same in both deployments.

use serde_json::{Value, json};
use tessera_app::config::{Env, TokenSettings};
use tessera_app::testkit::{assert_problem, random_hex};
use tessera_app::tokens::Tokens;

use crate::deploy::{Deployment, Kind};

fn tokens(d: &Deployment) -> Tokens {
    Tokens::new(&TokenSettings::from_env(&Env::from_pairs(d.env.clone())).unwrap())
}

/// The value of counter `name` for the series whose labels include all of `labels`, summed.
pub fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn protected_routes_need_an_access_token(kind: Kind) {
    let mut d = Deployment::start(kind, &[]).await;
    for path in [
        "/tasks",
        "/users",
        "/notifications",
        "/auth/me",
        "/tasks/not-even-an-id",
    ] {
        let res = d.client.get(d.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{path}");
        assert_problem(res, 401).await;
    }
    let res = d.get("/tasks", "not-a-jwt").await;
    assert_problem(res, 401).await;
    // A service token is for internal routes only.
    let service = tokens(&d).issue_service("worker").unwrap();
    assert_problem(d.get("/tasks", &service).await, 401).await;
    // Public routes pass without one.
    let res = d
        .post(
            "/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "x"}),
        )
        .await;
    assert_problem(res, 401).await;

    if kind == Kind::Split {
        // The refusals never reached the task service: its own counters have no /tasks request.
        let split = d.split();
        let metrics = reqwest::get(format!("{}/metrics", split.url("task")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            counter(&metrics, "http_requests_total", &["route=\"/tasks"]),
            0.0,
            "{metrics}"
        );
        let (_, token, _) = d
            .sign_up(&format!("x-{}@example.com", random_hex(4)), "password123")
            .await;
        assert_eq!(d.get("/tasks", &token).await.status(), 200);
        let metrics = reqwest::get(format!("{}/metrics", d.split().url("task")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            counter(
                &metrics,
                "http_requests_total",
                &["route=\"/tasks\"", "status=\"200\""]
            ),
            1.0,
            "the accepted request did reach it: {metrics}"
        );
    }
    d.stop().await;
}

pub async fn the_internal_send_route_is_not_routed(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let service = tokens(&d).issue_service("worker").unwrap();
    let body = json!({"userId": uuid_like(), "type": "INFO", "channel": "IN_APP", "message": "hi"});
    for token in [None, Some(service.as_str())] {
        let res = d.post("/notifications/send", token, body.clone()).await;
        assert_problem(res, 404).await;
    }
    d.stop().await;
}

fn uuid_like() -> String {
    "0193a5b0-0000-7000-8000-000000000000".to_owned()
}

pub async fn rate_limits_answer_429_with_retry_after(kind: Kind) {
    let d = Deployment::start(
        kind,
        &[
            ("RATE_LIMIT_PER_MINUTE", "5"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "2"),
        ],
    )
    .await;
    // The strict limit on credential routes: two attempts, then 429.
    let login = json!({"email": "nobody@example.com", "password": "wrong-password"});
    for _ in 0..2 {
        assert_eq!(
            d.post("/auth/login", None, login.clone()).await.status(),
            401
        );
    }
    let res = d.post("/auth/login", None, login.clone()).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_problem(res, 429).await;

    // The general limit: five requests a minute in all (the three logins count).
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            d.client
                .get(d.url("/tasks"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![401, 401, 429]);
    // Probes are never limited.
    for _ in 0..10 {
        assert_eq!(
            d.client
                .get(d.url("/health"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    d.stop().await;
}

pub async fn cors_allows_configured_origins_only(kind: Kind) {
    let d = Deployment::start(
        kind,
        &[(
            "CORS_ORIGINS",
            "http://localhost:3000,https://app.example.com",
        )],
    )
    .await;
    let preflight = |origin: &'static str| {
        d.client
            .request(reqwest::Method::OPTIONS, d.url("/tasks"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let res = preflight("https://app.example.com").await.unwrap();
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, content-type"
    );

    let res = preflight("https://evil.example.net").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_problem(res, 403).await;

    // Actual requests: headers for allowed origins only (the browser enforces the rest).
    let res = d
        .client
        .get(d.url("/health"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("X-Request-Id")
    );
    let res = d
        .client
        .get(d.url("/tasks"))
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.status(), 401);
    d.stop().await;
}

pub async fn request_ids_are_kept_or_generated(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let res = d
        .client
        .get(d.url("/tasks"))
        .header("x-request-id", "client-chosen.id_1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-chosen.id_1");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["requestId"], "client-chosen.id_1");
    // Not an acceptable id: replaced with a fresh one.
    let res = d
        .client
        .get(d.url("/health"))
        .header("x-request-id", "no spaces allowed")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "no spaces allowed");
    assert!(!id.is_empty());
    d.stop().await;
}

pub async fn docs_and_the_openapi_document_are_served(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let res = d.client.get(d.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let served = res.text().await.unwrap();
    assert_eq!(
        served,
        shell::OPENAPI_JSON,
        "the committed document, byte for byte"
    );
    let res = d.client.get(d.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), 308);
    let res = d.client.get(d.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger-ui"));
    let res = d
        .client
        .get(d.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("/openapi.json"));
    d.stop().await;
}

pub async fn client_sent_forwarding_headers_do_not_change_the_client_address(kind: Kind) {
    // The auth service throttles failed logins per client IP. A client that could set its own
    // X-Forwarded-For would get a fresh budget per request; through the gateway it cannot.
    let d = Deployment::start(kind, &[("LOGIN_ATTEMPTS_PER_IP", "2")]).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let res = d
            .client
            .post(d.url("/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .header("x-real-ip", format!("203.0.113.{i}"))
            .json(&json!({"email": format!("spoof{i}-{}@example.com", random_hex(3)), "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 429]);
    d.stop().await;
}

pub async fn reset_password_is_under_the_strict_auth_limit(kind: Kind) {
    // Each reset may hash a password (argon2, tens of milliseconds of CPU): it is limited like
    // login, not only by the general limit.
    let d = Deployment::start(kind, &[("AUTH_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let body = json!({"token": "A".repeat(43), "password": "password789"});
    for _ in 0..2 {
        assert_problem(
            d.post("/auth/reset-password", None, body.clone()).await,
            400,
        )
        .await;
    }
    let res = d.post("/auth/reset-password", None, body).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429).await;
    d.stop().await;
}
