//! Consuming: one worker loop per consumer group, each with its own Redis connection for the
//! blocking reads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use fred::prelude::{
    Client, ClientLike, LuaInterface, Options, SetsInterface, StreamsInterface, Value,
};
use futures_util::FutureExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::job::validate_name;
use super::{
    Classify as _, Handler, Job, JobError, Queue, StreamEntries, Subscription, backoff_delay,
    scripts,
};

/// Most due retries moved per group and topic on one tick; the rest move on the next.
const PROMOTE_BATCH: u32 = 100;
/// Time beyond `handler_timeout` that shutdown waits for in-flight jobs to settle in Redis (one
/// script call each). The process's `SHUTDOWN_TIMEOUT` must cover `handler_timeout` plus this,
/// or a job cut off mid-way is redelivered and its effect (an e-mail) happens twice.
pub const SHUTDOWN_SETTLE_MARGIN: Duration = Duration::from_secs(1);
/// Slack on top of the XREADGROUP block time before the client gives up on the reply.
const READ_TIMEOUT_SLACK: Duration = Duration::from_secs(5);
/// Bounds of the pause between attempts while Redis is unreachable (reading, or recording a
/// job's outcome).
const MIN_OUTAGE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_OUTAGE_BACKOFF: Duration = Duration::from_secs(5);

impl Queue {
    /// Spawns [`Queue::consume`] on the runtime.
    pub fn spawn_consumer(
        &self,
        subscriptions: Vec<Subscription>,
        consumer_name: String,
        shutdown: CancellationToken,
    ) -> JoinHandle<anyhow::Result<()>> {
        let queue = self.clone();
        tokio::spawn(async move { queue.consume(subscriptions, consumer_name, shutdown).await })
    }

    /// Runs the handlers of `subscriptions` until `shutdown` is cancelled.
    ///
    /// `consumer_name` identifies this worker inside each group (e.g. host name and pid); it
    /// must be unique among live workers. Redis outages are logged once and waited out. On
    /// cancellation no new job is read, in-flight handlers finish and settle (bounded by
    /// `handler_timeout` + [`SHUTDOWN_SETTLE_MARGIN`]), and the call returns. It fails only for invalid subscriptions, and
    /// returns at once when there are none.
    pub async fn consume(
        &self,
        subscriptions: Vec<Subscription>,
        consumer_name: String,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        if consumer_name.is_empty() {
            bail!("the consumer name must not be empty");
        }
        let mut groups: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
        for sub in subscriptions {
            validate_name(&sub.topic)?;
            validate_name(&sub.group)?;
            groups.entry(sub.group.clone()).or_default().push(sub);
        }
        for (group, subs) in &groups {
            let mut seen = HashSet::new();
            for sub in subs {
                if !seen.insert(sub.topic.as_str()) {
                    bail!("group {group} subscribes to {} twice", sub.topic);
                }
            }
        }
        let settings = self.settings();
        if settings.handler_timeout >= settings.visibility_timeout {
            tracing::warn!(
                handler_timeout_ms = settings.handler_timeout.as_millis() as u64,
                visibility_timeout_ms = settings.visibility_timeout.as_millis() as u64,
                "handler timeout is not below the visibility timeout: a slow job can be \
                 reclaimed and run twice at once"
            );
        }

        let mut workers = JoinSet::new();
        for (group, subs) in groups {
            let worker = GroupWorker::new(self.clone(), group, consumer_name.clone(), subs);
            workers.spawn(worker.run(shutdown.clone()));
        }
        while let Some(done) = workers.join_next().await {
            if let Err(err) = done {
                tracing::error!(error = %err, "a queue worker stopped unexpectedly");
            }
        }
        Ok(())
    }
}

/// Where a stream's entries go.
struct Route {
    topic: String,
    handler: Handler,
    /// Transient failures never dead-letter ([`Subscription::retry_forever`]).
    retry_forever: bool,
    /// Retry streams belong to one group, so their entries are deleted once settled.
    retry: bool,
}

