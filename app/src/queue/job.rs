//! The job envelope, handler types and subscriptions.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One unit of work as it travels through Redis: the stream field `job` holds this as JSON.
///
/// `id` is stable across retries and redeliveries (for outbox events it is the outbox row id),
/// so consumers key their effects on it to stay idempotent.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Stable identity of the job; the idempotency key for consumers.
    pub id: Uuid,
    /// The topic, named `domain.event` (e.g. `user.registered`).
    pub name: String,
    /// The event payload. It can hold personal data, so it is never logged.
    pub data: serde_json::Value,
    /// Which delivery attempt this is, starting at 1.
    pub attempt: u32,
    /// The id of the request that caused the job, for log correlation.
    pub request_id: Option<String>,
    /// When the job was first created.
    pub created_at: DateTime<Utc>,
}

impl Job {
    /// A fresh job (new UUID v7, first attempt, created now).
    pub fn new(name: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            name: name.into(),
            data,
            attempt: 1,
            request_id: None,
            created_at: Utc::now(),
        }
    }

    /// The same job carrying `request_id`.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
}

// `data` can hold e-mail addresses and names: a `{job:?}` in a log line must not leak them.
impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("data", &"<redacted>")
            .field("attempt", &self.attempt)
            .field("request_id", &self.request_id)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Why a handler failed, which decides what happens to the job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A transient failure: the job is retried with backoff until `max_attempts`.
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// The job can never succeed (bad payload, unknown entity): it goes straight to dead-letter.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl JobError {
    /// A retryable failure from any error.
    pub fn retry(err: impl Into<anyhow::Error>) -> Self {
        Self::Retry(err.into())
    }

    /// A permanent failure from any error.
    pub fn permanent(err: impl Into<anyhow::Error>) -> Self {
        Self::Permanent(err.into())
    }
}

/// Failures are transient unless a handler says otherwise, so `?` on an `anyhow` error retries.
impl From<anyhow::Error> for JobError {
    fn from(err: anyhow::Error) -> Self {
        Self::Retry(err)
    }
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// A job handler. Boxed futures keep the type object-safe without `async-trait`.
pub type Handler = Arc<dyn Fn(Job) -> HandlerFuture + Send + Sync>;

/// One consumer group's interest in one topic.
///
/// Every group on a topic gets every job (fan-out); within a group, each job goes to one worker.
#[derive(Clone)]
pub struct Subscription {
    /// The topic (stream) to read, e.g. `user.registered`.
    pub topic: String,
    /// The consumer group, named after the subscribing domain, e.g. `notification`.
    pub group: String,
    /// What runs for each job.
    pub handler: Handler,
}

impl Subscription {
    /// Subscribes `group` to `topic` with an async closure as the handler.
    pub fn new<F, Fut>(topic: impl Into<String>, group: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |job| Box::pin(handler(job)) as HandlerFuture);
        Self {
            topic: topic.into(),
            group: group.into(),
            handler,
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// A topic or group name that cannot be used in a Redis key.
#[derive(Debug, thiserror::Error)]
#[error("invalid queue name {0:?}: use 1-100 characters from [A-Za-z0-9._-]")]
pub struct InvalidName(pub String);

/// Topic and group names become parts of `:`-separated keys and of the subscription registry,
/// so they are restricted to characters that cannot collide with the separator.
pub(crate) fn validate_name(name: &str) -> Result<(), InvalidName> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_serializes_in_camel_case_and_round_trips() -> anyhow::Result<()> {
        let job = Job::new("user.registered", serde_json::json!({"x": 1})).with_request_id("r-1");
        let json = serde_json::to_value(&job)?;
        for field in ["id", "name", "data", "attempt", "requestId", "createdAt"] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        let back: Job = serde_json::from_value(json)?;
        assert_eq!(back, job);
        Ok(())
    }

    #[test]
    fn debug_output_hides_the_payload() {
        let job = Job::new(
            "email.send",
            serde_json::json!({"to": "someone@example.com"}),
        );
        assert!(!format!("{job:?}").contains("someone@example.com"));
    }

    #[test]
    fn names_with_separators_are_rejected() {
        assert!(validate_name("user.registered").is_ok());
        assert!(validate_name("notification").is_ok());
        for bad in ["", "a:b", "a b", "a*", "ä"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
