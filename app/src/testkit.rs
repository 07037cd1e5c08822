//! The `spawn_app` harness every domain's integration tests use (feature `testkit`).
//!
//! Each test gets the real server on port 0, its own Postgres database per domain cloned from a
//! migrated template (`CREATE DATABASE ... TEMPLATE ...`, dropped afterwards), and a unique Redis
//! key prefix (deleted afterwards). Real Postgres and Redis: `TEST_DATABASE_URL` (an admin URL,
//! default `postgres://postgres@127.0.0.1:5432/postgres`) and `TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test support code")]

pub mod smtp;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::TcpListener;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use fred::prelude::{ClientLike, KeysInterface};

use crate::config::{Env, HttpSettings};
use crate::db::{
    DbPool, MigrationSet, PoolSettings, build_pool, platform_migrations, run_migrations,
};
use crate::module::{Domain, Platform};
use crate::queue::{Queue, QueueSettings};
use crate::server::{self, Running};

/// The admin URL of the test Postgres server.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The server process of `conn`'s session (`pg_backend_pid()`).
pub async fn backend_pid(conn: &mut AsyncPgConnection) -> anyhow::Result<i32> {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let row: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(conn)
        .await?;
    Ok(row.pid)
}

/// The last statement the session of server process `pid` ran, as `pg_stat_activity` shows it
/// (read over an admin connection of its own, so the session itself is not disturbed).
pub async fn last_statement(pid: i32) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Query {
        #[diesel(sql_type = diesel::sql_types::Text)]
        query: String,
    }
    let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
    let row: Query = diesel::sql_query("SELECT query FROM pg_stat_activity WHERE pid = $1")
        .bind::<diesel::sql_types::Integer, _>(pid)
        .get_result(&mut admin)
        .await?;
    Ok(row.query)
}

/// The URL of the test Redis server.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `admin`'s URL with its database replaced by `db`.
pub fn url_for(db: &str) -> String {
    let admin = admin_url();
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{admin}/{db}"),
    }
}

