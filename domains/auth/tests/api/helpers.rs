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
