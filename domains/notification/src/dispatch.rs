//! The mail dispatcher: sends the e-mails `POST /notifications/send` stored pending.
//!
//! The send route only stores the notification with its e-mail pending (`email_next_attempt_at`
//! set) and wakes this process's dispatcher; no request ever waits for the mail server. The
//! dispatcher claims due e-mails in batches under a lease (one `UPDATE ... WHERE id IN (SELECT
//! ... FOR UPDATE SKIP LOCKED)` statement, so replicas sharing the database never hold the same
//! e-mail), sends each within one bound on the whole SMTP conversation (shorter than the lease),
//! and records the outcome:
//!
//! - accepted: sent, and the template's secret variables are removed from the row;
//! - the mail server unavailable (refused connection, timeout, SMTP 4xx): due again after a
//!   capped exponential backoff with jitter, as often as it takes (an outage delays e-mails,
//!   it never loses them);
//! - refused for good (SMTP 5xx, a malformed address) or no longer renderable: failed, kept with
//!   the reason, logged and counted;
//! - the recipient deleted meanwhile: dropped (recorded as failed, `recipient deleted`).
//!
//! Delivery is at least once: a process that dies after the server accepted an e-mail but before
//! it was marked sent sends it again once the lease expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prometheus::{IntCounter, IntGauge, Opts, Registry};
use tessera_app::config::{ConfigError, DEFAULT_SHUTDOWN_TIMEOUT, Env};
use tessera_app::queue::{Jitter, SHUTDOWN_SETTLE_MARGIN, backoff_delay};
use tessera_contracts::UserId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::mail::{self, Content, MailError, Mailer, Template, TemplateData};
use crate::service::Notifications;
use crate::store::{self, Claimed};

/// E-mails claimed per pass (sent concurrently, each under the same lease).
const BATCH: i64 = 10;
/// The first retry's ceiling; it doubles per attempt up to `MAIL_RETRY_MAX_BACKOFF`.
const BASE_BACKOFF: Duration = Duration::from_secs(1);
/// Bounds of the pause after a pass that failed on the database.
const MIN_DB_PAUSE: Duration = Duration::from_millis(500);
const MAX_DB_PAUSE: Duration = Duration::from_secs(30);
/// The longest pause between two tries to record an e-mail's outcome.
const MAX_RECORD_PAUSE: Duration = Duration::from_secs(2);

/// The bound on one whole SMTP conversation unless `MAIL_SEND_TIMEOUT` says otherwise.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the dispatcher looks for due e-mails (retries, rows other replicas stored) unless
/// `MAIL_POLL_INTERVAL` says otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The longest wait between two attempts of one e-mail unless `MAIL_RETRY_MAX_BACKOFF` says
/// otherwise.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The dispatcher's tuning.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// The bound on one whole send (every SMTP step together).
    pub send_timeout: Duration,
    /// How often to look for due e-mails without being woken.
    pub poll_interval: Duration,
    /// The cap of the retry backoff.
    pub max_backoff: Duration,
    /// How long a stopping dispatcher lets its in-flight sends finish: the process's
    /// `SHUTDOWN_TIMEOUT` less the settle margin (so the outcome is still recorded before the
    /// process stops), and no longer than a send may take. A send still running then is
    /// abandoned with its lease held and sent again, with the same Message-ID, once the lease
    /// expires (the server may have accepted it already: at least once).
    pub shutdown_grace: Duration,
}

