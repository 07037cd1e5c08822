//! Database pools (bb8 over diesel-async) and the embedded-migration runner.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
pub use diesel_async::pooled_connection::bb8::RunError;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::future::BoxFuture;

/// The migrations every domain database carries besides its own: the outbox and the inbox of
/// processed jobs. They live in one place so all domains share one definition.
pub const PLATFORM_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/platform");

/// A connection checked out of a [`DbPool`]; it goes back to its pool when dropped.
pub type DbConn = PooledConnection<'static, AsyncPgConnection>;

/// Settings for one database's pools.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The most connections requests use, split among the HTTP workers (`DB_POOL_SIZE`); work
    /// off the workers (relays, jobs, start-up) has a pool of this size of its own.
    pub max_size: u32,
    /// How many HTTP workers share `max_size` (`HTTP_WORKERS`): each worker's pool holds
    /// `max_size / workers`, rounded up.
    pub workers: u32,
    /// How long a caller waits for a free connection before the request answers 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 10,
            workers: 1,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

impl PoolSettings {
    /// The size of one HTTP worker's pool.
    fn per_worker(&self) -> u32 {
        self.max_size.div_ceil(self.workers.max(1)).max(1)
    }
}

/// The async Postgres connections of one domain database.
///
/// An HTTP worker (a thread that called [`serve_from_this_thread`]) gets connections from a
/// pool of its own, opened on its own runtime: a connection's I/O is driven by a task on the
/// runtime that opened it, so a shared pool would hand a worker connections driven by another
/// thread, and every statement would cost two wake-ups across threads (a third of the
/// process's CPU on `GET /tasks/{id}`, ARCHITECTURE.md "Performance"). Every other thread
/// (relays, job consumers, start-up) shares one pool. Cheap to clone.
#[derive(Clone)]
pub struct DbPool(Arc<Pools>);

struct Pools {
    /// Where new pools connect (it may carry a password: never printed).
    url: String,
    settings: PoolSettings,
    /// For threads that are not HTTP workers.
    shared: Pool<AsyncPgConnection>,
    /// Each HTTP worker's pool, by thread, for [`DbPool::state`]; a worker's exit removes it.
    workers: Mutex<Vec<(ThreadId, Pool<AsyncPgConnection>)>>,
}

/// The counts of a [`DbPool`], over all its pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Open connections.
    pub connections: u32,
    /// Open connections nobody has checked out.
    pub idle: u32,
}

impl DbPool {
    /// A free connection: this HTTP worker's own, or the shared pool's elsewhere. Waits up to
    /// the acquire timeout ([`RunError::TimedOut`]).
    pub async fn get(&self) -> Result<DbConn, RunError> {
        self.current().get_owned().await
    }

    /// Open and idle connections over every pool of this database.
    pub fn state(&self) -> PoolState {
        let mut total = PoolState {
            connections: 0,
            idle: 0,
        };
        let workers = lock(&self.0.workers);
        for pool in std::iter::once(&self.0.shared).chain(workers.iter().map(|(_, p)| p)) {
            let state = pool.state();
            total.connections += state.connections;
            total.idle += state.idle_connections;
        }
        total
    }

    /// The pool the current thread draws from, made on a worker's first use.
    fn current(&self) -> Pool<AsyncPgConnection> {
        WORKER.with(|worker| {
            let mut worker = worker.borrow_mut();
            let Some(worker) = worker.as_mut() else {
                return self.0.shared.clone();
            };
            if let Some((_, pool)) = worker.pools.iter().find(|(p, _)| Arc::ptr_eq(p, &self.0)) {
                return pool.clone();
            }
            let pool = self.0.new_pool(self.0.settings.per_worker());
            lock(&self.0.workers).push((worker.thread, pool.clone()));
            worker.pools.push((self.0.clone(), pool.clone()));
            pool
        })
    }
}

impl Pools {
    fn new_pool(&self, max_size: u32) -> Pool<AsyncPgConnection> {
        new_pool(&self.url, max_size, self.settings.acquire_timeout)
    }
}

