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
    /// Which delivery attempt this is, starting at 1. Deferrals (a dependency was unavailable)
    /// do not count as attempts.
    pub attempt: u32,
    /// How many times the job was put back because a dependency was unavailable
    /// ([`JobError::Unavailable`]); drives the outage backoff. Absent in entries written before
    /// it existed, which read as 0.
    #[serde(default)]
    pub deferrals: u32,
    /// The id of the request that caused the job, for log correlation.
    pub request_id: Option<String>,
    /// The trace of the request that caused the job, which the job's span continues. Absent in
    /// entries written before it existed and for jobs caused outside a trace: those start a
    /// trace of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::trace::TraceContext>,
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
            deferrals: 0,
            request_id: None,
            trace: None,
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
            .field("deferrals", &self.deferrals)
            .field("request_id", &self.request_id)
            .field("trace", &self.trace)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Why a handler failed, which decides what happens to the job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A real failure that may not happen again: the job is retried with backoff, and each retry
    /// counts as an attempt, until `max_attempts` (then dead-lettered, unless the subscription
    /// [retries forever](Subscription::retry_forever)).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Something the job needs is unavailable right now (connection refused, a 503, a call or a
    /// connection pool that timed out): the job is deferred with the outage backoff and the
    /// attempt is not counted, so an outage of any length does not dead-letter it.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    /// The job can never succeed (bad payload, unknown entity): it goes straight to dead-letter.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl JobError {
    /// A retryable failure from any error.
    pub fn retry(err: impl Into<anyhow::Error>) -> Self {
        Self::Retry(err.into())
    }

    /// A dependency-unavailable failure from any error.
    pub fn unavailable(err: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable(err.into())
    }

    /// A permanent failure from any error.
    pub fn permanent(err: impl Into<anyhow::Error>) -> Self {
        Self::Permanent(err.into())
    }

    /// A transient failure: [`JobError::Unavailable`] when `err` says a dependency is
    /// unavailable ([`Classify`]), else [`JobError::Retry`].
    pub fn transient<E>(err: E) -> Self
    where
        E: Classify + std::error::Error + Send + Sync + 'static,
    {
        if err.is_unavailable() {
            Self::Unavailable(err.into())
        } else {
            Self::Retry(err.into())
        }
    }
}

/// Failures are transient unless a handler says otherwise, so `?` on an `anyhow` error retries;
/// when its chain holds an error that [`Classify`]s as unavailable (a [`ClientError`],
/// [`DbError`] or Redis error), it defers instead.
///
/// [`ClientError`]: crate::service_client::ClientError
/// [`DbError`]: crate::db::DbError
impl From<anyhow::Error> for JobError {
    fn from(err: anyhow::Error) -> Self {
        if err.is_unavailable() {
            Self::Unavailable(err)
        } else {
            Self::Retry(err)
        }
    }
}

/// Tells an outage from a failure, for the queue: an error that says a dependency is unavailable
/// defers the job without spending an attempt ([`JobError::Unavailable`]); any other transient
/// error retries it ([`JobError::Retry`]).
///
/// Domains implement it for their error types, usually by asking the platform error they wrap
/// (a domain error holding `DbError::Unavailable` is unavailable). [`Subscription::typed`] uses
/// it to convert a handler's error.
pub trait Classify {
    /// Whether the failure is a dependency being unavailable rather than a failure of the job.
    fn is_unavailable(&self) -> bool;
}

impl Classify for crate::service_client::ClientError {
    fn is_unavailable(&self) -> bool {
        matches!(self, crate::service_client::ClientError::Unavailable { .. })
    }
}

impl Classify for crate::db::DbError {
    fn is_unavailable(&self) -> bool {
        matches!(self, crate::db::DbError::Unavailable(_))
    }
}

impl Classify for crate::error::ApiError {
    fn is_unavailable(&self) -> bool {
        matches!(self, crate::error::ApiError::Unavailable { .. })
    }
}

