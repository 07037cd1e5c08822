//! A job queue on Redis Streams.
//!
//! Key layout (all under the [`RedisSettings`] prefix `P`; `T` a topic, `G` a consumer group):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:stream:T` | stream | every published job of topic `T`; one consumer group per subscribing domain |
//! | `P:retry:T:G` | stream | retries of `T` that are due, read by group `G` only |
//! | `P:delayed:T:G` | sorted set | retries and deferrals of `T` for `G` waiting for their due time (score: ms) |
//! | `P:dead:T:G` | stream | jobs `G` gave up on, with the error and the attempt count |
//! | `P:subscriptions` | set | `T:G` for every subscription that ever consumed, for operators |
//!
//! Retries never go back to `P:stream:T`: the other groups on the topic already handled the job
//! and would see it twice.

mod admin;
mod backoff;
mod consumer;
mod job;
mod metrics;
mod scripts;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use fred::prelude::{Client, LuaInterface, StreamsInterface};

use crate::redis::RedisSettings;

pub use admin::{DeadJob, QueueStats, ReplaySelector};
pub use backoff::{Jitter, backoff_delay};
pub use consumer::SHUTDOWN_SETTLE_MARGIN;
pub use job::{Classify, Handler, HandlerFuture, InvalidName, Job, JobError, Subscription};
pub use metrics::QueueMetrics;

/// Stream entries as fred returns them: (entry id, field -> value).
type StreamEntries = Vec<(String, HashMap<String, String>)>;

/// Checks that `name` can be used as a topic or group name (1-100 characters from
/// `[A-Za-z0-9._-]`; they become parts of `:`-separated keys).
pub fn validate_topic(name: &str) -> Result<(), InvalidName> {
    job::validate_name(name)
}

/// Tuning of retries, reclaiming and consumption.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Attempts before a job is dead-lettered (the first delivery counts). Deferrals
    /// ([`JobError::Unavailable`]) are not attempts.
    pub max_attempts: u32,
    /// Backoff ceiling after the first failure (or deferral); it doubles per attempt (deferral).
    pub base_backoff: Duration,
    /// The most a retry is delayed.
    pub max_backoff: Duration,
    /// The most a deferral is delayed: shorter than `max_backoff`, so a dependency coming back
    /// is noticed quickly.
    pub max_outage_backoff: Duration,
    /// Deferrals after which a job that still finds a dependency unavailable starts spending
    /// attempts (so a job that can never be served does not cycle for ever). At the outage cap
    /// this is days, far beyond any outage worth waiting out.
    pub max_deferrals: u32,
    /// How retry delays are randomised.
    pub jitter: Jitter,
    /// How long a delivered job may stay unacknowledged before another worker reclaims it.
    /// Must exceed `handler_timeout`, or a slow but live handler has its job taken away.
    pub visibility_timeout: Duration,
    /// How long one XREADGROUP waits for new jobs; also bounds how late a due retry is noticed.
    pub block: Duration,
    /// The most handlers running at once per consumer group.
    pub concurrency: usize,
    /// A handler running longer than this fails with a retryable timeout. Shutdown waits this
    /// long plus [`SHUTDOWN_SETTLE_MARGIN`] for running jobs, so `SHUTDOWN_TIMEOUT` must cover it.
    pub handler_timeout: Duration,
    /// Soft cap on each topic stream: beyond it, entries every consumer group has read and
    /// acknowledged are trimmed. Entries a group still needs are never trimmed, so a lagging
    /// group makes the stream grow past the cap instead of losing jobs (see
    /// `scripts::PUBLISH`).
    pub stream_max_len: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_outage_backoff: Duration::from_secs(30),
            // At least 10 000 x 15 s (equal jitter under the 30 s cap): about 41 hours.
            max_deferrals: 10_000,
            jitter: Jitter::Equal,
            visibility_timeout: Duration::from_secs(60),
            block: Duration::from_secs(1),
            concurrency: 8,
            handler_timeout: Duration::from_secs(20),
            stream_max_len: 100_000,
        }
    }
}

/// A handle on the queue: publishing, consuming and the operator API. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    redis: RedisSettings,
    settings: std::sync::Arc<QueueSettings>,
    metrics: Option<QueueMetrics>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("prefix", &self.redis.prefix)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// A queue over an existing client (used for commands; blocking reads get their own
    /// connections cloned from its configuration).
    pub fn new(
        client: Client,
        redis: RedisSettings,
        settings: QueueSettings,
        metrics: Option<QueueMetrics>,
    ) -> Self {
        Self {
            client,
            redis,
            settings: std::sync::Arc::new(settings),
            metrics,
        }
    }

    /// Connects a new client for `redis` (see [`crate::redis::connect`]) and wraps it.
    pub async fn connect(
        redis: &RedisSettings,
        settings: QueueSettings,
        metrics: Option<QueueMetrics>,
    ) -> anyhow::Result<Self> {
        let client = crate::redis::connect(redis).await?;
        Ok(Self::new(client, redis.clone(), settings, metrics))
    }

    /// The settings this queue runs with.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// The client used for (non-blocking) commands.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Refreshes the queue gauges (pending, lag, delayed, dead) from Redis; `/metrics` calls it
    /// on each scrape. A no-op without metrics.
    pub async fn refresh_gauges(&self) -> anyhow::Result<()> {
        if let Some(m) = &self.metrics {
            m.observe(&self.stats().await?);
        }
        Ok(())
    }

    /// The stream every job of `topic` is published to.
    pub fn stream_key(&self, topic: &str) -> String {
        self.redis.key(&["stream", topic])
    }

    /// The stream of due retries of `topic` that only `group` reads.
    pub fn retry_key(&self, topic: &str, group: &str) -> String {
        self.redis.key(&["retry", topic, group])
    }

    /// The sorted set of retries of `topic` for `group` waiting for their due time.
    pub fn delayed_key(&self, topic: &str, group: &str) -> String {
        self.redis.key(&["delayed", topic, group])
    }

    /// The dead-letter stream of `topic` for `group`.
    pub fn dead_key(&self, topic: &str, group: &str) -> String {
        self.redis.key(&["dead", topic, group])
    }

    /// The set of `topic:group` pairs that consumed, so operators can find every dead letter.
    pub fn subscriptions_key(&self) -> String {
        self.redis.key(&["subscriptions"])
    }

    /// Appends `job` to its topic's stream and returns the stream entry id.
    ///
    /// Every group on the topic receives it, including groups whose consumers start later.
    pub async fn publish(&self, job: &Job) -> anyhow::Result<String> {
        job::validate_name(&job.name)?;
        let json = serde_json::to_string(job)?;
        let id: String = self
            .client
            .eval(
                scripts::PUBLISH,
                vec![self.stream_key(&job.name)],
                vec![json, self.settings.stream_max_len.to_string()],
            )
            .await
            .with_context(|| format!("publishing job to {}", job.name))?;
        Ok(id)
    }

    /// Creates `group` on `key` if missing. Start id `0` so jobs published before the group
    /// existed are delivered too; MKSTREAM so a group can wait on a topic nobody published to.
    pub(crate) async fn ensure_group(&self, key: &str, group: &str) -> anyhow::Result<()> {
        let created: Result<(), fred::error::Error> =
            self.client.xgroup_create(key, group, "0", true).await;
        match created {
            Ok(()) => Ok(()),
            Err(err) if err.details().contains("BUSYGROUP") => Ok(()),
            Err(err) => Err(err).with_context(|| format!("creating group {group} on {key}")),
        }
    }
}
