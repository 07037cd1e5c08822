use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
pub use tessera_app::testkit::assert_problem as problem;
pub use tessera_app::testkit::{TestApp, spawn_app};
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

pub async fn app() -> TestApp {
    spawn_app(&[&tessera_task::DOMAIN], &[])
        .await
        .expect("app starts")
}

/// A user with an access token.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

pub fn user(app: &TestApp) -> User {
    let id = Uuid::new_v4();
    let token = app
        .platform
        .tokens
        .issue_access(UserId(id), &format!("{id}@example.com"), Role::User)
        .expect("token");
    User { id, token }
}

pub fn get(app: &TestApp, who: &User, path: &str) -> RequestBuilder {
    app.client.get(app.url(path)).bearer_auth(&who.token)
}

pub fn post(app: &TestApp, who: &User, path: &str) -> RequestBuilder {
    app.client.post(app.url(path)).bearer_auth(&who.token)
}

pub fn patch(app: &TestApp, who: &User, path: &str) -> RequestBuilder {
    app.client.patch(app.url(path)).bearer_auth(&who.token)
}

pub fn delete(app: &TestApp, who: &User, path: &str) -> RequestBuilder {
    app.client.delete(app.url(path)).bearer_auth(&who.token)
}

pub async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request")
}

/// Creates a task from `body` and returns it.
pub async fn create(app: &TestApp, who: &User, body: Value) -> Value {
    let res = send(post(app, who, "/tasks").json(&body)).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {body}");
    res.json().await.expect("json")
}

/// Creates a task with just a title.
pub async fn create_titled(app: &TestApp, who: &User, title: &str) -> Value {
    create(app, who, json!({ "title": title })).await
}

/// `PATCH /tasks/{id}` that must succeed.
pub async fn update(app: &TestApp, who: &User, id: &Value, body: Value) -> Value {
    let res = send(patch(app, who, &task_path(id)).json(&body)).await;
    assert_eq!(res.status(), StatusCode::OK, "patch {body}");
    res.json().await.expect("json")
}

/// `GET /tasks/{id}` that must succeed: the task as stored.
pub async fn stored(app: &TestApp, who: &User, id: &Value) -> Value {
    let res = send(get(app, who, &task_path(id))).await;
    assert_eq!(res.status(), StatusCode::OK, "get {id}");
    res.json().await.expect("json")
}

/// `GET` a list path that must succeed.
pub async fn list(app: &TestApp, who: &User, path: &str) -> Value {
    let res = send(get(app, who, path)).await;
    assert_eq!(res.status(), StatusCode::OK, "list {path}");
    res.json().await.expect("json")
}

/// The titles of a page, in order.
pub fn titles(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["title"].as_str().expect("title").to_owned())
        .collect()
}

pub fn task_path(id: &Value) -> String {
    format!("/tasks/{}", id.as_str().expect("id"))
}

/// The fields a validation problem names, in order.
pub fn named_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[derive(QueryableByName, Debug)]
pub struct OutboxRow {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub payload: Value,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub request_id: Option<String>,
}

/// Every outbox row of the task database with this topic, oldest first (sent or not).
pub async fn outbox(app: &TestApp, topic: &str) -> Vec<OutboxRow> {
    let pool = app.pool("task");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(
        "SELECT payload, request_id FROM outbox WHERE topic = $1 ORDER BY created_at, id",
    )
    .bind::<diesel::sql_types::Text, _>(topic)
    .load(&mut conn)
    .await
    .expect("outbox rows")
}

/// Runs one SQL statement on the task database; returns the affected rows.
pub async fn execute(app: &TestApp, sql: &str) -> usize {
    let pool = app.pool("task");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(sql).execute(&mut conn).await.expect(sql)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `SELECT count(*) AS n ...` on the task database.
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    let pool = app.pool("task");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .expect(sql)
        .n
}
