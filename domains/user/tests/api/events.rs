use std::time::Duration;

use serde_json::json;
use tessera_app::queue::Job;
use uuid::Uuid;

use super::helpers::*;

#[tokio::test]
async fn a_registration_event_creates_the_profile() {
    let app = app().await;
    let boss = admin(&app, "boss@example.com");
    let id = Uuid::new_v4();
    publish(&app, &registered_job(id, "ada@example.com", Some("Ada"))).await;
    profile_row(&app, id).await;

    let profile = ok(get(&app, &path(id), Some(&boss.token)).await).await;
    assert_profile_shape(&profile);
    assert_eq!(profile["userId"], id.to_string());
    assert_eq!(profile["email"], "ada@example.com");
    assert_eq!(profile["name"], "Ada");
    assert!(profile["bio"].is_null() && profile["avatar"].is_null());
    assert_eq!(profile["role"], "USER");
    assert_eq!(
        profile["createdAt"], "2026-11-25T10:00:00.000Z",
        "the account's creation time"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_registration_announced_twice_leaves_one_profile() {
    let app = app().await;
    let id = Uuid::new_v4();
    publish(&app, &registered_job(id, "bea@example.com", Some("Bea"))).await;
    publish(&app, &registered_job(id, "bea@example.com", Some("Bea"))).await;
    profile_row(&app, id).await;
    drained(&app, "user.registered").await;
    let rows = rows(&app, id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name.as_deref(), Some("Bea"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_job_is_processed_once() {
    let app = app().await;
    let id = Uuid::new_v4();
    let job = registered_job(id, "cy@example.com", None);
    publish(&app, &job).await;
    profile_row(&app, id).await;
    // Had the second delivery run, it would put the event's e-mail back.
    sql(
        &app,
        &format!("UPDATE profiles SET email = 'moved@example.com' WHERE user_id = '{id}'"),
    )
    .await;

    publish(&app, &job).await;
    drained(&app, "user.registered").await;
    let rows = rows(&app, id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].email, "moved@example.com");
    app.shutdown().await;
}

#[tokio::test]
async fn a_late_registration_completes_the_profile_a_first_read_made() {
    let app = app().await;
    // Two owners read before their events arrive; one of them also names themself.
    let dee = user(&app, "old-dee@example.com");
    let eve = user(&app, "old-eve@example.com");
    let first = own_profile(&app, &dee).await;
    assert!(first["name"].is_null());
    own_profile(&app, &eve).await;
    ok(patch(&app, &path(eve.id), &eve.token, json!({"name": "Evie"})).await).await;

    publish(
        &app,
        &registered_job(dee.id, "dee@example.com", Some("Dee")),
    )
    .await;
    publish(
        &app,
        &registered_job(eve.id, "eve@example.com", Some("Eve")),
    )
    .await;
    for (id, email) in [(dee.id, "dee@example.com"), (eve.id, "eve@example.com")] {
        eventually(Duration::from_secs(10), "the event applied", || async {
            (rows(&app, id).await.first()?.email == email).then_some(())
        })
        .await
        .unwrap();
    }

    let dee_now = own_profile(&app, &dee).await;
    assert_eq!(dee_now["id"], first["id"], "the same profile");
    assert_eq!(
        dee_now["email"], "dee@example.com",
        "the event's e-mail wins"
    );
    assert_eq!(dee_now["name"], "Dee", "a missing name is filled in");
    let eve_now = own_profile(&app, &eve).await;
    assert_eq!(eve_now["email"], "eve@example.com");
    assert_eq!(eve_now["name"], "Evie", "the owner's name is kept");
    assert_eq!(rows(&app, dee.id).await.len(), 1);
    assert_eq!(rows(&app, eve.id).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_registration_never_revives_a_deleted_profile() {
    let app = app().await;
    let boss = admin(&app, "boss@example.com");
    let fay = user(&app, "fay@example.com");
    own_profile(&app, &fay).await;
    assert_eq!(
        delete(&app, &path(fay.id), Some(&boss.token))
            .await
            .status(),
        204
    );

    publish(
        &app,
        &registered_job(fay.id, "fay-new@example.com", Some("Fay")),
    )
    .await;
    drained(&app, "user.registered").await;
    let rows = rows(&app, fay.id).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].deleted);
    assert_eq!(rows[0].email, "fay@example.com");
    assert_eq!(rows[0].name, None);
    problem(get(&app, &path(fay.id), Some(&fay.token)).await, 404).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_payload_is_dead_lettered_without_retries() {
    let mut app = app().await;
    app.expect_dead_letters();
    publish(
        &app,
        &Job::new("user.registered", json!({"userId": "not-a-uuid"})),
    )
    .await;
    publish(
        &app,
        &Job::new("user.role_changed", json!({"role": "ADMIN"})),
    )
    .await;
    for topic in ["user.registered", "user.role_changed"] {
        eventually(Duration::from_secs(10), "the dead letter", || async {
            (dead(&app, topic).await == 1).then_some(())
        })
        .await
        .unwrap();
    }
    let dead = app.platform.queue.list_dead().await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter().all(|d| d.attempts == 1 && d.group == "user"),
        "{dead:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_role_change_updates_the_role() {
    let app = app().await;
    let gus = user(&app, "gus@example.com");
    let before = own_profile(&app, &gus).await;
    assert_eq!(before["role"], "USER");

    let change = json!({"userId": gus.id, "role": "ADMIN"});
    publish(&app, &Job::new("user.role_changed", change)).await;
    eventually(Duration::from_secs(10), "the new role", || async {
        let p = own_profile(&app, &gus).await;
        (p["role"] == "ADMIN").then_some(())
    })
    .await
    .unwrap();

    let back = json!({"userId": gus.id, "role": "USER"});
    publish(&app, &Job::new("user.role_changed", back)).await;
    eventually(Duration::from_secs(10), "the role back", || async {
        let p = own_profile(&app, &gus).await;
        (p["role"] == "USER").then_some(())
    })
    .await
    .unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn a_role_change_that_beats_the_registration_is_retried_until_it_lands() {
    // A long backoff so the failed first attempt is seen waiting before the registration.
    let app = app_with(&[("QUEUE_BASE_BACKOFF", "1s"), ("QUEUE_MAX_BACKOFF", "1s")]).await;
    let id = Uuid::new_v4();
    publish(
        &app,
        &Job::new("user.role_changed", json!({"userId": id, "role": "ADMIN"})),
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "a retry to be scheduled",
        || async {
            let stats = app.platform.queue.stats().await.ok()?;
            stats
                .iter()
                .any(|s| s.topic == "user.role_changed" && s.delayed == 1)
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert!(rows(&app, id).await.is_empty());

    publish(&app, &registered_job(id, "hal@example.com", None)).await;
    eventually(Duration::from_secs(10), "the role to follow", || async {
        let rows = rows(&app, id).await;
        (rows.first()?.role == "ADMIN").then_some(())
    })
    .await
    .unwrap();
    drained(&app, "user.role_changed").await;
    assert_eq!(dead(&app, "user.role_changed").await, 0);
    app.shutdown().await;
}
