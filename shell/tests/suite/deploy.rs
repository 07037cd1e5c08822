//! The two deployments the suite runs against, behind one type.
//!
//! - [`Kind::Single`]: every module in one in-process server, gateway in front, as `just dev`
//!   and `compose.mono.yml` run it.
//! - [`Kind::Split`]: six real `shell` processes (the binary cargo built for these tests), as
//!   `just split` and `compose.split.yml` run them: auth, user, task and notification each with
//!   their own database, the worker calling notification over HTTP with a service token, and
//!   the gateway proxying to all four. Each process binds port 0 and the harness reads the
//!   address from its log; every log line is kept for assertions.
//! - [`Kind::External`]: a deployment the suite did not start, found at `TESSERA_E2E_URL` (the
//!   compose files, brought up by `just compose-test`). Its mail catcher is `TEST_MAIL_API`,
//!   its Redis `TEST_REDIS_URL` with the prefix `TESSERA_E2E_REDIS_PREFIX` (default `tessera`;
//!   read only, for "has the worker settled"), its auth database
//!   `TESSERA_E2E_AUTH_DATABASE_URL` (for the admin CLI), and `JWT_SECRET` /
//!   `INTERNAL_JWT_SECRET` its secrets (for tests that mint tokens). Only the scenarios that
//!   need no settings of their own run against it; the suite neither changes nor stops it.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_app::config::Env;
use tessera_app::db::platform_migrations;
use tessera_app::module::Domain;
use tessera_app::queue::Queue;
use tessera_app::server::Mount;
use tessera_app::services;
use tessera_app::testkit::{
    TestApp, TestDatabase, connect_queue, dead_letters, delete_prefix, eventually, random_hex,
    redis_url, sigterm, smtp_env,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the suite waits for anything asynchronous.
pub const WAIT: Duration = Duration::from_secs(30);
/// The web app base URL e-mail links use.
pub const WEB_APP_URL: &str = "http://localhost:3000";

/// Which deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One process.
    Single,
    /// Six processes.
    Split,
    /// Running elsewhere, at `TESSERA_E2E_URL`.
    External,
}

/// The variable naming the gateway of an external deployment.
pub const EXTERNAL_URL: &str = "TESSERA_E2E_URL";

/// The value of `name`, which an external deployment needs.
fn external_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: an external deployment's tests need it (see deploy.rs)")
    })
}

/// Every domain, in mount order.
pub fn domains() -> [&'static Domain; 5] {
    [
        &tessera_auth::DOMAIN,
        &tessera_user::DOMAIN,
        &tessera_task::DOMAIN,
        &tessera_notification::DOMAIN,
        &tessera_worker::DOMAIN,
    ]
}

/// A running deployment: a gateway URL and what the tests need to look behind it.
pub struct Deployment {
    /// The gateway's base URL.
    pub base: String,
    /// A client that follows no redirects.
    pub client: reqwest::Client,
    /// The variables every process got (secrets, Redis).
    pub env: Vec<(String, String)>,
    /// The shared job queue (for "has the worker settled" checks).
    pub queue: Queue,
    redis: fred::prelude::Client,
    prefix: String,
    inner: Inner,
    dead_letters_expected: bool,
}

enum Inner {
    Single(Option<Box<TestApp>>),
    Split(Split),
    External,
}