/// What a job task needs, shared by all tasks of one group.
struct GroupCtx {
    queue: Queue,
    group: String,
    consumer: String,
    /// Keyed by stream key.
    routes: HashMap<String, Route>,
    /// (stream key, entry id) of the jobs this worker is running or settling.
    in_flight: std::sync::Mutex<HashSet<(String, String)>>,
}

impl GroupCtx {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        // The set stays consistent even if a holder panicked: every operation is one call.
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The read loop of one consumer group over all its topic and retry streams.
struct GroupWorker {
    ctx: Arc<GroupCtx>,
    topics: Vec<String>,
    /// Topic streams then retry streams, all read in one XREADGROUP.
    keys: Vec<String>,
    /// XAUTOCLAIM cursors, so a long PEL is scanned across ticks instead of from the start.
    cursors: HashMap<String, String>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
    groups_ready: bool,
    next_reclaim: Instant,
}

impl GroupWorker {
    fn new(queue: Queue, group: String, consumer: String, subs: Vec<Subscription>) -> Self {
        let mut routes = HashMap::new();
        let mut topic_keys = Vec::new();
        let mut retry_keys = Vec::new();
        let mut topics = Vec::new();
        for sub in subs {
            let stream = queue.stream_key(&sub.topic);
            let retry = queue.retry_key(&sub.topic, &group);
            topic_keys.push(stream.clone());
            retry_keys.push(retry.clone());
            routes.insert(
                stream,
                Route {
                    topic: sub.topic.clone(),
                    handler: sub.handler.clone(),
                    retry_forever: sub.retry_forever,
                    retry: false,
                },
            );
            routes.insert(
                retry,
                Route {
                    topic: sub.topic.clone(),
                    handler: sub.handler,
                    retry_forever: sub.retry_forever,
                    retry: true,
                },
            );
            topics.push(sub.topic);
        }
        topic_keys.extend(retry_keys);
        let permits = Arc::new(Semaphore::new(queue.settings().concurrency.max(1)));
        Self {
            ctx: Arc::new(GroupCtx {
                queue,
                group,
                consumer,
                routes,
                in_flight: std::sync::Mutex::default(),
            }),
            topics,
            keys: topic_keys,
            cursors: HashMap::new(),
            permits,
            tasks: JoinSet::new(),
            groups_ready: false,
            next_reclaim: Instant::now(),
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        // Blocking reads hold their connection for up to `block`; a connection of their own
        // keeps acks, retries and publishes on the shared client from queueing behind them.
        let reader = self.ctx.queue.client().clone_new();
        let mut connection = reader.connect();
        let mut outage_since: Option<Instant> = None;
        let mut pause = MIN_OUTAGE_BACKOFF;
        while !shutdown.is_cancelled() {
            self.reap_finished();
            if connection.is_finished() {
                // The connection task ends when the first connect fails (fred's fail-fast) or
                // reconnection gives up; start over rather than read from a dead client.
                connection = reader.connect();
            }
            match self.tick(&reader, &shutdown).await {
                Ok(()) => {
                    if let Some(since) = outage_since.take() {
                        tracing::info!(
                            queue.group = %self.ctx.group,
                            outage_ms = since.elapsed().as_millis() as u64,
                            "queue worker reached Redis again"
                        );
                    }
                    pause = MIN_OUTAGE_BACKOFF;
                }
                Err(err) => {
                    // Redis may have lost the groups (restart without persistence).
                    self.groups_ready = false;
                    if outage_since.is_none() {
                        tracing::warn!(
                            queue.group = %self.ctx.group,
                            error = %format!("{err:#}"),
                            "queue worker cannot use Redis; jobs wait until it is back"
                        );
                        outage_since = Some(Instant::now());
                    } else {
                        tracing::debug!(
                            queue.group = %self.ctx.group,
                            error = %format!("{err:#}"),
                            "Redis still unavailable"
                        );
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_OUTAGE_BACKOFF);
                }
            }
        }
        self.drain().await;
        // QUIT can wait behind the cancelled blocking read; never let it hold up shutdown.
        let _ = tokio::time::timeout(Duration::from_millis(500), reader.quit()).await;
        // Without this the connection task could outlive the worker if QUIT never got written.
        connection.abort();
    }

    /// One round: make sure groups exist, promote due retries, reclaim abandoned jobs, read new
    /// ones, and start their handlers.
    async fn tick(&mut self, reader: &Client, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let ctx = self.ctx.clone();
        let queue = &ctx.queue;
        let group = ctx.group.as_str();
        if !self.groups_ready {
            for key in &self.keys {
                queue.ensure_group(key, group).await?;
            }
            let members: Vec<String> = self.topics.iter().map(|t| format!("{t}:{group}")).collect();
            let _: i64 = queue
                .client()
                .sadd(queue.subscriptions_key(), members)
                .await?;
            self.groups_ready = true;
        }
        for topic in &self.topics {
            let _moved: i64 = queue
                .client()
                .eval(
                    scripts::PROMOTE,
                    vec![
                        queue.delayed_key(topic, group),
                        queue.retry_key(topic, group),
                    ],
                    vec![PROMOTE_BATCH.to_string()],
                )
                .await
                .context("promoting due retries")?;
        }

        // Read only as many jobs as there are free handler slots, so nothing read waits in
        // memory while its visibility timeout runs.
        let first = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            permit = self.permits.clone().acquire_owned() => permit?,
        };
        let mut permits = vec![first];
        while let Ok(permit) = self.permits.clone().try_acquire_owned() {
            permits.push(permit);
        }

        if Instant::now() >= self.next_reclaim {
            self.reclaim(&mut permits).await?;
            // Half the timeout: an abandoned job waits at most 1.5 timeouts.
            self.next_reclaim = Instant::now() + queue.settings().visibility_timeout / 2;
        }
        if permits.is_empty() {
            return Ok(());
        }

        let settings = queue.settings();
        let options = Options {
            timeout: Some(settings.block + READ_TIMEOUT_SLACK),
            ..Default::default()
        };
        let ids = vec![">"; self.keys.len()];
        let reader = reader.with_options(&options);
        let read = reader.xreadgroup::<Value, _, _, _, _>(
            group,
            ctx.consumer.as_str(),
            Some(permits.len() as u64),
            Some(settings.block.as_millis() as u64),
            false,
            self.keys.clone(),
            ids,
        );
        // Dropping an in-flight read is safe: anything it delivered sits in this consumer's
        // pending list and is reclaimed after the visibility timeout.
        let raw = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            response = read => response.context("reading jobs")?,
        };
        // A read that times out with nothing new answers nil, which fred will not convert to
        // an empty map (that needs its `default-nil-types` feature, which would change every
        // other nil conversion too): an idle queue is not an error.
        if raw.is_null() {
            return Ok(());
        }
        let response: fred::types::streams::XReadResponse<String, String, String, String> =
            raw.into_xread_response().context("reading jobs")?;
        for (key, entries) in response {
            for (entry_id, fields) in entries {
                // COUNT applies per stream, so one read can return more entries than free
                // slots: those wait for a slot rather than for the visibility timeout.
                let permit = match permits.pop() {
                    Some(permit) => permit,
                    None => self.permits.clone().acquire_owned().await?,
                };
                self.spawn(key.clone(), entry_id, fields, false, permit);
            }
        }
        Ok(())
    }

