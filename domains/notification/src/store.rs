//! The notification domain's queries. Each takes the connection, so the caller owns the
//! transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tessera_contracts::UserId;
use uuid::Uuid;

use crate::schema::{notifications, recipients};

/// A notification row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct Row {
    /// The id.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// `INFO`, `SUCCESS`, `WARNING` or `ERROR`.
    #[diesel(column_name = type_)]
    pub kind: String,
    /// `EMAIL` or `IN_APP`.
    pub channel: String,
    /// The title.
    pub subject: Option<String>,
    /// The text.
    pub message: String,
    /// Whether the owner marked it read.
    pub read: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A new notification.
#[derive(Debug, Insertable)]
#[diesel(table_name = notifications)]
pub struct NewRow<'a> {
    /// The new id.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The type's wire spelling.
    #[diesel(column_name = type_)]
    pub kind: &'a str,
    /// The channel's wire spelling.
    pub channel: &'a str,
    /// The title.
    pub subject: Option<&'a str>,
    /// The text.
    pub message: &'a str,
    /// The caller's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// The e-mail template.
    pub template: Option<&'a str>,
    /// The template's variables.
    pub data: Option<&'a serde_json::Value>,
}

/// Inserts a notification unless the same user has one with the same idempotency key; `None`
/// then. With `pending_email`, its e-mail is due for the dispatcher at once (the database's
/// clock, the one the dispatcher's claim compares with).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: &NewRow<'_>,
    pending_email: bool,
) -> QueryResult<Option<Row>> {
    let insert = diesel::insert_into(notifications::table);
    if pending_email {
        insert
            .values((
                row,
                notifications::email_next_attempt_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >("now()")),
            ))
            .on_conflict((notifications::user_id, notifications::idempotency_key))
            .do_nothing()
            .returning(Row::as_returning())
            .get_result(conn)
            .await
            .optional()
    } else {
        insert
            .values(row)
            .on_conflict((notifications::user_id, notifications::idempotency_key))
            .do_nothing()
            .returning(Row::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}

/// The notification of `user_id` stored under an idempotency key (keys are per user).
pub async fn find_by_key(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    key: &str,
) -> QueryResult<Option<Row>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id.0))
        .filter(notifications::idempotency_key.eq(key))
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()
}

/// A pending e-mail the dispatcher claimed: what it is rendered from and who it goes to.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    /// The notification.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    /// The recipient's user id.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: Uuid,
    /// The title.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub subject: Option<String>,
    /// The text.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub message: String,
    /// The e-mail template.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub template: Option<String>,
    /// The template's variables.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    pub data: Option<serde_json::Value>,
    /// Attempts so far, this one included.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
}

/// Claims up to `batch` due pending e-mails for `lease`, in one statement: rows another
/// dispatcher is claiming are skipped (`SKIP LOCKED`), and a claimed row is not due again until
/// its lease ran out (the claim moves `email_next_attempt_at` there), so no two dispatchers hold
/// the same e-mail. Each claim counts as an attempt.
pub async fn claim_emails(
    conn: &mut AsyncPgConnection,
    batch: i64,
    lease: std::time::Duration,
) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "UPDATE notifications \
            SET email_next_attempt_at = now() + make_interval(secs => $2), \
                email_attempts = email_attempts + 1 \
          WHERE id IN (SELECT id FROM notifications \
                        WHERE email_next_attempt_at <= now() \
                        ORDER BY email_next_attempt_at \
                        LIMIT $1 \
                        FOR UPDATE SKIP LOCKED) \
      RETURNING id, user_id, subject, message, template, data, email_attempts AS attempts",
    )
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .bind::<diesel::sql_types::Double, _>(lease.as_secs_f64())
    .load(conn)
    .await
}