impl Deployment {
    /// Starts `kind` with the suite's defaults plus `overrides`.
    pub async fn start(kind: Kind, overrides: &[(&str, &str)]) -> Deployment {
        if kind == Kind::External {
            assert!(
                overrides.is_empty(),
                "an external deployment runs with its own settings: {overrides:?}"
            );
            return Deployment::external().await;
        }
        let mut env: Vec<(String, String)> = vec![
            ("JWT_SECRET".into(), random_hex(32)),
            ("INTERNAL_JWT_SECRET".into(), random_hex(32)),
            ("REDIS_URL".into(), redis_url()),
            ("REDIS_PREFIX".into(), format!("test:{}", random_hex(8))),
            ("WEB_APP_URL".into(), WEB_APP_URL.into()),
        ];
        env.extend(smtp_env().into_iter().map(|(k, v)| (k.to_owned(), v)));
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        let settings = Env::from_pairs(env.clone())
            .redis()
            .expect("redis settings");
        let (redis, queue) = connect_queue(&settings).await;
        let prefix = settings.prefix.clone();
        let client = http_client();
        let (base, inner) = match kind {
            Kind::Single => {
                let pairs: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let all = domains();
                let app = tessera_app::testkit::spawn(
                    Mount::behind_gateway(&all, Some(shell::OPENAPI_JSON)),
                    &pairs,
                    std::net::TcpListener::bind("127.0.0.1:0").expect("port"),
                )
                .await
                .expect("single process starts");
                (app.base.clone(), Inner::Single(Some(Box::new(app))))
            }
            Kind::Split => {
                let split = Split::start(&env).await;
                (split.url("gateway"), Inner::Split(split))
            }
            Kind::External => unreachable!("returned above"),
        };
        let deployment = Deployment {
            base,
            client,
            env,
            queue,
            redis,
            prefix,
            inner,
            dead_letters_expected: false,
        };
        deployment.wait_ready().await;
        deployment
    }

    /// The deployment at `TESSERA_E2E_URL` (see the module's documentation).
    async fn external() -> Deployment {
        let base = external_var(EXTERNAL_URL).trim_end_matches('/').to_owned();
        let mut env: Vec<(String, String)> = vec![
            ("REDIS_URL".into(), redis_url()),
            (
                "REDIS_PREFIX".into(),
                std::env::var("TESSERA_E2E_REDIS_PREFIX").unwrap_or_else(|_| "tessera".into()),
            ),
        ];
        for name in ["JWT_SECRET", "INTERNAL_JWT_SECRET"] {
            if let Ok(value) = std::env::var(name) {
                env.push((name.to_owned(), value));
            }
        }
        let settings = Env::from_pairs(env.clone())
            .redis()
            .expect("redis settings");
        let (redis, queue) = connect_queue(&settings).await;
        let deployment = Deployment {
            base,
            client: http_client(),
            env,
            queue,
            redis,
            prefix: settings.prefix.clone(),
            inner: Inner::External,
            dead_letters_expected: false,
        };
        deployment.wait_ready().await;
        deployment
    }

    /// Waits until the gateway's `/ready` answers 200 (downstream services included).
    pub async fn wait_ready(&self) {
        let url = self.url("/ready");
        eventually(WAIT, "the gateway to be ready", || async {
            let res = self.client.get(&url).send().await.ok()?;
            res.status().is_success().then_some(())
        })
        .await
        .expect("ready");
    }

    /// The URL of `path` at the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The split processes (panics on the single deployment: split-only tests ask for it).
    pub fn split(&mut self) -> &mut Split {
        match &mut self.inner {
            Inner::Split(s) => s,
            Inner::Single(_) | Inner::External => panic!("not a split deployment"),
        }
    }

    /// Declares that the scenario dead-letters jobs on purpose (and checks them itself).
    pub fn expect_dead_letters(&mut self) {
        self.dead_letters_expected = true;
    }

    /// Stops everything and removes the Redis keys. Fails the test when a job was dead-lettered
    /// and the scenario did not expect it (the single process's `TestApp::shutdown` checks the
    /// same). An external deployment is left as it is.
    pub async fn stop(mut self) {
        let mut dead = Vec::new();
        match &mut self.inner {
            Inner::Single(app) => {
                if let Some(mut app) = app.take() {
                    if self.dead_letters_expected {
                        app.expect_dead_letters();
                    }
                    app.shutdown().await;
                }
            }
            Inner::Split(split) => {
                split.stop_all().await;
                if !self.dead_letters_expected {
                    dead = dead_letters(&self.queue).await;
                }
            }
            Inner::External => return,
        }
        delete_prefix(&self.redis, &self.prefix).await;
        assert!(dead.is_empty(), "the scenario left dead-lettered jobs: {dead:?}");
    }

