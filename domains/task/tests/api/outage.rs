//! The task database's connections killed under load (`pg_terminate_backend`, as a failover or
//! an administrator does): every answer is a success or a 503 with `Retry-After`, never a 500;
//! a create that answered 503 and is retried with its idempotency key exists exactly once; and
//! the service recovers without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::json;
use tessera_app::testkit::{admin_url, eventually};

use super::helpers::*;

/// Clients sending requests at once, and how many each sends.
const CLIENTS: usize = 6;
const REQUESTS_PER_CLIENT: usize = 60;
/// Rounds of killing every connection of the task database, one per batch of answers.
const KILL_ROUNDS: usize = 25;
const ANSWERS_PER_ROUND: usize = CLIENTS * REQUESTS_PER_CLIENT / (KILL_ROUNDS + 1);

/// Ends every session on `database` but the caller's; returns how many it ended.
async fn kill_sessions(database: &str) -> usize {
    #[derive(diesel::QueryableByName)]
    struct Killed {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut admin = AsyncPgConnection::establish(&admin_url())
        .await
        .expect("admin connection");
    let killed: Killed = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind::<diesel::sql_types::Text, _>(database)
    .get_result(&mut admin)
    .await
    .expect("terminate");
    usize::try_from(killed.n).unwrap_or(0)
}

#[tokio::test]
async fn killed_database_connections_answer_503_never_500_and_lose_or_double_nothing() {
    let app = app().await;
    let ada = user(&app);
    for i in 0..10 {
        create_titled(&app, &ada, &format!("seed {i}")).await;
    }
    let url = app.database_url("task");
    let database = url.rsplit('/').next().expect("database name").to_owned();
    let answers = Arc::new(AtomicUsize::new(0));

    // Each client reads the list and creates a task with a key of its own, in turn.
    let clients = (0..CLIENTS).map(|client| {
        let (app_client, base, token, answers) = (
            app.client.clone(),
            app.url(""),
            ada.token.clone(),
            answers.clone(),
        );
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for n in 0..REQUESTS_PER_CLIENT {
                let (res, key) = if n % 2 == 0 {
                    let res = app_client
                        .get(format!("{base}/tasks?limit=5"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    (res, None)
                } else {
                    let key = format!("outage-{client}-{n}");
                    let res = app_client
                        .post(format!("{base}/tasks"))
                        .bearer_auth(&token)
                        .header("idempotency-key", &key)
                        .json(&json!({ "title": key }))
                        .send()
                        .await;
                    (res, Some(key))
                };
                let res = res.expect("the server answers");
                let status = res.status();
                let retry_after = res.headers().contains_key("retry-after");
                let body = res.text().await.unwrap_or_default();
                answers.fetch_add(1, Ordering::SeqCst);
                seen.push((status, retry_after, body, key));
            }
            seen
        })
    });
    let clients: Vec<_> = clients.collect();

    let mut killed = 0;
    for round in 1..=KILL_ROUNDS {
        eventually(Duration::from_secs(60), "the next batch of answers", || {
            let answers = AtomicUsize::load(&answers, Ordering::SeqCst);
            async move { (answers >= round * ANSWERS_PER_ROUND).then_some(()) }
        })
        .await
        .expect("the clients keep getting answers");
        killed += kill_sessions(&database).await;
    }
    assert!(killed > 0, "no connection was ever killed");

    let mut keys = Vec::new();
    let mut unavailable = 0;
    for client in clients {
        for (status, retry_after, body, key) in client.await.expect("client task") {
            match status {
                StatusCode::OK | StatusCode::CREATED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    unavailable += 1;
                    assert!(retry_after, "a 503 without Retry-After: {body}");
                    assert!(body.contains("the database"), "{body}");
                }
                other => panic!("{other} while connections were killed: {body}"),
            }
            keys.extend(key);
        }
    }
    eprintln!(
        "killed {killed} sessions in {KILL_ROUNDS} rounds; {unavailable} of {} answers were 503",
        CLIENTS * REQUESTS_PER_CLIENT
    );

    // Recovery without a restart, and each create, retried with its key, exists once.
    eventually(Duration::from_secs(30), "/ready", || async {
        let res = app.client.get(app.url("/ready")).send().await.ok()?;
        (res.status() == StatusCode::OK).then_some(())
    })
    .await
    .expect("ready again");
    for key in &keys {
        let res = send(
            post(&app, &ada, "/tasks")
                .header("idempotency-key", key)
                .json(&json!({ "title": key })),
        )
        .await;
        assert!(
            matches!(res.status(), StatusCode::OK | StatusCode::CREATED),
            "retry of {key}: {}",
            res.status()
        );
    }
    let stored = count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM tasks WHERE user_id = '{}' AND title LIKE 'outage-%'",
            ada.id
        ),
    )
    .await;
    assert_eq!(stored, keys.len() as i64, "each keyed create exists once");
    app.shutdown().await;
}
