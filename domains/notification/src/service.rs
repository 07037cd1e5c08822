//! The notification domain's use cases. Handlers and the in-process client parse and call one of
//! these; these own connections and transactions.

use std::sync::Arc;

use diesel_async::AsyncConnection;
use tessera_app::db::{DbError, DbPool};
use tessera_app::error::ApiError;
use tessera_app::pagination::{PageRequest, parse_param};
use tessera_contracts::UserId;
use tessera_contracts::events::{UserDeleted, UserRegistered};
use tessera_contracts::notifications::{
    Notification, NotificationChannel, NotificationType, SendNotification,
};
use tessera_contracts::problem::{FieldError, Problem};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::live::Live;
use crate::mail::{Mailer, Template, TemplateData};
use crate::store::{self, NewRow, Recipient, Row};
use crate::wire::{NotificationPage, NotificationPageMeta};

/// The consumer group (and inbox name) of this domain's event subscriptions.
pub const CONSUMER: &str = "notification";

/// What can go wrong in the notification domain, mapped once to HTTP in [`Reply`].
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The input breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No such notification, or not the caller's.
    #[error("notification not found")]
    NotFound,
    /// The user's `user.registered` event has not arrived yet: retry later.
    #[error("the recipient is not known yet")]
    RecipientUnknown,
    /// The user was deleted: no e-mail goes to them, now or later.
    #[error("the recipient was deleted")]
    RecipientGone,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for NotificationError {
    fn from(e: diesel::result::Error) -> Self {
        NotificationError::Db(e.into())
    }
}

impl From<tessera_app::db::RunError> for NotificationError {
    fn from(e: tessera_app::db::RunError) -> Self {
        NotificationError::Db(e.into())
    }
}

/// How a failure answers: one of the platform's errors, or a problem the platform has no variant
/// for (410 for a deleted recipient: 4xx on purpose, since the caller's retry could never
/// succeed, so its job must stop retrying). The mail server's answers never reach the caller:
/// the e-mail is sent later by the dispatcher (`dispatch.rs`).
#[derive(Debug)]
pub enum Reply {
    /// A platform error.
    Api(ApiError),
    /// A problem+json answer of its own.
    Problem(Problem),
}

fn problem(kind: &str, title: &str, status: u16, detail: &str) -> Problem {
    Problem {
        kind: format!("urn:tessera:problem:{kind}"),
        title: title.to_owned(),
        status,
        detail: Some(detail.to_owned()),
        instance: None,
        request_id: None,
        errors: Vec::new(),
    }
}

impl From<NotificationError> for Reply {
    fn from(e: NotificationError) -> Self {
        let unavailable = |detail: &str, secs: u64| {
            Reply::Api(ApiError::Unavailable {
                detail: detail.to_owned(),
                retry_after: Some(secs),
            })
        };
        match e {
            NotificationError::Validation(errors) => Reply::Api(ApiError::fields(errors)),
            NotificationError::NotFound => {
                Reply::Api(ApiError::NotFound("no such notification".to_owned()))
            }
            NotificationError::RecipientUnknown => unavailable(
                "the recipient is not known to the notification service yet; retry later",
                5,
            ),
            NotificationError::RecipientGone => Reply::Problem(problem(
                "recipient-gone",
                "Recipient gone",
                410,
                "the user was deleted; no e-mail is sent to them",
            )),
            NotificationError::Db(e) => Reply::Api(e.into()),
            NotificationError::Internal(e) => Reply::Api(ApiError::Internal(e)),
        }
    }
}

/// The notification domain's runtime settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The web app's base URL, for links in e-mails.
    pub web_app_url: String,
}

/// Everything the use cases need.
#[derive(Clone)]
pub struct Notifications {
    /// The notification database.
    pub pool: DbPool,
    /// E-mail delivery (used by the dispatcher, never inside a request).
    pub mailer: Mailer,
    /// The live feed.
    pub live: Live,
    /// Settings.
    pub settings: Settings,
    /// Wakes this process's mail dispatcher once a stored e-mail is pending, so it goes out
    /// without waiting for the dispatcher's next poll.
    pub mail_wake: Arc<Notify>,
}

/// A validated `POST /notifications/send` body.
#[derive(Debug, Clone)]
struct ValidSend {
    user_id: Uuid,
    kind: NotificationType,
    channel: NotificationChannel,
    subject: Option<String>,
    message: String,
    template: Option<&'static str>,
    data: Option<serde_json::Value>,
    key: Option<String>,
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
    } else if kept.contains('\0') {
        errors.push(nul(field));
    }
}

/// PostgreSQL stores U+0000 neither in `text` nor in `jsonb`, so text holding it is refused.
fn nul(field: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: NUL_MESSAGE.to_owned(),
    }
}

