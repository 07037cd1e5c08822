//! Every domain's migrations apply on an empty database, `down.sql` undoes `up.sql` exactly, and
//! they apply again after a revert (what `diesel migration redo --all` checks, per domain).

use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;
use tessera_app::db::{MigrationSet, platform_migrations};
use tessera_app::testkit::TestDatabase;

type Wrapper = AsyncConnectionWrapper<AsyncPgConnection>;

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// A textual picture of the schema: tables and columns with types, nullability and defaults,
/// indexes, constraints, functions, triggers and extensions (diesel's own bookkeeping excluded).
fn snapshot(conn: &mut Wrapper) -> Vec<String> {
    use diesel::RunQueryDsl;
    let sql = r#"
        SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable
               || ' default=' || coalesce(column_default, '-') || ' generated=' || coalesce(generation_expression, '-') AS line
          FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'index ' || indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '__diesel_schema_migrations'
        UNION ALL
        SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
    "#;
    let mut lines: Vec<String> = diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    lines.sort();
    lines
}

async fn check_reversible(domain: &'static str, own: MigrationSet) {
    let db = TestDatabase::migrated(&format!("rev_{domain}"), &[])
        .await
        .unwrap();
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = Wrapper::establish(&url).unwrap();
        let empty = snapshot(&mut conn);
        conn.run_pending_migrations(platform_migrations()).unwrap();
        conn.run_pending_migrations(own()).unwrap();
        let migrated = snapshot(&mut conn);
        assert_ne!(empty, migrated, "{domain}: the migrations changed nothing");

        // Both sets share diesel's bookkeeping table, so revert by count, newest first: the
        // domain's migrations (versioned after the platform's), then the platform's.
        for set in [own, platform_migrations] {
            let count = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&set())
                .unwrap()
                .len();
            for _ in 0..count {
                conn.revert_last_migration(set()).unwrap();
            }
        }
        let reverted = snapshot(&mut conn);
        assert_eq!(empty, reverted, "{domain}: down.sql does not undo up.sql");

        conn.run_pending_migrations(platform_migrations()).unwrap();
        conn.run_pending_migrations(own()).unwrap();
        assert_eq!(
            migrated,
            snapshot(&mut conn),
            "{domain}: migrations do not re-apply to the same schema"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn every_domain_migration_reverts_and_reapplies_cleanly() {
    for domain in shell::compiled_domains() {
        if let Some(own) = domain.migrations {
            check_reversible(domain.name, own).await;
        }
    }
}
