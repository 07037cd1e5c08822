use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn login_returns_a_token_pair_with_the_documented_claims() {
    let app = app().await;
    let reg = register(&app, "claims@example.com", "password123").await;
    let body = login(&app, " Claims@Example.com", "password123").await;
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["user"]["id"], reg["user"]["id"]);
    assert_eq!(body["user"]["email"], "claims@example.com");
    assert_eq!(body["user"]["role"], "USER");
    let refresh = body["refreshToken"].as_str().unwrap();
    assert!(refresh.len() >= 43, "at least 256 bits");

    let secret = app.env.get("JWT_SECRET").unwrap().to_owned();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["tessera-api"]);
    v.set_issuer(&["tessera-auth"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        body["accessToken"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .expect("access token verifies");
    let c = data.claims;
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(c["sub"], reg["user"]["id"]);
    assert_eq!(c["userId"], reg["user"]["id"]);
    assert_eq!(c["email"], "claims@example.com");
    assert_eq!(c["role"], "USER");
    assert_eq!(c["typ"], "access");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_exactly_alike() {
    let app = app().await;
    register(&app, "carol@example.com", "password123").await;
    let wrong = problem(
        post(
            &app,
            "/auth/login",
            json!({"email": "carol@example.com", "password": "nope-nope"}),
        )
        .await,
        401,
    )
    .await;
    let unknown = problem(
        post(
            &app,
            "/auth/login",
            json!({"email": "nobody@example.com", "password": "nope-nope"}),
        )
        .await,
        401,
    )
    .await;
    let malformed = problem(
        post(
            &app,
            "/auth/login",
            json!({"email": "not an email", "password": "nope-nope"}),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
    assert_eq!(wrong["detail"], malformed["detail"]);
    assert_eq!(wrong["type"], unknown["type"]);
    app.shutdown().await;
}

#[tokio::test]
async fn repeated_logins_for_one_email_are_throttled_with_retry_after() {
    let app = app_with(&[("LOGIN_ATTEMPTS_PER_EMAIL", "3")]).await;
    register(&app, "dave@example.com", "password123").await;
    for _ in 0..3 {
        let res = post(
            &app,
            "/auth/login",
            json!({"email": "dave@example.com", "password": "wrong-pass"}),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    // Even the right password is refused from this address while the window lasts.
    let res = post(
        &app,
        "/auth/login",
        json!({"email": "DAVE@example.com", "password": "password123"}),
    )
    .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body = problem(res, 429).await;
    assert_eq!(body["type"], "urn:tessera:problem:rate-limited");
    // Another e-mail is not affected.
    register(&app, "erin@example.com", "password123").await;
    login(&app, "erin@example.com", "password123").await;
    app.shutdown().await;
}

/// A login from `address` (believed: the tests trust 127.0.0.1 as a proxy).
async fn login_from(
    app: &TestApp,
    address: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_passwords_from_many_addresses_do_not_lock_the_owner_out() {
    let app = app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ATTEMPTS_PER_EMAIL", "3"),
        ("LOGIN_SLOWDOWN_AFTER", "5"),
        ("LOGIN_MAX_DELAY", "100ms"),
    ])
    .await;
    register(&app, "olga@example.com", "password123").await;
    // An attacker spreads wrong guesses over 14 addresses: each stays under its own limit.
    for i in 0..14 {
        let res = login_from(
            &app,
            &format!("203.0.113.{i}"),
            "olga@example.com",
            "guess-guess",
        )
        .await;
        assert_eq!(res.status(), 401, "guess {i}");
    }
    // The owner, from an address of their own, still gets in: slowed down, not refused.
    let res = login_from(&app, "198.51.100.7", "olga@example.com", "password123").await;
    assert_eq!(res.status(), 200);
    // And the right password from an attacker's address that made few guesses works too.
    let res = login_from(&app, "203.0.113.3", "olga@example.com", "password123").await;
    assert_eq!(res.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn one_address_guessing_at_one_account_is_refused_but_only_there() {
    let app = app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ATTEMPTS_PER_EMAIL", "3"),
    ])
    .await;
    register(&app, "pete@example.com", "password123").await;
    register(&app, "quinn@example.com", "password123").await;
    // A burst of parallel guesses is counted in full: at most three are checked.
    let guesses = futures_util::future::join_all(
        (0..6).map(|_| login_from(&app, "203.0.113.9", "pete@example.com", "guess-guess")),
    )
    .await;
    let statuses: Vec<u16> = guesses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
    let res = login_from(&app, "203.0.113.9", "pete@example.com", "password123").await;
    problem(res, 429).await;
    // The same address may still log in to another account, and the owner from elsewhere.
    assert_eq!(
        login_from(&app, "203.0.113.9", "quinn@example.com", "password123")
            .await
            .status(),
        200
    );
    assert_eq!(
        login_from(&app, "198.51.100.7", "pete@example.com", "password123")
            .await
            .status(),
        200
    );
    app.shutdown().await;
}

#[tokio::test]
async fn successful_logins_do_not_count_against_the_address() {
    let app = app_with(&[
        ("LOGIN_ATTEMPTS_PER_IP", "2"),
        ("LOGIN_ATTEMPTS_PER_EMAIL", "2"),
    ])
    .await;
    register(&app, "rosa@example.com", "password123").await;
    for _ in 0..5 {
        login(&app, "rosa@example.com", "password123").await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn logins_per_client_ip_are_throttled() {
    let app = app_with(&[("LOGIN_ATTEMPTS_PER_IP", "2")]).await;
    for i in 0..2 {
        let res = post(
            &app,
            "/auth/login",
            json!({"email": format!("x{i}@example.com"), "password": "password123"}),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let res = post(
        &app,
        "/auth/login",
        json!({"email": "x9@example.com", "password": "password123"}),
    )
    .await;
    problem(res, 429).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_user_deleted_by_an_admin_can_no_longer_log_in_or_refresh() {
    let app = app().await;
    let reg = register(&app, "frank@example.com", "password123").await;
    let tokens = login(&app, "frank@example.com", "password123").await;

    delete_user(&app, &reg["user"]["id"], "frank@example.com", "password123").await;
    let res = refresh(&app, &tokens["refreshToken"]).await;
    problem(res, 401).await;
    let res = app
        .client
        .get(app.url("/auth/me"))
        .bearer_auth(tokens["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_admin_promotion_takes_effect_at_the_next_login() {
    let app = app().await;
    register(&app, "grace@example.com", "password123").await;
    let before = login(&app, "grace@example.com", "password123").await;
    assert_eq!(before["user"]["role"], "USER");
    assert!(
        tessera_auth::promote(&app.pool("auth"), " Grace@example.com")
            .await
            .unwrap()
    );
    assert!(
        !tessera_auth::promote(&app.pool("auth"), "nobody@example.com")
            .await
            .unwrap()
    );
    let changed: Vec<_> = outbox(&app)
        .await
        .into_iter()
        .filter(|r| r.topic == "user.role_changed")
        .collect();
    assert_eq!(changed.len(), 1, "one user.role_changed event");
    assert_eq!(changed[0].payload["role"], "ADMIN");
    let after = login(&app, "grace@example.com", "password123").await;
    assert_eq!(after["user"]["role"], "ADMIN");
    // A refresh picks the new role up too.
    let refreshed = refresh(&app, &before["refreshToken"]).await;
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["user"]["role"], "ADMIN");
    app.shutdown().await;
}
