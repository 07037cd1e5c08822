//! The queue worker domain: turns the `task.created`, `task.completed` and `email.send` jobs into
//! notifications (API.md, "What the user receives" and "Queue worker").
//!
//! It owns no database and no routes: a process that mounts it alone (`shell serve --services
//! worker`, port 4005) serves only the platform's `/health`, `/ready` and `/metrics`. Its jobs
//! arrive through the consumer group `worker`, at least once, with the platform's retries,
//! backoff and dead-lettering (`QUEUE_*`, concurrency `QUEUE_CONCURRENCY`). For each job it asks
//! the notification domain to send, through the [`NotificationClient`] trait: the in-process
//! adapter when the notification domain is mounted in the same process, otherwise HTTP with a
//! service token to `NOTIFICATION_SERVICE_URL`. Every call carries an idempotency key derived from
//! the job id, so a job that runs twice notifies once. A failed call fails the job: an unavailable
//! service (or mail server) defers it without spending an attempt, for as long as the outage
//! lasts, a refused call is dead-lettered, and a recipient the notification domain reports
//! deleted (410) drops that notification.
//!
//! Its surface: [`DOMAIN`], and an empty [`wire`] module (nothing of it crosses the wire).
//!
//! [`NotificationClient`]: tessera_app::domain_clients::NotificationClient

/// The worker's wire types: none, it has no routes. The module exists so every domain crate has
/// the same shape, and the crate builds for wasm without the `server` feature.
pub mod wire {}

#[cfg(feature = "server")]
mod plan;

#[cfg(feature = "server")]
pub use server::{DOMAIN, GROUP, openapi};

#[cfg(feature = "server")]
mod server {
    use std::sync::Arc;

    use actix_web::web;
    use tessera_app::domain_clients::{HttpNotificationClient, LocalServices, NotificationClient};
    use tessera_app::module::{Domain, Module, Platform};
    use tessera_app::queue::{Job, JobError, Subscription};
    use tessera_app::service_client::ClientError;
    use tessera_contracts::events::topics;

    use crate::plan::{self, Links};

    /// The worker domain as the shell mounts it.
    pub const DOMAIN: Domain = Domain {
        name: "worker",
        migrations: None,
        openapi,
        build: |platform| Box::pin(build(platform)),
    };

    /// The consumer group of every worker subscription, and the caller name in its service
    /// tokens.
    pub const GROUP: &str = "worker";

    /// The topics the worker consumes.
    const TOPICS: [&str; 3] = [
        topics::TASK_CREATED,
        topics::TASK_COMPLETED,
        topics::EMAIL_SEND,
    ];

    /// The worker adds no paths to the API document.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }

    /// What a job handler needs. Cheap to clone: one clone per job.
    #[derive(Clone)]
    struct Worker {
        /// Where the in-process notification client is, when the notification domain is mounted
        /// here. Asked at call time, so the order in which domains are built does not matter.
        local: Arc<LocalServices>,
        /// The HTTP adapter, built once (its connection pool and token cache are shared).
        remote: Arc<HttpNotificationClient>,
        links: Arc<Links>,
    }

    async fn build(platform: Platform) -> anyhow::Result<Arc<dyn Module>> {
        let web_app_url = platform
            .env
            .get("WEB_APP_URL")
            .unwrap_or("http://localhost:3000");
        // Built even when the notification domain is mounted here: it only parses its variables
        // (a bad NOTIFICATION_SERVICE_URL fails the start either way) and opens no connection.
        let remote =
            HttpNotificationClient::from_env(&platform.env, GROUP, platform.tokens.clone())?;
        Ok(Arc::new(Worker {
            local: platform.local.clone(),
            remote: Arc::new(remote),
            links: Arc::new(Links::new(web_app_url)),
        }))
    }

    impl Worker {
        /// The in-process client if there is one, else the HTTP one.
        fn client(&self) -> (Arc<dyn NotificationClient>, &'static str) {
            match self.local.notification() {
                Some(local) => (local, "in-process"),
                None => (self.remote.clone(), "http"),
            }
        }