/// A random hex string of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID (version 4) in its text form, for crates whose tests have no uuid of their own.
pub fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// Sends SIGTERM to process `pid` (a graceful stop); whether it was delivered.
pub fn sigterm(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// A Redis client and a job queue on `settings` (their prefix), for tests that watch the queue
/// of processes they started.
pub async fn connect_queue(
    settings: &crate::redis::RedisSettings,
) -> (fred::prelude::Client, Queue) {
    let client = crate::redis::connect(settings).await.expect("redis");
    client.wait_for_connect().await.expect("redis up");
    let queue = Queue::new(
        client.clone(),
        settings.clone(),
        QueueSettings::default(),
        None,
    );
    (client, queue)
}

/// The dead-lettered jobs under `queue`'s prefix, as `topic/group: error` lines: what a test
/// that ends with any (and did not expect them) fails with.
pub async fn dead_letters(queue: &Queue) -> Vec<String> {
    queue
        .list_dead()
        .await
        .unwrap_or_default()
        .iter()
        .map(|d| format!("{}/{}: {}", d.topic, d.group, d.error))
        .collect()
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// A database that exists for one test and is dropped when this value is.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestDatabase {
    /// A fresh database for `domain`, cloned from a template with `sets` applied.
    pub async fn create(domain: &str, sets: &[MigrationSet]) -> anyhow::Result<Self> {
        let template = ensure_template(domain, sets).await?;
        let name = format!("tessera_test_{domain}_{}", random_hex(6));
        let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
        // Cloning fails while another session is connected to the template; that only happens
        // for a moment while a template is being built, so retry briefly.
        let mut last = None;
        for _ in 0..50 {
            match diesel::sql_query(format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .execute(&mut admin)
            .await
            {
                Ok(_) => {
                    return Ok(Self {
                        url: url_for(&name),
                        name,
                    });
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!("cannot clone {template}: {last:?}"))
    }

    /// A fresh, empty database with only `sets` applied (no template).
    pub async fn migrated(prefix: &str, sets: &[MigrationSet]) -> anyhow::Result<Self> {
        let name = format!("tessera_test_{prefix}_{}", random_hex(6));
        let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await?;
        let db = Self {
            url: url_for(&name),
            name,
        };
        run_migrations(&db.url, sets).await?;
        Ok(db)
    }

    /// A pool on this database.
    pub fn pool(&self) -> DbPool {
        build_pool(&self.url, &PoolSettings::default())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any async context we can await in; use a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    ))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The name of the migrated template for `domain`, building it if needed.
///
/// The name carries a fingerprint of the migration names and the test binary's build time, so
/// an edited migration (which rebuilds the binary) gets a fresh template. Builders serialise on
/// an advisory lock; stale templates of the domain are dropped on the way.
async fn ensure_template(domain: &str, sets: &[MigrationSet]) -> anyhow::Result<String> {
    let mut hasher = DefaultHasher::new();
    for set in sets {
        let migrations = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&set())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for m in migrations {
            m.name().to_string().hash(&mut hasher);
        }
    }
    if let Ok(modified) = std::env::current_exe()
        .and_then(|p| p.metadata())
        .and_then(|m| m.modified())
    {
        modified.hash(&mut hasher);
    }
    let name = format!("tessera_tpl_{domain}_{:016x}", hasher.finish());

    let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
    let lock_key = 0x7e55_e7a0_i64;
    diesel::sql_query(format!("SELECT pg_advisory_lock({lock_key})"))
        .execute(&mut admin)
        .await?;
    let result = async {
        let exists = diesel::sql_query(format!("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}') AS exists"))
            .get_result::<Exists>(&mut admin)
            .await?
            .exists;
        if !exists {
            let wip = format!("{name}_wip");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{wip}\" WITH (FORCE)")).execute(&mut admin).await?;
            diesel::sql_query(format!("CREATE DATABASE \"{wip}\"")).execute(&mut admin).await?;
            run_migrations(&url_for(&wip), sets).await?;
            diesel::sql_query(format!("ALTER DATABASE \"{wip}\" RENAME TO \"{name}\"")).execute(&mut admin).await?;
            // Best effort: older templates of this domain are garbage now.
            #[derive(QueryableByName)]
            struct Db {
                #[diesel(sql_type = diesel::sql_types::Text)]
                datname: String,
            }
            let stale = diesel::sql_query(format!(
                "SELECT datname FROM pg_database WHERE datname LIKE 'tessera_tpl_{domain}_%' AND datname <> '{name}'"
            ))
            .load::<Db>(&mut admin)
            .await
            .unwrap_or_default();
            for db in stale {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\"", db.datname)).execute(&mut admin).await;
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({lock_key})"))
        .execute(&mut admin)
        .await;
    result.map(|_| name)
}

/// A running app for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An HTTP client (no redirects followed, short timeout).
    pub client: reqwest::Client,
    /// The environment the app was built from.
    pub env: Env,
    /// The platform the app runs on (tokens, Redis, queue).
    pub platform: Platform,
    databases: Vec<(String, TestDatabase)>,
    running: Option<Running>,
    dead_letters_expected: bool,
}

impl TestApp {
    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The Prometheus text of `/metrics` (panics when it cannot be read: tests only).
    pub async fn metrics(&self) -> String {
        let res = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        res.text().await.expect("the /metrics body")
    }

    /// A pool on `domain`'s test database, for assertions on stored state.
    pub fn pool(&self, domain: &str) -> DbPool {
        let db = self
            .databases
            .iter()
            .find(|(d, _)| d == domain)
            .map(|(_, db)| db.url.clone())
            .expect("domain mounted");
        build_pool(&db, &PoolSettings::default())
    }

    /// The database URL of `domain`.
    pub fn database_url(&self, domain: &str) -> String {
        self.databases
            .iter()
            .find(|(d, _)| d == domain)
            .map(|(_, db)| db.url.clone())
            .expect("domain mounted")
    }

    /// Declares that this test leaves dead-lettered jobs behind on purpose (it checks them);
    /// without it, [`TestApp::shutdown`] fails the test when any job was dead-lettered.
    pub fn expect_dead_letters(&mut self) {
        self.dead_letters_expected = true;
    }

    /// Stops the server gracefully and removes the test's Redis keys. Panics (failing the test)
    /// when a job was dead-lettered and the test did not say it expected that
    /// ([`TestApp::expect_dead_letters`]): a dead letter is a lost effect unless the test says
    /// otherwise.
    pub async fn shutdown(mut self) {
        // Close the client's pooled keep-alive connections first: a graceful stop waits for open
        // connections, and idle keep-alive ones would hold it until they time out.
        self.client = reqwest::Client::new();
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let dead = if self.dead_letters_expected {
            Vec::new()
        } else {
            dead_letters(&self.platform.queue).await
        };
        let prefix = self.platform.redis_settings.prefix.clone();
        delete_prefix(&self.platform.redis, &prefix).await;
        assert!(
            dead.is_empty(),
            "the test left dead-lettered jobs behind (call expect_dead_letters() if that is the \
             point of the test): {dead:?}"
        );
    }
}

impl Drop for TestApp {
    // A test that panicked never reached `shutdown`: still remove its Redis keys (best effort;
    // its databases go with their own `Drop`).
    fn drop(&mut self) {
        if self.running.is_none() {
            return;
        }
        let settings = self.platform.redis_settings.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(client) = crate::redis::connect(&settings).await {
                    if client.wait_for_connect().await.is_ok() {
                        delete_prefix(&client, &settings.prefix).await;
                    }
                }
            });
        })
        .join();
    }
}

