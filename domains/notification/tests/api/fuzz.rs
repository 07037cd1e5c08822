//! Regressions found by the contract fuzzer (`just fuzz`).

use serde_json::json;
use tessera_app::testkit::{assert_problem, problem_fields};
use uuid::Uuid;

use super::helpers::*;

#[tokio::test]
async fn text_with_a_nul_character_is_a_400_naming_the_field_not_a_500() {
    let app = app().await;
    let user = Uuid::now_v7();
    for (extra, field) in [
        (json!({"message": "a\u{0}b"}), "message"),
        (json!({"subject": "a\u{0}"}), "subject"),
        (json!({"idempotencyKey": "k\u{0}"}), "idempotencyKey"),
        (json!({"data": {"title": "a\u{0}"}}), "data"),
        (json!({"data": {"a\u{0}": 1}}), "data"),
    ] {
        let res = send(&app, body(user, "IN_APP", extra.clone())).await;
        let problem = assert_problem(res, 400).await;
        assert_eq!(problem_fields(&problem), [field], "{extra}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_json_array_is_not_a_send_body() {
    let app = app().await;
    let res = send(&app, json!([Uuid::now_v7(), "INFO", "IN_APP", "hello"])).await;
    assert_problem(res, 400).await;
    app.shutdown().await;
}

#[tokio::test]
async fn data_numbers_that_jsonb_cannot_give_back_are_a_400_not_a_500() {
    // 1.8e308 went into jsonb and came back as 309 digits that do not parse as f64 again:
    // the row was stored and every later read of it failed.
    let app = app().await;
    let user = Uuid::now_v7();
    for data in [
        json!({"n": 1.7976931348623157e308}),
        json!({"nested": [{"n": 8.014616822918793e261}]}),
    ] {
        let res = send(&app, body(user, "IN_APP", json!({"data": data.clone()}))).await;
        let problem = assert_problem(res, 400).await;
        assert_eq!(problem_fields(&problem), ["data"], "{data}");
    }
    app.shutdown().await;
}

/// The document's `maxLength` counts the string as sent; a message or subject that only fits
/// once trimmed is refused and nothing is stored.
#[tokio::test]
async fn length_limits_count_the_text_as_sent_and_a_refusal_stores_nothing() {
    let app = app().await;
    let user = Uuid::now_v7();
    for (extra, field) in [
        (
            json!({"message": format!("\t{}", "m".repeat(5000))}),
            "message",
        ),
        (
            json!({"subject": format!("{} ", "s".repeat(200))}),
            "subject",
        ),
    ] {
        let res = send(&app, body(user, "IN_APP", extra.clone())).await;
        let problem = assert_problem(res, 400).await;
        assert_eq!(problem_fields(&problem), [field], "{extra}");
    }
    assert!(stored(&app, user).await.is_empty());
    let padded = json!({"message": format!(" {} ", "m".repeat(4998)), "subject": format!(" {} ", "s".repeat(198))});
    let res = send(&app, body(user, "IN_APP", padded)).await;
    assert_eq!(res.status(), 201);
    let n: serde_json::Value = res.json().await.unwrap();
    assert_eq!(n["message"], "m".repeat(4998));
    assert_eq!(n["subject"], "s".repeat(198));
    app.shutdown().await;
}