const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// The largest number `data` may hold: 2^53 - 1. `jsonb` keeps numbers as decimals and prints
/// them back in full, and a huge one (1.8e308 comes back as 309 digits) may not parse as `f64`
/// again, which would make the stored row unreadable. Within this range every client's JSON
/// parser reads them exactly, too.
const MAX_DATA_NUMBER: f64 = 9_007_199_254_740_991.0;

/// Why a JSON value cannot be stored as `jsonb` and read back, if it cannot: U+0000 in a string
/// or key, or a number out of range.
fn unstorable(value: &serde_json::Value) -> Option<&'static str> {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(NUL_MESSAGE),
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
            if k.contains('\0') {
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
    fn parse(req: SendNotification) -> Result<Self, NotificationError> {
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
            return Err(NotificationError::Validation(errors));
        }
        Ok(Self {
            user_id: req.user_id.0,
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

/// What `send` did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The notification, as first stored.
    pub notification: Notification,
    /// True when this call stored it; false when an earlier call with the same key did.
    pub created: bool,
}

/// A validated `GET /notifications` query.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    page: PageRequest,
    unread_only: bool,
}

impl ListQuery {
    /// Parses the raw parameters, naming each bad one.
    pub fn parse(
        unread_only: Option<&str>,
        page: Option<&str>,
        limit: Option<&str>,
    ) -> Result<Self, NotificationError> {
        let mut errors = Vec::new();
        let unread_only = parse_param::<bool>("unreadOnly", unread_only, &mut errors);
        let page = PageRequest::parse(page, limit, &mut errors);
        if !errors.is_empty() {
            return Err(NotificationError::Validation(errors));
        }
        Ok(Self {
            page,
            unread_only: unread_only.unwrap_or(false),
        })
    }
}

fn to_wire(row: &Row) -> Result<Notification, NotificationError> {
    // The columns have CHECK constraints; anything else is a bug.
    let kind = NotificationType::parse(&row.kind)
        .ok_or_else(|| anyhow::anyhow!("stored type {:?} is unknown", row.kind))?;
    let channel = NotificationChannel::parse(&row.channel)
        .ok_or_else(|| anyhow::anyhow!("stored channel {:?} is unknown", row.channel))?;
    Ok(Notification {
        id: row.id,
        user_id: UserId(row.user_id),
        r#type: kind,
        channel,
        subject: row.subject.clone(),
        message: row.message.clone(),
        read: row.read,
        created_at: row.created_at,
    })
}

impl Notifications {
    /// Stores a notification and delivers its in-app part: pushed to the user's live streams
    /// and, for `EMAIL`, queued for the address the user registered with. The e-mail is not sent
    /// here: it is stored pending and the mail dispatcher (`dispatch.rs`) sends it, retrying
    /// through mail-server outages, so this call never waits for SMTP.
    ///
    /// With an idempotency key (scoped to the user: the same key for two users names two
    /// notifications), a repeated call finds the first notification instead of storing another;
    /// the e-mail belongs to that one stored row, so the same key twice stores once and e-mails
    /// once.
    pub async fn send(&self, req: SendNotification) -> Result<Sent, NotificationError> {
        let send = ValidSend::parse(req)?;
        let mut conn = self.pool.get().await?;
        let existing = match &send.key {
            Some(key) => store::find_by_key(&mut conn, send.user_id, key).await?,
            None => None,
        };
        let email = send.channel == NotificationChannel::Email;
        let (row, created) = match existing {
            Some(row) => (row, false),
            None => {
                if email {
                    // Before storing: a mail that cannot be addressed yet is not stored either,
                    // so the caller's retry is the one that stores it; a deleted user gets none.
                    self.recipient(&mut conn, send.user_id).await?;
                }
                let new = NewRow {
                    id: Uuid::now_v7(),
                    user_id: send.user_id,
                    kind: send.kind.as_str(),
                    channel: send.channel.as_str(),
                    subject: send.subject.as_deref(),
                    message: &send.message,
                    idempotency_key: send.key.as_deref(),
                    template: send.template,
                    data: send.data.as_ref(),
                };
                match store::insert(&mut conn, &new, email).await? {
                    Some(row) => (row, true),
                    // A concurrent call with the same key stored it between our read and insert.
                    None => {
                        let key = send.key.as_deref().unwrap_or_default();
                        let row = store::find_by_key(&mut conn, send.user_id, key)
                            .await?
                            .ok_or_else(|| {
                                anyhow::anyhow!("the row holding an idempotency key vanished")
                            })?;
                        (row, false)
                    }
                }
            }
        };
        drop(conn);

        let notification = to_wire(&row)?;
        if created {
            tracing::info!(
                notification.id = %row.id,
                user.id = %row.user_id,
                notification.channel = %row.channel,
                "notification stored"
            );
            if email {
                self.mail_wake.notify_one();
            }
            self.live.publish(&notification).await;
        }
        Ok(Sent {
            notification,
            created,
        })
    }

    /// The live address-book entry of a user: unknown is retryable, deleted is final.
    async fn recipient(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        user_id: Uuid,
    ) -> Result<Recipient, NotificationError> {
        match store::find_recipient(conn, user_id).await? {
            None => {
                tracing::info!(user.id = %user_id, "recipient not known yet");
                Err(NotificationError::RecipientUnknown)
            }
            Some(r) if r.deleted_at.is_some() => Err(NotificationError::RecipientGone),
            Some(r) => Ok(r),
        }
    }

    /// One page of the caller's notifications, newest first, with the unread count.
    pub async fn list(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<NotificationPage, NotificationError> {
        let mut conn = self.pool.get().await?;
        let rows = store::list(
            &mut conn,
            user.0,
            query.unread_only,
            query.page.offset(),
            query.page.limit(),
        )
        .await?;
        let total = store::count(&mut conn, user.0, query.unread_only).await?;
        let unread = if query.unread_only {
            total
        } else {
            store::count(&mut conn, user.0, true).await?
        };
        let meta = query.page.meta(total);
        Ok(NotificationPage {
            data: rows.iter().map(to_wire).collect::<Result<_, _>>()?,
            meta: NotificationPageMeta {
                page: meta.page,
                limit: meta.limit,
                total: meta.total,
                total_pages: meta.total_pages,
                unread_count: u64::try_from(unread).unwrap_or(0),
            },
        })
    }

    /// Marks one of the caller's notifications read (again is fine).
    pub async fn mark_read(
        &self,
        user: UserId,
        id: Uuid,
    ) -> Result<Notification, NotificationError> {
        let mut conn = self.pool.get().await?;
        let row = store::mark_read(&mut conn, user.0, id)
            .await?
            .ok_or(NotificationError::NotFound)?;
        to_wire(&row)
    }

    /// Marks every notification of the caller read.
    pub async fn mark_all_read(&self, user: UserId) -> Result<(), NotificationError> {
        let mut conn = self.pool.get().await?;
        let n = store::mark_all_read(&mut conn, user.0).await?;
        tracing::debug!(user.id = %user, marked = n, "notifications marked read");
        Ok(())
    }

    /// Deletes one of the caller's notifications.
    pub async fn delete(&self, user: UserId, id: Uuid) -> Result<(), NotificationError> {
        let mut conn = self.pool.get().await?;
        if store::delete(&mut conn, user.0, id).await? {
            Ok(())
        } else {
            Err(NotificationError::NotFound)
        }
    }

    /// Applies `user.registered`: the user's address goes into the address book. Idempotent.
    pub async fn on_registered(
        &self,
        job_id: Uuid,
        event: UserRegistered,
    ) -> Result<(), NotificationError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, NotificationError, _>(async |conn| {
            if tessera_app::inbox::claim(conn, CONSUMER, job_id).await? {
                store::upsert_recipient(conn, event.user_id.0, &event.email, event.name.as_deref())
                    .await?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(user.id = %event.user_id, "recipient recorded");
        Ok(())
    }

    /// Applies `user.deleted`: no more e-mail to the user. Idempotent, and in force even when
    /// it arrives before the registration.
    pub async fn on_deleted(
        &self,
        job_id: Uuid,
        event: UserDeleted,
    ) -> Result<(), NotificationError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, NotificationError, _>(async |conn| {
            if tessera_app::inbox::claim(conn, CONSUMER, job_id).await? {
                store::delete_recipient(conn, event.user_id.0, event.deleted_at).await?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(user.id = %event.user_id, "recipient deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

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

    fn fields(r: Result<ValidSend, NotificationError>) -> Vec<String> {
        match r {
            Err(NotificationError::Validation(errors)) => {
                errors.into_iter().map(|e| e.field).collect()
            }
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

    #[test]
    fn list_parameters_are_checked_by_name() {
        assert!(ListQuery::parse(Some("true"), Some("2"), Some("5")).is_ok());
        let err = ListQuery::parse(Some("yes"), Some("0"), None).unwrap_err();
        let NotificationError::Validation(errors) = err else {
            panic!("validation");
        };
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["unreadOnly", "page"]);
    }

    #[test]
    fn permanent_failures_are_4xx_and_transient_ones_503() {
        let status = |e: NotificationError| match Reply::from(e) {
            Reply::Api(api) => actix_web::ResponseError::status_code(&api).as_u16(),
            Reply::Problem(p) => p.status,
        };
        assert_eq!(status(NotificationError::RecipientGone), 410);
        assert_eq!(status(NotificationError::RecipientUnknown), 503);
        assert_eq!(status(NotificationError::NotFound), 404);
    }
}
