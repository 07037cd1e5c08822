use std::time::Duration;

use serde_json::Value;

use super::helpers::*;

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = app().await;
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "auth");
    assert!(health["version"].is_string());

    let res = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["checks"]["database:auth"], "ok");
    assert_eq!(ready["checks"]["redis"], "ok");

    register(&app, "quinn@example.com", "password123").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"http_requests_total{method="POST",route="/auth/register",status="201"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{domain="auth",state="idle"}"#),
        "pool gauge"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_database_that_goes_away_answers_503_and_the_service_recovers() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use serde_json::json;
    let app = app_with(&[("DB_ACQUIRE_TIMEOUT", "500ms")]).await;
    register(&app, "sam@example.com", "password123").await;
    let url = app.database_url("auth");
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = AsyncPgConnection::establish(&tessera_app::testkit::admin_url())
        .await
        .unwrap();
    let set_allowed =
        |allowed: bool| format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {allowed}");
    diesel::sql_query(set_allowed(false))
        .execute(&mut admin)
        .await
        .unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();

    let res = post(
        &app,
        "/auth/login",
        json!({"email": "sam@example.com", "password": "password123"}),
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    let body = problem(res, 503).await;
    assert_eq!(body["type"], "urn:tessera:problem:unavailable");
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    let body = problem(ready, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("database:auth"),
        "{body}"
    );

    diesel::sql_query(set_allowed(true))
        .execute(&mut admin)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "the service to recover",
        || async {
            let res = post(
                &app,
                "/auth/login",
                json!({"email": "sam@example.com", "password": "password123"}),
            )
            .await;
            (res.status() == 200).then_some(())
        },
    )
    .await
    .unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_database_that_is_down_makes_the_service_unready_and_requests_503() {
    // An auth database URL that points at a closed port: the pool cannot connect.
    let app = app().await;
    let env = app
        .env
        .clone()
        .with(
            "AUTH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/nowhere",
        )
        .with("DB_ACQUIRE_TIMEOUT", "300ms");
    let platform = tessera_app::server::platform(env.clone(), true)
        .await
        .unwrap();
    let module = (tessera_auth::DOMAIN.build)(platform).await.unwrap();
    let checks = tessera_app::module::ready_checks(module.as_ref());
    let results = tessera_app::module::run_checks(&checks, Duration::from_secs(2)).await;
    assert!(
        results
            .iter()
            .any(|(name, r)| name == "database:auth" && r.is_err())
    );
    app.shutdown().await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_valid_and_generated_otherwise() {
    let app = app().await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123_x.y")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123_x.y");
    for bad in ["has space", "semi;colon", &"x".repeat(65)] {
        let res = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_outbox_relay_publishes_registrations_to_the_stream() {
    use fred::prelude::StreamsInterface;
    let app = app().await;
    let reg = register(&app, "rita@example.com", "password123").await;
    let stream = app.platform.queue.stream_key("user.registered");
    let entry = eventually(
        Duration::from_secs(10),
        "the event on the stream",
        || async {
            let entries: Vec<(String, std::collections::HashMap<String, String>)> = app
                .platform
                .redis
                .xrange(&stream, "-", "+", None)
                .await
                .ok()?;
            entries.into_iter().next()
        },
    )
    .await
    .unwrap();
    let job: Value = serde_json::from_str(&entry.1["job"]).unwrap();
    assert_eq!(job["name"], "user.registered");
    assert_eq!(job["data"]["userId"], reg["user"]["id"]);
    assert_eq!(job["attempt"], 1);
    app.shutdown().await;
}
