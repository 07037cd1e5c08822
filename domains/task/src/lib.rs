//! The task domain: each user's tasks, listed with filters, search, sorts and pages; idempotent
//! creation; and the `task.created` / `task.completed` events, written to the outbox in the
//! same transaction as the change.
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
    use std::time::Duration;

    use actix_web::web;
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    use tessera_app::module::{BoxFuture, Database, Domain, Module, Platform};
    use tokio_util::sync::CancellationToken;
    use utoipa::OpenApi;

    use crate::service::{TaskSettings, Tasks};

    /// The task database's migrations (`migrations/task`).
    pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/task");

    /// The task domain as the shell mounts it.
    pub const DOMAIN: Domain = Domain {
        name: "task",
        migrations: Some(|| MIGRATIONS),
        openapi,
        build: |platform| Box::pin(build(platform)),
    };

    /// How often expired idempotency keys are deleted.
    const KEY_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

    #[derive(OpenApi)]
    #[openapi(
        paths(
            crate::routes::create_task,
            crate::routes::list_tasks,
            crate::routes::get_task,
            crate::routes::update_task,
            crate::routes::delete_task,
        ),
        tags((name = "tasks", description = "A user's tasks"))
    )]
    struct ApiDoc;

    /// The task domain's OpenAPI paths and schemas.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        let mut doc = ApiDoc::openapi();
        // A PATCH body needs at least one field. Set here because utoipa-gen 5.5 writes
        // `#[schema(min_properties = 1)]` as `maxProperties`.
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(body))) = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("UpdateTaskRequest"))
        {
            body.min_properties = Some(1);
        }
        doc
    }

    struct TaskModule {
        tasks: Tasks,
        db: Database,
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        let db = platform.database("task")?;
        let tasks = Tasks {
            pool: db.pool().clone(),
            settings: TaskSettings::from_env(&platform.env)?,
        };
        Ok(Arc::new(TaskModule { tasks, db }))
    }

    /// Deletes expired idempotency keys now and every [`KEY_PURGE_INTERVAL`] until `shutdown`.
    async fn purge_keys(tasks: Tasks, shutdown: CancellationToken) {
        loop {
            match tasks.purge_expired_keys().await {
                Ok(deleted) => tracing::debug!(deleted, "expired idempotency keys deleted"),
                Err(err) => tracing::warn!(
                    error = %format!("{:#}", anyhow::Error::from(err)),
                    "idempotency key clean-up failed"
                ),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(KEY_PURGE_INTERVAL) => {}
            }
        }
    }

    impl Module for TaskModule {
        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.tasks.clone()))
                .configure(crate::routes::configure);
        }

        fn database(&self) -> Option<&Database> {
            Some(&self.db)
        }

        fn background(&self, shutdown: CancellationToken) -> Vec<BoxFuture<()>> {
            vec![Box::pin(purge_keys(self.tasks.clone(), shutdown))]
        }
    }
}
