use reqwest::Method;
use serde_json::Value;

use super::helpers::*;

async fn page(app: &TestApp, who: &Caller, query: &str) -> Value {
    json_of(
        get(app, &format!("/notifications{query}"), Some(&who.token)).await,
        200,
    )
    .await
}

fn messages(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_is_the_callers_newest_first_in_pages_with_the_unread_count() {
    let app = app().await;
    let ada = user(&app, "ada");
    let bob = user(&app, "bob");
    for i in 1..=5 {
        in_app(&app, ada.id, &format!("ada {i}")).await;
    }
    in_app(&app, bob.id, "bob 1").await;

    let first = page(&app, &ada, "?limit=2").await;
    assert_eq!(messages(&first), ["ada 5", "ada 4"]);
    for n in first["data"].as_array().unwrap() {
        assert_notification_shape(n);
    }
    assert_eq!(
        first["meta"],
        serde_json::json!({"page": 1, "limit": 2, "total": 5, "totalPages": 3, "unreadCount": 5})
    );
    let last = page(&app, &ada, "?page=3&limit=2").await;
    assert_eq!(messages(&last), ["ada 1"]);
    let past = page(&app, &ada, "?page=4&limit=2").await;
    assert!(past["data"].as_array().unwrap().is_empty());
    assert_eq!(past["meta"]["total"], 5);

    let defaults = page(&app, &ada, "").await;
    assert_eq!(defaults["meta"]["page"], 1);
    assert_eq!(defaults["meta"]["limit"], 10);
    assert_eq!(messages(&page(&app, &bob, "").await), ["bob 1"]);
    app.shutdown().await;
}

#[tokio::test]
async fn unread_only_filters_and_read_marks_count_down() {
    let app = app().await;
    let ada = user(&app, "ada");
    let first = in_app(&app, ada.id, "one").await;
    in_app(&app, ada.id, "two").await;
    in_app(&app, ada.id, "three").await;

    let path = format!("/notifications/{}/read", first["id"].as_str().unwrap());
    let read = json_of(
        request(&app, Method::PATCH, &path, Some(&ada.token)).await,
        200,
    )
    .await;
    assert_eq!(read["read"], true);
    assert_eq!(read["id"], first["id"]);
    // Again is fine.
    json_of(
        request(&app, Method::PATCH, &path, Some(&ada.token)).await,
        200,
    )
    .await;

    let unread = page(&app, &ada, "?unreadOnly=true").await;
    assert_eq!(messages(&unread), ["three", "two"]);
    assert_eq!(unread["meta"]["total"], 2);
    assert_eq!(unread["meta"]["unreadCount"], 2);
    let all = page(&app, &ada, "?unreadOnly=false").await;
    assert_eq!(all["meta"]["total"], 3);
    assert_eq!(all["meta"]["unreadCount"], 2);

    let res = request(
        &app,
        Method::POST,
        "/notifications/read-all",
        Some(&ada.token),
    )
    .await;
    assert_eq!(res.status(), 204);
    let all = page(&app, &ada, "").await;
    assert_eq!(all["meta"]["unreadCount"], 0);
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read"] == true)
    );
    assert!(
        page(&app, &ada, "?unreadOnly=true").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_or_unknown_parameters_are_400_naming_them() {
    let app = app().await;
    let ada = user(&app, "ada");
    for (query, field) in [
        ("?page=0", "page"),
        ("?page=abc", "page"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?unreadOnly=yes", "unreadOnly"),
        ("?unread_only=true", "unread_only"),
        ("?sort=createdAt", "sort"),
        ("?page=1&page=2", "page"),
    ] {
        let res = get(&app, &format!("/notifications{query}"), Some(&ada.token)).await;
        let p = problem(res, 400).await;
        assert_eq!(fields(&p), [field], "{query}: {p}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn another_users_notification_is_404_for_read_and_delete() {
    let app = app().await;
    let ada = user(&app, "ada");
    let eve = user(&app, "eve");
    let n = in_app(&app, ada.id, "private").await;
    let id = n["id"].as_str().unwrap();

    let read = format!("/notifications/{id}/read");
    let one = format!("/notifications/{id}");
    problem(
        request(&app, Method::PATCH, &read, Some(&eve.token)).await,
        404,
    )
    .await;
    problem(
        request(&app, Method::DELETE, &one, Some(&eve.token)).await,
        404,
    )
    .await;
    // read-all only touches the caller's own.
    request(
        &app,
        Method::POST,
        "/notifications/read-all",
        Some(&eve.token),
    )
    .await;
    assert_eq!(page(&app, &ada, "").await["meta"]["unreadCount"], 1);

    let unknown = format!("/notifications/{}", uuid::Uuid::new_v4());
    problem(
        request(&app, Method::DELETE, &unknown, Some(&ada.token)).await,
        404,
    )
    .await;
    problem(
        request(
            &app,
            Method::DELETE,
            "/notifications/nope",
            Some(&ada.token),
        )
        .await,
        400,
    )
    .await;

    let res = request(&app, Method::DELETE, &one, Some(&ada.token)).await;
    assert_eq!(res.status(), 204);
    problem(
        request(&app, Method::DELETE, &one, Some(&ada.token)).await,
        404,
    )
    .await;
    assert!(
        page(&app, &ada, "").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.shutdown().await;
}

#[tokio::test]
async fn user_routes_refuse_missing_and_service_tokens() {
    let app = app().await;
    let service = service_token(&app);
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, "/notifications".to_owned()),
        (Method::POST, "/notifications/read-all".to_owned()),
        (Method::PATCH, format!("/notifications/{id}/read")),
        (Method::DELETE, format!("/notifications/{id}")),
    ] {
        for token in [None, Some(service.as_str()), Some("garbage")] {
            let res = request(&app, method.clone(), &path, token).await;
            assert_eq!(
                res.headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{method} {path}"
            );
            problem(res, 401).await;
        }
    }
    app.shutdown().await;
}