        /// Sends what `job` asks for, in order. A failed call fails the job: the platform retries
        /// it (or dead-letters it when the failure is permanent), and the calls that had already
        /// succeeded are no-ops the second time thanks to their idempotency keys.
        async fn handle(self, job: Job) -> Result<(), JobError> {
            let notifications =
                plan::plan(&job, &self.links).map_err(|e| JobError::Permanent(e.into()))?;
            let (client, via) = self.client();
            for request in notifications {
                let channel = request.channel.as_str();
                // The request id follows the job into the notification service's logs.
                let sent = match client.send(request, job.request_id.clone()).await {
                    Ok(sent) => sent,
                    // The user was deleted: nobody is left to notify, which is not a failure
                    // worth a dead letter.
                    Err(ClientError::Rejected { status: 410, .. }) => {
                        tracing::info!(
                            notification.channel = channel,
                            "the recipient was deleted; notification dropped"
                        );
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                };
                tracing::debug!(
                    notification.id = %sent.id,
                    notification.channel = channel,
                    via,
                    "notification sent"
                );
            }
            Ok(())
        }
    }

    impl Module for Worker {
        /// No routes of its own: the platform mounts `/health`, `/ready` and `/metrics`.
        fn configure(&self, _cfg: &mut web::ServiceConfig) {}

