//! The transactional outbox: events are written to the domain's database in the same
//! transaction as the state change, and a relay moves them to the queue.
//!
//! Redis being down therefore delays events but never loses them, and an event is never sent
//! for a change that rolled back. Delivery is at least once (a crash between publishing and
//! marking a row sent republishes it), with the row id as the job id so consumers can dedupe.

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Double, Int8, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{DbPool, Prepared};
use crate::platform_schema::outbox;
use crate::queue::{Job, Queue};
use crate::trace::TraceContext;

/// The channel the `outbox` insert trigger notifies.
pub const NOTIFY_CHANNEL: &str = "tessera_outbox";

/// The longest `last_error` kept, so a huge error message cannot bloat the table.
const MAX_ERROR_LEN: usize = 1_000;
/// Bounds of the pause after a failed pass or a lost LISTEN connection.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(500);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// Writes an event to the outbox. Call it inside the transaction that makes the change the
/// event reports, so both commit or neither does. Returns the event id, which becomes the
/// job id consumers deduplicate on.
pub async fn enqueue<T: Serialize + ?Sized>(
    conn: &mut AsyncPgConnection,
    topic: &str,
    payload: &T,
    request_id: Option<&str>,
) -> Result<Uuid, diesel::result::Error> {
    // A bad topic would fail at publish time, forever; refuse it while the caller can still
    // roll back.
    crate::queue::validate_topic(topic)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let payload = serde_json::to_value(payload)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let id = Uuid::now_v7();
    // The request's trace goes with the event, so the job it becomes joins that trace.
    let trace = crate::trace::current();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id),
            outbox::topic.eq(topic),
            outbox::payload.eq(payload),
            outbox::request_id.eq(request_id),
            outbox::traceparent.eq(trace.as_ref().map(|t| t.traceparent.as_str())),
            outbox::tracestate.eq(trace.as_ref().and_then(|t| t.tracestate.as_deref())),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Tuning of the relay.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Rows claimed per pass.
    pub batch: i64,
    /// How often the relay looks for rows when no NOTIFY arrives (lost notification, LISTEN
    /// connection down, rows whose lease expired).
    pub poll_interval: Duration,
    /// How long a claimed row is reserved for the relay that claimed it; after that another
    /// relay (or the same one) takes it again.
    pub lease: Duration,
    /// How long sent rows are kept before clean-up deletes them.
    pub retention: Duration,
    /// How often clean-up runs.
    pub cleanup_interval: Duration,
    /// Parts of payloads that are secrets, removed from a row once it is sent (the job on the
    /// queue carries them on; the row is kept for `retention` and must not keep a copy).
    pub redact: Vec<Redaction>,
}

/// A secret inside the payloads of one topic: removed when a row of that topic is marked sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redaction {
    /// The topic (`email.send`).
    pub topic: &'static str,
    /// The dotted path of the value in the payload (`data.resetUrl`); one per topic.
    pub path: &'static str,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch: 100,
            poll_interval: Duration::from_secs(2),
            lease: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
            cleanup_interval: Duration::from_secs(3600),
            redact: Vec::new(),
        }
    }
}

/// Moves outbox rows of one domain database to the queue.
#[derive(Clone)]
pub struct OutboxRelay {
    /// The domain's pool, for claiming and marking rows.
    pub pool: DbPool,
    /// The same database, for the dedicated LISTEN connection (pooled connections get reused
    /// and would drop the subscription).
    pub database_url: String,
    /// Where the events go.
    pub queue: Queue,
    /// Tuning.
    pub settings: RelaySettings,
}

impl std::fmt::Debug for OutboxRelay {
    // The database URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("pool", &self.pool)
            .field(
                "database_url",
                &crate::config::redact_url(&self.database_url),
            )
            .field("queue", &self.queue)
            .field("settings", &self.settings)
            .finish()
    }
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    topic: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    request_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    traceparent: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tracestate: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

impl OutboxRelay {
    /// A relay with the given parts.
    pub fn new(pool: DbPool, database_url: String, queue: Queue, settings: RelaySettings) -> Self {
        Self {
            pool,
            database_url,
            queue,
            settings,
        }
    }

