//! Flows that cross domains, with every domain mounted in one process as `just dev` runs them:
//! events leave one domain through its outbox and reach another through the queue.

#![cfg(all(feature = "auth", feature = "user", feature = "task"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

use std::time::Duration;

use serde_json::{Value, json};
use tessera_app::testkit::{TestApp, eventually, spawn_app};

async fn platform() -> TestApp {
    spawn_app(
        &[
            &tessera_auth::DOMAIN,
            &tessera_user::DOMAIN,
            &tessera_task::DOMAIN,
        ],
        &[],
    )
    .await
    .unwrap()
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Registers and logs in; returns (user id, access token, refresh token).
async fn sign_up(app: &TestApp, email: &str, name: &str) -> (String, String, String) {
    let res = post(
        app,
        "/auth/register",
        None,
        json!({"email": email, "password": "password123", "name": name}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let reg: Value = res.json().await.unwrap();
    let res = post(
        app,
        "/auth/login",
        None,
        json!({"email": email, "password": "password123"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    (
        reg["user"]["id"].as_str().unwrap().to_owned(),
        tokens["accessToken"].as_str().unwrap().to_owned(),
        tokens["refreshToken"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_registration_becomes_a_profile_through_the_event() {
    let app = platform().await;
    let (id, token, _) = sign_up(&app, "ada@example.com", "Ada Lovelace").await;
    // Only the user.registered event carries the name; a profile made on first access has none.
    let profile = eventually(
        Duration::from_secs(10),
        "the profile with its name",
        || async {
            let res = get(&app, &format!("/users/{id}"), &token).await;
            let body: Value = res.json().await.ok()?;
            (body["name"] == "Ada Lovelace").then_some(body)
        },
    )
    .await
    .unwrap();
    assert_eq!(profile["userId"], id.as_str());
    assert_eq!(profile["email"], "ada@example.com");
    assert_eq!(profile["role"], "USER");
    app.shutdown().await;
}

#[tokio::test]
async fn a_user_an_admin_deletes_can_no_longer_log_in_or_refresh() {
    let app = platform().await;
    sign_up(&app, "root@example.com", "Root").await;
    assert!(
        tessera_auth::promote(&app.pool("auth"), "root@example.com")
            .await
            .unwrap()
    );
    let (_, admin, _) = sign_up_again(&app, "root@example.com").await;
    let (victim, victim_token, victim_refresh) = sign_up(&app, "bob@example.com", "Bob").await;
    // The profile must exist before an admin can delete it.
    eventually(Duration::from_secs(10), "bob's profile", || async {
        (get(&app, &format!("/users/{victim}"), &admin)
            .await
            .status()
            == 200)
            .then_some(())
    })
    .await
    .unwrap();

    let res = app
        .client
        .delete(app.url(&format!("/users/{victim}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    eventually(
        Duration::from_secs(10),
        "the login to be refused",
        || async {
            let res = post(
                &app,
                "/auth/login",
                None,
                json!({"email": "bob@example.com", "password": "password123"}),
            )
            .await;
            (res.status() == 401).then_some(())
        },
    )
    .await
    .unwrap();
    let res = post(
        &app,
        "/auth/refresh",
        None,
        json!({"refreshToken": victim_refresh}),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        get(&app, &format!("/users/{victim}"), &victim_token)
            .await
            .status(),
        404
    );
    let list: Value = get(&app, "/users?limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["userId"] != victim.as_str())
    );
    app.shutdown().await;
}

async fn sign_up_again(app: &TestApp, email: &str) -> (String, String, String) {
    let res = post(
        app,
        "/auth/login",
        None,
        json!({"email": email, "password": "password123"}),
    )
    .await;
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["user"]["role"], "ADMIN");
    (
        tokens["user"]["id"].as_str().unwrap().to_owned(),
        tokens["accessToken"].as_str().unwrap().to_owned(),
        tokens["refreshToken"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_promotion_reaches_the_profile() {
    let app = platform().await;
    let (id, token, _) = sign_up(&app, "grace@example.com", "Grace").await;
    assert!(
        tessera_auth::promote(&app.pool("auth"), "grace@example.com")
            .await
            .unwrap()
    );
    eventually(
        Duration::from_secs(10),
        "the profile's role to follow",
        || async {
            let body: Value = get(&app, &format!("/users/{id}"), &token)
                .await
                .json()
                .await
                .ok()?;
            (body["role"] == "ADMIN").then_some(())
        },
    )
    .await
    .unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn created_and_completed_tasks_reach_their_streams() {
    use fred::prelude::StreamsInterface;
    let app = platform().await;
    let (id, token, _) = sign_up(&app, "tom@example.com", "Tom").await;
    let res = post(
        &app,
        "/tasks",
        Some(&token),
        json!({"title": "Write the report"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let task: Value = res.json().await.unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/tasks/{}", task["id"].as_str().unwrap())))
        .bearer_auth(&token)
        .json(&json!({"status": "COMPLETED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    for (topic, first) in [("task.created", Some(true)), ("task.completed", None)] {
        let stream = app.platform.queue.stream_key(topic);
        let job: Value = eventually(Duration::from_secs(10), topic, || async {
            let entries: Vec<(String, std::collections::HashMap<String, String>)> = app
                .platform
                .redis
                .xrange(&stream, "-", "+", None)
                .await
                .ok()?;
            let (_, fields) = entries.into_iter().next()?;
            serde_json::from_str(fields.get("job")?).ok()
        })
        .await
        .unwrap();
        assert_eq!(job["data"]["userId"], id.as_str(), "{topic}");
        assert_eq!(job["data"]["taskId"], task["id"], "{topic}");
        if let Some(first) = first {
            assert_eq!(job["data"]["firstTask"], first);
        }
        assert!(
            job["requestId"].is_string(),
            "{topic} carries the request id"
        );
    }
    app.shutdown().await;
}
