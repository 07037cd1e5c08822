use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use super::helpers::*;

#[derive(QueryableByName, Debug, PartialEq)]
struct RecipientRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

async fn recipient(app: &TestApp, id: Uuid) -> Vec<RecipientRow> {
    let pool = app.pool("notification");
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(
        "SELECT email, name, deleted_at IS NOT NULL AS deleted FROM recipients WHERE user_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .load(&mut conn)
    .await
    .unwrap()
}

async fn sql(app: &TestApp, statement: &str) {
    let pool = app.pool("notification");
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_registration_fills_the_address_book() {
    let app = app().await;
    let ada = user(&app, "ada");
    registered(&app, &ada, Some("Ada")).await;
    assert_eq!(
        recipient(&app, ada.id).await,
        [RecipientRow {
            email: ada.email.clone(),
            name: Some("Ada".to_owned()),
            deleted: false
        }]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_job_is_processed_once() {
    let app = app().await;
    let bo = user(&app, "bo");
    let job = registered_job(bo.id, &bo.email, Some("Bo"));
    publish(&app, &job).await;
    drained(&app, "user.registered").await;
    // Had the second delivery run, it would put the event's name back.
    sql(
        &app,
        &format!(
            "UPDATE recipients SET name = 'Changed' WHERE user_id = '{}'",
            bo.id
        ),
    )
    .await;
    publish(&app, &job).await;
    drained(&app, "user.registered").await;
    assert_eq!(
        recipient(&app, bo.id).await[0].name.as_deref(),
        Some("Changed")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_deletion_that_beats_the_registration_still_stops_mail() {
    let app = app().await;
    let cy = user(&app, "cy");
    publish(&app, &deleted_job(cy.id)).await;
    assert_eq!(drained(&app, "user.deleted").await, 0);
    registered(&app, &cy, Some("Cy")).await;
    let rows = recipient(&app, cy.id).await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].deleted,
        "the late registration does not revive the user"
    );
    assert_eq!(rows[0].email, cy.email, "but fills in the address");

    let res = send(&app, body(cy.id, "EMAIL", json!({}))).await;
    problem(res, 410).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_at_once() {
    let mut app = app().await;
    app.expect_dead_letters();
    publish(
        &app,
        &tessera_app::queue::Job::new("user.registered", json!({"userId": "nope"})),
    )
    .await;
    assert_eq!(drained(&app, "user.registered").await, 1);
    app.shutdown().await;
}
