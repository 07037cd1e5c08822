use serde_json::Value;

use super::helpers::*;

#[tokio::test]
async fn ready_checks_the_user_database_and_metrics_show_its_pool() {
    let app = app().await;
    let res = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["checks"]["database:user"], "ok");

    let ada = user(&app, "ada@example.com");
    own_profile(&app, &ada).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{domain="user",state="idle"}"#),
        "pool gauge"
    );
    app.shutdown().await;
}

#[test]
fn the_openapi_document_describes_every_route_with_its_errors() {
    let doc = serde_json::to_value(tessera_user::openapi()).unwrap();
    let paths = &doc["paths"];
    let expected = [
        ("/users", "get", vec!["200", "400", "401", "403"]),
        ("/users/{id}", "get", vec!["200", "400", "401", "404"]),
        (
            "/users/{id}",
            "patch",
            vec!["200", "400", "401", "403", "404", "413", "415"],
        ),
        (
            "/users/{id}",
            "delete",
            vec!["204", "400", "401", "403", "404"],
        ),
    ];
    for (path, method, statuses) in expected {
        let op = &paths[path][method];
        assert_eq!(op["tags"][0], "users", "{path} {method}");
        assert_eq!(
            op["security"][0]["bearer"],
            serde_json::json!([]),
            "{path} {method}"
        );
        let mut got: Vec<&str> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        got.sort_unstable();
        assert_eq!(got, statuses, "{path} {method}");
        for status in statuses.iter().filter(|s| s.starts_with('4')) {
            assert!(
                op["responses"][status]["content"]["application/problem+json"].is_object(),
                "{path} {method} {status}"
            );
        }
    }
    let params: Vec<&str> = paths["/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["page", "limit", "q"]);
    let profile = &doc["components"]["schemas"]["Profile"];
    let mut required: Vec<&str> = profile["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(
        required,
        [
            "avatar",
            "bio",
            "createdAt",
            "email",
            "id",
            "name",
            "role",
            "updatedAt",
            "userId"
        ],
        "every field is always present"
    );
}
