//! The auth domain's queries. Each takes the connection, so the caller owns the transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tessera_contracts::UserId;
use uuid::Uuid;

use crate::schema::{password_resets, refresh_tokens, users};

/// An account row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// The user id.
    pub id: Uuid,
    /// The normalised e-mail address.
    pub email: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// `USER` or `ADMIN`.
    pub role: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

// Queries select live users only (`deleted_at IS NULL`), so the struct does not carry it.

/// A new account.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// The new id.
    pub id: Uuid,
    /// The normalised e-mail address.
    pub email: &'a str,
    /// The argon2id PHC string.
    pub password_hash: &'a str,
    /// The display name.
    pub name: Option<&'a str>,
}

/// Inserts an account; a taken e-mail is a unique violation on `users_email_key`.
pub async fn insert_user(conn: &mut AsyncPgConnection, user: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(user)
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// The live (not deleted) account with this e-mail.
pub async fn find_live_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The live account with this id.
pub async fn find_live_by_id(
    conn: &mut AsyncPgConnection,
    id: UserId,
) -> QueryResult<Option<User>> {
    users::table
        .find(id.0)
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Locks a user's row (deleted or not) until the transaction ends, and returns whether it exists.
///
/// Everything that issues a refresh token (login, refresh) or revokes them (reset, logout, reuse,
/// deletion) takes this lock first, so the two are ordered: a revocation's `UPDATE` either runs
/// after an issuing transaction committed, and sees its new token, or before it, and the issuer
/// then finds its token revoked. Without it, a token inserted by a refresh that commits while a
/// reset runs is invisible to the reset's `UPDATE` and survives it. `FOR NO KEY UPDATE`
/// conflicts with itself and with the `UPDATE users` of a reset or deletion, but not with the
/// key-share lock of a token insert's foreign key.
pub async fn lock_user(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<bool> {
    users::table
        .find(id.0)
        .select(users::id)
        .for_no_key_update()
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|found| found.is_some())
}

/// Makes the live account with this e-mail an admin, returning its id; `None` when there is none.
pub async fn promote(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<UserId>> {
    diesel::update(
        users::table
            .filter(users::email.eq(email))
            .filter(users::deleted_at.is_null()),
    )
    .set((
        users::role.eq("ADMIN"),
        users::updated_at.eq(diesel::dsl::now),
    ))
    .returning(users::id)
    .get_result(conn)
    .await
    .optional()
    .map(|id| id.map(UserId))
}

/// Marks a user deleted (keeping the first deletion time) and revokes all their refresh tokens.
pub async fn mark_deleted(
    conn: &mut AsyncPgConnection,
    id: UserId,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    lock_user(conn, id).await?;
    diesel::update(users::table.find(id.0).filter(users::deleted_at.is_null()))
        .set((
            users::deleted_at.eq(at),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    revoke_all_for_user(conn, id).await?;
    Ok(())
}

/// Replaces a user's password hash.
pub async fn set_password(conn: &mut AsyncPgConnection, id: UserId, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id.0))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A refresh token row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    /// Row id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The login session this token belongs to.
    pub family_id: Uuid,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Set when a refresh rotated it.
    pub used_at: Option<DateTime<Utc>>,
    /// Set when its family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the login that started its family happened.
    pub family_created_at: DateTime<Utc>,
}

/// A family of refresh tokens: one login session.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The family id.
    pub id: Uuid,
    /// When its login happened.
    pub created_at: DateTime<Utc>,
}

/// Stores a refresh token's hash in a family.
pub async fn insert_refresh(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    family: Family,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7()),
            refresh_tokens::user_id.eq(user_id.0),
            refresh_tokens::family_id.eq(family.id),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::expires_at.eq(expires_at),
            refresh_tokens::family_created_at.eq(family.created_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The refresh token with this hash.
pub async fn find_refresh(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshToken::as_select())
        .first(conn)
        .await
        .optional()
}

/// Marks a token used if nobody did first; false when a concurrent refresh won (or it was
/// revoked meanwhile), which the caller treats as reuse.
pub async fn mark_used(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let n = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Revokes every live token of a family.
pub async fn revoke_family(conn: &mut AsyncPgConnection, family_id: Uuid) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// Revokes every live token of a user.
pub async fn revoke_all_for_user(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id.0))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// Retires a user's unused reset tokens, so only the link about to be sent works.
pub async fn retire_resets(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<()> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id.0))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the transaction a writing one without changing anything (it takes a transaction id),
/// so its commit costs what a commit that wrote costs: a forgot-password request for an unknown
/// address must take as long as one that stored a reset link.
pub async fn write_nothing(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_current_xact_id()")
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores a reset token (after [`retire_resets`]).
pub async fn insert_reset(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::id.eq(Uuid::now_v7()),
            password_resets::user_id.eq(user_id.0),
            password_resets::token_hash.eq(token_hash),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a reset token is live (known, unused, unexpired), without spending it: the cheap
/// check that comes before hashing the new password.
pub async fn reset_is_live(conn: &mut AsyncPgConnection, token_hash: &[u8]) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        password_resets::table
            .filter(password_resets::token_hash.eq(token_hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(diesel::dsl::now)),
    ))
    .get_result(conn)
    .await
}

/// Spends a live reset token, returning its user; `None` when it is unknown, used or expired.
pub async fn spend_reset(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<UserId>> {
    diesel::update(
        password_resets::table
            .filter(password_resets::token_hash.eq(token_hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(diesel::dsl::now)),
    )
    .set(password_resets::used_at.eq(diesel::dsl::now))
    .returning(password_resets::user_id)
    .get_result(conn)
    .await
    .optional()
    .map(|id| id.map(UserId))
}
