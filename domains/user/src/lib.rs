//! The user domain: profiles (name, bio, avatar) of the accounts the auth domain owns, read by
//! their owner or an admin, edited by their owner, listed and soft-deleted by admins.
//!
//! Profiles come from the `user.registered` event (or from the owner's token, when the first
//! read beats the event) and follow `user.role_changed`; deleting one announces `user.deleted`.
//!
//! Its surface: [`DOMAIN`] (build, routes, migrations, OpenAPI), and the wire types in [`wire`],
//! which build without the `server` feature for the web app.

pub mod wire;

#[cfg(feature = "server")]
mod routes;
#[cfg(feature = "server")]
mod schema;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
mod store;

#[cfg(feature = "server")]
pub use server::{DOMAIN, MIGRATIONS, openapi};

#[cfg(feature = "server")]
mod server {
    use std::sync::Arc;

    use actix_web::web;
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    use tessera_app::db::DbPool;
    use tessera_app::module::{BoxFuture, Domain, Module, Platform, ReadyCheck};
    use tessera_app::outbox::{OutboxRelay, RelaySettings};
    use tessera_app::queue::{Classify, Subscription};
    use tessera_contracts::events::{UserRegistered, UserRoleChanged, topics};
    use utoipa::OpenApi;

    use crate::service::{CONSUMER, UserError, Users};

    /// The user database's migrations (`migrations/user`).
    pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/user");

    /// The user domain as the shell mounts it.
    pub const DOMAIN: Domain = Domain {
        name: "user",
        migrations: Some(|| MIGRATIONS),
        openapi,
        build: |platform| Box::pin(build(platform)),
    };

    #[derive(OpenApi)]
    #[openapi(
        paths(
            crate::routes::list_users,
            crate::routes::get_user,
            crate::routes::update_user,
            crate::routes::delete_user,
        ),
        tags((name = "users", description = "Profiles: the owner's, and every user's for admins"))
    )]
    struct ApiDoc;

    /// The user domain's OpenAPI paths and schemas.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        let mut doc = ApiDoc::openapi();
        // A PATCH body needs at least one field. Set here because utoipa-gen 5.5 writes
        // `#[schema(min_properties = 1)]` as `maxProperties`.
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(body))) = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("UpdateProfileRequest"))
        {
            body.min_properties = Some(1);
        }
        doc
    }

    struct UserModule {
        users: Users,
        relay: OutboxRelay,
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        let url = platform.database_url("user")?;
        let users = Users {
            pool: platform.pool(&url),
        };
        let relay = OutboxRelay::new(
            users.pool.clone(),
            url,
            platform.queue.clone(),
            RelaySettings::default(),
        );
        Ok(Arc::new(UserModule { users, relay }))
    }

    /// For the queue: a database that cannot be reached defers the job; any other failure (an
    /// event about a profile that does not exist yet, a database error) retries it.
    impl Classify for UserError {
        fn is_unavailable(&self) -> bool {
            matches!(self, UserError::Db(db) if db.is_unavailable())
        }
    }

    impl Module for UserModule {
        fn name(&self) -> &'static str {
            "user"
        }

        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.users.clone()))
                .configure(crate::routes::configure);
        }

        fn ready_checks(&self) -> Vec<ReadyCheck> {
            vec![ReadyCheck::database("user", self.users.pool.clone())]
        }

        fn subscriptions(&self) -> Vec<Subscription> {
            let users = self.users.clone();
            let on_registered = Subscription::typed(
                topics::USER_REGISTERED,
                CONSUMER,
                move |job, event: UserRegistered| {
                    let users = users.clone();
                    async move { users.on_registered(job.id, event).await }
                },
            );
            let users = self.users.clone();
            let on_role_changed = Subscription::typed(
                topics::USER_ROLE_CHANGED,
                CONSUMER,
                move |job, event: UserRoleChanged| {
                    let users = users.clone();
                    async move { users.on_role_changed(job.id, event).await }
                },
            );
            vec![on_registered, on_role_changed]
        }

        fn background(&self, shutdown: tokio_util::sync::CancellationToken) -> Vec<BoxFuture<()>> {
            vec![Box::pin(self.relay.clone().run(shutdown))]
        }

        fn pools(&self) -> Vec<(&'static str, DbPool)> {
            vec![("user", self.users.pool.clone())]
        }
    }
}
