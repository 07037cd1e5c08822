use serde_json::{Value, json};

use super::helpers::*;

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
    problem(refresh(&app, &session["refreshToken"]).await, 401).await;
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

    let mut conn = app.pool("auth").get().await.unwrap();
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

/// How many argon2 hashes (not verifications) the app has computed, from `/metrics`.
async fn hashes(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(r#"auth_password_hashes_total{op="hash"} "#))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_reset_with_a_token_that_cannot_work_hashes_no_password() {
    use diesel_async::RunQueryDsl;
    let app = app().await;
    register(&app, "quentin@example.com", "password123").await;
    post(
        &app,
        "/auth/forgot-password",
        json!({"email": "quentin@example.com"}),
    )
    .await;
    let spent = token_of(&reset_link(&app).await);
    let res = post(
        &app,
        "/auth/reset-password",
        json!({"token": spent, "password": "password456"}),
    )
    .await;
    assert_eq!(res.status(), 204);
    post(
        &app,
        "/auth/forgot-password",
        json!({"email": "quentin@example.com"}),
    )
    .await;
    let expired = token_of(&reset_link(&app).await);
    let mut conn = app.pool("auth").get().await.unwrap();
    diesel::sql_query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();

    let before = hashes(&app).await;
    assert!(before >= 2, "registering and resetting hashed: {before}");
    let unknown = "A".repeat(43);
    for token in [&unknown, &spent, &expired] {
        for _ in 0..3 {
            let res = post(
                &app,
                "/auth/reset-password",
                json!({"token": token, "password": "password789"}),
            )
            .await;
            let body = problem(res, 400).await;
            assert_eq!(body["errors"][0]["field"], "token");
        }
    }
    assert_eq!(
        hashes(&app).await,
        before,
        "argon2 ran for tokens that cannot work"
    );
    app.shutdown().await;
}

#[derive(diesel::QueryableByName, Debug)]
struct SentRow {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payload: Value,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    sent: bool,
}

#[tokio::test]
async fn a_sent_reset_event_leaves_no_link_in_the_outbox() {
    use diesel_async::RunQueryDsl;
    let app = app().await;
    register(&app, "rhea@example.com", "password123").await;
    post(
        &app,
        "/auth/forgot-password",
        json!({"email": "rhea@example.com"}),
    )
    .await;
    // The link went out on the queue ...
    let link = reset_link(&app).await;
    // ... and the row, once marked sent, keeps everything but the link.
    let pool = app.pool("auth");
    let row = eventually(
        std::time::Duration::from_secs(10),
        "the row marked sent",
        || async {
            let mut conn = pool.get().await.ok()?;
            let rows: Vec<SentRow> = diesel::sql_query(
            "SELECT payload, sent_at IS NOT NULL AS sent FROM outbox WHERE topic = 'email.send'",
        )
        .load(&mut conn)
        .await
        .ok()?;
            rows.into_iter().find(|r| r.sent)
        },
    )
    .await
    .unwrap();
    assert!(
        !row.payload.to_string().contains(&token_of(&link)),
        "{}",
        row.payload
    );
    assert_eq!(row.payload["to"], "rhea@example.com");
    assert_eq!(row.payload["data"]["expiresInMinutes"], 30);
    // The link itself still works.
    let res = post(
        &app,
        "/auth/reset-password",
        json!({"token": token_of(&link), "password": "password456"}),
    )
    .await;
    assert_eq!(res.status(), 204);
    app.shutdown().await;
}