    /// Takes over jobs that another (presumably dead) consumer of the group has held longer
    /// than the visibility timeout.
    async fn reclaim(&mut self, permits: &mut Vec<OwnedSemaphorePermit>) -> anyhow::Result<()> {
        let queue = self.ctx.queue.clone();
        let min_idle = queue.settings().visibility_timeout.as_millis() as u64;
        for key in self.keys.clone() {
            if permits.is_empty() {
                break;
            }
            let cursor = self
                .cursors
                .get(&key)
                .cloned()
                .unwrap_or_else(|| "0-0".to_owned());
            let (next, entries): (String, StreamEntries) = queue
                .client()
                .xautoclaim_values(
                    key.as_str(),
                    self.ctx.group.as_str(),
                    self.ctx.consumer.as_str(),
                    min_idle,
                    cursor.as_str(),
                    Some(permits.len() as u64),
                    false,
                )
                .await
                .context("reclaiming abandoned jobs")?;
            self.cursors.insert(key.clone(), next);
            for (entry_id, fields) in entries {
                let Some(permit) = permits.pop() else { break };
                self.spawn(key.clone(), entry_id, fields, true, permit);
            }
        }
        Ok(())
    }

    fn spawn(
        &mut self,
        key: String,
        entry_id: String,
        fields: HashMap<String, String>,
        reclaimed: bool,
        permit: OwnedSemaphorePermit,
    ) {
        let ctx = self.ctx.clone();
        let entry = (key.clone(), entry_id.clone());
        if !ctx.in_flight().insert(entry.clone()) {
            // Reclaimed from ourselves: this worker still runs it, or is recording its outcome
            // while Redis is unreachable. Running it a second time would repeat its effects.
            return;
        }
        self.tasks.spawn(async move {
            ctx.process(&key, entry_id, fields, reclaimed).await;
            ctx.in_flight().remove(&entry);
            drop(permit);
        });
    }

