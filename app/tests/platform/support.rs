//! Test harness: isolated Redis prefixes and throwaway databases, cleaned up on drop (also when
//! a test fails).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use fred::prelude::{Builder, Client, ClientLike, Config, LuaInterface, StreamsInterface};
use tessera_app::db::{DbPool, PoolSettings, build_pool, platform_migrations, run_migrations};
use tessera_app::queue::{Job, Queue, QueueSettings};
use tessera_app::redis::RedisSettings;
use tokio::time::Instant;
use uuid::Uuid;

pub(crate) const REDIS_URL: &str = "redis://127.0.0.1:6379";
const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432";

/// Queue timings short enough for tests: retries after ~50 ms, reclaim after 500 ms.
pub(crate) fn fast_settings() -> QueueSettings {
    QueueSettings {
        max_attempts: 3,
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_outage_backoff: Duration::from_millis(100),
        visibility_timeout: Duration::from_millis(500),
        block: Duration::from_millis(100),
        concurrency: 4,
        handler_timeout: Duration::from_millis(400),
        ..QueueSettings::default()
    }
}

/// A Redis key prefix of its own; every key under it is deleted on drop.
pub(crate) struct TestRedis {
    pub(crate) settings: RedisSettings,
    pub(crate) client: Client,
}

impl TestRedis {
    pub(crate) async fn new() -> anyhow::Result<Self> {
        let settings = RedisSettings {
            url: REDIS_URL.to_owned(),
            prefix: format!("test:{}", Uuid::new_v4().simple()),
        };
        let client = Builder::from_config(Config::from_url(REDIS_URL)?)
            .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(5))
            .build()?;
        client
            .init()
            .await
            .context("connecting to the test Redis")?;
        Ok(Self { settings, client })
    }

    pub(crate) fn queue(&self, settings: QueueSettings) -> Queue {
        Queue::new(self.client.clone(), self.settings.clone(), settings, None)
    }

    /// The jobs currently in a stream, in order.
    pub(crate) async fn jobs_in(&self, key: &str) -> anyhow::Result<Vec<Job>> {
        let entries: Vec<(String, std::collections::HashMap<String, String>)> =
            self.client.xrange_values(key, "-", "+", None).await?;
        entries
            .into_iter()
            .map(|(_, fields)| {
                let raw = fields.get("job").context("entry without a job field")?;
                Ok(serde_json::from_str(raw)?)
            })
            .collect()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let pattern = format!("{}:*", self.settings.prefix);
        run_detached(async move {
            let client = Builder::from_config(Config::from_url(REDIS_URL)?).build()?;
            client.init().await?;
            let _: i64 = client
                .eval(
                    "local keys = redis.call('KEYS', ARGV[1]) \
                     for _, k in ipairs(keys) do redis.call('DEL', k) end \
                     return #keys",
                    Vec::<String>::new(),
                    vec![pattern],
                )
                .await?;
            client.quit().await?;
            Ok(())
        });
    }
}

/// A database of its own with the platform migrations applied; dropped on drop.
pub(crate) struct TestDb {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) pool: DbPool,
}

impl TestDb {
    pub(crate) async fn new() -> anyhow::Result<Self> {
        let name = format!("tessera_test_{}", Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&format!("{PG_BASE}/postgres")).await?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let url = format!("{PG_BASE}/{name}");
        let db = Self {
            pool: build_pool(&url, &PoolSettings::default()),
            name,
            url,
        };
        run_migrations(&db.url, &[platform_migrations]).await?;
        Ok(db)
    }

    pub(crate) async fn conn(&self) -> anyhow::Result<AsyncPgConnection> {
        Ok(AsyncPgConnection::establish(&self.url).await?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        run_detached(async move {
            let mut admin = AsyncPgConnection::establish(&format!("{PG_BASE}/postgres")).await?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            Ok(())
        });
    }
}

/// Runs async clean-up from `Drop`, which cannot await: on a thread with its own runtime, so
/// it also works while the test's runtime is unwinding from a failed assertion.
fn run_detached<F>(work: F)
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let done = std::thread::spawn(move || -> anyhow::Result<()> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(work)
    })
    .join();
    match done {
        Ok(Ok(())) => {}
        Ok(Err(err)) => eprintln!("test clean-up failed: {err:#}"),
        Err(_) => eprintln!("test clean-up panicked"),
    }
}

/// Polls `check` until it returns true, failing after `timeout`.
pub(crate) async fn eventually<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What handlers saw, shared between a handler and the test body.
#[derive(Clone, Default)]
pub(crate) struct Calls(Arc<Mutex<Vec<Job>>>);

impl Calls {
    pub(crate) fn push(&self, job: &Job) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push(job.clone());
        }
    }

    pub(crate) fn all(&self) -> Vec<Job> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.all().len()
    }

    pub(crate) fn attempts(&self) -> Vec<u32> {
        self.all().iter().map(|j| j.attempt).collect()
    }
}
