//! Client traits: how one domain calls another without depending on its crate.
//!
//! No domain crate depends on another (DESIGN.md, "Crates and their rules"). When a domain needs
//! another domain to act, it calls a trait defined here, over request and response types from
//! `tessera_contracts`. Each trait has two adapters, and the caller cannot tell them apart:
//!
//! - **HTTP** (split deployment, or the other domain not mounted in this process): built here on
//!   [`ServiceClient`], calling the other process's internal route with a service token, e.g.
//!   [`HttpNotificationClient`].
//! - **In-process** (both domains mounted in one process): written by the domain that owns the
//!   route, in its own crate, over the same use case its HTTP handler calls. For notifications
//!   it will look like this:
//!
//!   ```ignore
//!   // domains/notification/src/client.rs
//!   pub struct InProcessNotificationClient { service: NotificationService }
//!
//!   impl NotificationClient for InProcessNotificationClient {
//!       fn send(&self, req: SendNotification, request_id: Option<String>)
//!           -> BoxFuture<Result<Notification, ClientError>> {
//!           let service = self.service.clone();
//!           Box::pin(async move {
//!               // The same validation and idempotency as `POST /notifications/send`; the
//!               // domain's errors map to what the HTTP adapter would have reported:
//!               // database down -> Unavailable, invalid request -> Rejected with the
//!               // problem `ApiError::problem()` builds.
//!               service.send(req, request_id.as_deref()).await.map_err(into_client_error)
//!           })
//!       }
//!   }
//!   ```
//!
//!   No token is minted in-process: the trust boundary is the process, and the route's
//!   `ServiceCaller` check exists for calls that cross the network.
//!
//! The shell picks the adapter: when the providing domain is mounted in the process, its module
//! hands the platform its in-process adapter while being built (providers are built before their
//! callers); otherwise the caller builds the HTTP adapter from the environment
//! (`HttpNotificationClient::from_platform`). Only that wiring is left to the issue that adds
//! the notification domain; the trait, the HTTP adapter and [`ClientError`] are final.
//!
//! Futures are boxed ([`BoxFuture`]) rather than `async fn` so the traits stay object safe
//! (`Arc<dyn NotificationClient>`) without the `async-trait` crate; they own their inputs, so
//! they borrow nothing from the caller and can be spawned.

use tessera_contracts::notifications::{Notification, SendNotification};

use crate::client::{ClientError, Endpoint, ServiceClient};
use crate::config::Env;
use crate::module::{BoxFuture, Platform};
use crate::tokens::Tokens;

/// The notification service's name in logs and error messages.
pub const NOTIFICATION_SERVICE: &str = "notification";
/// The variable holding the notification service's base URL in the split deployment.
pub const NOTIFICATION_URL_VAR: &str = "NOTIFICATION_SERVICE_URL";
/// Where the notification service listens when [`NOTIFICATION_URL_VAR`] is unset (its port in
/// the split deployment).
pub const DEFAULT_NOTIFICATION_URL: &str = "http://localhost:4004";
/// The internal route that stores and delivers a notification.
pub const SEND_PATH: &str = "/notifications/send";

/// Asks the notification domain to store and deliver a notification
/// (`POST /notifications/send`).
pub trait NotificationClient: Send + Sync {
    /// Sends `req` on behalf of the request or job `request_id` (carried into the notification
    /// domain's logs). With the same `idempotency_key`, a repeated call stores and sends once
    /// and answers the first notification, so a caller may retry a failed call freely.
    fn send(
        &self,
        req: SendNotification,
        request_id: Option<String>,
    ) -> BoxFuture<Result<Notification, ClientError>>;
}

/// The HTTP adapter of [`NotificationClient`]: calls the notification process with a service
/// token.
#[derive(Debug, Clone)]
pub struct HttpNotificationClient {
    client: ServiceClient,
}

impl HttpNotificationClient {
    /// An adapter over a [`ServiceClient`] already bound to the notification service.
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }

    /// An adapter configured from [`NOTIFICATION_URL_VAR`] (default
    /// [`DEFAULT_NOTIFICATION_URL`]) and `SERVICE_CALL_TIMEOUT` (default 5 s), calling as
    /// `caller` (e.g. `worker`).
    pub fn from_env(env: &Env, caller: &str, tokens: Tokens) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_env(
            env,
            NOTIFICATION_SERVICE,
            NOTIFICATION_URL_VAR,
            DEFAULT_NOTIFICATION_URL,
        )?;
        Ok(Self::new(ServiceClient::new(endpoint, caller, tokens)?))
    }

    /// [`Self::from_env`] with the platform's environment and tokens.
    pub fn from_platform(platform: &Platform, caller: &str) -> anyhow::Result<Self> {
        Self::from_env(&platform.env, caller, platform.tokens.clone())
    }

    /// The underlying client (its endpoint and caller).
    pub fn service_client(&self) -> &ServiceClient {
        &self.client
    }
}

impl NotificationClient for HttpNotificationClient {
    fn send(
        &self,
        req: SendNotification,
        request_id: Option<String>,
    ) -> BoxFuture<Result<Notification, ClientError>> {
        // A clone shares the connection pool and token cache; it lets the future own its client.
        let client = self.client.clone();
        Box::pin(async move {
            client
                .post_json(SEND_PATH, &req, request_id.as_deref())
                .await
        })
    }
}

/// In-process adapters that mounted domains provide to the other domains of the same process.
///
/// A providing module registers its adapter while it is built; a calling module asks at call
/// time and falls back to the HTTP adapter when nothing was registered (the provider runs in
/// another process). Asking at call time means build order does not matter.
#[derive(Default)]
pub struct LocalServices {
    notification: std::sync::OnceLock<std::sync::Arc<dyn NotificationClient>>,
}

impl LocalServices {
    /// Registers the in-process notification client; a second registration is ignored.
    pub fn provide_notification(&self, client: std::sync::Arc<dyn NotificationClient>) {
        let _ = self.notification.set(client);
    }

    /// The in-process notification client, when the notification domain is mounted here.
    pub fn notification(&self) -> Option<std::sync::Arc<dyn NotificationClient>> {
        self.notification.get().cloned()
    }
}
