//! The seed's flows (DESIGN.md "Testing layers", 3): register -> login -> create task ->
//! notification + e-mail; complete a task; forgot/reset password; admin flows; the live stream.

use serde_json::{Value, json};
use tessera_app::testkit::{eventually, mails_to, random_hex};

use crate::deploy::{Deployment, Kind, WAIT, WEB_APP_URL};

/// The subjects the worker gives its e-mails (`domains/worker/src/plan.rs`).
const WELCOME: &str = "Welcome to Tessera: your first task is in";
const CONGRATULATIONS: &str = "Congratulations, you completed a task";
const PASSWORD_RESET: &str = "Reset your Tessera password";

/// An address no other test uses (the catcher is shared).
fn address(label: &str) -> String {
    format!("{label}-{}@example.com", random_hex(6))
}

async fn create_task(d: &Deployment, token: &str, title: &str) -> String {
    let res = d.post("/tasks", Some(token), json!({"title": title})).await;
    assert_eq!(res.status(), 201);
    let task: Value = res.json().await.unwrap();
    task["id"].as_str().unwrap().to_owned()
}

async fn in_app(d: &Deployment, token: &str, subject: &str) -> Vec<Value> {
    let res = d.get("/notifications?limit=100", token).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["channel"] == "IN_APP" && n["subject"] == subject)
        .cloned()
        .collect()
}

/// Waits until the caller has `count` in-app notifications with `subject`; returns them.
async fn wait_in_app(d: &Deployment, token: &str, subject: &str, count: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{count} x {subject:?}"), || async {
        let found = in_app(d, token, subject).await;
        (found.len() >= count).then_some(found)
    })
    .await
    .unwrap()
}

async fn mails(to: &str, subject: &str) -> Vec<Value> {
    mails_to(to)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m["subject"] == subject)
        .collect()
}

async fn wait_mail(to: &str, subject: &str) -> Value {
    eventually(WAIT, &format!("the mail {subject:?}"), || async {
        mails(to, subject).await.into_iter().next()
    })
    .await
    .unwrap()
}

/// The text and HTML bodies of a message, joined.
fn body(mail: &Value) -> String {
    format!(
        "{}\n{}",
        mail["text"].as_str().unwrap_or_default(),
        mail["html"].as_str().unwrap_or_default()
    )
}

pub async fn first_task_brings_an_in_app_notification_and_the_only_welcome_email(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let email = address("first-task");
    let (_, token, _) = d.sign_up(&email, "password123").await;

    create_task(&d, &token, "Write the report").await;
    let notes = wait_in_app(&d, &token, "New Task Created", 1).await;
    assert_eq!(notes[0]["type"], "INFO");
    assert!(
        notes[0]["message"]
            .as_str()
            .unwrap()
            .contains("Write the report")
    );
    assert_eq!(notes[0]["read"], false);
    let welcome = wait_mail(&email, WELCOME).await;
    assert_eq!(welcome["to"][0]["address"], email.as_str());
    assert!(body(&welcome).contains(&format!("{WEB_APP_URL}/tasks")));
    assert!(
        welcome["html"].as_str().is_some_and(|h| !h.is_empty())
            && welcome["text"].as_str().is_some_and(|t| !t.is_empty()),
        "HTML with a plain-text alternative"
    );

    create_task(&d, &token, "Second thoughts").await;
    assert_eq!(
        wait_in_app(&d, &token, "New Task Created", 2).await.len(),
        2
    );
    // Everything the second task caused has run: a second welcome mail would be there by now.
    d.worker_settled().await;
    assert_eq!(mails(&email, WELCOME).await.len(), 1, "one welcome mail");
    d.stop().await;
}

