//! The live feed behind `GET /notifications/stream`.
//!
//! Whoever stores a notification publishes it on one Redis pub/sub channel (`{prefix}:notifications`).
//! Every process that mounts this domain keeps ONE subscriber connection to that channel and fans
//! what arrives out through a `tokio::sync::broadcast` channel to its connected streams, each of
//! which keeps its own user's notifications. So a stream receives notifications stored by any
//! process of the deployment (the worker's, another replica's), and the number of Redis
//! connections does not grow with the number of streams.
//!
//! Pub/sub is fire-and-forget: a notification published while a subscriber is reconnecting is not
//! replayed. The stream is a convenience on top of the list, which is the record; the web app
//! reloads the list when its stream reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::{
    Builder, ClientLike, Config, EventInterface, PubsubInterface, ReconnectPolicy,
};
use tessera_app::module::{Platform, ReadyCheck};
use tessera_contracts::notifications::Notification;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How many notifications may wait for a slow stream before it misses some.
const FAN_OUT_CAPACITY: usize = 1024;
/// How long a publish may take before the live push is given up (the notification is stored).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// Publishes notifications and feeds the local streams. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    publisher: fred::prelude::Client,
    subscriber: SubscriberClient,
    channel: String,
    fan_out: broadcast::Sender<Arc<Notification>>,
    /// Cancelled at shutdown: every open stream ends, so the server's graceful stop does not
    /// wait for connections that never finish on their own.
    closing: CancellationToken,
    /// Whether the subscriber holds its subscription now; `/ready` reports it, so a process is
    /// not ready while a notification stored elsewhere would miss its streams.
    subscribed: Arc<AtomicBool>,
}

impl Live {
    /// A feed on the platform's Redis, under its key prefix. Nothing connects until [`Live::run`].
    pub fn new(platform: &Platform) -> anyhow::Result<Self> {
        let mut config = Config::from_url(&platform.redis_settings.url)?;
        // As for the platform's client: a Redis that is down at boot only delays the feed.
        config.fail_fast = false;
        let subscriber = Builder::from_config(config)
            .with_connection_config(|c| c.connection_timeout = Duration::from_secs(3))
            .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(5))
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build_subscriber_client()?;
        let (fan_out, _) = broadcast::channel(FAN_OUT_CAPACITY);
        Ok(Self {
            publisher: platform.redis.clone(),
            subscriber,
            channel: platform.redis_settings.key(&["notifications"]),
            fan_out,
            closing: CancellationToken::new(),
            subscribed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether the live feed is subscribed (a readiness condition).
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// The `/ready` check `live-feed`: the feed is subscribed. (The mail server is not a
    /// condition: without it, in-app notifications still work and e-mails wait pending in the
    /// database until the dispatcher can send them.)
    pub fn ready_check(&self) -> ReadyCheck {
        let live = self.clone();
        ReadyCheck {
            name: "live-feed".to_owned(),
            probe: Arc::new(move || {
                let subscribed = live.is_subscribed();
                Box::pin(async move {
                    if subscribed {
                        Ok(())
                    } else {
                        Err("not subscribed yet".to_owned())
                    }
                })
            }),
        }
    }

    /// Announces a stored notification to every process's streams. Best effort: when Redis is
    /// down the notification is still stored and listed, only the live push is lost (logged).
    pub async fn publish(&self, notification: &Notification) {
        let payload = match serde_json::to_string(notification) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "notification could not be encoded for the stream");
                return;
            }
        };
        // Bounded well below the callers' timeouts: a Redis outage must not hold up a send.
        let published = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            self.publisher.publish::<i64, _, _>(&self.channel, payload),
        )
        .await;
        let error = match published {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", PUBLISH_TIMEOUT.as_millis()),
        };
        tracing::warn!(
            notification.id = %notification.id,
            error,
            "notification not pushed to live streams"
        );
    }

    /// A receiver of every notification this process hears of, for one stream to filter.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notification>> {
        self.fan_out.subscribe()
    }

    /// Cancelled when the process shuts down.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// The subscriber loop: connects, subscribes (again after every reconnect), forwards what
    /// arrives to the local streams, and at `stop` ends the streams and disconnects.
    pub async fn run(self, stop: CancellationToken) {
        // Both receivers exist before the connection does, so neither the first connection
        // event nor an early message is missed.
        let mut messages = self.subscriber.message_rx();
        let mut reconnects = self.subscriber.reconnect_rx();
        let connection = self.subscriber.connect();
        // Subscribing fails while the connection is down; this retries until it holds.
        let mut retry = tokio::time::interval(Duration::from_secs(1));
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut subscribed = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                event = reconnects.recv() => {
                    if matches!(event, Err(broadcast::error::RecvError::Closed)) {
                        break;
                    }
                    // Every (re)connection starts without subscriptions.
                    self.subscribed.store(false, Ordering::Relaxed);
                    subscribed = self.try_subscribe().await;
                }
                _ = retry.tick(), if !subscribed => {
                    if self.subscriber.is_connected() {
                        subscribed = self.try_subscribe().await;
                    }
                }
                message = messages.recv() => match message {
                    Ok(message) => self.forward(&message),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "live feed fell behind; notifications missed");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        self.closing.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.subscriber.quit()).await;
        connection.abort();
        tracing::debug!("live feed stopped");
    }

    async fn try_subscribe(&self) -> bool {
        match self.subscriber.subscribe(&self.channel).await {
            Ok(()) => {
                tracing::debug!("live feed subscribed");
                self.subscribed.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "live feed could not subscribe; retrying");
                false
            }
        }
    }

    fn forward(&self, message: &fred::types::Message) {
        let Some(raw) = message.value.as_str() else {
            return;
        };
        match serde_json::from_str::<Notification>(&raw) {
            // No stream listening is fine: `send` only fails when there is no receiver.
            Ok(n) => {
                let _ = self.fan_out.send(Arc::new(n));
            }
            Err(e) => tracing::warn!(error = %e, "unreadable message on the live feed"),
        }
    }
}
