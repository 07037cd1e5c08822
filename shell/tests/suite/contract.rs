//! Input rules as a client of the gateway meets them: what the OpenAPI document states is what
//! the services check (issue 10: the bounded contract run found a trimmed title counted after
//! trimming while the document's `maxLength` counts the string as sent).

use serde_json::{Value, json};
use tessera_app::testkit::{assert_problem, problem_fields, random_hex};

use crate::deploy::{Deployment, Kind};

/// Asserts a 400 naming exactly `field`.
async fn refused(res: reqwest::Response, field: &str) {
    let problem = assert_problem(res, 400).await;
    assert_eq!(problem_fields(&problem), [field], "{problem}");
}

async fn patch(d: &Deployment, path: &str, token: &str, body: Value) -> reqwest::Response {
    d.client
        .patch(d.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn length_limits_count_the_text_as_sent(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let tag = random_hex(6);
    // 254 characters in all: the longest address the document allows.
    let email = format!("{tag}{}@{}.example.com", "a".repeat(52), "b".repeat(177));
    assert_eq!(email.chars().count(), 254);
    let padded = |n: usize, c: &str| format!("\t{}", c.repeat(n));

    // Registration: the e-mail and the name, each one character too long once padding counts.
    let res = d
        .post(
            "/auth/register",
            None,
            json!({"email": format!(" {email}"), "password": "password123"}),
        )
        .await;
    refused(res, "email").await;
    let res = d
        .post(
            "/auth/register",
            None,
            json!({"email": email, "password": "password123", "name": padded(100, "n")}),
        )
        .await;
    refused(res, "name").await;
    let res = d
        .post(
            "/auth/forgot-password",
            None,
            json!({"email": format!("{email} ")}),
        )
        .await;
    refused(res, "email").await;
    // Neither refusal stored the account: the address is still free.
    let (id, token, _) = d.sign_up(&email, "password123").await;

    // Tasks: title, description and the search text.
    let res = d
        .post("/tasks", Some(&token), json!({"title": padded(200, "t")}))
        .await;
    refused(res, "title").await;
    let res = d
        .post(
            "/tasks",
            Some(&token),
            json!({"title": "ok", "description": padded(5000, "d")}),
        )
        .await;
    refused(res, "description").await;
    let res = d
        .post(
            "/tasks",
            Some(&token),
            json!({"title": format!(" {} ", "t".repeat(198))}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let task: Value = res.json().await.unwrap();
    assert_eq!(task["title"], "t".repeat(198), "stored trimmed");
    let task_path = format!("/tasks/{}", task["id"].as_str().unwrap());
    refused(
        patch(&d, &task_path, &token, json!({"title": padded(200, "t")})).await,
        "title",
    )
    .await;
    let q = format!("%09{}", "t".repeat(200));
    refused(d.get(&format!("/tasks?q={q}"), &token).await, "q").await;
    let page: Value = d.get("/tasks", &token).await.json().await.unwrap();
    assert_eq!(page["meta"]["total"], 1, "only the task within the limits");
    assert_eq!(
        page["data"][0], task,
        "the refused change left it as it was"
    );

    // Profile: name, bio and avatar.
    let profile_path = format!("/users/{id}");
    let avatar = format!("https://example.com/{}", "a".repeat(2048 - 20));
    for (body, field) in [
        (json!({"name": padded(100, "n")}), "name"),
        (json!({"bio": padded(500, "b")}), "bio"),
        (json!({"avatar": format!(" {avatar}")}), "avatar"),
    ] {
        refused(patch(&d, &profile_path, &token, body).await, field).await;
    }
    let profile: Value = d.get(&profile_path, &token).await.json().await.unwrap();
    assert_eq!(profile["avatar"], Value::Null);
    assert_eq!(profile["bio"], Value::Null);

    // The admin list's search text.
    d.promote(&email);
    let (admin, _) = d.login(&email, "password123").await.unwrap();
    let q = format!("%20{}", "q".repeat(100));
    refused(d.get(&format!("/users?q={q}"), &admin).await, "q").await;
    d.stop().await;
}
