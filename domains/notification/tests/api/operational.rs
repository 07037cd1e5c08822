use std::time::Duration;

use serde_json::Value;

use super::helpers::*;

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = app().await;
    let health = json_of(get(&app, "/health", None).await, 200).await;
    assert_eq!(health["service"], "notification");

    let ready = json_of(get(&app, "/ready", None).await, 200).await;
    assert_eq!(ready["checks"]["database:notification"], "ok");
    assert_eq!(ready["checks"]["redis"], "ok");
    assert_eq!(ready["checks"]["live-feed"], "ok");
    assert_eq!(
        ready["checks"].as_object().unwrap().len(),
        3,
        "the mail server is not a readiness condition: {ready}"
    );

    let ada = user(&app, "ada");
    in_app(&app, ada.id, "hello").await;
    let metrics = get(&app, "/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"http_requests_total{method="POST",route="/notifications/send",status="201"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{domain="notification",state="idle"}"#),
        "pool gauge"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn ready_needs_no_mail_server() {
    let port = closed_port().to_string();
    let app = app_with(&[("SMTP_PORT", &port)]).await;
    let res = get(&app, "/ready", None).await;
    assert_eq!(res.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_database_that_is_down_makes_the_service_unready() {
    let app = app().await;
    let env = app
        .env
        .clone()
        .with(
            "NOTIFICATION_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/nowhere",
        )
        .with("DB_ACQUIRE_TIMEOUT", "300ms");
    let platform = tessera_app::server::platform(env, true).await.unwrap();
    let module = (tessera_notification::DOMAIN.build)(platform)
        .await
        .unwrap();
    let checks = tessera_app::module::ready_checks(module.as_ref());
    let results = tessera_app::module::run_checks(&checks, Duration::from_secs(2)).await;
    assert!(
        results
            .iter()
            .any(|(name, r)| name == "database:notification" && r.is_err())
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_has_every_route_and_marks_send_internal() {
    let doc = serde_json::to_value((tessera_notification::DOMAIN.openapi)()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/notifications",
            "/notifications/read-all",
            "/notifications/send",
            "/notifications/stream",
            "/notifications/{id}",
            "/notifications/{id}/read",
        ]
    );
    let send = &paths["/notifications/send"]["post"];
    assert_eq!(send["tags"], serde_json::json!(["internal"]));
    assert!(send["description"].as_str().unwrap().contains("Internal"));
    for code in ["200", "201", "400", "401", "410", "503"] {
        assert!(send["responses"][code].is_object(), "send {code}");
    }
    assert!(
        send["responses"]["422"].is_null(),
        "the mail server's refusal never reaches the caller"
    );
    let list = &paths["/notifications"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["unreadOnly", "page", "limit"]);
    assert!(
        doc["components"]["schemas"]["NotificationPageMeta"]["properties"]["unreadCount"]
            .is_object()
    );
    let stream: &Value = &paths["/notifications/stream"]["get"]["responses"]["200"]["content"];
    assert!(stream["text/event-stream"].is_object(), "{stream}");
}
