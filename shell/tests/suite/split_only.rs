//! What only the split deployment has: a network between the gateway and the services.

use std::time::Duration;

use serde_json::{Value, json};
use tessera_app::config::{Env, TokenSettings};
use tessera_app::contracts::{Role, UserId};
use tessera_app::testkit::{assert_problem, eventually, random_hex};
use tessera_app::tokens::Tokens;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::deploy::{Deployment, Kind, Split, WAIT};
use crate::edge::{connect, counter, head, read_response};

#[tokio::test]
async fn one_request_id_is_in_the_logs_of_the_gateway_the_service_and_the_worker() {
    let mut d = Deployment::start(Kind::Split, &[]).await;
    let (_, token, _) = d
        .sign_up(
            &format!("logs-{}@example.com", random_hex(4)),
            "password123",
        )
        .await;
    let id = format!("trace-{}", random_hex(6));
    let res = d
        .client
        .post(d.url("/tasks"))
        .bearer_auth(&token)
        .header("x-request-id", &id)
        .json(&json!({"title": "Follow me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-request-id"], id.as_str());
    d.worker_settled().await;
    let split = d.split();
    // The worker's job and its call to the notification service carry the same id.
    for name in ["gateway", "task", "worker", "notification"] {
        let found = eventually(WAIT, &format!("{id} in the {name} log"), || async {
            split
                .logs(name)
                .iter()
                .any(|l| l.contains(&id))
                .then_some(())
        })
        .await;
        assert!(
            found.is_ok(),
            "{name} never logged {id}:\n{}",
            split.logs(name).join("\n")
        );
    }
    // No secret of that request reached any log.
    for name in ["gateway", "auth", "task", "worker", "notification"] {
        assert!(
            split.logs(name).iter().all(|l| !l.contains(&token)),
            "{name} logged a token"
        );
    }
    d.stop().await;
}

#[tokio::test]
async fn a_stopped_upstream_answers_503_at_once_and_recovers_when_it_is_back() {
    let mut d = Deployment::start(
        Kind::Split,
        &[("BREAKER_FAILURES", "2"), ("BREAKER_OPEN_FOR", "1s")],
    )
    .await;
    let (_, token, _) = d
        .sign_up(
            &format!("down-{}@example.com", random_hex(4)),
            "password123",
        )
        .await;
    assert_eq!(d.get("/tasks", &token).await.status(), 200);

    d.split().kill("task").await;
    // Refused connections count as failures; the second opens the breaker.
    for _ in 0..4 {
        let res = d.get("/tasks", &token).await;
        assert!(res.headers().contains_key("retry-after"));
        let problem = assert_problem(res, 503).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("task"),
            "{problem}"
        );
    }
    let gateway = d.split().url("gateway");
    let metrics = reqwest::get(format!("{gateway}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        counter(
            &metrics,
            "gateway_upstream_failures_total",
            &["upstream=\"task\"", "reason=\"breaker_open\""]
        ) >= 1.0,
        "the open breaker answered without calling: {metrics}"
    );
    let ready = d.client.get(d.url("/ready")).send().await.unwrap();
    let problem = assert_problem(ready, 503).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("service:task"),
        "{problem}"
    );
    // Other services are unaffected.
    assert_eq!(d.get("/notifications", &token).await.status(), 200);

    d.split().restart("task").await;
    eventually(
        WAIT,
        "the task service to answer through the gateway again",
        || async { (d.get("/tasks", &token).await.status() == 200).then_some(()) },
    )
    .await
    .unwrap();
    d.wait_ready().await;
    d.stop().await;
}

/// A minimal HTTP/1.1 upstream: `GET /tasks/big` streams `BIG` bytes, pausing after the first
/// `FIRST` until told to go on; `GET /tasks/echo` answers with the request head it received.
const BIG: usize = 5 * 1024 * 1024;
const FIRST: usize = 1024 * 1024;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

