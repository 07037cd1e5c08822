use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn register_creates_a_user_and_announces_it_in_the_outbox() {
    let app = app().await;
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("x-request-id", "reg-test-1")
        .json(&json!({"email": "  Ada@Example.COM ", "password": "correct horse", "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-request-id"], "reg-test-1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Registration successful");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["role"], "USER");
    let created = body["user"]["createdAt"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "RFC 3339 with millis: {created}"
    );
    assert!(uuid::Uuid::parse_str(body["user"]["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["user"].as_object().unwrap().len(), 4, "{body}");

    let rows = outbox(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].topic, "user.registered");
    assert_eq!(rows[0].payload["userId"], body["user"]["id"]);
    assert_eq!(rows[0].payload["email"], "ada@example.com");
    assert_eq!(rows[0].payload["name"], "Ada");
    assert_eq!(rows[0].request_id.as_deref(), Some("reg-test-1"));
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_email_in_another_case_with_spaces_is_a_conflict() {
    let app = app().await;
    register(&app, "bob@example.com", "password123").await;
    let res = post(
        &app,
        "/auth/register",
        json!({"email": " BOB@example.com ", "password": "password456"}),
    )
    .await;
    let body = problem(res, 409).await;
    assert_eq!(body["type"], "urn:tessera:problem:conflict");
    assert_eq!(outbox(&app).await.len(), 1, "no second event");
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_registrations_name_every_bad_field_and_change_nothing() {
    let app = app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": "password123"}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "password": "password123", "name": "  "}),
            vec!["name"],
        ),
        (
            json!({"email": "a@example.com", "password": "password123", "name": "\u{200B}\u{2060}"}),
            vec!["name"],
        ),
        (
            json!({"email": "a@example.com", "password": "password123", "name": "n".repeat(101)}),
            vec!["name"],
        ),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "password": "password123"}),
            vec!["email"],
        ),
        (
            json!({"email": "bad", "password": "short"}),
            vec!["email", "password"],
        ),
        (
            json!({"email": "a@example.com", "password": "password123", "admin": true}),
            vec!["admin"],
        ),
        (json!({"password": "password123"}), vec!["email"]),
    ];
    for (body, fields) in cases {
        let res = post(&app, "/auth/register", body.clone()).await;
        let problem = problem(res, 400).await;
        assert_eq!(problem["type"], "urn:tessera:problem:validation", "{body}");
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{body} -> {problem}");
    }
    assert!(outbox(&app).await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn framework_errors_are_problem_json_too() {
    let app = app().await;
    // Malformed JSON.
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
    // Wrong content type.
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    // Too large (the limit is 64 KiB).
    let big =
        json!({"email": "a@example.com", "password": "password123", "name": "x".repeat(70_000)});
    let res = post(&app, "/auth/register", big).await;
    problem(res, 413).await;
    // Unknown route and wrong method.
    let res = app.client.get(app.url("/auth/nope")).send().await.unwrap();
    problem(res, 404).await;
    let res = app
        .client
        .get(app.url("/auth/register"))
        .send()
        .await
        .unwrap();
    problem(res, 405).await;
    app.shutdown().await;
}
