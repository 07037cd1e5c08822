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

    use actix_web::web;
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    use tessera_app::db::DbPool;
    use tessera_app::module::{Database, Domain, Module, Platform};
    use tessera_app::net::TrustedProxies;
    use tessera_app::outbox::{Redaction, RelaySettings};
    use tessera_app::queue::Subscription;
    use tessera_app::throttle::Throttle;
    use tessera_contracts::events::{UserDeleted, topics};
    use utoipa::OpenApi;

    use crate::password::Hasher;
    use crate::service::{Auth, AuthSettings};

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
        db: Database,
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        // The reset link is as good as the password while it lives: once the event is on the
        // queue, the outbox row does not keep it.
        let db = platform.database("auth")?.with_relay(RelaySettings {
            redact: vec![Redaction {
                topic: topics::EMAIL_SEND,
                path: "data.resetUrl",
            }],
            ..RelaySettings::default()
        });
        let settings = AuthSettings::from_env(&platform.env)?;
        let trusted = TrustedProxies::from_env(&platform.env)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let hasher = Hasher::new(crate::password::hashing_permits(cores)).await?;
        hasher.register(&platform.metrics.registry)?;
        let auth = Auth {
            pool: db.pool().clone(),
            tokens: platform.tokens.clone(),
            hasher,
            throttle: Throttle::new(platform.redis.clone(), platform.redis_settings.clone()),
            settings,
        };
        Ok(Arc::new(AuthModule { auth, trusted, db }))
    }

    impl Module for AuthModule {
        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.auth.clone()))
                .app_data(web::Data::new(self.trusted.clone()))
                .configure(crate::routes::configure);
        }

        fn database(&self) -> Option<&Database> {
            Some(&self.db)
        }

        fn subscriptions(&self) -> Vec<Subscription> {
            // A deleted user whose sessions survive because the event died could still log
            // in: this one is retried until it applies, never dead-lettered.
            vec![
                Subscription::typed_with(
                    topics::USER_DELETED,
                    "auth",
                    self.auth.clone(),
                    |auth, job, event: UserDeleted| async move {
                        auth.on_user_deleted(job.id, event).await
                    },
                )
                .retry_forever(),
            ]
        }
    }

    /// Makes the live account with `email` an administrator (`shell admin promote`) and
    /// announces it (`user.role_changed`) in the same transaction, so the user domain's profile
    /// follows. False when no live account has that address.
    pub async fn promote(pool: &DbPool, email: &str) -> anyhow::Result<bool> {
        use diesel_async::AsyncConnection;
        use tessera_contracts::Role;
        use tessera_contracts::events::UserRoleChanged;
        let email =
            crate::wire::Email::parse(email).map_err(|e| anyhow::anyhow!("email {}", e.message))?;
        let mut conn = pool.get().await?;
        let promoted = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let Some(user_id) = crate::store::promote(conn, email.as_str()).await? else {
                    return Ok(false);
                };
                let event = UserRoleChanged {
                    user_id,
                    role: Role::Admin,
                };
                tessera_app::outbox::enqueue(conn, topics::USER_ROLE_CHANGED, &event, None).await?;
                Ok(true)
            })
            .await?;
        Ok(promoted)
    }
}