impl std::fmt::Debug for DbPool {
    // Not the URL: it may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbPool")
            .field("settings", &self.0.settings)
            .field("state", &self.state())
            .finish()
    }
}

/// The pools an HTTP worker thread has made (one per database it used), dropped with it.
struct WorkerPools {
    thread: ThreadId,
    pools: Vec<(Arc<Pools>, Pool<AsyncPgConnection>)>,
}

impl Drop for WorkerPools {
    fn drop(&mut self) {
        for (pools, _) in &self.pools {
            lock(&pools.workers).retain(|(thread, _)| *thread != self.thread);
        }
    }
}

thread_local! {
    /// Set on HTTP worker threads by [`serve_from_this_thread`].
    static WORKER: RefCell<Option<WorkerPools>> = const { RefCell::new(None) };
}

/// Makes the current thread an HTTP worker: from now on every [`DbPool`] hands it connections
/// from a pool of its own, opened and driven on its runtime. Called once per worker thread, as
/// the worker builds its app.
pub fn serve_from_this_thread() {
    WORKER.with(|worker| {
        worker.borrow_mut().get_or_insert_with(|| WorkerPools {
            thread: std::thread::current().id(),
            pools: Vec::new(),
        });
    });
}

/// The lock, even if a holder panicked: the list stays valid under any panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            err if is_connection_failure(&err) => DbError::Unavailable(err.to_string()),
            other => DbError::Other(other),
        }
    }
}

/// How Postgres words the errors of SQLSTATE classes 57P (the server ends the session: an
/// administrator's `pg_terminate_backend`, a shutdown, a crash, the server starting up), 53
/// (out of connections or memory) and the session timeouts. diesel's
/// `DatabaseErrorInformation` carries no SQLSTATE (diesel 2.3; diesel-rs/diesel#5232 proposes
/// one), and diesel-async reports all of them as `DatabaseErrorKind::Unknown`, so the message
/// is all there is to tell them from a failed statement. These are the server's English texts
/// (`lc_messages` C or en, the default of the official images); a server in another language
/// still gets 503 for every failure below the SQL level (`UnableToSendCommand`), which is also
/// what the next statement on the same connection reports.
const CONNECTION_LOST: &[&str] = &[
    "terminating connection",
    "the database system is",
    "sorry, too many clients",
    "remaining connection slots are reserved",
    "too many connections for",
    "out of memory",
    "could not extend file",
];

/// Whether `err` says the connection or the server failed rather than the statement: the
/// socket closed or broke (`UnableToSendCommand`, `ClosedConnection`), the server ended the
/// session or refused it (classes 08, 53, 57P; see [`CONNECTION_LOST`]), a commit whose
/// connection died, or a connection whose transaction state was lost with it. A retry on
/// another connection can succeed, so callers answer 503 and jobs are deferred, not failed.
pub fn is_connection_failure(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        ) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            CONNECTION_LOST.iter().any(|m| message.starts_with(m))
        }
        DieselError::RollbackErrorOnCommit { commit_error, .. } => {
            is_connection_failure(commit_error)
        }
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

impl From<RunError> for DbError {
    fn from(err: RunError) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// Builds the pools for `url`. Connections are opened lazily, so a database that is down at
/// start makes the service not ready rather than failing the process.
///
/// A checked-out connection is checked without a round trip (see [`still_open`]): diesel-async's
/// default runs `SELECT 1` on every checkout, which was one round trip in three of a
/// `GET /tasks` and a quarter of the database work it caused.
pub fn build_pool(url: &str, settings: &PoolSettings) -> DbPool {
    DbPool(Arc::new(Pools {
        shared: new_pool(url, settings.max_size, settings.acquire_timeout),
        url: url.to_owned(),
        settings: settings.clone(),
        workers: Mutex::default(),
    }))
}

/// One lazily connecting pool of at most `max_size` connections.
fn new_pool(url: &str, max_size: u32, acquire_timeout: Duration) -> Pool<AsyncPgConnection> {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::CustomFunction(Box::new(still_open));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(acquire_timeout)
        .build_unchecked(manager)
}

/// The checkout check: refuses a connection whose socket closed (the server ended the session:
/// a restart, `pg_terminate_backend`, an idle timeout) or whose transaction state is broken.
/// Both are known locally: the connection's driver task ends as soon as the socket reports the
/// close. A connection that dies silently in the window before its next statement gives that
/// statement a connection error, which answers 503 and is dropped on return, as with a
/// `SELECT 1` check that loses the same race.
fn still_open(conn: &mut AsyncPgConnection) -> BoxFuture<'_, diesel::QueryResult<()>> {
    let result = if conn.is_broken() {
        Err(DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("the pooled connection was closed".to_owned()),
        ))
    } else {
        Ok(())
    };
    Box::pin(std::future::ready(result))
}

