//! The transactional outbox and its relay.

use std::time::Duration;

use anyhow::Context as _;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use fred::prelude::{Builder, Config};
use serde_json::json;
use tessera_app::outbox::{OutboxRelay, RelaySettings, enqueue};
use tessera_app::platform_schema::outbox;
use tessera_app::queue::Queue;
use tessera_app::redis::RedisSettings;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{TestDb, TestRedis, eventually, fast_settings};

#[derive(Queryable, Debug)]
struct Row {
    id: Uuid,
    attempts: i32,
    sent_at: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<String>,
}

async fn rows(db: &TestDb) -> anyhow::Result<Vec<Row>> {
    let mut conn = db.conn().await?;
    Ok(outbox::table
        .select((
            outbox::id,
            outbox::attempts,
            outbox::sent_at,
            outbox::last_error,
        ))
        .order(outbox::created_at)
        .load(&mut conn)
        .await?)
}

fn relay(db: &TestDb, queue: Queue, settings: RelaySettings) -> OutboxRelay {
    OutboxRelay::new(db.pool.clone(), db.url.clone(), queue, settings)
}

/// Two events written in one committed transaction, with a state change beside them.
async fn commit_two_events(db: &TestDb) -> anyhow::Result<(Uuid, Uuid)> {
    let mut conn = db.conn().await?;
    let ids = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            diesel::sql_query("CREATE TABLE users (id int)")
                .execute(conn)
                .await?;
            let a = enqueue(
                conn,
                "user.registered",
                &json!({"userId": "u-1"}),
                Some("req-1"),
            )
            .await?;
            let b = enqueue(conn, "task.created", &json!({"taskId": 9}), None).await?;
            Ok((a, b))
        })
        .await?;
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_reach_their_streams_and_are_marked_sent() -> anyhow::Result<()> {
    let (db, redis) = (TestDb::new().await?, TestRedis::new().await?);
    let queue = redis.queue(fast_settings());
    let (registered, created) = commit_two_events(&db).await?;
    let relay = relay(&db, queue.clone(), RelaySettings::default());

    assert_eq!(relay.relay_once().await?, 2);

    let users = redis.jobs_in(&queue.stream_key("user.registered")).await?;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].id, registered, "the outbox id is the job id");
    assert_eq!(users[0].name, "user.registered");
    assert_eq!(users[0].data, json!({"userId": "u-1"}));
    assert_eq!(
        (users[0].attempt, users[0].request_id.as_deref()),
        (1, Some("req-1"))
    );
    let tasks = redis.jobs_in(&queue.stream_key("task.created")).await?;
    assert_eq!(
        tasks.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![created]
    );
    for row in rows(&db).await? {
        assert!(row.sent_at.is_some(), "{row:?} not marked sent");
        assert_eq!((row.attempts, row.last_error), (1, None));
    }
    assert_eq!(relay.relay_once().await?, 0, "sent rows are not sent again");
    assert_eq!(
        redis
            .jobs_in(&queue.stream_key("user.registered"))
            .await?
            .len(),
        1
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_publishes_nothing() -> anyhow::Result<()> {
    let (db, redis) = (TestDb::new().await?, TestRedis::new().await?);
    let queue = redis.queue(fast_settings());
    let mut conn = db.conn().await?;
    let outcome = conn
        .transaction::<(), anyhow::Error, _>(async |conn| {
            enqueue(conn, "user.registered", &json!({"userId": "u-1"}), None).await?;
            anyhow::bail!("the state change failed after the event was written")
        })
        .await;
    assert!(outcome.is_err());

    assert_eq!(
        relay(&db, queue.clone(), RelaySettings::default())
            .relay_once()
            .await?,
        0
    );
    assert!(rows(&db).await?.is_empty());
    assert!(
        redis
            .jobs_in(&queue.stream_key("user.registered"))
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_outbox_while_redis_is_down_and_go_out_once_when_it_is_back()
-> anyhow::Result<()> {
    let (db, redis) = (TestDb::new().await?, TestRedis::new().await?);
    let (registered, created) = commit_two_events(&db).await?;

    // Nothing listens on port 1: every publish fails fast.
    let down_settings = RedisSettings {
        url: "redis://127.0.0.1:1".to_owned(),
        prefix: redis.settings.prefix.clone(),
    };
    let down_client = Builder::from_config(Config::from_url(&down_settings.url)?)
        .with_connection_config(|c| c.connection_timeout = Duration::from_millis(200))
        .with_performance_config(|p| p.default_command_timeout = Duration::from_millis(500))
        .build()?;
    let _connection = fred::prelude::ClientLike::connect(&down_client);
    let down_queue = Queue::new(down_client, down_settings, fast_settings(), None);

    let failed = relay(&db, down_queue, RelaySettings::default())
        .relay_once()
        .await;
    assert!(failed.is_err(), "publishing to a closed port succeeded");
    for row in rows(&db).await? {
        assert!(row.sent_at.is_none());
        assert_eq!(row.attempts, 1);
        assert!(row.last_error.is_some(), "{row:?} has no last_error");
    }

    let queue = redis.queue(fast_settings());
    assert_eq!(
        relay(&db, queue.clone(), RelaySettings::default())
            .relay_once()
            .await?,
        2
    );
    let users = redis.jobs_in(&queue.stream_key("user.registered")).await?;
    let tasks = redis.jobs_in(&queue.stream_key("task.created")).await?;
    assert_eq!(
        users.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![registered]
    );
    assert_eq!(
        tasks.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![created]
    );
    for row in rows(&db).await? {
        assert!(row.sent_at.is_some());
        assert_eq!((row.attempts, row.last_error), (2, None));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_wakes_on_notify_without_waiting_for_the_poll_interval() -> anyhow::Result<()> {
    let (db, redis) = (TestDb::new().await?, TestRedis::new().await?);
    let queue = redis.queue(fast_settings());
    let settings = RelaySettings {
        poll_interval: Duration::from_secs(60),
        ..RelaySettings::default()
    };
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(relay(&db, queue.clone(), settings).run(shutdown.clone()));

    // Wait until the relay's LISTEN session is up, so the insert below can only be noticed
    // through its notification (or the 60 s poll, which the deadline rules out).
    eventually("the relay to LISTEN", Duration::from_secs(10), || {
        let (name, pool) = (db.name.clone(), db.pool.clone());
        async move {
            let mut conn = pool.get().await?;
            let listening: i64 = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
            )
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result::<Count>(&mut *conn)
            .await?
            .n;
            Ok(listening == 1)
        }
    })
    .await?;

    for round in 0..2 {
        let mut conn = db.conn().await?;
        let id = enqueue(&mut conn, "task.created", &json!({"round": round}), None).await?;
        eventually(
            "the event to be relayed",
            Duration::from_secs(5),
            || async {
                Ok(redis
                    .jobs_in(&queue.stream_key("task.created"))
                    .await?
                    .iter()
                    .any(|j| j.id == id))
            },
        )
        .await
        .with_context(|| format!("round {round}"))?;
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .context("relay did not stop")??;
    assert_eq!(
        redis
            .jobs_in(&queue.stream_key("task.created"))
            .await?
            .len(),
        2
    );
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_only_sent_rows_past_retention() -> anyhow::Result<()> {
    let (db, redis) = (TestDb::new().await?, TestRedis::new().await?);
    let mut conn = db.conn().await?;
    let old = enqueue(&mut conn, "task.created", &json!({}), None).await?;
    let recent = enqueue(&mut conn, "task.created", &json!({}), None).await?;
    let unsent = enqueue(&mut conn, "task.created", &json!({}), None).await?;
    diesel::sql_query("UPDATE outbox SET sent_at = now() - interval '8 days' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(old)
        .execute(&mut conn)
        .await?;
    diesel::sql_query("UPDATE outbox SET sent_at = now() WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(recent)
        .execute(&mut conn)
        .await?;

    let relay = relay(&db, redis.queue(fast_settings()), RelaySettings::default());
    assert_eq!(relay.cleanup().await?, 1);
    let left: Vec<Uuid> = rows(&db).await?.into_iter().map(|r| r.id).collect();
    assert_eq!(left, vec![recent, unsent]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_refuses_a_topic_the_queue_could_never_publish() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let mut conn = db.conn().await?;
    assert!(
        enqueue(&mut conn, "no spaces:allowed", &json!({}), None)
            .await
            .is_err()
    );
    assert!(rows(&db).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_of_settings_holding_urls_shows_no_password() -> anyhow::Result<()> {
    let (db, redis) = (TestDb::new().await?, TestRedis::new().await?);
    let queue = redis.queue(fast_settings());
    let relay = OutboxRelay::new(
        db.pool.clone(),
        "postgres://app:pg-s3cr3t@db.internal:5432/tessera_auth".to_owned(),
        queue,
        RelaySettings::default(),
    );
    let printed = format!("{relay:?}");
    assert!(!printed.contains("pg-s3cr3t"), "{printed}");
    assert!(
        printed.contains("postgres://app:***@db.internal:5432/tessera_auth"),
        "{printed}"
    );
    let settings = RedisSettings {
        url: "redis://default:redis-s3cr3t@cache:6379/2".to_owned(),
        prefix: "tessera".to_owned(),
    };
    let printed = format!("{settings:?}");
    assert!(!printed.contains("redis-s3cr3t"), "{printed}");
    Ok(())
}
