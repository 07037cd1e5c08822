//! Regressions found by the contract fuzzer (`just fuzz`).

use reqwest::StatusCode;
use serde_json::json;
use tessera_app::testkit::problem_fields;

use super::helpers::*;

#[tokio::test]
async fn a_name_with_a_nul_character_is_a_400_not_a_500() {
    let app = app().await;
    let res = post(
        &app,
        "/auth/register",
        json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada\u{0}"}),
    )
    .await;
    let body = problem(res, 400).await;
    assert_eq!(problem_fields(&body), ["name"]);
    // Nothing was stored: the address is still free.
    register(&app, "ada@example.com", "correct horse").await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_json_array_is_not_a_body() {
    let app = app().await;
    for path in ["/auth/register", "/auth/login", "/auth/forgot-password"] {
        let res = post(&app, path, json!(["ada@example.com", "correct horse"])).await;
        let body = problem(res, 400).await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("expected a JSON object"),
            "{path}: {body}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_method_on_an_operational_route_is_405_with_allow() {
    let app = app().await;
    for path in ["/health", "/ready", "/metrics"] {
        let res = app
            .client
            .post(app.url(path))
            .send()
            .await
            .expect("request");
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        problem(res, 405).await;
        assert!(allow.contains("GET"), "{path}: Allow {allow:?}");
    }
    app.shutdown().await;
}

/// The document's `maxLength` counts the string as sent; a value that only fits once trimmed
/// is refused, and the refusal stores nothing.
#[tokio::test]
async fn length_limits_count_the_text_as_sent_and_a_refusal_changes_nothing() {
    let app = app().await;
    let email = format!("{}@{}.example.com", "a".repeat(64), "b".repeat(177));
    assert_eq!(email.chars().count(), 254);
    for (body, field) in [
        (
            json!({"email": format!(" {email}"), "password": "correct horse"}),
            "email",
        ),
        (
            json!({"email": email, "password": "correct horse", "name": format!("\t{}", "n".repeat(100))}),
            "name",
        ),
    ] {
        let res = post(&app, "/auth/register", body.clone()).await;
        assert_eq!(problem_fields(&problem(res, 400).await), [field], "{body}");
    }
    let res = post(
        &app,
        "/auth/forgot-password",
        json!({"email": format!("{email} ")}),
    )
    .await;
    assert_eq!(problem_fields(&problem(res, 400).await), ["email"]);

    // Nothing was stored: the 254-character address (and a padded 100-character name) is free.
    let res = post(
        &app,
        "/auth/register",
        json!({"email": email, "password": "correct horse", "name": format!(" {} ", "n".repeat(98))}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.shutdown().await;
}

/// The contract run warned that it could not get reset-password to accept anything: the token
/// was documented as any string. It is documented and checked as what the service issues (43
/// characters of URL-safe base64), and a body with a malformed token and a bad password names
/// both fields before any password is hashed.
#[tokio::test]
async fn reset_tokens_are_checked_for_their_documented_shape() {
    let app = app().await;
    for (token, password, fields) in [
        ("made-up", "password999", vec!["token"]),
        ("made-up", "short", vec!["token", "password"]),
        (
            "kq3S0lJb2cS8rY6Wc1y9bV6Nn0dTg1bq2rZ7x1Gm5hA=",
            "password999",
            vec!["token"],
        ),
        // The right shape, never issued: refused as a bad token, like a spent one.
        (
            "kq3S0lJb2cS8rY6Wc1y9bV6Nn0dTg1bq2rZ7x1Gm5hA",
            "password999",
            vec!["token"],
        ),
    ] {
        let res = post(
            &app,
            "/auth/reset-password",
            json!({"token": token, "password": password}),
        )
        .await;
        assert_eq!(problem_fields(&problem(res, 400).await), fields, "{token}");
    }
    app.shutdown().await;
}