/// A statement prepared once per connection and reused, which diesel would otherwise prepare
/// anew on every run: it refuses to cache any `UPDATE`, any `INSERT` with an optional value
/// (`DEFAULT`), any upsert and any `sql_query`, because such SQL *can* vary without bound. Each
/// such run is a Parse and Describe round trip before the statement's own, and a Close after it.
///
/// Only for statements whose SQL takes a bounded number of shapes (one, or one per combination
/// of optional columns): each shape stays prepared on every connection that ran it. Cached by
/// its SQL text, so two shapes never share a statement.
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(pub Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    // Not by type: the SQL text is the cache key.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

/// The SQL diesel builds for `query`, its binds as `$1`, `$2`, ... in the order diesel binds
/// them. For a hot statement of one shape, run as a [`diesel::sql_query`] with the same binds
/// in that order, built once: diesel-async builds a statement's SQL on every run, even one it
/// has prepared (for a lookup by key, a sixth of a request's instructions).
pub fn sql_of<Q: QueryFragment<Pg>>(query: &Q) -> diesel::QueryResult<String> {
    use diesel::query_builder::QueryBuilder;
    let mut builder = diesel::pg::PgQueryBuilder::default();
    query.to_sql(&mut builder, &Pg)?;
    Ok(builder.finish())
}

/// The SQL of `query` ([`sql_of`]) as `cell` holds it, built into `cell` on first use: the
/// SQL of one statement shape, built once per process. `query` is only called when `cell` is
/// empty.
pub fn sql_once<Q: QueryFragment<Pg>>(
    cell: &std::sync::OnceLock<String>,
    query: impl FnOnce() -> Q,
) -> diesel::QueryResult<&str> {
    if let Some(sql) = cell.get() {
        return Ok(sql);
    }
    let built = sql_of(&query())?;
    Ok(cell.get_or_init(|| built))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn connection_level_failures_are_unavailable() {
        for err in [
            server_error(DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            server_error(DatabaseErrorKind::ClosedConnection, "closed"),
            server_error(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            server_error(
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
            server_error(
                DatabaseErrorKind::Unknown,
                "sorry, too many clients already",
            ),
            DieselError::RollbackErrorOnCommit {
                commit_error: Box::new(server_error(
                    DatabaseErrorKind::UnableToSendCommand,
                    "connection closed",
                )),
                rollback_error: Box::new(DieselError::BrokenTransactionManager),
            },
            DieselError::BrokenTransactionManager,
        ] {
            let shown = format!("{err:?}");
            assert!(
                matches!(DbError::from(err), DbError::Unavailable(_)),
                "{shown} should be unavailable"
            );
        }
    }

    #[test]
    fn statement_failures_stay_what_they_are() {
        assert!(matches!(
            DbError::from(server_error(DatabaseErrorKind::Unknown, "division by zero")),
            DbError::Other(_)
        ));
        assert!(matches!(
            DbError::from(server_error(
                DatabaseErrorKind::CheckViolation,
                "new row violates"
            )),
            DbError::Other(_)
        ));
        assert!(matches!(
            DbError::from(DieselError::NotFound),
            DbError::NotFound
        ));
    }
}
