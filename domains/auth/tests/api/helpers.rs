use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
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

/// Asserts a problem+json response with `status` and returns its body.
pub async fn problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let rid = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .unwrap_or("")
            .starts_with("urn:tessera:problem:"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(
        body["requestId"].as_str(),
        Some(rid.as_str()),
        "requestId matches the header"
    );
    assert!(body["instance"].is_string(), "{body}");
    body
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