impl DispatchSettings {
    /// Reads `MAIL_SEND_TIMEOUT` (60 s; at least `SMTP_TIMEOUT`, the bound on one step),
    /// `MAIL_POLL_INTERVAL` (5 s), `MAIL_RETRY_MAX_BACKOFF` (60 s) and the process's
    /// `SHUTDOWN_TIMEOUT` (see [`DispatchSettings::shutdown_grace`]).
    pub fn from_env(env: &Env, mailer: &Mailer) -> Result<Self, ConfigError> {
        let send_timeout = env.positive_duration_or("MAIL_SEND_TIMEOUT", DEFAULT_SEND_TIMEOUT)?;
        if send_timeout < mailer.timeout() {
            return Err(ConfigError::Invalid {
                name: "MAIL_SEND_TIMEOUT".to_owned(),
                reason: "must be at least SMTP_TIMEOUT (the bound on one SMTP step)".to_owned(),
            });
        }
        Ok(Self {
            send_timeout,
            poll_interval: env.positive_duration_or("MAIL_POLL_INTERVAL", DEFAULT_POLL_INTERVAL)?,
            max_backoff: env.positive_duration_or("MAIL_RETRY_MAX_BACKOFF", DEFAULT_MAX_BACKOFF)?,
            shutdown_grace: env
                .duration_or("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT)?
                .saturating_sub(SHUTDOWN_SETTLE_MARGIN)
                .min(send_timeout),
        })
    }

    /// How long a claimed e-mail is reserved: twice the bound on the whole send, so the lease
    /// outlives the conversation and the write that records its outcome.
    pub fn lease(&self) -> Duration {
        self.send_timeout.saturating_mul(2)
    }

    /// The wait before the attempt that follows failed attempt `attempt` (1-based).
    pub fn retry_delay(&self, attempt: u32, unit: f64) -> Duration {
        backoff_delay(attempt, BASE_BACKOFF, self.max_backoff, Jitter::Equal, unit)
    }
}

/// The dispatcher's series in `/metrics`.
#[derive(Debug, Clone)]
pub struct MailMetrics {
    pending: IntGauge,
    sent: IntCounter,
    failed: IntCounter,
    retried: IntCounter,
    dropped: IntCounter,
    record_failures: IntCounter,
}

impl MailMetrics {
    /// Creates the series and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::with_opts(Opts::new(name, help))?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let pending = IntGauge::with_opts(Opts::new(
            "tessera_mail_pending",
            "E-mails stored and not yet sent, failed or dropped (all replicas; refreshed every pass).",
        ))?;
        registry.register(Box::new(pending.clone()))?;
        Ok(Self {
            pending,
            sent: counter(
                "tessera_mail_sent_total",
                "E-mails the mail server accepted.",
            )?,
            failed: counter(
                "tessera_mail_failed_total",
                "E-mails refused for good (SMTP 5xx, malformed address, unrenderable).",
            )?,
            retried: counter(
                "tessera_mail_retried_total",
                "Attempts that failed on an unavailable mail server and were rescheduled.",
            )?,
            dropped: counter(
                "tessera_mail_dropped_total",
                "E-mails not sent because the recipient was deleted meanwhile.",
            )?,
            record_failures: counter(
                "tessera_mail_record_failures_total",
                "Tries to record an e-mail's outcome that failed on the database (retried).",
            )?,
        })
    }
}

/// What one attempt came to.
enum Outcome {
    /// The mail server accepted it.
    Sent,
    /// Try again later: the mail server (or the database) is unavailable.
    Retry(anyhow::Error),
    /// Never: refused for good, or it cannot be rendered.
    Failed(String),
    /// Never: the recipient was deleted.
    Dropped,
}

