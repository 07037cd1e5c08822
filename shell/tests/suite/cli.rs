//! The process interface of `shell` (DESIGN.md "Process interface"), exercised on the real binary.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tessera_app::testkit::{TestDatabase, eventually, free_port, random_hex, redis_url, sigterm};

const SHELL: &str = env!("CARGO_BIN_EXE_shell");

/// A command with a clean environment: only what the test sets reaches the binary.
fn shell(env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(SHELL);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_FORMAT", "json");
    // An empty working directory, so no developer .env file leaks in.
    cmd.current_dir(std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn secrets() -> Vec<(&'static str, String)> {
    vec![
        ("JWT_SECRET", random_hex(32)),
        ("INTERNAL_JWT_SECRET", random_hex(32)),
        ("REDIS_URL", redis_url()),
        ("REDIS_PREFIX", format!("test:{}", random_hex(8))),
    ]
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("shell runs")
}

#[cfg(feature = "auth")]
async fn auth_db() -> TestDatabase {
    let sets: [tessera_app::db::MigrationSet; 2] = [tessera_app::db::platform_migrations, || {
        tessera_auth::MIGRATIONS
    }];
    TestDatabase::create("auth", &sets).await.unwrap()
}

#[test]
fn openapi_prints_the_committed_document() {
    let out = run(shell(&[]).arg("openapi"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("pure JSON on stdout");
    assert_eq!(printed["openapi"], "3.1.0");
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json")).unwrap(),
    )
    .unwrap();
    assert!(
        printed == committed,
        "openapi.json is stale: run `just openapi` and commit the result"
    );
}

#[cfg(feature = "notification")]
#[test]
fn internal_routes_are_only_in_the_internal_document() {
    let document = |args: &[&str]| -> serde_json::Value {
        let out = run(shell(&[]).args(args));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("pure JSON on stdout")
    };
    let public = document(&["openapi"]);
    let internal = document(&["openapi", "--internal"]);
    for doc in [&public, &internal] {
        assert_eq!(doc["openapi"], "3.1.0");
    }

    let public_paths = public["paths"].as_object().unwrap();
    assert!(public_paths.get("/notifications/send").is_none());
    for (path, item) in public_paths {
        for (method, op) in item.as_object().unwrap() {
            let tags = op["tags"].as_array().unwrap();
            assert!(
                !tags.iter().any(|t| t == "internal"),
                "{method} {path} is internal"
            );
            for status in ["429", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(
        public["components"]["schemas"]
            .get("SendNotification")
            .is_none()
    );
    assert!(public["components"]["securitySchemes"]["bearer"].is_object());
    assert!(
        !public["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "internal")
    );

    let internal_paths: Vec<&String> = internal["paths"].as_object().unwrap().keys().collect();
    assert_eq!(internal_paths, ["/notifications/send"]);
    let send = &internal["paths"]["/notifications/send"]["post"];
    assert!(send["security"][0].get("serviceToken").is_some(), "{send}");
    assert!(internal["components"]["securitySchemes"]["serviceToken"].is_object());
    assert!(
        internal["components"]["securitySchemes"]
            .get("bearer")
            .is_none()
    );
    assert!(internal["components"]["schemas"]["SendNotification"].is_object());
}

#[test]
fn services_prints_the_table_as_tsv_and_json() {
    let out = run(shell(&[]).arg("services"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "name",
            "kind",
            "port",
            "prefixes",
            "url_var",
            "database_var"
        ]
    );
    assert!(rows.contains(&vec![
        "task",
        "domain",
        "4003",
        "/tasks",
        "TASK_SERVICE_URL",
        "TASK_DATABASE_URL"
    ]));
    assert!(rows.contains(&vec!["worker", "domain", "4005", "-", "-", "-"]));
    assert_eq!(rows.len(), tessera_app::services::SERVICES.len() + 1);

    let out = run(shell(&[]).args(["services", "--json"]));
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pure JSON");
    let gateway = &json[0];
    assert_eq!(gateway["name"], "gateway");
    assert_eq!(gateway["port"], 4000);
    assert_eq!(json[4]["routes"][0]["prefix"], "/notifications");
    assert_eq!(json[4]["urlVar"], "NOTIFICATION_SERVICE_URL");
    assert_eq!(json[4]["databaseVar"], "NOTIFICATION_DATABASE_URL");
}

#[test]
fn unknown_or_missing_modules_fail_with_a_clear_message() {
    let out = run(shell(&secrets()).args(["serve", "--services", "bogus"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown module `bogus`"));
}

#[cfg(not(feature = "ui"))]
#[test]
fn the_web_app_is_refused_when_not_compiled_in() {
    let out = run(shell(&secrets()).args(["serve", "--services", "ui"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not compiled into this binary"));
}

#[cfg(feature = "ui")]
#[test]
fn the_web_app_fails_fast_naming_the_variable() {
    let missing = std::env::temp_dir().join(format!("tessera-no-ui-{}", random_hex(6)));
    let out = run(shell(&[
        ("UI_DIR", missing.display().to_string()),
        ("UI_PORT", free_port().to_string()),
    ])
    .args(["serve", "--services", "ui"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("UI_DIR") && stderr.contains("index.html"),
        "{stderr}"
    );

    let bundle = UiFixture::new();
    let out = run(shell(&[
        ("UI_DIR", bundle.dir.display().to_string()),
        ("UI_PORT", free_port().to_string()),
        ("API_GATEWAY_URL", "http://localhost:4000/api".to_owned()),
    ])
    .args(["serve", "--services", "ui"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("API_GATEWAY_URL"), "{stderr}");
}

/// A minimal web app bundle in a temporary directory, removed on drop.
#[cfg(feature = "ui")]
struct UiFixture {
    dir: std::path::PathBuf,
}

#[cfg(feature = "ui")]
impl UiFixture {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-ui-{}", random_hex(6)));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            r#"<!doctype html><meta name="tessera-api-base" content="%TESSERA_API_BASE%"><script type="module" src="/assets/boot-77aa.js"></script>"#,
        )
        .unwrap();
        std::fs::write(dir.join("assets/boot-77aa.js"), "export {};").unwrap();
        Self { dir }
    }
}

#[cfg(feature = "ui")]
impl Drop for UiFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `shell serve --services ui` (the split deployment's `ui` container): the web app alone, with
/// no secrets, database or Redis, on UI_PORT, stopped cleanly by SIGTERM.
#[cfg(feature = "ui")]
#[tokio::test]
async fn the_web_app_alone_serves_the_bundle_and_stops_on_sigterm() {
    let bundle = UiFixture::new();
    let port = free_port();
    let mut child: Child = shell(&[
        ("UI_DIR", bundle.dir.display().to_string()),
        ("UI_PORT", port.to_string()),
        ("HOST", "127.0.0.1".to_owned()),
        ("API_GATEWAY_URL", "https://api.example.com".to_owned()),
    ])
    .args(["serve", "--services", "ui"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(30), "the web app to answer", || async {
        let res = client.get(format!("{base}/health")).send().await.ok()?;
        (res.status() == 200).then_some(())
    })
    .await
    .unwrap();
    let res = client
        .get(format!("{base}/tasks/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("connect-src 'self' https://api.example.com;")
    );
    let page = res.text().await.unwrap();
    assert!(
        page.contains(r#"content="https://api.example.com""#),
        "{page}"
    );

    assert!(sigterm(child.id()));
    let exit = eventually(Duration::from_secs(15), "the process to exit", || {
        let polled = child.try_wait().unwrap();
        async move { polled }
    })
    .await
    .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[cfg(feature = "auth")]
#[test]
fn a_missing_secret_fails_fast_naming_the_variable() {
    let out = run(shell(&[(
        "AUTH_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/x".to_owned(),
    )])
    .arg("serve"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET must be set"), "{stderr}");
}

#[cfg(feature = "gateway")]
#[test]
fn a_gateway_that_would_time_out_slowed_logins_refuses_to_start() {
    // A slowed login outliving UPSTREAM_TIMEOUT would count against auth's circuit breaker, so
    // anyone could open it by guessing wrong at one account: the gateway must not start so.
    let mut env = secrets();
    env.extend([
        ("PORT", free_port().to_string()),
        ("UPSTREAM_TIMEOUT", "5s".to_owned()),
        ("LOGIN_MAX_DELAY", "5s".to_owned()),
    ]);
    let stderr = refused_start(&env, "gateway");
    assert!(stderr.contains("UPSTREAM_TIMEOUT"), "{stderr}");
}

#[cfg(any(feature = "gateway", feature = "worker"))]
/// Runs `shell serve --services <services>` with `env`, which must exit with a failure within
/// 30 s (it is killed and the test fails otherwise); returns what it wrote to stderr.
fn refused_start(env: &[(&str, String)], services: &str) -> String {
    let mut child = shell(env)
        .args(["serve", "--services", services])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shell starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("`serve --services {services}` started; it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "exited with success: {stderr}");
    stderr
}

#[cfg(feature = "worker")]
#[test]
fn consumers_whose_running_job_would_outlive_the_shutdown_timeout_refuse_to_start() {
    // Regression: the old defaults (SHUTDOWN_TIMEOUT 10 s, QUEUE_HANDLER_TIMEOUT 30 s) let a
    // stop cut off a job mid-send; it was redelivered and the e-mail went out twice.
    let mut env = secrets();
    env.extend([
        ("PORT", free_port().to_string()),
        ("SHUTDOWN_TIMEOUT", "10s".to_owned()),
        ("QUEUE_HANDLER_TIMEOUT", "30s".to_owned()),
    ]);
    let stderr = refused_start(&env, "worker");
    assert!(stderr.contains("SHUTDOWN_TIMEOUT"), "{stderr}");
    assert!(stderr.contains("QUEUE_HANDLER_TIMEOUT"), "{stderr}");
}

#[cfg(feature = "auth")]
#[tokio::test]
async fn serve_migrates_answers_and_exits_zero_on_sigterm() {
    let db = auth_db().await;
    let port = free_port();
    let mut env = secrets();
    env.push(("DATABASE_URL", db.url.clone()));
    env.push(("PORT", port.to_string()));
    env.push(("HOST", "127.0.0.1".to_owned()));
    let mut child: Child = shell(&env)
        .args(["serve", "--services", "auth"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/ready");
    eventually(
        Duration::from_secs(30),
        "the process to be ready",
        || async {
            let res = client.get(&url).send().await.ok()?;
            (res.status() == 200).then_some(())
        },
    )
    .await
    .unwrap();
    let health: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["service"], "auth");

    // Traffic carrying secrets and addresses, which must not reach the logs.
    let base = format!("http://127.0.0.1:{port}");
    let creds =
        serde_json::json!({"email": "secret.person@example.com", "password": "pw-never-logged-42"});
    let res = client
        .post(format!("{base}/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let tokens: serde_json::Value = client
        .post(format!("{base}/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["accessToken"].as_str().unwrap().to_owned();
    let refresh = tokens["refreshToken"].as_str().unwrap().to_owned();
    // The web app's session: the refresh token travels in Cookie and Set-Cookie headers.
    let res = client
        .post(format!("{base}/auth/refresh"))
        .header("x-tessera-session", "cookie")
        .header("cookie", format!("tessera_refresh={refresh}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie_refresh = res.json::<serde_json::Value>().await.unwrap()["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{base}/auth/refresh"))
        .header("x-tessera-session", "cookie")
        .header("cookie", format!("tessera_refresh={refresh}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "reuse of the cookie's token");
    client
        .get(format!("{base}/auth/me?access_token={access}"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let res = client
        .post(format!("{base}/auth/forgot-password"))
        .json(&serde_json::json!({"email": "secret.person@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);

    assert!(sigterm(child.id()));
    let exit = eventually(Duration::from_secs(15), "the process to exit", || {
        let polled = child.try_wait().unwrap();
        async move { polled }
    })
    .await
    .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut logs).unwrap();
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "JSON log lines:\n{logs}"
    );
    assert!(logs.contains("\"stopped\""), "{logs}");
    assert!(
        logs.contains("login succeeded"),
        "the traffic was logged at all:\n{logs}"
    );
    for secret in [
        "secret.person@example.com",
        "pw-never-logged-42",
        access.as_str(),
        refresh.as_str(),
        cookie_refresh.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

#[cfg(feature = "auth")]
#[tokio::test]
async fn migrate_then_admin_promote_makes_a_user_admin() {
    let db = TestDatabase::migrated("shellmig", &[]).await.unwrap();
    let mut env = secrets();
    env.push(("AUTH_DATABASE_URL", db.url.clone()));
    let out = run(shell(&env).args(["migrate", "--services", "auth"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    diesel::sql_query(
        "INSERT INTO users (id, email, password_hash) VALUES ('0195f000-0000-7000-8000-000000000001', 'root@example.com', 'x')",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let out = run(shell(&env).args(["admin", "promote", "nobody@example.com"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no live account"));
    let out = run(shell(&env).args(["admin", "promote", "ROOT@example.com"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    #[derive(diesel::QueryableByName)]
    struct Role {
        #[diesel(sql_type = diesel::sql_types::Text)]
        role: String,
    }
    let role: Role = diesel::sql_query("SELECT role FROM users")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(role.role, "ADMIN");
}

#[tokio::test]
async fn queue_dead_lists_dead_jobs_and_replay_requeues_them() {
    use tessera_app::queue::{Job, JobError, Queue, QueueSettings, Subscription};
    use tokio_util::sync::CancellationToken;

    let env = secrets();
    let prefix = env
        .iter()
        .find(|(k, _)| *k == "REDIS_PREFIX")
        .unwrap()
        .1
        .clone();
    let settings = tessera_app::redis::RedisSettings {
        url: redis_url(),
        prefix: prefix.clone(),
    };
    let queue = Queue::connect(
        &settings,
        QueueSettings {
            max_attempts: 1,
            ..QueueSettings::default()
        },
        None,
    )
    .await
    .unwrap();
    let job = Job::new("test.dead", serde_json::json!({"n": 1}));
    let stop = CancellationToken::new();
    let sub = Subscription::new("test.dead", "cli", |_job: Job| async {
        Err(JobError::permanent(anyhow::anyhow!("always fails")))
    });
    let consumer = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move { queue.consume(vec![sub], "c1".to_owned(), stop).await })
    };
    queue.publish(&job).await.unwrap();
    eventually(Duration::from_secs(10), "the job to be dead", || async {
        (queue.list_dead().await.ok()?.len() == 1).then_some(())
    })
    .await
    .unwrap();
    stop.cancel();
    let _ = consumer.await;

    let out = run(shell(&env).args(["queue", "dead"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(line["jobId"], job.id.to_string());
    assert_eq!(line["topic"], "test.dead");
    assert!(
        line.get("data").is_none(),
        "payloads stay out of the listing"
    );

    let out = run(shell(&env).args(["queue", "replay", &job.id.to_string()]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed 1 job(s)"));
    assert!(queue.list_dead().await.unwrap().is_empty());
    tessera_app::testkit::delete_prefix(queue.client(), &prefix).await;
}
