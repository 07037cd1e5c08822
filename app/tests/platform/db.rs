//! A database connection that dies under a statement: the error says "unavailable" (a 503 and
//! a deferred job), never "something else" (a 500). Real Postgres, real `pg_terminate_backend`.

use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tessera_app::db::{DbError, PoolState};

use tessera_app::testkit::{backend_pid, last_statement};

use crate::support::{TestDb, eventually};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    terminated: bool,
}

/// Ends the session `pid` from another connection, as an administrator (or a failover) would.
async fn terminate(pid: i32) -> anyhow::Result<()> {
    let mut admin = AsyncPgConnection::establish(ADMIN_URL).await?;
    let row: Terminated = diesel::sql_query("SELECT pg_terminate_backend($1) AS terminated")
        .bind::<Integer, _>(pid)
        .get_result(&mut admin)
        .await?;
    anyhow::ensure!(row.terminated, "backend {pid} was not terminated");
    Ok(())
}

/// Whether backend `pid` is running `pg_sleep` right now (so killing it kills a statement).
async fn sleeping(pid: i32) -> anyhow::Result<bool> {
    let mut admin = AsyncPgConnection::establish(ADMIN_URL).await?;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let row: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE pid = $1 AND state = 'active' AND query LIKE $2",
    )
    .bind::<Integer, _>(pid)
    .bind::<Text, _>("SELECT pg_sleep%")
    .get_result(&mut admin)
    .await?;
    Ok(row.n == 1)
}

/// Ends session `pid` as soon as it is seen running `pg_sleep`, so the kill lands mid-statement.
async fn kill_when_sleeping(pid: i32) -> anyhow::Result<()> {
    eventually("the statement to start", Duration::from_secs(10), || {
        sleeping(pid)
    })
    .await?;
    terminate(pid).await
}

#[tokio::test]
async fn a_connection_killed_under_a_statement_is_unavailable_and_so_is_the_next_statement()
-> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let pool = db.pool.clone();
    let mut conn = pool.get().await?;
    let pid = backend_pid(&mut conn).await?;

    // The statement runs for up to 30 s; the kill lands as soon as it is seen running.
    let statement = diesel::sql_query("SELECT pg_sleep(30)").execute(&mut *conn);
    let (result, killed) = tokio::join!(statement, kill_when_sleeping(pid));
    killed?;
    let Err(err) = result else {
        anyhow::bail!("the statement outlived its session");
    };
    let err = DbError::from(err);
    assert!(
        matches!(err, DbError::Unavailable(_)),
        "a killed statement must be unavailable, got {err:?}"
    );

    // The same connection, now closed: still unavailable, and the pool hands out a new one.
    let next = diesel::sql_query("SELECT 1").execute(&mut *conn).await;
    let Err(err) = next else {
        anyhow::bail!("a statement on a closed connection succeeded");
    };
    let err = DbError::from(err);
    assert!(matches!(err, DbError::Unavailable(_)), "got {err:?}");
    drop(conn);
    let mut fresh = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut *fresh).await?;
    Ok(())
}

#[tokio::test]
async fn a_transaction_whose_connection_is_killed_is_unavailable() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let pool = db.pool.clone();
    let mut conn = pool.get().await?;
    let pid = backend_pid(&mut conn).await?;
    let conn: &mut AsyncPgConnection = &mut conn;
    let tx = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::sql_query("SELECT 1").execute(conn).await?;
        diesel::sql_query("SELECT pg_sleep(30)")
            .execute(conn)
            .await?;
        Ok(())
    });
    let (result, killed) = tokio::join!(tx, kill_when_sleeping(pid));
    killed?;
    let Err(err) = result else {
        anyhow::bail!("the transaction outlived its session");
    };
    let err = DbError::from(err);
    assert!(matches!(err, DbError::Unavailable(_)), "got {err:?}");
    Ok(())
}

/// A pool of one connection to `db`, and that connection's backend pid.
async fn one_connection_pool(db: &TestDb) -> anyhow::Result<(tessera_app::db::DbPool, i32)> {
    let pool = tessera_app::db::build_pool(
        &db.url,
        &tessera_app::db::PoolSettings {
            max_size: 1,
            ..Default::default()
        },
    );
    let pid = backend_pid(&mut *pool.get().await?).await?;
    Ok((pool, pid))
}

#[tokio::test]
async fn a_checkout_sends_nothing_to_the_server() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let (pool, pid) = one_connection_pool(&db).await?;
    // The same (only) connection again: its check must not cost a round trip (diesel-async's
    // default sends `SELECT $1` here, one statement in three of a `GET /tasks`).
    let again = pool.get().await?;
    assert_eq!(last_statement(pid).await?, "SELECT pg_backend_pid() AS pid");
    drop(again);
    Ok(())
}

#[tokio::test]
async fn an_idle_connection_the_server_ended_is_replaced_on_checkout() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let (pool, pid) = one_connection_pool(&db).await?;
    terminate(pid).await?;
    // The check is local: it sees the close once the connection's driver has read it, so a
    // checkout right after the kill may still get the dead connection (its statement then
    // fails as unavailable, and it is dropped on return). Soon every checkout is a new session.
    eventually(
        "a checkout to give a new session",
        Duration::from_secs(10),
        || {
            let pool = pool.clone();
            async move {
                let mut conn = pool.get().await?;
                let fresh = backend_pid(&mut conn).await;
                Ok(fresh.is_ok_and(|p| p != pid))
            }
        },
    )
    .await?;
    Ok(())
}

/// An HTTP worker draws from a pool of its own, opened on its own runtime (so its connections'
/// I/O runs on its thread): with the shared pool's only connection checked out, the worker still
/// gets one, another session, and `state` counts both. When the worker's thread ends, its pool
/// goes with it.
#[tokio::test]
async fn an_http_worker_gets_connections_of_its_own_that_end_with_its_thread() -> anyhow::Result<()>
{
    let db = TestDb::new().await?;
    let (pool, shared_pid) = one_connection_pool(&db).await?;
    let held = pool.get().await?;
    let worker_pool = pool.clone();
    let worker = std::thread::spawn(move || -> anyhow::Result<i32> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            tessera_app::db::serve_from_this_thread();
            let mut conn = worker_pool.get().await?;
            let pid = backend_pid(&mut conn).await?;
            assert_eq!(
                worker_pool.state(),
                PoolState {
                    connections: 2,
                    idle: 0
                }
            );
            Ok(pid)
        })
    });
    let worker_pid = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the worker thread panicked"))??;
    assert_ne!(worker_pid, shared_pid);
    drop(held);
    assert_eq!(
        pool.state(),
        PoolState {
            connections: 1,
            idle: 1
        },
        "only the shared pool's connection is left"
    );
    Ok(())
}
