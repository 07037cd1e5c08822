//! The web app's session cookie (`X-Tessera-Session: cookie`, ARCHITECTURE.md "Web app
//! sessions"): set by login and refresh, read by refresh and logout when the body has no token,
//! cleared by logout and by a refused refresh; nothing changes without the header.

use reqwest::Response;
use serde_json::{Value, json};

use tessera_app::testkit::problem_fields;

use super::helpers::*;

const SESSION: (&str, &str) = ("X-Tessera-Session", "cookie");

/// A POST with the session header, `body` and, when given, the cookie `tessera_refresh=<cookie>`.
async fn session_post(app: &TestApp, path: &str, cookie: Option<&str>, body: Value) -> Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header(SESSION.0, SESSION.1)
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("tessera_refresh={c}"));
    }
    req.send().await.unwrap()
}

/// Every `Set-Cookie` of a response.
fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The one `Set-Cookie` of a response, which must carry the session cookie's attributes.
fn session_cookie(res: &Response) -> (String, String) {
    let cookies = set_cookies(res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    let (pair, attributes) = cookie.split_once("; ").unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, "tessera_refresh");
    let mut attrs: Vec<&str> = attributes.split("; ").collect();
    let max_age = attrs.pop().unwrap();
    assert_eq!(
        attrs,
        ["HttpOnly", "Secure", "SameSite=Strict", "Path=/auth"],
        "{cookie}"
    );
    (
        value.to_owned(),
        max_age.strip_prefix("Max-Age=").unwrap().to_owned(),
    )
}

fn assert_cleared(res: &Response) {
    let (value, max_age) = session_cookie(res);
    assert_eq!((value.as_str(), max_age.as_str()), ("", "0"));
}

