//! The auth domain's use cases. Handlers parse and call one of these; these own transactions.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use diesel_async::AsyncConnection;
use sha2::{Digest, Sha256};
use tessera_app::config::{ConfigError, Env};
use tessera_app::db::{DbError, DbPool};
use tessera_app::error::ApiError;
use tessera_app::outbox;
use tessera_app::queue::Classify;
use tessera_app::throttle::{Limit, Throttle, Verdict};
use tessera_app::tokens::Tokens;
use tessera_contracts::events::{EmailSend, UserDeleted, UserRegistered, topics};
use tessera_contracts::problem::FieldError;
use tessera_contracts::{Role, UserId};
use uuid::Uuid;

use crate::password::Hasher;
use crate::store::{self, NewUser, User};
use crate::wire::{
    Email, MeResponse, Password, RegisterRequest, RegisterResponse, RegisteredUser, ResetToken,
    TokenResponse, TokenUser, parse_name,
};

/// What can go wrong in the auth domain, mapped once to HTTP in [`From<AuthError> for ApiError`].
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The input breaks a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The e-mail is registered already.
    #[error("e-mail already registered")]
    EmailTaken,
    /// Unknown e-mail or wrong password (deliberately the same).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Unknown, expired, revoked or reused refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Unknown, expired or used reset token.
    #[error("invalid reset token")]
    InvalidResetToken,
    /// The token's user no longer exists.
    #[error("account no longer exists")]
    AccountGone,
    /// Too many attempts.
    #[error("too many attempts")]
    Throttled {
        /// Seconds until the next attempt can succeed.
        retry_after: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        AuthError::Db(e.into())
    }
}

impl From<tessera_app::db::RunError> for AuthError {
    fn from(e: tessera_app::db::RunError) -> Self {
        AuthError::Db(e.into())
    }
}

