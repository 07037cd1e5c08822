//! Regressions found by the contract fuzzer (`just fuzz`).

use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn text_with_a_nul_character_is_a_400_naming_the_field_not_a_500() {
    let app = app().await;
    let ada = user(&app);
    for (body, field) in [
        (json!({"title": "a\u{0}b"}), "title"),
        (
            json!({"title": "ok", "description": "x\u{0}"}),
            "description",
        ),
    ] {
        let res = send(post(&app, &ada, "/tasks").json(&body)).await;
        let body = problem(res, 400).await;
        assert_eq!(named_fields(&body), [field], "{body}");
    }
    let task = create_titled(&app, &ada, "Fine").await;
    for body in [json!({"title": "\u{0}"}), json!({"description": "a\u{0}"})] {
        let res = send(patch(&app, &ada, &task_path(&task["id"])).json(&body)).await;
        problem(res, 400).await;
    }
    let res = send(get(&app, &ada, "/tasks?q=a%00b")).await;
    let body = problem(res, 400).await;
    assert_eq!(named_fields(&body), ["q"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_json_array_is_not_a_task_body() {
    let app = app().await;
    let ada = user(&app);
    let res = send(post(&app, &ada, "/tasks").json(&json!(["Write the report"]))).await;
    let body = problem(res, 400).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("expected a JSON object"),
        "{body}"
    );
    let task = create_titled(&app, &ada, "Fine").await;
    let res = send(patch(&app, &ada, &task_path(&task["id"])).json(&json!(["Other"]))).await;
    problem(res, 400).await;
    app.shutdown().await;
}