    /// Relays until `shutdown` is cancelled: a pass at start, then one on every NOTIFY or poll
    /// tick, back-to-back while full batches come out. Failures are logged once per outage.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(
            self.database_url.clone(),
            wake.clone(),
            shutdown.child_token(),
        ));
        let mut outage_since: Option<Instant> = None;
        let mut pause = MIN_RETRY_PAUSE;
        let mut next_cleanup = Instant::now();
        while !shutdown.is_cancelled() {
            match self.relay_once().await {
                Ok(sent) => {
                    if let Some(since) = outage_since.take() {
                        tracing::info!(
                            outage_ms = since.elapsed().as_millis() as u64,
                            "outbox relay delivering again"
                        );
                    }
                    pause = MIN_RETRY_PAUSE;
                    if sent as i64 >= self.settings.batch {
                        continue;
                    }
                }
                Err(err) => {
                    if outage_since.is_none() {
                        tracing::warn!(
                            error = %format!("{err:#}"),
                            "outbox relay cannot deliver; events stay in the outbox until it can"
                        );
                        outage_since = Some(Instant::now());
                    } else {
                        tracing::debug!(error = %format!("{err:#}"), "outbox relay still failing");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                    continue;
                }
            }
            if Instant::now() >= next_cleanup {
                match self.cleanup().await {
                    Ok(deleted) => tracing::debug!(deleted, "outbox clean-up done"),
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "outbox clean-up failed")
                    }
                }
                next_cleanup = Instant::now() + self.settings.cleanup_interval;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        if let Err(err) = listener.await {
            tracing::error!(error = %err, "outbox listener stopped unexpectedly");
        }
    }

    /// One pass: claim up to `batch` unsent rows under a lease, publish them, and mark the
    /// published ones sent. Returns how many were sent; fails if any could not be published
    /// (those keep the error in `last_error` and are released for the next pass).
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        // Claiming commits on its own (one statement), so no lock is held while publishing.
        let rows = {
            let mut conn = self
                .pool
                .get()
                .await
                .context("outbox: no database connection")?;
            self.claim(&mut conn)
                .await
                .context("outbox: claiming rows")?
        };
        if rows.is_empty() {
            return Ok(0);
        }

        let publishes = rows.iter().map(|row| {
            let job = Job {
                id: row.id,
                name: row.topic.clone(),
                data: row.payload.clone(),
                attempt: 1,
                deferrals: 0,
                request_id: row.request_id.clone(),
                trace: row.traceparent.clone().map(|traceparent| TraceContext {
                    traceparent,
                    tracestate: row.tracestate.clone(),
                }),
                created_at: row.created_at,
            };
            let queue = self.queue.clone();
            async move { queue.publish(&job).await }
        });
        // Commands pipeline on the client's connection, so a batch costs about one round trip.
        let results = futures_util::future::join_all(publishes).await;

        let mut sent = Vec::new();
        let mut failed = Vec::new();
        let mut first_error = None;
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(_) => sent.push(row.id),
                Err(err) => {
                    failed.push(row.id);
                    first_error.get_or_insert_with(|| format!("{err:#}"));
                }
            }
        }

        let mut conn = self
            .pool
            .get()
            .await
            .context("outbox: no database connection")?;
        if !sent.is_empty() {
            // Secrets go in the same statement that marks the row sent, so no sent row keeps one
            // (`#-` with an empty or absent path leaves the payload as it is).
            let topics: Vec<&str> = self.settings.redact.iter().map(|r| r.topic).collect();
            let paths: Vec<&str> = self.settings.redact.iter().map(|r| r.path).collect();
            Prepared(
                diesel::sql_query(
                    "UPDATE outbox SET sent_at = now(), locked_until = NULL, last_error = NULL, \
                       payload = payload #- coalesce( \
                         (SELECT string_to_array(r.path, '.') \
                            FROM unnest($2::text[], $3::text[]) AS r(topic, path) \
                           WHERE r.topic = outbox.topic LIMIT 1), \
                         '{}'::text[]) \
                     WHERE id = ANY($1)",
                )
                .bind::<Array<diesel::sql_types::Uuid>, _>(&sent)
                .bind::<Array<Text>, _>(&topics)
                .bind::<Array<Text>, _>(&paths),
            )
            .execute(&mut conn)
            .await
            .context("outbox: marking rows sent")?;
        }
        match first_error {
            None => Ok(sent.len()),
            Some(error) => {
                let error: String = error.chars().take(MAX_ERROR_LEN).collect();
                // Release the lease at once: the relay's own backoff paces the next try, and
                // the rows should not wait a whole lease after Redis is back.
                diesel::sql_query(
                    "UPDATE outbox SET locked_until = NULL, last_error = $2 WHERE id = ANY($1)",
                )
                .bind::<Array<diesel::sql_types::Uuid>, _>(&failed)
                .bind::<Text, _>(&error)
                .execute(&mut conn)
                .await
                .context("outbox: recording a publish failure")?;
                Err(anyhow!(
                    "published {} of {} outbox rows: {error}",
                    sent.len(),
                    rows.len()
                ))
            }
        }
    }

    /// Deletes sent rows older than `retention`. Returns how many were deleted.
    pub async fn cleanup(&self) -> anyhow::Result<usize> {
        let mut conn = self
            .pool
            .get()
            .await
            .context("outbox: no database connection")?;
        let deleted = diesel::sql_query(
            "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)",
        )
        .bind::<Double, _>(self.settings.retention.as_secs_f64())
        .execute(&mut conn)
        .await
        .context("outbox: deleting old rows")?;
        Ok(deleted)
    }

    async fn claim(&self, conn: &mut AsyncPgConnection) -> QueryResult<Vec<ClaimedRow>> {
        // Run on every wake-up: prepared once per connection (the SQL is fixed).
        let mut rows: Vec<ClaimedRow> = Prepared(
            diesel::sql_query(
                "UPDATE outbox \
                 SET locked_until = now() + make_interval(secs => $2), attempts = attempts + 1 \
                 WHERE id IN ( \
                     SELECT id FROM outbox \
                     WHERE sent_at IS NULL AND (locked_until IS NULL OR locked_until < now()) \
                     ORDER BY created_at \
                     LIMIT $1 \
                     FOR UPDATE SKIP LOCKED) \
                 RETURNING id, topic, payload, request_id, traceparent, tracestate, created_at",
            )
            .bind::<Int8, _>(self.settings.batch)
            .bind::<Double, _>(self.settings.lease.as_secs_f64()),
        )
        .load(conn)
        .await?;
        // RETURNING has no order; publish oldest first.
        rows.sort_by_key(|row| (row.created_at, row.id));
        Ok(rows)
    }
}

