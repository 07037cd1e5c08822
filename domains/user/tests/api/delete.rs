use std::collections::HashMap;
use std::time::Duration;

use fred::prelude::StreamsInterface;
use futures_util::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

use super::helpers::*;

#[tokio::test]
async fn an_admin_deletes_a_user_once_and_announces_it_with_the_request_id() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    let bob = user(&app, "bob@example.com");
    own_profile(&app, &ada).await;
    own_profile(&app, &bob).await;
    let boss = admin(&app, "boss@example.com");

    let res = app
        .client
        .delete(app.url(&path(ada.id)))
        .bearer_auth(&boss.token)
        .header("x-request-id", "del-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["x-request-id"], "del-test-1");
    assert!(res.bytes().await.unwrap().is_empty());

    // Gone for everyone, including its owner, and never recreated by the owner's read or write.
    problem(get(&app, &path(ada.id), Some(&boss.token)).await, 404).await;
    problem(get(&app, &path(ada.id), Some(&ada.token)).await, 404).await;
    problem(
        patch(&app, &path(ada.id), &ada.token, json!({"name": "Ada"})).await,
        404,
    )
    .await;
    let stored = rows(&app, ada.id).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].deleted);
    assert_eq!(stored[0].name, None);

    // Out of every list.
    let list: Value = ok(app
        .client
        .get(app.url("/users"))
        .bearer_auth(&boss.token)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["data"][0]["email"], "bob@example.com");
    let found: Value = ok(app
        .client
        .get(app.url("/users"))
        .query(&[("q", "ada")])
        .bearer_auth(&boss.token)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(found["meta"]["total"], 0);

    // A second delete finds nothing and announces nothing.
    problem(delete(&app, &path(ada.id), Some(&boss.token)).await, 404).await;

    let rows = outbox(&app).await;
    assert_eq!(rows.len(), 1, "exactly one event");
    assert_eq!(rows[0].topic, "user.deleted");
    assert_eq!(rows[0].request_id.as_deref(), Some("del-test-1"));
    assert_eq!(rows[0].payload["userId"], ada.id.to_string());
    let deleted_at = rows[0].payload["deletedAt"].as_str().unwrap();
    assert!(
        deleted_at.len() == 24 && deleted_at.ends_with('Z'),
        "{deleted_at}"
    );
    assert_eq!(rows[0].payload.as_object().unwrap().len(), 2);

    // The relay carries it to the stream, request id and all.
    let stream = app.platform.queue.stream_key("user.deleted");
    let job = eventually(
        Duration::from_secs(10),
        "user.deleted on the stream",
        || async {
            let entries: Vec<(String, HashMap<String, String>)> = app
                .platform
                .redis
                .xrange(&stream, "-", "+", None)
                .await
                .ok()?;
            let (_, fields) = entries.into_iter().next()?;
            serde_json::from_str::<Value>(fields.get("job")?).ok()
        },
    )
    .await
    .unwrap();
    assert_eq!(job["name"], "user.deleted");
    assert_eq!(job["requestId"], "del-test-1");
    assert_eq!(job["data"]["userId"], ada.id.to_string());
    app.shutdown().await;
}

#[tokio::test]
async fn only_admins_delete() {
    let app = app().await;
    let cy = user(&app, "cy@example.com");
    let dee = user(&app, "dee@example.com");
    let before = own_profile(&app, &cy).await;

    for token in [&cy.token, &dee.token] {
        let body = problem(delete(&app, &path(cy.id), Some(token)).await, 403).await;
        assert_eq!(body["type"], "urn:tessera:problem:forbidden");
    }
    let res = delete(&app, &path(cy.id), None).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res, 401).await;

    assert_eq!(own_profile(&app, &cy).await, before);
    assert!(outbox(&app).await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn deleting_an_unknown_user_is_a_404() {
    let app = app().await;
    let boss = admin(&app, "boss@example.com");
    let body = problem(
        delete(&app, &path(Uuid::new_v4()), Some(&boss.token)).await,
        404,
    )
    .await;
    assert_eq!(body["type"], "urn:tessera:problem:not-found");
    assert!(outbox(&app).await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_deletes_succeed_once_and_announce_once() {
    let app = app().await;
    let eve = user(&app, "eve@example.com");
    own_profile(&app, &eve).await;
    let boss = admin(&app, "boss@example.com");
    let p = path(eve.id);
    let statuses: Vec<u16> = join_all((0..5).map(|_| delete(&app, &p, Some(&boss.token))))
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(outbox(&app).await.len(), 1);
    app.shutdown().await;
}
