//! The mail dispatcher against real Postgres and a real (test-controlled) SMTP server: the send
//! call never waits for the mail server, an outage delays e-mails without losing them, a slow
//! server delivers once, replicas never send an e-mail twice, refusals end as failed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tessera_app::module::Module;
use tokio_util::sync::CancellationToken;

use super::helpers::*;
use tessera_app::testkit::smtp::TestSmtp;

/// An app whose e-mail goes to `smtp`, retrying fast (`overrides` win).
async fn app_on(smtp: &TestSmtp, overrides: &[(&str, &str)]) -> TestApp {
    let port = smtp.port.to_string();
    let mut vars = vec![
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", port.as_str()),
        ("SMTP_TIMEOUT", "2s"),
        ("MAIL_SEND_TIMEOUT", "5s"),
        ("MAIL_RETRY_MAX_BACKOFF", "100ms"),
        ("MAIL_POLL_INTERVAL", "100ms"),
    ];
    vars.extend_from_slice(overrides);
    spawn_app(&[&tessera_notification::DOMAIN], &vars)
        .await
        .expect("app starts")
}

/// Sends an e-mail notification for `who` (tagged `tag` in its message) and returns its id.
async fn send_mail(app: &TestApp, who: &Caller, tag: &str) -> String {
    let res = send(
        app,
        body(
            who.id,
            "EMAIL",
            json!({"message": format!("mail {tag}"), "idempotencyKey": format!("key-{tag}")}),
        ),
    )
    .await;
    let n = json_of(res, 201).await;
    n["id"].as_str().unwrap().to_owned()
}

