use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::*;

#[tokio::test]
async fn patch_changes_only_the_fields_given_and_bumps_updated_at() {
    let app = app().await;
    let ada = user(&app);
    let task = create(
        &app,
        &ada,
        json!({"title": "draft", "description": "notes", "priority": "LOW", "dueDate": "2026-12-01T00:00:00Z"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    let updated = update(
        &app,
        &ada,
        &task["id"],
        json!({"title": "  final  ", "priority": "HIGH"}),
    )
    .await;
    assert_eq!(updated["title"], "final");
    assert_eq!(updated["priority"], "HIGH");
    for same in [
        "id",
        "userId",
        "description",
        "status",
        "dueDate",
        "createdAt",
        "completedAt",
    ] {
        assert_eq!(updated[same], task[same], "{same}");
    }
    assert!(
        updated["updatedAt"].as_str().unwrap() > task["updatedAt"].as_str().unwrap(),
        "{} -> {}",
        task["updatedAt"],
        updated["updatedAt"]
    );

    let updated = update(
        &app,
        &ada,
        &task["id"],
        json!({"dueDate": "2027-01-02T03:04:05.678+02:00", "description": "more notes"}),
    )
    .await;
    assert_eq!(updated["dueDate"], "2027-01-02T01:04:05.678Z");
    assert_eq!(updated["description"], "more notes");

    assert_eq!(stored(&app, &ada, &task["id"]).await, updated);
    app.shutdown().await;
}

#[tokio::test]
async fn a_patch_of_every_field_writes_each_to_its_own_column() {
    // Every field at once, with each kind of completion (none, completing, reopening): the
    // statement binds them by position, so a value bound to the wrong column would show here.
    let app = app().await;
    let ada = user(&app);
    let task = create_titled(&app, &ada, "t").await;
    for (n, (status, priority, completed)) in [
        ("IN_PROGRESS", "LOW", false),
        ("COMPLETED", "URGENT", true),
        ("PENDING", "MEDIUM", false),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({
            "title": format!("title {n}"),
            "description": format!("description {n}"),
            "status": status,
            "priority": priority,
            "dueDate": format!("2027-0{}-02T03:04:05.000Z", n + 1),
        });
        let updated = update(&app, &ada, &task["id"], body.clone()).await;
        for field in ["title", "description", "status", "priority", "dueDate"] {
            assert_eq!(updated[field], body[field], "{field}: {updated}");
        }
        assert_eq!(updated["completedAt"].is_string(), completed, "{updated}");
        assert_eq!(stored(&app, &ada, &task["id"]).await, updated);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn null_clears_description_and_due_date() {
    let app = app().await;
    let ada = user(&app);
    let task = create(
        &app,
        &ada,
        json!({"title": "t", "description": "d", "dueDate": "2026-12-01T00:00:00Z"}),
    )
    .await;
    let updated = update(&app, &ada, &task["id"], json!({"description": null})).await;
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["dueDate"], "2026-12-01T00:00:00.000Z", "untouched");
    let updated = update(&app, &ada, &task["id"], json!({"dueDate": null})).await;
    assert_eq!(updated["dueDate"], Value::Null);
    assert_eq!(updated["title"], "t");
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_patches_are_400s_naming_the_field_and_change_nothing() {
    let app = app().await;
    let ada = user(&app);
    let task = create(&app, &ada, json!({"title": "t", "description": "d"})).await;
    let path = task_path(&task["id"]);
    for (body, fields) in [
        (json!({"title": null}), vec!["title"]),
        (json!({"status": null}), vec!["status"]),
        (json!({"priority": null}), vec!["priority"]),
        (json!({"title": " "}), vec!["title"]),
        (json!({"title": "x".repeat(201)}), vec!["title"]),
        (
            json!({"description": "d".repeat(5001)}),
            vec!["description"],
        ),
        (json!({"status": "DONE"}), vec!["status"]),
        (json!({"priority": "x"}), vec!["priority"]),
        (json!({"dueDate": "next week"}), vec!["dueDate"]),
        (json!({"userId": uuid::Uuid::new_v4()}), vec!["userId"]),
        (
            json!({"title": null, "status": "DONE", "dueDate": "x", "description": null}),
            vec!["title", "status", "dueDate"],
        ),
    ] {
        let res = send(patch(&app, &ada, &path).json(&body)).await;
        let problem = problem(res, 400).await;
        assert_eq!(named_fields(&problem), fields, "{body} -> {problem}");
    }
    let res = send(patch(&app, &ada, &path).json(&json!({}))).await;
    let empty = problem(res, 400).await;
    assert!(
        empty["detail"]
            .as_str()
            .unwrap()
            .contains("at least one field"),
        "{empty}"
    );

    let stored: Value = send(get(&app, &ada, &path)).await.json().await.unwrap();
    assert_eq!(stored, task, "unchanged");
    app.shutdown().await;
}

#[tokio::test]
async fn completed_at_is_set_on_completion_kept_while_completed_and_cleared_on_reopening() {
    let app = app().await;
    let ada = user(&app);
    let task = create_titled(&app, &ada, "t").await;
    let id = &task["id"];

    let started = update(&app, &ada, id, json!({"status": "IN_PROGRESS"})).await;
    assert_eq!(started["completedAt"], Value::Null);

    let done = update(&app, &ada, id, json!({"status": "COMPLETED"})).await;
    assert_eq!(done["status"], "COMPLETED");
    assert!(done["completedAt"].is_string(), "{done}");
    assert_eq!(done["completedAt"], done["updatedAt"]);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = update(
        &app,
        &ada,
        id,
        json!({"status": "COMPLETED", "title": "t2"}),
    )
    .await;
    assert_eq!(again["completedAt"], done["completedAt"], "kept");

    let renamed = update(&app, &ada, id, json!({"title": "t3"})).await;
    assert_eq!(renamed["completedAt"], done["completedAt"], "kept");

    let reopened = update(&app, &ada, id, json!({"status": "PENDING"})).await;
    assert_eq!(reopened["completedAt"], Value::Null);

    let cancelled_done = update(&app, &ada, id, json!({"status": "COMPLETED"})).await;
    assert!(
        cancelled_done["completedAt"].as_str().unwrap() > done["completedAt"].as_str().unwrap()
    );
    let cancelled = update(&app, &ada, id, json!({"status": "CANCELLED"})).await;
    assert_eq!(cancelled["completedAt"], Value::Null);
    app.shutdown().await;
}

/// A PATCH that cannot complete the task is one `UPDATE` with no transaction around it (four
/// round trips were a quarter of the throughput); a completing one still locks, updates and
/// announces in one transaction. Seen from the service's only connection.
#[tokio::test]
async fn a_patch_that_completes_nothing_is_one_statement_and_a_completion_one_transaction() {
    use diesel_async::RunQueryDsl;
    use tessera_app::db::{PoolSettings, build_pool};
    use tessera_app::testkit::{backend_pid, last_statement};
    use tessera_contracts::UserId;
    use tessera_task::service::{TaskSettings, Tasks};
    use tessera_task::wire::{TaskId, UpdateTaskRequest};

    let app = app().await;
    let ada = user(&app);
    let task = create(&app, &ada, json!({"title": "t"})).await;
    let id = TaskId(task["id"].as_str().unwrap().parse().unwrap());
    let pool = build_pool(
        &app.database_url("task"),
        &PoolSettings {
            max_size: 1,
            ..PoolSettings::default()
        },
    );
    let pid = backend_pid(&mut pool.get().await.unwrap()).await.unwrap();
    let tasks = Tasks {
        pool,
        settings: TaskSettings {
            idempotency_ttl: Duration::from_secs(60),
        },
    };
    let change = |body: Value| serde_json::from_value::<UpdateTaskRequest>(body).unwrap();

    for body in [
        json!({"priority": "HIGH"}),
        json!({"status": "IN_PROGRESS", "description": null}),
    ] {
        let updated = tasks
            .update(UserId(ada.id), id, change(body.clone()), "req-1")
            .await
            .unwrap();
        assert_eq!(updated.id, id);
        let last = last_statement(pid).await.unwrap();
        assert!(last.starts_with("UPDATE \"tasks\""), "{body}: {last}");
    }
    // Both shapes stay prepared on the connection (diesel alone prepares every UPDATE anew: a
    // Parse round trip before each run, a Close after it).
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let Count { n } = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'UPDATE \"tasks\"%'",
    )
    .get_result(&mut *tasks.pool.get().await.unwrap())
    .await
    .unwrap();
    assert_eq!(n, 2, "prepared UPDATE statements");
    let completed = tasks
        .update(
            UserId(ada.id),
            id,
            change(json!({"status": "COMPLETED"})),
            "req-2",
        )
        .await
        .unwrap();
    assert!(completed.completed_at.is_some());
    assert_eq!(last_statement(pid).await.unwrap(), "COMMIT");
    assert_eq!(outbox(&app, "task.completed").await.len(), 1);
    app.shutdown().await;
}
