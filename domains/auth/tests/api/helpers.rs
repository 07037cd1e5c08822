use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
pub use tessera_app::testkit::assert_problem as problem;
pub use tessera_app::testkit::{TestApp, eventually, spawn_app};

pub async fn app() -> TestApp {
    app_with(&[]).await
}

pub async fn app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app(&[&tessera_auth::DOMAIN], overrides)
        .await
        .expect("app starts")
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> Response {
    app.client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// `POST /auth/refresh` with `token` (a `&str`, `String` or the `refreshToken` of a response).
pub async fn refresh(app: &TestApp, token: impl serde::Serialize) -> Response {
    post(app, "/auth/refresh", json!({ "refreshToken": token })).await
}

/// Deletes the user the way the user domain does (a `user.deleted` event) and waits until auth
/// has applied it, which shows as the account's login being refused.
pub async fn delete_user(app: &TestApp, user_id: &Value, email: &str, password: &str) {
    let event = json!({"userId": user_id, "deletedAt": "2026-11-25T10:00:00.000Z"});
    app.platform
        .queue
        .publish(&tessera_app::queue::Job::new(
            tessera_contracts::events::topics::USER_DELETED,
            event,
        ))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "the deletion to reach auth (its login refused)",
        || async {
            let res = post(
                app,
                "/auth/login",
                json!({"email": email, "password": password}),
            )
            .await;
            (res.status() == 401).then_some(())
        },
    )
    .await
    .unwrap();
}

pub async fn register(app: &TestApp, email: &str, password: &str) -> Value {
    let res = post(
        app,
        "/auth/register",
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED, "register {email}");
    res.json().await.expect("json")
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    let res = post(
        app,
        "/auth/login",
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "login {email}");
    res.json().await.expect("json")
}

#[derive(QueryableByName, Debug)]
pub struct OutboxRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub topic: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub payload: Value,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub request_id: Option<String>,
}

/// Every outbox row of the auth database, oldest first.
pub async fn outbox(app: &TestApp) -> Vec<OutboxRow> {
    let pool = app.pool("auth");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query("SELECT topic, payload, request_id FROM outbox ORDER BY created_at, id")
        .load(&mut conn)
        .await
        .expect("outbox rows")
}

/// The reset links of every `email.send` event, oldest first, read from the queue once the relay
/// has published every such outbox row (a sent row no longer keeps its link).
pub async fn reset_links(app: &TestApp) -> Vec<String> {
    use fred::prelude::StreamsInterface;
    let expected = outbox(app)
        .await
        .iter()
        .filter(|r| r.topic == "email.send")
        .count();
    let key = app.platform.queue.stream_key("email.send");
    let jobs = eventually(
        Duration::from_secs(10),
        "the reset e-mails on the queue",
        || async {
            let entries: Vec<(String, std::collections::HashMap<String, String>)> = app
                .platform
                .redis
                .xrange_values(&key, "-", "+", None)
                .await
                .ok()?;
            let jobs: Vec<Value> = entries
                .iter()
                .filter_map(|(_, fields)| serde_json::from_str(fields.get("job")?).ok())
                .collect();
            (jobs.len() >= expected).then_some(jobs)
        },
    )
    .await
    .expect("published");
    jobs.iter()
        .map(|job| {
            assert_eq!(job["data"]["template"], "password-reset");
            job["data"]["data"]["resetUrl"]
                .as_str()
                .expect("a reset link")
                .to_owned()
        })
        .collect()
}

/// The newest reset link.
pub async fn reset_link(app: &TestApp) -> String {
    reset_links(app).await.pop().expect("a reset link")
}

/// The token of a reset link.
pub fn token_of(link: &str) -> String {
    link.split_once("token=")
        .map(|(_, t)| t.to_owned())
        .expect("a token in the link")
}
