//! The auth domain: accounts, argon2id passwords, access tokens, rotating refresh tokens with
//! reuse detection, and password resets.
//!
//! Its surface: [`DOMAIN`] (build, routes, migrations, OpenAPI), and the wire types in [`wire`],
//! which build without the `server` feature for the web app.

pub mod wire;

#[cfg(feature = "server")]
mod password;
#[cfg(feature = "server")]
mod routes;
#[cfg(feature = "server")]
mod schema;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod session;
#[cfg(feature = "server")]
mod store;

#[cfg(feature = "server")]
pub use server::{DOMAIN, MIGRATIONS, openapi, promote};

#[cfg(feature = "server")]
mod server {
    use std::sync::Arc;
    use std::time::Duration;

    use actix_web::web;
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    use tessera_app::db::DbPool;
    use tessera_app::module::{BoxFuture, Domain, Module, Platform, ReadyCheck};
    use tessera_app::net::TrustedProxies;
    use tessera_app::outbox::{OutboxRelay, Redaction, RelaySettings};
    use tessera_app::queue::{Classify, Subscription};
    use tessera_app::throttle::{Limit, Throttle};
    use tessera_contracts::events::{UserDeleted, topics};
    use utoipa::OpenApi;

    use crate::password::Hasher;
    use crate::service::{Auth, AuthError, AuthSettings};

    /// The auth database's migrations (`migrations/auth`).
    pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/auth");

    /// The auth domain as the shell mounts it.
    pub const DOMAIN: Domain = Domain {
        name: "auth",
        migrations: Some(|| MIGRATIONS),
        openapi,
        build: |platform| Box::pin(build(platform)),
    };

    #[derive(OpenApi)]
    #[openapi(
        paths(
            crate::routes::register,
            crate::routes::login,
            crate::routes::refresh,
            crate::routes::logout,
            crate::routes::me,
            crate::routes::forgot_password,
            crate::routes::reset_password,
        ),
        tags((name = "auth", description = "Accounts, tokens and password resets"))
    )]
    struct ApiDoc;

    /// The auth domain's OpenAPI paths and schemas.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    struct AuthModule {
        auth: Auth,
        trusted: TrustedProxies,
        relay: OutboxRelay,
    }

    fn limit(
        platform: &Platform,
        name: &'static str,
        var: &str,
        max: u64,
        window: Duration,
    ) -> anyhow::Result<Limit> {
        Ok(Limit {
            name,
            max: platform.env.parse_or(var, max)?,
            window,
        })
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        let env = &platform.env;
        let url = platform.database_url("auth")?;
        let settings = AuthSettings {
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
                &platform,
                "login-address-email",
                "LOGIN_ATTEMPTS_PER_EMAIL",
                10,
                Duration::from_secs(900),
            )?,
            login_per_ip: limit(
                &platform,
                "login-ip",
                "LOGIN_ATTEMPTS_PER_IP",
                100,
                Duration::from_secs(900),
            )?,
            login_per_account: limit(
                &platform,
                "login-account",
                "LOGIN_SLOWDOWN_AFTER",
                10,
                Duration::from_secs(900),
            )?,
            login_max_delay: env.duration_or(
                "LOGIN_MAX_DELAY",
                tessera_app::throttle::DEFAULT_LOGIN_MAX_DELAY,
            )?,
            forgot_per_email: limit(
                &platform,
                "forgot-email",
                "FORGOT_PASSWORD_PER_EMAIL",
                3,
                Duration::from_secs(900),
            )?,
            forgot_per_ip: limit(
                &platform,
                "forgot-ip",
                "FORGOT_PASSWORD_PER_IP",
                20,
                Duration::from_secs(900),
            )?,
        };
        let trusted =
            TrustedProxies::parse(&env.list_or("TRUSTED_PROXIES", &[])).map_err(|reason| {
                tessera_app::config::ConfigError::Invalid {
                    name: "TRUSTED_PROXIES".to_owned(),
                    reason,
                }
            })?;
        let parallel = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let hasher = Hasher::new(parallel).await?;
        hasher.register(&platform.metrics.registry)?;
        let auth = Auth {
            pool: platform.pool(&url),
            tokens: platform.tokens.clone(),
            hasher,
            throttle: Throttle::new(platform.redis.clone(), platform.redis_settings.clone()),
            settings,
        };
        let relay = OutboxRelay::new(
            auth.pool.clone(),
            url,
            platform.queue.clone(),
            RelaySettings {
                // The reset link is as good as the password while it lives: once the event is
                // on the queue, the outbox row does not keep it.
                redact: vec![Redaction {
                    topic: topics::EMAIL_SEND,
                    path: "data.resetUrl",
                }],
                ..RelaySettings::default()
            },
        );
        Ok(Arc::new(AuthModule {
            auth,
            trusted,
            relay,
        }))
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

    impl Module for AuthModule {
        fn name(&self) -> &'static str {
            "auth"
        }

        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.auth.clone()))
                .app_data(web::Data::new(self.trusted.clone()))
                .configure(crate::routes::configure);
        }

        fn ready_checks(&self) -> Vec<ReadyCheck> {
            vec![ReadyCheck::database("auth", self.auth.pool.clone())]
        }

        fn subscriptions(&self) -> Vec<Subscription> {
            let auth = self.auth.clone();
            // A deleted user whose sessions survive because the event died could still log
            // in: this one is retried until it applies, never dead-lettered.
            vec![
                Subscription::typed(
                    topics::USER_DELETED,
                    "auth",
                    move |job, event: UserDeleted| {
                        let auth = auth.clone();
                        async move { auth.on_user_deleted(job.id, event).await }
                    },
                )
                .retry_forever(),
            ]
        }

        fn background(&self, shutdown: tokio_util::sync::CancellationToken) -> Vec<BoxFuture<()>> {
            vec![Box::pin(self.relay.clone().run(shutdown))]
        }

        fn pools(&self) -> Vec<(&'static str, DbPool)> {
            vec![("auth", self.auth.pool.clone())]
        }
    }

    /// Makes the live account with `email` an administrator (`shell admin promote`) and
    /// announces it (`user.role_changed`) in the same transaction, so the user domain's profile
    /// follows. False when no live account has that address.
    pub async fn promote(pool: &DbPool, email: &str) -> anyhow::Result<bool> {
        use diesel_async::AsyncConnection;
        use tessera_contracts::events::UserRoleChanged;
        use tessera_contracts::{Role, UserId};
        let email =
            crate::wire::Email::parse(email).map_err(|e| anyhow::anyhow!("email {}", e.message))?;
        let mut conn = pool.get().await?;
        let promoted = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let Some(id) = crate::store::promote(conn, email.as_str()).await? else {
                    return Ok(false);
                };
                let event = UserRoleChanged {
                    user_id: UserId(id),
                    role: Role::Admin,
                };
                tessera_app::outbox::enqueue(conn, topics::USER_ROLE_CHANGED, &event, None).await?;
                Ok(true)
            })
            .await?;
        Ok(promoted)
    }
}
