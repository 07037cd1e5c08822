//! The notification domain: notifications stored per user, e-mail over SMTP from askama
//! templates, and a live stream of new notifications (Server-Sent Events over Redis pub/sub).
//!
//! Its surface: [`DOMAIN`] (build, routes, migrations, OpenAPI), the in-process adapter of
//! `NotificationClient` it registers while it is built, and the wire types in [`wire`], which
//! build without the `server` feature for the web app.

pub mod wire;

#[cfg(feature = "server")]
mod client;
#[cfg(feature = "server")]
mod dispatch;
#[cfg(feature = "server")]
mod live;
#[cfg(feature = "server")]
mod mail;
#[cfg(feature = "server")]
mod routes;
#[cfg(feature = "server")]
mod schema;
#[cfg(feature = "server")]
mod service;
#[cfg(feature = "server")]
mod store;

#[cfg(feature = "server")]
pub use client::InProcessNotificationClient;
#[cfg(feature = "server")]
pub use server::{DOMAIN, MIGRATIONS, openapi};

#[cfg(feature = "server")]
mod server {
    use std::sync::Arc;

    use actix_web::web;
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    use tessera_app::module::{BoxFuture, Database, Domain, Module, Platform, ReadyCheck};
    use tessera_app::queue::Subscription;
    use tessera_contracts::events::{UserDeleted, UserRegistered, topics};
    use utoipa::OpenApi;

    use crate::client::InProcessNotificationClient;
    use crate::dispatch::{DispatchSettings, Dispatcher, MailMetrics};
    use crate::live::Live;
    use crate::mail::Mailer;
    use crate::routes::Streams;
    use crate::service::{CONSUMER, Notifications, Settings};

    /// The notification database's migrations (`migrations/notification`).
    pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/notification");

    /// The notification domain as the shell mounts it.
    pub const DOMAIN: Domain = Domain {
        name: "notification",
        migrations: Some(|| MIGRATIONS),
        openapi,
        build: |platform| Box::pin(build(platform)),
    };

    #[derive(OpenApi)]
    #[openapi(
        paths(
            crate::routes::send,
            crate::routes::list,
            crate::routes::mark_read,
            crate::routes::read_all,
            crate::routes::delete,
            crate::routes::stream,
        ),
        tags(
            (name = "notifications", description = "The caller's notifications and their live stream"),
            (name = "internal", description = "Service-to-service routes; the gateway never routes them"),
        )
    )]
    struct ApiDoc;

    /// The notification domain's OpenAPI paths and schemas.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    struct NotificationModule {
        notifications: Notifications,
        streams: Streams,
        dispatcher: Dispatcher,
        db: Database,
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        // No outbox relay: this domain emits no events.
        let db = platform.database("notification")?.without_relay();
        let live = Live::new(&platform)?;
        let streams = Streams::from_env(&platform.env, live.clone())?;
        let mailer = Mailer::from_env(&platform.env).await?;
        let dispatch = DispatchSettings::from_env(&platform.env, &mailer)?;
        let notifications = Notifications {
            pool: db.pool().clone(),
            mailer,
            live,
            settings: Settings::from_env(&platform.env),
            mail_wake: Arc::default(),
        };
        let metrics = MailMetrics::new(&platform.metrics.registry)?;
        let dispatcher = Dispatcher::new(notifications.clone(), dispatch, metrics);
        // A worker in this process calls the use case directly instead of over HTTP.
        let local = InProcessNotificationClient::new(notifications.clone());
        platform.local.provide_notification(Arc::new(local));
        Ok(Arc::new(NotificationModule {
            notifications,
            streams,
            dispatcher,
            db,
        }))
    }

    impl Module for NotificationModule {
        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.notifications.clone()))
                .app_data(web::Data::new(self.streams.clone()))
                .configure(crate::routes::configure);
        }

        fn database(&self) -> Option<&Database> {
            Some(&self.db)
        }

        fn ready_checks(&self) -> Vec<ReadyCheck> {
            vec![self.streams.live.ready_check()]
        }

        fn subscriptions(&self) -> Vec<Subscription> {
            let n = &self.notifications;
            vec![
                Subscription::typed_with(
                    topics::USER_REGISTERED,
                    CONSUMER,
                    n.clone(),
                    |n, job, event: UserRegistered| async move { n.on_registered(job.id, event).await },
                ),
                // A deleted user's address and notifications must go: retried until it applies,
                // never dead-lettered.
                Subscription::typed_with(
                    topics::USER_DELETED,
                    CONSUMER,
                    n.clone(),
                    |n, job, event: UserDeleted| async move { n.on_deleted(job.id, event).await },
                )
                .retry_forever(),
            ]
        }

        fn background(&self, shutdown: tokio_util::sync::CancellationToken) -> Vec<BoxFuture<()>> {
            // The mail dispatcher sends the e-mails `send` stored pending.
            vec![
                Box::pin(self.streams.live.clone().run(shutdown.clone())),
                Box::pin(self.dispatcher.clone().run(shutdown)),
            ]
        }
    }
}
