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
    use tessera_app::module::{Database, Domain, Module, Platform};
    use tessera_app::queue::Subscription;
    use tessera_contracts::events::{UserRegistered, UserRoleChanged, topics};
    use utoipa::OpenApi;

    use crate::service::{CONSUMER, Users};

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
        db: Database,
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        let db = platform.database("user")?;
        let users = Users {
            pool: db.pool().clone(),
        };
        Ok(Arc::new(UserModule { users, db }))
    }

    impl Module for UserModule {
        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.users.clone()))
                .configure(crate::routes::configure);
        }

        fn database(&self) -> Option<&Database> {
            Some(&self.db)
        }

        fn subscriptions(&self) -> Vec<Subscription> {
            let users = self.users.clone();
            vec![
                Subscription::typed_with(
                    topics::USER_REGISTERED,
                    CONSUMER,
                    users.clone(),
                    |users, job, event: UserRegistered| async move {
                        users.on_registered(job.id, event).await
                    },
                ),
                Subscription::typed_with(
                    topics::USER_ROLE_CHANGED,
                    CONSUMER,
                    users,
                    |users, job, event: UserRoleChanged| async move {
                        users.on_role_changed(job.id, event).await
                    },
                ),
            ]
        }
    }
}
