//! What the user receives for each event (API.md, "What the user receives"), as pure functions
//! from a job to the notifications to send, in the order they are sent.
//!
//! Every notification carries an idempotency key made of the job id and the channel, so a job
//! that is retried, redelivered, reclaimed from a dead worker, published twice or replayed from
//! the dead-letter stream stores and sends each notification once.

use tessera_app::queue::Job;
use tessera_contracts::events::{EmailSend, TaskCompleted, TaskCreated, topics};
use tessera_contracts::notifications::templates::{
    PASSWORD_RESET as PASSWORD_RESET_TEMPLATE, TASK_COMPLETED as TASK_COMPLETED_TEMPLATE,
    TASK_CREATED as TASK_CREATED_TEMPLATE,
};
use tessera_contracts::notifications::{NotificationChannel, NotificationType, SendNotification};
use uuid::Uuid;

/// The in-app notification of every new task.
pub(crate) const TASK_CREATED_SUBJECT: &str = "New Task Created";
/// The subject of the welcome e-mail.
pub(crate) const WELCOME_SUBJECT: &str = "Welcome to Tessera: your first task is in";
/// The in-app notification of a completed task.
pub(crate) const TASK_COMPLETED_SUBJECT: &str = "Task Completed";
/// The subject of the congratulations e-mail.
pub(crate) const CONGRATULATIONS_SUBJECT: &str = "Congratulations, you completed a task";
/// The subject of the password-reset e-mail.
pub(crate) const PASSWORD_RESET_SUBJECT: &str = "Reset your Tessera password";

/// Where the links in e-mails point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Links {
    /// The web app's base URL (`WEB_APP_URL`), without a trailing slash.
    web_app_url: String,
}

impl Links {
    /// Links into the web app at `web_app_url`.
    pub(crate) fn new(web_app_url: &str) -> Self {
        Self {
            web_app_url: web_app_url.trim().trim_end_matches('/').to_owned(),
        }
    }

    /// The web app's page of one task.
    pub(crate) fn task(&self, task_id: Uuid) -> String {
        format!("{}/tasks/{task_id}", self.web_app_url)
    }
}

/// Why a job cannot become notifications. Retrying cannot help, so the job is dead-lettered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unplannable {
    /// The payload does not decode as the topic's event.
    #[error("malformed {topic} payload: {reason}")]
    Malformed {
        /// The job's topic.
        topic: String,
        /// Where decoding failed, without quoting the payload.
        reason: String,
    },
    /// An `email.send` without a user: the notification service addresses e-mail by user id.
    #[error("email.send without a userId cannot be delivered: notifications are addressed by user")]
    NoRecipient,
    /// A job on a topic the worker does not handle.
    #[error("the worker does not handle {0}")]
    UnknownTopic(String),
}

/// The notifications `job` asks for, in the order they are sent: the in-app one first, so the
/// user sees it even while an e-mail still waits for a mail server.
pub(crate) fn plan(job: &Job, links: &Links) -> Result<Vec<SendNotification>, Unplannable> {
    match job.name.as_str() {
        topics::TASK_CREATED => Ok(task_created(job.id, &decode(job)?, links)),
        topics::TASK_COMPLETED => Ok(task_completed(job.id, &decode(job)?, links)),
        topics::EMAIL_SEND => email_send(job.id, decode(job)?).map(|n| vec![n]),
        other => Err(Unplannable::UnknownTopic(other.to_owned())),
    }
}

/// `task.created`: an in-app notification; with the user's first task also the welcome e-mail.
pub(crate) fn task_created(
    job_id: Uuid,
    event: &TaskCreated,
    links: &Links,
) -> Vec<SendNotification> {
    let mut out = vec![SendNotification {
        user_id: event.user_id,
        r#type: NotificationType::Info,
        channel: NotificationChannel::InApp,
        subject: Some(TASK_CREATED_SUBJECT.to_owned()),
        message: format!("Your task \"{}\" was created.", event.title),
        template: None,
        data: None,
        idempotency_key: Some(key(job_id, NotificationChannel::InApp)),
    }];
    if event.first_task {
        out.push(SendNotification {
            user_id: event.user_id,
            r#type: NotificationType::Info,
            channel: NotificationChannel::Email,
            subject: Some(WELCOME_SUBJECT.to_owned()),
            message: format!(
                "Welcome to Tessera! You created your first task, \"{}\".",
                event.title
            ),
            template: Some(TASK_CREATED_TEMPLATE.to_owned()),
            data: Some(serde_json::json!({
                "title": event.title,
                "taskId": event.task_id,
                "taskUrl": links.task(event.task_id),
            })),
            idempotency_key: Some(key(job_id, NotificationChannel::Email)),
        });
    }
    out
}

