//! The notification domain's JSON shapes and input rules ([`ValidSend`], [`ListNotifications`],
//! the templates and their data). No server dependencies: the web app uses them.
//!
//! The notification itself and the send request live in `tessera_contracts::notifications`,
//! because the worker (which may not depend on this crate) sends them too; they are re-exported
//! here so the web app finds every shape of this domain in one place.

use serde::{Deserialize, Serialize};
use tessera_contracts::page::{PageRequest, parse_param};
use tessera_contracts::problem::FieldError;
use utoipa::{IntoParams, ToSchema};

use tessera_contracts::UserId;
pub use tessera_contracts::notifications::{
    Notification, NotificationChannel, NotificationType, SendNotification, templates,
};
use tessera_contracts::text::{NUL_MESSAGE, contains_nul, refuse_nul};

/// The name of the Server-Sent Events event that carries a new notification on
/// `GET /notifications/stream`; its `data` is the [`Notification`] as JSON.
pub const STREAM_EVENT: &str = "notification";

/// One Server-Sent Event of `GET /notifications/stream`, as an SSE parser hands it over (the
/// stream also carries `: keepalive` comments and a `retry` field, which are not events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    /// Always `notification`.
    #[schema(pattern = "^notification$", example = "notification")]
    pub event: String,
    /// The new [`Notification`] as JSON.
    #[schema(
        content_media_type = "application/json",
        example = r#"{"id":"0190b0e4-8c3a-7d2e-9f41-5b6a7c8d9e0f","userId":"0190b0e4-1a2b-7c3d-8e4f-5a6b7c8d9e0f","type":"INFO","channel":"IN_APP","subject":"New Task Created","message":"Your task \"Write the report\" was created.","read":false,"createdAt":"2026-11-25T10:00:00.000Z"}"#
    )]
    pub data: String,
}

/// Where a page of notifications sits in the caller's list, and how many are unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPageMeta {
    /// The page number, from 1.
    pub page: u32,
    /// The page size.
    pub limit: u32,
    /// How many notifications the list holds (only unread ones with `unreadOnly=true`).
    pub total: u64,
    /// How many pages the list has (0 for an empty list).
    pub total_pages: u64,
    /// How many of the caller's notifications are unread, whatever the filter.
    pub unread_count: u64,
}

/// `200` of `GET /notifications`: one page of the caller's notifications, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    /// The notifications on this page.
    pub data: Vec<Notification>,
    /// Where this page sits.
    pub meta: NotificationPageMeta,
}

/// The query string of `GET /notifications`. Values are read as text and parsed by
/// [`ListNotificationsQuery::parse`] (the web app builds it too), so each bad one is a 400
/// naming its parameter; unknown parameters are refused too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListNotificationsQuery {
    /// Only unread notifications (`true` or `false`, default `false`).
    #[serde(rename = "unreadOnly")]
    #[param(rename = "unreadOnly", value_type = Option<bool>, example = false)]
    pub unread_only: Option<String>,
    /// The page number, from 1 (default 1) to 4294967295.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295.0, example = 1)]
    pub page: Option<String>,
    /// The page size, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 10)]
    pub limit: Option<String>,
}

/// A valid `GET /notifications` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListNotifications {
    /// Which page.
    pub page: PageRequest,
    /// Only unread notifications.
    pub unread_only: bool,
}

impl ListNotificationsQuery {
    /// Parses every parameter, naming each bad one.
    pub fn parse(&self) -> Result<ListNotifications, Vec<FieldError>> {
        let mut errors = Vec::new();
        let unread_only =
            parse_param::<bool>("unreadOnly", self.unread_only.as_deref(), &mut errors);
        let page = PageRequest::parse(self.page.as_deref(), self.limit.as_deref(), &mut errors);
        if errors.is_empty() {
            Ok(ListNotifications {
                page,
                unread_only: unread_only.unwrap_or(false),
            })
        } else {
            Err(errors)
        }
    }
}

/// A template `POST /notifications/send` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// `task-created`: the welcome e-mail for a user's first task.
    TaskCreated,
    /// `task-completed`: congratulations on a completed task.
    TaskCompleted,
    /// `password-reset`: the reset link.
    PasswordReset,
}

