//! What the user receives (API.md, "What the user receives"), end to end over HTTP with the real
//! Postgres, Redis and SMTP catcher: a request in one domain, an event through the outbox and the
//! queue, the worker, and the notification domain's in-app list, live stream and e-mail.
//!
//! Most tests mount every domain in one process, as `just dev` does; the last one runs the
//! notification domain in a second process, as the split deployment does, so the worker reaches
//! it over HTTP with a service token.
//!
//! The SMTP catcher is shared by every test, so each test uses its own addresses.

#![cfg(all(
    feature = "auth",
    feature = "user",
    feature = "task",
    feature = "notification",
    feature = "worker"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

use std::time::Duration;

use fred::prelude::PubsubInterface;
use serde_json::{Value, json};
use tessera_app::testkit::{TestApp, eventually, mails_to, random_hex, smtp_env, spawn_app};

const WAIT: Duration = Duration::from_secs(30);
const WEB_APP_URL: &str = "http://localhost:3000";
/// The subjects the worker gives its e-mails (`domains/worker/src/plan.rs`).
const WELCOME: &str = "Welcome to Tessera: your first task is in";
const CONGRATULATIONS: &str = "Congratulations, you completed a task";
const PASSWORD_RESET: &str = "Reset your Tessera password";

/// The mail and link settings every app here runs with.
fn mail_env() -> Vec<(&'static str, String)> {
    let mut env = smtp_env();
    env.push(("WEB_APP_URL", WEB_APP_URL.to_owned()));
    env
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Every domain in one process.
async fn platform() -> TestApp {
    spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_user::DOMAIN,
            &tessera_task::DOMAIN,
            &tessera_notification::DOMAIN,
            &tessera_worker::DOMAIN,
        ],
        &pairs(&mail_env()),
    )
    .await
    .unwrap()
}

