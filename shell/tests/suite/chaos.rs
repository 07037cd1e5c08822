//! The fault suite (issue 12, `just chaos`): real load through the gateway while a dependency
//! goes away, then counts. The contract: a dependency that goes away means delay, never loss.
//!
//! Every scenario runs the real `shell` binary as processes (the single deployment as one
//! `shell serve` of every module, the split one as six), with the test kit's SMTP server
//! (`tessera_app::testkit::smtp`) that records each message (so "delivered once" is counted exactly) and, where Redis is the fault,
//! a private `redis-server`. Each scenario signs up one user per task (so every task is its
//! user's first and brings exactly one in-app notification and one welcome e-mail), injects its
//! fault, and ends with one line of counts:
//!
//! `chaos redis-restart split: sent=24 delivered=24 emails=24 lost=0 doubled=0 dead=0 (...)`
//!
//! sent: tasks created (2xx answers); delivered: tasks whose in-app notification is in the
//! notification database; emails: tasks whose e-mail this SMTP server recorded; lost: expected
//! effects missing; doubled: effects beyond one (a second task, notification, or a second
//! e-mail with a Message-ID of its own); dead: dead-lettered jobs. A transmission repeating an
//! accepted e-mail (same Message-ID: its sender died between the server's acceptance and
//! recording it) is shown as `resent=N`, not counted as doubled. A scenario fails when
//! lost, doubled or dead is not 0, or when an answer broke the HTTP contract (a 500, a 503
//! without Retry-After, a create the platform processed but whose answer was cut; a create cut
//! before the platform saw it, a connection reset in the listen backlog at a stop, is reported
//! as `cut-before-processing`). The lines are printed and appended to
//! `<target>/chaos-report.txt`.
//!
//! `CHAOS_SCALE=full` (what `just chaos` sets) runs the long outages; the default is the short
//! version `just test` runs. Queue settings are the defaults, except that the short version
//! shortens the backoff cap and the visibility timeout (QUEUE_MAX_ATTEMPTS is never raised).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use tessera_app::config::Env;
use tessera_app::db::platform_migrations;
use tessera_app::queue::Queue;
use tessera_app::services;
use tessera_app::testkit::smtp::{Recording, TestSmtp};
use tessera_app::testkit::{
    TestDatabase, admin_url, connect_queue, delete_prefix, free_port, random_hex, redis_url,
    sigterm,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

/// The subject of the in-app notification a new task brings (`domains/worker/src/plan.rs`).
const TASK_CREATED: &str = "New Task Created";
/// The subject of the e-mail a user's first task brings.
const WELCOME: &str = "Welcome to Tessera: your first task is in";
/// Every module of the single deployment (the table of services), named so the web app is not
/// mounted.
static EVERYTHING: LazyLock<String> = LazyLock::new(|| {
    let mut names = vec![services::GATEWAY.name];
    names.extend(services::domains().map(|s| s.name));
    names.join(",")
});

/// Split processes in start order: the domains, then the gateway (it proxies to the others).
fn split_order() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = services::domains().map(|s| s.name).collect();
    names.push(services::GATEWAY.name);
    names
}
/// A gateway answer slower than this while an upstream is down counts as slow (the service call
/// timeout is 5 s by default: a 503 must come from the refused connection or the open breaker,
/// not from waiting the timeout out).
const SLOW: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Scale

/// How big a run is: `CHAOS_SCALE=full` or the short default.
#[derive(Debug, Clone)]
struct Scale {
    full: bool,
    /// Tasks (and users) per scenario.
    tasks: usize,
    redis_outage: Duration,
    notification_outage: Duration,
    /// How long the notification database refuses connections.
    notification_db_outage: Duration,
    smtp_outage: Duration,
    smtp_delay: Duration,
    slow_tasks: usize,
    /// Rounds of pg_terminate_backend under load.
    pg_rounds: usize,
    /// QUEUE_STREAM_MAX_LEN for the stream-cap scenario.
    stream_cap: usize,
    /// How long the effects may take to appear once the fault is over.
    settle: Duration,
}

impl Scale {
    fn get() -> Scale {
        let full = std::env::var("CHAOS_SCALE").is_ok_and(|s| s == "full");
        if full {
            Scale {
                full,
                tasks: 200,
                redis_outage: Duration::from_secs(60),
                notification_outage: Duration::from_secs(600),
                notification_db_outage: Duration::from_secs(600),
                smtp_outage: Duration::from_secs(60),
                smtp_delay: Duration::from_secs(5),
                slow_tasks: 20,
                pg_rounds: 30,
                stream_cap: 50,
                // The default backoff cap is 5 minutes: a retry scheduled late in an outage
                // may wait that long.
                settle: Duration::from_secs(900),
            }
        } else {
            Scale {
                full,
                tasks: 12,
                redis_outage: Duration::from_secs(3),
                notification_outage: Duration::from_secs(5),
                notification_db_outage: Duration::from_secs(5),
                smtp_outage: Duration::from_secs(3),
                smtp_delay: Duration::from_millis(300),
                slow_tasks: 4,
                pg_rounds: 6,
                stream_cap: 4,
                settle: Duration::from_secs(60),
            }
        }
    }

