use serde_json::{Value, json};

use super::helpers::*;

fn is_millis_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 24 && s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
    })
}

#[tokio::test]
async fn create_answers_201_with_the_whole_task_its_defaults_and_location() {
    let app = app().await;
    let ada = user(&app);
    let res =
        send(post(&app, &ada, "/tasks").json(&json!({"title": "  Write the report  "}))).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = res.json().await.unwrap();

    let fields: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "id",
        "userId",
        "title",
        "description",
        "status",
        "priority",
        "dueDate",
        "createdAt",
        "updatedAt",
        "completedAt",
    ];
    expected.sort_unstable();
    let mut sorted = fields.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "{task}");

    let id = uuid::Uuid::parse_str(task["id"].as_str().unwrap()).unwrap();
    assert_eq!(location, format!("/tasks/{id}"));
    assert_eq!(task["userId"], ada.id.to_string());
    assert_eq!(task["title"], "Write the report", "stored trimmed");
    assert_eq!(task["description"], Value::Null);
    assert_eq!(task["status"], "PENDING");
    assert_eq!(task["priority"], "MEDIUM");
    assert_eq!(task["dueDate"], Value::Null);
    assert_eq!(task["completedAt"], Value::Null);
    assert!(is_millis_timestamp(&task["createdAt"]), "{task}");
    assert!(is_millis_timestamp(&task["updatedAt"]), "{task}");

    // The Location leads to the same task.
    let fetched: Value = send(get(&app, &ada, &location)).await.json().await.unwrap();
    assert_eq!(fetched, task);
    app.shutdown().await;
}

#[tokio::test]
async fn create_takes_every_optional_field_and_normalises_the_due_date_to_utc() {
    let app = app().await;
    let ada = user(&app);
    let task = create(
        &app,
        &ada,
        json!({
            "title": "Ship",
            "description": "All of it",
            "priority": "URGENT",
            "dueDate": "2026-12-01T18:30:00.5+01:00",
        }),
    )
    .await;
    assert_eq!(task["description"], "All of it");
    assert_eq!(task["priority"], "URGENT");
    assert_eq!(task["dueDate"], "2026-12-01T17:30:00.500Z");
    let edge = create(
        &app,
        &ada,
        json!({"title": "t".repeat(200), "description": "d".repeat(5000)}),
    )
    .await;
    assert_eq!(edge["title"].as_str().unwrap().chars().count(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn each_invalid_create_names_its_field_and_creates_nothing() {
    let app = app().await;
    let ada = user(&app);
    let cases = [
        (json!({"title": ""}), vec!["title"]),
        (json!({"title": "   \t "}), vec!["title"]),
        // Invisible characters alone look exactly like an empty title.
        (json!({"title": "\u{200B}\u{2060}\u{FEFF}"}), vec!["title"]),
        (
            json!({"title": " \u{00AD} \u{200D}\u{180E} "}),
            vec!["title"],
        ),
        (json!({"title": "x".repeat(201)}), vec!["title"]),
        (
            json!({"title": "ok", "description": "d".repeat(5001)}),
            vec!["description"],
        ),
        (json!({"title": "ok", "priority": "SOON"}), vec!["priority"]),
        (json!({"title": "ok", "priority": "high"}), vec!["priority"]),
        (
            json!({"title": "ok", "dueDate": "tomorrow"}),
            vec!["dueDate"],
        ),
        (
            json!({"title": "ok", "dueDate": "2026-13-01T00:00:00Z"}),
            vec!["dueDate"],
        ),
        (
            json!({"title": "ok", "status": "COMPLETED"}),
            vec!["status"],
        ),
        (json!({"description": "no title"}), vec!["title"]),
        (
            json!({"title": "", "priority": "x", "dueDate": "y"}),
            vec!["title", "priority", "dueDate"],
        ),
    ];
    for (body, fields) in cases {
        let res = send(post(&app, &ada, "/tasks").json(&body)).await;
        let problem = problem(res, 400).await;
        assert_eq!(problem["type"], "urn:tessera:problem:validation", "{body}");
        assert_eq!(named_fields(&problem), fields, "{body} -> {problem}");
    }

    // Malformed JSON and a wrong type are 400s as well.
    let res = send(
        post(&app, &ada, "/tasks")
            .header("content-type", "application/json")
            .body("{\"title\": "),
    )
    .await;
    problem(res, 400).await;
    let res = send(post(&app, &ada, "/tasks").json(&json!({"title": 5}))).await;
    problem(res, 400).await;

    assert_eq!(count(&app, "SELECT count(*) AS n FROM tasks").await, 0);
    assert!(outbox(&app, "task.created").await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn every_route_needs_a_user_access_token() {
    let app = app().await;
    let ada = user(&app);
    let task = create_titled(&app, &ada, "mine").await;
    let path = task_path(&task["id"]);
    let service = app.platform.tokens.issue_service("worker").unwrap();
    for token in [None, Some("not-a-jwt".to_owned()), Some(service)] {
        let with = |req: reqwest::RequestBuilder| match &token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let c = &app.client;
        let requests = [
            with(c.post(app.url("/tasks")).json(&json!({"title": "x"}))),
            with(c.get(app.url("/tasks"))),
            with(c.get(app.url(&path))),
            with(c.patch(app.url(&path)).json(&json!({"title": "x"}))),
            with(c.delete(app.url(&path))),
        ];
        for req in requests {
            let res = send(req).await;
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
            problem(res, 401).await;
        }
    }
    assert_eq!(count(&app, "SELECT count(*) AS n FROM tasks").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_method_is_405_and_operational_routes_answer() {
    let app = app().await;
    let ada = user(&app);
    let res = send(app.client.put(app.url("/tasks")).bearer_auth(&ada.token)).await;
    problem(res, 405).await;
    let res = send(post(
        &app,
        &ada,
        &format!("/tasks/{}", uuid::Uuid::new_v4()),
    ))
    .await;
    problem(res, 405).await;

    let res = send(app.client.get(app.url("/ready"))).await;
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["checks"]["database:task"], "ok");

    create_titled(&app, &ada, "counted").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"http_requests_total{method="POST",route="/tasks",status="201"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{domain="task",state="idle"}"#),
        "pool gauge"
    );
    app.shutdown().await;
}

#[test]
fn the_openapi_document_lists_every_route_and_its_errors() {
    let doc = serde_json::to_value(tessera_task::openapi()).unwrap();
    let paths = &doc["paths"];
    for (path, method, statuses) in [
        ("/tasks", "post", &["201", "400", "401", "409"][..]),
        ("/tasks", "get", &["200", "400", "401"][..]),
        ("/tasks/{id}", "get", &["200", "400", "401", "404"][..]),
        ("/tasks/{id}", "patch", &["200", "400", "401", "404"][..]),
        ("/tasks/{id}", "delete", &["204", "400", "401", "404"][..]),
    ] {
        let op = &paths[path][method];
        assert_eq!(op["tags"][0], "tasks", "{method} {path}");
        assert!(op["security"][0].get("bearer").is_some(), "{method} {path}");
        for status in statuses {
            let response = &op["responses"][status];
            assert!(response.is_object(), "{method} {path} {status}");
            if status.starts_with('4') {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
    let create = &paths["/tasks"]["post"];
    assert!(
        create["responses"]["201"]["headers"]["Location"].is_object(),
        "{create}"
    );
    let params: Vec<&str> = paths["/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        ["status", "priority", "q", "page", "limit", "sort"],
        "{params:?}"
    );
    // Every task field is always present (null when empty).
    assert_eq!(
        doc["components"]["schemas"]["Task"]["required"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // Every referenced schema is defined in the document.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
}
