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

/// Found by the bounded contract run: a 201-character title starting with a tab was trimmed to
/// 200 and stored, while the document's `maxLength: 200` counts the string as sent.
#[tokio::test]
async fn length_limits_count_the_text_as_sent_and_a_refusal_changes_nothing() {
    let app = app().await;
    let ada = user(&app);
    let padded_title = format!("\t{}", "x".repeat(200));
    let res = send(post(&app, &ada, "/tasks").json(&json!({"title": padded_title}))).await;
    assert_eq!(named_fields(&problem(res, 400).await), ["title"]);
    let res = send(post(&app, &ada, "/tasks").json(&json!({
        "title": "ok",
        "description": format!(" {}", "d".repeat(5000)),
    })))
    .await;
    assert_eq!(named_fields(&problem(res, 400).await), ["description"]);
    assert_eq!(list(&app, &ada, "/tasks").await["meta"]["total"], 0);

    let task = create_titled(&app, &ada, "Fine").await;
    let res =
        send(patch(&app, &ada, &task_path(&task["id"])).json(&json!({"title": padded_title})))
            .await;
    assert_eq!(named_fields(&problem(res, 400).await), ["title"]);
    assert_eq!(
        stored(&app, &ada, &task["id"]).await,
        task,
        "the refused change left the task as it was"
    );

    let q = format!("%20{}", "q".repeat(200));
    let res = send(get(&app, &ada, &format!("/tasks?q={q}"))).await;
    assert_eq!(named_fields(&problem(res, 400).await), ["q"]);

    // At the limit with the padding counted, the text is accepted and stored trimmed.
    let edge = create_titled(&app, &ada, &format!(" {} ", "x".repeat(198))).await;
    assert_eq!(edge["title"], "x".repeat(198));
    let q = format!("%20{}%20", "x".repeat(198));
    assert_eq!(
        list(&app, &ada, &format!("/tasks?q={q}")).await["meta"]["total"],
        1
    );
    app.shutdown().await;
}
