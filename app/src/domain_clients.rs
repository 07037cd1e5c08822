//! The typed clients of the domains: how one domain calls another without depending on its
//! crate. (The HTTP transport underneath, generic over services, is [`crate::service_client`].)
//!
//! No domain crate depends on another (DESIGN.md, "Crates and their rules"). When a domain needs
//! another domain to act, it calls a trait defined here, over request and response types from
//! `tessera_contracts`. Each trait has two adapters, and the caller cannot tell them apart:
//!
//! - **HTTP** (split deployment, or the other domain not mounted in this process): defined here on
//!   [`ServiceClient`], calling the other process's internal route with a service token at the
//!   URL the table of services names ([`crate::services`]), e.g. [`HttpNotificationClient`].
//! - **In-process** (both domains mounted in one process): written by the domain that owns the
//!   route, in its own crate, over the same use case its HTTP handler calls, e.g.
//!   `InProcessNotificationClient` in `domains/notification/src/client.rs`. No token is minted
//!   in-process: the trust boundary is the process, and the route's `ServiceCaller` check exists
//!   for calls that cross the network.
//!
//! The providing module registers its in-process adapter in [`LocalServices`] (the platform's
//! `local`) while it is built; the calling module builds the HTTP adapter from the environment at
//! start and asks [`LocalServices`] at call time, using the in-process adapter when there is one
//! (so build order does not matter). The worker calling the notification domain is the one such
//! pair today.
//!
//! Futures are boxed ([`BoxFuture`]) rather than `async fn` so the traits stay object safe
//! (`Arc<dyn NotificationClient>`) without the `async-trait` crate; they own their inputs, so
//! they borrow nothing from the caller and can be spawned.

use tessera_contracts::notifications::{Notification, SendNotification};

use crate::BoxFuture;
use crate::config::Env;
use crate::service_client::{ClientError, Endpoint, ServiceClient};
use crate::services;
use crate::tokens::Tokens;

/// The notification service's name in logs and error messages.
pub const NOTIFICATION_SERVICE: &str = services::NOTIFICATION.name;
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

    /// An adapter configured from the notification service's URL variable in the table of
    /// services (`NOTIFICATION_SERVICE_URL`, default `http://localhost:4004`) and
    /// `SERVICE_CALL_TIMEOUT` (default 5 s), calling as `caller` (e.g. `worker`).
    pub fn from_env(env: &Env, caller: &str, tokens: Tokens) -> anyhow::Result<Self> {
        let service = &services::NOTIFICATION;
        let url_var = service
            .url_var
            .ok_or_else(|| anyhow::anyhow!("the table of services has no URL variable for it"))?;
        let endpoint = Endpoint::from_env(env, service.name, url_var, &service.local_url())?;
        Ok(Self::new(ServiceClient::new(endpoint, caller, tokens)?))
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