    /// Queue and mail variables: the defaults, with the short version's shorter backoff caps,
    /// visibility timeout and e-mail send bound (so the lease of an e-mail whose sender was
    /// killed expires within the scenario; never more attempts).
    fn queue_env(&self) -> Vec<(String, String)> {
        if self.full {
            return Vec::new();
        }
        [
            ("QUEUE_BASE_BACKOFF", "100ms"),
            ("QUEUE_MAX_BACKOFF", "1s"),
            ("QUEUE_VISIBILITY_TIMEOUT", "5s"),
            ("QUEUE_HANDLER_TIMEOUT", "4s"),
            ("SMTP_TIMEOUT", "2s"),
            ("MAIL_SEND_TIMEOUT", "4s"),
            ("MAIL_RETRY_MAX_BACKOFF", "1s"),
            // Two scenarios run at once beside the rest of the suite, all on one Postgres
            // (max_connections 100 by default): six processes each must stay small.
            ("DB_POOL_SIZE", "4"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    }
}

// ---------------------------------------------------------------------------------------------
// A private Redis

/// A `redis-server` of this test's own (append-only, as in compose), which the test may stop.
struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start() -> PrivateRedis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tessera-chaos-redis-{}", random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
        };
        redis.resume().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn resume(&mut self) {
        let child = Command::new("/usr/bin/redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("/usr/bin/redis-server runs");
        self.child = Some(child);
        let port = self.port;
        eventually(
            Duration::from_secs(15),
            "the private Redis",
            || async move {
                let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
                s.write_all(b"PING\r\n").await.ok()?;
                let mut buf = [0u8; 7];
                s.read_exact(&mut buf).await.ok()?;
                (&buf == b"+PONG\r\n").then_some(())
            },
        )
        .await;
    }

    /// SIGTERM: Redis flushes its append-only file and exits.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&child);
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// A deployment of real processes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Split,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Split => "split",
        }
    }
}

struct Process {
    child: Option<Child>,
    port: u16,
    env: Vec<(String, String)>,
    services: &'static str,
}

/// The deployment: processes of the `shell` binary, their databases, and a queue handle on
/// their Redis prefix for the dead-letter and settle checks.
struct Cluster {
    kind: Kind,
    processes: BTreeMap<&'static str, Process>,
    logs: HashMap<&'static str, Arc<Mutex<Vec<String>>>>,
    databases: HashMap<&'static str, TestDatabase>,
    queue: Queue,
    redis: fred::prelude::Client,
    prefix: String,
}

impl Cluster {
    async fn start(kind: Kind, redis: &str, extra: &[(String, String)]) -> Cluster {
        let prefix = format!("chaos:{}", random_hex(6));
        let mut env: Vec<(String, String)> = [
            ("JWT_SECRET", random_hex(32)),
            ("INTERNAL_JWT_SECRET", random_hex(32)),
            ("REDIS_URL", redis.to_owned()),
            ("REDIS_PREFIX", prefix.clone()),
            ("WEB_APP_URL", "http://localhost:3000".to_owned()),
            ("HOST", "127.0.0.1".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("HTTP_WORKERS", "2".to_owned()),
            ("DB_POOL_SIZE", "5".to_owned()),
            ("RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
            ("LOGIN_ATTEMPTS_PER_EMAIL", "1000000".to_owned()),
            ("LOGIN_ATTEMPTS_PER_IP", "1000000".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        let settings = Env::from_pairs(env.clone())
            .redis()
            .expect("redis settings");
        let (client, queue) = connect_queue(&settings).await;
        let mut cluster = Cluster {
            kind,
            processes: BTreeMap::new(),
            logs: HashMap::new(),
            databases: HashMap::new(),
            queue,
            redis: client,
            prefix,
        };
        for d in [
            &tessera_auth::DOMAIN,
            &tessera_user::DOMAIN,
            &tessera_task::DOMAIN,
            &tessera_notification::DOMAIN,
        ] {
            let own = d.migrations.expect("a domain with a database");
            let db = TestDatabase::create(d.name, &[platform_migrations, own])
                .await
                .expect("database");
            cluster.databases.insert(d.name, db);
        }
        let urls: HashMap<&str, String> = cluster
            .databases
            .iter()
            .map(|(d, db)| (*d, db.url.clone()))
            .collect();
        let url = |d: &str| urls[d].clone();
        match kind {
            Kind::Single => {
                let mut own = env.clone();
                for d in services::SERVICES {
                    if let Some(var) = d.database_var {
                        own.push((var.to_owned(), url(d.name)));
                    }
                }
                cluster.spawn("all", EVERYTHING.as_str(), own, 0).await;
            }
            Kind::Split => {
                for name in split_order() {
                    let mut own = env.clone();
                    if cluster.databases.contains_key(name) {
                        own.push(("DATABASE_URL".into(), url(name)));
                    }
                    if name == "worker" {
                        let notification = &services::NOTIFICATION;
                        own.push((
                            notification.url_var.unwrap().into(),
                            cluster.url(notification.name),
                        ));
                    }
                    if name == "gateway" {
                        for svc in services::routed() {
                            own.push((svc.url_var.unwrap().into(), cluster.url(svc.name)));
                        }
                    }
                    cluster.spawn(name, name, own, 0).await;
                }
            }
        }
        cluster.wait_ready().await;
        cluster
    }

    /// The process names: `all` for the single deployment.
    fn names(&self) -> Vec<&'static str> {
        match self.kind {
            Kind::Single => vec!["all"],
            Kind::Split => split_order(),
        }
    }

    /// The process that runs `module` (the one process of the single deployment).
    fn of(&self, module: &'static str) -> &'static str {
        match self.kind {
            Kind::Single => "all",
            Kind::Split => module,
        }
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.processes[name].port)
    }

    fn gateway(&self) -> String {
        self.url(self.of("gateway"))
    }

    async fn spawn(
        &mut self,
        name: &'static str,
        services: &'static str,
        mut env: Vec<(String, String)>,
        port: u16,
    ) {
        env.retain(|(k, _)| k != "PORT");
        env.push(("PORT".into(), port.to_string()));
        let lines = self.logs.entry(name).or_default().clone();
        let (child, from) = crate::deploy::spawn_shell(services, &env, &lines);
        let listening = tessera_app::testkit::eventually(
            Duration::from_secs(60),
            &format!("{name} to listen"),
            || async {
                let logs = lines.lock().unwrap();
                logs[from..].iter().find_map(|line| {
                    let v: Value = serde_json::from_str(line).ok()?;
                    (v["message"] == "listening")
                        .then(|| v["addr"].as_str()?.rsplit(':').next()?.parse::<u16>().ok())
                        .flatten()
                })
            },
        )
        .await;
        let port = listening.unwrap_or_else(|e| {
            let logs = lines.lock().unwrap()[from..].join("\n");
            panic!("{e}\n{name} logs:\n{logs}")
        });
        self.processes.insert(
            name,
            Process {
                child: Some(child),
                port,
                env,
                services,
            },
        );
    }

    /// Waits until every process answers `/ready` with 200.
    async fn wait_ready(&self) {
        let client = client();
        for name in self.names() {
            let url = format!("{}/ready", self.url(name));
            let client = client.clone();
            eventually(Duration::from_secs(60), &format!("{name} ready"), || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let res = client.get(&url).send().await.ok()?;
                    res.status().is_success().then_some(())
                }
            })
            .await;
        }
    }

    /// SIGKILL: nothing drains.
    async fn kill(&mut self, name: &str) {
        let p = self.processes.get_mut(name).expect("known process");
        if let Some(mut child) = p.child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM to each of `names` at once, then waits for each to exit; returns how many exited
    /// on their own within the wait (the rest are killed).
    async fn terminate(&mut self, names: &[&str]) -> usize {
        let mut children = Vec::new();
        for name in names {
            let p = self.processes.get_mut(*name).expect("known process");
            if let Some(child) = p.child.take() {
                terminate(&child);
                children.push(child);
            }
        }
        let mut clean = 0;
        for mut child in children {
            // SHUTDOWN_TIMEOUT is 10 s by default; a process still there after 30 s is stuck.
            match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
                Ok(Ok(status)) if status.success() => clean += 1,
                _ => {
                    let _ = child.kill().await;
                }
            }
        }
        clean
    }

    /// Starts process `name` again on its old port with its old environment.
    async fn restart(&mut self, name: &'static str) {
        let old = self.processes.remove(name).expect("known process");
        assert!(old.child.is_none(), "{name} was stopped first");
        self.spawn(name, old.services, old.env, old.port).await;
    }

    fn logs(&self, name: &str) -> String {
        self.logs
            .get(name)
            .map(|l| l.lock().unwrap().join("\n"))
            .unwrap_or_default()
    }

    async fn stop(mut self) {
        let names = self.names();
        self.terminate(&names).await;
        delete_prefix(&self.redis, &self.prefix).await;
    }
}

fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        sigterm(pid);
    }
}