        fn subscriptions(&self) -> Vec<Subscription> {
            TOPICS
                .iter()
                .map(|topic| {
                    let worker = self.clone();
                    Subscription::new(*topic, GROUP, move |job: Job| worker.clone().handle(job))
                })
                .collect()
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

        use std::collections::VecDeque;
        use std::sync::Mutex;

        use chrono::Utc;
        use tessera_app::config::{Env, TokenSettings};
        use tessera_app::module::BoxFuture;
        use tessera_app::tokens::Tokens;
        use tessera_contracts::UserId;
        use tessera_contracts::events::TaskCreated;
        use tessera_contracts::notifications::{
            Notification, NotificationChannel, SendNotification,
        };

        use super::*;

        /// An in-memory stand-in for the notification domain's in-process adapter: records the
        /// calls and answers from a script (success once the script is empty).
        #[derive(Default)]
        struct Recorder {
            calls: Mutex<Vec<(SendNotification, Option<String>)>>,
            answers: Mutex<VecDeque<Result<(), ClientError>>>,
        }

        impl NotificationClient for Recorder {
            fn send(
                &self,
                req: SendNotification,
                request_id: Option<String>,
            ) -> BoxFuture<Result<Notification, ClientError>> {
                self.calls.lock().unwrap().push((req.clone(), request_id));
                let answer = self.answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
                Box::pin(async move {
                    answer.map(|()| Notification {
                        id: uuid::Uuid::now_v7(),
                        user_id: req.user_id,
                        r#type: req.r#type,
                        channel: req.channel,
                        subject: req.subject,
                        message: req.message,
                        read: false,
                        created_at: Utc::now(),
                    })
                })
            }
        }

        fn worker(notification_url: &str) -> Worker {
            let env = Env::from_pairs([
                ("JWT_SECRET", "a".repeat(32)),
                ("INTERNAL_JWT_SECRET", "b".repeat(32)),
                ("NOTIFICATION_SERVICE_URL", notification_url.to_owned()),
                ("SERVICE_CALL_TIMEOUT", "2s".to_owned()),
            ]);
            let tokens = Tokens::new(&TokenSettings::from_env(&env).unwrap());
            Worker {
                local: Arc::default(),
                remote: Arc::new(HttpNotificationClient::from_env(&env, GROUP, tokens).unwrap()),
                links: Arc::new(Links::new("http://localhost:3000")),
            }
        }

        fn in_process(worker: &Worker) -> Arc<Recorder> {
            let recorder = Arc::new(Recorder::default());
            worker.local.provide_notification(recorder.clone());
            recorder
        }

        fn first_task() -> Job {
            let event = TaskCreated {
                task_id: uuid::Uuid::now_v7(),
                user_id: UserId(uuid::Uuid::now_v7()),
                title: "Write the report".to_owned(),
                first_task: true,
                created_at: Utc::now(),
            };
            Job::new(topics::TASK_CREATED, serde_json::to_value(event).unwrap())
                .with_request_id("req-42")
        }

        fn unavailable() -> ClientError {
            ClientError::Unavailable {
                service: "notification",
                status: Some(503),
                retry_after: None,
                reason: "answered 503".to_owned(),
                source: None,
            }
        }

        #[tokio::test]
        async fn a_job_calls_the_in_process_client_in_order_with_its_request_id() {
            let worker = worker("http://127.0.0.1:9");
            let recorder = in_process(&worker);
            worker.clone().handle(first_task()).await.unwrap();
            let calls = recorder.calls.lock().unwrap();
            let channels: Vec<_> = calls.iter().map(|(r, _)| r.channel).collect();
            assert_eq!(
                channels,
                [NotificationChannel::InApp, NotificationChannel::Email]
            );
            assert!(calls.iter().all(|(_, id)| id.as_deref() == Some("req-42")));
        }

        #[tokio::test]
        async fn an_unavailable_notification_service_defers_the_job() {
            let worker = worker("http://127.0.0.1:9");
            let recorder = in_process(&worker);
            recorder
                .answers
                .lock()
                .unwrap()
                .extend([Ok(()), Err(unavailable())]);
            let err = worker.clone().handle(first_task()).await.unwrap_err();
            assert!(matches!(err, JobError::Unavailable(_)), "{err}");
            assert_eq!(recorder.calls.lock().unwrap().len(), 2);
        }

        #[tokio::test]
        async fn a_refused_call_fails_the_job_for_good() {
            let worker = worker("http://127.0.0.1:9");
            let recorder = in_process(&worker);
            recorder
                .answers
                .lock()
                .unwrap()
                .push_back(Err(ClientError::Rejected {
                    service: "notification",
                    status: 400,
                    problem: None,
                }));
            let err = worker.clone().handle(first_task()).await.unwrap_err();
            assert!(matches!(err, JobError::Permanent(_)), "{err}");
            assert_eq!(
                recorder.calls.lock().unwrap().len(),
                1,
                "stops at the refusal"
            );
        }

        #[tokio::test]
        async fn a_deleted_recipient_drops_the_notification_and_completes_the_job() {
            let worker = worker("http://127.0.0.1:9");
            let recorder = in_process(&worker);
            recorder
                .answers
                .lock()
                .unwrap()
                .push_back(Err(ClientError::Rejected {
                    service: "notification",
                    status: 410,
                    problem: None,
                }));
            worker.clone().handle(first_task()).await.unwrap();
            assert_eq!(
                recorder.calls.lock().unwrap().len(),
                2,
                "the other notification still goes out"
            );
        }

        #[tokio::test]
        async fn a_malformed_payload_fails_for_good_without_a_call() {
            let worker = worker("http://127.0.0.1:9");
            let recorder = in_process(&worker);
            let job = Job::new(topics::TASK_COMPLETED, serde_json::json!({"taskId": 1}));
            let err = worker.clone().handle(job).await.unwrap_err();
            assert!(matches!(err, JobError::Permanent(_)), "{err}");
            assert!(recorder.calls.lock().unwrap().is_empty());
        }

        #[tokio::test]
        async fn without_the_notification_domain_in_process_the_worker_calls_over_http() {
            // Nothing listens on this port: the HTTP adapter reports the service unavailable.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let worker = worker(&format!("http://127.0.0.1:{port}"));
            let err = worker.clone().handle(first_task()).await.unwrap_err();
            assert!(matches!(err, JobError::Unavailable(_)), "{err}");
            assert!(
                err.to_string()
                    .contains("notification service is unavailable"),
                "{err}"
            );
        }
    }
}
