use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tessera_app::queue::Job;
pub use tessera_app::testkit::assert_problem as problem;
pub use tessera_app::testkit::problem_fields as fields;
pub use tessera_app::testkit::{TestApp, eventually, spawn_app};
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

pub async fn app() -> TestApp {
    app_with(&[]).await
}

pub async fn app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app(&[&tessera_user::DOMAIN], overrides)
        .await
        .expect("app starts")
}

/// Someone with an access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub token: String,
}

fn caller(app: &TestApp, email: &str, role: Role) -> Caller {
    let id = Uuid::new_v4();
    let token = app
        .platform
        .tokens
        .issue_access(UserId(id), email, role)
        .expect("token");
    Caller { id, token }
}

/// A regular user with a fresh id.
pub fn user(app: &TestApp, email: &str) -> Caller {
    caller(app, email, Role::User)
}

/// An administrator with a fresh id.
pub fn admin(app: &TestApp, email: &str) -> Caller {
    caller(app, email, Role::Admin)
}

pub fn path(id: Uuid) -> String {
    format!("/users/{id}")
}

pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    let mut req = app.client.get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("request")
}

pub async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

pub async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    let mut req = app.client.delete(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("request")
}

/// The body of a 200 response.
pub async fn ok(res: Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.expect("json body");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The caller's own profile, creating it on the way (the owner's first read does).
pub async fn own_profile(app: &TestApp, who: &Caller) -> Value {
    ok(get(app, &path(who.id), Some(&who.token)).await).await
}

/// Asserts the wire shape of a profile: exactly the nine fields, ids as UUIDs, RFC 3339
/// timestamps with milliseconds and `Z`.
pub fn assert_profile_shape(p: &Value) {
    let obj = p.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar",
            "bio",
            "createdAt",
            "email",
            "id",
            "name",
            "role",
            "updatedAt",
            "userId"
        ],
        "{p}"
    );
    for id in ["id", "userId"] {
        assert!(
            Uuid::parse_str(p[id].as_str().unwrap_or("")).is_ok(),
            "{id}: {p}"
        );
    }
    for ts in ["createdAt", "updatedAt"] {
        let s = p[ts].as_str().unwrap_or("");
        assert!(
            s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.',
            "{ts} is RFC 3339 with millis: {s}"
        );
        assert!(chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{s}");
    }
    for nullable in ["name", "bio", "avatar"] {
        assert!(p[nullable].is_null() || p[nullable].is_string(), "{p}");
    }
    assert!(matches!(p["role"].as_str(), Some("USER" | "ADMIN")), "{p}");
}

/// A `user.registered` job as auth's outbox would publish it.
pub fn registered_job(id: Uuid, email: &str, name: Option<&str>) -> Job {
    Job::new(
        "user.registered",
        json!({
            "userId": id,
            "email": email,
            "name": name,
            "role": "USER",
            "createdAt": "2026-11-25T10:00:00.000Z",
        }),
    )
}

pub async fn publish(app: &TestApp, job: &Job) {
    app.platform.queue.publish(job).await.expect("publish");
}

/// Waits until the `user` group has read and settled every job of `topic` (nothing unread,
/// pending or waiting for a retry), so whatever a handler does has committed.
///
/// `Queue::stats` reads its counters one after another, not as one snapshot: a job read between
/// the pending count and the lag looks settled. Two settled snapshots in a row close that gap
/// (the second's pending count is taken after the first saw nothing left to deliver).
pub async fn drained(app: &TestApp, topic: &str) {
    let streak = std::cell::Cell::new(0);
    eventually(
        Duration::from_secs(10),
        &format!("the user group to settle {topic}"),
        || {
            let streak = &streak;
            async move {
                let stats = app.platform.queue.stats().await.ok()?;
                let settled = stats.into_iter().any(|s| {
                    s.topic == topic
                        && s.group == "user"
                        && s.lag == Some(0)
                        && s.pending == 0
                        && s.delayed == 0
                });
                streak.set(if settled { streak.get() + 1 } else { 0 });
                (streak.get() >= 2).then_some(())
            }
        },
    )
    .await
    .expect("drained");
}

/// Dead-lettered jobs of `topic` in the `user` group.
pub async fn dead(app: &TestApp, topic: &str) -> u64 {
    app.platform
        .queue
        .stats()
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.topic == topic && s.group == "user")
        .map(|s| s.dead)
        .unwrap_or(0)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub role: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub deleted: bool,
}

/// Every stored profile row of a user (deleted ones too).
pub async fn rows(app: &TestApp, user_id: Uuid) -> Vec<Row> {
    let pool = app.pool("user");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(
        "SELECT email, name, role, deleted_at IS NOT NULL AS deleted FROM profiles WHERE user_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .load(&mut conn)
    .await
    .expect("profile rows")
}

/// Runs a statement on the user database (to arrange state the API cannot).
pub async fn sql(app: &TestApp, statement: &str) {
    let pool = app.pool("user");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .expect("statement");
}

/// Waits for the user's profile row to exist.
pub async fn profile_row(app: &TestApp, user_id: Uuid) -> Row {
    eventually(Duration::from_secs(10), "the profile row", || async {
        rows(app, user_id).await.into_iter().next()
    })
    .await
    .expect("profile created")
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

/// Every outbox row of the user database, oldest first.
pub async fn outbox(app: &TestApp) -> Vec<OutboxRow> {
    let pool = app.pool("user");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query("SELECT topic, payload, request_id FROM outbox ORDER BY created_at, id")
        .load(&mut conn)
        .await
        .expect("outbox rows")
}
