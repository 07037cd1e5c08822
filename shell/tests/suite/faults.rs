//! Faults on the asynchronous path (DESIGN.md, "Testing layers" 6): a mail server that is down,
//! a notification service that does not answer, a worker that dies holding a job, a job
//! delivered twice, a job that keeps failing. In each, the user ends up with exactly one
//! notification: nothing lost, nothing doubled.
//!
//! Real Postgres, Redis and SMTP catchers; queue timings are shortened through the environment,
//! and every wait polls for a state instead of sleeping.

#![cfg(all(
    feature = "auth",
    feature = "task",
    feature = "notification",
    feature = "worker"
))]
use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fred::prelude::StreamsInterface;
use serde_json::{Value, json};
use tessera_app::queue::{Job, ReplaySelector};
use tessera_app::testkit::{
    TestApp, eventually, free_port, mails_to, random_hex, random_uuid, smtp_env, spawn_app,
    spawn_app_on,
};

/// What XREADGROUP answers: stream key -> [(entry id, field -> value)].
type StreamRead = HashMap<String, Vec<(String, HashMap<String, String>)>>;

const WAIT: Duration = Duration::from_secs(30);
const WEB_APP_URL: &str = "http://localhost:3000";
/// The subjects the worker gives its e-mails (`domains/worker/src/plan.rs`).
const WELCOME: &str = "Welcome to Tessera: your first task is in";
const PASSWORD_RESET: &str = "Reset your Tessera password";

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// What two processes of one deployment share: the token secrets, the Redis prefix and the web
/// app's address.
fn shared() -> Vec<(&'static str, String)> {
    vec![
        ("JWT_SECRET", random_hex(32)),
        ("INTERNAL_JWT_SECRET", random_hex(32)),
        ("REDIS_PREFIX", format!("test:{}", random_hex(8))),
        ("WEB_APP_URL", WEB_APP_URL.to_owned()),
    ]
}

/// Retries and deferrals come fast; the attempt budget is the default one (5), which an outage
/// must not spend.
fn fast_queue() -> Vec<(&'static str, String)> {
    vec![
        ("QUEUE_BASE_BACKOFF", "50ms".to_owned()),
        ("QUEUE_MAX_BACKOFF", "200ms".to_owned()),
        ("QUEUE_MAX_OUTAGE_BACKOFF", "200ms".to_owned()),
    ]
}

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

/// Registers and logs in; returns (user id, access token).
async fn sign_up(app: &TestApp, email: &str) -> (String, String) {
    let creds = json!({"email": email, "password": "password123"});
    let res = post(app, "/auth/register", None, creds.clone()).await;
    assert_eq!(res.status(), 201);
    let registered: Value = res.json().await.unwrap();
    let res = post(app, "/auth/login", None, creds).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    (
        registered["user"]["id"].as_str().unwrap().to_owned(),
        tokens["accessToken"].as_str().unwrap().to_owned(),
    )
}

async fn create_task(app: &TestApp, token: &str, title: &str) -> String {
    let res = post(app, "/tasks", Some(token), json!({"title": title})).await;
    assert_eq!(res.status(), 201);
    let task: Value = res.json().await.unwrap();
    task["id"].as_str().unwrap().to_owned()
}

/// The caller's in-app notifications with `subject`.
async fn in_app(app: &TestApp, token: &str, subject: &str) -> Vec<Value> {
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
        .filter(|n| n["channel"] == "IN_APP" && n["subject"] == subject)
        .cloned()
        .collect()
}

async fn wait_in_app(app: &TestApp, token: &str, subject: &str) {
    eventually(
        WAIT,
        &format!("the in-app notification {subject:?}"),
        || async { (!in_app(app, token, subject).await.is_empty()).then_some(()) },
    )
    .await
    .unwrap();
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

async fn wait_mail(to: &str, subject: &str) {
    eventually(WAIT, &format!("the mail {subject:?}"), || async {
        (!mails(to, subject).await.is_empty()).then_some(())
    })
    .await
    .unwrap();
}

/// A counter of `/metrics` for one topic and group (0 before it is first incremented).
async fn counter(app: &TestApp, name: &str, topic: &str, group: &str) -> u64 {
    let text = app.metrics().await;
    let (topic, group) = (format!("topic=\"{topic}\""), format!("group=\"{group}\""));
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&topic) && l.contains(&group))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Waits until the worker's job of `topic` has failed `times` times (retried or deferred), more
/// than its attempt budget allows, and checks it is still waiting rather than dead: the outage
/// has outlasted the retries.
async fn wait_outlasted(app: &TestApp, topic: &str, times: u64) {
    eventually(WAIT, &format!("{times} failures of {topic}"), || async {
        let failures = counter(app, "tessera_queue_jobs_retried_total", topic, "worker").await
            + counter(app, "tessera_queue_jobs_deferred_total", topic, "worker").await;
        let dead = !app.platform.queue.list_dead().await.ok()?.is_empty();
        (failures >= times || dead).then_some(())
    })
    .await
    .unwrap();
    let dead = app.platform.queue.list_dead().await.unwrap();
    assert!(dead.is_empty(), "dead-lettered during the outage: {dead:?}");
}