    fn reap_finished(&mut self) {
        while let Some(done) = self.tasks.try_join_next() {
            if let Err(err) = done {
                tracing::error!(queue.group = %self.ctx.group, error = %err, "a job task failed");
            }
        }
    }

    async fn drain(&mut self) {
        let limit = self.ctx.queue.settings().handler_timeout + SHUTDOWN_SETTLE_MARGIN;
        let tasks = &mut self.tasks;
        let drained =
            tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                queue.group = %self.ctx.group,
                "in-flight jobs did not settle before shutdown; they will be redelivered"
            );
            self.tasks.abort_all();
        }
    }
}

/// How a settled job ended, for the log line and the counters.
enum Outcome {
    Done,
    Retrying { delay: Duration, error: String },
    Deferred { delay: Duration, error: String },
    Dead { error: String, permanent: bool },
}

impl GroupCtx {
    async fn process(
        &self,
        key: &str,
        entry_id: String,
        fields: HashMap<String, String>,
        reclaimed: bool,
    ) {
        let Some(route) = self.routes.get(key) else {
            tracing::error!(stream = key, "read a job from a stream with no route");
            return;
        };
        let raw = fields.get("job").map(String::as_str).unwrap_or_default();
        let mut job: Job = match serde_json::from_str(raw) {
            Ok(job) => job,
            Err(err) => {
                // Nothing can ever handle it; keep it for an operator instead of dropping it.
                let error = format!("malformed job entry: {err}");
                tracing::error!(
                    queue.topic = %route.topic,
                    queue.group = %self.group,
                    stream.entry_id = %entry_id,
                    error = %error,
                    "dead-lettering a stream entry that holds no valid job"
                );
                if let Err(err) = self
                    .dead_letter(key, route, &entry_id, raw, &error, 0)
                    .await
                {
                    tracing::error!(
                        error = %format!("{err:#}"),
                        "could not dead-letter a malformed entry"
                    );
                }
                return;
            }
        };
        job.attempt = job.attempt.max(1);
        if reclaimed {
            // Each delivery that ended without an outcome (the worker died) counts as an
            // attempt, so a job that kills its workers is dead-lettered instead of looping.
            match self.deliveries(key, &entry_id).await {
                Ok(deliveries) => {
                    job.attempt = job.attempt.saturating_add(deliveries.saturating_sub(1))
                }
                Err(err) => {
                    tracing::debug!(error = %format!("{err:#}"), "could not read delivery count")
                }
            }
        }
        let span = tracing::info_span!(
            "job",
            job.id = %job.id,
            job.name = %job.name,
            job.attempt = job.attempt,
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            queue.group = %self.group,
            queue.reclaimed = reclaimed,
            otel.kind = "consumer",
        );
        if let Some(request_id) = &job.request_id {
            span.record("request_id", request_id.as_str());
        }
        crate::trace::continue_job(&span, job.trace.as_ref());
        self.run_job(key, route, &entry_id, job)
            .instrument(span)
            .await;
    }