/// `task.completed`: an in-app notification and the congratulations e-mail.
pub(crate) fn task_completed(
    job_id: Uuid,
    event: &TaskCompleted,
    links: &Links,
) -> Vec<SendNotification> {
    vec![
        SendNotification {
            user_id: event.user_id,
            r#type: NotificationType::Success,
            channel: NotificationChannel::InApp,
            subject: Some(TASK_COMPLETED_SUBJECT.to_owned()),
            message: format!("You completed \"{}\". Well done!", event.title),
            template: None,
            data: None,
            idempotency_key: Some(key(job_id, NotificationChannel::InApp)),
        },
        SendNotification {
            user_id: event.user_id,
            r#type: NotificationType::Success,
            channel: NotificationChannel::Email,
            subject: Some(CONGRATULATIONS_SUBJECT.to_owned()),
            message: format!("Congratulations! You completed \"{}\".", event.title),
            template: Some(TASK_COMPLETED_TEMPLATE.to_owned()),
            data: Some(serde_json::json!({
                "title": event.title,
                "taskId": event.task_id,
                "taskUrl": links.task(event.task_id),
                "completedAt": tessera_contracts::time::format(&event.completed_at),
            })),
            idempotency_key: Some(key(job_id, NotificationChannel::Email)),
        },
    ]
}

/// `email.send`: one e-mail with the event's template and data, to the user it names.
///
/// The notification service looks the address up from the user events it consumes; the event's
/// `to` is the same address at the time of the request and is not sent (the send call has no
/// field for it).
pub(crate) fn email_send(job_id: Uuid, event: EmailSend) -> Result<SendNotification, Unplannable> {
    let user_id = event.user_id.ok_or(Unplannable::NoRecipient)?;
    let (subject, message) = match event.template.as_str() {
        PASSWORD_RESET_TEMPLATE => (
            Some(PASSWORD_RESET_SUBJECT.to_owned()),
            "A link to reset your password was sent to your e-mail address.".to_owned(),
        ),
        // Other templates name their own subject; the message is the stored record.
        other => (None, format!("An e-mail ({other}) was sent to you.")),
    };
    Ok(SendNotification {
        user_id,
        r#type: NotificationType::Info,
        channel: NotificationChannel::Email,
        subject,
        message,
        template: Some(event.template),
        data: Some(event.data),
        idempotency_key: Some(key(job_id, NotificationChannel::Email)),
    })
}

/// `"{job id}:in-app"` or `"{job id}:email"`: one notification per job and channel.
pub(crate) fn key(job_id: Uuid, channel: NotificationChannel) -> String {
    match channel {
        NotificationChannel::InApp => format!("{job_id}:in-app"),
        NotificationChannel::Email => format!("{job_id}:email"),
    }
}

fn decode<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T, Unplannable> {
    serde_json::from_value(job.data.clone()).map_err(|err| Unplannable::Malformed {
        topic: job.name.clone(),
        reason: describe(&err),
    })
}