/// An address no other test uses (the catcher is shared).
fn address(label: &str) -> String {
    format!("{label}-{}@example.com", random_hex(6))
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Registers and logs in on `app`; returns the access token.
async fn sign_up(app: &TestApp, email: &str, password: &str) -> String {
    let res = post(
        app,
        "/auth/register",
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(res.status(), 201);
    login(app, email, password).await.unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Option<String> {
    let res = post(
        app,
        "/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    if res.status() != 200 {
        return None;
    }
    let body: Value = res.json().await.unwrap();
    Some(body["accessToken"].as_str().unwrap().to_owned())
}

/// Creates a task; returns its id.
async fn create_task(app: &TestApp, token: &str, title: &str) -> String {
    let res = post(app, "/tasks", Some(token), json!({"title": title})).await;
    assert_eq!(res.status(), 201);
    let task: Value = res.json().await.unwrap();
    task["id"].as_str().unwrap().to_owned()
}

/// The caller's in-app notifications, newest first.
async fn in_app(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app
        .client
        .get(app.url("/notifications?limit=100"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["channel"] == "IN_APP")
        .cloned()
        .collect()
}

/// Waits until the caller has `count` in-app notifications with `subject`; returns them.
async fn wait_in_app(app: &TestApp, token: &str, subject: &str, count: usize) -> Vec<Value> {
    eventually(
        WAIT,
        &format!("{count} in-app notification(s) {subject:?}"),
        || async {
            let found: Vec<Value> = in_app(app, token)
                .await
                .into_iter()
                .filter(|n| n["subject"] == subject)
                .collect();
            (found.len() >= count).then_some(found)
        },
    )
    .await
    .unwrap()
}

/// The mails to `to` with `subject` in the shared catcher.
async fn mails(to: &str, subject: &str) -> Vec<Value> {
    mails_to(to)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m["subject"] == subject)
        .collect()
}

/// Waits for the first mail to `to` with `subject`.
async fn wait_mail(to: &str, subject: &str) -> Value {
    eventually(WAIT, &format!("the mail {subject:?}"), || async {
        mails(to, subject).await.into_iter().next()
    })
    .await
    .unwrap()
}

/// The text and HTML bodies of a maildev message, joined.
fn body(mail: &Value) -> String {
    format!(
        "{}\n{}",
        mail["text"].as_str().unwrap_or_default(),
        mail["html"].as_str().unwrap_or_default()
    )
}

/// Waits until the worker group has nothing in flight, waiting, or unread on any topic, and
/// checks that nothing is dead: after this, a missing effect is really missing.
async fn worker_settled(app: &TestApp) {
    let queue = &app.platform.queue;
    eventually(WAIT, "the worker's jobs to settle", || async {
        let stats = queue.stats().await.ok()?;
        stats
            .iter()
            .filter(|s| s.group == "worker")
            .all(|s| s.pending == 0 && s.delayed == 0 && s.lag == Some(0))
            .then_some(())
    })
    .await
    .unwrap();
    assert!(
        queue.list_dead().await.unwrap().is_empty(),
        "no job was dead-lettered"
    );
}

#[tokio::test]
async fn the_first_task_brings_an_in_app_notification_and_the_only_welcome_email() {
    let app = platform().await;
    let email = address("first-task");
    let token = sign_up(&app, &email, "password123").await;

    create_task(&app, &token, "Write the report").await;
    let notes = wait_in_app(&app, &token, "New Task Created", 1).await;
    assert_eq!(notes[0]["type"], "INFO");
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("Write the report"),
        "{}",
        notes[0]
    );
    assert_eq!(notes[0]["read"], false);
    let welcome = wait_mail(&email, WELCOME).await;
    assert_eq!(welcome["to"][0]["address"], email.as_str());
    // A link into the web app. The worker passes the task's own page (`taskUrl`); the
    // notification domain's template links the task list, which this accepts too.
    let link = format!("{WEB_APP_URL}/tasks");
    assert!(
        body(&welcome).contains(&link),
        "the welcome mail links {link}"
    );
    assert!(
        welcome["html"].as_str().is_some_and(|h| !h.is_empty())
            && welcome["text"].as_str().is_some_and(|t| !t.is_empty()),
        "HTML with a plain-text alternative"
    );

    create_task(&app, &token, "Second thoughts").await;
    let notes = wait_in_app(&app, &token, "New Task Created", 2).await;
    assert_eq!(notes.len(), 2);
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("Second thoughts")
    );
    // The second job has run to its end (its in-app notification is visible and nothing is
    // pending): a second welcome mail would be in the catcher by now.
    worker_settled(&app).await;
    assert_eq!(mails(&email, WELCOME).await.len(), 1, "one welcome mail");
    app.shutdown().await;
}

#[tokio::test]
async fn completing_a_task_notifies_in_app_and_sends_the_congratulations_email() {
    let app = platform().await;
    let email = address("complete");
    let token = sign_up(&app, &email, "password123").await;
    let task = create_task(&app, &token, "Ship it").await;

    let res = app
        .client
        .patch(app.url(&format!("/tasks/{task}")))
        .bearer_auth(&token)
        .json(&json!({"status": "COMPLETED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let done = wait_in_app(&app, &token, "Task Completed", 1).await;
    assert_eq!(done[0]["type"], "SUCCESS");
    assert!(done[0]["message"].as_str().unwrap().contains("Ship it"));
    let mail = wait_mail(&email, CONGRATULATIONS).await;
    assert!(body(&mail).contains("Ship it"), "the mail names the task");
    worker_settled(&app).await;
    assert_eq!(mails(&email, CONGRATULATIONS).await.len(), 1);
    assert_eq!(
        wait_in_app(&app, &token, "Task Completed", 1).await.len(),
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn forgot_password_mails_a_reset_link_that_works() {
    let app = platform().await;
    let email = address("reset");
    sign_up(&app, &email, "password123").await;

    let res = post(&app, "/auth/forgot-password", None, json!({"email": email})).await;
    assert_eq!(res.status(), 202);
    let mail = wait_mail(&email, PASSWORD_RESET).await;
    let text = body(&mail);
    let prefix = format!("{WEB_APP_URL}/reset-password?token=");
    let start = text.find(&prefix).expect("the mail carries the reset link") + prefix.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%'))
        .collect();
    assert!(token.len() >= 32, "a token of at least 256 bits: {token:?}");

    let res = post(
        &app,
        "/auth/reset-password",
        None,
        json!({"token": token, "password": "a-new-password-456"}),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert!(login(&app, &email, "a-new-password-456").await.is_some());
    assert!(login(&app, &email, "password123").await.is_none());
    worker_settled(&app).await;
    assert_eq!(mails(&email, PASSWORD_RESET).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_stream_pushes_the_notification_of_a_task_created_after_connecting() {
    let app = platform().await;
    let email = address("stream");
    let token = sign_up(&app, &email, "password123").await;
    // The process's live feed subscribes to Redis pub/sub in the background after the app has
    // started, and a notification published before that reaches no stream. Wait until some
    // channel under this app's prefix has a subscriber, so the test measures the stream and not
    // that start-up window.
    let pattern = format!("{}:*", app.platform.redis_settings.prefix);
    eventually(WAIT, "the live feed to subscribe", || async {
        let channels: Vec<String> = app.platform.redis.pubsub_channels(&pattern).await.ok()?;
        (!channels.is_empty()).then_some(())
    })
    .await
    .unwrap();

    let mut stream = app
        .client
        .get(app.url(&format!("/notifications/stream?access_token={token}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let content_type = stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );

    create_task(&app, &token, "Live and direct").await;
    let pushed = tokio::time::timeout(WAIT, async {
        let mut buf = String::new();
        loop {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            buf.push_str(&String::from_utf8_lossy(&chunk).replace('\r', ""));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let mut event = "message";
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = if v.trim() == "notification" {
                            "notification"
                        } else {
                            "other"
                        };
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if event == "notification" {
                    let n: Value = serde_json::from_str(&data).unwrap();
                    if n["channel"] == "IN_APP" {
                        return n;
                    }
                }
            }
        }
    })
    .await
    .expect("a notification event arrives");
    assert_eq!(pushed["subject"], "New Task Created");
    assert!(
        pushed["message"]
            .as_str()
            .unwrap()
            .contains("Live and direct")
    );
    drop(stream);
    worker_settled(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_worker_reaches_a_notification_service_in_another_process_over_http() {
    // What the two processes share in the split deployment: the token secrets (service tokens
    // must verify) and Redis (the notification domain learns addresses from user.registered).
    let shared = [
        ("JWT_SECRET", random_hex(32)),
        ("INTERNAL_JWT_SECRET", random_hex(32)),
        ("REDIS_PREFIX", format!("test:{}", random_hex(8))),
    ];
    let mut env: Vec<(&'static str, String)> = shared.to_vec();
    env.extend(mail_env());
    let notification = spawn_app(&[&tessera_notification::DOMAIN], &pairs(&env))
        .await
        .unwrap();
    let mut env: Vec<(&'static str, String)> = shared.to_vec();
    env.push(("NOTIFICATION_SERVICE_URL", notification.base.clone()));
    env.push(("WEB_APP_URL", WEB_APP_URL.to_owned()));
    let api = spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_task::DOMAIN,
            &tessera_worker::DOMAIN,
        ],
        &pairs(&env),
    )
    .await
    .unwrap();

    let email = address("split");
    let token = sign_up(&api, &email, "password123").await;
    create_task(&api, &token, "Across the wire").await;
    let notes = wait_in_app(&notification, &token, "New Task Created", 1).await;
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("Across the wire")
    );
    let welcome = wait_mail(&email, WELCOME).await;
    assert!(body(&welcome).contains(&format!("{WEB_APP_URL}/tasks")));
    worker_settled(&api).await;
    assert_eq!(mails(&email, WELCOME).await.len(), 1);
    assert_eq!(in_app(&notification, &token).await.len(), 1);

    api.shutdown().await;
    notification.shutdown().await;
}
