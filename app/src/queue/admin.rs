//! The operator API: dead letters, replay and gauges.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use fred::prelude::{LuaInterface, SetsInterface, SortedSetsInterface, StreamsInterface, Value};

use super::{Job, Queue, StreamEntries, scripts};

/// One entry of a dead-letter stream.
#[derive(Debug, Clone)]
pub struct DeadJob {
    /// The entry id in the dead-letter stream (what `shell queue replay <id>` takes).
    pub entry_id: String,
    /// The topic the job was published to.
    pub topic: String,
    /// The consumer group that gave up on it.
    pub group: String,
    /// The job as it was on its last attempt; `None` when the stream entry held no valid job
    /// (something other than [`Queue::publish`] wrote to the stream). Such entries cannot be
    /// replayed.
    pub job: Option<Job>,
    /// The last error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When the job was dead-lettered.
    pub failed_at: DateTime<Utc>,
}

/// Which dead jobs to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySelector {
    /// The dead-letter entry with this id, or every dead entry of the job with this id (a job
    /// can be dead in several groups).
    One(String),
    /// Every dead job.
    All,
}

/// A snapshot of one (topic, group) pair, for gauges and `shell queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// Delivered to a worker and not yet settled (topic and retry streams).
    pub pending: u64,
    /// Published (or due for retry) but not yet delivered to the group; `None` when Redis
    /// cannot tell (the topic stream was trimmed past the group's position).
    pub lag: Option<u64>,
    /// Retries waiting for their due time.
    pub delayed: u64,
    /// Jobs in the dead-letter stream.
    pub dead: u64,
}

impl Queue {
    /// Every (topic, group) pair that has ever consumed from this prefix, sorted.
    pub async fn subscriptions(&self) -> anyhow::Result<Vec<(String, String)>> {
        let members: Vec<String> = self.client.smembers(self.subscriptions_key()).await?;
        let mut pairs: Vec<(String, String)> = members
            .iter()
            .filter_map(|m| m.split_once(':'))
            .map(|(t, g)| (t.to_owned(), g.to_owned()))
            .collect();
        pairs.sort();
        Ok(pairs)
    }

    /// Every dead job under this prefix, oldest failure first.
    pub async fn list_dead(&self) -> anyhow::Result<Vec<DeadJob>> {
        let mut dead = Vec::new();
        for (topic, group) in self.subscriptions().await? {
            let entries: StreamEntries = self
                .client
                .xrange_values(self.dead_key(&topic, &group), "-", "+", None)
                .await
                .with_context(|| format!("reading dead letters of {topic}/{group}"))?;
            for (entry_id, fields) in entries {
                dead.push(dead_job(&topic, &group, entry_id, &fields));
            }
        }
        dead.sort_by(|a, b| {
            a.failed_at
                .cmp(&b.failed_at)
                .then(a.entry_id.cmp(&b.entry_id))
        });
        Ok(dead)
    }

    /// Moves the selected dead jobs back to their group's retry stream with `attempt` reset to 1
    /// (and `deferrals` to 0), and removes them from the dead-letter stream, atomically per job.
    /// Returns how many
    /// were replayed. Only the group that gave up sees the replay.
    pub async fn replay(&self, selector: ReplaySelector) -> anyhow::Result<usize> {
        let mut replayed = 0;
        for dead in self.list_dead().await? {
            let selected = match &selector {
                ReplaySelector::All => true,
                ReplaySelector::One(id) => {
                    dead.entry_id == *id
                        || dead.job.as_ref().is_some_and(|j| id.parse() == Ok(j.id))
                }
            };
            if !selected {
                continue;
            }
            let Some(mut job) = dead.job else {
                tracing::warn!(
                    dead.entry_id = %dead.entry_id,
                    "skipping a malformed dead-letter entry: it holds no job to replay"
                );
                continue;
            };
            job.attempt = 1;
            job.deferrals = 0;
            let retry_key = self.retry_key(&dead.topic, &dead.group);
            // The group normally exists already; creating it is harmless and covers a Redis
            // that lost it (no persistence) while the dead letter survived elsewhere.
            self.ensure_group(&retry_key, &dead.group).await?;
            let moved: i64 = self
                .client
                .eval(
                    scripts::REPLAY,
                    vec![self.dead_key(&dead.topic, &dead.group), retry_key],
                    vec![dead.entry_id.clone(), serde_json::to_string(&job)?],
                )
                .await
                .with_context(|| format!("replaying dead letter {}", dead.entry_id))?;
            if moved == 1 {
                tracing::info!(
                    job.id = %job.id, job.name = %job.name, queue.group = %dead.group,
                    "replayed dead job"
                );
                replayed += 1;
            }
        }
        Ok(replayed)
    }

