//! The user domain's use cases. Handlers parse and call one of these; these own transactions.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use tessera_app::db::{DbError, DbPool};
use tessera_app::error::ApiError;
use tessera_app::outbox;
use tessera_app::pagination::like_escape;
use tessera_app::queue::Classify;
use tessera_app::tokens::{AdminUser, AuthUser};
use tessera_contracts::events::{UserDeleted, UserRegistered, UserRoleChanged, topics};
use tessera_contracts::page::Page;
use tessera_contracts::problem::FieldError;
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

use crate::store::{self, NewProfile, ProfileChanges, ProfileRow, Registration};
use crate::wire::{ListUsers, Profile, UpdateProfileRequest};

/// The consumer group (and inbox consumer name) of the user domain's subscriptions.
pub const CONSUMER: &str = "user";

/// What can go wrong in the user domain, mapped once to HTTP in [`From<UserError> for ApiError`].
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The input breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A `PATCH` body that names no field.
    #[error("empty update")]
    EmptyUpdate,
    /// No such profile, or not the caller's to see.
    #[error("profile not found")]
    NotFound,
    /// An admin tried to edit someone else's profile (admins may read, never edit).
    #[error("only the owner may edit a profile")]
    NotOwner,
    /// An event about an account whose profile does not exist yet (its `user.registered` is
    /// still on its way); the job is retried.
    #[error("no profile yet for this user")]
    NotYetRegistered,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for UserError {
    fn from(e: diesel::result::Error) -> Self {
        UserError::Db(e.into())
    }
}

impl From<tessera_app::db::RunError> for UserError {
    fn from(e: tessera_app::db::RunError) -> Self {
        UserError::Db(e.into())
    }
}

/// For the queue: a database that cannot be reached defers the job; any other failure (an
/// event about a profile that does not exist yet, a database error) retries it.
impl Classify for UserError {
    fn is_unavailable(&self) -> bool {
        matches!(self, UserError::Db(db) if db.is_unavailable())
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Validation(errors) => ApiError::fields(errors),
            UserError::EmptyUpdate => {
                ApiError::bad_request("the body must set at least one of name, bio, avatar")
            }
            UserError::NotFound | UserError::NotYetRegistered => {
                ApiError::NotFound("no such user".to_owned())
            }
            UserError::NotOwner => {
                ApiError::Forbidden("only the owner may edit a profile".to_owned())
            }
            UserError::Db(e) => e.into(),
        }
    }
}

fn role_of(row: &ProfileRow) -> Role {
    // The column has a CHECK constraint; anything else would be a bug, and least privilege wins.
    Role::parse(&row.role).unwrap_or(Role::User)
}