/// A second replica of the notification module on `app`'s database (`overrides` on top of its
/// environment), with its background tasks (its own mail dispatcher) running until the token is
/// cancelled.
struct Replica {
    _module: Arc<dyn Module>,
    platform: tessera_app::module::Platform,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn replica(app: &TestApp, overrides: &[(&str, &str)]) -> Replica {
    let mut env = app.env.clone();
    for (k, v) in overrides {
        env = env.with(k, *v);
    }
    let platform = tessera_app::server::platform(env, true).await.unwrap();
    let module = (tessera_notification::DOMAIN.build)(platform.clone())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let tasks = module
        .background(stop.clone())
        .into_iter()
        .map(tokio::spawn)
        .collect();
    Replica {
        _module: module,
        platform,
        stop,
        tasks,
    }
}

/// Sends through a replica's in-process adapter (which wakes that replica's dispatcher).
async fn send_via(replica: &Replica, who: &Caller, tag: &str) -> String {
    let client = replica
        .platform
        .local
        .notification()
        .expect("the replica's adapter");
    let req = serde_json::from_value(body(
        who.id,
        "EMAIL",
        json!({"message": format!("mail {tag}"), "idempotencyKey": format!("key-{tag}")}),
    ))
    .unwrap();
    client.send(req, None).await.unwrap().id.to_string()
}

#[tokio::test]
async fn an_email_survives_an_smtp_outage_however_many_attempts_it_takes() {
    let smtp = TestSmtp::up();
    let app = app_on(&smtp, &[]).await;
    let ann = user(&app, "ann");
    registered(&app, &ann, Some("Ann")).await;
    let before = send_mail(&app, &ann, "before").await;
    email_sent(&app, &before).await;

    // The mail server goes away (connections refused): the call still stores and answers.
    smtp.stop().await;
    let id = send_mail(&app, &ann, "outage").await;
    let state = email_state(&app, &id).await;
    assert!(state.pending && !state.sent, "{state:?}");

    // Retried again and again (more than any fixed budget would allow), never given up.
    let state = email_until(&app, &id, "many attempts", |s| s.attempts > 12).await;
    assert!(
        state.pending && !state.sent && state.failure.is_none(),
        "{state:?}"
    );
    assert!(metric(&app, "tessera_mail_retried_total").await >= 12.0);
    assert_eq!(metric(&app, "tessera_mail_pending").await, 1.0);

    smtp.start();
    email_sent(&app, &id).await;
    eventually(
        Duration::from_secs(10),
        "the pending gauge at 0",
        || async { (metric(&app, "tessera_mail_pending").await == 0.0).then_some(()) },
    )
    .await
    .unwrap();
    let received = smtp.received_by(&ann.email);
    assert_eq!(
        received.len(),
        2,
        "the e-mail before the outage and the one during it"
    );
    assert!(received[1].data.contains("mail outage\n"));
    assert_eq!(metric(&app, "tessera_mail_sent_total").await, 2.0);
    assert_eq!(metric(&app, "tessera_mail_failed_total").await, 0.0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_slow_mail_server_delivers_once_and_the_send_call_does_not_wait_for_it() {
    // Every reply takes a second: one conversation (greeting, EHLO, MAIL, RCPT, DATA, the end
    // of the data: six replies) outlasts the 5 s the worker gives a call, though each step is
    // within SMTP_TIMEOUT and the whole within MAIL_SEND_TIMEOUT.
    let delay = Duration::from_secs(1);
    assert!(delay * 6 > tessera_app::service_client::DEFAULT_TIMEOUT);
    let smtp = TestSmtp::up();
    smtp.set_delay(delay);
    let app = app_on(
        &smtp,
        &[("SMTP_TIMEOUT", "3s"), ("MAIL_SEND_TIMEOUT", "20s")],
    )
    .await;
    let bea = user(&app, "bea");
    registered(&app, &bea, None).await;

    let id = send_mail(&app, &bea, "slow").await;
    // The call has answered; the mail server has not accepted anything yet.
    assert!(
        smtp.received().is_empty(),
        "the call waited for the mail server"
    );
    assert!(!email_state(&app, &id).await.sent);

    let state = email_sent(&app, &id).await;
    assert_eq!(state.attempts, 1, "sent on the first attempt, no retry");
    // Several more dispatcher passes: nothing is sent twice.
    eventually(
        Duration::from_secs(10),
        "more dispatcher passes",
        || async {
            let before = smtp.connections();
            tokio::time::sleep(Duration::from_millis(300)).await;
            (smtp.connections() == before).then_some(())
        },
    )
    .await
    .unwrap();
    assert_eq!(smtp.received_by(&bea.email).len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn two_dispatchers_on_one_database_send_each_email_once() {
    let smtp = TestSmtp::up();
    // Slow enough that the two dispatchers' batches overlap in time.
    smtp.set_delay(Duration::from_millis(20));
    let app = app_on(&smtp, &[("MAIL_POLL_INTERVAL", "20ms")]).await;
    let other = replica(&app, &[]).await;
    let cal = user(&app, "cal");
    registered(&app, &cal, None).await;

    // Stored through both replicas, so each one's dispatcher is woken by its own sends.
    let total = 40;
    for i in 0..total {
        let tag = format!("r{i}");
        if i % 2 == 0 {
            send_mail(&app, &cal, &tag).await;
        } else {
            send_via(&other, &cal, &tag).await;
        }
    }
    eventually(Duration::from_secs(30), "every e-mail sent", || async {
        let rows = stored(&app, cal.id).await;
        rows.iter().all(|r| r.sent && !r.pending).then_some(())
    })
    .await
    .unwrap();
    let received = smtp.received_by(&cal.email);
    for i in 0..total {
        let marker = format!("mail r{i}\n");
        let copies = received.iter().filter(|m| m.data.contains(&marker)).count();
        assert_eq!(copies, 1, "e-mail r{i} was received {copies} times");
    }
    assert_eq!(received.len(), total);
    let sent_here = metric(&app, "tessera_mail_sent_total").await;
    let sent_there = other
        .platform
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("tessera_mail_sent_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert_eq!(sent_here + sent_there, total as f64);
    other.stop.cancel();
    app.shutdown().await;
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_email_and_a_transient_one_retries_it() {
    let smtp = TestSmtp::up();
    smtp.set_rcpt_reply("550 5.1.1 mailbox unavailable");
    let app = app_on(&smtp, &[]).await;
    let dan = user(&app, "dan");
    registered(&app, &dan, None).await;
    let link = format!(
        "http://localhost:3000/reset-password?token={}",
        random_hex(16)
    );
    let res = send(
        &app,
        body(
            dan.id,
            "EMAIL",
            json!({"template": "password-reset", "data": {"resetUrl": link}}),
        ),
    )
    .await;
    let id = json_of(res, 201).await["id"].as_str().unwrap().to_owned();
    let state = email_until(&app, &id, "the e-mail failed", |s| s.failure.is_some()).await;
    assert!(!state.pending && !state.sent, "{state:?}");
    assert_eq!(state.attempts, 1, "a refusal is not retried");
    let reason = state.failure.unwrap();
    assert!(reason.contains("550"), "{reason}");
    assert!(!reason.contains(&dan.email), "the address stays private");
    assert_eq!(state.data, Some(json!({})), "the reset link is not kept");
    assert_eq!(metric(&app, "tessera_mail_failed_total").await, 1.0);

    // A transient refusal (4xx) is an outage: retried, not failed.
    smtp.set_rcpt_reply("451 4.3.0 try again later");
    let eve = user(&app, "eve");
    registered(&app, &eve, None).await;
    let id = send_mail(&app, &eve, "transient").await;
    let state = email_until(&app, &id, "retries", |s| s.attempts >= 3).await;
    assert!(state.pending && state.failure.is_none(), "{state:?}");
    smtp.set_rcpt_reply("250 OK");
    email_sent(&app, &id).await;
    assert_eq!(smtp.received_by(&eve.email).len(), 1);
    assert!(smtp.received_by(&dan.email).is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn an_email_to_a_user_deleted_before_it_went_out_is_dropped() {
    let smtp = TestSmtp::down();
    let app = app_on(&smtp, &[]).await;
    let fox = user(&app, "fox");
    registered(&app, &fox, None).await;
    let id = send_mail(&app, &fox, "gone").await;
    email_until(&app, &id, "a failed attempt", |s| {
        s.attempts >= 1 && s.pending
    })
    .await;

    publish(&app, &deleted_job(fox.id)).await;
    assert_eq!(drained(&app, "user.deleted").await, 0);
    let state = email_until(&app, &id, "the e-mail dropped", |s| s.failure.is_some()).await;
    assert_eq!(state.failure.as_deref(), Some("recipient deleted"));
    assert!(!state.pending && !state.sent);

    // The mail server is back: still nothing goes to the deleted user.
    smtp.start();
    let other = user(&app, "gil");
    registered(&app, &other, None).await;
    let later = send_mail(&app, &other, "after").await;
    email_sent(&app, &later).await;
    assert!(smtp.received_by(&fox.email).is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn a_send_abandoned_at_shutdown_keeps_its_lease_and_is_sent_once_after_it() {
    // Each reply takes a second: the conversation (about 6 s) outlasts the 4 s a stopping
    // dispatcher grants its sends (the test's SHUTDOWN_TIMEOUT, 5 s, less the settle margin),
    // and fits MAIL_SEND_TIMEOUT (7 s, so a 14 s lease).
    let smtp = TestSmtp::up();
    smtp.set_delay(Duration::from_secs(1));
    // This replica only dispatches when woken by its own sends (its poll is an hour), so the
    // doomed replica below is the one that claims the first e-mail.
    let app = app_on(
        &smtp,
        &[("MAIL_SEND_TIMEOUT", "7s"), ("MAIL_POLL_INTERVAL", "1h")],
    )
    .await;
    let doomed = replica(&app, &[("MAIL_POLL_INTERVAL", "20ms")]).await;
    let gus = user(&app, "gus");
    registered(&app, &gus, None).await;
    let id = send_via(&doomed, &gus, "abandoned").await;
    eventually(Duration::from_secs(10), "the send under way", || async {
        (smtp.connections() >= 1).then_some(())
    })
    .await
    .unwrap();

    // The replica stops mid-conversation: its tasks end (within the grace), the send is cut.
    doomed.stop.cancel();
    for task in doomed.tasks {
        task.await.unwrap();
    }
    let state = email_state(&app, &id).await;
    assert!(
        state.pending && !state.sent && state.attempts == 1,
        "{state:?}"
    );
    assert!(
        smtp.received().is_empty(),
        "the abandoned send never finished"
    );

    // Once the lease expires, the next pass of the other replica sends it, once.
    smtp.set_delay(Duration::ZERO);
    eventually(Duration::from_secs(30), "the lease to expire", || async {
        lease_expired(&app, &id).await.then_some(())
    })
    .await
    .unwrap();
    let woken = send_mail(&app, &gus, "wake").await;
    email_sent(&app, &woken).await;
    let state = email_sent(&app, &id).await;
    assert_eq!(state.attempts, 2);
    let received = smtp.received_by(&gus.email);
    assert_eq!(
        received.len(),
        2,
        "the abandoned e-mail and the new one, once each"
    );
    assert_eq!(
        received
            .iter()
            .filter(|m| m.data.contains("mail abandoned\n"))
            .count(),
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_email_accepted_while_the_database_is_down_is_recorded_once_it_is_back_not_resent() {
    // Each reply takes half a second, so the conversation (six replies) is under way when the
    // database starts refusing connections, and the outcome cannot be written when the mail
    // server accepts the message. The lease (twice MAIL_SEND_TIMEOUT: 10 s) outlives the outage.
    let smtp = TestSmtp::up();
    smtp.set_delay(Duration::from_millis(500));
    let app = app_on(&smtp, &[]).await;
    let dee = user(&app, "dee");
    registered(&app, &dee, None).await;
    let id = send_mail(&app, &dee, "db-down").await;
    eventually(Duration::from_secs(10), "the send under way", || async {
        (smtp.connections() >= 1).then_some(())
    })
    .await
    .unwrap();
    let claimed = std::time::Instant::now();
    let database = app.database_url("notification");
    let database = database.rsplit('/').next().unwrap().to_owned();
    refuse_connections(&database, true).await;

    eventually(
        Duration::from_secs(20),
        "a failed try to record the outcome",
        || async {
            (smtp.received_by(&dee.email).len() == 1
                && metric(&app, "tessera_mail_record_failures_total").await >= 1.0)
                .then_some(())
        },
    )
    .await
    .unwrap();
    refuse_connections(&database, false).await;
    smtp.set_delay(Duration::ZERO);

    // Past the lease and a few polls: a pending row would have been claimed and sent again.
    let lease = Duration::from_secs(10);
    eventually(Duration::from_secs(30), "the lease to run out", || async {
        (claimed.elapsed() > lease + Duration::from_millis(500)).then_some(())
    })
    .await
    .unwrap();
    let state = email_sent(&app, &id).await;
    assert_eq!(state.attempts, 1, "claimed once: {state:?}");
    assert_eq!(smtp.received_by(&dee.email).len(), 1, "sent once");
    app.shutdown().await;
}

/// Makes `database` refuse new connections and ends its sessions (`refuse`), or accept them again.
async fn refuse_connections(database: &str, refuse: bool) {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let mut admin = diesel_async::AsyncPgConnection::establish(&tessera_app::testkit::admin_url())
        .await
        .unwrap();
    diesel::sql_query(format!(
        "ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {}",
        !refuse
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    if refuse {
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind::<diesel::sql_types::Text, _>(database)
        .execute(&mut admin)
        .await
        .unwrap();
    }
}

#[derive(diesel::QueryableByName, Debug)]
struct Expired {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    expired: bool,
}

async fn lease_expired(app: &TestApp, id: &str) -> bool {
    use diesel_async::RunQueryDsl;
    let pool = app.pool("notification");
    let mut conn = pool.get().await.unwrap();
    let rows: Vec<Expired> = diesel::sql_query(
        "SELECT coalesce(email_next_attempt_at <= now(), true) AS expired FROM notifications WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::parse_str(id).unwrap())
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().any(|r| r.expired)
}
