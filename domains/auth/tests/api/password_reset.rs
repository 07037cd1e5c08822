use serde_json::{Value, json};

use super::helpers::*;

/// The reset link of the newest `email.send` row in the outbox.
async fn reset_link(app: &TestApp) -> String {
    let rows = outbox(app).await;
    let row = rows
        .iter()
        .rev()
        .find(|r| r.topic == "email.send")
        .expect("an email.send event");
    assert_eq!(row.payload["template"], "password-reset");
    row.payload["data"]["resetUrl"].as_str().unwrap().to_owned()
}

fn token_of(link: &str) -> String {
    link.split_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap()
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_known_and_unknown_addresses() {
    let app = app_with(&[("WEB_APP_URL", "https://tessera.test/")]).await;
    register(&app, "nina@example.com", "password123").await;
    let known = post(
        &app,
        "/auth/forgot-password",
        json!({"email": " NINA@example.com"}),
    )
    .await;
    assert_eq!(known.status(), 202);
    let known: Value = known.json().await.unwrap();
    let unknown = post(
        &app,
        "/auth/forgot-password",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(unknown.status(), 202);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(known, unknown);

    let rows = outbox(&app).await;
    let mails: Vec<&OutboxRow> = rows.iter().filter(|r| r.topic == "email.send").collect();
    assert_eq!(mails.len(), 1, "only the existing account gets a mail");
    assert_eq!(mails[0].payload["to"], "nina@example.com");
    let link = reset_link(&app).await;
    assert!(
        link.starts_with("https://tessera.test/reset-password?token="),
        "{link}"
    );
    assert!(token_of(&link).len() >= 43);
    problem(
        post(&app, "/auth/forgot-password", json!({"email": "nope"})).await,
        400,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_reset_token_sets_the_password_once_and_ends_every_session() {
    let app = app().await;
    register(&app, "omar@example.com", "password123").await;
    let session = login(&app, "omar@example.com", "password123").await;
    assert_eq!(
        post(
            &app,
            "/auth/forgot-password",
            json!({"email": "omar@example.com"})
        )
        .await
        .status(),
        202
    );
    let token = token_of(&reset_link(&app).await);

    // Too short a password: 400, and the token is not spent.
    let res = post(
        &app,
        "/auth/reset-password",
        json!({"token": token, "password": "short"}),
    )
    .await;
    let body = problem(res, 400).await;
    assert_eq!(body["errors"][0]["field"], "password");

    let res = post(
        &app,
        "/auth/reset-password",
        json!({"token": token, "password": "brand-new-pass"}),
    )
    .await;
    assert_eq!(res.status(), 204);
    login(&app, "omar@example.com", "brand-new-pass").await;
    problem(
        post(
            &app,
            "/auth/login",
            json!({"email": "omar@example.com", "password": "password123"}),
        )
        .await,
        401,
    )
    .await;
    // The old session's refresh token was revoked.
    problem(
        post(
            &app,
            "/auth/refresh",
            json!({"refreshToken": session["refreshToken"]}),
        )
        .await,
        401,
    )
    .await;
    // The token is single-use.
    let res = post(
        &app,
        "/auth/reset-password",
        json!({"token": token, "password": "another-pass"}),
    )
    .await;
    let body = problem(res, 400).await;
    assert_eq!(body["errors"][0]["field"], "token");
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_expired_and_superseded_reset_tokens_are_refused() {
    use diesel_async::RunQueryDsl;
    let app = app().await;
    register(&app, "pia@example.com", "password123").await;
    problem(
        post(
            &app,
            "/auth/reset-password",
            json!({"token": "made-up", "password": "password999"}),
        )
        .await,
        400,
    )
    .await;

    post(
        &app,
        "/auth/forgot-password",
        json!({"email": "pia@example.com"}),
    )
    .await;
    let first = token_of(&reset_link(&app).await);
    post(
        &app,
        "/auth/forgot-password",
        json!({"email": "pia@example.com"}),
    )
    .await;
    let second = token_of(&reset_link(&app).await);
    assert_ne!(first, second);
    // Asking again retires the earlier link.
    problem(
        post(
            &app,
            "/auth/reset-password",
            json!({"token": first, "password": "password999"}),
        )
        .await,
        400,
    )
    .await;

    let mut conn = app.pool("auth").get_owned().await.unwrap();
    diesel::sql_query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    problem(
        post(
            &app,
            "/auth/reset-password",
            json!({"token": second, "password": "password999"}),
        )
        .await,
        400,
    )
    .await;
    login(&app, "pia@example.com", "password123").await;
    app.shutdown().await;
}
