//! The notification domain's use cases. Handlers and the in-process client parse and call one of
//! these; these own connections and transactions.

use std::sync::Arc;

use diesel_async::AsyncConnection;
use tessera_app::config::Env;
use tessera_app::db::{DbError, DbPool};
use tessera_app::error::ApiError;
use tessera_app::queue::Classify;
use tessera_contracts::UserId;
use tessera_contracts::events::{UserDeleted, UserRegistered};
use tessera_contracts::notifications::{
    Notification, NotificationChannel, NotificationType, SendNotification,
};
use tessera_contracts::problem::FieldError;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::live::Live;
use crate::mail::Mailer;
use crate::store::{self, NewRow, Recipient, Row};
use crate::wire::{ListNotifications, NotificationPage, NotificationPageMeta, ValidSend};

/// The consumer group (and inbox name) of this domain's event subscriptions.
pub const CONSUMER: &str = "notification";

/// What can go wrong in the notification domain, mapped once to HTTP in
/// [`From<NotificationError> for ApiError`].
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

impl From<NotificationError> for ApiError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::Validation(errors) => ApiError::fields(errors),
            NotificationError::NotFound => ApiError::NotFound("no such notification".to_owned()),
            NotificationError::RecipientUnknown => ApiError::Unavailable {
                detail: "the recipient is not known to the notification service yet; retry later"
                    .to_owned(),
                retry_after: Some(5),
            },
            // 4xx on purpose: the caller's retry could never succeed, so its job must stop
            // retrying. (The mail server's answers never reach the caller: the dispatcher sends
            // the e-mail later, `dispatch.rs`.)
            NotificationError::RecipientGone => ApiError::Gone {
                kind: "recipient-gone",
                title: "Recipient gone",
                detail: "the user was deleted; no e-mail is sent to them".to_owned(),
            },
            NotificationError::Db(e) => e.into(),
            NotificationError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// The notification domain's runtime settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The web app's base URL, for links in e-mails.
    pub web_app_url: String,
}

impl Settings {
    /// Reads `WEB_APP_URL` (`http://localhost:3000` when unset).
    pub fn from_env(env: &Env) -> Self {
        Self {
            web_app_url: env
                .get("WEB_APP_URL")
                .unwrap_or("http://localhost:3000")
                .to_owned(),
        }
    }
}

/// For the queue: a database that cannot be reached defers the job; any other failure
/// retries it. (The mail server is not on this path: the dispatcher sends e-mails.)
impl Classify for NotificationError {
    fn is_unavailable(&self) -> bool {
        match self {
            NotificationError::Db(db) => db.is_unavailable(),
            NotificationError::Internal(err) => err.is_unavailable(),
            _ => false,
        }
    }
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

/// What `send` did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The notification, as first stored.
    pub notification: Notification,
    /// True when this call stored it; false when an earlier call with the same key did.
    pub created: bool,
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
        let send = ValidSend::parse(req).map_err(NotificationError::Validation)?;
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
                    user_id: send.user_id.0,
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
        user_id: UserId,
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
        query: ListNotifications,
    ) -> Result<NotificationPage, NotificationError> {
        let mut conn = self.pool.get().await?;
        let rows = store::list(
            &mut conn,
            user,
            query.unread_only,
            query.page.offset(),
            query.page.limit(),
        )
        .await?;
        let total = store::count(&mut conn, user, query.unread_only).await?;
        let unread = if query.unread_only {
            total
        } else {
            store::count(&mut conn, user, true).await?
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
        let row = store::mark_read(&mut conn, user, id)
            .await?
            .ok_or(NotificationError::NotFound)?;
        to_wire(&row)
    }

    /// Marks every notification of the caller read.
    pub async fn mark_all_read(&self, user: UserId) -> Result<(), NotificationError> {
        let mut conn = self.pool.get().await?;
        let n = store::mark_all_read(&mut conn, user).await?;
        tracing::debug!(user.id = %user, marked = n, "notifications marked read");
        Ok(())
    }

    /// Deletes one of the caller's notifications.
    pub async fn delete(&self, user: UserId, id: Uuid) -> Result<(), NotificationError> {
        let mut conn = self.pool.get().await?;
        if store::delete(&mut conn, user, id).await? {
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
                store::upsert_recipient(conn, event.user_id, &event.email, event.name.as_deref())
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
                store::delete_recipient(conn, event.user_id, event.deleted_at).await?;
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
    use super::*;

    #[test]
    fn permanent_failures_are_4xx_and_transient_ones_503() {
        let status = |e: NotificationError| {
            actix_web::ResponseError::status_code(&ApiError::from(e)).as_u16()
        };
        assert_eq!(status(NotificationError::RecipientGone), 410);
        assert_eq!(status(NotificationError::RecipientUnknown), 503);
        assert_eq!(status(NotificationError::NotFound), 404);
    }
}