impl Template {
    /// The template with this name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            templates::TASK_CREATED => Some(Template::TaskCreated),
            templates::TASK_COMPLETED => Some(Template::TaskCompleted),
            templates::PASSWORD_RESET => Some(Template::PasswordReset),
            _ => None,
        }
    }

    /// Its name in the contract.
    pub fn name(self) -> &'static str {
        match self {
            Template::TaskCreated => templates::TASK_CREATED,
            Template::TaskCompleted => templates::TASK_COMPLETED,
            Template::PasswordReset => templates::PASSWORD_RESET,
        }
    }

    /// The variables that grant something to whoever reads them (the reset link is a password
    /// in all but name): kept only until the e-mail went out, then removed from the stored row.
    pub fn secret_variables(self) -> &'static [&'static str] {
        match self {
            Template::PasswordReset => &["resetUrl"],
            Template::TaskCreated | Template::TaskCompleted => &[],
        }
    }

    /// The subject of its e-mails (and the notification's, when the caller gives none).
    pub fn subject(self) -> &'static str {
        match self {
            Template::TaskCreated => "Welcome to Tessera: your first task is in",
            Template::TaskCompleted => "Congratulations, you completed a task",
            Template::PasswordReset => "Reset your Tessera password",
        }
    }
}

/// The variables of a template, read from `SendNotification.data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateData {
    /// The task's title (task templates).
    pub title: Option<String>,
    /// The task's page in the web app (task templates; the task list when absent).
    pub task_url: Option<String>,
    /// The reset link (`password-reset`, required there).
    pub reset_url: Option<String>,
    /// How long the reset link works (`password-reset`).
    pub expires_in_minutes: Option<u64>,
}

impl TemplateData {
    /// Reads and checks what `template` needs from `data`, naming the first bad value
    /// (`data.resetUrl`). Unknown keys are ignored.
    pub fn parse(template: Template, data: Option<&serde_json::Value>) -> Result<Self, FieldError> {
        let bad = |field: &str, message: &str| FieldError {
            field: format!("data.{field}"),
            message: message.to_owned(),
        };
        let data = match data {
            None | Some(serde_json::Value::Null) => &serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => map,
            Some(_) => {
                return Err(FieldError {
                    field: "data".to_owned(),
                    message: "must be an object".to_owned(),
                });
            }
        };
        let text = |key: &str| -> Result<Option<String>, FieldError> {
            match data.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) if s.chars().count() > 2000 => {
                    Err(bad(key, "must be at most 2000 characters"))
                }
                Some(serde_json::Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(bad(key, "must be a string")),
            }
        };
        // Only web links: a `javascript:` or `data:` URL must never become a button.
        let link = |key: &str| -> Result<Option<String>, FieldError> {
            match text(key)? {
                Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    Err(bad(key, "must be an http or https URL"))
                }
                other => Ok(other),
            }
        };
        match template {
            Template::TaskCreated | Template::TaskCompleted => Ok(Self {
                title: text("title")?,
                task_url: link("taskUrl")?,
                ..Self::default()
            }),
            Template::PasswordReset => {
                let reset_url = link("resetUrl")?
                    .ok_or_else(|| bad("resetUrl", "is required by the password-reset template"))?;
                let expires_in_minutes = match data.get("expiresInMinutes") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(v) => match v.as_u64() {
                        Some(n) if n > 0 => Some(n),
                        _ => return Err(bad("expiresInMinutes", "must be a positive integer")),
                    },
                };
                Ok(Self {
                    reset_url: Some(reset_url),
                    expires_in_minutes,
                    ..Self::default()
                })
            }
        }
    }
}

/// A validated `POST /notifications/send` body.
#[derive(Debug, Clone)]
pub struct ValidSend {
    /// The recipient.
    pub user_id: UserId,
    /// The notification's type.
    pub kind: NotificationType,
    /// Where it goes.
    pub channel: NotificationChannel,
    /// The subject, trimmed; the template's when the caller gives none.
    pub subject: Option<String>,
    /// The message, trimmed.
    pub message: String,
    /// The e-mail template's name.
    pub template: Option<&'static str>,
    /// The template's variables (absent rather than `null`).
    pub data: Option<serde_json::Value>,
    /// The caller's idempotency key.
    pub key: Option<String>,
}