/// Sends pending e-mails until stopped. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    notifications: Notifications,
    settings: DispatchSettings,
    metrics: MailMetrics,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher over the domain's pool and mailer, woken by `notifications.mail_wake`.
    pub fn new(
        notifications: Notifications,
        settings: DispatchSettings,
        metrics: MailMetrics,
    ) -> Self {
        Self {
            notifications,
            settings,
            metrics,
        }
    }

    fn wake(&self) -> Arc<Notify> {
        self.notifications.mail_wake.clone()
    }

    /// Dispatches until `shutdown` is cancelled: a pass at start, then one whenever `send`
    /// stored an e-mail or the poll interval passed, back-to-back while full batches come out.
    /// Once cancelled it claims nothing more and gives in-flight sends
    /// [`DispatchSettings::shutdown_grace`].
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.wake();
        let mut outage_since: Option<Instant> = None;
        let mut pause = MIN_DB_PAUSE;
        while !shutdown.is_cancelled() {
            match self.pass(&shutdown).await {
                Ok((claimed, stopped)) => {
                    if let Some(since) = outage_since.take() {
                        tracing::info!(
                            outage_ms = duration_ms(since.elapsed()),
                            "mail dispatcher reaches its database again"
                        );
                    }
                    pause = MIN_DB_PAUSE;
                    if stopped {
                        break;
                    }
                    if claimed as i64 >= BATCH {
                        continue;
                    }
                }
                Err(err) => {
                    if outage_since.is_none() {
                        tracing::warn!(
                            error = %format!("{err:#}"),
                            "mail dispatcher cannot claim e-mails; they stay pending"
                        );
                        outage_since = Some(Instant::now());
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_DB_PAUSE);
                    continue;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        tracing::debug!("mail dispatcher stopped");
    }

    /// One pass: refresh the pending gauge, claim a batch, send it. Returns how many were
    /// claimed and whether shutdown interrupted the sends.
    async fn pass(&self, shutdown: &CancellationToken) -> anyhow::Result<(usize, bool)> {
        let claimed = {
            let mut conn = self
                .notifications
                .pool
                .get()
                .await
                .context("no database connection")?;
            let pending = store::count_pending_emails(&mut conn)
                .await
                .context("counting pending e-mails")?;
            self.metrics.pending.set(pending);
            store::claim_emails(&mut conn, BATCH, self.settings.lease())
                .await
                .context("claiming e-mails")?
        };
        let n = claimed.len();
        if n == 0 {
            return Ok((0, false));
        }
        let sends = futures_util::future::join_all(
            claimed.into_iter().map(|row| self.deliver(row, shutdown)),
        );
        tokio::pin!(sends);
        tokio::select! {
            _ = &mut sends => Ok((n, false)),
            () = shutdown.cancelled() => {
                if tokio::time::timeout(self.settings.shutdown_grace, &mut sends).await.is_err() {
                    tracing::warn!(
                        in_flight = n,
                        "mail dispatcher stopped with sends in flight; they are retried once their lease expires"
                    );
                }
                Ok((n, true))
            }
        }
    }

    /// Sends one claimed e-mail and records the outcome.
    async fn deliver(&self, row: Claimed, shutdown: &CancellationToken) {
        let started = Instant::now();
        let outcome = self.attempt(&row).await;
        let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        let recorded = match outcome {
            Outcome::Sent => self.record_final(&row, None, shutdown).await.map(|()| {
                self.metrics.sent.inc();
                tracing::info!(
                    notification.id = %row.id,
                    user.id = %row.user_id,
                    template = row.template.as_deref().unwrap_or("none"),
                    attempt,
                    duration_ms = duration_ms(started.elapsed()),
                    "e-mail sent"
                );
            }),
            Outcome::Retry(cause) => {
                let delay = self.settings.retry_delay(attempt, rand::random());
                self.metrics.retried.inc();
                // Once per e-mail at warn (an outage with a backlog would flood the log).
                if attempt == 1 {
                    tracing::warn!(
                        notification.id = %row.id,
                        error = %format!("{cause:#}"),
                        retry_in_ms = duration_ms(delay),
                        "e-mail not sent yet; retrying until the mail server takes it"
                    );
                } else {
                    tracing::debug!(
                        notification.id = %row.id,
                        attempt,
                        error = %format!("{cause:#}"),
                        retry_in_ms = duration_ms(delay),
                        "e-mail still not sent"
                    );
                }
                match self.notifications.pool.get().await {
                    Ok(mut conn) => store::retry_email(&mut conn, row.id, delay)
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(anyhow::Error::from(e)),
                }
            }
            Outcome::Failed(reason) => {
                self.record_final(&row, Some(&reason), shutdown)
                    .await
                    .map(|()| {
                        self.metrics.failed.inc();
                        tracing::warn!(
                            notification.id = %row.id,
                            user.id = %row.user_id,
                            attempt,
                            reason,
                            "e-mail refused for good; kept as failed"
                        );
                    })
            }
            Outcome::Dropped => self
                .record_final(&row, Some("recipient deleted"), shutdown)
                .await
                .map(|()| {
                    self.metrics.dropped.inc();
                    tracing::info!(
                        notification.id = %row.id,
                        user.id = %row.user_id,
                        "e-mail dropped: the recipient was deleted"
                    );
                }),
        };
        if let Err(err) = recorded {
            // Only at shutdown for a final outcome: the lease stays, and the e-mail is tried
            // again once it expires.
            tracing::warn!(
                notification.id = %row.id,
                error = %format!("{err:#}"),
                "e-mail outcome not recorded; it is retried after its lease"
            );
        }
    }

    /// Records a final outcome, trying again while the database is unreachable: an e-mail the
    /// server accepted whose outcome is lost would be sent again once its lease expires (seen
    /// in the fault suite with the notification database down). Gives up only at shutdown. Past
    /// the lease another replica may claim the e-mail once the database is back, but nobody
    /// can while it is down, and this write, tried every 2 s at most, usually comes first.
    async fn record_final(
        &self,
        row: &Claimed,
        failure: Option<&str>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut pause = MIN_DB_PAUSE;
        loop {
            let err = match self.record(row, failure).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            self.metrics.record_failures.inc();
            if shutdown.is_cancelled() {
                return Err(err);
            }
            tracing::debug!(
                notification.id = %row.id,
                error = %format!("{err:#}"),
                "e-mail outcome not recorded yet; trying again"
            );
            tokio::select! {
                () = shutdown.cancelled() => return Err(err),
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_RECORD_PAUSE);
        }
    }

    /// Records the final state, sent (`failure` is `None`) or failed for `failure`, keeping the
    /// row's data less its secret variables: once nothing renders the e-mail again, a stored
    /// reset link is only one more place to leak from.
    async fn record(&self, row: &Claimed, failure: Option<&str>) -> anyhow::Result<()> {
        let data = without_secrets(row);
        let mut conn = self.notifications.pool.get().await?;
        match failure {
            None => store::mark_email_sent(&mut conn, row.id, data.as_ref()).await?,
            Some(reason) => {
                store::mark_email_failed(&mut conn, row.id, reason, data.as_ref()).await?
            }
        }
        Ok(())
    }

    /// Addresses, renders and sends one e-mail, the send bounded as a whole.
    async fn attempt(&self, row: &Claimed) -> Outcome {
        let recipient = match self.notifications.pool.get().await {
            Ok(mut conn) => store::find_recipient(&mut conn, UserId(row.user_id)).await,
            Err(e) => return Outcome::Retry(e.into()),
        };
        let recipient = match recipient {
            Err(e) => return Outcome::Retry(e.into()),
            // `send` stores an e-mail only for a known recipient, but rows from before the
            // dispatcher existed may wait for a late `user.registered`.
            Ok(None) => return Outcome::Retry(anyhow::anyhow!("the recipient is not known yet")),
            Ok(Some(r)) if r.deleted_at.is_some() => return Outcome::Dropped,
            Ok(Some(r)) => r,
        };
        let rendered = match render(row, recipient.name.as_deref(), &self.notifications) {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!(notification.id = %row.id, reason, "stored e-mail cannot be rendered");
                return Outcome::Failed(reason);
            }
        };
        let send = self.notifications.mailer.send(
            row.id,
            &recipient.email,
            recipient.name.as_deref(),
            rendered,
        );
        match tokio::time::timeout(self.settings.send_timeout, send).await {
            Ok(Ok(())) => Outcome::Sent,
            Ok(Err(MailError::Unavailable(cause))) => Outcome::Retry(cause),
            Ok(Err(MailError::Rejected { reason })) => Outcome::Failed(reason),
            Err(_) => Outcome::Retry(anyhow::anyhow!(
                "the mail server did not finish within {} ms",
                duration_ms(self.settings.send_timeout)
            )),
        }
    }
}

