use std::time::Duration;

use serde_json::{Value, json};
use tessera_app::service_client::ClientError;
use tessera_contracts::notifications::SendNotification;
use uuid::Uuid;

use super::helpers::*;

fn key() -> String {
    format!("job-{}", Uuid::new_v4())
}

fn recipients_of(mail: &Value) -> Vec<String> {
    mail["to"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["address"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_welcome_mail_has_its_subject_both_parts_and_the_name() {
    let app = app().await;
    let ada = user(&app, "ada");
    registered(&app, &ada, Some("Ada Lovelace")).await;
    let res = send(
        &app,
        body(
            ada.id,
            "EMAIL",
            json!({
                "template": "task-created",
                "data": {"title": "Write the report", "taskUrl": "http://localhost:3000/tasks/42"},
                "idempotencyKey": key(),
            }),
        ),
    )
    .await;
    let n = json_of(res, 201).await;
    assert_notification_shape(&n);
    assert_eq!(n["channel"], "EMAIL");
    assert_eq!(
        n["subject"], "Welcome to Tessera: your first task is in",
        "the template names the notification too"
    );

    let mails = mails(&ada.email, 1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["subject"], "Welcome to Tessera: your first task is in");
    assert_eq!(recipients_of(mail), [ada.email.as_str()]);
    assert_eq!(mail["from"][0]["address"], "no-reply@tessera.local");
    let html = mail["html"].as_str().unwrap();
    let text = mail["text"].as_str().unwrap();
    for part in [html, text] {
        assert!(part.contains("Ada Lovelace"), "{part}");
        assert!(part.contains("Write the report"), "{part}");
        assert!(part.contains("http://localhost:3000/tasks/42"), "{part}");
    }
    assert!(html.contains("<a href="), "{html}");
    assert!(!text.contains('<'), "plain text: {text}");
    email_sent(&app, n["id"].as_str().unwrap()).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_congratulations_mail_escapes_user_text_in_html() {
    let app = app_with(&[("WEB_APP_URL", "https://tessera.test/")]).await;
    let bea = user(&app, "bea");
    registered(&app, &bea, Some("<b>Bea</b>")).await;
    let title = "<script>alert('x')</script> & more";
    let res = send(
        &app,
        body(
            bea.id,
            "EMAIL",
            json!({"type": "SUCCESS", "template": "task-completed", "data": {"title": title}}),
        ),
    )
    .await;
    json_of(res, 201).await;

    let mail = &mails(&bea.email, 1).await[0];
    assert_eq!(mail["subject"], "Congratulations, you completed a task");
    let html = mail["html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>Bea</b>"), "{html}");
    assert!(html.contains("&#60;script&#62;"), "{html}");
    assert!(html.contains("&#60;b&#62;Bea"), "{html}");
    assert!(
        html.contains(r#"href="https://tessera.test/tasks""#),
        "without a taskUrl the link is the task list: {html}"
    );
    // The plain-text part is not HTML: it shows the title as written.
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(title), "{text}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_reset_mail_carries_the_link_and_how_long_it_works() {
    let app = app().await;
    let cy = user(&app, "cy");
    registered(&app, &cy, None).await;
    let link = format!(
        "http://localhost:3000/reset-password?token={}",
        random_hex(32)
    );
    let res = send(
        &app,
        body(
            cy.id,
            "EMAIL",
            json!({
                "template": "password-reset",
                "message": "Reset your password",
                "data": {"resetUrl": link, "expiresInMinutes": 30},
                "idempotencyKey": key(),
            }),
        ),
    )
    .await;
    json_of(res, 201).await;

    let mail = &mails(&cy.email, 1).await[0];
    assert_eq!(mail["subject"], "Reset your Tessera password");
    let html = mail["html"].as_str().unwrap();
    let text = mail["text"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(text.contains(&link), "{text}");
    for part in [html, text] {
        assert!(part.contains("30 minutes"), "{part}");
        assert!(
            part.starts_with("Hi,") || part.contains("Hi,"),
            "no name: {part}"
        );
    }
    app.shutdown().await;
}

#[derive(diesel::QueryableByName, Debug)]
struct StoredData {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    data: Option<serde_json::Value>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    sent: bool,
}

#[tokio::test]
async fn the_reset_link_is_not_kept_once_the_mail_went_out() {
    use diesel_async::RunQueryDsl;
    let app = app().await;
    let eve = user(&app, "eve");
    registered(&app, &eve, None).await;
    let token = random_hex(32);
    let link = format!("http://localhost:3000/reset-password?token={token}");
    let payload = body(
        eve.id,
        "EMAIL",
        json!({
            "template": "password-reset",
            "message": "Reset your password",
            "data": {"resetUrl": link, "expiresInMinutes": 30},
            "idempotencyKey": key(),
        }),
    );
    let n = json_of(send(&app, payload.clone()).await, 201).await;
    assert_eq!(mails(&eve.email, 1).await.len(), 1);
    email_sent(&app, n["id"].as_str().unwrap()).await;
    let mut conn = app.pool("notification").get().await.unwrap();
    let rows: Vec<StoredData> = diesel::sql_query(
        "SELECT data, email_sent_at IS NOT NULL AS sent FROM notifications WHERE user_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(eve.id)
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].sent);
    let stored = rows[0].data.clone().unwrap_or_default().to_string();
    assert!(
        !stored.contains(&token),
        "the link is still stored: {stored}"
    );
    assert_eq!(rows[0].data, Some(json!({"expiresInMinutes": 30})));
    // A repeat of the call is still answered (and sends nothing again).
    json_of(send(&app, payload).await, 200).await;
    assert_eq!(mails(&eve.email, 1).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_mail_without_a_template_is_the_message() {
    let app = app().await;
    let dee = user(&app, "dee");
    registered(&app, &dee, Some("Dee")).await;
    let res = send(
        &app,
        body(
            dee.id,
            "EMAIL",
            json!({"subject": "Heads up", "message": "Your task is <due> tomorrow"}),
        ),
    )
    .await;
    json_of(res, 201).await;
    let mail = &mails(&dee.email, 1).await[0];
    assert_eq!(mail["subject"], "Heads up");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("Your task is <due> tomorrow")
    );
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains("Your task is &#60;due&#62; tomorrow")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_key_twice_stores_once_and_sends_once() {
    let app = app().await;
    let eve = user(&app, "eve");
    registered(&app, &eve, Some("Eve")).await;
    let payload = body(
        eve.id,
        "EMAIL",
        json!({"template": "task-created", "idempotencyKey": key()}),
    );
    let first = json_of(send(&app, payload.clone()).await, 201).await;
    let again = json_of(send(&app, payload).await, 200).await;
    assert_eq!(again, first);
    assert_eq!(mails(&eve.email, 1).await.len(), 1);
    email_sent(&app, first["id"].as_str().unwrap()).await;
    let rows = stored(&app, eve.id).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].sent && !rows[0].pending);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_with_one_key_send_one_email() {
    let app = app().await;
    let eli = user(&app, "eli");
    registered(&app, &eli, None).await;
    let payload = body(
        eli.id,
        "EMAIL",
        json!({"template": "task-created", "idempotencyKey": key()}),
    );
    let calls = (0..5).map(|_| send(&app, payload.clone()));
    let answers = futures_util::future::join_all(calls).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    // One stores (201); the others find its row (200). None waits for the mail server.
    assert_eq!(statuses, [200, 200, 200, 200, 201]);
    assert_eq!(stored(&app, eli.id).await.len(), 1);
    assert_eq!(mails(&eli.email, 1).await.len(), 1);
    // A repeat once it went out answers the notification, still without a second mail.
    json_of(send(&app, payload).await, 200).await;
    assert_eq!(mails(&eli.email, 1).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_recipient_is_retryable_and_the_registration_completes_the_send() {
    let app = app().await;
    let fay = user(&app, "fay");
    let payload = body(
        fay.id,
        "EMAIL",
        json!({"template": "task-created", "idempotencyKey": key()}),
    );
    let res = send(&app, payload.clone()).await;
    assert!(res.headers().contains_key("retry-after"));
    let p = problem(res, 503).await;
    assert_eq!(p["type"], "urn:tessera:problem:unavailable");
    assert!(stored(&app, fay.id).await.is_empty(), "nothing stored yet");

    registered(&app, &fay, Some("Fay")).await;
    json_of(send(&app, payload.clone()).await, 201).await;
    json_of(send(&app, payload).await, 200).await;
    assert_eq!(mails(&fay.email, 1).await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_deleted_recipient_is_refused_for_good() {
    let app = app().await;
    let gus = user(&app, "gus");
    registered(&app, &gus, Some("Gus")).await;
    publish(&app, &deleted_job(gus.id)).await;
    assert_eq!(drained(&app, "user.deleted").await, 0);
    let res = send(
        &app,
        body(gus.id, "EMAIL", json!({"template": "task-created"})),
    )
    .await;
    let p = problem(res, 410).await;
    assert_eq!(p["type"], "urn:tessera:problem:recipient-gone");
    assert!(stored(&app, gus.id).await.is_empty());

    // In-app notifications are not addressed; they still work (the list is the record).
    in_app(&app, gus.id, "still stored").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(mails_to(&gus.email).await.unwrap().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn with_the_mail_server_down_the_call_still_stores_once_and_answers() {
    // Nothing listens there: the e-mail waits pending (the dispatcher's tests follow it to the
    // end); the call neither waits nor fails, and a repeat with the key finds the same row.
    let port = closed_port().to_string();
    let app = app_with(&[("SMTP_PORT", &port)]).await;
    let hal = user(&app, "hal");
    registered(&app, &hal, Some("Hal")).await;
    let req = body(
        hal.id,
        "EMAIL",
        json!({"template": "task-completed", "data": {"title": "Ship it"}, "idempotencyKey": key()}),
    );
    let first = json_of(send(&app, req.clone()).await, 201).await;
    let again = json_of(send(&app, req).await, 200).await;
    assert_eq!(again, first);
    let rows = stored(&app, hal.id).await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].sent);
    assert!(
        email_state(&app, first["id"].as_str().unwrap())
            .await
            .pending
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_in_process_client_answers_like_the_route() {
    let app = app().await;
    let client = app
        .platform
        .local
        .notification()
        .expect("registered at build");
    let kim = user(&app, "kim");
    let req = |extra: Value| -> SendNotification {
        serde_json::from_value(body(kim.id, "EMAIL", extra)).unwrap()
    };

    let err = client.send(req(json!({})), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Unavailable {
                status: Some(503),
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let err = client
        .send(req(json!({"message": ""})), None)
        .await
        .unwrap_err();
    let ClientError::Rejected {
        status: 400,
        problem: Some(p),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(p.errors[0].field, "message");

    registered(&app, &kim, Some("Kim")).await;
    let n = client
        .send(req(json!({"idempotencyKey": key()})), None)
        .await
        .unwrap();
    assert_eq!(n.user_id.0, kim.id);
    assert_eq!(mails(&kim.email, 1).await.len(), 1);

    publish(&app, &deleted_job(kim.id)).await;
    drained(&app, "user.deleted").await;
    let err = client.send(req(json!({})), None).await.unwrap_err();
    let ClientError::Rejected {
        status: 410,
        problem: Some(p),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(p.kind, "urn:tessera:problem:recipient-gone");
    assert!(!err.is_retryable());
    app.shutdown().await;
}

#[tokio::test]
async fn without_smtp_host_mails_are_written_to_the_mail_dir() {
    let dir = std::env::temp_dir().join(format!("tessera-mail-{}", random_hex(6)));
    let dir_str = dir.to_str().unwrap().to_owned();
    // No SMTP variables at all: the development default.
    let app = spawn_app(
        &[&tessera_notification::DOMAIN],
        &[("MAIL_DIR", dir_str.as_str())],
    )
    .await
    .unwrap();
    let lee = user(&app, "lee");
    registered(&app, &lee, Some("Lee")).await;
    let res = send(
        &app,
        body(lee.id, "EMAIL", json!({"template": "task-created"})),
    )
    .await;
    let n = json_of(res, 201).await;
    email_sent(&app, n["id"].as_str().unwrap()).await;

    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains(&lee.email), "recipient");
    assert!(
        eml.contains("Subject: Welcome to Tessera: your first task is in"),
        "{eml}"
    );
    assert!(eml.contains("multipart/alternative"), "{eml}");
    assert!(
        eml.contains("text/plain") && eml.contains("text/html"),
        "{eml}"
    );
    assert!(
        mails_to(&lee.email).await.unwrap().is_empty(),
        "nothing over SMTP"
    );
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