/// Checks a text field: `sent` is what the client sent, whose length in characters is what the
/// document's `maxLength` limits; `kept` is what is stored (trimmed), which must not be empty,
/// nor, for text shown to people (`shown`), made of invisible characters only.
fn length(
    field: &str,
    sent: &str,
    kept: &str,
    max: usize,
    shown: bool,
    errors: &mut Vec<FieldError>,
) {
    let empty = kept.is_empty() || (shown && tessera_contracts::text::is_blank(kept));
    if empty || sent.chars().count() > max {
        errors.push(FieldError {
            field: field.to_owned(),
            message: format!("must be 1 to {max} characters"),
        });
    } else if let Err(e) = refuse_nul(field, kept) {
        errors.push(e);
    }
}

/// The largest number `data` may hold: 2^53 - 1. `jsonb` keeps numbers as decimals and prints
/// them back in full, and a huge one (1.8e308 comes back as 309 digits) may not parse as `f64`
/// again, which would make the stored row unreadable. Within this range every client's JSON
/// parser reads them exactly, too.
const MAX_DATA_NUMBER: f64 = 9_007_199_254_740_991.0;

/// Why a JSON value cannot be stored as `jsonb` and read back, if it cannot: U+0000 in a string
/// or key, or a number out of range.
fn unstorable(value: &serde_json::Value) -> Option<&'static str> {
    match value {
        serde_json::Value::String(s) if contains_nul(s) => Some(NUL_MESSAGE),
        serde_json::Value::Number(n) => {
            let fits = match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.unsigned_abs() <= MAX_DATA_NUMBER as u64,
                (_, Some(u), _) => u <= MAX_DATA_NUMBER as u64,
                (_, _, Some(f)) => f.is_finite() && f.abs() <= MAX_DATA_NUMBER,
                _ => false,
            };
            (!fits).then_some("numbers must lie within ±9007199254740991")
        }
        serde_json::Value::Array(items) => items.iter().find_map(unstorable),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if contains_nul(k) {
                Some(NUL_MESSAGE)
            } else {
                unstorable(v)
            }
        }),
        _ => None,
    }
}