/// For the queue: a database that cannot be reached defers the job; any other failure
/// retries it.
impl Classify for AuthError {
    fn is_unavailable(&self) -> bool {
        match self {
            AuthError::Db(db) => db.is_unavailable(),
            AuthError::Internal(err) => err.is_unavailable(),
            _ => false,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(errors) => ApiError::fields(errors),
            AuthError::EmailTaken => {
                ApiError::Conflict("an account with this e-mail already exists".to_owned())
            }
            AuthError::InvalidCredentials => ApiError::Unauthorized {
                detail: "invalid e-mail or password".to_owned(),
                bearer: false,
            },
            AuthError::InvalidRefreshToken => ApiError::Unauthorized {
                detail: "the refresh token is invalid, expired or already used".to_owned(),
                bearer: false,
            },
            AuthError::InvalidResetToken => {
                ApiError::field("token", "is invalid, expired or already used")
            }
            AuthError::AccountGone => ApiError::bad_token("the account no longer exists"),
            AuthError::Throttled { retry_after } => ApiError::TooManyRequests {
                detail: "too many attempts; try again later".to_owned(),
                retry_after,
            },
            AuthError::Db(e) => e.into(),
            AuthError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// The auth domain's runtime settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
    /// The longest a login session (a refresh-token family) lasts, however often it is
    /// refreshed (`REFRESH_FAMILY_MAX_AGE`).
    pub family_max_age: Duration,
    /// Reset link lifetime (30 minutes).
    pub reset_ttl: Duration,
    /// The web app's base URL, for reset links.
    pub web_app_url: String,
    /// Failed logins per e-mail from one client address (`LOGIN_ATTEMPTS_PER_EMAIL`): beyond
    /// it that address is refused for that account, and only that address.
    pub login_per_email: Limit,
    /// Failed logins per client address, whatever the account (`LOGIN_ATTEMPTS_PER_IP`).
    pub login_per_ip: Limit,
    /// Failed logins per e-mail from every address (`LOGIN_SLOWDOWN_AFTER`): beyond it each
    /// attempt on the account waits first, never refused, so nobody can lock an owner out.
    pub login_per_account: Limit,
    /// The longest such wait (`LOGIN_MAX_DELAY`).
    pub login_max_delay: Duration,
    /// Password-reset requests per e-mail.
    pub forgot_per_email: Limit,
    /// Password-reset requests per client IP.
    pub forgot_per_ip: Limit,
}

/// A per-key limit of `max` events per `window`, `max` read from `var`.
fn limit(
    env: &Env,
    name: &'static str,
    var: &str,
    max: u64,
    window: Duration,
) -> Result<Limit, ConfigError> {
    Ok(Limit {
        name,
        max: env.parse_or(var, max)?,
        window,
    })
}

impl AuthSettings {
    /// Reads the auth domain's variables; fails naming the first malformed one.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        const QUARTER_HOUR: Duration = Duration::from_secs(900);
        Ok(Self {
            refresh_ttl: env
                .duration_or("REFRESH_TOKEN_EXPIRES_IN", Duration::from_secs(7 * 86_400))?,
            family_max_age: env
                .duration_or("REFRESH_FAMILY_MAX_AGE", Duration::from_secs(30 * 86_400))?,
            reset_ttl: env
                .duration_or("PASSWORD_RESET_EXPIRES_IN", Duration::from_secs(30 * 60))?,
            web_app_url: env
                .get("WEB_APP_URL")
                .unwrap_or("http://localhost:3000")
                .to_owned(),
            login_per_email: limit(
                env,
                "login-address-email",
                "LOGIN_ATTEMPTS_PER_EMAIL",
                10,
                QUARTER_HOUR,
            )?,
            login_per_ip: limit(env, "login-ip", "LOGIN_ATTEMPTS_PER_IP", 100, QUARTER_HOUR)?,
            login_per_account: limit(
                env,
                "login-account",
                "LOGIN_SLOWDOWN_AFTER",
                10,
                QUARTER_HOUR,
            )?,
            login_max_delay: env.duration_or(
                "LOGIN_MAX_DELAY",
                tessera_app::throttle::DEFAULT_LOGIN_MAX_DELAY,
            )?,
            forgot_per_email: limit(
                env,
                "forgot-email",
                "FORGOT_PASSWORD_PER_EMAIL",
                3,
                QUARTER_HOUR,
            )?,
            forgot_per_ip: limit(env, "forgot-ip", "FORGOT_PASSWORD_PER_IP", 20, QUARTER_HOUR)?,
        })
    }
}

/// Everything the use cases need.
#[derive(Clone)]
pub struct Auth {
    /// The auth database.
    pub pool: DbPool,
    /// Token issue.
    pub tokens: Tokens,
    /// Password hashing.
    pub hasher: Hasher,
    /// Attempt counters.
    pub throttle: Throttle,
    /// Settings.
    pub settings: AuthSettings,
}

fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new opaque token: 256 random bits, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn role_of(user: &User) -> Role {
    // The column has a CHECK constraint; anything else would be a bug, and least privilege wins.
    Role::parse(&user.role).unwrap_or(Role::User)
}

/// How long a login on an account waits when the account has `failures` failed attempts in the
/// window (this one included) and `after` are free: nothing up to `after`, then 250 ms doubling
/// with each further failure, at most `max`.
fn slowdown(failures: u64, after: u64, max: Duration) -> Duration {
    let Some(excess) = failures.checked_sub(after).filter(|e| *e > 0) else {
        return Duration::ZERO;
    };
    let factor = 1u32
        .checked_shl(u32::try_from(excess - 1).unwrap_or(u32::MAX))
        .unwrap_or(u32::MAX);
    Duration::from_millis(250).saturating_mul(factor).min(max)
}

/// When a family's session ends, however often it was refreshed.
fn family_end(family: store::Family, max_age: Duration) -> chrono::DateTime<Utc> {
    family.created_at + chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::days(30))
}

fn ttl_after(ttl: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7))
}

impl Auth {
    /// Registers an account and announces it (`user.registered`) in the same transaction.
    pub async fn register(
        &self,
        req: RegisterRequest,
        request_id: &str,
    ) -> Result<RegisterResponse, AuthError> {
        let mut errors = Vec::new();
        let email = Email::parse(&req.email).map_err(|e| errors.push(e)).ok();
        let password = Password::parse(&req.password, "password")
            .map_err(|e| errors.push(e))
            .ok();
        let name = req
            .name
            .as_deref()
            .map(parse_name)
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AuthError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }

