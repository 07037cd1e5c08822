//! Regressions found by the contract fuzzer (`just fuzz`).

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