/// A client without keep-alive: each request opens its own connection, so a request that fails
/// to connect was never in flight, and one that fails later was cut.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Polls `probe` until it returns `Some`, panicking after `deadline`.
async fn eventually<T, F, Fut>(deadline: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    tessera_app::testkit::eventually(deadline, what, probe)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Load and counts

#[derive(Debug, Clone)]
struct User {
    id: String,
    email: String,
    token: String,
}

/// What the answers to the load said.
#[derive(Debug, Default)]
struct Tally {
    /// Tasks created: user id -> task id.
    created: HashMap<String, String>,
    /// Non-2xx answers by status.
    statuses: BTreeMap<u16, usize>,
    /// 503s without Retry-After.
    no_retry_after: usize,
    /// Connections refused (never in flight): the user is tried again later.
    refused: Vec<User>,
    /// Requests cut after they were sent.
    cut: usize,
    /// The users whose create was cut: at the end, a task of theirs in the database means the
    /// platform processed a request and lost its answer (a breach); none means the request never
    /// reached it (at a stop, a connection still in the listen backlog is reset).
    cut_users: Vec<String>,
    /// Answers slower than [`SLOW`].
    slow: usize,
    /// Other breaches of the contract the scenario found (a slow 503, a `/ready` that did not
    /// tell, a process that did not stop on SIGTERM).
    violations: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.created.extend(other.created);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.no_retry_after += other.no_retry_after;
        self.refused.extend(other.refused);
        self.cut += other.cut;
        self.cut_users.extend(other.cut_users);
        self.slow += other.slow;
        self.violations.extend(other.violations);
    }

    fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Answers that break the contract whatever the fault: 5xx other than 503, 503 without
    /// Retry-After. (A cut create is judged at the end, by whether it was processed.)
    fn broken(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500 && **s != 503)
            .map(|(_, n)| n)
            .sum::<usize>()
            + self.no_retry_after
            + self.violations.len()
    }

    fn summary(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}x{n}"))
            .collect();
        let mut out = format!(
            "refused={} cut={} other={}",
            self.refused.len(),
            self.cut,
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(",")
            }
        );
        for v in &self.violations {
            out.push_str(&format!(" VIOLATION: {v}"));
        }
        out
    }
}

