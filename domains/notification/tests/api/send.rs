use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::helpers::*;

#[tokio::test]
async fn send_requires_a_service_token() {
    let app = app().await;
    let ada = user(&app, "ada");
    let payload = body(ada.id, "IN_APP", json!({}));

    let none = app
        .client
        .post(app.url("/notifications/send"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(
        none.headers().get("www-authenticate").unwrap(),
        "Bearer",
        "a token error says how to authenticate"
    );
    problem(none, 401).await;

    let as_user = app
        .client
        .post(app.url("/notifications/send"))
        .bearer_auth(&ada.token)
        .json(&payload)
        .send()
        .await
        .unwrap();
    problem(as_user, 401).await;
    assert!(stored(&app, ada.id).await.is_empty());

    json_of(send(&app, payload).await, 201).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_in_app_notification_is_stored_answered_and_listed() {
    let app = app().await;
    let ada = user(&app, "ada");
    let res = send(
        &app,
        body(
            ada.id,
            "IN_APP",
            json!({"type": "SUCCESS", "subject": " New Task Created ", "message": "Write the report"}),
        ),
    )
    .await;
    let created = json_of(res, 201).await;
    assert_notification_shape(&created);
    assert_eq!(created["userId"], ada.id.to_string());
    assert_eq!(created["type"], "SUCCESS");
    assert_eq!(created["channel"], "IN_APP");
    assert_eq!(created["subject"], "New Task Created", "trimmed");
    assert_eq!(created["message"], "Write the report");
    assert_eq!(created["read"], false);

    let list = json_of(get(&app, "/notifications", Some(&ada.token)).await, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0], created);
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_bodies_are_400_naming_every_field() {
    let app = app().await;
    let id = Uuid::new_v4();
    let res = send(
        &app,
        body(
            id,
            "EMAIL",
            json!({
                "message": "   ",
                "subject": "s".repeat(201),
                "template": "welcome",
                "idempotencyKey": "",
            }),
        ),
    )
    .await;
    let p = problem(res, 400).await;
    assert_eq!(p["type"], "urn:tessera:problem:validation");
    assert_eq!(
        fields(&p),
        ["message", "subject", "idempotencyKey", "template"]
    );

    let p = problem(
        send(
            &app,
            body(id, "IN_APP", json!({"message": "m".repeat(5001)})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), ["message"]);

    let p = problem(
        send(
            &app,
            body(id, "EMAIL", json!({"idempotencyKey": "k".repeat(201)})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), ["idempotencyKey"]);

    let p = problem(
        send(
            &app,
            body(
                id,
                "EMAIL",
                json!({"template": "password-reset", "data": {"expiresInMinutes": 30}}),
            ),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), ["data.resetUrl"]);

    // Typos never pass silently, and enum values are SCREAMING_CASE.
    let p = problem(
        send(&app, body(id, "IN_APP", json!({"priority": "HIGH"}))).await,
        400,
    )
    .await;
    assert_eq!(fields(&p), ["priority"]);
    problem(send(&app, body(id, "in_app", json!({}))).await, 400).await;
    assert!(stored(&app, id).await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_twice_stores_once() {
    let app = app().await;
    let ada = user(&app, "ada");
    let key = format!("job-{}", Uuid::new_v4());
    let first = json_of(
        send(
            &app,
            body(
                ada.id,
                "IN_APP",
                json!({"idempotencyKey": key, "message": "first"}),
            ),
        )
        .await,
        201,
    )
    .await;
    // A repeat answers the first notification, even when its body differs.
    let again = json_of(
        send(
            &app,
            body(
                ada.id,
                "IN_APP",
                json!({"idempotencyKey": key, "message": "second"}),
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again, first);
    assert_eq!(stored(&app, ada.id).await.len(), 1);

    // Without a key every call stores.
    in_app(&app, ada.id, "no key").await;
    in_app(&app, ada.id, "no key").await;
    assert_eq!(stored(&app, ada.id).await.len(), 3);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_with_one_key_store_one_notification() {
    let app = app().await;
    let ada = user(&app, "ada");
    let key = format!("job-{}", Uuid::new_v4());
    let calls = (0..6).map(|_| send(&app, body(ada.id, "IN_APP", json!({"idempotencyKey": key}))));
    let answers = futures_util::future::join_all(calls).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 201]);
    assert_eq!(stored(&app, ada.id).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let app = app().await;
    let token = service_token(&app);
    for (method, path) in [
        (Method::GET, "/notifications/send"),
        (Method::PUT, "/notifications"),
        (Method::GET, "/notifications/read-all"),
        (Method::POST, "/notifications/stream"),
    ] {
        let res = request(&app, method.clone(), path, Some(&token)).await;
        problem(res, 405).await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_idempotency_key_for_two_users_stores_two_notifications() {
    let app = app().await;
    let ada = user(&app, "ada");
    let bob = user(&app, "bob");
    let key = format!("job-{}", Uuid::new_v4());
    let for_ada = json_of(
        send(
            &app,
            body(
                ada.id,
                "IN_APP",
                json!({"idempotencyKey": key, "message": "for ada"}),
            ),
        )
        .await,
        201,
    )
    .await;
    // Another user's call with the same key is not a repeat: it stores, and never answers
    // with the first user's notification.
    let for_bob = json_of(
        send(
            &app,
            body(
                bob.id,
                "IN_APP",
                json!({"idempotencyKey": key, "message": "for bob"}),
            ),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(for_bob["userId"], bob.id.to_string());
    assert_eq!(for_bob["message"], "for bob");
    assert_ne!(for_bob["id"], for_ada["id"]);
    assert_eq!(stored(&app, ada.id).await.len(), 1);
    assert_eq!(stored(&app, bob.id).await.len(), 1);
    // Each user's repeat still finds their own.
    let again = json_of(
        send(&app, body(bob.id, "IN_APP", json!({"idempotencyKey": key}))).await,
        200,
    )
    .await;
    assert_eq!(again, for_bob);
    app.shutdown().await;
}

#[tokio::test]
async fn a_service_token_issued_in_the_future_is_refused() {
    let app = app().await;
    let ada = user(&app, "ada");
    let secret = app.env.get("INTERNAL_JWT_SECRET").unwrap().to_owned();
    // Five minutes by its own claims, usable for a day and five minutes from now.
    let iat = chrono::Utc::now().timestamp() + 86_400;
    let claims = json!({
        "sub": "worker", "typ": "service", "iss": "tessera-internal", "aud": "tessera-internal",
        "iat": iat, "exp": iat + 300, "jti": Uuid::new_v4(),
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let res = app
        .client
        .post(app.url("/notifications/send"))
        .bearer_auth(token)
        .json(&body(ada.id, "IN_APP", json!({})))
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    assert!(stored(&app, ada.id).await.is_empty());
    app.shutdown().await;
}