async fn login_with_session(app: &TestApp, email: &str) -> (Value, String) {
    register(app, email, "password123").await;
    let res = session_post(
        app,
        "/auth/login",
        None,
        json!({"email": email, "password": "password123"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let (cookie, max_age) = session_cookie(&res);
    // One week: REFRESH_TOKEN_EXPIRES_IN's default, in seconds.
    assert_eq!(max_age, "604800");
    let body: Value = res.json().await.unwrap();
    // The JSON contract is unchanged: the body still carries the same refresh token.
    assert_eq!(body["refreshToken"], cookie.as_str());
    (body, cookie)
}

#[tokio::test]
async fn login_and_refresh_set_the_cookie_and_refresh_reads_it() {
    let app = app_with(&[("REFRESH_TOKEN_EXPIRES_IN", "2h")]).await;
    register(&app, "cookie-a@example.com", "password123").await;
    let res = session_post(
        &app,
        "/auth/login",
        None,
        json!({"email": "cookie-a@example.com", "password": "password123"}),
    )
    .await;
    let (first, max_age) = session_cookie(&res);
    assert_eq!(max_age, "7200", "Max-Age follows REFRESH_TOKEN_EXPIRES_IN");

    // `{}` in cookie mode: the cookie's token is rotated and the next one set.
    let res = session_post(&app, "/auth/refresh", Some(&first), json!({})).await;
    assert_eq!(res.status(), 200);
    let (second, _) = session_cookie(&res);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["refreshToken"], second.as_str());
    assert_ne!(first, second);
    assert!(body["accessToken"].is_string());
    app.shutdown().await;
}

#[tokio::test]
async fn without_the_header_no_cookie_is_set_or_read() {
    let app = app().await;
    let (_, cookie) = login_with_session(&app, "cookie-b@example.com").await;
    let tokens = login(&app, "cookie-b@example.com", "password123").await;

    let res = post(
        &app,
        "/auth/login",
        json!({"email": "cookie-b@example.com", "password": "password123"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res).is_empty());

    let res = refresh(&app, &tokens["refreshToken"]).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res).is_empty());

    // The cookie alone, without the header, is not a credential.
    for path in ["/auth/refresh", "/auth/logout"] {
        let res = app
            .client
            .post(app.url(path))
            .header("cookie", format!("tessera_refresh={cookie}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(set_cookies(&res).is_empty());
        let p = problem(res, 400).await;
        assert_eq!(problem_fields(&p), ["refreshToken"], "{path}");
    }
    // ... so the session it names is untouched.
    let res = session_post(&app, "/auth/refresh", Some(&cookie), json!({})).await;
    assert_eq!(res.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_body_token_wins_over_the_cookie() {
    let app = app().await;
    let (_, cookie) = login_with_session(&app, "cookie-c@example.com").await;
    let other = login(&app, "cookie-c@example.com", "password123").await;
    let other = other["refreshToken"].as_str().unwrap();

    let res = session_post(
        &app,
        "/auth/refresh",
        Some(&cookie),
        json!({"refreshToken": other}),
    )
    .await;
    assert_eq!(res.status(), 200);
    session_cookie(&res);
    // The body's token was the one spent: presenting it again is reuse, the cookie's still works.
    problem(refresh(&app, other).await, 401).await;
    let res = session_post(&app, "/auth/refresh", Some(&cookie), json!({})).await;
    assert_eq!(res.status(), 200);

    // Logout likewise ends the body's session, not the cookie's.
    let (_, third) = login_with_session(&app, "cookie-c2@example.com").await;
    let res = session_post(
        &app,
        "/auth/logout",
        Some(&cookie),
        json!({"refreshToken": third}),
    )
    .await;
    assert_eq!(res.status(), 204);
    problem(refresh(&app, &third).await, 401).await;
    app.shutdown().await;
}

#[tokio::test]
async fn logout_with_the_cookie_ends_the_session_and_clears_it() {
    let app = app().await;
    let (_, cookie) = login_with_session(&app, "cookie-d@example.com").await;
    let res = session_post(&app, "/auth/logout", Some(&cookie), json!({})).await;
    assert_eq!(res.status(), 204);
    assert_cleared(&res);
    let res = session_post(&app, "/auth/refresh", Some(&cookie), json!({})).await;
    assert_cleared(&res);
    problem(res, 401).await;

    // Idempotent: no cookie at all is still a logout, and still clears.
    let res = session_post(&app, "/auth/logout", None, json!({})).await;
    assert_eq!(res.status(), 204);
    assert_cleared(&res);
    app.shutdown().await;
}

#[tokio::test]
async fn a_refused_refresh_clears_the_cookie() {
    let app = app().await;
    // Reuse: the first token presented twice revokes the family, and each refusal clears.
    let (_, first) = login_with_session(&app, "cookie-e@example.com").await;
    let res = session_post(&app, "/auth/refresh", Some(&first), json!({})).await;
    let (second, _) = session_cookie(&res);
    let res = session_post(&app, "/auth/refresh", Some(&first), json!({})).await;
    assert_cleared(&res);
    problem(res, 401).await;
    let res = session_post(&app, "/auth/refresh", Some(&second), json!({})).await;
    assert_cleared(&res);
    problem(res, 401).await;

    // Unknown token, and no token at all.
    let res = session_post(&app, "/auth/refresh", Some("not-a-token"), json!({})).await;
    assert_cleared(&res);
    problem(res, 401).await;
    let res = session_post(&app, "/auth/refresh", None, json!({})).await;
    assert_cleared(&res);
    let p = problem(res, 401).await;
    assert!(
        p["detail"].as_str().unwrap().contains("tessera_refresh"),
        "{p}"
    );

    // A deleted user's session.
    let (body, cookie) = login_with_session(&app, "cookie-f@example.com").await;
    delete_user(
        &app,
        &body["user"]["id"],
        "cookie-f@example.com",
        "password123",
    )
    .await;
    let res = session_post(&app, "/auth/refresh", Some(&cookie), json!({})).await;
    assert_eq!(res.status(), 401);
    assert_cleared(&res);
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_header_other_than_cookie_is_a_400() {
    let app = app().await;
    register(&app, "cookie-g@example.com", "password123").await;
    for (path, body) in [
        (
            "/auth/login",
            json!({"email": "cookie-g@example.com", "password": "password123"}),
        ),
        ("/auth/refresh", json!({})),
        ("/auth/logout", json!({})),
    ] {
        let res = app
            .client
            .post(app.url(path))
            .header("X-Tessera-Session", "Cookie")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(set_cookies(&res).is_empty());
        let p = problem(res, 400).await;
        assert_eq!(problem_fields(&p), ["X-Tessera-Session"], "{path}");
    }
    app.shutdown().await;
}
