//! Database pools (bb8 over diesel-async) and the embedded-migration runner.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
pub use diesel_async::pooled_connection::bb8::RunError;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations every domain database carries besides its own: the outbox and the inbox of
/// processed jobs. They live in one place so all domains share one definition.
pub const PLATFORM_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/platform");

/// A pool of async Postgres connections for one domain database.
pub type DbPool = Pool<AsyncPgConnection>;

/// A connection checked out of a [`DbPool`].
pub type DbConn<'a> = PooledConnection<'a, AsyncPgConnection>;

/// Settings for one pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The most connections the pool opens.
    pub max_size: u32,
    /// How long a caller waits for a free connection before the request answers 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Why a database operation failed, in the terms the web layer needs.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time (pool exhausted or database down): a 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint was violated; carries the constraint name when Postgres gave one.
    #[error("unique violation on {0:?}")]
    UniqueViolation(Option<String>),
    /// No row matched.
    #[error("not found")]
    NotFound,
    /// Anything else: a bug or an unexpected database state, a 500.
    #[error(transparent)]
    Other(DieselError),
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::UniqueViolation(info.constraint_name().map(str::to_owned))
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_owned())
            }
            other => DbError::Other(other),
        }
    }
}

impl From<RunError> for DbError {
    fn from(err: RunError) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// Builds a pool for `url`. Connections are opened lazily, so a database that is down at start
/// makes the service not ready rather than failing the process.
pub fn build_pool(url: &str, settings: &PoolSettings) -> DbPool {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder()
        .max_size(settings.max_size)
        .min_idle(Some(0))
        .connection_timeout(settings.acquire_timeout)
        .build_unchecked(manager)
}

/// Migration sets are passed as functions because `EmbeddedMigrations` is neither `Clone` nor
/// `Copy`; each call of a function returning the `const` yields a fresh value.
pub type MigrationSet = fn() -> EmbeddedMigrations;

/// The platform's migration set as a [`MigrationSet`].
pub fn platform_migrations() -> EmbeddedMigrations {
    PLATFORM_MIGRATIONS
}

/// Applies the pending migrations of every set in `sets`, in order, to the database at `url`.
///
/// diesel's migration harness is synchronous, and diesel-async's wrapper blocks on the runtime,
/// which panics on a current-thread runtime; running it on the blocking pool avoids both.
pub async fn run_migrations(url: &str, sets: &[MigrationSet]) -> anyhow::Result<usize> {
    use diesel::Connection;
    let url = url.to_owned();
    let sets = sets.to_vec();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let mut applied = 0;
        for set in sets {
            applied += conn
                .run_pending_migrations(set())
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                .len();
        }
        Ok(applied)
    })
    .await?
}