/// Keeps a LISTEN connection open and turns notifications into wake-ups, reconnecting with
/// backoff when it drops. Polling covers the gaps.
async fn listen(database_url: String, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut pause = MIN_RETRY_PAUSE;
    let mut warned = false;
    loop {
        let mut connected = false;
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            result = listen_once(&database_url, &wake, &mut connected) => result,
        };
        if connected {
            pause = MIN_RETRY_PAUSE;
            warned = false;
        }
        let err = match result {
            Ok(()) => anyhow!("notification stream ended"),
            Err(err) => err,
        };
        if warned {
            tracing::debug!(error = %format!("{err:#}"), "outbox LISTEN still down");
        } else {
            tracing::warn!(
                error = %format!("{err:#}"),
                "outbox LISTEN connection lost; polling until it is back"
            );
            warned = true;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
}

async fn listen_once(url: &str, wake: &Notify, connected: &mut bool) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    diesel::sql_query(format!("LISTEN {NOTIFY_CHANNEL}"))
        .execute(&mut conn)
        .await?;
    *connected = true;
    tracing::debug!("outbox relay listening for notifications");
    // Rows committed while nobody listened sent their NOTIFY into the void.
    wake.notify_one();
    let mut notifications = pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        notification?;
        wake.notify_one();
    }
    Ok(())
}
