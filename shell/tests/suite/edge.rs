//! The gateway's rules (API.md "Gateway"), the same in both deployments.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_app::config::{Env, TokenSettings};
use tessera_app::contracts::{Role, UserId};
use tessera_app::testkit::{assert_problem, random_hex};
use tessera_app::tokens::Tokens;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

// ------------------------------------------------------------------------------------------------
// Requests written byte for byte: reqwest resolves `..` and `.` segments before it sends, and
// cannot be told to stall or to drop a body half-way.

/// A connection to the gateway at `base` (`http://127.0.0.1:port`).
pub async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// The head of a request, `Connection: close` included.
pub fn head(method: &str, target: &str, headers: &[(&str, String)]) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// One response from `socket`, head and body (as far as `Content-Length` says, else until the
/// server closes), or what came within `wait`.
pub async fn read_response(socket: &mut TcpStream, wait: Duration) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let _ = tokio::time::timeout(wait, async {
        loop {
            let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if length.is_some_and(|n| body.len() >= n) {
                    return;
                }
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status of the response on `socket`, or `None` when none came within `wait`.
pub async fn read_status(socket: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(wait, async {
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&buf)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    })
    .await
    .ok()
    .flatten()
}

/// Sends one whole request as written and returns the status of its answer.
async fn raw(d: &Deployment, method: &str, target: &str, token: Option<&str>, body: &[u8]) -> u16 {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(t) = token {
        headers.push(("authorization", format!("Bearer {t}")));
    }
    if !body.is_empty() {
        headers.push(("content-length", body.len().to_string()));
    }
    let mut socket = connect(&d.base).await;
    socket
        .write_all(head(method, target, &headers).as_bytes())
        .await
        .unwrap();
    socket.write_all(body).await.unwrap();
    read_status(&mut socket, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("{method} {target}: no answer"))
}

fn user_token(d: &Deployment) -> String {
    tokens(d)
        .issue_access(
            UserId(uuid::Uuid::now_v7()),
            &format!("edge-{}@example.com", random_hex(4)),
            Role::User,
        )
        .unwrap()
}

/// Spellings of `POST /notifications/send`, which the gateway never routes.
const INTERNAL_SPELLINGS: &[&str] = &[
    "/notifications/send",
    "/notifications/send/",
    "/notifications/%73end",
    "/notifications/%73%65%6E%64",
    "/%6Eotifications/send",
    "/notifications//send",
    "//notifications/send",
    "/notifications/./send",
    "/notifications/x/%2E%2E/send",
    "/tasks/../notifications/send",
    "/tasks/%2e%2e/notifications/send",
    "/notifications\\send",
    "/notifications/x\\..\\send",
];

/// Spellings of `/tasks`, which needs an access token.
const TASKS_SPELLINGS: &[&str] = &[
    "/tasks",
    "/%74asks",
    "/%74%61%73%6B%73",
    "//tasks",
    "/auth/../tasks",
    "/tasks/%2E/../tasks",
];

/// Spellings of `POST /auth/login`, which has the strict limit.
const LOGIN_SPELLINGS: &[&str] = &[
    "/auth/login",
    "/auth/%6Cogin",
    "/%61uth/login",
    "//auth/login",
    "/auth/./login",
    "/tasks/../auth/login",
];

pub async fn every_spelling_of_a_path_meets_the_same_edge_rules(kind: Kind) {
    let limit = LOGIN_SPELLINGS.len().to_string();
    let mut d = Deployment::start(kind, &[("AUTH_RATE_LIMIT_PER_MINUTE", limit.as_str())]).await;
    let user = user_token(&d);
    let service = tokens(&d).issue_service("worker").unwrap();

    // The internal route: 404 however it is spelled, with or without any token.
    let send = serde_json::to_vec(
        &json!({"userId": uuid_like(), "type": "INFO", "channel": "IN_APP", "message": "hi"}),
    )
    .unwrap();
    for path in INTERNAL_SPELLINGS {
        for (who, token) in [
            ("no token", None),
            ("a user token", Some(user.as_str())),
            ("a service token", Some(service.as_str())),
        ] {
            let status = raw(&d, "POST", path, token, &send).await;
            assert_eq!(status, 404, "POST {path} with {who}");
        }
    }

    // The token pre-check: 401 however the protected path is spelled, before any domain sees it.
    for path in TASKS_SPELLINGS.iter().chain(&["/tasks/.", "/%74asks/x/.."]) {
        assert_eq!(raw(&d, "GET", path, None, b"").await, 401, "GET {path}");
    }
    if kind == Kind::Split {
        let metrics = reqwest::get(format!("{}/metrics", d.split().url("task")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            counter(&metrics, "http_requests_total", &["route=\"/tasks"]),
            0.0,
            "the task service saw a request without a token: {metrics}"
        );
    }

    // Routing and proxying: every spelling reaches the route the plain one reaches.
    for path in TASKS_SPELLINGS {
        assert_eq!(
            raw(&d, "GET", path, Some(&user), b"").await,
            200,
            "GET {path} with a token"
        );
    }

    // The strict limit counts every spelling of login against one budget.
    for (i, path) in LOGIN_SPELLINGS.iter().enumerate() {
        let body = serde_json::to_vec(&json!({
            "email": format!("spell{i}-{}@example.com", random_hex(3)),
            "password": "wrong-password",
        }))
        .unwrap();
        assert_eq!(raw(&d, "POST", path, None, &body).await, 401, "POST {path}");
    }
    let body =
        serde_json::to_vec(&json!({"email": "spell@example.com", "password": "wrong-password"}))
            .unwrap();
    assert_eq!(
        raw(&d, "POST", "/auth/%6c%6f%67%69%6e", None, &body).await,
        429,
        "the strict limit is spent, whatever the spelling"
    );
    d.stop().await;
}

pub async fn a_slow_or_abandoned_body_is_answered_at_the_edge_and_blames_no_upstream(kind: Kind) {
    let mut d = Deployment::start(
        kind,
        &[
            ("BODY_READ_TIMEOUT", "1s"),
            ("BREAKER_FAILURES", "2"),
            ("UPSTREAM_TIMEOUT", "3s"),
            ("LOGIN_MAX_DELAY", "1s"),
        ],
    )
    .await;
    let user = user_token(&d);
    let post = |length: usize| {
        head(
            "POST",
            "/tasks",
            &[
                ("authorization", format!("Bearer {user}")),
                ("content-type", "application/json".to_owned()),
                ("content-length", length.to_string()),
            ],
        )
    };
    let wait = Duration::from_secs(10);
    // A body that stalls half-way: 408 once the read deadline passes.
    for _ in 0..3 {
        let mut socket = connect(&d.base).await;
        socket.write_all(post(100).as_bytes()).await.unwrap();
        socket.write_all(b"{\"title\":").await.unwrap();
        assert_eq!(
            read_status(&mut socket, wait).await,
            Some(408),
            "a stalled body"
        );
    }
    // A client that leaves half-way through its body.
    for _ in 0..3 {
        let mut socket = connect(&d.base).await;
        socket.write_all(post(100).as_bytes()).await.unwrap();
        socket.write_all(b"{\"title\":").await.unwrap();
        drop(socket);
    }
    // A body announced over the limit: 413 before it is read.
    let mut socket = connect(&d.base).await;
    socket.write_all(post(1_000_000).as_bytes()).await.unwrap();
    assert_eq!(
        read_status(&mut socket, wait).await,
        Some(413),
        "an oversized body"
    );
    // One more stall, so the abandoned requests above are surely over.
    let mut socket = connect(&d.base).await;
    socket.write_all(post(100).as_bytes()).await.unwrap();
    assert_eq!(
        read_status(&mut socket, wait).await,
        Some(408),
        "a stalled body"
    );

    // None of it was the task service's fault: it is still called, and was never counted down.
    let res = d
        .client
        .post(d.url("/tasks"))
        .bearer_auth(&user)
        .json(&json!({"title": "after the slow clients"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    if kind == Kind::Split {
        let metrics = reqwest::get(format!("{}/metrics", d.split().url("gateway")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            counter(
                &metrics,
                "gateway_upstream_failures_total",
                &["upstream=\"task\""]
            ),
            0.0,
            "{metrics}"
        );
    }
    d.stop().await;
}

pub async fn clients_behind_the_gateway_are_told_apart_by_the_login_throttle(kind: Kind) {
    // The auth service's per-address login throttle must see each client, not the gateway:
    // in the split deployment no service trusts the gateway's address (no TRUSTED_PROXIES).
    let d = Deployment::start(kind, &[("LOGIN_ATTEMPTS_PER_IP", "2")]).await;
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().ok())
            .build()
            .unwrap()
    };
    let login = |client: reqwest::Client, i: usize| {
        let url = d.url("/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({
                    "email": format!("apart{i}-{}@example.com", random_hex(3)),
                    "password": "wrong-password",
                }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (a, b) = (from("127.0.0.2"), from("127.0.0.3"));
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(login(a.clone(), i).await);
    }
    assert_eq!(statuses, vec![401, 401, 429], "client A spends its budget");
    assert_eq!(login(b, 9).await, 401, "client B still has its own");
    d.stop().await;
}

pub async fn an_ipv6_client_is_limited_by_its_64(kind: Kind) {
    // The test client stands in for a trusted proxy, so the addresses it names are believed.
    let d = Deployment::start(
        kind,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("RATE_LIMIT_PER_MINUTE", "4"),
            ("LOGIN_ATTEMPTS_PER_IP", "2"),
        ],
    )
    .await;
    let from = |ip: &str| {
        d.client
            .get(d.url("/tasks"))
            .header("x-forwarded-for", ip)
            .send()
    };
    // The gateway's limit: four requests per /64, whichever addresses of it they come from.
    let mut statuses = Vec::new();
    for ip in [
        "2001:db8:1:2::a",
        "2001:db8:1:2::b",
        "2001:db8:1:2:ffff::c",
        "2001:db8:1:2::d",
        "2001:db8:1:2:abcd::e",
    ] {
        statuses.push(from(ip).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 429]);
    assert_eq!(
        from("2001:db8:1:3::a").await.unwrap().status(),
        401,
        "the next /64"
    );

    // The auth service's login throttle: two failures per /64.
    let mut statuses = Vec::new();
    for (i, ip) in ["2001:db8:9:9::1", "2001:db8:9:9::2", "2001:db8:9:9:9::3"]
        .iter()
        .enumerate()
    {
        let res = d
            .client
            .post(d.url("/auth/login"))
            .header("x-forwarded-for", *ip)
            .json(&json!({
                "email": format!("six{i}-{}@example.com", random_hex(3)),
                "password": "wrong-password",
            }))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 429]);
    d.stop().await;
}

pub async fn every_answer_varies_by_origin(kind: Kind) {
    let d = Deployment::start(kind, &[("CORS_ORIGINS", "http://localhost:3000")]).await;
    let varies = |res: &reqwest::Response| {
        res.headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter(|t| t.trim().eq_ignore_ascii_case("origin"))
            .count()
    };
    for origin in [
        None,
        Some("http://localhost:3000"),
        Some("https://evil.example.net"),
    ] {
        for path in ["/health", "/tasks", "/no-such-route"] {
            let mut req = d.client.get(d.url(path));
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                varies(&res),
                1,
                "GET {path} from {origin:?}: {:?}",
                res.headers()
            );
        }
        if let Some(o) = origin {
            let res = d
                .client
                .request(reqwest::Method::OPTIONS, d.url("/tasks"))
                .header("origin", o)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap();
            assert_eq!(varies(&res), 1, "preflight from {o}: {:?}", res.headers());
        }
    }
    d.stop().await;
}
