use futures_util::future::join_all;
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

use super::helpers::*;

#[tokio::test]
async fn the_owners_first_read_creates_the_profile_from_the_token() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    let res = get(&app, &path(ada.id), Some(&ada.token)).await;
    let profile = ok(res).await;
    assert_profile_shape(&profile);
    assert_eq!(profile["userId"], ada.id.to_string());
    assert_eq!(profile["email"], "ada@example.com");
    assert_eq!(profile["role"], "USER");
    assert!(profile["name"].is_null() && profile["bio"].is_null() && profile["avatar"].is_null());
    assert_eq!(profile["createdAt"], profile["updatedAt"]);

    // The second read finds the same row.
    let again = own_profile(&app, &ada).await;
    assert_eq!(again, profile);
    assert_eq!(rows(&app, ada.id).await.len(), 1);

    // An admin's own profile carries the token's role.
    let boss = admin(&app, "boss@example.com");
    assert_eq!(own_profile(&app, &boss).await["role"], "ADMIN");
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_first_reads_create_one_profile() {
    let app = app().await;
    let bob = user(&app, "bob@example.com");
    let p = path(bob.id);
    let responses = join_all((0..10).map(|_| get(&app, &p, Some(&bob.token)))).await;
    let mut ids = Vec::new();
    for res in responses {
        ids.push(ok(res).await["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(rows(&app, bob.id).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn an_admin_reads_any_profile_and_nobody_else_does() {
    let app = app().await;
    let cy = user(&app, "cy@example.com");
    let dee = user(&app, "dee@example.com");
    let boss = admin(&app, "boss@example.com");
    let own = own_profile(&app, &cy).await;

    let seen_by_admin = ok(get(&app, &path(cy.id), Some(&boss.token)).await).await;
    assert_eq!(seen_by_admin, own);

    // Someone else's profile and a profile that does not exist answer alike.
    let other = problem(get(&app, &path(cy.id), Some(&dee.token)).await, 404).await;
    let nobody = problem(
        get(&app, &path(Uuid::new_v4()), Some(&dee.token)).await,
        404,
    )
    .await;
    assert_eq!(other["type"], "urn:tessera:problem:not-found");
    assert_eq!(other["detail"], nobody["detail"]);

    // An admin's read of an unknown user creates nothing.
    let stranger = Uuid::new_v4();
    problem(get(&app, &path(stranger), Some(&boss.token)).await, 404).await;
    assert!(rows(&app, stranger).await.is_empty());
    // Nor does someone else's read.
    problem(get(&app, &path(stranger), Some(&dee.token)).await, 404).await;
    assert!(rows(&app, stranger).await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn reads_without_a_valid_token_are_401() {
    let app = app().await;
    let eve = user(&app, "eve@example.com");
    own_profile(&app, &eve).await;
    for token in [None, Some("not-a-jwt")] {
        let res = get(&app, &path(eve.id), token).await;
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body = problem(res, 401).await;
        assert_eq!(body["type"], "urn:tessera:problem:unauthorized");
    }
    // A token signed with another secret, and a service token.
    use tessera_app::config::{Secret, TokenSettings};
    let elsewhere = tessera_app::tokens::Tokens::new(&TokenSettings {
        jwt_secret: Secret::new("x".repeat(40)),
        access_ttl: std::time::Duration::from_secs(900),
        refresh_ttl: std::time::Duration::from_secs(3600),
        internal_secret: Secret::new("y".repeat(40)),
    });
    let forged = elsewhere
        .issue_access(UserId(eve.id), "eve@example.com", Role::Admin)
        .unwrap();
    problem(get(&app, &path(eve.id), Some(&forged)).await, 401).await;
    let service = app.platform.tokens.issue_service("worker").unwrap();
    problem(get(&app, &path(eve.id), Some(&service)).await, 401).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_id_is_a_400() {
    let app = app().await;
    let fay = user(&app, "fay@example.com");
    let boss = admin(&app, "boss@example.com");
    for bad in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"] {
        let p = format!("/users/{bad}");
        let body = problem(get(&app, &p, Some(&fay.token)).await, 400).await;
        assert_eq!(body["type"], "urn:tessera:problem:validation");
        problem(
            patch(&app, &p, &fay.token, serde_json::json!({"name": "Fay"})).await,
            400,
        )
        .await;
        problem(delete(&app, &p, Some(&boss.token)).await, 400).await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405() {
    let app = app().await;
    let gus = user(&app, "gus@example.com");
    for (method, p) in [
        (reqwest::Method::PUT, path(gus.id)),
        (reqwest::Method::POST, path(gus.id)),
        (reqwest::Method::POST, "/users".to_owned()),
        (reqwest::Method::DELETE, "/users".to_owned()),
    ] {
        let res = app
            .client
            .request(method.clone(), app.url(&p))
            .bearer_auth(&gus.token)
            .send()
            .await
            .unwrap();
        let body = problem(res, 405).await;
        assert_eq!(
            body["type"], "urn:tessera:problem:method-not-allowed",
            "{method} {p}"
        );
    }
    app.shutdown().await;
}
