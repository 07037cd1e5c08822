use serde_json::{Value, json};
use uuid::Uuid;

use super::helpers::*;

fn millis(ts: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn the_owner_sets_and_clears_each_field_and_gets_the_whole_profile() {
    let app = app().await;
    let ada = user(&app, "ada@example.com");
    own_profile(&app, &ada).await;
    // Backdated, so the bump below is visible whatever the clock's resolution.
    sql(
        &app,
        "UPDATE profiles SET created_at = created_at - interval '1 hour', \
         updated_at = updated_at - interval '1 hour'",
    )
    .await;
    let before = own_profile(&app, &ada).await;
    let p = path(ada.id);

    let named = ok(patch(&app, &p, &ada.token, json!({"name": "  Ada Lovelace  "})).await).await;
    assert_profile_shape(&named);
    assert_eq!(named["name"], "Ada Lovelace", "trimmed");
    assert!(named["bio"].is_null() && named["avatar"].is_null());
    assert_eq!(named["createdAt"], before["createdAt"]);
    assert_eq!(named["id"], before["id"]);
    assert!(millis(&named["updatedAt"]) > millis(&before["updatedAt"]));

    let bio = "Wrote the first program.\nLikes engines.";
    let with_bio = ok(patch(&app, &p, &ada.token, json!({"bio": bio})).await).await;
    assert_eq!(with_bio["bio"], bio);
    assert_eq!(with_bio["name"], "Ada Lovelace", "absent fields are kept");

    let avatar = "https://cdn.example.com/ada.png?size=128";
    let with_avatar = ok(patch(&app, &p, &ada.token, json!({"avatar": avatar})).await).await;
    assert_eq!(with_avatar["avatar"], avatar);
    assert_eq!(with_avatar["bio"], bio);
    assert_eq!(own_profile(&app, &ada).await, with_avatar, "stored");

    let cleared = ok(patch(&app, &p, &ada.token, json!({"bio": null})).await).await;
    assert!(cleared["bio"].is_null());
    assert_eq!(cleared["name"], "Ada Lovelace");
    assert_eq!(cleared["avatar"], avatar);

    let all = json!({"name": null, "bio": null, "avatar": null});
    let empty = ok(patch(&app, &p, &ada.token, all).await).await;
    assert!(empty["name"].is_null() && empty["bio"].is_null() && empty["avatar"].is_null());
    assert_eq!(own_profile(&app, &ada).await, empty);

    // Limits are inclusive and count characters, not bytes.
    let longest = json!({"name": "é".repeat(100), "bio": "é".repeat(500)});
    let full = ok(patch(&app, &p, &ada.token, longest).await).await;
    assert_eq!(full["name"].as_str().unwrap().chars().count(), 100);
    app.shutdown().await;
}

#[tokio::test]
async fn every_invalid_value_is_a_400_naming_its_field() {
    let app = app().await;
    let bob = user(&app, "bob@example.com");
    let p = path(bob.id);
    ok(patch(&app, &p, &bob.token, json!({"name": "Bob", "bio": "hi"})).await).await;
    let before = own_profile(&app, &bob).await;

    let long_url = format!("https://example.com/{}", "a".repeat(2030));
    let cases = [
        (json!({"name": ""}), vec!["name"]),
        (json!({"name": "   "}), vec!["name"]),
        (json!({"name": "\u{200B}\u{FEFF}"}), vec!["name"]),
        (json!({"name": "\u{3164}\u{2060}\u{00AD}"}), vec!["name"]),
        (json!({"name": "n".repeat(101)}), vec!["name"]),
        (json!({"bio": "b".repeat(501)}), vec!["bio"]),
        (
            json!({"avatar": "http://example.com/a.png"}),
            vec!["avatar"],
        ),
        (json!({"avatar": "not a url"}), vec!["avatar"]),
        (json!({"avatar": "https://"}), vec!["avatar"]),
        (json!({"avatar": "javascript:alert(1)"}), vec!["avatar"]),
        (json!({"avatar": long_url}), vec!["avatar"]),
        (
            json!({"name": "", "bio": "b".repeat(501), "avatar": "ftp://example.com/a"}),
            vec!["name", "bio", "avatar"],
        ),
        // One bad field spoils the whole change.
        (
            json!({"name": "Robert", "avatar": "http://x.example"}),
            vec!["avatar"],
        ),
    ];
    for (body, expected) in cases {
        let res = patch(&app, &p, &bob.token, body.clone()).await;
        let problem = problem(res, 400).await;
        assert_eq!(problem["type"], "urn:tessera:problem:validation");
        assert_eq!(fields(&problem), expected, "{body} -> {problem}");
    }
    assert_eq!(own_profile(&app, &bob).await, before, "nothing changed");
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_fields_empty_bodies_and_non_json_are_refused() {
    let app = app().await;
    let cy = user(&app, "cy@example.com");
    let p = path(cy.id);
    let before = own_profile(&app, &cy).await;

    for (body, field) in [
        (json!({"nmae": "Cy"}), "nmae"),
        (json!({"name": "Cy", "email": "evil@example.com"}), "email"),
        (json!({"role": "ADMIN"}), "role"),
    ] {
        let problem = problem(patch(&app, &p, &cy.token, body).await, 400).await;
        assert_eq!(fields(&problem), [field], "{problem}");
    }

    let empty = problem(patch(&app, &p, &cy.token, json!({})).await, 400).await;
    assert_eq!(empty["type"], "urn:tessera:problem:validation");
    assert!(
        empty["detail"]
            .as_str()
            .unwrap()
            .contains("at least one of name, bio, avatar"),
        "{empty}"
    );

    problem(patch(&app, &p, &cy.token, json!({"name": 42})).await, 400).await;
    let res = app
        .client
        .patch(app.url(&p))
        .bearer_auth(&cy.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
    let res = app
        .client
        .patch(app.url(&p))
        .bearer_auth(&cy.token)
        .header("content-type", "text/plain")
        .body("name=Cy")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    assert_eq!(own_profile(&app, &cy).await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn only_the_owner_edits_a_profile() {
    let app = app().await;
    let dee = user(&app, "dee@example.com");
    let eve = user(&app, "eve@example.com");
    let boss = admin(&app, "boss@example.com");
    let before = own_profile(&app, &dee).await;
    let change = json!({"name": "Hacked"});

    // Another user cannot tell this profile from one that does not exist.
    let theirs = problem(
        patch(&app, &path(dee.id), &eve.token, change.clone()).await,
        404,
    )
    .await;
    let nobody = problem(
        patch(&app, &path(Uuid::new_v4()), &eve.token, change.clone()).await,
        404,
    )
    .await;
    assert_eq!(theirs["detail"], nobody["detail"]);

    // An admin may read it, so is told plainly that editing is not theirs to do.
    let forbidden = problem(
        patch(&app, &path(dee.id), &boss.token, change.clone()).await,
        403,
    )
    .await;
    assert_eq!(forbidden["type"], "urn:tessera:problem:forbidden");

    let res = app
        .client
        .patch(app.url(&path(dee.id)))
        .json(&change)
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    assert_eq!(own_profile(&app, &dee).await, before, "unchanged");
    app.shutdown().await;
}

#[tokio::test]
async fn the_owners_first_write_creates_the_profile() {
    let app = app().await;
    let fay = user(&app, "fay@example.com");
    let res = patch(&app, &path(fay.id), &fay.token, json!({"bio": "hello"})).await;
    let profile = ok(res).await;
    assert_profile_shape(&profile);
    assert_eq!(profile["email"], "fay@example.com");
    assert_eq!(profile["bio"], "hello");
    assert!(profile["name"].is_null());
    assert_eq!(rows(&app, fay.id).await.len(), 1);
    app.shutdown().await;
}