/// Records that the e-mail went out (it is no longer pending) and replaces the template's
/// variables with `data` (what is left once the secrets are removed: nothing renders them again).
pub async fn mark_email_sent(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    data: Option<&serde_json::Value>,
) -> QueryResult<()> {
    diesel::update(notifications::table.find(id))
        .set((
            notifications::email_sent_at.eq(diesel::dsl::now),
            notifications::email_next_attempt_at.eq(None::<DateTime<Utc>>),
            notifications::data.eq(data),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that the e-mail will never go out, and why (no address in `reason`); like
/// [`mark_email_sent`], it keeps only `data` (secrets removed).
pub async fn mark_email_failed(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    reason: &str,
    data: Option<&serde_json::Value>,
) -> QueryResult<()> {
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::email_sent_at.is_null()),
    )
    .set((
        notifications::email_failed_at.eq(diesel::dsl::now),
        notifications::email_failure.eq(reason),
        notifications::email_next_attempt_at.eq(None::<DateTime<Utc>>),
        notifications::data.eq(data),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the lease after a failed attempt: the e-mail is due again after `delay`.
pub async fn retry_email(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    delay: std::time::Duration,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE notifications \
            SET email_next_attempt_at = now() + make_interval(secs => $2) \
          WHERE id = $1 AND email_next_attempt_at IS NOT NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Double, _>(delay.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(())
}

/// How many e-mails are pending (due or waiting for a retry), for the gauge.
pub async fn count_pending_emails(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::email_next_attempt_at.is_not_null())
        .count()
        .get_result(conn)
        .await
}

/// One page of a user's notifications, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    unread_only: bool,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Row>> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id.0))
        .select(Row::as_select())
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .offset(offset)
        .limit(limit)
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read.eq(false));
    }
    query.load(conn).await
}

/// How many notifications a user has, all or unread only.
pub async fn count(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    unread_only: bool,
) -> QueryResult<i64> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id.0))
        .count()
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read.eq(false));
    }
    query.get_result(conn).await
}

/// Marks one of a user's notifications read, returning it; `None` when it is not theirs.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: Uuid,
) -> QueryResult<Option<Row>> {
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::user_id.eq(user_id.0)),
    )
    .set(notifications::read.eq(true))
    .returning(Row::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Marks every unread notification of a user read, returning how many changed.
pub async fn mark_all_read(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id.0))
            .filter(notifications::read.eq(false)),
    )
    .set(notifications::read.eq(true))
    .execute(conn)
    .await
}

/// Deletes one of a user's notifications; false when it is not theirs.
pub async fn delete(conn: &mut AsyncPgConnection, user_id: UserId, id: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(
        notifications::table
            .find(id)
            .filter(notifications::user_id.eq(user_id.0)),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// An address-book entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = recipients)]
pub struct Recipient {
    /// Their e-mail address (empty for a tombstone).
    pub email: String,
    /// Their display name.
    pub name: Option<String>,
    /// Set when the user was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The address-book entry of a user.
pub async fn find_recipient(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Option<Recipient>> {
    recipients::table
        .find(user_id.0)
        .select(Recipient::as_select())
        .first(conn)
        .await
        .optional()
}

/// Records a user's address and name. A deletion recorded earlier stays in force.
pub async fn upsert_recipient(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    email: &str,
    name: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(recipients::table)
        .values((
            recipients::user_id.eq(user_id.0),
            recipients::email.eq(email),
            recipients::name.eq(name),
        ))
        .on_conflict(recipients::user_id)
        .do_update()
        .set((
            recipients::email.eq(excluded(recipients::email)),
            recipients::name.eq(excluded(recipients::name)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a user deleted, leaving a tombstone when their registration has not arrived yet.
pub async fn delete_recipient(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    let upsert = diesel::insert_into(recipients::table)
        .values((
            recipients::user_id.eq(user_id.0),
            recipients::email.eq(""),
            recipients::deleted_at.eq(at),
        ))
        .on_conflict(recipients::user_id)
        .do_update()
        .set(recipients::deleted_at.eq(at));
    // `ON CONFLICT ... DO UPDATE ... WHERE`: the first deletion's time stays.
    diesel::query_dsl::methods::FilterDsl::filter(upsert, recipients::deleted_at.is_null())
        .execute(conn)
        .await?;
    Ok(())
}