    /// Pending, lag, delayed and dead counts for every subscription.
    pub async fn stats(&self) -> anyhow::Result<Vec<QueueStats>> {
        let mut out = Vec::new();
        for (topic, group) in self.subscriptions().await? {
            let stream = self.stream_key(&topic);
            let retry = self.retry_key(&topic, &group);
            // Lag before pending: a job read between the two reads then shows as pending rather
            // than vanishing from both, so a sample never calls a busy queue drained.
            let main_lag = self.group_lag(&stream, &group).await?;
            let pending_main = self.pending_count(&stream, &group).await?;
            let pending_retry = self.pending_count(&retry, &group).await?;
            let retry_len: u64 = self.client.xlen(&retry).await?;
            // Acknowledged retry entries are deleted, so what is left and not pending is
            // waiting to be read.
            let retry_unread = retry_len.saturating_sub(pending_retry);
            let lag = main_lag.map(|lag| lag + retry_unread);
            out.push(QueueStats {
                delayed: self.client.zcard(self.delayed_key(&topic, &group)).await?,
                dead: self.client.xlen(self.dead_key(&topic, &group)).await?,
                pending: pending_main + pending_retry,
                lag,
                topic,
                group,
            });
        }
        Ok(out)
    }

    async fn pending_count(&self, key: &str, group: &str) -> anyhow::Result<u64> {
        let summary: Result<Value, _> = self.client.xpending(key, group, ()).await;
        match summary {
            // [count, smallest id, largest id, [[consumer, count], ...]]
            Ok(Value::Array(items)) => {
                Ok(items.first().and_then(Value::as_u64).unwrap_or_default())
            }
            Ok(_) => Ok(0),
            // The group (or stream) does not exist yet: nothing can be pending.
            Err(err) if err.details().contains("NOGROUP") => Ok(0),
            Err(err) => Err(err.into()),
        }
    }

    async fn group_lag(&self, stream: &str, group: &str) -> anyhow::Result<Option<u64>> {
        let groups: Result<Vec<HashMap<String, Value>>, _> = self.client.xinfo_groups(stream).await;
        let groups = match groups {
            Ok(groups) => groups,
            Err(err) if err.details().contains("no such key") => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        Ok(groups
            .iter()
            .find(|g| g.get("name").and_then(Value::as_string).as_deref() == Some(group))
            .and_then(|g| g.get("lag"))
            .and_then(Value::as_u64))
    }
}

fn dead_job(
    topic: &str,
    group: &str,
    entry_id: String,
    fields: &HashMap<String, String>,
) -> DeadJob {
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let failed_at = fields
        .get("failedAt")
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_default();
    DeadJob {
        job: fields
            .get("job")
            .and_then(|raw| serde_json::from_str(raw).ok()),
        error: field("error"),
        attempts: field("attempts").parse().unwrap_or_default(),
        // The key the entry was read from is authoritative: replay writes back through it.
        topic: topic.to_owned(),
        group: group.to_owned(),
        entry_id,
        failed_at,
    }
}
