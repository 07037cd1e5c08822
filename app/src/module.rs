//! The interface every domain implements, and what the platform hands a domain to build itself.
//!
//! A domain crate exposes one [`Domain`] descriptor (a `const`): its name, its migrations, its
//! OpenAPI document and a constructor. The constructor gets a [`Platform`] (config, tokens, Redis,
//! the queue, metrics) and returns a [`Module`]: routes, readiness checks, job subscriptions and
//! background tasks. `shell` mounts any subset of modules into one actix `App`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use diesel_async::RunQueryDsl;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Env};
use crate::db::{DbPool, MigrationSet, PoolSettings, build_pool};
use crate::queue::{Queue, Subscription};
use crate::redis::RedisSettings;
use crate::telemetry::Metrics;
use crate::tokens::Tokens;

pub use crate::BoxFuture;

/// A domain's constructor.
pub type BuildFn = fn(Platform) -> BoxFuture<anyhow::Result<Arc<dyn Module>>>;

/// The static description of a domain crate.
pub struct Domain {
    /// The module name used by `--services` (`auth`).
    pub name: &'static str,
    /// The domain's own migrations (applied after the platform's).
    pub migrations: Option<MigrationSet>,
    /// The domain's OpenAPI document.
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    /// Builds the module from the platform. Parses the domain's own config, fails fast.
    pub build: BuildFn,
}

/// A mounted domain: what it adds to the HTTP app and to the process.
pub trait Module: Send + Sync + 'static {
    /// The module name (`auth`).
    fn name(&self) -> &'static str;

    /// Adds the module's routes.
    fn configure(&self, cfg: &mut web::ServiceConfig);

    /// Checks `/ready` runs for this module (its database, its dependencies).
    fn ready_checks(&self) -> Vec<ReadyCheck> {
        Vec::new()
    }

    /// The events and jobs this module consumes, each through its own consumer group.
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
    }

    /// Long-running tasks (the outbox relay) that stop when `shutdown` is cancelled.
    fn background(&self, shutdown: CancellationToken) -> Vec<BoxFuture<()>> {
        let _ = shutdown;
        Vec::new()
    }

    /// Database pools, for the pool gauges in `/metrics`.
    fn pools(&self) -> Vec<(&'static str, DbPool)> {
        Vec::new()
    }
}

/// One readiness check: a name and a probe that answers within a bound.
#[derive(Clone)]
pub struct ReadyCheck {
    /// What is checked (`database:auth`, `redis`).
    pub name: String,
    /// The probe; `Err` carries a short reason (no secrets).
    pub probe: Arc<dyn Fn() -> BoxFuture<Result<(), String>> + Send + Sync>,
}

impl ReadyCheck {
    /// Checks that `pool` hands out a connection that answers `SELECT 1`.
    pub fn database(domain: &str, pool: DbPool) -> Self {
        ReadyCheck {
            name: format!("database:{domain}"),
            probe: Arc::new(move || {
                let pool = pool.clone();
                Box::pin(async move {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    diesel::sql_query("SELECT 1")
                        .execute(&mut conn)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        }
    }

    /// Checks that Redis answers `PING`.
    pub fn redis(client: fred::prelude::Client) -> Self {
        ReadyCheck {
            name: "redis".to_owned(),
            probe: Arc::new(move || {
                let client = client.clone();
                Box::pin(async move {
                    use fred::prelude::ClientLike;
                    client
                        .ping::<String>(None)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        }
    }
}

/// What the platform gives every domain when it builds: configuration and shared clients.
#[derive(Clone)]
pub struct Platform {
    /// The configuration source; domains parse their own variables from it at build time.
    pub env: Arc<Env>,
    /// Token issue and verification.
    pub tokens: Tokens,
    /// Where Redis is and the key prefix.
    pub redis_settings: RedisSettings,
    /// A shared Redis client (not for blocking commands).
    pub redis: fred::prelude::Client,
    /// The job queue.
    pub queue: Queue,
    /// The process's metrics registry.
    pub metrics: Metrics,
    /// Pool sizing for domain databases.
    pub pool_settings: PoolSettings,
    /// Whether this process mounts exactly one domain (then plain `DATABASE_URL` is accepted).
    pub single_domain: bool,
    /// In-process adapters the mounted domains provide to each other.
    pub local: Arc<crate::domain_clients::LocalServices>,
}

impl Platform {
    /// The database URL of `domain` from the environment.
    pub fn database_url(&self, domain: &str) -> Result<String, ConfigError> {
        self.env.database_url(domain, self.single_domain)
    }

    /// A pool for `url` with the platform's pool settings.
    pub fn pool(&self, url: &str) -> DbPool {
        build_pool(url, &self.pool_settings)
    }
}

/// Runs every check concurrently, each bounded by `timeout`; returns `(name, result)` pairs.
pub async fn run_checks(
    checks: &[ReadyCheck],
    timeout: Duration,
) -> Vec<(String, Result<(), String>)> {
    let probes = checks.iter().map(|c| {
        let probe = (c.probe)();
        let name = c.name.clone();
        async move {
            let result = match tokio::time::timeout(timeout, probe).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            (name, result)
        }
    });
    futures_util::future::join_all(probes).await
}