/// Where decoding failed, without quoting values: serde's messages can echo them
/// (`invalid type: string "..."`), payloads hold addresses and titles, and this text ends up in
/// logs and the dead-letter stream. Messages about fields name only our own fields.
fn describe(err: &serde_json::Error) -> String {
    let msg = err.to_string();
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        return msg;
    }
    match err.classify() {
        serde_json::error::Category::Data => "a field has the wrong type or value".to_owned(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            "not valid JSON".to_owned()
        }
        serde_json::error::Category::Io => "unreadable".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use tessera_contracts::UserId;

    use super::*;

    fn user() -> UserId {
        UserId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
    }

    fn task_id() -> Uuid {
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0042)
    }

    fn links() -> Links {
        Links::new("http://localhost:3000/")
    }

    fn created(first_task: bool) -> Job {
        let event = TaskCreated {
            task_id: task_id(),
            user_id: user(),
            title: "Write the report".to_owned(),
            first_task,
            created_at: Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap(),
        };
        Job::new(topics::TASK_CREATED, serde_json::to_value(event).unwrap())
    }

    #[test]
    fn every_new_task_gets_an_in_app_notification_naming_it() {
        let job = created(false);
        let plan = plan(&job, &links()).unwrap();
        assert_eq!(plan.len(), 1, "no e-mail after the first task");
        let n = &plan[0];
        assert_eq!(n.user_id, user());
        assert_eq!(n.r#type, NotificationType::Info);
        assert_eq!(n.channel, NotificationChannel::InApp);
        assert_eq!(n.subject.as_deref(), Some("New Task Created"));
        assert!(n.message.contains("Write the report"), "{}", n.message);
        assert_eq!(n.template, None);
        assert_eq!(n.idempotency_key, Some(format!("{}:in-app", job.id)));
    }

    #[test]
    fn the_first_task_also_gets_the_welcome_email_with_a_link_to_it() {
        let job = created(true);
        let plan = plan(&job, &links()).unwrap();
        let channels: Vec<_> = plan.iter().map(|n| n.channel).collect();
        assert_eq!(
            channels,
            [NotificationChannel::InApp, NotificationChannel::Email],
            "in-app first"
        );
        let mail = &plan[1];
        assert_eq!(mail.template.as_deref(), Some("task-created"));
        assert_eq!(mail.subject.as_deref(), Some(WELCOME_SUBJECT));
        assert_eq!(
            mail.data,
            Some(json!({
                "title": "Write the report",
                "taskId": task_id().to_string(),
                "taskUrl": format!("http://localhost:3000/tasks/{}", task_id()),
            }))
        );
        assert_eq!(mail.idempotency_key, Some(format!("{}:email", job.id)));
    }

    #[test]
    fn a_completed_task_gets_an_in_app_success_and_the_congratulations_email() {
        let event = TaskCompleted {
            task_id: task_id(),
            user_id: user(),
            title: "Ship it".to_owned(),
            completed_at: Utc.with_ymd_and_hms(2026, 11, 25, 11, 30, 0).unwrap(),
        };
        let job = Job::new(topics::TASK_COMPLETED, serde_json::to_value(event).unwrap());
        let plan = plan(&job, &Links::new("https://app.example")).unwrap();
        assert_eq!(plan.len(), 2);
        let (in_app, mail) = (&plan[0], &plan[1]);
        assert_eq!(in_app.channel, NotificationChannel::InApp);
        assert_eq!(in_app.r#type, NotificationType::Success);
        assert_eq!(in_app.subject.as_deref(), Some("Task Completed"));
        assert!(in_app.message.contains("Ship it"));
        assert_eq!(in_app.idempotency_key, Some(format!("{}:in-app", job.id)));
        assert_eq!(mail.channel, NotificationChannel::Email);
        assert_eq!(mail.r#type, NotificationType::Success);
        assert_eq!(mail.template.as_deref(), Some("task-completed"));
        assert_eq!(
            mail.data,
            Some(json!({
                "title": "Ship it",
                "taskId": task_id().to_string(),
                "taskUrl": format!("https://app.example/tasks/{}", task_id()),
                "completedAt": "2026-11-25T11:30:00.000Z",
            }))
        );
        assert_eq!(mail.idempotency_key, Some(format!("{}:email", job.id)));
    }

    #[test]
    fn an_email_send_passes_its_template_and_data_through() {
        let data = json!({"resetUrl": "http://localhost:3000/reset-password?token=t", "expiresInMinutes": 30});
        let event = EmailSend {
            user_id: Some(user()),
            to: "ada@example.com".to_owned(),
            template: "password-reset".to_owned(),
            data: data.clone(),
        };
        let job = Job::new(topics::EMAIL_SEND, serde_json::to_value(event).unwrap());
        let plan = plan(&job, &links()).unwrap();
        assert_eq!(plan.len(), 1);
        let mail = &plan[0];
        assert_eq!(mail.user_id, user());
        assert_eq!(mail.channel, NotificationChannel::Email);
        assert_eq!(mail.template.as_deref(), Some("password-reset"));
        assert_eq!(mail.subject.as_deref(), Some(PASSWORD_RESET_SUBJECT));
        assert_eq!(mail.data, Some(data));
        assert_eq!(mail.idempotency_key, Some(format!("{}:email", job.id)));
        assert!(!mail.message.is_empty());
    }

    #[test]
    fn keys_are_stable_for_a_job_and_differ_per_channel() {
        let job = created(true);
        let again = plan(&job, &links()).unwrap();
        let first = plan(&job, &links()).unwrap();
        assert_eq!(first, again, "a retry sends the same calls");
        assert_ne!(first[0].idempotency_key, first[1].idempotency_key);
        let other = plan(&created(true), &links()).unwrap();
        assert_ne!(first[0].idempotency_key, other[0].idempotency_key);
    }

    #[test]
    fn an_email_send_without_a_user_cannot_be_delivered() {
        let job = Job::new(
            topics::EMAIL_SEND,
            json!({"userId": null, "to": "x@example.com", "template": "password-reset", "data": {}}),
        );
        assert_eq!(plan(&job, &links()), Err(Unplannable::NoRecipient));
    }

    #[test]
    fn malformed_payloads_are_refused_without_quoting_them() {
        let job = Job::new(topics::TASK_CREATED, json!({"title": "secret title"}));
        let err = plan(&job, &links()).unwrap_err();
        assert!(
            matches!(&err, Unplannable::Malformed { topic, reason }
                if topic == "task.created" && reason.starts_with("missing field")),
            "{err}"
        );
        let job = Job::new(
            topics::EMAIL_SEND,
            json!({"userId": "ada@example.com", "to": "ada@example.com", "template": "t", "data": {}}),
        );
        let err = plan(&job, &links()).unwrap_err().to_string();
        assert!(err.starts_with("malformed email.send payload"), "{err}");
        assert!(!err.contains("ada"), "{err}");
        let job = Job::new(topics::TASK_COMPLETED, json!("not an object"));
        assert!(matches!(
            plan(&job, &links()),
            Err(Unplannable::Malformed { .. })
        ));
    }

    #[test]
    fn unknown_topics_are_refused() {
        let job = Job::new("user.registered", json!({}));
        assert_eq!(
            plan(&job, &links()),
            Err(Unplannable::UnknownTopic("user.registered".to_owned()))
        );
    }

    #[test]
    fn links_tolerate_a_trailing_slash() {
        assert_eq!(
            Links::new(" http://localhost:3000// ").task(task_id()),
            format!("http://localhost:3000/tasks/{}", task_id())
        );
    }
}
