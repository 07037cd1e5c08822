//! The user domain's queries. Each takes the connection, so the caller owns the transaction.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tessera_contracts::UserId;
use uuid::Uuid;

use crate::schema::profiles;

diesel::define_sql_function! {
    /// SQL `lower(text)`, as in the trigram indexes.
    fn lower(x: Text) -> Text;
}

diesel::define_sql_function! {
    /// SQL `lower(text)` over a nullable column.
    #[sql_name = "lower"]
    fn lower_nullable(x: Nullable<Text>) -> Nullable<Text>;
}

/// A profile row, deleted or not (callers decide what a deleted one means).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = profiles)]
pub struct ProfileRow {
    /// The profile id.
    pub id: Uuid,
    /// The account's id.
    pub user_id: Uuid,
    /// The account's e-mail address.
    pub email: String,
    /// The display name.
    pub name: Option<String>,
    /// The bio.
    pub bio: Option<String>,
    /// The avatar URL.
    pub avatar: Option<String>,
    /// `USER` or `ADMIN`.
    pub role: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Set once an admin deleted the user.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A profile made from what an access token says (the owner's first read beat the event).
#[derive(Debug, Insertable)]
#[diesel(table_name = profiles)]
pub struct NewProfile<'a> {
    /// The new profile id.
    pub id: Uuid,
    /// The account's id.
    pub user_id: Uuid,
    /// The account's e-mail address.
    pub email: &'a str,
    /// `USER` or `ADMIN`.
    pub role: &'a str,
}

/// The columns a `PATCH` may change: `None` keeps, `Some(None)` clears, `Some(Some(v))` sets.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = profiles)]
pub struct ProfileChanges {
    /// The display name.
    pub name: Option<Option<String>>,
    /// The bio.
    pub bio: Option<Option<String>>,
    /// The avatar URL.
    pub avatar: Option<Option<String>>,
}

/// The profile of an account, deleted or not.
pub async fn find_by_user(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Option<ProfileRow>> {
    profiles::table
        .filter(profiles::user_id.eq(user_id.0))
        .select(ProfileRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a profile unless the account has one (live or deleted) already. Concurrent callers
/// all succeed and leave one row: the unique `user_id` makes the losers do nothing.
pub async fn insert_if_absent(
    conn: &mut AsyncPgConnection,
    profile: &NewProfile<'_>,
) -> QueryResult<bool> {
    let n = diesel::insert_into(profiles::table)
        .values(profile)
        .on_conflict(profiles::user_id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// What a `user.registered` event says about an account.
#[derive(Debug)]
pub struct Registration<'a> {
    /// A fresh id, used if the profile is new.
    pub id: Uuid,
    /// The account's id.
    pub user_id: Uuid,
    /// The account's e-mail address.
    pub email: &'a str,
    /// The name given at registration.
    pub name: Option<&'a str>,
    /// The role at registration.
    pub role: &'a str,
    /// When the account was created; the new profile's `created_at`.
    pub created_at: DateTime<Utc>,
}

/// Creates the profile of a registration, or completes one an owner's first read created: the
/// event's e-mail wins, a name the profile has already is kept, the role is left alone (a
/// `user.role_changed` may have been applied first). A deleted profile is not touched, and
/// `updated_at` moves only when something changed, so a repeated event is a no-op.
pub async fn upsert_registered(
    conn: &mut AsyncPgConnection,
    reg: &Registration<'_>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO profiles (id, user_id, email, name, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id) DO UPDATE \
         SET email = EXCLUDED.email, \
             name = COALESCE(profiles.name, EXCLUDED.name), \
             updated_at = now() \
         WHERE profiles.deleted_at IS NULL \
           AND (profiles.email <> EXCLUDED.email \
                OR (profiles.name IS NULL AND EXCLUDED.name IS NOT NULL))",
    )
    .bind::<diesel::sql_types::Uuid, _>(reg.id)
    .bind::<diesel::sql_types::Uuid, _>(reg.user_id)
    .bind::<Text, _>(reg.email)
    .bind::<Nullable<Text>, _>(reg.name)
    .bind::<Text, _>(reg.role)
    .bind::<Timestamptz, _>(reg.created_at)
    .execute(conn)
    .await
}

/// Applies a `PATCH` to a live profile; `None` when there is none.
pub async fn update(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    changes: &ProfileChanges,
) -> QueryResult<Option<ProfileRow>> {
    diesel::update(
        profiles::table
            .filter(profiles::user_id.eq(user_id.0))
            .filter(profiles::deleted_at.is_null()),
    )
    .set((changes, profiles::updated_at.eq(diesel::dsl::now)))
    .returning(ProfileRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Sets the role of a live profile; a no-op (0) when it has that role already.
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    role: &str,
) -> QueryResult<usize> {
    diesel::update(
        profiles::table
            .filter(profiles::user_id.eq(user_id.0))
            .filter(profiles::deleted_at.is_null())
            .filter(profiles::role.ne(role)),
    )
    .set((
        profiles::role.eq(role),
        profiles::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
}

/// Soft-deletes a live profile, returning the deletion time; `None` when there is no live one.
/// A concurrent second delete waits for the first's row lock and then finds nothing live.
pub async fn soft_delete(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Option<DateTime<Utc>>> {
    diesel::update(
        profiles::table
            .filter(profiles::user_id.eq(user_id.0))
            .filter(profiles::deleted_at.is_null()),
    )
    .set((
        profiles::deleted_at.eq(diesel::dsl::now),
        profiles::updated_at.eq(diesel::dsl::now),
    ))
    .returning(profiles::deleted_at.assume_not_null())
    .get_result(conn)
    .await
    .optional()
}

/// Live profiles, optionally those whose name or e-mail contains `pattern` (a `LIKE` pattern,
/// already escaped and wrapped in `%`), matched case-insensitively through the trigram indexes.
fn live(pattern: Option<&str>) -> profiles::BoxedQuery<'static, Pg> {
    let mut query = profiles::table
        .filter(profiles::deleted_at.is_null())
        .into_boxed();
    if let Some(pattern) = pattern {
        query = query.filter(
            lower_nullable(profiles::name)
                .like(lower_nullable(pattern.to_owned()))
                .or(lower(profiles::email).like(lower(pattern.to_owned()))),
        );
    }
    query
}

/// How many live profiles match.
pub async fn count_live(conn: &mut AsyncPgConnection, pattern: Option<&str>) -> QueryResult<i64> {
    live(pattern).count().get_result(conn).await
}

/// One page of live profiles, newest first.
pub async fn list_live(
    conn: &mut AsyncPgConnection,
    pattern: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<ProfileRow>> {
    live(pattern)
        .order((profiles::created_at.desc(), profiles::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(ProfileRow::as_select())
        .load(conn)
        .await
}
