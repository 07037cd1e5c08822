use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn each_create_writes_one_task_created_event_with_the_request_id() {
    let app = app().await;
    let ada = user(&app);
    let res = send(
        post(&app, &ada, "/tasks")
            .header("x-request-id", "create-1")
            .json(&json!({"title": "first"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let first: serde_json::Value = res.json().await.unwrap();
    let second = create_titled(&app, &ada, "second").await;

    let rows = outbox(&app, "task.created").await;
    assert_eq!(rows.len(), 2);
    let event = &rows[0];
    assert_eq!(event.request_id.as_deref(), Some("create-1"));
    assert_eq!(event.payload["taskId"], first["id"]);
    assert_eq!(event.payload["userId"], ada.id.to_string());
    assert_eq!(event.payload["title"], "first");
    assert_eq!(event.payload["firstTask"], true);
    assert_eq!(event.payload["createdAt"], first["createdAt"]);
    assert_eq!(rows[1].payload["taskId"], second["id"]);
    assert_eq!(rows[1].payload["firstTask"], false);
    assert!(rows[1].request_id.as_deref().is_some_and(|r| !r.is_empty()));
    app.shutdown().await;
}

#[tokio::test]
async fn first_task_is_true_once_per_user_even_after_deleting_it() {
    let app = app().await;
    let ada = user(&app);
    let bob = user(&app);
    let first = create_titled(&app, &ada, "one").await;
    let res = send(delete(&app, &ada, &task_path(&first["id"]))).await;
    assert_eq!(res.status(), 204);
    create_titled(&app, &ada, "two").await;
    create_titled(&app, &bob, "bob's first").await;

    let flags: Vec<(String, bool)> = outbox(&app, "task.created")
        .await
        .iter()
        .map(|r| {
            (
                r.payload["title"].as_str().unwrap().to_owned(),
                r.payload["firstTask"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("one".to_owned(), true),
            ("two".to_owned(), false),
            ("bob's first".to_owned(), true)
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_first_tasks_of_one_user_flag_exactly_one_as_first() {
    let app = app().await;
    let ada = user(&app);
    let titles: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let creates = titles.iter().map(|t| create_titled(&app, &ada, t));
    futures_util::future::join_all(creates).await;
    let rows = outbox(&app, "task.created").await;
    assert_eq!(rows.len(), 8);
    let firsts = rows
        .iter()
        .filter(|r| r.payload["firstTask"] == true)
        .count();
    assert_eq!(firsts, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn task_completed_is_written_once_per_transition_into_completed() {
    let app = app().await;
    let ada = user(&app);
    let task = create_titled(&app, &ada, "finish me").await;
    let path = task_path(&task["id"]);
    let complete = |rid: &'static str| {
        send(
            patch(&app, &ada, &path)
                .header("x-request-id", rid)
                .json(&json!({"status": "COMPLETED"})),
        )
    };

    let res = complete("complete-1").await;
    assert_eq!(res.status(), 200);
    let done: serde_json::Value = res.json().await.unwrap();
    let rows = outbox(&app, "task.completed").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_id.as_deref(), Some("complete-1"));
    assert_eq!(rows[0].payload["taskId"], task["id"]);
    assert_eq!(rows[0].payload["userId"], ada.id.to_string());
    assert_eq!(rows[0].payload["title"], "finish me");
    assert_eq!(rows[0].payload["completedAt"], done["completedAt"]);

    // Completing a completed task is no transition.
    assert_eq!(complete("complete-2").await.status(), 200);
    update(&app, &ada, &task["id"], json!({"title": "renamed"})).await;
    assert_eq!(outbox(&app, "task.completed").await.len(), 1);

    // Reopen and complete: a second transition.
    update(&app, &ada, &task["id"], json!({"status": "IN_PROGRESS"})).await;
    assert_eq!(complete("complete-3").await.status(), 200);
    let rows = outbox(&app, "task.completed").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].request_id.as_deref(), Some("complete-3"));
    assert_eq!(rows[1].payload["title"], "renamed");
    assert_eq!(outbox(&app, "task.created").await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_completions_of_one_task_write_one_event() {
    let app = app().await;
    let ada = user(&app);
    let task = create_titled(&app, &ada, "race").await;
    let path = task_path(&task["id"]);
    let completions =
        (0..6).map(|_| send(patch(&app, &ada, &path).json(&json!({"status": "COMPLETED"}))));
    for res in futures_util::future::join_all(completions).await {
        assert_eq!(res.status(), 200);
    }
    assert_eq!(outbox(&app, "task.completed").await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_relay_publishes_task_events_to_the_queue() {
    let app = app().await;
    let ada = user(&app);
    create_titled(&app, &ada, "published").await;
    tessera_app::testkit::eventually(
        std::time::Duration::from_secs(10),
        "the outbox row to be sent",
        || async {
            let unsent = count(
                &app,
                "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL",
            )
            .await;
            (unsent == 0).then_some(())
        },
    )
    .await
    .unwrap();
    app.shutdown().await;
}
