use serde_json::{Value, json};

use super::helpers::*;

#[tokio::test]
async fn the_owner_can_get_patch_and_delete_a_task() {
    let app = app().await;
    let ada = user(&app);
    let task = create_titled(&app, &ada, "mine").await;
    let path = task_path(&task["id"]);

    let res = send(get(&app, &ada, &path)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), task);

    let updated = update(&app, &ada, &task["id"], json!({"title": "still mine"})).await;
    assert_eq!(updated["title"], "still mine");

    let res = send(delete(&app, &ada, &path)).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    let res = send(get(&app, &ada, &path)).await;
    problem(res, 404).await;
    let res = send(delete(&app, &ada, &path)).await;
    problem(res, 404).await;
    assert_eq!(list(&app, &ada, "/tasks").await["meta"]["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn another_users_task_answers_exactly_like_a_missing_one_and_stays_unchanged() {
    let app = app().await;
    let ada = user(&app);
    let eve = user(&app);
    let task = create(
        &app,
        &ada,
        json!({"title": "private", "description": "secret"}),
    )
    .await;
    let theirs = task_path(&task["id"]);
    let missing = format!("/tasks/{}", uuid::Uuid::new_v4());

    for path in [&theirs, &missing] {
        let got = problem(send(get(&app, &eve, path)).await, 404).await;
        let patched = problem(
            send(
                patch(&app, &eve, path).json(&json!({"status": "COMPLETED", "title": "mine now"})),
            )
            .await,
            404,
        )
        .await;
        let deleted = problem(send(delete(&app, &eve, path)).await, 404).await;
        for body in [got, patched, deleted] {
            assert_eq!(body["type"], "urn:tessera:problem:not-found");
            assert_eq!(body["detail"], "no such task", "{body}");
        }
    }

    let res = send(get(&app, &ada, &theirs)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), task, "unchanged");
    assert!(outbox(&app, "task.completed").await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_id_is_a_400() {
    let app = app().await;
    let ada = user(&app);
    for path in [
        "/tasks/not-a-uuid",
        "/tasks/123",
        "/tasks/00000000-0000-0000-0000-00000000000g",
    ] {
        problem(send(get(&app, &ada, path)).await, 400).await;
        problem(
            send(patch(&app, &ada, path).json(&json!({"title": "x"}))).await,
            400,
        )
        .await;
        problem(send(delete(&app, &ada, path)).await, 400).await;
    }
    app.shutdown().await;
}