impl ValidSend {
    /// Checks every rule and reports every broken one.
    pub fn parse(req: SendNotification) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let message = req.message.trim().to_owned();
        length("message", &req.message, &message, 5000, true, &mut errors);
        // A blank subject (or one of invisible characters only) is no subject.
        let subject = match req.subject.as_deref() {
            Some(sent) if !tessera_contracts::text::is_blank(sent) => {
                length("subject", sent, sent.trim(), 200, true, &mut errors);
                Some(sent.trim().to_owned())
            }
            _ => None,
        };
        if let Some(key) = &req.idempotency_key {
            length("idempotencyKey", key, key, 200, false, &mut errors);
        }
        if let Some(reason) = req.data.as_ref().and_then(unstorable) {
            errors.push(FieldError {
                field: "data".to_owned(),
                message: reason.to_owned(),
            });
        }
        let template = match req.template.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => match Template::parse(name) {
                Some(t) => Some(t),
                None => {
                    errors.push(FieldError {
                        field: "template".to_owned(),
                        message: format!(
                            "must be one of {}",
                            tessera_contracts::notifications::templates::ALL.join(", ")
                        ),
                    });
                    None
                }
            },
        };
        if let Some(t) = template {
            if let Err(e) = TemplateData::parse(t, req.data.as_ref()) {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            user_id: req.user_id,
            kind: req.r#type,
            channel: req.channel,
            // The template names the mail; the notification in the list gets the same title.
            subject: subject.or(template.map(|t| t.subject().to_owned())),
            message,
            template: template.map(Template::name),
            data: req.data.filter(|d| !d.is_null()),
            key: req.idempotency_key,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    fn req(raw: serde_json::Value) -> SendNotification {
        let mut base = json!({
            "userId": "0190e2a4-0000-7000-8000-000000000001",
            "type": "INFO",
            "channel": "EMAIL",
            "message": "Hello",
        });
        for (k, v) in raw.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn fields(r: Result<ValidSend, Vec<FieldError>>) -> Vec<String> {
        match r {
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_broken_rule_is_named() {
        let r = ValidSend::parse(req(json!({
            "message": " ",
            "subject": "s".repeat(201),
            "template": "welcome",
            "idempotencyKey": "",
        })));
        assert_eq!(
            fields(r),
            ["message", "subject", "idempotencyKey", "template"]
        );
        let r = ValidSend::parse(req(json!({"message": "m".repeat(5001)})));
        assert_eq!(fields(r), ["message"]);
        let r = ValidSend::parse(req(json!({"idempotencyKey": "k".repeat(201)})));
        assert_eq!(fields(r), ["idempotencyKey"]);
        let r = ValidSend::parse(req(json!({"template": "password-reset"})));
        assert_eq!(fields(r), ["data.resetUrl"]);
    }

    #[test]
    fn data_must_read_back_from_jsonb() {
        for bad in [
            json!({"data": {"n": 1.7976931348623157e308}}),
            json!({"data": {"deep": [{"n": -9_007_199_254_740_992_i64}]}}),
            json!({"data": {"n": u64::MAX}}),
            json!({"data": {"k\u{0000}": 1}}),
        ] {
            assert_eq!(fields(ValidSend::parse(req(bad))), ["data"]);
        }
        let ok = json!({"data": {"n": 9_007_199_254_740_991_i64, "f": -1.5e15, "s": "x"}});
        assert!(ValidSend::parse(req(ok)).is_ok());
    }

    #[test]
    fn limits_count_characters_and_bounds_are_inclusive() {
        let ok = ValidSend::parse(req(json!({
            "message": "é".repeat(5000),
            "subject": "é".repeat(200),
            "idempotencyKey": "k".repeat(200),
        })))
        .unwrap();
        assert_eq!(ok.message.chars().count(), 5000);
    }

    #[test]
    fn limits_count_surrounding_whitespace_as_sent() {
        // The document's maxLength counts the string as sent, so padding counts too.
        let r = ValidSend::parse(req(json!({
            "message": format!("\t{}", "m".repeat(5000)),
            "subject": format!(" {}", "s".repeat(200)),
        })));
        assert_eq!(fields(r), ["message", "subject"]);
        let ok = ValidSend::parse(req(json!({
            "message": format!(" {} ", "m".repeat(4998)),
            "subject": format!(" {} ", "s".repeat(198)),
        })))
        .unwrap();
        assert_eq!(ok.message, "m".repeat(4998));
        assert_eq!(ok.subject, Some("s".repeat(198)));
    }

    #[test]
    fn invisible_text_is_blank_text() {
        let r = ValidSend::parse(req(json!({"message": "\u{200B}\u{2060}\u{FEFF}"})));
        assert_eq!(fields(r), ["message"]);
        let t = ValidSend::parse(req(json!({"subject": "\u{00AD}\u{200D}"}))).unwrap();
        assert_eq!(t.subject, None);
    }

    #[test]
    fn a_template_names_the_subject_unless_the_caller_does() {
        let t = ValidSend::parse(req(json!({"template": "task-created"}))).unwrap();
        assert_eq!(t.subject.as_deref(), Some(Template::TaskCreated.subject()));
        assert_eq!(t.template, Some("task-created"));
        let t =
            ValidSend::parse(req(json!({"template": "task-created", "subject": " Hi "}))).unwrap();
        assert_eq!(t.subject.as_deref(), Some("Hi"));
        let t = ValidSend::parse(req(json!({"subject": "  "}))).unwrap();
        assert_eq!(t.subject, None);
    }

    fn query(
        unread_only: Option<&str>,
        page: Option<&str>,
        limit: Option<&str>,
    ) -> ListNotificationsQuery {
        ListNotificationsQuery {
            unread_only: unread_only.map(str::to_owned),
            page: page.map(str::to_owned),
            limit: limit.map(str::to_owned),
        }
    }

    #[test]
    fn list_parameters_are_checked_by_name() {
        let list = query(Some("true"), Some("2"), Some("5")).parse().unwrap();
        assert!(list.unread_only);
        assert_eq!(list.page, PageRequest { page: 2, limit: 5 });
        let errors = query(Some("yes"), Some("0"), None).parse().unwrap_err();
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["unreadOnly", "page"]);
    }

    #[test]
    fn the_page_meta_is_camel_case_with_the_unread_count() {
        let page = NotificationPage {
            data: Vec::new(),
            meta: NotificationPageMeta {
                page: 1,
                limit: 10,
                total: 0,
                total_pages: 0,
                unread_count: 3,
            },
        };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            serde_json::json!({
                "data": [],
                "meta": {"page": 1, "limit": 10, "total": 0, "totalPages": 0, "unreadCount": 3},
            })
        );
    }
}
