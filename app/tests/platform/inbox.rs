//! The inbox of processed jobs, and the platform migration itself.

use diesel::Connection as _;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;
use tessera_app::db::PLATFORM_MIGRATIONS;
use tessera_app::inbox::claim;
use uuid::Uuid;

use crate::support::TestDb;

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_claimed_once_per_consumer() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let mut conn = db.conn().await?;
    let job = Uuid::now_v7();

    assert!(claim(&mut conn, "notification.address_book", job).await?);
    assert!(
        !claim(&mut conn, "notification.address_book", job).await?,
        "a redelivery claims nothing"
    );
    assert!(
        claim(&mut conn, "user.profiles", job).await?,
        "another consumer has its own claim"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_migration_reverts_cleanly_and_reapplies() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        conn.revert_all_migrations(PLATFORM_MIGRATIONS).map_err(|e| anyhow::anyhow!("{e}"))?;
        let left: Vec<String> = diesel::RunQueryDsl::load::<Name>(
            diesel::sql_query(
                "SELECT c.relname::text AS name FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relname NOT LIKE '__diesel%' \
                 UNION ALL SELECT proname::text FROM pg_proc WHERE proname = 'tessera_outbox_notify'",
            ),
            &mut conn,
        )?
        .into_iter()
        .map(|n| n.name)
        .collect();
        anyhow::ensure!(left.is_empty(), "down.sql left {left:?}");
        conn.run_pending_migrations(PLATFORM_MIGRATIONS).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })
    .await??;
    Ok(())
}
