use reqwest::Response;
use serde_json::{Value, json};

use super::helpers::*;

/// What a client sees of a create: status, `Location` and the raw body.
async fn seen(res: Response) -> (u16, Option<String>, String) {
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, res.text().await.unwrap())
}

async fn create_with_key(app: &TestApp, who: &User, key: &str, body: &Value) -> Response {
    send(
        post(app, who, "/tasks")
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

async fn tasks_of(app: &TestApp, who: &User) -> i64 {
    count(
        app,
        &format!(
            "SELECT count(*) AS n FROM tasks WHERE user_id = '{}'",
            who.id
        ),
    )
    .await
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_response_and_creates_nothing() {
    let app = app().await;
    let ada = user(&app);
    let body = json!({"title": "pay rent", "priority": "HIGH", "dueDate": "2026-12-01T00:00:00Z"});
    let first = seen(create_with_key(&app, &ada, "key-1", &body).await).await;
    assert_eq!(first.0, 201);
    assert!(first.1.is_some());

    // The task changes meanwhile; the retry still answers with the first response.
    let task: Value = serde_json::from_str(&first.2).unwrap();
    update(&app, &ada, &task["id"], json!({"title": "renamed"})).await;

    // Same body, formatted differently.
    let retry = send(
        post(&app, &ada, "/tasks")
            .header("idempotency-key", "key-1")
            .header("content-type", "application/json")
            .body(
                r#"{ "dueDate": "2026-12-01T00:00:00Z", "priority": "HIGH", "title": "pay rent" }"#,
            ),
    )
    .await;
    assert_eq!(seen(retry).await, first);
    assert_eq!(tasks_of(&app, &ada).await, 1);
    assert_eq!(outbox(&app, "task.created").await.len(), 1);

    // Another key is another task.
    let other = seen(create_with_key(&app, &ada, "key-2", &body).await).await;
    assert_eq!(other.0, 201);
    assert_ne!(other.1, first.1);
    assert_eq!(tasks_of(&app, &ada).await, 2);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_task_and_answer_identically() {
    let app = app().await;
    let ada = user(&app);
    let body = json!({"title": "once"});
    let requests =
        (0..10).map(|_| async { seen(create_with_key(&app, &ada, "burst", &body).await).await });
    let responses = futures_util::future::join_all(requests).await;
    let first = &responses[0];
    assert_eq!(first.0, 201, "{first:?}");
    for response in &responses {
        assert_eq!(response, first);
    }
    assert_eq!(tasks_of(&app, &ada).await, 1);
    assert_eq!(outbox(&app, "task.created").await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_409() {
    let app = app().await;
    let ada = user(&app);
    let res = create_with_key(&app, &ada, "k", &json!({"title": "a"})).await;
    assert_eq!(res.status(), 201);
    let res = create_with_key(&app, &ada, "k", &json!({"title": "b"})).await;
    let problem = problem(res, 409).await;
    assert_eq!(problem["type"], "urn:tessera:problem:conflict");
    let res = create_with_key(&app, &ada, "k", &json!({"title": "a", "priority": "LOW"})).await;
    problem_status(res, 409).await;
    assert_eq!(tasks_of(&app, &ada).await, 1);
    app.shutdown().await;
}

async fn problem_status(res: Response, status: u16) {
    problem(res, status).await;
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = app().await;
    let ada = user(&app);
    let bob = user(&app);
    let body = json!({"title": "shared key"});
    let a = seen(create_with_key(&app, &ada, "same", &body).await).await;
    let b = seen(create_with_key(&app, &bob, "same", &body).await).await;
    assert_eq!((a.0, b.0), (201, 201));
    assert_ne!(a.1, b.1, "two tasks");
    let b_task: Value = serde_json::from_str(&b.2).unwrap();
    assert_eq!(b_task["userId"], bob.id.to_string());
    // A different body under bob's key does not conflict with ada's.
    let res = create_with_key(&app, &bob, "other", &json!({"title": "x"})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        (tasks_of(&app, &ada).await, tasks_of(&app, &bob).await),
        (1, 2)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_expired_key_creates_a_new_task() {
    let app = app().await;
    let ada = user(&app);
    let body = json!({"title": "monthly"});
    let first = seen(create_with_key(&app, &ada, "month", &body).await).await;
    execute(
        &app,
        "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'",
    )
    .await;
    let second = seen(create_with_key(&app, &ada, "month", &body).await).await;
    assert_eq!(second.0, 201);
    assert_ne!(second.1, first.1, "a new task");
    assert_eq!(tasks_of(&app, &ada).await, 2);
    // The key now answers with the new task, and a different body conflicts again.
    let third = seen(create_with_key(&app, &ada, "month", &body).await).await;
    assert_eq!(third, second);
    let res = create_with_key(&app, &ada, "month", &json!({"title": "other"})).await;
    problem_status(res, 409).await;
    // An expired key with a different body is simply replaced.
    execute(
        &app,
        "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'",
    )
    .await;
    let res = create_with_key(&app, &ada, "month", &json!({"title": "other"})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM idempotency_keys").await,
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_key_is_a_400_naming_the_header() {
    let app = app().await;
    let ada = user(&app);
    let long = "k".repeat(256);
    for key in ["", "has space", long.as_str(), "tab\tkey"] {
        let res = create_with_key(&app, &ada, key, &json!({"title": "x"})).await;
        let problem = problem(res, 400).await;
        assert_eq!(named_fields(&problem), ["Idempotency-Key"], "{key:?}");
    }
    let res = create_with_key(&app, &ada, &"k".repeat(255), &json!({"title": "x"})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(tasks_of(&app, &ada).await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_bodies_are_not_remembered_under_the_key() {
    let app = app().await;
    let ada = user(&app);
    let res = create_with_key(&app, &ada, "fix-me", &json!({"title": ""})).await;
    problem_status(res, 400).await;
    let res = create_with_key(&app, &ada, "fix-me", &json!({"title": "fixed"})).await;
    assert_eq!(res.status(), 201);
    app.shutdown().await;
}