impl From<ProfileRow> for Profile {
    fn from(row: ProfileRow) -> Self {
        Profile {
            role: role_of(&row),
            id: row.id,
            user_id: UserId(row.user_id),
            email: row.email,
            name: row.name,
            bio: row.bio,
            avatar: row.avatar,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A live profile as the client sees it; a deleted one does not exist.
fn live(row: Option<ProfileRow>) -> Result<Profile, UserError> {
    row.filter(|r| r.deleted_at.is_none())
        .map(Profile::from)
        .ok_or(UserError::NotFound)
}

/// Everything the use cases need.
#[derive(Clone)]
pub struct Users {
    /// The user database.
    pub pool: DbPool,
}

impl Users {
    /// A profile, for its owner or an admin; anyone else gets [`UserError::NotFound`], so
    /// nobody learns whether someone else's id exists.
    pub async fn get(&self, caller: &AuthUser, id: UserId) -> Result<Profile, UserError> {
        if caller.id == id {
            let mut conn = self.pool.get().await?;
            return live(own_profile(&mut conn, caller).await?);
        }
        if !caller.is_admin() {
            return Err(UserError::NotFound);
        }
        let mut conn = self.pool.get().await?;
        live(store::find_by_user(&mut conn, id).await?)
    }

    /// Applies the owner's changes: `null` clears a field, an absent one is kept.
    pub async fn update(
        &self,
        caller: &AuthUser,
        id: UserId,
        req: UpdateProfileRequest,
    ) -> Result<Profile, UserError> {
        if caller.id != id {
            // An admin may know the profile exists (they can read it); a user may not.
            return Err(if caller.is_admin() {
                UserError::NotOwner
            } else {
                UserError::NotFound
            });
        }
        if req.is_empty() {
            return Err(UserError::EmptyUpdate);
        }
        let update = req.parse().map_err(UserError::Validation)?;
        let changes = ProfileChanges {
            name: update.name.into_change(),
            bio: update.bio.into_change(),
            avatar: update.avatar.into_change(),
        };
        let mut conn = self.pool.get().await?;
        // The first write may also beat the event: the profile is made first, like on a read.
        live(own_profile(&mut conn, caller).await?)?;
        let row = store::update(&mut conn, id, &changes)
            .await?
            .ok_or(UserError::NotFound)?;
        tracing::info!(user.id = %id, "profile updated");
        Ok(row.into())
    }

    /// One page of live profiles, newest first, optionally filtered by `q`. Admins only (the
    /// [`AdminUser`] proves it).
    pub async fn list(
        &self,
        _admin: &AdminUser,
        req: ListUsers,
    ) -> Result<Page<Profile>, UserError> {
        let pattern = req.q.as_deref().map(|q| format!("%{}%", like_escape(q)));
        let mut conn = self.pool.get().await?;
        let total = store::count_live(&mut conn, pattern.as_deref()).await?;
        let rows = if req.page.offset() < total {
            store::list_live(
                &mut conn,
                pattern.as_deref(),
                req.page.offset(),
                req.page.limit(),
            )
            .await?
        } else {
            // A page past the end is empty; no need to ask.
            Vec::new()
        };
        Ok(Page {
            data: rows.into_iter().map(Profile::from).collect(),
            meta: req.page.meta(total),
        })
    }

    /// Soft-deletes a user's profile and announces it (`user.deleted`) in the same transaction.
    /// Admins only (the [`AdminUser`] proves it).
    pub async fn delete(
        &self,
        admin: &AdminUser,
        id: UserId,
        request_id: &str,
    ) -> Result<(), UserError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, UserError, _>(async |conn| {
            let deleted_at = store::soft_delete(conn, id)
                .await?
                .ok_or(UserError::NotFound)?;
            let event = UserDeleted {
                user_id: id,
                deleted_at,
            };
            outbox::enqueue(conn, topics::USER_DELETED, &event, Some(request_id)).await?;
            Ok(())
        })
        .await?;
        tracing::info!(user.id = %id, admin.id = %admin.0.id, "user deleted");
        Ok(())
    }

    /// Applies `user.registered`: creates the profile, or completes the one a first read made.
    /// Idempotent per job (the inbox) and per event (the upsert).
    pub async fn on_registered(
        &self,
        job_id: Uuid,
        event: UserRegistered,
    ) -> Result<(), UserError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, UserError, _>(async |conn| {
            if tessera_app::inbox::claim(conn, CONSUMER, job_id).await? {
                let reg = Registration {
                    id: Uuid::now_v7(),
                    user_id: event.user_id.0,
                    email: &event.email,
                    name: event.name.as_deref(),
                    role: event.role.as_str(),
                    created_at: event.created_at,
                };
                store::upsert_registered(conn, &reg).await?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(user.id = %event.user_id, "profile registered");
        Ok(())
    }

    /// Applies `user.role_changed`. Before the profile exists it fails with
    /// [`UserError::NotYetRegistered`] (and claims nothing), so the job is retried after the
    /// registration lands instead of the promotion being lost.
    pub async fn on_role_changed(
        &self,
        job_id: Uuid,
        event: UserRoleChanged,
    ) -> Result<(), UserError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, UserError, _>(async |conn| {
            if !tessera_app::inbox::claim(conn, CONSUMER, job_id).await? {
                return Ok(());
            }
            match store::find_by_user(conn, event.user_id).await? {
                None => Err(UserError::NotYetRegistered),
                // A deleted profile keeps what it had; nobody will see it again.
                Some(row) if row.deleted_at.is_some() => Ok(()),
                Some(_) => {
                    store::set_role(conn, event.user_id, event.role.as_str()).await?;
                    Ok(())
                }
            }
        })
        .await?;
        tracing::info!(user.id = %event.user_id, role = event.role.as_str(), "role changed");
        Ok(())
    }
}

/// The caller's own profile, created from the token's claims when the `user.registered` event
/// has not arrived yet. Insert-or-nothing then read, each its own statement, so concurrent
/// first reads converge on one row and each sees it. A deleted profile is returned as is (and
/// so never recreated).
async fn own_profile(
    conn: &mut AsyncPgConnection,
    caller: &AuthUser,
) -> Result<Option<ProfileRow>, UserError> {
    if let Some(row) = store::find_by_user(conn, caller.id).await? {
        return Ok(Some(row));
    }
    let new = NewProfile {
        id: Uuid::now_v7(),
        user_id: caller.id.0,
        email: &caller.email,
        role: caller.role.as_str(),
    };
    if store::insert_if_absent(conn, &new).await? {
        tracing::info!(user.id = %caller.id, "profile created before its registration event");
    }
    Ok(store::find_by_user(conn, caller.id).await?)
}