    async fn run_job(&self, key: &str, route: &Route, entry_id: &str, job: Job) {
        let settings = self.queue.settings();
        let max_attempts = settings.max_attempts.max(1);
        let started = Instant::now();
        if job.attempt > max_attempts && route.retry_forever {
            // Its workers kept stopping without an outcome, but this topic must never be given
            // up: run it again, loudly.
            tracing::error!(
                max_attempts,
                "job redelivered more than max_attempts times without an outcome; it is never \
                 dead-lettered, so it runs again"
            );
        }
        let outcome = if job.attempt > max_attempts && !route.retry_forever {
            let error = format!(
                "no outcome after {} deliveries: the workers handling it stopped",
                job.attempt - 1
            );
            self.settle_until_recorded(route, || {
                self.settle_failure(
                    key,
                    route,
                    entry_id,
                    &job,
                    FailureKind::Permanent,
                    &error,
                    job.attempt - 1,
                )
            })
            .await
        } else {
            let handler = route.handler.clone();
            let input = job.clone();
            // Inside the async block, so a panic while building the future is caught too.
            let attempt = AssertUnwindSafe(async move { handler(input).await }).catch_unwind();
            let result = match tokio::time::timeout(settings.handler_timeout, attempt).await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => Err(JobError::Retry(anyhow!(
                    "handler panicked: {}",
                    panic_message(&*panic)
                ))),
                Err(_) => Err(JobError::Retry(anyhow!(
                    "handler timed out after {} ms",
                    settings.handler_timeout.as_millis()
                ))),
            };
            let failure = result.err().map(|err| (format!("{err:#}"), kind(&err)));
            // The handler's work is done (or failed); what is left is recording it. Redis can
            // be down right now: keep trying rather than leave the entry to be reclaimed, which
            // would run a job that succeeded again and count the lost outcome as an attempt.
            self.settle_until_recorded(route, || async {
                match &failure {
                    None => self
                        .ack(key, route, entry_id)
                        .await
                        .map(|settled| settled.then_some(Outcome::Done)),
                    Some((error, kind)) => {
                        self.settle_failure(key, route, entry_id, &job, *kind, error, job.attempt)
                            .await
                    }
                }
            })
            .await
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let labels = [route.topic.as_str(), self.group.as_str()];
        let metrics = self.queue.metrics.as_ref();
        match outcome {
            Ok(Some(Outcome::Done)) => {
                tracing::info!(duration_ms, "job done");
                if let Some(m) = metrics {
                    m.processed.with_label_values(&labels).inc();
                }
            }
            Ok(Some(Outcome::Retrying { delay, error })) => {
                let retry_in_ms = delay.as_millis() as u64;
                if job.attempt >= max_attempts {
                    // Only subscriptions that retry forever get here.
                    tracing::error!(
                        duration_ms,
                        retry_in_ms,
                        max_attempts,
                        error = %error,
                        "job failed beyond max_attempts; it is never dead-lettered, will retry"
                    );
                } else {
                    tracing::warn!(duration_ms, retry_in_ms, error = %error, "job failed; will retry");
                }
                if let Some(m) = metrics {
                    m.retried.with_label_values(&labels).inc();
                }
            }
            Ok(Some(Outcome::Deferred { delay, error })) => {
                tracing::warn!(
                    duration_ms,
                    retry_in_ms = delay.as_millis() as u64,
                    job.deferrals = job.deferrals.saturating_add(1),
                    error = %error,
                    "dependency unavailable; deferred"
                );
                if let Some(m) = metrics {
                    m.deferred.with_label_values(&labels).inc();
                }
            }
            Ok(Some(Outcome::Dead { error, permanent })) => {
                tracing::error!(duration_ms, permanent, error = %error, "job dead-lettered");
                if let Some(m) = metrics {
                    m.dead_lettered.with_label_values(&labels).inc();
                }
            }
            Ok(None) => {
                tracing::debug!("job was already settled by another consumer (it was reclaimed)");
            }
            Err(err) => tracing::error!(
                duration_ms,
                error = %format!("{err:#}"),
                "could not record the job's outcome; it will be redelivered"
            ),
        }
    }

