//! Regressions found by the contract fuzzer (`just fuzz`).

use serde_json::json;
use tessera_app::testkit::{assert_problem, problem_fields};

use super::helpers::*;

#[tokio::test]
async fn text_with_a_nul_character_is_a_400_naming_the_field_not_a_500() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    own_profile(&app, &ada).await;
    for (body, field) in [
        (json!({"name": "Ada\u{0}"}), "name"),
        (json!({"bio": "x\u{0}y"}), "bio"),
    ] {
        let res = patch(&app, &path(ada.id), &ada.token, body.clone()).await;
        let problem = assert_problem(res, 400).await;
        assert_eq!(problem_fields(&problem), [field], "{body}");
    }
    let boss = admin(&app, "boss@example.com");
    let res = get(&app, "/users?q=a%00", Some(&boss.token)).await;
    let problem = assert_problem(res, 400).await;
    assert_eq!(problem_fields(&problem), ["q"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_json_array_is_not_a_profile_change() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    own_profile(&app, &ada).await;
    let res = patch(&app, &path(ada.id), &ada.token, json!(["Ada"])).await;
    assert_problem(res, 400).await;
    app.shutdown().await;
}

/// The document's `maxLength` counts the string as sent; a value that only fits once trimmed
/// is refused, and the refusal changes nothing.
#[tokio::test]
async fn length_limits_count_the_text_as_sent_and_a_refusal_changes_nothing() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    let before = own_profile(&app, &ada).await;
    let avatar = format!("https://example.com/{}", "a".repeat(2048 - 20));
    for (body, field) in [
        (json!({"name": format!("\t{}", "x".repeat(100))}), "name"),
        (json!({"bio": format!(" {}", "b".repeat(500))}), "bio"),
        (json!({"avatar": format!(" {avatar}")}), "avatar"),
    ] {
        let res = patch(&app, &path(ada.id), &ada.token, body.clone()).await;
        let problem = assert_problem(res, 400).await;
        assert_eq!(problem_fields(&problem), [field], "{body}");
    }
    assert_eq!(own_profile(&app, &ada).await, before);

    let boss = admin(&app, "boss@example.com");
    let q = format!("%20{}", "q".repeat(100));
    let res = get(&app, &format!("/users?q={q}"), Some(&boss.token)).await;
    assert_eq!(problem_fields(&assert_problem(res, 400).await), ["q"]);

    // At the limit with the padding counted: accepted, stored trimmed.
    let name = format!(" {} ", "x".repeat(98));
    let changed = ok(patch(
        &app,
        &path(ada.id),
        &ada.token,
        json!({"name": name, "avatar": avatar}),
    )
    .await)
    .await;
    assert_eq!(changed["name"], "x".repeat(98));
    assert_eq!(changed["avatar"], avatar);
    app.shutdown().await;
}
