//! Prometheus counters and gauges for the queue.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::QueueStats;

/// Queue metrics, labelled by `topic` and `group`. Cheap to clone (the vectors are shared).
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    /// Jobs a handler completed.
    pub processed: IntCounterVec,
    /// Failed attempts that were scheduled for a retry.
    pub retried: IntCounterVec,
    /// Jobs put back because a dependency was unavailable (no attempt spent).
    pub deferred: IntCounterVec,
    /// Jobs moved to the dead-letter stream.
    pub dead_lettered: IntCounterVec,
    /// Failed tries to record a job's outcome in Redis (each is tried again until Redis answers).
    pub unrecorded: IntCounterVec,
    /// Delivered but unacknowledged jobs (from [`QueueStats::pending`]).
    pub pending: IntGaugeVec,
    /// Jobs not yet delivered to the group (from [`QueueStats::lag`]).
    pub lag: IntGaugeVec,
    /// Retries waiting for their due time (from [`QueueStats::delayed`]).
    pub delayed: IntGaugeVec,
    /// Jobs in the dead-letter stream (from [`QueueStats::dead`]).
    pub dead: IntGaugeVec,
}

const LABELS: &[&str] = &["topic", "group"];

impl QueueMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounterVec> {
            let metric = IntCounterVec::new(Opts::new(name, help), LABELS)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGaugeVec> {
            let metric = IntGaugeVec::new(Opts::new(name, help), LABELS)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        Ok(Self {
            processed: counter("tessera_queue_jobs_processed_total", "Jobs completed.")?,
            retried: counter(
                "tessera_queue_jobs_retried_total",
                "Failed attempts retried.",
            )?,
            deferred: counter(
                "tessera_queue_jobs_deferred_total",
                "Jobs deferred because a dependency was unavailable.",
            )?,
            dead_lettered: counter("tessera_queue_jobs_dead_total", "Jobs dead-lettered.")?,
            unrecorded: counter(
                "tessera_queue_outcome_record_failures_total",
                "Failed tries to record a job's outcome in Redis.",
            )?,
            pending: gauge("tessera_queue_pending", "Delivered, unacknowledged jobs.")?,
            lag: gauge("tessera_queue_lag", "Jobs not yet delivered to the group.")?,
            delayed: gauge(
                "tessera_queue_delayed",
                "Retries waiting for their due time.",
            )?,
            dead: gauge("tessera_queue_dead", "Jobs in the dead-letter stream.")?,
        })
    }

    /// Sets the gauges from a [`super::Queue::stats`] snapshot.
    pub fn observe(&self, stats: &[QueueStats]) {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        for s in stats {
            let labels = [s.topic.as_str(), s.group.as_str()];
            self.pending
                .with_label_values(&labels)
                .set(gauge(s.pending));
            self.delayed
                .with_label_values(&labels)
                .set(gauge(s.delayed));
            self.dead.with_label_values(&labels).set(gauge(s.dead));
            if let Some(lag) = s.lag {
                self.lag.with_label_values(&labels).set(gauge(lag));
            }
        }
    }
}