/// Signs up `n` users through the gateway, four at a time.
async fn sign_up(gateway: &str, n: usize) -> Vec<User> {
    let mut set = JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let run = random_hex(4);
    for i in 0..n {
        let (gateway, sem, email) = (
            gateway.to_owned(),
            sem.clone(),
            format!("chaos-{run}-{i}@example.com"),
        );
        set.spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let client = client();
            let creds = json!({"email": email, "password": "password123", "name": "Chaos"});
            let res = client
                .post(format!("{gateway}/auth/register"))
                .json(&creds)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "register");
            let body: Value = res.json().await.unwrap();
            let id = body["user"]["id"].as_str().unwrap().to_owned();
            let res = client
                .post(format!("{gateway}/auth/login"))
                .json(&json!({"email": email, "password": "password123"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "login");
            let body: Value = res.json().await.unwrap();
            let token = body["accessToken"].as_str().unwrap().to_owned();
            (i, User { id, email, token })
        });
    }
    let mut users: Vec<(usize, User)> = set.join_all().await;
    users.sort_by_key(|(i, _)| *i);
    users.into_iter().map(|(_, u)| u).collect()
}

/// Each user creates one task through the gateway, `concurrency` at a time.
async fn create_tasks(gateway: &str, users: &[User], concurrency: usize) -> Tally {
    let mut set = JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    for user in users.iter().cloned() {
        let (gateway, sem) = (gateway.to_owned(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let mut tally = Tally::default();
            let started = Instant::now();
            let res = client()
                .post(format!("{gateway}/tasks"))
                .bearer_auth(&user.token)
                // One key per user: a create refused during a fault and tried again after it
                // is the same create (a 503 does not say whether the task service committed).
                .header("idempotency-key", format!("chaos-{}", user.id))
                .json(&json!({"title": format!("chaos {}", &user.id[..8])}))
                .send()
                .await;
            match res {
                Ok(res) if res.status().is_success() => {
                    let body: Value = res.json().await.unwrap_or_default();
                    let id = body["id"].as_str().unwrap_or("").to_owned();
                    tally.created.insert(user.id.clone(), id);
                }
                Ok(res) => {
                    let status = res.status().as_u16();
                    if status == 503 && res.headers().get("retry-after").is_none() {
                        tally.no_retry_after += 1;
                    }
                    *tally.statuses.entry(status).or_default() += 1;
                    if started.elapsed() > SLOW {
                        tally.slow += 1;
                    }
                    // A refused task is tried again once the fault is over.
                    tally.refused.push(user);
                }
                Err(e) if e.is_connect() => tally.refused.push(user),
                Err(_) => {
                    tally.cut += 1;
                    tally.cut_users.push(user.id.clone());
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    for t in set.join_all().await {
        total.merge(t);
    }
    total
}

#[derive(QueryableByName)]
struct PerUser {
    #[diesel(sql_type = diesel::sql_types::Text)]
    user_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn per_user(url: &str, sql: &str) -> Option<HashMap<String, usize>> {
    let mut conn = AsyncPgConnection::establish(url).await.ok()?;
    let rows: Vec<PerUser> = diesel::sql_query(sql).load(&mut conn).await.ok()?;
    Some(
        rows.into_iter()
            .map(|r| (r.user_id, usize::try_from(r.n).unwrap_or(0)))
            .collect(),
    )
}

/// What the platform holds for the scenario's users.
#[derive(Debug)]
struct Counts {
    /// Tasks per user (the task database).
    tasks: HashMap<String, usize>,
    /// In-app "New Task Created" notifications per user.
    in_app: HashMap<String, usize>,
    /// Distinct welcome e-mails per user id (by Message-ID).
    emails: HashMap<String, usize>,
    /// Transmissions that repeated a welcome e-mail already accepted (same Message-ID).
    resent: usize,
    dead: usize,
    /// No job in flight, waiting or unread in any group.
    settled: bool,
}

impl Counts {
    async fn read(cluster: &Cluster, smtp: &TestSmtp, users: &[User]) -> Option<Counts> {
        let tasks = per_user(
            &cluster.databases["task"].url,
            "SELECT user_id::text AS user_id, count(*) AS n FROM tasks GROUP BY user_id",
        )
        .await?;
        let in_app = per_user(
            &cluster.databases["notification"].url,
            &format!(
                "SELECT user_id::text AS user_id, count(*) AS n FROM notifications \
                 WHERE subject = '{TASK_CREATED}' GROUP BY user_id"
            ),
        )
        .await?;
        let by_address = smtp.counts(WELCOME);
        let emails = users
            .iter()
            .filter_map(|u| Some((u.id.clone(), by_address.get(&u.email)?.0)))
            .collect();
        let resent = users
            .iter()
            .filter_map(|u| Some(by_address.get(&u.email)?.1))
            .sum();
        let dead = cluster.queue.list_dead().await.ok()?.len();
        let stats = cluster.queue.stats().await.ok()?;
        let settled = stats
            .iter()
            .all(|s| s.pending == 0 && s.delayed == 0 && s.lag.unwrap_or(0) == 0);
        Some(Counts {
            tasks,
            in_app,
            emails,
            resent,
            dead,
            settled,
        })
    }

    /// Every task has its notification and its e-mail, and the queue is quiet.
    fn complete(&self, tally: &Tally) -> bool {
        self.settled
            && self.expected(tally).iter().all(|u| {
                self.in_app.get(u).copied().unwrap_or(0) >= 1
                    && self.emails.get(u).copied().unwrap_or(0) >= 1
            })
    }

    /// The users whose task exists: in the database, or answered 2xx.
    fn expected(&self, tally: &Tally) -> HashSet<String> {
        self.tasks
            .keys()
            .cloned()
            .chain(tally.created.keys().cloned())
            .collect()
    }
}

/// The figures of one scenario.
struct Report {
    scenario: &'static str,
    kind: Kind,
    /// `(outage N s, ...)`, without the recovery figure.
    notes: String,
}

impl Report {
    fn new(scenario: &'static str, kind: Kind, notes: String) -> Report {
        Report {
            scenario,
            kind,
            notes,
        }
    }
}

/// Waits for every effect (until `scale.settle` after `recovering`), then counts, prints and
/// records the line, and fails the scenario on any loss, double, dead letter or broken answer.
async fn finish(
    cluster: Cluster,
    smtp: &TestSmtp,
    users: &[User],
    tally: &Tally,
    recovering: Instant,
    report: Report,
    expected_dead: usize,
) {
    let scale = Scale::get();
    let done = tessera_app::testkit::eventually(scale.settle, "every effect", || async {
        let counts = Counts::read(&cluster, smtp, users).await?;
        counts.complete(tally).then_some(())
    })
    .await;
    let recovery = recovering.elapsed();
    let counts = eventually(Duration::from_secs(30), "the counts", || async {
        Counts::read(&cluster, smtp, users).await
    })
    .await;
    let expected = counts.expected(tally);
    let delivered = expected
        .iter()
        .filter(|u| counts.in_app.contains_key(*u))
        .count();
    let emails = expected
        .iter()
        .filter(|u| counts.emails.contains_key(*u))
        .count();
    let lost = (expected.len() - delivered) + (expected.len() - emails);
    let extra = |m: &HashMap<String, usize>| m.values().map(|n| n.saturating_sub(1)).sum::<usize>();
    // A task in the database that no 2xx announced is a write the client never heard of (an
    // answer lost on the way); a user with two tasks is a create that was applied twice.
    let doubled = extra(&counts.in_app) + extra(&counts.emails) + extra(&counts.tasks);
    let unannounced = counts
        .tasks
        .keys()
        .filter(|u| !tally.created.contains_key(*u))
        .count();
    let line = format!(
        "chaos {} {}: sent={} delivered={} emails={} lost={} doubled={} dead={} ({}, recovery {:.1} s{}) [{}{}]",
        report.scenario,
        report.kind.name(),
        tally.created.len(),
        delivered,
        emails,
        lost,
        doubled,
        counts.dead,
        report.notes,
        recovery.as_secs_f64(),
        if done.is_ok() {
            ""
        } else {
            ", not complete by the deadline"
        },
        tally.summary(),
        if unannounced > 0 {
            format!(" unannounced={unannounced}")
        } else {
            String::new()
        },
    );
    // A repeated transmission of an accepted e-mail (same Message-ID) is not a second e-mail:
    // it happens when the sender dies between the server's acceptance and recording it, which
    // no SMTP client can rule out. Shown so it is never silent.
    let line = if counts.resent > 0 {
        format!("{line} resent={} (same Message-ID)", counts.resent)
    } else {
        line
    };
    // A cut create whose task exists was processed and its answer lost: an in-flight request
    // that did not complete. One without a task never reached the platform.
    let cut_processed = tally
        .cut_users
        .iter()
        .filter(|u| counts.tasks.contains_key(*u))
        .count();
    let line = if tally.cut > 0 {
        format!(
            "{line} cut-before-processing={} cut-after-processing={cut_processed}",
            tally.cut - cut_processed
        )
    } else {
        line
    };
    println!("{line}");
    record(&line);
    let names = cluster.names();
    let failure = if lost > 0
        || doubled > 0
        || counts.dead != expected_dead
        || tally.broken() > 0
        || cut_processed > 0
    {
        let logs: Vec<String> = names
            .iter()
            .map(|n| {
                let all = cluster.logs(n);
                // The warnings and errors, which say why.
                let lines: Vec<&str> = all
                    .lines()
                    .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
                    .collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- {n} (last warnings and errors)\n{tail}")
            })
            .collect();
        Some(format!(
            "{line}\nexpected lost=0 doubled=0 dead={expected_dead} and no 500, 503 without \
             Retry-After, or request processed whose answer was cut\n{}",
            logs.join("\n")
        ))
    } else {
        None
    };
    cluster.stop().await;
    if let Some(f) = failure {
        panic!("{f}");
    }
}

/// Appends `line` to `<target>/chaos-report.txt`.
fn record(line: &str) {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_shell"));
    let Some(target) = exe.parent().and_then(|p| p.parent()) else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(target.join("chaos-report.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Waits until the notification domain knows every user (their `user.registered` was
/// consumed), so a later fault is the only thing between a task and its e-mail.
async fn recipients_known(cluster: &Cluster, users: &[User]) {
    let url = cluster.databases["notification"].url.clone();
    let n = users.len();
    eventually(Duration::from_secs(60), "every recipient known", || {
        let url = url.clone();
        async move {
            let known = per_user(
                &url,
                "SELECT 'all' AS user_id, count(*) AS n FROM recipients",
            )
            .await?;
            (known.get("all").copied().unwrap_or(0) >= n).then_some(())
        }
    })
    .await;
}

/// Starts the SMTP server and the deployment, signs up `tasks` users and waits until they are
/// known to the notification domain.
async fn setup(
    kind: Kind,
    redis: Option<&str>,
    extra: &[(&str, String)],
    tasks: usize,
) -> (TestSmtp, Cluster, Vec<User>) {
    let scale = Scale::get();
    // A message counts once its data is in, before the (possibly delayed) reply: a sender that
    // gives up waiting and sends again is counted twice.
    let smtp = TestSmtp::up();
    smtp.set_recording(Recording::WhenDataEnds);
    let mut env = smtp.env();
    env.extend(scale.queue_env());
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let redis = redis.map_or_else(redis_url, str::to_owned);
    let cluster = Cluster::start(kind, &redis, &env).await;
    let users = sign_up(&cluster.gateway(), tasks).await;
    recipients_known(&cluster, &users).await;
    (smtp, cluster, users)
}

fn thirds(users: &[User]) -> (&[User], &[User], &[User]) {
    let third = users.len() / 3;
    let (a, rest) = users.split_at(third);
    let (b, c) = rest.split_at(third);
    (a, b, c)
}

/// Tries the refused users again (the fault is over), until each got an answer other than a
/// refused connection or a 503.
async fn retry_refused(gateway: &str, tally: &mut Tally) {
    for _ in 0..20 {
        if tally.refused.is_empty() {
            return;
        }
        let users = std::mem::take(&mut tally.refused);
        let again = create_tasks(gateway, &users, 4).await;
        tally.merge(again);
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Redis stopped (append-only file kept) while tasks are created, then started again.
async fn redis_restart(kind: Kind) {
    let scale = Scale::get();
    let mut redis = PrivateRedis::start().await;
    let (smtp, cluster, users) = setup(kind, Some(&redis.url()), &[], scale.tasks).await;
    let gateway = cluster.gateway();
    let (before, during, after) = thirds(&users);
    let mut tally = create_tasks(&gateway, before, 4).await;

    redis.stop().await;
    let down = Instant::now();
    tally.merge(create_tasks(&gateway, during, 4).await);
    // The outage itself.
    tokio::time::sleep(scale.redis_outage.saturating_sub(down.elapsed())).await;
    let outage = down.elapsed();
    redis.resume().await;
    let back = Instant::now();
    tally.merge(create_tasks(&gateway, after, 4).await);
    retry_refused(&gateway, &mut tally).await;

    let notes = format!("outage {}", secs(outage.round_secs()));
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("redis-restart", kind, notes),
        0,
    )
    .await;
    drop(redis);
}

/// The worker killed with SIGKILL while it sends (a slow SMTP server keeps jobs in flight), then
/// started again.
async fn worker_sigkill(kind: Kind) {
    let scale = Scale::get();
    let (smtp, mut cluster, users) = setup(kind, None, &[], scale.tasks).await;
    smtp.set_delay(Duration::from_millis(100));
    let gateway = cluster.gateway();
    let mut tally = create_tasks(&gateway, &users, 4).await;
    retry_refused(&gateway, &mut tally).await;
    let third = users.len() / 3;
    eventually(scale.settle, "a third of the e-mails", || async {
        (smtp.counts(WELCOME).len() >= third).then_some(())
    })
    .await;
    let worker = cluster.of("worker");
    cluster.kill(worker).await;
    let down = Instant::now();
    let mid_run = smtp.counts(WELCOME).len();
    cluster.restart(worker).await;
    smtp.set_delay(Duration::ZERO);
    let notes = format!(
        "killed after {mid_run} of {} e-mails, down {:.1} s",
        users.len(),
        down.elapsed().as_secs_f64()
    );
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        down,
        Report::new("worker-sigkill", kind, notes),
        0,
    )
    .await;
}

/// The notification service down (split): tasks keep being created, the gateway answers its
/// routes with a fast 503, and every notification arrives after it returns.
async fn notification_down() {
    let kind = Kind::Split;
    let scale = Scale::get();
    let (smtp, mut cluster, users) = setup(kind, None, &[], scale.tasks).await;
    let gateway = cluster.gateway();
    let (before, during, after) = thirds(&users);
    let mut tally = create_tasks(&gateway, before, 4).await;

    cluster.kill("notification").await;
    let down = Instant::now();
    tally.merge(create_tasks(&gateway, during, 4).await);
    // Readers of their notifications meanwhile: paced probes for the whole outage.
    let mut probes = Tally::default();
    let probe = client();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut i = 0;
    while down.elapsed() < scale.notification_outage {
        tick.tick().await;
        let user = &users[i % users.len()];
        i += 1;
        let started = Instant::now();
        match probe
            .get(format!("{gateway}/notifications"))
            .bearer_auth(&user.token)
            .send()
            .await
        {
            Ok(res) => {
                let status = res.status().as_u16();
                if status == 503 && res.headers().get("retry-after").is_none() {
                    probes.no_retry_after += 1;
                }
                *probes.statuses.entry(status).or_default() += 1;
            }
            Err(_) => probes.cut += 1,
        }
        if started.elapsed() > SLOW {
            probes.slow += 1;
        }
    }
    let outage = down.elapsed();
    cluster.restart("notification").await;
    let back = Instant::now();
    tally.merge(create_tasks(&gateway, after, 4).await);
    retry_refused(&gateway, &mut tally).await;

    let answered = probes.statuses.values().sum::<usize>();
    let notes = format!(
        "outage {}, gateway 503s={} of {answered} reads, slow={}, other={}",
        secs(outage.round_secs()),
        probes.count(503),
        probes.slow,
        answered - probes.count(503)
    );
    // A slow or non-503 answer during the outage breaks the contract too.
    if probes.slow > 0 || probes.count(503) != answered || probes.broken() > 0 || probes.cut > 0 {
        tally.violations.push(format!(
            "gateway reads during the outage: {} (slow {})",
            probes.summary(),
            probes.slow
        ));
    }
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("notification-down", kind, notes),
        0,
    )
    .await;
}

/// The notification database refusing connections (and its sessions ended) while tasks are
/// created: the worker's calls and the notification domain's own jobs find it unavailable, which
/// defers them without spending attempts; once it accepts connections again every notification
/// and e-mail arrives, once, and nothing is dead-lettered. The outage outlasts the attempt budget
/// (5 attempts) many times over.
async fn notification_db_down(kind: Kind) {
    let scale = Scale::get();
    let (smtp, cluster, users) = setup(kind, None, &[], scale.tasks).await;
    let gateway = cluster.gateway();
    let db = cluster.databases["notification"].name.clone();
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
    let (before, during, after) = thirds(&users);
    let mut tally = create_tasks(&gateway, before, 4).await;

    diesel::sql_query(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    let killed = terminate_backends(&mut admin, &db).await;
    let down = Instant::now();
    tally.merge(create_tasks(&gateway, during, 4).await);
    // The outage itself: held open for its length.
    tokio::time::sleep(scale.notification_db_outage.saturating_sub(down.elapsed())).await;
    diesel::sql_query(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let outage = down.elapsed();
    let back = Instant::now();
    tally.merge(create_tasks(&gateway, after, 4).await);
    retry_refused(&gateway, &mut tally).await;
    let notes = format!(
        "outage {}, {killed} sessions ended at its start",
        secs(outage.round_secs())
    );
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("notification-db-down", kind, notes),
        0,
    )
    .await;
}

/// The SMTP server down while tasks are created, then back on the same port.
async fn smtp_down(kind: Kind) {
    let scale = Scale::get();
    let (smtp, cluster, users) = setup(kind, None, &[], scale.tasks).await;
    let gateway = cluster.gateway();
    let (first, second) = users.split_at(users.len() / 2);
    smtp.stop().await;
    let down = Instant::now();
    let mut tally = create_tasks(&gateway, first, 4).await;
    tokio::time::sleep(scale.smtp_outage / 2).await;
    tally.merge(create_tasks(&gateway, second, 4).await);
    // The rest of the outage.
    tokio::time::sleep(scale.smtp_outage.saturating_sub(down.elapsed())).await;
    let outage = down.elapsed();
    smtp.start();
    let back = Instant::now();
    retry_refused(&gateway, &mut tally).await;
    let notes = format!("outage {}", secs(outage.round_secs()));
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("smtp-down", kind, notes),
        0,
    )
    .await;
}

/// An SMTP server that takes its time over every reply.
async fn smtp_slow(kind: Kind) {
    let scale = Scale::get();
    let (smtp, cluster, users) = setup(kind, None, &[], scale.slow_tasks).await;
    smtp.set_delay(scale.smtp_delay);
    let gateway = cluster.gateway();
    let started = Instant::now();
    let mut tally = create_tasks(&gateway, &users, 4).await;
    retry_refused(&gateway, &mut tally).await;
    let notes = format!("{} ms per reply", scale.smtp_delay.as_millis());
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        started,
        Report::new("smtp-slow", kind, notes),
        0,
    )
    .await;
}

#[derive(QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Ends every session on `db` but the caller's; returns how many.
async fn terminate_backends(admin: &mut AsyncPgConnection, db: &str) -> usize {
    let rows: Vec<Terminated> = diesel::sql_query(format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    ))
    .load(admin)
    .await
    .unwrap();
    rows.into_iter()
        .next()
        .map_or(0, |r| usize::try_from(r.n).unwrap_or(0))
}

/// The task database's connections killed again and again under load, then the database
/// refusing connections for a while: answers are 2xx or 503 with Retry-After, `/ready` names the
/// database while it is away, and everything recovers without a restart.
async fn postgres_killed(kind: Kind) {
    let scale = Scale::get();
    let (smtp, cluster, users) = setup(kind, None, &[], scale.tasks).await;
    let gateway = cluster.gateway();
    let db = cluster.databases["task"].name.clone();
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
    let (under_load, during, after) = thirds(&users);

    // Terminations while the first third creates their tasks.
    let load = tokio::spawn({
        let (gateway, users) = (gateway.clone(), under_load.to_vec());
        async move { create_tasks(&gateway, &users, 2).await }
    });
    let mut killed = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..scale.pg_rounds {
        tick.tick().await;
        killed += terminate_backends(&mut admin, &db).await;
    }
    let mut tally = load.await.unwrap();

    // The database refuses connections: /ready says so, creates answer 503.
    diesel::sql_query(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    killed += terminate_backends(&mut admin, &db).await;
    let down = Instant::now();
    let ready = format!("{}/ready", cluster.url(cluster.of("task")));
    let probe = client();
    let not_ready = tessera_app::testkit::eventually(
        Duration::from_secs(30),
        "/ready to name the task database",
        || async {
            let res = probe.get(&ready).send().await.ok()?;
            if res.status() != 503 {
                return None;
            }
            let body: Value = res.json().await.ok()?;
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("database:task"))
                .then_some(())
        },
    )
    .await;
    tally.merge(create_tasks(&gateway, during, 2).await);
    diesel::sql_query(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let outage = down.elapsed();
    let back = Instant::now();
    let ready_again = tessera_app::testkit::eventually(
        Duration::from_secs(30),
        "/ready again without a restart",
        || async {
            let res = probe.get(&ready).send().await.ok()?;
            res.status().is_success().then_some(())
        },
    )
    .await;
    tally.merge(create_tasks(&gateway, after, 2).await);
    retry_refused(&gateway, &mut tally).await;
    let notes = format!(
        "{killed} sessions killed in {} rounds, refused for {}, /ready named it: {}, ready again: {}",
        scale.pg_rounds,
        secs(outage.round_secs()),
        if not_ready.is_ok() { "yes" } else { "NO" },
        if ready_again.is_ok() { "yes" } else { "NO" },
    );
    // /ready not telling, or not recovering, breaks the contract.
    if not_ready.is_err() {
        tally
            .violations
            .push("/ready did not name the database".into());
    }
    if ready_again.is_err() {
        tally.violations.push("/ready did not recover".into());
    }
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("postgres-killed", kind, notes),
        0,
    )
    .await;
}

/// SIGTERM to every process while tasks are being created; then everything started again.
async fn sigterm_all(kind: Kind) {
    let scale = Scale::get();
    let (smtp, mut cluster, users) = setup(kind, None, &[], scale.tasks).await;
    // Jobs in flight at the stop: the worker is busy sending.
    smtp.set_delay(Duration::from_millis(50));
    let gateway = cluster.gateway();
    let load = tokio::spawn({
        let (gateway, users) = (gateway.clone(), users.clone());
        async move { create_tasks(&gateway, &users, 4).await }
    });
    let third = users.len() / 3;
    let task_db = cluster.databases["task"].url.clone();
    eventually(scale.settle, "a third of the tasks created", || {
        let url = task_db.clone();
        async move {
            let n = per_user(&url, "SELECT 'all' AS user_id, count(*) AS n FROM tasks").await?;
            (n.get("all").copied().unwrap_or(0) >= third).then_some(())
        }
    })
    .await;
    let names = cluster.names();
    let down = Instant::now();
    let clean = cluster.terminate(&names).await;
    let stopped_in = down.elapsed();
    let mut tally = load.await.unwrap();
    for name in &names {
        cluster.restart(name).await;
    }
    cluster.wait_ready().await;
    smtp.set_delay(Duration::ZERO);
    let back = Instant::now();
    retry_refused(&gateway, &mut tally).await;
    let notes = format!(
        "{clean} of {} processes exited cleanly in {:.1} s",
        names.len(),
        stopped_in.as_secs_f64()
    );
    if clean < names.len() {
        tally.violations.push(format!(
            "{} processes did not exit cleanly on SIGTERM",
            names.len() - clean
        ));
    }
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("sigterm-all", kind, notes),
        0,
    )
    .await;
}

/// The worker group's process down while more events than the stream cap arrive (split).
async fn stream_cap() {
    let kind = Kind::Split;
    let scale = Scale::get();
    let cap = scale.stream_cap;
    let tasks = (cap * 3).max(scale.tasks);
    let (smtp, mut cluster, users) = setup(
        kind,
        None,
        &[("QUEUE_STREAM_MAX_LEN", cap.to_string())],
        tasks,
    )
    .await;
    let gateway = cluster.gateway();
    let clean = cluster.terminate(&["worker"]).await;
    assert_eq!(clean, 1, "the worker stops on SIGTERM");
    let down = Instant::now();
    let mut tally = create_tasks(&gateway, &users, 4).await;
    retry_refused(&gateway, &mut tally).await;
    // Every event is in Redis before the group comes back (the outbox relay runs on its own).
    let stream = cluster.queue.stream_key("task.created");
    let redis = cluster.redis.clone();
    let published = tessera_app::testkit::eventually(
        Duration::from_secs(30),
        "every task.created published",
        || async {
            let len: u64 = fred::prelude::StreamsInterface::xlen(&redis, &stream)
                .await
                .ok()?;
            (len >= tally.created.len() as u64).then_some(len)
        },
    )
    .await;
    let outage = down.elapsed();
    cluster.restart("worker").await;
    let back = Instant::now();
    let notes = format!(
        "cap {cap}, {} events while the worker was down, stream length {}, down {}",
        tally.created.len(),
        published.map_or_else(
            |_| "below the events (trimmed)".to_owned(),
            |n| n.to_string()
        ),
        secs(outage.round_secs())
    );
    finish(
        cluster,
        &smtp,
        &users,
        &tally,
        back,
        Report::new("stream-cap", kind, notes),
        0,
    )
    .await;
}

trait RoundSecs {
    fn round_secs(self) -> Duration;
}

impl RoundSecs for Duration {
    /// Whole seconds (tenths under ten), for the report line.
    fn round_secs(self) -> Duration {
        if self < Duration::from_secs(10) {
            Duration::from_millis(self.as_millis() as u64 / 100 * 100)
        } else {
            Duration::from_secs(self.as_secs())
        }
    }
}

mod single {
    use super::Kind::Single;

    #[tokio::test]
    async fn redis_restart() {
        super::redis_restart(Single).await;
    }

    #[tokio::test]
    async fn worker_sigkill() {
        super::worker_sigkill(Single).await;
    }

    #[tokio::test]
    async fn smtp_down() {
        super::smtp_down(Single).await;
    }

    #[tokio::test]
    async fn smtp_slow() {
        super::smtp_slow(Single).await;
    }

    #[tokio::test]
    async fn postgres_killed() {
        super::postgres_killed(Single).await;
    }

    #[tokio::test]
    async fn notification_db_down() {
        super::notification_db_down(Single).await;
    }

    #[tokio::test]
    async fn sigterm_all() {
        super::sigterm_all(Single).await;
    }
}

mod split {
    use super::Kind::Split;

    #[tokio::test]
    async fn redis_restart() {
        super::redis_restart(Split).await;
    }

    #[tokio::test]
    async fn worker_sigkill() {
        super::worker_sigkill(Split).await;
    }

    #[tokio::test]
    async fn notification_down() {
        super::notification_down().await;
    }

    #[tokio::test]
    async fn smtp_down() {
        super::smtp_down(Split).await;
    }

    #[tokio::test]
    async fn smtp_slow() {
        super::smtp_slow(Split).await;
    }

    #[tokio::test]
    async fn postgres_killed() {
        super::postgres_killed(Split).await;
    }

    #[tokio::test]
    async fn notification_db_down() {
        super::notification_db_down(Split).await;
    }

    #[tokio::test]
    async fn sigterm_all() {
        super::sigterm_all(Split).await;
    }

    #[tokio::test]
    async fn stream_cap() {
        super::stream_cap().await;
    }
}
