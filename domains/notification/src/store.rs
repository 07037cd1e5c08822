//! The notification domain's queries. Each takes the connection, so the caller owns the
//! transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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
    /// When the e-mail went out (EMAIL only).
    pub email_sent_at: Option<DateTime<Utc>>,
    /// The e-mail template.
    pub template: Option<String>,
    /// The template's variables.
    pub data: Option<serde_json::Value>,
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
/// then.
pub async fn insert(conn: &mut AsyncPgConnection, row: &NewRow<'_>) -> QueryResult<Option<Row>> {
    diesel::insert_into(notifications::table)
        .values(row)
        .on_conflict((notifications::user_id, notifications::idempotency_key))
        .do_nothing()
        .returning(Row::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The notification of `user_id` stored under an idempotency key (keys are per user).
pub async fn find_by_key(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    key: &str,
) -> QueryResult<Option<Row>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::idempotency_key.eq(key))
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()
}

/// Takes the right to send a notification's e-mail until `until`: false when it went out
/// already or another call holds an unexpired lease.
pub async fn lease_email(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    until: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::email_sent_at.is_null())
            .filter(
                notifications::email_lease_until
                    .is_null()
                    .or(notifications::email_lease_until.lt(diesel::dsl::now)),
            ),
    )
    .set(notifications::email_lease_until.eq(until))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// When a notification's e-mail went out, if it did.
pub async fn email_sent_at(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<DateTime<Utc>>> {
    notifications::table
        .find(id)
        .select(notifications::email_sent_at)
        .first(conn)
        .await
        .optional()
        .map(Option::flatten)
}

/// Records that the e-mail went out, returning when, and replaces the template's variables
/// with `data` (what is left once the secrets are removed: nothing renders them again).
pub async fn mark_email_sent(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    data: Option<&serde_json::Value>,
) -> QueryResult<Option<DateTime<Utc>>> {
    diesel::update(notifications::table.find(id))
        .set((
            notifications::email_sent_at.eq(diesel::dsl::now),
            notifications::email_lease_until.eq(None::<DateTime<Utc>>),
            notifications::data.eq(data),
        ))
        .returning(notifications::email_sent_at)
        .get_result(conn)
        .await
}

/// Gives up a send lease after a failed attempt, so the next retry need not wait for it.
pub async fn release_email(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::email_sent_at.is_null()),
    )
    .set(notifications::email_lease_until.eq(None::<DateTime<Utc>>))
    .execute(conn)
    .await?;
    Ok(())
}

/// One page of a user's notifications, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    unread_only: bool,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Row>> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
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
    user_id: Uuid,
    unread_only: bool,
) -> QueryResult<i64> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
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
    user_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Row>> {
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::user_id.eq(user_id)),
    )
    .set(notifications::read.eq(true))
    .returning(Row::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Marks every unread notification of a user read, returning how many changed.
pub async fn mark_all_read(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read.eq(false)),
    )
    .set(notifications::read.eq(true))
    .execute(conn)
    .await
}

/// Deletes one of a user's notifications; false when it is not theirs.
pub async fn delete(conn: &mut AsyncPgConnection, user_id: Uuid, id: Uuid) -> QueryResult<bool> {
    let n = diesel::delete(
        notifications::table
            .find(id)
            .filter(notifications::user_id.eq(user_id)),
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
    user_id: Uuid,
) -> QueryResult<Option<Recipient>> {
    recipients::table
        .find(user_id)
        .select(Recipient::as_select())
        .first(conn)
        .await
        .optional()
}

/// Records a user's address and name. A deletion recorded earlier stays in force.
pub async fn upsert_recipient(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    email: &str,
    name: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(recipients::table)
        .values((
            recipients::user_id.eq(user_id),
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
    user_id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    let upsert = diesel::insert_into(recipients::table)
        .values((
            recipients::user_id.eq(user_id),
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