async fn fake_upstream(listener: TcpListener, go_on: tokio::sync::watch::Receiver<bool>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut go_on = go_on.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            if head.starts_with("GET /tasks/echo") {
                let body = serde_json::to_vec(&json!({"head": head})).unwrap();
                // `x-up-hop` is named in `Connection`: for this hop only.
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-upstream: fake\r\nconnection: x-up-hop\r\nx-up-hop: 1\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                return;
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {BIG}\r\n\r\n"
            );
            let _ = socket.write_all(reply.as_bytes()).await;
            let data: Vec<u8> = (0..BIG).map(pattern).collect();
            let _ = socket.write_all(&data[..FIRST]).await;
            let _ = socket.flush().await;
            // The rest only once the client has seen the first part through the gateway.
            let _ = go_on.wait_for(|go| *go).await;
            let _ = socket.write_all(&data[FIRST..]).await;
        });
    }
}

#[tokio::test]
async fn large_responses_stream_through_the_proxy_and_headers_are_cleaned() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let (go_on, wait) = tokio::sync::watch::channel(false);
    tokio::spawn(fake_upstream(listener, wait));

    let env: Vec<(String, String)> = vec![
        ("JWT_SECRET".into(), random_hex(32)),
        ("INTERNAL_JWT_SECRET".into(), random_hex(32)),
        ("TASK_SERVICE_URL".into(), upstream),
        ("RATE_LIMIT_PER_MINUTE".into(), "100000".into()),
    ];
    let mut split = Split::gateway_alone(&env).await;
    let gateway = split.url("gateway");
    let tokens = Tokens::new(&TokenSettings::from_env(&Env::from_pairs(env.clone())).unwrap());
    let token = tokens
        .issue_access(UserId(uuid::Uuid::now_v7()), "big@example.com", Role::User)
        .unwrap();
    let client = reqwest::Client::new();

    let mut res = client
        .get(format!("{gateway}/tasks/big"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.content_length(),
        Some(BIG as u64),
        "Content-Length passed on"
    );
    let mut received: Vec<u8> = Vec::with_capacity(BIG);
    while received.len() < FIRST {
        let chunk = tokio::time::timeout(WAIT, res.chunk())
            .await
            .expect("the first megabyte arrives while the upstream still holds the rest")
            .unwrap()
            .expect("more body");
        received.extend_from_slice(&chunk);
    }
    go_on.send(true).unwrap();
    while let Some(chunk) = res.chunk().await.unwrap() {
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received.len(), BIG);
    assert!(
        received.iter().enumerate().all(|(i, b)| *b == pattern(i)),
        "intact"
    );

    let res = client
        .get(format!("{gateway}/tasks/echo"))
        .bearer_auth(&token)
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-internal-user", "admin")
        .header("x-request-id", "echo-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-upstream"],
        "fake",
        "response headers passed back"
    );
    let head = res.json::<Value>().await.unwrap()["head"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(!head.contains("203.0.113.9"), "{head}");
    assert!(!head.contains("x-internal-user"), "{head}");
    assert!(head.contains("x-forwarded-for: 127.0.0.1"), "{head}");
    assert!(head.contains("x-request-id: echo-1"), "{head}");
    assert!(
        head.contains(&format!(
            "authorization: bearer {}",
            token.to_ascii_lowercase()
        )),
        "{head}"
    );
    split.stop_all().await;
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_is_a_503_not_a_hang() {
    // An upstream that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let env: Vec<(String, String)> = vec![
        ("JWT_SECRET".into(), random_hex(32)),
        ("INTERNAL_JWT_SECRET".into(), random_hex(32)),
        ("AUTH_SERVICE_URL".into(), upstream),
        ("UPSTREAM_TIMEOUT".into(), "300ms".into()),
        // No login slowdown, so no delay the short upstream timeout must leave room for.
        ("LOGIN_MAX_DELAY".into(), "0s".into()),
    ];
    let mut split = Split::gateway_alone(&env).await;
    let res = reqwest::Client::new()
        .post(format!("{}/auth/login", split.url("gateway")))
        .json(&json!({"email": "a@example.com", "password": "password123"}))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 503).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("auth"),
        "{problem}"
    );
    split.stop_all().await;
}

fn gateway_env(var: &str, upstream: String) -> Vec<(String, String)> {
    vec![
        ("JWT_SECRET".into(), random_hex(32)),
        ("INTERNAL_JWT_SECRET".into(), random_hex(32)),
        (var.into(), upstream),
    ]
}

