//! The notification service's internal send call: `POST /notifications/send` (API.md,
//! "Notification service").
//!
//! Only other Tessera processes call this route, with a service token: the worker, through the
//! `NotificationClient` trait of `tessera-app`. The shapes live here rather than in the
//! notification domain's `wire` module because the caller (the worker domain) may not depend on
//! the notification domain crate; both sides use these definitions.
//!
//! Requests refuse unknown fields (API.md: typos never pass silently). The response does not, so
//! a caller built against an older contract keeps decoding a response that gained a field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::UserId;

/// The e-mail templates `POST /notifications/send` renders (`SendNotification::template`), and
/// the `data` each reads. Unknown keys in `data` are ignored; the recipient's name comes from the
/// notification service's address book, not from `data`.
pub mod templates {
    /// The welcome e-mail for a user's first task. `data`: `title` (the task's title) and
    /// `taskUrl` (an `http(s)` link to it; the task list when absent), both optional.
    pub const TASK_CREATED: &str = "task-created";
    /// The congratulations e-mail for a completed task. `data`: as for [`TASK_CREATED`].
    pub const TASK_COMPLETED: &str = "task-completed";
    /// The password-reset e-mail. `data`: `resetUrl` (required, an `http(s)` URL) and
    /// `expiresInMinutes` (optional, a positive integer: how long the link works).
    pub const PASSWORD_RESET: &str = "password-reset";
    /// Every template name.
    pub const ALL: [&str; 3] = [TASK_CREATED, TASK_COMPLETED, PASSWORD_RESET];
}

/// How serious a notification is; the web app picks its colour and icon from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationType {
    /// Neutral information (`INFO`).
    Info,
    /// Something went well (`SUCCESS`), e.g. a task was completed.
    Success,
    /// Something needs attention (`WARNING`).
    Warning,
    /// Something failed (`ERROR`).
    Error,
}

impl NotificationType {
    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Info => "INFO",
            NotificationType::Success => "SUCCESS",
            NotificationType::Warning => "WARNING",
            NotificationType::Error => "ERROR",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "INFO" => Some(NotificationType::Info),
            "SUCCESS" => Some(NotificationType::Success),
            "WARNING" => Some(NotificationType::Warning),
            "ERROR" => Some(NotificationType::Error),
            _ => None,
        }
    }
}

/// How a notification reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationChannel {
    /// An e-mail over SMTP (`EMAIL`), rendered from `template` when one is given.
    Email,
    /// A notification in the web app (`IN_APP`): stored, listed and pushed over SSE.
    InApp,
}

impl NotificationChannel {
    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationChannel::Email => "EMAIL",
            NotificationChannel::InApp => "IN_APP",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EMAIL" => Some(NotificationChannel::Email),
            "IN_APP" => Some(NotificationChannel::InApp),
            _ => None,
        }
    }
}

/// The body of `POST /notifications/send`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendNotification {
    /// The user the notification is for.
    pub user_id: UserId,
    /// How serious it is; `type` on the wire.
    pub r#type: NotificationType,
    /// How it is delivered.
    pub channel: NotificationChannel,
    /// A short title; the e-mail subject for `EMAIL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000]*$",
        example = "New Task Created"
    )]
    pub subject: Option<String>,
    /// The text shown to the user (and the plain-text body of an e-mail without a template).
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000]*$",
        example = "Your task \"Write the report\" was created."
    )]
    pub message: String,
    /// The e-mail template to render (`task-created`, `task-completed`, `password-reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^(task-created|task-completed|password-reset)?$",
        example = "task-created"
    )]
    pub template: Option<String>,
    /// The template's variables. Strings must not hold U+0000 and numbers must lie within
    /// ±9007199254740991 (2^53 - 1): both are stored as PostgreSQL `jsonb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Makes the call idempotent: the same key twice stores and sends once (a retried job
    /// passes its job id here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*$",
        example = "1732528800000-0:in-app"
    )]
    pub idempotency_key: Option<String>,
}

