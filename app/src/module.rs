//! The interface every domain implements, and what the platform hands a domain to build itself.
//!
//! A domain crate exposes one [`Domain`] descriptor (a `const`): its name, its migrations, its
//! OpenAPI document and a constructor. The constructor gets a [`Platform`] (config, tokens, Redis,
//! the queue, metrics) and returns a [`Module`]: routes, its [`Database`], job subscriptions and
//! background tasks. `shell` mounts any subset of modules into one actix `App`.
//!
//! A domain names its database once ([`Platform::database`]) and hands the handle back through
//! [`Module::database`]; the server derives the rest from it: the `/ready` check, the pool gauge
//! in `/metrics` and the outbox relay. The module's name is its [`Domain::name`].

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use diesel_async::RunQueryDsl;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Env};
use crate::db::{DbPool, MigrationSet, PoolSettings, build_pool};
use crate::outbox::{OutboxRelay, RelaySettings};
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

/// A mounted domain: what it adds to the HTTP app and to the process. Its name is the
/// [`Domain::name`] it was built from.
pub trait Module: Send + Sync + 'static {
    /// Adds the module's routes.
    fn configure(&self, cfg: &mut web::ServiceConfig);

    /// The domain's database, if it has one. The server derives from it the `/ready` check
    /// (`database:<domain>`), the pool gauge in `/metrics` and, unless the handle says the
    /// domain emits no events, the outbox relay.
    fn database(&self) -> Option<&Database> {
        None
    }

    /// Checks `/ready` runs for this module besides its database (its other dependencies).
    fn ready_checks(&self) -> Vec<ReadyCheck> {
        Vec::new()
    }

    /// The events and jobs this module consumes, each through its own consumer group.
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
    }

    /// Long-running tasks of its own (the outbox relay is not one: the server runs it) that
    /// stop when `shutdown` is cancelled.
    fn background(&self, shutdown: CancellationToken) -> Vec<BoxFuture<()>> {
        let _ = shutdown;
        Vec::new()
    }
}

/// Every check `/ready` runs for `module`: its database's, then its own.
pub fn ready_checks(module: &dyn Module) -> Vec<ReadyCheck> {
    let mut checks: Vec<ReadyCheck> = module
        .database()
        .map(Database::ready_check)
        .into_iter()
        .collect();
    checks.extend(module.ready_checks());
    checks
}

/// One domain's database: its name, URL and pool, and what its outbox relay needs. Made by
/// [`Platform::database`]; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Database {
    domain: &'static str,
    url: String,
    pool: DbPool,
    queue: Queue,
    relay: Option<RelaySettings>,
}

impl std::fmt::Debug for Database {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("domain", &self.domain)
            .field("url", &crate::config::redact_url(&self.url))
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// The domain that owns it (`task`).
    pub fn domain(&self) -> &'static str {
        self.domain
    }

    /// The connection pool, for the domain's use cases.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Relays the outbox with `settings` instead of the defaults (to redact a secret, say).
    pub fn with_relay(mut self, settings: RelaySettings) -> Self {
        self.relay = Some(settings);
        self
    }

    /// Runs no outbox relay: for a domain that writes no events, so no process holds a
    /// listening connection to its database for nothing.
    pub fn without_relay(mut self) -> Self {
        self.relay = None;
        self
    }

    /// The `/ready` check: the pool hands out a connection that answers `SELECT 1`.
    pub fn ready_check(&self) -> ReadyCheck {
        ReadyCheck::database(self.domain, self.pool.clone())
    }

    /// The relay that moves this database's outbox to the queue, unless the domain writes no
    /// events.
    pub fn relay(&self) -> Option<OutboxRelay> {
        let settings = self.relay.clone()?;
        Some(OutboxRelay::new(
            self.pool.clone(),
            self.url.clone(),
            self.queue.clone(),
            settings,
        ))
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
    /// The database of `domain`: its URL from the environment (`<DOMAIN>_DATABASE_URL`), a pool
    /// with the platform's pool settings, and an outbox relay with the default settings (see
    /// [`Database::with_relay`] and [`Database::without_relay`]). Fails naming the variable
    /// when it is missing.
    pub fn database(&self, domain: &'static str) -> Result<Database, ConfigError> {
        let url = self.env.database_url(domain, self.single_domain)?;
        Ok(Database {
            domain,
            pool: build_pool(&url, &self.pool_settings),
            url,
            queue: self.queue.clone(),
            relay: Some(RelaySettings::default()),
        })
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