fn access_token(env: &[(String, String)]) -> String {
    Tokens::new(&TokenSettings::from_env(&Env::from_pairs(env.to_vec())).unwrap())
        .issue_access(UserId(uuid::Uuid::now_v7()), "hop@example.com", Role::User)
        .unwrap()
}

#[tokio::test]
async fn headers_named_in_connection_stay_on_their_hop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let (_go_on, wait) = tokio::sync::watch::channel(false);
    tokio::spawn(fake_upstream(listener, wait));
    let env = gateway_env("TASK_SERVICE_URL", upstream);
    let mut split = Split::gateway_alone(&env).await;
    let token = access_token(&env);

    // Written by hand: HTTP clients manage `Connection` themselves. `head` sends
    // `connection: close` too; a header may come twice, and both count.
    let mut socket = connect(&split.url("gateway")).await;
    let request = head(
        "GET",
        "/tasks/echo",
        &[
            ("authorization", format!("Bearer {token}")),
            ("connection", "X-Hop-Secret".to_owned()),
            ("x-hop-secret", "for the gateway only".to_owned()),
            ("x-kept", "end to end".to_owned()),
        ],
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let answer = read_response(&mut socket, WAIT).await.to_ascii_lowercase();
    let (response_head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(response_head.starts_with("http/1.1 200"), "{answer}");
    assert!(
        response_head.contains("x-upstream: fake"),
        "{response_head}"
    );
    assert!(!response_head.contains("x-up-hop"), "{response_head}");
    let upstream_head = serde_json::from_str::<Value>(body).unwrap()["head"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        upstream_head.contains("x-kept: end to end"),
        "{upstream_head}"
    );
    assert!(!upstream_head.contains("x-hop-secret"), "{upstream_head}");
    split.stop_all().await;
}

#[tokio::test]
async fn a_failed_upstream_call_logs_no_access_token() {
    // An upstream that reads the request and hangs up without answering: the HTTP client's
    // error then quotes the whole URL, query string included.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
        }
    });
    let env = gateway_env("NOTIFICATION_SERVICE_URL", upstream);
    let mut split = Split::gateway_alone(&env).await;
    let token = access_token(&env);
    let res = reqwest::Client::new()
        .get(format!(
            "{}/notifications/stream?access_token={token}",
            split.url("gateway")
        ))
        .send()
        .await
        .unwrap();
    assert_problem(res, 503).await;
    eventually(WAIT, "the failure in the gateway's log", || async {
        split
            .logs("gateway")
            .iter()
            .any(|l| l.contains("upstream call failed"))
            .then_some(())
    })
    .await
    .unwrap();
    let logs = split.logs("gateway");
    assert!(
        logs.iter().all(|l| !l.contains(&token)),
        "the gateway logged the token:\n{}",
        logs.join("\n")
    );
    split.stop_all().await;
}

#[tokio::test]
async fn forgot_password_logs_the_same_line_for_known_and_unknown_addresses() {
    // The auth log must not tell an operator (or whoever reads the logs) which addresses have an
    // account: the line for a known address and for an unknown one differ only in time and span.
    let mut d = Deployment::start(Kind::Split, &[]).await;
    let known = format!("forgot-known-{}@example.com", random_hex(4));
    d.sign_up(&known, "password123").await;
    let unknown = format!("forgot-unknown-{}@example.com", random_hex(4));
    for email in [&known, &unknown] {
        let res = d
            .post("/auth/forgot-password", None, json!({"email": email}))
            .await;
        assert_eq!(res.status(), 202, "forgot-password for {email}");
    }
    let split = d.split();
    let lines = eventually(WAIT, "two reset lines in the auth log", || async {
        let lines: Vec<Value> = split
            .logs("auth")
            .iter()
            .filter(|l| l.contains("password reset requested"))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        (lines.len() == 2).then_some(lines)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}:\n{}", split.logs("auth").join("\n")));
    let what = |line: &Value| {
        let mut line = line.clone();
        if let Some(fields) = line.as_object_mut() {
            fields.remove("timestamp");
            fields.remove("span");
        }
        line
    };
    assert_eq!(what(&lines[0]), what(&lines[1]));
    d.stop().await;
}
