use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::helpers::*;

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn sign(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(user_id: &str, typ: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": user_id, "userId": user_id, "email": "h@example.com", "role": "ADMIN", "typ": typ,
        "iss": "tessera-auth", "aud": "tessera-api", "iat": now, "exp": now + exp_offset,
        "jti": uuid::Uuid::new_v4(),
    })
}

#[tokio::test]
async fn me_returns_the_account_for_a_valid_token() {
    let app = app().await;
    let reg = register(&app, "henry@example.com", "password123").await;
    let tokens = login(&app, "henry@example.com", "password123").await;
    let res = me(&app, tokens["accessToken"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], reg["user"]["id"]);
    assert_eq!(body["email"], "henry@example.com");
    assert_eq!(body["role"], "USER");
    assert!(body["createdAt"].is_string() && body["updatedAt"].is_string());
    assert_eq!(body.as_object().unwrap().len(), 5);
    app.shutdown().await;
}

#[tokio::test]
async fn forged_expired_and_wrong_kind_tokens_are_refused() {
    let app = app().await;
    let reg = register(&app, "ivy@example.com", "password123").await;
    let tokens = login(&app, "ivy@example.com", "password123").await;
    let id = reg["user"]["id"].as_str().unwrap();
    let secret = app.env.get("JWT_SECRET").unwrap().to_owned();
    let internal = app.env.get("INTERNAL_JWT_SECRET").unwrap().to_owned();

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(id, "access", 600).to_string());
    let cases: Vec<(&str, String)> = vec![
        ("expired", sign(&secret, &claims(id, "access", -120))),
        ("wrong typ", sign(&secret, &claims(id, "refresh", 600))),
        (
            "bad signature",
            sign(
                "another-secret-that-is-long-enough-000",
                &claims(id, "access", 600),
            ),
        ),
        ("alg none", format!("{header_none}.{payload}.")),
        (
            "signed with the internal secret",
            sign(&internal, &claims(id, "access", 600)),
        ),
        (
            "a service token",
            app.platform.tokens.issue_service("worker").unwrap(),
        ),
        (
            "the refresh token",
            tokens["refreshToken"].as_str().unwrap().to_owned(),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let res = me(&app, &token).await;
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{what}"
        );
        let body = problem(res, 401).await;
        assert_eq!(body["type"], "urn:tessera:problem:unauthorized", "{what}");
    }
    // No token at all, and a non-bearer scheme.
    problem(
        app.client.get(app.url("/auth/me")).send().await.unwrap(),
        401,
    )
    .await;
    problem(
        app.client
            .get(app.url("/auth/me"))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // Wrong issuer or audience.
    let mut other = claims(id, "access", 600);
    other["iss"] = json!("someone-else");
    problem(me(&app, &sign(&secret, &other)).await, 401).await;
    let mut other = claims(id, "access", 600);
    other["aud"] = json!("another-api");
    problem(me(&app, &sign(&secret, &other)).await, 401).await;
    // The genuine one still works.
    assert_eq!(
        me(&app, tokens["accessToken"].as_str().unwrap())
            .await
            .status(),
        200
    );
    app.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_the_token_and_a_reused_token_revokes_the_family() {
    let app = app().await;
    register(&app, "jack@example.com", "password123").await;
    let first = login(&app, "jack@example.com", "password123").await;
    let r1 = first["refreshToken"].as_str().unwrap().to_owned();

    let res = refresh(&app, &r1).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(second["tokenType"], "Bearer");
    assert_eq!(
        me(&app, second["accessToken"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Presenting r1 again is reuse: 401, and r2 (same family) dies with it.
    problem(refresh(&app, &r1).await, 401).await;
    problem(refresh(&app, &r2).await, 401).await;

    // Another session of the same user is untouched.
    let other = login(&app, "jack@example.com", "password123").await;
    assert_eq!(refresh(&app, &other["refreshToken"]).await.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_yield_at_most_one_new_pair() {
    let app = app().await;
    register(&app, "kate@example.com", "password123").await;
    let tokens = login(&app, "kate@example.com", "password123").await;
    let body = json!({"refreshToken": tokens["refreshToken"]});
    let results =
        futures_util::future::join_all((0..5).map(|_| post(&app, "/auth/refresh", body.clone())))
            .await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    assert!(ok <= 1, "{ok} refreshes succeeded with one token");
    assert!(
        results
            .iter()
            .all(|r| r.status() == 200 || r.status() == 401)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let app = app().await;
    register(&app, "liam@example.com", "password123").await;
    let tokens = login(&app, "liam@example.com", "password123").await;
    let res = post(
        &app,
        "/auth/logout",
        json!({"refreshToken": tokens["refreshToken"]}),
    )
    .await;
    assert_eq!(res.status(), 204);
    problem(refresh(&app, &tokens["refreshToken"]).await, 401).await;
    assert_eq!(
        post(
            &app,
            "/auth/logout",
            json!({"refreshToken": tokens["refreshToken"]})
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        post(
            &app,
            "/auth/logout",
            json!({"refreshToken": "never-issued"})
        )
        .await
        .status(),
        204
    );
    problem(post(&app, "/auth/logout", json!({})).await, 400).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    use diesel_async::RunQueryDsl;
    let app = app().await;
    register(&app, "mia@example.com", "password123").await;
    let tokens = login(&app, "mia@example.com", "password123").await;
    let mut conn = app.pool("auth").get().await.unwrap();
    diesel::sql_query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    problem(refresh(&app, &tokens["refreshToken"]).await, 401).await;
    app.shutdown().await;
}

#[derive(diesel::QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many refresh tokens of the auth database are not revoked.
async fn live_refresh_tokens(app: &TestApp) -> i64 {
    use diesel_async::RunQueryDsl;
    let mut conn = app.pool("auth").get().await.unwrap();
    diesel::sql_query("SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS NULL")
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn no_refresh_token_issued_while_a_reset_runs_survives_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = app_with(&[
        ("FORGOT_PASSWORD_PER_EMAIL", "1000"),
        ("LOGIN_ATTEMPTS_PER_EMAIL", "1000"),
    ])
    .await;
    let email = "rita@example.com";
    register(&app, email, "password-0").await;
    // The race is narrow (a refresh between its insert and its commit while the reset's UPDATE
    // takes its snapshot), so several sessions refresh in a loop through several resets.
    for round in 0..6 {
        let mut sessions = Vec::new();
        for _ in 0..4 {
            let pair = login(&app, email, &format!("password-{round}")).await;
            sessions.push(pair["refreshToken"].as_str().unwrap().to_owned());
        }
        post(&app, "/auth/forgot-password", json!({"email": email})).await;
        let reset_token = token_of(&reset_link(&app).await);
        let stop = AtomicBool::new(false);
        let loops = sessions.into_iter().map(|mut token| {
            let (app, stop) = (&app, &stop);
            async move {
                let mut issued = 0;
                while !stop.load(Ordering::SeqCst) {
                    let res = refresh(app, &token).await;
                    if res.status() != 200 {
                        break;
                    }
                    let body: Value = res.json().await.unwrap();
                    token = body["refreshToken"].as_str().unwrap().to_owned();
                    issued += 1;
                }
                (issued, token)
            }
        });
        let reset = async {
            let res = post(
                &app,
                "/auth/reset-password",
                json!({"token": reset_token, "password": format!("password-{}", round + 1)}),
            )
            .await;
            assert_eq!(res.status(), 204);
            stop.store(true, Ordering::SeqCst);
        };
        let (ends, ()) =
            futures_util::future::join(futures_util::future::join_all(loops), reset).await;
        assert!(
            ends.iter().any(|(issued, _)| *issued > 0),
            "the refreshes ran"
        );
        assert_eq!(
            live_refresh_tokens(&app).await,
            0,
            "round {round}: a refresh token issued during the reset survived it"
        );
        for (_, last) in ends {
            problem(refresh(&app, &last).await, 401).await;
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    use diesel_async::RunQueryDsl;
    let app = app_with(&[
        ("REFRESH_TOKEN_EXPIRES_IN", "7d"),
        ("REFRESH_FAMILY_MAX_AGE", "1h"),
    ])
    .await;
    register(&app, "sven@example.com", "password123").await;
    let first = login(&app, "sven@example.com", "password123").await;
    let res = refresh(&app, &first["refreshToken"]).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    // No token of the family is valid past the family's hour, whatever its own lifetime.
    let mut conn = app.pool("auth").get().await.unwrap();
    let beyond = diesel::sql_query(
        "SELECT count(*) AS n FROM refresh_tokens WHERE expires_at > now() + interval '1 hour'",
    )
    .get_result::<Count>(&mut conn)
    .await
    .unwrap()
    .n;
    assert_eq!(beyond, 0, "a refresh token outlives its session");
    // A family that started longer ago than that is refused even with a fresh token.
    diesel::sql_query(
        "UPDATE refresh_tokens SET family_created_at = now() - interval '2 hours', \
         expires_at = now() + interval '1 day'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    problem(refresh(&app, &second["refreshToken"]).await, 401).await;
    app.shutdown().await;
}

#[tokio::test]
async fn no_refresh_token_issued_while_a_logout_runs_survives_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let app = app_with(&[("LOGIN_ATTEMPTS_PER_EMAIL", "1000")]).await;
    let email = "sara@example.com";
    register(&app, email, "password123").await;
    for round in 0..6 {
        let mut sessions = Vec::new();
        for _ in 0..4 {
            let pair = login(&app, email, "password123").await;
            sessions.push(pair["refreshToken"].as_str().unwrap().to_owned());
        }
        let stop = AtomicBool::new(false);
        // Each session refreshes in a loop while its logout (with the session's first token,
        // which names the same family) runs.
        let loops = sessions.iter().cloned().map(|mut token| {
            let (app, stop) = (&app, &stop);
            async move {
                while !stop.load(Ordering::SeqCst) {
                    let res = refresh(app, &token).await;
                    if res.status() != 200 {
                        break;
                    }
                    let body: Value = res.json().await.unwrap();
                    token = body["refreshToken"].as_str().unwrap().to_owned();
                }
            }
        });
        let logouts = async {
            let ends = sessions
                .iter()
                .map(|token| post(&app, "/auth/logout", json!({"refreshToken": token})));
            for res in futures_util::future::join_all(ends).await {
                assert_eq!(res.status(), 204);
            }
            stop.store(true, Ordering::SeqCst);
        };
        futures_util::future::join(futures_util::future::join_all(loops), logouts).await;
        assert_eq!(
            live_refresh_tokens(&app).await,
            0,
            "round {round}: a refresh token issued during a logout survived it"
        );
    }
    app.shutdown().await;
}