/// Waits until `group` has nothing in flight, waiting or unread.
async fn drained(app: &TestApp, group: &str) {
    let queue = &app.platform.queue;
    eventually(WAIT, &format!("the {group} jobs to settle"), || async {
        let stats = queue.stats().await.ok()?;
        stats
            .iter()
            .filter(|s| s.group == group)
            .all(|s| s.pending == 0 && s.delayed == 0 && s.lag == Some(0))
            .then_some(())
    })
    .await
    .unwrap();
}

/// [`drained`], and nothing is dead in any group: after this, a missing effect is missing.
async fn settled(app: &TestApp, group: &str) {
    drained(app, group).await;
    let queue = &app.platform.queue;
    assert!(
        queue.list_dead().await.unwrap().is_empty(),
        "no job was left dead"
    );
}

/// A second SMTP catcher on a port of the test's choosing, killed when dropped.
struct Maildev {
    child: Child,
    api: String,
}

impl Maildev {
    fn start(smtp_port: u16) -> Self {
        let bin = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../.ci/mail/node_modules/.bin/maildev"
        );
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: `.ci/services` installs it"
        );
        let web_port = free_port();
        let child = Command::new(bin)
            .args(["--ip", "127.0.0.1", "--smtp", &smtp_port.to_string()])
            .args(["--web-ip", "127.0.0.1", "--web", &web_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            api: format!("http://127.0.0.1:{web_port}"),
        }
    }

    /// The messages to `to` with `subject`; `None` while the catcher is not up yet.
    async fn mails(&self, to: &str, subject: &str) -> Option<Vec<Value>> {
        let all: Vec<Value> = reqwest::get(format!("{}/api/email", self.api))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(
            all.into_iter()
                .filter(|m| m["subject"] == subject)
                .filter(|m| {
                    m["to"].as_array().into_iter().flatten().any(|r| {
                        r["address"]
                            .as_str()
                            .is_some_and(|a| a.eq_ignore_ascii_case(to))
                    })
                })
                .collect(),
        )
    }
}