    /// A POST with a JSON body and an optional bearer token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("POST")
    }

    /// A GET with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// Registers `email` and logs in; returns `(user id, access token, refresh token)`.
    pub async fn sign_up(&self, email: &str, password: &str) -> (String, String, String) {
        let res = self
            .post(
                "/auth/register",
                None,
                json!({"email": email, "password": password, "name": "Ada"}),
            )
            .await;
        assert_eq!(res.status(), 201, "register");
        let (access, refresh) = self.login(email, password).await.expect("login");
        let me: Value = self
            .get("/auth/me", &access)
            .await
            .json()
            .await
            .expect("me");
        (me["id"].as_str().expect("id").to_owned(), access, refresh)
    }

    /// Logs in; `None` when refused.
    pub async fn login(&self, email: &str, password: &str) -> Option<(String, String)> {
        let res = self
            .post(
                "/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        if res.status() != 200 {
            return None;
        }
        let body: Value = res.json().await.ok()?;
        Some((
            body["accessToken"].as_str()?.to_owned(),
            body["refreshToken"].as_str()?.to_owned(),
        ))
    }

    /// Waits until the worker group has nothing in flight, waiting or unread, and checks that
    /// nothing is dead: after this, a missing effect is really missing.
    pub async fn worker_settled(&self) {
        eventually(WAIT, "the worker's jobs to settle", || async {
            let stats = self.queue.stats().await.ok()?;
            stats
                .iter()
                .filter(|s| s.group == "worker")
                .all(|s| s.pending == 0 && s.delayed == 0 && s.lag == Some(0))
                .then_some(())
        })
        .await
        .expect("settled");
        assert!(
            self.queue.list_dead().await.expect("dead list").is_empty(),
            "no job was dead-lettered"
        );
    }

    /// Makes `email` an admin with the real `shell admin promote` CLI (effective from the
    /// next login).
    pub fn promote(&self, email: &str) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shell"))
            .args(["admin", "promote", email])
            .env_clear()
            .env("AUTH_DATABASE_URL", self.auth_database_url())
            .output()
            .expect("shell admin promote runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The auth database URL (the admin CLI promotes users there).
    pub fn auth_database_url(&self) -> String {
        match &self.inner {
            Inner::Single(app) => app.as_ref().expect("running").database_url("auth"),
            Inner::Split(s) => s.databases["auth"].url.clone(),
            Inner::External => external_var("TESSERA_E2E_AUTH_DATABASE_URL"),
        }
    }
}

/// A client that follows no redirects.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Starts `shell serve --services <services>` with exactly `env` (plus PATH), appending every line
/// it prints to `lines`. Returns the child and the length `lines` had before it started: the
/// process's own lines begin there.
pub fn spawn_shell(
    services: &str,
    env: &[(String, String)],
    lines: &Arc<Mutex<Vec<String>>>,
) -> (Child, usize) {
    let from = lines.lock().expect("log lock").len();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shell"))
        .args(["serve", "--services", services])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("shell starts");
    let outs: [Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as _),
        child.stderr.take().map(|s| Box::new(s) as _),
    ];
    for out in outs.into_iter().flatten() {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(out).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().expect("log lock").push(line);
            }
        });
    }
    (child, from)
}

/// One `shell` process of the split deployment.
struct Process {
    child: Child,
    port: u16,
    env: Vec<(String, String)>,
}

/// The six processes and their databases.
pub struct Split {
    processes: HashMap<&'static str, Process>,
    logs: HashMap<&'static str, Arc<Mutex<Vec<String>>>>,
    databases: HashMap<&'static str, TestDatabase>,
}

