use std::pin::Pin;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::{Stream, StreamExt};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tessera_app::queue::Job;
pub use tessera_app::testkit::assert_problem as problem;
pub use tessera_app::testkit::problem_fields as fields;
pub use tessera_app::testkit::{TestApp, eventually, mails_to, random_hex, spawn_app};
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

/// An app whose e-mail goes to the test catcher.
pub async fn app() -> TestApp {
    app_with(&[]).await
}

/// An app whose e-mail goes to the test catcher, with `overrides` (they win).
pub async fn app_with(overrides: &[(&str, &str)]) -> TestApp {
    let smtp = tessera_app::testkit::smtp_env();
    let mut vars: Vec<(&str, &str)> = smtp.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend_from_slice(overrides);
    spawn_app(&[&tessera_notification::DOMAIN], &vars)
        .await
        .expect("app starts")
}

/// A unique address, so tests sharing the catcher never see each other's mail.
pub fn address(tag: &str) -> String {
    format!("{tag}-{}@example.test", random_hex(6))
}

/// Someone with an access token of `app`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

/// A user with a fresh id (not in the address book until [`registered`]).
pub fn user(app: &TestApp, tag: &str) -> Caller {
    let id = Uuid::new_v4();
    let email = address(tag);
    let token = app
        .platform
        .tokens
        .issue_access(UserId(id), &email, Role::User)
        .expect("token");
    Caller { id, email, token }
}

/// A service token, as the worker presents it.
pub fn service_token(app: &TestApp) -> String {
    app.platform
        .tokens
        .issue_service("worker")
        .expect("service token")
}

/// `POST /notifications/send` with a service token.
pub async fn send(app: &TestApp, body: Value) -> Response {
    app.client
        .post(app.url("/notifications/send"))
        .bearer_auth(service_token(app))
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// A send body for `user` with `extra` fields merged in.
pub fn body(user: Uuid, channel: &str, extra: Value) -> Value {
    let mut body = json!({
        "userId": user,
        "type": "INFO",
        "channel": channel,
        "message": "Your task \"Write the report\" was created.",
    });
    for (k, v) in extra.as_object().expect("an object") {
        body[k] = v.clone();
    }
    body
}

/// Sends an in-app notification and returns it.
pub async fn in_app(app: &TestApp, user: Uuid, message: &str) -> Value {
    let res = send(app, body(user, "IN_APP", json!({"message": message}))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.expect("json")
}

pub async fn request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("request")
}

pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    request(app, reqwest::Method::GET, path, token).await
}

/// The body of a response with `status`.
pub async fn json_of(res: Response, status: u16) -> Value {
    let actual = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

/// Asserts the wire shape of a notification: exactly the eight documented fields.
pub fn assert_notification_shape(n: &Value) {
    let obj = n.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "channel",
            "createdAt",
            "id",
            "message",
            "read",
            "subject",
            "type",
            "userId"
        ],
        "{n}"
    );
    let ts = n["createdAt"].as_str().unwrap_or("");
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
        "createdAt is RFC 3339 with millis: {ts}"
    );
    assert!(
        Uuid::parse_str(n["id"].as_str().unwrap_or("")).is_ok(),
        "{n}"
    );
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

/// A `user.deleted` job as the user domain's outbox would publish it.
pub fn deleted_job(id: Uuid) -> Job {
    Job::new(
        "user.deleted",
        json!({"userId": id, "deletedAt": "2026-11-26T10:00:00.000Z"}),
    )
}

pub async fn publish(app: &TestApp, job: &Job) {
    app.platform.queue.publish(job).await.expect("publish");
}

/// Waits until the `notification` group has read and settled every job of `topic`, so whatever
/// a handler does has committed. Returns the number of dead-lettered jobs.
///
/// `Queue::stats` reads `pending` before `lag`, not atomically: one sample can catch a job
/// after it was read (lag 0) but count pending from before (0) while its handler still runs.
/// A sample's `pending` read after an earlier sample's `lag` is 0 has no such gap, so two
/// consecutive settled samples are required.
pub async fn drained(app: &TestApp, topic: &str) -> u64 {
    let settled = || async {
        let stats = app.platform.queue.stats().await.ok()?;
        let s = stats
            .into_iter()
            .find(|s| s.topic == topic && s.group == "notification")?;
        (s.lag == Some(0) && s.pending == 0 && s.delayed == 0).then_some(s.dead)
    };
    eventually(
        Duration::from_secs(10),
        &format!("the notification group to settle {topic}"),
        || async {
            settled().await?;
            settled().await
        },
    )
    .await
    .expect("drained")
}

/// Puts `who` into the address book through the event, as auth would.
pub async fn registered(app: &TestApp, who: &Caller, name: Option<&str>) {
    publish(app, &registered_job(who.id, &who.email, name)).await;
    assert_eq!(drained(app, "user.registered").await, 0);
}

/// Waits for `n` messages to `address` at the catcher, then a little longer to catch an extra
/// one, and returns them.
pub async fn mails(address: &str, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(10),
        "the e-mail at the catcher",
        || async {
            let found = mails_to(address).await.ok()?;
            (found.len() >= n).then_some(())
        },
    )
    .await
    .expect("mail arrives");
    tokio::time::sleep(Duration::from_millis(300)).await;
    mails_to(address).await.expect("catcher")
}

