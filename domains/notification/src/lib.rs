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
    use std::time::Duration;

    use actix_web::web;
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    use tessera_app::config::ConfigError;
    use tessera_app::db::DbPool;
    use tessera_app::module::{BoxFuture, Domain, Module, Platform, ReadyCheck};
    use tessera_app::queue::{Classify, Subscription};
    use tessera_contracts::events::{UserDeleted, UserRegistered, topics};
    use utoipa::OpenApi;

    use crate::client::InProcessNotificationClient;
    use crate::dispatch::{DispatchSettings, Dispatcher, MailMetrics};
    use crate::live::Live;
    use crate::mail::Mailer;
    use crate::routes::{OpenStreams, Streams};
    use crate::service::{CONSUMER, NotificationError, Notifications, Settings};

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
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        let env = &platform.env;
        let url = platform.database_url("notification")?;
        let heartbeat = env.duration_or("SSE_HEARTBEAT_INTERVAL", Duration::from_secs(15))?;
        if heartbeat.is_zero() {
            return Err(ConfigError::Invalid {
                name: "SSE_HEARTBEAT_INTERVAL".to_owned(),
                reason: "must be positive".to_owned(),
            }
            .into());
        }
        let max_per_user: usize = env.parse_or("SSE_MAX_STREAMS_PER_USER", 5)?;
        if max_per_user == 0 {
            return Err(ConfigError::Invalid {
                name: "SSE_MAX_STREAMS_PER_USER".to_owned(),
                reason: "must be positive".to_owned(),
            }
            .into());
        }
        let live = Live::new(&platform)?;
        let mailer = Mailer::from_env(env).await?;
        let dispatch = DispatchSettings::from_env(env, &mailer)?;
        let notifications = Notifications {
            pool: platform.pool(&url),
            mailer,
            live: live.clone(),
            settings: Settings {
                web_app_url: env
                    .get("WEB_APP_URL")
                    .unwrap_or("http://localhost:3000")
                    .to_owned(),
            },
            mail_wake: Arc::default(),
        };
        let dispatcher = Dispatcher::new(
            notifications.clone(),
            dispatch,
            MailMetrics::new(&platform.metrics.registry)?,
        );
        // A worker in this process calls the use case directly instead of over HTTP.
        platform
            .local
            .provide_notification(Arc::new(InProcessNotificationClient::new(
                notifications.clone(),
            )));
        Ok(Arc::new(NotificationModule {
            dispatcher,
            notifications,
            streams: Streams {
                live,
                heartbeat,
                max_per_user,
                open: OpenStreams::default(),
            },
        }))
    }

    /// For the queue: a database that cannot be reached defers the job; any other failure
    /// retries it. (The mail server is not on this path: the dispatcher sends e-mails.)
    impl Classify for NotificationError {
        fn is_unavailable(&self) -> bool {
            match self {
                NotificationError::Db(db) => db.is_unavailable(),
                NotificationError::Internal(err) => err.is_unavailable(),
                _ => false,
            }
        }
    }

    impl Module for NotificationModule {
        fn name(&self) -> &'static str {
            "notification"
        }

        fn configure(&self, cfg: &mut web::ServiceConfig) {
            cfg.app_data(web::Data::new(self.notifications.clone()))
                .app_data(web::Data::new(self.streams.clone()))
                .configure(crate::routes::configure);
        }

        fn ready_checks(&self) -> Vec<ReadyCheck> {
            // The mail server is not a condition: without it, in-app notifications still work
            // and e-mails wait pending in the database until the dispatcher can send them.
            let live = self.streams.live.clone();
            vec![
                ReadyCheck::database("notification", self.notifications.pool.clone()),
                ReadyCheck {
                    name: "live-feed".to_owned(),
                    probe: std::sync::Arc::new(move || {
                        let subscribed = live.is_subscribed();
                        Box::pin(async move {
                            if subscribed {
                                Ok(())
                            } else {
                                Err("not subscribed yet".to_owned())
                            }
                        })
                    }),
                },
            ]
        }

        fn subscriptions(&self) -> Vec<Subscription> {
            let n = self.notifications.clone();
            let on_registered = Subscription::typed(
                topics::USER_REGISTERED,
                CONSUMER,
                move |job, event: UserRegistered| {
                    let n = n.clone();
                    async move { n.on_registered(job.id, event).await }
                },
            );
            // A deleted user's address and notifications must go: retried until it applies,
            // never dead-lettered.
            let n = self.notifications.clone();
            let on_deleted = Subscription::typed(
                topics::USER_DELETED,
                CONSUMER,
                move |job, event: UserDeleted| {
                    let n = n.clone();
                    async move { n.on_deleted(job.id, event).await }
                },
            )
            .retry_forever();
            vec![on_registered, on_deleted]
        }

        fn background(&self, shutdown: tokio_util::sync::CancellationToken) -> Vec<BoxFuture<()>> {
            // No outbox relay: this domain emits no events. The mail dispatcher sends the
            // e-mails `send` stored pending.
            vec![
                Box::pin(self.streams.live.clone().run(shutdown.clone())),
                Box::pin(self.dispatcher.clone().run(shutdown)),
            ]
        }

        fn pools(&self) -> Vec<(&'static str, DbPool)> {
            vec![("notification", self.notifications.pool.clone())]
        }
    }
}