/// A Redis call that could not reach the server or got no answer in time.
impl Classify for fred::error::Error {
    fn is_unavailable(&self) -> bool {
        use fred::error::ErrorKind;
        matches!(
            self.kind(),
            ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Backpressure
        )
    }
}

/// Unavailable when any error in the chain is one of the platform's unavailable errors.
impl Classify for anyhow::Error {
    fn is_unavailable(&self) -> bool {
        self.chain().any(|cause| {
            cause
                .downcast_ref::<crate::service_client::ClientError>()
                .is_some_and(Classify::is_unavailable)
                || cause
                    .downcast_ref::<crate::db::DbError>()
                    .is_some_and(Classify::is_unavailable)
                || cause
                    .downcast_ref::<crate::error::ApiError>()
                    .is_some_and(Classify::is_unavailable)
                || cause
                    .downcast_ref::<fred::error::Error>()
                    .is_some_and(Classify::is_unavailable)
                // A pool that could not hand out a connection in time (or connect at all).
                || cause.downcast_ref::<crate::db::RunError>().is_some()
        })
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
    /// Never dead-letter a transient failure ([`Subscription::retry_forever`]).
    pub retry_forever: bool,
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
            retry_forever: false,
        }
    }

    /// Subscribes `group` to `topic` with a handler of the decoded event `E`, the way every
    /// domain consumes events:
    ///
    /// - a payload that does not decode as `E` can never succeed: [`JobError::Permanent`], the
    ///   job is dead-lettered at once (and kept there for an operator);
    /// - the handler's error is transient and [`Classify`]d: a dependency that is unavailable
    ///   defers the job ([`JobError::Unavailable`]), anything else retries it
    ///   ([`JobError::Retry`]).
    pub fn typed<E, Err, F, Fut>(topic: &'static str, group: impl Into<String>, handler: F) -> Self
    where
        E: serde::de::DeserializeOwned + Send + 'static,
        Err: Classify + std::error::Error + Send + Sync + 'static,
        F: Fn(Job, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Err>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::new(topic, group, move |job: Job| {
            let decoded = serde_json::from_value::<E>(job.data.clone());
            let handler = handler.clone();
            async move {
                let event = decoded.map_err(|e| {
                    JobError::Permanent(anyhow::anyhow!("malformed {topic} payload: {e}"))
                })?;
                handler(job, event).await.map_err(JobError::transient)
            }
        })
    }

    /// [`Subscription::typed`] with the handler's state passed in: each job gets its own clone of
    /// `state` (a domain's use cases), so a handler is a plain `async move` block:
    ///
    /// ```ignore
    /// Subscription::typed_with(topics::USER_REGISTERED, CONSUMER, self.users.clone(),
    ///     |users, job, event: UserRegistered| async move { users.on_registered(job.id, event).await })
    /// ```
    pub fn typed_with<S, E, Err, F, Fut>(
        topic: &'static str,
        group: impl Into<String>,
        state: S,
        handler: F,
    ) -> Self
    where
        S: Clone + Send + Sync + 'static,
        E: serde::de::DeserializeOwned + Send + 'static,
        Err: Classify + std::error::Error + Send + Sync + 'static,
        F: Fn(S, Job, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Err>> + Send + 'static,
    {
        Self::typed(topic, group, move |job, event| {
            handler(state.clone(), job, event)
        })
    }

    /// Makes transient failures never dead-letter: once `max_attempts` is spent, a
    /// [`JobError::Retry`] keeps retrying with the capped backoff (each retry still counted and
    /// logged), and a job whose workers kept dying is run again instead of being given up.
    /// Only a [`JobError::Permanent`] (a payload that cannot be decoded) is dead-lettered.
    ///
    /// For events whose loss is a security bug, such as `user.deleted`: a deleted user whose
    /// sessions survive because the event died could still log in.
    pub fn retry_forever(mut self) -> Self {
        self.retry_forever = true;
        self
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("retry_forever", &self.retry_forever)
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
        for field in [
            "id",
            "name",
            "data",
            "attempt",
            "deferrals",
            "requestId",
            "createdAt",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        let back: Job = serde_json::from_value(json)?;
        assert_eq!(back, job);
        Ok(())
    }

    #[test]
    fn the_trace_context_round_trips_and_its_absence_reads_as_none() -> anyhow::Result<()> {
        let mut job = Job::new("task.created", serde_json::json!({}));
        job.trace = Some(crate::trace::TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            tracestate: None,
        });
        let json = serde_json::to_value(&job)?;
        assert_eq!(
            json["trace"]["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(serde_json::from_value::<Job>(json)?, job);
        // An entry written before the field existed.
        let old: Job = serde_json::from_value(serde_json::json!({
            "id": Uuid::now_v7(),
            "name": "task.created",
            "data": {},
            "attempt": 1,
            "requestId": "r-1",
            "createdAt": "2026-01-01T00:00:00Z",
        }))?;
        assert_eq!(old.trace, None);
        Ok(())
    }

    #[test]
    fn an_entry_written_before_deferrals_existed_reads_as_never_deferred() -> anyhow::Result<()> {
        let job: Job = serde_json::from_value(serde_json::json!({
            "id": Uuid::now_v7(),
            "name": "task.created",
            "data": {},
            "attempt": 2,
            "requestId": null,
            "createdAt": "2026-01-01T00:00:00Z",
        }))?;
        assert_eq!((job.attempt, job.deferrals), (2, 0));
        Ok(())
    }

    #[test]
    fn unavailable_errors_anywhere_in_the_chain_defer_the_rest_retry() {
        let db = anyhow::Error::new(crate::db::DbError::Unavailable("pool timed out".to_owned()))
            .context("marking the notification read");
        assert!(matches!(JobError::from(db), JobError::Unavailable(_)));
        let other = anyhow::anyhow!("constraint violated");
        assert!(matches!(JobError::from(other), JobError::Retry(_)));
        assert!(matches!(
            JobError::transient(crate::db::DbError::NotFound),
            JobError::Retry(_)
        ));
        assert!(matches!(
            JobError::transient(crate::db::DbError::Unavailable("closed".to_owned())),
            JobError::Unavailable(_)
        ));
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

    /// The state handed to a `typed_with` handler, and what it should answer.
    #[derive(Clone)]
    struct Answer(Option<fn() -> crate::db::DbError>);

    async fn run(sub: &Subscription, data: serde_json::Value) -> Result<(), JobError> {
        (sub.handler)(Job::new("user.deleted", data)).await
    }

    #[tokio::test]
    async fn a_typed_handler_dead_letters_bad_payloads_and_retries_or_defers_its_errors() {
        #[derive(serde::Deserialize)]
        struct Event {
            #[expect(dead_code, reason = "only decoded")]
            id: u32,
        }
        let sub = |answer: Option<fn() -> crate::db::DbError>| {
            Subscription::typed_with(
                "user.deleted",
                "auth",
                Answer(answer),
                |answer: Answer, _job, _event: Event| async move {
                    answer.0.map_or(Ok(()), |error| Err(error()))
                },
            )
        };
        let good = serde_json::json!({"id": 1});
        assert!(run(&sub(None), good.clone()).await.is_ok());
        // A payload that cannot decode never will: permanent, whatever the handler would say.
        let bad = run(&sub(None), serde_json::json!({"id": "one"})).await;
        assert!(matches!(bad, Err(JobError::Permanent(_))), "{bad:?}");
        // The handler's errors are transient: an outage defers, anything else retries.
        let down = sub(Some(|| crate::db::DbError::Unavailable("down".into())));
        let down = run(&down, good.clone()).await;
        assert!(matches!(down, Err(JobError::Unavailable(_))), "{down:?}");
        let failed = run(&sub(Some(|| crate::db::DbError::NotFound)), good).await;
        assert!(matches!(failed, Err(JobError::Retry(_))), "{failed:?}");
    }
}