fn template_of(row: &Claimed) -> Option<Template> {
    row.template.as_deref().and_then(Template::parse)
}

/// Renders a stored e-mail; the error says what is wrong with the stored row.
fn render(
    row: &Claimed,
    name: Option<&str>,
    notifications: &Notifications,
) -> Result<mail::Rendered, String> {
    let template = match row.template.as_deref() {
        Some(stored) => Some(
            Template::parse(stored)
                .ok_or_else(|| format!("stored template {stored:?} is unknown"))?,
        ),
        None => None,
    };
    let data = match template {
        Some(t) => TemplateData::parse(t, row.data.as_ref())
            .map_err(|e| format!("stored {} is invalid: {}", e.field, e.message))?,
        None => TemplateData::default(),
    };
    mail::render(&Content {
        template,
        data: &data,
        subject: row.subject.as_deref(),
        message: &row.message,
        name,
        app_url: &notifications.settings.web_app_url,
    })
    .map_err(|e| format!("the e-mail could not be rendered: {e}"))
}

/// The row's template variables less the secret ones.
fn without_secrets(row: &Claimed) -> Option<serde_json::Value> {
    row.data.clone().map(|mut data| {
        if let (Some(t), Some(map)) = (template_of(row), data.as_object_mut()) {
            for key in t.secret_variables() {
                map.remove(*key);
            }
        }
        data
    })
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;

    fn settings(max: Duration) -> DispatchSettings {
        DispatchSettings {
            send_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            max_backoff: max,
            shutdown_grace: Duration::from_secs(29),
        }
    }

    #[tokio::test]
    async fn a_stopping_dispatcher_waits_within_the_shutdown_budget() {
        let dir = std::env::temp_dir().join("tessera-dispatch-settings");
        let mailer = Mailer::from_env(&Env::from_pairs([(
            "MAIL_DIR",
            dir.to_string_lossy().into_owned(),
        )]))
        .await
        .unwrap();
        let grace = |pairs: &[(&str, &str)]| {
            let env = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())));
            DispatchSettings::from_env(&env, &mailer)
                .unwrap()
                .shutdown_grace
        };
        // The default budget (30 s) less the margin the process keeps to record outcomes.
        assert_eq!(grace(&[]), Duration::from_secs(29));
        assert_eq!(
            grace(&[("SHUTDOWN_TIMEOUT", "10s")]),
            Duration::from_secs(9)
        );
        // Never longer than a send may take.
        assert_eq!(
            grace(&[("SHUTDOWN_TIMEOUT", "90s"), ("MAIL_SEND_TIMEOUT", "20s")]),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn the_lease_outlives_the_whole_send() {
        let s = settings(DEFAULT_MAX_BACKOFF);
        assert!(s.lease() > s.send_timeout);
    }

    #[test]
    fn retries_back_off_to_the_cap_and_never_stop() {
        let s = settings(Duration::from_secs(30));
        // The ceiling doubles from one second; equal jitter keeps at least half of it.
        assert_eq!(s.retry_delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(s.retry_delay(3, 0.0), Duration::from_secs(2));
        // However many attempts an outage takes, the next one is at most the cap away.
        for attempt in [10, 1_000, u32::MAX] {
            let d = s.retry_delay(attempt, 1.0);
            assert_eq!(d, Duration::from_secs(30), "attempt {attempt}");
            assert!(s.retry_delay(attempt, 0.0) >= Duration::from_secs(15));
        }
        // A cap below the base (tests) is the delay from the start.
        let fast = settings(Duration::from_millis(200));
        assert_eq!(fast.retry_delay(1, 1.0), Duration::from_millis(200));
    }
}
