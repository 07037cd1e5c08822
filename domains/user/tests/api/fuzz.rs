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