impl Drop for Maildev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An unlabelled series of `/metrics` (0 before it is first set).
async fn series(app: &TestApp, name: &str) -> f64 {
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn an_email_queued_while_smtp_was_down_arrives_once_when_it_is_back() {
    // Nothing listens on this port until the test starts a catcher there.
    let smtp_port = free_port();
    let mut env = shared();
    env.extend(fast_queue());
    env.push(("SMTP_HOST", "127.0.0.1".to_owned()));
    env.push(("SMTP_PORT", smtp_port.to_string()));
    // The mail dispatcher retries often, so the test does not wait out a long backoff.
    env.push(("MAIL_RETRY_MAX_BACKOFF", "200ms".to_owned()));
    env.push(("MAIL_POLL_INTERVAL", "200ms".to_owned()));
    let app = spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_task::DOMAIN,
            &tessera_notification::DOMAIN,
            &tessera_worker::DOMAIN,
        ],
        &pairs(&env),
    )
    .await
    .unwrap();
    let email = address("smtp-down");
    let (_, token) = sign_up(&app, &email).await;
    create_task(&app, &token, "Mail later").await;

    // The in-app notification does not wait for the mail server, and neither does the worker:
    // its jobs complete with the e-mail queued in the notification service, which retries it.
    wait_in_app(&app, &token, "New Task Created").await;
    settled(&app, "worker").await;
    eventually(WAIT, "the dispatcher retrying the e-mail", || async {
        (series(&app, "tessera_mail_retried_total").await >= 3.0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(series(&app, "tessera_mail_pending").await, 1.0);

    let catcher = Maildev::start(smtp_port);
    eventually(WAIT, "the welcome mail in the new catcher", || async {
        (!catcher.mails(&email, WELCOME).await?.is_empty()).then_some(())
    })
    .await
    .unwrap();
    eventually(WAIT, "the e-mail marked sent", || async {
        (series(&app, "tessera_mail_sent_total").await == 1.0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(catcher.mails(&email, WELCOME).await.unwrap().len(), 1);
    assert_eq!(in_app(&app, &token, "New Task Created").await.len(), 1);
    app.shutdown().await;
    drop(catcher);
}

#[tokio::test]
async fn a_notification_service_that_did_not_answer_gets_the_job_once_it_is_back() {
    // Bound but not serving: connections are accepted by the kernel and never answered, so
    // every call runs into its timeout, the worst kind of outage for a caller.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let notification_url = format!("http://{}", listener.local_addr().unwrap());
    let shared = shared();
    let mut env = shared.clone();
    env.extend(fast_queue());
    // A small attempt budget the outage must outlast (3 attempts at 50 ms base would be spent
    // in well under a second, call timeouts included).
    env.push(("QUEUE_MAX_ATTEMPTS", "3".to_owned()));
    env.push(("NOTIFICATION_SERVICE_URL", notification_url));
    env.push(("SERVICE_CALL_TIMEOUT", "300ms".to_owned()));
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
    let email = address("notification-down");
    let (_, token) = sign_up(&api, &email).await;
    create_task(&api, &token, "Wait for it").await;
    wait_outlasted(&api, "task.created", 5).await;

    let mut env = shared;
    env.extend(smtp_env());
    let notification = spawn_app_on(&[&tessera_notification::DOMAIN], &pairs(&env), listener)
        .await
        .unwrap();
    wait_in_app(&notification, &token, "New Task Created").await;
    wait_mail(&email, WELCOME).await;
    settled(&api, "worker").await;
    // Calls that timed out on the worker's side may still have reached the service once it
    // accepted them; their idempotency keys keep them from counting twice.
    assert_eq!(
        in_app(&notification, &token, "New Task Created")
            .await
            .len(),
        1
    );
    assert_eq!(mails(&email, WELCOME).await.len(), 1);
    api.shutdown().await;
    notification.shutdown().await;
}

#[tokio::test]
async fn a_job_held_by_a_dead_worker_is_reclaimed_and_notifies_once() {
    let timings = [
        ("QUEUE_VISIBILITY_TIMEOUT", "2s".to_owned()),
        ("QUEUE_HANDLER_TIMEOUT", "1500ms".to_owned()),
    ];
    let shared = shared();
    let mut env = shared.clone();
    env.extend(smtp_env());
    env.extend(timings.clone());
    let app = spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_task::DOMAIN,
            &tessera_notification::DOMAIN,
        ],
        &pairs(&env),
    )
    .await
    .unwrap();
    let queue = &app.platform.queue;
    let stream = queue.stream_key("task.created");
    let _: () = queue
        .client()
        .xgroup_create(&stream, "worker", "0", true)
        .await
        .unwrap();

    let email = address("reclaimed");
    let (_, token) = sign_up(&app, &email).await;
    let task = create_task(&app, &token, "Orphaned").await;
    // A worker of the group takes the job and dies before acknowledging it.
    let (_, fields) = eventually(WAIT, "the job to be taken by the doomed worker", || async {
        let read: StreamRead = queue
            .client()
            .xreadgroup_map("worker", "doomed", Some(1), None, false, &stream, ">")
            .await
            .ok()?;
        read.into_values().flatten().next()
    })
    .await
    .unwrap();
    let job: Job = serde_json::from_str(&fields["job"]).unwrap();
    assert_eq!(job.data["taskId"], task.as_str());

    let mut env = shared;
    env.extend(timings);
    env.push(("NOTIFICATION_SERVICE_URL", app.base.clone()));
    let worker = spawn_app(&[&tessera_worker::DOMAIN], &pairs(&env))
        .await
        .unwrap();
    wait_in_app(&app, &token, "New Task Created").await;
    wait_mail(&email, WELCOME).await;
    // Settled means the doomed worker's pending entry was claimed and acknowledged.
    settled(&worker, "worker").await;
    assert_eq!(in_app(&app, &token, "New Task Created").await.len(), 1);
    assert_eq!(mails(&email, WELCOME).await.len(), 1);
    worker.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_job_delivered_twice_notifies_once() {
    let mut env = shared();
    env.extend(smtp_env());
    // The two deliveries run at once; while the recipient is not known yet both are told to
    // retry.
    env.extend(fast_queue());
    let app = spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_notification::DOMAIN,
            &tessera_worker::DOMAIN,
        ],
        &pairs(&env),
    )
    .await
    .unwrap();
    let email = address("twice");
    let (user, token) = sign_up(&app, &email).await;

    let job = Job::new(
        "task.created",
        json!({
            "taskId": random_uuid(),
            "userId": user,
            "title": "Said twice",
            "firstTask": true,
            "createdAt": "2026-11-25T10:00:00.000Z",
        }),
    )
    .with_request_id("delivered-twice");
    app.platform.queue.publish(&job).await.unwrap();
    app.platform.queue.publish(&job).await.unwrap();

    // Settled: both entries were read and acknowledged and nothing waits for a retry. (Not
    // "both processed": while the recipient is still unknown, both deliveries fail and schedule
    // the same retry, which the delayed set stores once.)
    settled(&app, "worker").await;
    wait_mail(&email, WELCOME).await;
    assert_eq!(in_app(&app, &token, "New Task Created").await.len(), 1);
    assert_eq!(mails(&email, WELCOME).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_dead_lettered_and_its_replay_delivers_it_once() {
    let mut env = shared();
    env.extend(smtp_env());
    env.extend(fast_queue());
    env.push(("QUEUE_MAX_ATTEMPTS", "3".to_owned()));
    // A recipient that stays unknown is deferred like an outage; past this many deferrals it
    // spends attempts, and then it is dead-lettered.
    env.push(("QUEUE_MAX_DEFERRALS", "2".to_owned()));
    let app = spawn_app(
        &[&tessera_notification::DOMAIN, &tessera_worker::DOMAIN],
        &pairs(&env),
    )
    .await
    .unwrap();
    let queue = &app.platform.queue;
    // A user the notification domain has not heard of: it cannot address the mail (503).
    let (user, email) = (random_uuid(), address("dead-letter"));
    let link = format!("{WEB_APP_URL}/reset-password?token={}", random_hex(32));
    let job = Job::new(
        "email.send",
        json!({
            "userId": user,
            "to": email,
            "template": "password-reset",
            "data": {"resetUrl": link, "expiresInMinutes": 30},
        }),
    );
    queue.publish(&job).await.unwrap();

    let dead = eventually(WAIT, "the job to be dead-lettered", || async {
        queue
            .list_dead()
            .await
            .ok()?
            .into_iter()
            .find(|d| d.job.as_ref().is_some_and(|j| j.id == job.id))
    })
    .await
    .unwrap();
    assert_eq!(
        (dead.topic.as_str(), dead.group.as_str()),
        ("email.send", "worker")
    );
    assert_eq!(dead.attempts, 3);
    assert!(dead.error.contains("unavailable"), "{}", dead.error);
    assert!(mails(&email, PASSWORD_RESET).await.is_empty());

    // The missing event arrives late; an operator replays the dead job.
    let registered = Job::new(
        "user.registered",
        json!({
            "userId": user,
            "email": email,
            "name": "Dora",
            "role": "USER",
            "createdAt": "2026-11-25T10:00:00.000Z",
        }),
    );
    queue.publish(&registered).await.unwrap();
    drained(&app, "notification").await;
    let replayed = queue
        .replay(ReplaySelector::One(job.id.to_string()))
        .await
        .unwrap();
    assert_eq!(replayed, 1);

    let mail = eventually(WAIT, "the replayed mail", || async {
        mails(&email, PASSWORD_RESET).await.into_iter().next()
    })
    .await
    .unwrap();
    let body = format!("{}{}", mail["text"], mail["html"]);
    assert!(body.contains(&link), "the mail carries the job's link");
    settled(&app, "worker").await;
    assert_eq!(mails(&email, PASSWORD_RESET).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_job_is_dead_lettered_at_once() {
    let mut env = shared();
    env.push(("QUEUE_MAX_ATTEMPTS", "5".to_owned()));
    let mut app = spawn_app(&[&tessera_worker::DOMAIN], &pairs(&env))
        .await
        .unwrap();
    app.expect_dead_letters();
    let queue = &app.platform.queue;
    let job = Job::new("task.completed", json!({"title": "no ids"}));
    queue.publish(&job).await.unwrap();
    let dead = eventually(WAIT, "the job to be dead-lettered", || async {
        queue.list_dead().await.ok()?.into_iter().next()
    })
    .await
    .unwrap();
    assert_eq!(dead.job.as_ref().map(|j| j.id), Some(job.id));
    assert_eq!(
        dead.attempts, 1,
        "no retries for a payload that cannot change"
    );
    assert!(
        dead.error.contains("malformed task.completed payload"),
        "{}",
        dead.error
    );
    assert_eq!(
        counter(
            &app,
            "tessera_queue_jobs_retried_total",
            "task.completed",
            "worker"
        )
        .await,
        0
    );
    app.shutdown().await;
}