    /// Runs `settle` (one script call recording the outcome) until Redis answers. Bounded only
    /// by shutdown's drain, which aborts the task: the entry then stays pending and is
    /// redelivered after the visibility timeout, as it would be had the worker died.
    async fn settle_until_recorded<F, Fut>(
        &self,
        route: &Route,
        settle: F,
    ) -> anyhow::Result<Option<Outcome>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<Outcome>>>,
    {
        let mut pause = MIN_OUTAGE_BACKOFF;
        let mut failures = 0u32;
        loop {
            match settle().await {
                Ok(outcome) => {
                    if failures > 0 {
                        tracing::info!(failures, "recorded the job's outcome once Redis answered");
                    }
                    return Ok(outcome);
                }
                // Redis unreachable: wait for it. Any other Redis error (a group lost with a
                // restart, re-created by the read loop) gets a few more tries; anything else (the
                // job could not be encoded) will not change.
                Err(err) if err.is_unavailable() || (is_redis_error(&err) && failures < 3) => {
                    if failures == 0 {
                        tracing::warn!(
                            error = %format!("{err:#}"),
                            "could not record the job's outcome; retrying until Redis answers"
                        );
                    }
                    failures = failures.saturating_add(1);
                    if let Some(m) = &self.queue.metrics {
                        m.unrecorded
                            .with_label_values(&[route.topic.as_str(), self.group.as_str()])
                            .inc();
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_OUTAGE_BACKOFF);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// `Ok(None)` when the entry was no longer ours to settle.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; all are the job's coordinates"
    )]
    async fn settle_failure(
        &self,
        key: &str,
        route: &Route,
        entry_id: &str,
        job: &Job,
        kind: FailureKind,
        error: &str,
        attempts: u32,
    ) -> anyhow::Result<Option<Outcome>> {
        let settings = self.queue.settings();
        // Past the deferral budget, an unavailable dependency spends attempts like any failure.
        let kind = match kind {
            FailureKind::Unavailable if job.deferrals >= settings.max_deferrals => {
                FailureKind::Retry
            }
            kind => kind,
        };
        let retry = match kind {
            FailureKind::Unavailable => Some((
                Job {
                    deferrals: job.deferrals.saturating_add(1),
                    ..job.clone()
                },
                backoff_delay(
                    job.deferrals.saturating_add(1),
                    settings.base_backoff,
                    settings.max_outage_backoff,
                    settings.jitter,
                    rand::random(),
                ),
            )),
            FailureKind::Retry if job.attempt < settings.max_attempts || route.retry_forever => {
                Some((
                    Job {
                        attempt: job.attempt.saturating_add(1),
                        ..job.clone()
                    },
                    backoff_delay(
                        job.attempt,
                        settings.base_backoff,
                        settings.max_backoff,
                        settings.jitter,
                        rand::random(),
                    ),
                ))
            }
            FailureKind::Retry | FailureKind::Permanent => None,
        };
        match retry {
            Some((next, delay)) => {
                let settled: i64 = self
                    .queue
                    .client()
                    .eval(
                        scripts::RETRY,
                        vec![
                            key.to_owned(),
                            self.queue.delayed_key(&route.topic, &self.group),
                        ],
                        vec![
                            self.group.clone(),
                            entry_id.to_owned(),
                            delete_flag(route),
                            delay.as_millis().to_string(),
                            serde_json::to_string(&next)?,
                        ],
                    )
                    .await
                    .context("scheduling a retry")?;
                let error = error.to_owned();
                let outcome = match kind {
                    FailureKind::Unavailable => Outcome::Deferred { delay, error },
                    _ => Outcome::Retrying { delay, error },
                };
                Ok((settled == 1).then_some(outcome))
            }
            None => {
                let settled = self
                    .dead_letter(
                        key,
                        route,
                        entry_id,
                        &serde_json::to_string(job)?,
                        error,
                        attempts,
                    )
                    .await?;
                Ok(settled.then(|| Outcome::Dead {
                    error: error.to_owned(),
                    permanent: kind == FailureKind::Permanent,
                }))
            }
        }
    }

    async fn ack(&self, key: &str, route: &Route, entry_id: &str) -> anyhow::Result<bool> {
        let acked: i64 = self
            .queue
            .client()
            .eval(
                scripts::ACK,
                vec![key.to_owned()],
                vec![self.group.clone(), entry_id.to_owned(), delete_flag(route)],
            )
            .await
            .context("acknowledging a job")?;
        Ok(acked == 1)
    }

    async fn dead_letter(
        &self,
        key: &str,
        route: &Route,
        entry_id: &str,
        job_json: &str,
        error: &str,
        attempts: u32,
    ) -> anyhow::Result<bool> {
        let settled: i64 = self
            .queue
            .client()
            .eval(
                scripts::DEAD,
                vec![
                    key.to_owned(),
                    self.queue.dead_key(&route.topic, &self.group),
                ],
                vec![
                    self.group.clone(),
                    entry_id.to_owned(),
                    delete_flag(route),
                    job_json.to_owned(),
                    error.to_owned(),
                    chrono::Utc::now().timestamp_millis().to_string(),
                    route.topic.clone(),
                    attempts.to_string(),
                ],
            )
            .await
            .context("dead-lettering a job")?;
        Ok(settled == 1)
    }

    /// How many times the entry was delivered (XPENDING's delivery counter).
    async fn deliveries(&self, key: &str, entry_id: &str) -> anyhow::Result<u32> {
        let rows: Value = self
            .queue
            .client()
            .xpending(key, self.group.as_str(), (entry_id, entry_id, 1))
            .await?;
        // [[id, consumer, idle ms, deliveries]]
        let count = match rows {
            Value::Array(rows) => match rows.first() {
                Some(Value::Array(row)) => row.get(3).and_then(Value::as_u64),
                _ => None,
            },
            _ => None,
        };
        Ok(count.map_or(1, |c| u32::try_from(c).unwrap_or(u32::MAX)))
    }
}

/// What a failure does to the job, without the error (recorded as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    Retry,
    Unavailable,
    Permanent,
}

fn kind(err: &JobError) -> FailureKind {
    match err {
        JobError::Retry(_) => FailureKind::Retry,
        JobError::Unavailable(_) => FailureKind::Unavailable,
        JobError::Permanent(_) => FailureKind::Permanent,
    }
}

/// Whether a settle failed in Redis (any fred error in the chain), as opposed to before the call.
fn is_redis_error(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.downcast_ref::<fred::error::Error>().is_some())
}

fn delete_flag(route: &Route) -> String {
    if route.retry { "1" } else { "0" }.to_owned()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