pub async fn completing_a_task_notifies_in_app_and_sends_the_congratulations_email(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let email = address("complete");
    let (_, token, _) = d.sign_up(&email, "password123").await;
    let task = create_task(&d, &token, "Ship it").await;
    let res = d
        .client
        .patch(d.url(&format!("/tasks/{task}")))
        .bearer_auth(&token)
        .json(&json!({"status": "COMPLETED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let done = wait_in_app(&d, &token, "Task Completed", 1).await;
    assert_eq!(done[0]["type"], "SUCCESS");
    let mail = wait_mail(&email, CONGRATULATIONS).await;
    assert!(body(&mail).contains("Ship it"), "the mail names the task");
    d.worker_settled().await;
    assert_eq!(mails(&email, CONGRATULATIONS).await.len(), 1);
    assert_eq!(in_app(&d, &token, "Task Completed").await.len(), 1);
    d.stop().await;
}

pub async fn forgot_password_mails_a_reset_link_that_works(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let email = address("reset");
    d.sign_up(&email, "password123").await;

    let res = d
        .post("/auth/forgot-password", None, json!({"email": email}))
        .await;
    assert_eq!(res.status(), 202);
    let mail = wait_mail(&email, PASSWORD_RESET).await;
    let text = body(&mail);
    let prefix = format!("{WEB_APP_URL}/reset-password?token=");
    let start = text.find(&prefix).expect("the reset link") + prefix.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%'))
        .collect();
    assert!(token.len() >= 32, "{token:?}");

    let res = d
        .post(
            "/auth/reset-password",
            None,
            json!({"token": token, "password": "a-new-password-456"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(d.login(&email, "a-new-password-456").await.is_some());
    assert!(d.login(&email, "password123").await.is_none());
    // The token is spent.
    let res = d
        .post(
            "/auth/reset-password",
            None,
            json!({"token": token, "password": "yet-another-789"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    d.stop().await;
}

pub async fn a_registration_becomes_a_profile_with_its_name(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let email = address("profile");
    let (id, token, _) = d.sign_up(&email, "password123").await;
    // Only the user.registered event carries the name; a profile made on first access has none.
    let profile = eventually(WAIT, "the profile with its name", || async {
        let body: Value = d
            .get(&format!("/users/{id}"), &token)
            .await
            .json()
            .await
            .ok()?;
        (body["name"] == "Ada").then_some(body)
    })
    .await
    .unwrap();
    assert_eq!(profile["userId"], id.as_str());
    assert_eq!(profile["email"], email.as_str());
    assert_eq!(profile["role"], "USER");
    d.stop().await;
}

pub async fn an_admin_promoted_by_the_cli_lists_and_deletes_users(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let root = address("root");
    let (root_id, user_token, _) = d.sign_up(&root, "password123").await;
    // Not an admin yet.
    assert_eq!(d.get("/users", &user_token).await.status(), 403);

    d.promote(&root);
    let (admin, _) = d.login(&root, "password123").await.unwrap();
    // The promotion reaches the user domain's profile through user.role_changed.
    eventually(
        WAIT,
        "the profile's role to follow the promotion",
        || async {
            let body: Value = d
                .get(&format!("/users/{root_id}"), &admin)
                .await
                .json()
                .await
                .ok()?;
            (body["role"] == "ADMIN").then_some(())
        },
    )
    .await
    .unwrap();

    let victim_email = address("victim");
    let (victim, victim_token, victim_refresh) = d.sign_up(&victim_email, "password123").await;
    eventually(WAIT, "the victim's profile", || async {
        (d.get(&format!("/users/{victim}"), &admin).await.status() == 200).then_some(())
    })
    .await
    .unwrap();
    let res = d
        .client
        .delete(d.url(&format!("/users/{victim}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    eventually(WAIT, "the login to be refused", || async {
        d.login(&victim_email, "password123")
            .await
            .is_none()
            .then_some(())
    })
    .await
    .unwrap();
    let res = d
        .post(
            "/auth/refresh",
            None,
            json!({"refreshToken": victim_refresh}),
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        d.get(&format!("/users/{victim}"), &victim_token)
            .await
            .status(),
        404
    );
    let list: Value = d
        .get("/users?limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["userId"] != victim.as_str())
    );
    d.stop().await;
}

pub async fn the_stream_pushes_new_notifications(kind: Kind) {
    let d = Deployment::start(kind, &[]).await;
    let email = address("stream");
    let (_, token, _) = d.sign_up(&email, "password123").await;

    // The browser's way: the token in the query (EventSource cannot set headers).
    let mut stream = d
        .client
        .get(d.url(&format!("/notifications/stream?access_token={token}")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let content_type = stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );

    create_task(&d, &token, "Live and direct").await;
    let pushed = tokio::time::timeout(WAIT, async {
        let mut buf = String::new();
        loop {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            buf.push_str(&String::from_utf8_lossy(&chunk).replace('\r', ""));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let event = frame.lines().find_map(|l| l.strip_prefix("event:"));
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if event.map(str::trim) == Some("notification") {
                    let n: Value = serde_json::from_str(&data).unwrap();
                    if n["channel"] == "IN_APP" {
                        return n;
                    }
                }
            }
        }
    })
    .await
    .expect("a notification event arrives through the gateway");
    assert_eq!(pushed["subject"], "New Task Created");
    assert!(
        pushed["message"]
            .as_str()
            .unwrap()
            .contains("Live and direct")
    );
    drop(stream);
    d.stop().await;
}
