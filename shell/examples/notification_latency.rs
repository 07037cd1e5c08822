//! How long after `POST /tasks` returns its in-app notification is readable
//! (`GET /notifications` lists it), with every domain in one process as `just dev` runs them:
//! outbox relay, queue, worker, notification domain and its database in between.
//!
//! `cargo run -p shell --release --example notification_latency [-- <tasks>]` (default 300)
//! prints p50/p95/p99/max. Needs Postgres, Redis and the SMTP catcher (`.ci/services`); it
//! creates and drops its own databases and Redis keys. A figure, not a test: nothing gates on it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a measuring tool")]

#[cfg(all(
    feature = "auth",
    feature = "user",
    feature = "task",
    feature = "notification",
    feature = "worker"
))]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use serde_json::{Value, json};
    use tessera_app::testkit::{random_hex, smtp_env, spawn_app};

    /// How long the platform idles before each of the last probes.
    const IDLE: Duration = Duration::from_secs(15);
    const IDLE_PROBES: usize = 3;

    let tasks: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("the argument is the number of tasks")?,
        None => 300,
    };
    let warm_up = 10;
    let mut env: Vec<(&str, String)> = smtp_env();
    env.push(("WEB_APP_URL", "http://localhost:3000".to_owned()));
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_user::DOMAIN,
            &tessera_task::DOMAIN,
            &tessera_notification::DOMAIN,
            &tessera_worker::DOMAIN,
        ],
        &overrides,
    )
    .await?;
    let client = &app.client;
    let creds = json!({"email": format!("latency-{}@example.com", random_hex(6)), "password": "password123"});
    client
        .post(app.url("/auth/register"))
        .json(&creds)
        .send()
        .await?
        .error_for_status()?;
    let login: Value = client
        .post(app.url("/auth/login"))
        .json(&creds)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["accessToken"].as_str().context("a token")?.to_owned();

    // Creates one task and returns how long after `POST /tasks` returned its in-app
    // notification was listed.
    let probe = async |i: usize| -> anyhow::Result<Duration> {
        let title = format!("latency probe {i}");
        client
            .post(app.url("/tasks"))
            .bearer_auth(&token)
            .json(&json!({"title": title}))
            .send()
            .await?
            .error_for_status()?;
        let created = Instant::now();
        let needle = format!("\"{title}\"");
        loop {
            let page: Value = client
                .get(app.url("/notifications?limit=5"))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let seen = page["data"].as_array().into_iter().flatten().any(|n| {
                n["channel"] == "IN_APP"
                    && n["message"].as_str().is_some_and(|m| m.contains(&needle))
            });
            if seen {
                return Ok(created.elapsed());
            }
            anyhow::ensure!(
                created.elapsed() < Duration::from_secs(30),
                "task {i}'s notification did not appear within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };

    let mut samples = Vec::with_capacity(tasks);
    for i in 0..warm_up + tasks {
        let latency = probe(i).await?;
        if i >= warm_up {
            samples.push(latency);
        }
    }
    // The first task after a quiet spell: the queue consumers have been idle meanwhile.
    let mut after_idle = Vec::new();
    for i in 0..IDLE_PROBES {
        tokio::time::sleep(IDLE).await;
        after_idle.push(probe(warm_up + tasks + i).await?);
    }
    app.shutdown().await;

    samples.sort();
    let at = |q: f64| {
        let idx = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[idx].as_secs_f64() * 1000.0
    };
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
    println!(
        "POST /tasks returned -> in-app notification listed, {} tasks (after {warm_up} warm-up), \
         one process, {} cores, {} build, polling every 1 ms:",
        samples.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    println!(
        "  p50 {:.1} ms   p95 {:.1} ms   p99 {:.1} ms   max {:.1} ms   mean {:.1} ms",
        at(0.50),
        at(0.95),
        at(0.99),
        at(1.0),
        mean * 1000.0
    );
    let idle: Vec<String> = after_idle
        .iter()
        .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
        .collect();
    println!(
        "  the first task after {} s without traffic, {IDLE_PROBES} times: {}",
        IDLE.as_secs(),
        idle.join(", ")
    );
    Ok(())
}

#[cfg(not(all(
    feature = "auth",
    feature = "user",
    feature = "task",
    feature = "notification",
    feature = "worker"
)))]
fn main() {
    eprintln!("build with the auth, user, task, notification and worker features");
}