        let hash = self.hasher.hash(password.expose().to_owned()).await?;
        let mut conn = self.pool.get().await?;
        let id = Uuid::now_v7();
        let user = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let new = NewUser {
                    id,
                    email: email.as_str(),
                    password_hash: &hash,
                    name: name.as_deref(),
                };
                let user = match store::insert_user(conn, &new).await.map_err(DbError::from) {
                    Err(DbError::UniqueViolation(_)) => return Err(AuthError::EmailTaken),
                    other => other?,
                };
                let event = UserRegistered {
                    user_id: UserId(user.id),
                    email: user.email.clone(),
                    name: name.clone(),
                    role: role_of(&user),
                    created_at: user.created_at,
                };
                outbox::enqueue(conn, topics::USER_REGISTERED, &event, Some(request_id)).await?;
                Ok(user)
            })
            .await?;
        tracing::info!(user.id = %user.id, "user registered");
        Ok(RegisterResponse {
            message: "Registration successful".to_owned(),
            user: RegisteredUser {
                id: UserId(user.id),
                email: user.email.clone(),
                role: role_of(&user),
                created_at: user.created_at,
            },
        })
    }

    /// Checks credentials and starts a new refresh-token family.
    ///
    /// Throttling counts failures (see ARCHITECTURE.md, "Login throttling"): every counter is
    /// bumped before the password is checked, so a burst of parallel guesses is counted in
    /// full, and a success takes its attempt back. A client address is refused after too many
    /// failures, overall or on one account; the account itself is only ever slowed down.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<TokenResponse, AuthError> {
        // A malformed address cannot exist, but it still costs a hash so timing reveals nothing.
        let email = Email::parse(email).ok();
        let email_key = email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
        // The address and the account together: an address guessing at one account is stopped
        // without stopping the account's owner elsewhere.
        let pair_key = format!("{client_ip} {email_key}");
        let s = &self.settings;
        self.check(&s.login_per_ip, client_ip).await?;
        self.check(&s.login_per_email, &pair_key).await?;
        let failures = self
            .throttle
            .count(&s.login_per_account, &email_key)
            .await
            .unwrap_or(0);
        let delay = slowdown(failures, s.login_per_account.max, s.login_max_delay);
        if !delay.is_zero() {
            // Before the check and whatever its outcome, so the answer's timing cannot tell a
            // right password from a wrong one.
            tracing::info!(
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "login slowed down"
            );
            tokio::time::sleep(delay).await;
        }

        let mut conn = self.pool.get().await?;
        let user = match &email {
            Some(e) => store::find_live_by_email(&mut conn, e.as_str()).await?,
            None => None,
        };
        drop(conn);
        let ok = self
            .hasher
            .verify(
                password.to_owned(),
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await?;
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => {
                tracing::info!("login refused");
                return Err(AuthError::InvalidCredentials);
            }
        };
        // A success is not a failure: take back what was counted for it.
        self.throttle.forgive(&s.login_per_ip, client_ip).await;
        self.throttle.reset(&s.login_per_email, &pair_key).await;
        self.throttle
            .forgive(&s.login_per_account, &email_key)
            .await;
        let mut conn = self.pool.get().await?;
        let family = store::Family {
            id: Uuid::now_v7(),
            created_at: Utc::now(),
        };
        let response = conn
            .transaction::<_, AuthError, _>(async |conn| {
                // Under the user's lock, the password checked above must still be the current
                // one: a reset that committed meanwhile ends this login too.
                store::lock_user(conn, UserId(user.id)).await?;
                match store::find_live_by_id(conn, UserId(user.id)).await? {
                    Some(now) if now.password_hash == user.password_hash => {
                        self.issue_pair(conn, &now, family).await
                    }
                    _ => Err(AuthError::InvalidCredentials),
                }
            })
            .await?;
        tracing::info!(user.id = %user.id, "login succeeded");
        Ok(response)
    }

    async fn check(&self, limit: &Limit, subject: &str) -> Result<(), AuthError> {
        match self.throttle.hit(limit, subject).await {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after } => {
                tracing::warn!(limit = limit.name, retry_after, "attempt throttled");
                Err(AuthError::Throttled { retry_after })
            }
        }
    }

    /// Issues an access token and the next refresh token of `family`. The caller holds the
    /// user's lock ([`store::lock_user`]).
    async fn issue_pair(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        user: &User,
        family: store::Family,
    ) -> Result<TokenResponse, AuthError> {
        let refresh = random_token();
        // No token outlives its family.
        let expires_at = ttl_after(self.settings.refresh_ttl)
            .min(family_end(family, self.settings.family_max_age));
        store::insert_refresh(conn, UserId(user.id), family, &sha256(&refresh), expires_at).await?;
        let role = role_of(user);
        let access = self
            .tokens
            .issue_access(UserId(user.id), &user.email, role)?;
        Ok(TokenResponse {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".to_owned(),
            expires_in: self.tokens.access_ttl().as_secs(),
            user: TokenUser {
                id: UserId(user.id),
                email: user.email.clone(),
                role,
            },
        })
    }

    /// Rotates a refresh token. A token presented twice revokes its whole family.
    pub async fn refresh(&self, token: &str) -> Result<TokenResponse, AuthError> {
        let hash = sha256(token);
        let mut conn = self.pool.get().await?;
        let outcome = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let Some(found) = store::find_refresh(conn, &hash).await? else {
                    return Ok(Err(AuthError::InvalidRefreshToken));
                };
                // Lock first, then read the token again: a reset, logout or deletion that
                // committed while we waited is seen, and one that comes later waits for us.
                store::lock_user(conn, UserId(found.user_id)).await?;
                let Some(row) = store::find_refresh(conn, &hash).await? else {
                    return Ok(Err(AuthError::InvalidRefreshToken));
                };
                if row.used_at.is_some() || row.revoked_at.is_some() {
                    let n = store::revoke_family(conn, row.family_id).await?;
                    tracing::warn!(family.id = %row.family_id, revoked = n, "refresh token reuse; family revoked");
                    return Ok(Err(AuthError::InvalidRefreshToken));
                }
                let family = store::Family {
                    id: row.family_id,
                    created_at: row.family_created_at,
                };
                let now = Utc::now();
                if row.expires_at <= now || family_end(family, self.settings.family_max_age) <= now
                {
                    return Ok(Err(AuthError::InvalidRefreshToken));
                }
                let Some(user) = store::find_live_by_id(conn, UserId(row.user_id)).await? else {
                    store::revoke_family(conn, row.family_id).await?;
                    return Ok(Err(AuthError::InvalidRefreshToken));
                };
                if !store::mark_used(conn, row.id).await? {
                    // A concurrent refresh with the same token won the race: that is reuse too.
                    store::revoke_family(conn, row.family_id).await?;
                    return Ok(Err(AuthError::InvalidRefreshToken));
                }
                Ok(Ok(self.issue_pair(conn, &user, family).await?))
            })
            .await?;
        // Revocations above must commit even though the caller gets a 401, hence Ok(Err(..)).
        outcome
    }

    /// Revokes the family of a refresh token; unknown tokens are fine (logout is idempotent).
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, AuthError, _>(async |conn| {
            if let Some(row) = store::find_refresh(conn, &sha256(token)).await? {
                // Ordered with a refresh of the same family (see `store::lock_user`).
                store::lock_user(conn, UserId(row.user_id)).await?;
                store::revoke_family(conn, row.family_id).await?;
            }
            Ok(())
        })
        .await
    }

    /// The caller's account as stored now.
    pub async fn me(&self, id: UserId) -> Result<MeResponse, AuthError> {
        let mut conn = self.pool.get().await?;
        let user = store::find_live_by_id(&mut conn, id)
            .await?
            .ok_or(AuthError::AccountGone)?;
        Ok(MeResponse {
            id: UserId(user.id),
            email: user.email.clone(),
            role: role_of(&user),
            created_at: user.created_at,
            updated_at: user.updated_at,
        })
    }

    /// Sends a reset link if the account exists; answers the same either way.
    pub async fn forgot_password(
        &self,
        email: &str,
        client_ip: &str,
        request_id: &str,
    ) -> Result<(), AuthError> {
        self.check(&self.settings.forgot_per_ip, client_ip).await?;
        let Ok(email) = Email::parse(email) else {
            return Err(AuthError::Validation(vec![FieldError {
                field: "email".to_owned(),
                message: "must be a valid e-mail address".to_owned(),
            }]));
        };
        self.check(&self.settings.forgot_per_email, email.as_str())
            .await?;
        let mut conn = self.pool.get().await?;
        let token = random_token();
        let reset_url = format!(
            "{}/reset-password?token={token}",
            self.settings.web_app_url.trim_end_matches('/')
        );
        let minutes = self.settings.reset_ttl.as_secs() / 60;
        // Known and unknown addresses run the same statements and a commit that writes (and
        // flushes the log), so neither the answer's timing nor the log line tells them apart.
        conn.transaction::<_, AuthError, _>(async |conn| {
            let user = store::find_live_by_email(conn, email.as_str()).await?;
            // Retires the user's older links; for an unknown address it matches nothing.
            store::retire_resets(conn, UserId(user.as_ref().map_or(Uuid::nil(), |u| u.id))).await?;
            let Some(user) = user else {
                store::write_nothing(conn).await?;
                return Ok(());
            };
            store::insert_reset(
                conn,
                UserId(user.id),
                &sha256(&token),
                ttl_after(self.settings.reset_ttl),
            )
            .await?;
            let mail = EmailSend {
                user_id: Some(UserId(user.id)),
                to: user.email.clone(),
                template: "password-reset".to_owned(),
                data: serde_json::json!({ "resetUrl": reset_url, "expiresInMinutes": minutes }),
            };
            outbox::enqueue(conn, topics::EMAIL_SEND, &mail, Some(request_id)).await?;
            Ok(())
        })
        .await?;
        tracing::info!("password reset requested");
        Ok(())
    }

    /// Spends a reset token, sets the new password and revokes every refresh token of the user.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<(), AuthError> {
        let mut errors = Vec::new();
        let token = ResetToken::parse(token).map_err(|e| errors.push(e)).ok();
        let password = Password::parse(password, "password")
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(token), Some(password)) = (token, password) else {
            return Err(AuthError::Validation(errors));
        };
        let token_hash = sha256(token.expose());
        // A token that cannot work costs one indexed read, not an argon2 hash: otherwise anyone
        // could burn the server's CPU with made-up tokens.
        let mut conn = self.pool.get().await?;
        if !store::reset_is_live(&mut conn, &token_hash).await? {
            return Err(AuthError::InvalidResetToken);
        }
        drop(conn);
        // Hash before the transaction: no row lock is held across the slow part. The token is
        // spent (or found spent by a concurrent reset) in the transaction below.
        let hash = self.hasher.hash(password.expose().to_owned()).await?;
        let mut conn = self.pool.get().await?;
        let user = conn
            .transaction::<_, AuthError, _>(async |conn| {
                let Some(user_id) = store::spend_reset(conn, &token_hash).await? else {
                    return Err(AuthError::InvalidResetToken);
                };
                // Ordered with refreshes (see `store::lock_user`): none commits a new token
                // between here and the revocation below.
                store::lock_user(conn, user_id).await?;
                store::set_password(conn, user_id, &hash).await?;
                store::revoke_all_for_user(conn, user_id).await?;
                Ok(user_id)
            })
            .await?;
        tracing::info!(user.id = %user, "password reset");
        Ok(())
    }

    /// Applies `user.deleted`: the account can no longer log in or refresh. Idempotent.
    pub async fn on_user_deleted(&self, job_id: Uuid, event: UserDeleted) -> Result<(), AuthError> {
        let mut conn = self.pool.get().await?;
        conn.transaction::<_, AuthError, _>(async |conn| {
            if tessera_app::inbox::claim(conn, "auth", job_id).await? {
                store::mark_deleted(conn, event.user_id, event.deleted_at).await?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(user.id = %event.user_id, "user deleted; account revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowdown_starts_after_the_free_failures_doubles_and_is_bounded() {
        let max = Duration::from_secs(10);
        assert_eq!(slowdown(0, 10, max), Duration::ZERO);
        assert_eq!(slowdown(10, 10, max), Duration::ZERO);
        assert_eq!(slowdown(11, 10, max), Duration::from_millis(250));
        assert_eq!(slowdown(12, 10, max), Duration::from_millis(500));
        assert_eq!(slowdown(16, 10, max), Duration::from_secs(8));
        assert_eq!(slowdown(17, 10, max), max);
        assert_eq!(slowdown(u64::MAX, 10, max), max);
        assert_eq!(
            slowdown(3, 0, Duration::from_millis(100)),
            Duration::from_millis(100)
        );
    }
}