impl Split {
    async fn start(shared: &[(String, String)]) -> Split {
        let mut split = Split::empty();
        for d in domains() {
            if let Some(own) = d.migrations {
                let db = TestDatabase::create(d.name, &[platform_migrations, own])
                    .await
                    .expect("database");
                split.databases.insert(d.name, db);
            }
        }
        let common = |extra: Vec<(String, String)>| {
            let mut env = shared.to_vec();
            env.extend(
                [
                    ("HOST", "127.0.0.1"),
                    ("PORT", "0"),
                    ("LOG_FORMAT", "json"),
                    ("RUST_LOG", "info"),
                    ("HTTP_WORKERS", "1"),
                    ("SHUTDOWN_TIMEOUT", "5s"),
                    ("DB_POOL_SIZE", "5"),
                    ("QUEUE_BASE_BACKOFF", "50ms"),
                    ("QUEUE_MAX_BACKOFF", "500ms"),
                    ("QUEUE_VISIBILITY_TIMEOUT", "5s"),
                    ("QUEUE_HANDLER_TIMEOUT", "4s"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
            );
            // The suite's overrides (rate limits, breaker) win over the defaults above.
            for (k, v) in shared {
                env.retain(|(name, _)| name != k);
                env.push((k.clone(), v.clone()));
            }
            env.extend(extra);
            env
        };
        for name in services::domains()
            .filter(|s| s.database_var.is_some())
            .map(|s| s.name)
        {
            let url = split.databases[name].url.clone();
            // No TRUSTED_PROXIES, as in compose.split.yml: the gateway names the client of each
            // request in a signed client-hop token.
            let env = common(vec![("DATABASE_URL".into(), url)]);
            split.spawn(name, env).await;
        }
        let notification = &services::NOTIFICATION;
        let env = common(vec![(
            notification.url_var.unwrap().into(),
            split.url(notification.name),
        )]);
        split.spawn("worker", env).await;
        let mut urls = Vec::new();
        for svc in services::routed() {
            urls.push((svc.url_var.unwrap().to_owned(), split.url(svc.name)));
        }
        let gateway_defaults = [
            ("RATE_LIMIT_PER_MINUTE", "100000"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "100000"),
        ];
        for (k, v) in gateway_defaults {
            if !shared.iter().any(|(name, _)| name == k) {
                urls.push((k.to_owned(), v.to_owned()));
            }
        }
        split.spawn("gateway", common(urls)).await;
        split
    }

    fn empty() -> Split {
        Split {
            processes: HashMap::new(),
            logs: HashMap::new(),
            databases: HashMap::new(),
        }
    }

    /// The gateway alone, proxying to whatever URLs `env` names (tests with fake upstreams).
    pub async fn gateway_alone(env: &[(String, String)]) -> Split {
        let mut split = Split::empty();
        let mut env = env.to_vec();
        env.extend(
            [
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("LOG_FORMAT", "json"),
                ("HTTP_WORKERS", "1"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        split.spawn("gateway", env).await;
        split
    }

    /// Starts the process `name` (mounting that module only) and waits for its listener.
    async fn spawn(&mut self, name: &'static str, env: Vec<(String, String)>) {
        let lines = self.logs.entry(name).or_default().clone();
        let (child, from) = spawn_shell(name, &env, &lines);
        let port = eventually(WAIT, &format!("{name} to listen"), || async {
            let logs = lines.lock().expect("log lock");
            logs[from..].iter().find_map(|line| {
                let v: Value = serde_json::from_str(line).ok()?;
                (v["message"] == "listening")
                    .then(|| v["addr"].as_str()?.rsplit(':').next()?.parse::<u16>().ok())
                    .flatten()
            })
        })
        .await
        .unwrap_or_else(|e| {
            let logs = lines.lock().expect("log lock").join("\n");
            panic!("{e}\n{name} logs:\n{logs}")
        });
        self.processes.insert(name, Process { child, port, env });
    }

    /// `http://127.0.0.1:<port>` of process `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.processes[name].port)
    }

    /// The log lines process `name` has written so far.
    pub fn logs(&self, name: &str) -> Vec<String> {
        self.logs[name].lock().expect("log lock").clone()
    }

    /// Kills process `name` (SIGKILL: nothing drains).
    pub async fn kill(&mut self, name: &str) {
        if let Some(p) = self.processes.get_mut(name) {
            let _ = p.child.kill().await;
        }
    }

    /// Starts process `name` again on its old port with its old environment.
    pub async fn restart(&mut self, name: &'static str) {
        let old = self.processes.remove(name).expect("known process");
        let mut env = old.env.clone();
        env.retain(|(k, _)| k != "PORT");
        env.push(("PORT".into(), old.port.to_string()));
        drop(old);
        self.spawn(name, env).await;
    }

    /// Stops every process (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop_all(&mut self) {
        // SIGTERM lets each drain; what does not stop in time is killed on drop.
        for p in self.processes.values() {
            if let Some(pid) = p.child.id() {
                sigterm(pid);
            }
        }
        for p in self.processes.values_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(10), p.child.wait()).await;
        }
    }
}
