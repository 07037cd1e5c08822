use std::time::Duration;

use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn a_stream_gets_the_callers_new_notifications_within_a_second() {
    let app = app().await;
    let ada = user(&app, "ada");
    let bob = user(&app, "bob");
    let mut sse = Sse::open(&app, &ada.token).await;
    assert!(
        matches!(
            sse.next(Duration::from_secs(2)).await,
            Some(Block::Comment(_)) | Some(Block::Other(_))
        ),
        "an opening block"
    );
    feed_ready(&app, 1).await;

    // Someone else's first: the stream keeps only the caller's.
    in_app(&app, bob.id, "for bob").await;
    let stored = in_app(&app, ada.id, "for ada").await;
    let received = sse
        .next_notification(Duration::from_secs(1))
        .await
        .expect("the notification within a second");
    assert_eq!(received, stored);
    assert_notification_shape(&received);

    // E-mail notifications are pushed too, once, whatever the retries.
    registered(&app, &ada, None).await;
    let key = format!("job-{}", uuid::Uuid::new_v4());
    let payload = body(
        ada.id,
        "EMAIL",
        json!({"idempotencyKey": key, "message": "mail"}),
    );
    let mail = json_of(send(&app, payload.clone()).await, 201).await;
    json_of(send(&app, payload).await, 200).await;
    assert_eq!(
        sse.next_notification(Duration::from_secs(1)).await,
        Some(mail)
    );
    assert_eq!(
        sse.next_notification(Duration::from_millis(500)).await,
        None
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_bearer_header_works_too() {
    let app = app().await;
    let ada = user(&app, "ada");
    let res = app
        .client
        .get(app.url("/notifications/stream"))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    let mut sse = Sse::from_response(res);
    feed_ready(&app, 1).await;
    let stored = in_app(&app, ada.id, "hello").await;
    assert_eq!(
        sse.next_notification(Duration::from_secs(1)).await,
        Some(stored)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_without_a_valid_access_token_is_401() {
    let app = app().await;
    let service = service_token(&app);
    for query in [
        "".to_owned(),
        "?access_token=".to_owned(),
        "?access_token=garbage".to_owned(),
        format!("?access_token={service}"),
    ] {
        let res = get(&app, &format!("/notifications/stream{query}"), None).await;
        assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
        problem(res, 401).await;
    }
    let ada = user(&app, "ada");
    let res = get(
        &app,
        &format!("/notifications/stream?token={}", ada.token),
        None,
    )
    .await;
    assert_eq!(fields(&problem(res, 400).await), ["token"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_hears_notifications_stored_by_another_process() {
    // Two processes of one deployment: they share Redis (the key prefix), not a database.
    let prefix = format!("test:{}", random_hex(8));
    let here = app_with(&[("REDIS_PREFIX", &prefix)]).await;
    let there = app_with(&[("REDIS_PREFIX", &prefix)]).await;
    let ada = user(&here, "ada");
    let mut sse = Sse::open(&here, &ada.token).await;
    feed_ready(&here, 2).await;

    let stored = in_app(&there, ada.id, "from the other process").await;
    let received = sse
        .next_notification(Duration::from_secs(1))
        .await
        .expect("pushed across processes");
    assert_eq!(received, stored);
    there.shutdown().await;
    here.shutdown().await;
}

#[tokio::test]
async fn an_idle_stream_gets_keepalive_comments() {
    let app = app_with(&[("SSE_HEARTBEAT_INTERVAL", "200ms")]).await;
    let ada = user(&app, "ada");
    let mut sse = Sse::open(&app, &ada.token).await;
    let mut keepalives = 0;
    while keepalives < 2 {
        match sse.next(Duration::from_secs(2)).await {
            Some(Block::Comment(c)) if c == ": keepalive" => keepalives += 1,
            Some(_) => {}
            None => panic!("no keepalive within 2 s"),
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_at_once() {
    let app = app().await;
    let ada = user(&app, "ada");
    let mut sse = Sse::open(&app, &ada.token).await;
    feed_ready(&app, 1).await;
    let stopping = tokio::spawn(app.shutdown());
    // At once, not after SHUTDOWN_TIMEOUT (5 s): the graceful stop does not wait on streams.
    assert!(
        sse.ends_within(Duration::from_secs(1)).await,
        "the stream ended"
    );
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let app = app_with(&[("JWT_EXPIRES_IN", "2s")]).await;
    let ada = user(&app, "ada");
    let mut sse = Sse::open(&app, &ada.token).await;
    assert!(
        !sse.ends_within(Duration::from_millis(500)).await,
        "open for now"
    );
    assert!(
        sse.ends_within(Duration::from_secs(4)).await,
        "ended at expiry"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn one_user_may_hold_only_so_many_streams_open() {
    let app = app_with(&[
        ("SSE_MAX_STREAMS_PER_USER", "2"),
        ("SSE_HEARTBEAT_INTERVAL", "100ms"),
    ])
    .await;
    let ada = user(&app, "ada");
    let bob = user(&app, "bob");
    let first = Sse::open(&app, &ada.token).await;
    let _second = Sse::open(&app, &ada.token).await;
    let res = get(
        &app,
        &format!("/notifications/stream?access_token={}", ada.token),
        None,
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    let body = problem(res, 429).await;
    assert_eq!(body["type"], "urn:tessera:problem:rate-limited");
    // Another user is not affected.
    let _bob = Sse::open(&app, &bob.token).await;
    // A closed stream frees its place (the server notices at its next heartbeat at the latest).
    drop(first);
    eventually(Duration::from_secs(5), "a place to free up", || async {
        let res = get(
            &app,
            &format!("/notifications/stream?access_token={}", ada.token),
            None,
        )
        .await;
        (res.status() == 200).then_some(())
    })
    .await
    .unwrap();
    app.shutdown().await;
}