/// Deletes every key under `prefix:`.
pub async fn delete_prefix(client: &fred::prelude::Client, prefix: &str) {
    let pattern = format!("{prefix}:*");
    let keys: Vec<String> = match client.custom(fred::cmd!("KEYS"), vec![pattern]).await {
        Ok(keys) => keys,
        Err(_) => return,
    };
    for key in keys {
        let _: Result<i64, _> = client.del(key).await;
    }
}

/// The variables every test app starts from; `overrides` win.
pub fn base_env(overrides: &[(&str, &str)]) -> Env {
    let mut env = Env::from_pairs([
        ("JWT_SECRET", random_hex(32)),
        ("INTERNAL_JWT_SECRET", random_hex(32)),
        ("REDIS_URL", redis_url()),
        ("REDIS_PREFIX", format!("test:{}", random_hex(8))),
        ("HTTP_WORKERS", "1".to_owned()),
        ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
        ("DB_POOL_SIZE", "5".to_owned()),
        ("QUEUE_BASE_BACKOFF", "50ms".to_owned()),
        ("QUEUE_MAX_BACKOFF", "500ms".to_owned()),
        ("QUEUE_VISIBILITY_TIMEOUT", "5s".to_owned()),
        ("QUEUE_HANDLER_TIMEOUT", "4s".to_owned()),
        // Tests that are about the gateway's limits set their own.
        ("RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
    ]);
    for (k, v) in overrides {
        env = env.with(k, *v);
    }
    env
}

/// Starts `domains` on port 0 with a fresh database each and a fresh Redis prefix.
pub async fn spawn_app(
    domains: &[&'static Domain],
    overrides: &[(&str, &str)],
) -> anyhow::Result<TestApp> {
    spawn_app_on(domains, overrides, TcpListener::bind("127.0.0.1:0")?).await
}

/// Starts `domains` behind the gateway module, as the single-process deployment runs them.
#[cfg(feature = "gateway")]
pub async fn spawn_gateway(
    domains: &[&'static Domain],
    overrides: &[(&str, &str)],
) -> anyhow::Result<TestApp> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    spawn(
        server::Mount::behind_gateway(domains, None),
        overrides,
        listener,
    )
    .await
}

/// Like [`spawn_app`], on a listener the test bound itself (to know the address before the app
/// exists, e.g. to start a service after its callers).
pub async fn spawn_app_on(
    domains: &[&'static Domain],
    overrides: &[(&str, &str)],
    listener: TcpListener,
) -> anyhow::Result<TestApp> {
    spawn(server::Mount::direct(domains), overrides, listener).await
}

/// Starts what `mount` names on `listener` with fresh databases and a fresh Redis prefix, and
/// waits until it is ready.
pub async fn spawn(
    mount: server::Mount<'_>,
    overrides: &[(&str, &str)],
    listener: TcpListener,
) -> anyhow::Result<TestApp> {
    let domains = mount.domains;
    let mut env = base_env(overrides);
    let mut databases = Vec::new();
    for d in domains {
        if let Some(own) = d.migrations {
            let db = TestDatabase::create(d.name, &[platform_migrations, own]).await?;
            env = env.with(
                crate::services::database_var(d.name)
                    .ok_or_else(|| anyhow::anyhow!("no database variable for {}", d.name))?,
                db.url.clone(),
            );
            databases.push((d.name.to_owned(), db));
        }
    }
    let platform = server::platform(env.clone(), domains.len() == 1).await?;
    platform.redis.wait_for_connect().await?;
    let http = HttpSettings::from_env(&env, 0)?;
    let running = server::start(platform.clone(), mount, http, Some(listener)).await?;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    // Tests start from a ready app: subscriptions made, databases answering.
    let ready = format!("{base}/ready");
    let probe = client.clone();
    eventually(Duration::from_secs(15), "the app to be ready", || async {
        let res = probe.get(&ready).send().await.ok()?;
        res.status().is_success().then_some(())
    })
    .await?;
    Ok(TestApp {
        base,
        client,
        env,
        platform,
        databases,
        running: Some(running),
        dead_letters_expected: false,
    })
}

/// Polls `probe` every 25 ms until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= until {
            anyhow::bail!(
                "timed out after {} ms waiting for {what}",
                deadline.as_millis()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The HTTP API of the test SMTP catcher (maildev; `TEST_MAIL_API`, default
/// `http://127.0.0.1:1080`). `.ci/services` starts it with SMTP on 1025.
pub fn mail_api() -> String {
    std::env::var("TEST_MAIL_API").unwrap_or_else(|_| "http://127.0.0.1:1080".to_owned())
}

/// The SMTP variables that point an app at the test catcher.
pub fn smtp_env() -> Vec<(&'static str, String)> {
    let host = std::env::var("TEST_SMTP_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("TEST_SMTP_PORT").unwrap_or_else(|_| "1025".to_owned());
    vec![("SMTP_HOST", host), ("SMTP_PORT", port)]
}

/// Every message the catcher holds whose envelope recipient is `address` (tests share one
/// catcher, so each uses its own addresses). Each is maildev's JSON: `subject`, `html`, `text`,
/// `to`, `from`, `headers`.
pub async fn mails_to(address: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let all: Vec<serde_json::Value> = reqwest::get(format!("{}/api/email", mail_api()))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let wanted = address.to_ascii_lowercase();
    Ok(all
        .into_iter()
        .filter(|m| {
            let recipients = m["envelope"]["to"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(m["to"].as_array().into_iter().flatten());
            recipients
                .filter_map(|r| r["address"].as_str())
                .any(|a| a.eq_ignore_ascii_case(&wanted))
        })
        .collect())
}

/// Asserts a problem+json error response with `status` (content type, `type` URN, `title`,
/// `instance`, and a `requestId` equal to the `X-Request-Id` header) and returns its body.
pub async fn assert_problem(res: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        header("content-type"),
        "application/problem+json",
        "content type"
    );
    let rid = header("x-request-id");
    let body: serde_json::Value = res.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    let kind = body["type"].as_str().unwrap_or("");
    assert!(kind.starts_with("urn:tessera:problem:"), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(
        body["requestId"].as_str(),
        Some(rid.as_str()),
        "requestId matches the header"
    );
    assert!(body["instance"].is_string(), "{body}");
    body
}

/// The fields a validation problem names, in order.
pub fn problem_fields(problem: &serde_json::Value) -> Vec<String> {
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