/// A stored notification: the answer of `POST /notifications/send` and the items of
/// `GET /notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The notification's id.
    pub id: uuid::Uuid,
    /// The user it belongs to.
    pub user_id: UserId,
    /// How serious it is; `type` on the wire.
    pub r#type: NotificationType,
    /// How it was delivered.
    pub channel: NotificationChannel,
    /// Its title, if it has one (`null` otherwise).
    pub subject: Option<String>,
    /// Its text.
    pub message: String,
    /// Whether the user has marked it read.
    pub read: bool,
    /// When it was created.
    #[serde(with = "crate::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn user() -> UserId {
        UserId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0001,
        ))
    }

    #[test]
    fn a_send_request_is_camel_case_with_type_and_screaming_enums() {
        let req = SendNotification {
            user_id: user(),
            r#type: NotificationType::Success,
            channel: NotificationChannel::InApp,
            subject: Some("Done".to_owned()),
            message: "Task completed".to_owned(),
            template: None,
            data: None,
            idempotency_key: Some("job-1".to_owned()),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "userId": user().to_string(),
                "type": "SUCCESS",
                "channel": "IN_APP",
                "subject": "Done",
                "message": "Task completed",
                "idempotencyKey": "job-1",
            })
        );
    }

    #[test]
    fn a_send_request_round_trips_with_every_field() {
        let raw = json!({
            "userId": user().to_string(),
            "type": "INFO",
            "channel": "EMAIL",
            "subject": "Welcome",
            "message": "Hello",
            "template": "task-created",
            "data": {"title": "Write the report"},
            "idempotencyKey": "k",
        });
        let req: SendNotification = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(req.r#type, NotificationType::Info);
        assert_eq!(req.channel, NotificationChannel::Email);
        assert_eq!(req.data, Some(json!({"title": "Write the report"})));
        assert_eq!(serde_json::to_value(&req).unwrap(), raw);
    }

    #[test]
    fn optional_fields_may_be_missing_or_null() {
        let req: SendNotification = serde_json::from_value(json!({
            "userId": user().to_string(),
            "type": "WARNING",
            "channel": "IN_APP",
            "subject": null,
            "message": "m",
        }))
        .unwrap();
        assert_eq!(req.subject, None);
        assert_eq!(req.template, None);
        assert_eq!(req.data, None);
        assert_eq!(req.idempotency_key, None);
    }

    #[test]
    fn a_send_request_refuses_unknown_and_misspelt_fields() {
        let base = json!({
            "userId": user().to_string(),
            "type": "INFO",
            "channel": "IN_APP",
            "message": "m",
        });
        let mut unknown = base.clone();
        unknown["priority"] = json!("HIGH");
        let err = serde_json::from_value::<SendNotification>(unknown).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `priority`"),
            "{err}"
        );

        // The Rust field name is not the wire name.
        let mut snake = base.clone();
        snake["idempotency_key"] = json!("k");
        assert!(serde_json::from_value::<SendNotification>(snake).is_err());

        // Enum values are SCREAMING_SNAKE_CASE only.
        let mut lower = base;
        lower["channel"] = json!("InApp");
        assert!(serde_json::from_value::<SendNotification>(lower).is_err());
    }

    #[test]
    fn the_enums_spell_their_wire_names() {
        for t in [
            NotificationType::Info,
            NotificationType::Success,
            NotificationType::Warning,
            NotificationType::Error,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
            assert_eq!(NotificationType::parse(t.as_str()), Some(t));
        }
        for c in [NotificationChannel::Email, NotificationChannel::InApp] {
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
            assert_eq!(NotificationChannel::parse(c.as_str()), Some(c));
        }
        assert_eq!(NotificationChannel::InApp.as_str(), "IN_APP");
        assert_eq!(NotificationType::parse("info"), None);
    }

    #[test]
    fn a_notification_has_the_documented_shape_and_tolerates_new_fields() {
        let created_at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        let n = Notification {
            id: uuid::Uuid::from_u128(7),
            user_id: user(),
            r#type: NotificationType::Info,
            channel: NotificationChannel::InApp,
            subject: None,
            message: "New Task Created".to_owned(),
            read: false,
            created_at,
        };
        let value = serde_json::to_value(&n).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "00000000-0000-0000-0000-000000000007",
                "userId": user().to_string(),
                "type": "INFO",
                "channel": "IN_APP",
                "subject": null,
                "message": "New Task Created",
                "read": false,
                "createdAt": "2026-11-25T10:00:00.000Z",
            })
        );
        let mut newer = value;
        newer["readAt"] = json!(null);
        assert_eq!(serde_json::from_value::<Notification>(newer).unwrap(), n);
    }

    #[test]
    fn the_schema_names_the_field_type() {
        let schema = serde_json::to_value(<SendNotification as utoipa::PartialSchema>::schema())
            .unwrap()
            .to_string();
        assert!(schema.contains("\"type\""), "{schema}");
        assert!(!schema.contains("r#type"), "{schema}");
        assert!(schema.contains("idempotencyKey"), "{schema}");
    }
}