#[derive(QueryableByName, Debug)]
pub struct StoredRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub sent: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub pending: bool,
}

/// Every stored notification of a user, oldest first.
pub async fn stored(app: &TestApp, user: Uuid) -> Vec<StoredRow> {
    let pool = app.pool("notification");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(
        "SELECT email_sent_at IS NOT NULL AS sent, email_next_attempt_at IS NOT NULL AS pending \
         FROM notifications WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .load(&mut conn)
    .await
    .expect("rows")
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// How many subscribers the live feed's Redis channel has (one per running app on the prefix).
pub async fn feed_subscribers(app: &TestApp) -> i64 {
    use fred::prelude::ClientLike;
    let channel = app.platform.redis_settings.key(&["notifications"]);
    let answer: Vec<fred::types::Value> = app
        .platform
        .redis
        .custom(fred::cmd!("PUBSUB"), vec!["NUMSUB".to_owned(), channel])
        .await
        .expect("PUBSUB NUMSUB");
    answer
        .get(1)
        .and_then(fred::types::Value::as_i64)
        .unwrap_or(0)
}

/// Waits until `n` processes listen on the live feed, so nothing published is missed.
pub async fn feed_ready(app: &TestApp, n: i64) {
    eventually(
        Duration::from_secs(10),
        "the live feed subscribers",
        || async { (feed_subscribers(app).await >= n).then_some(()) },
    )
    .await
    .expect("feed subscribed");
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// An open Server-Sent Events stream, read block by block.
pub struct Sse {
    stream: ByteStream,
    buffer: String,
}

/// One SSE block: the event name and data, or a comment.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Event { event: String, data: String },
    Comment(String),
    Other(String),
}

impl Sse {
    /// Opens the stream with `?access_token=` and checks the answer's head.
    pub async fn open(app: &TestApp, token: &str) -> Sse {
        let res = app
            .client
            .get(app.url(&format!("/notifications/stream?access_token={token}")))
            .send()
            .await
            .expect("stream request");
        Self::from_response(res)
    }

    pub fn from_response(res: Response) -> Sse {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        assert_eq!(
            res.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-cache")
        );
        Sse {
            stream: Box::pin(res.bytes_stream().map(|chunk| chunk.map(|b| b.to_vec()))),
            buffer: String::new(),
        }
    }

    /// The next block within `deadline`; `None` when the stream ended or the deadline passed.
    pub async fn next(&mut self, deadline: Duration) -> Option<Block> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(raw.trim_end()));
            }
            let chunk = tokio::time::timeout_at(until, self.stream.next())
                .await
                .ok()??;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.ok()?).expect("utf-8"));
        }
    }

    /// The next `notification` event's data within `deadline`, skipping comments.
    pub async fn next_notification(&mut self, deadline: Duration) -> Option<Value> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Block::Event { event, data } => {
                    assert_eq!(event, "notification");
                    return Some(serde_json::from_str(&data).expect("JSON data"));
                }
                Block::Comment(_) | Block::Other(_) => {}
            }
        }
    }

    /// Whether the server ended the stream within `deadline` (everything before is skipped).
    pub async fn ends_within(&mut self, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            match tokio::time::timeout_at(until, self.stream.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

fn parse_block(raw: &str) -> Block {
    if raw.lines().all(|l| l.starts_with(':')) {
        return Block::Comment(raw.to_owned());
    }
    let mut event = None;
    let mut data = Vec::new();
    for line in raw.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v.to_owned());
        }
    }
    match event {
        Some(event) => Block::Event {
            event,
            data: data.join("\n"),
        },
        None => Block::Other(raw.to_owned()),
    }
}

/// What the dispatcher recorded about a notification's e-mail.
#[derive(QueryableByName, Debug, Clone)]
pub struct EmailState {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub pending: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub sent: bool,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub failure: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    pub data: Option<Value>,
}

/// The e-mail state of notification `id` in `app`'s database.
pub async fn email_state(app: &TestApp, id: &str) -> EmailState {
    let pool = app.pool("notification");
    let mut conn = pool.get().await.expect("conn");
    diesel::sql_query(
        "SELECT email_next_attempt_at IS NOT NULL AS pending, email_sent_at IS NOT NULL AS sent, \
         email_attempts AS attempts, email_failure AS failure, data \
         FROM notifications WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(id).expect("an id"))
    .get_result(&mut conn)
    .await
    .expect("the row")
}

/// Waits until the e-mail of notification `id` satisfies `done`, and returns its state.
pub async fn email_until(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&EmailState) -> bool,
) -> EmailState {
    eventually(Duration::from_secs(30), what, || async {
        let state = email_state(app, id).await;
        done(&state).then_some(state)
    })
    .await
    .expect(what)
}

/// Waits until the e-mail of notification `id` is marked sent.
pub async fn email_sent(app: &TestApp, id: &str) -> EmailState {
    email_until(app, id, "the e-mail marked sent", |s| s.sent && !s.pending).await
}

/// The value of an unlabelled series in `app`'s `/metrics` (0 when absent).
pub async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| {
            let (series, value) = l.split_once(' ')?;
            (series == name).then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0.0)
}
