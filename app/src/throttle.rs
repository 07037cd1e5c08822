//! Fixed-window attempt counters in Redis, shared by every process of a deployment.
//!
//! The gateway's general rate limit lives in memory per process; these counters are for the
//! few actions that must be limited across processes (login attempts per e-mail and per IP).

use std::time::Duration;

use fred::prelude::{Client, KeysInterface};
use fred::types::ExpireOptions;
use sha2::{Digest, Sha256};

use crate::redis::RedisSettings;

/// One named limit: at most `max` attempts per `window`.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The key segment naming the limit (`login-email`).
    pub name: &'static str,
    /// Attempts allowed per window.
    pub max: u64,
    /// The window.
    pub window: Duration,
}

/// The outcome of counting an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Allowed,
    /// Over the limit; retry after this many seconds.
    Limited {
        /// Seconds until the window resets.
        retry_after: u64,
    },
}

/// Counts attempts against [`Limit`]s.
#[derive(Clone)]
pub struct Throttle {
    client: Client,
    settings: RedisSettings,
}

impl Throttle {
    /// A throttle over `client`, with keys under the settings' prefix.
    pub fn new(client: Client, settings: RedisSettings) -> Self {
        Self { client, settings }
    }

    /// Counts one attempt for `subject` (hashed, so addresses never sit in Redis key names).
    ///
    /// Fails open: when Redis is unreachable the attempt is allowed and a warning logged, since
    /// the gateway's in-memory limit still applies and refusing every login would be worse.
    pub async fn hit(&self, limit: &Limit, subject: &str) -> Verdict {
        match self.try_hit(limit, subject).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(limit = limit.name, error = %e, "throttle unavailable; allowing the attempt");
                Verdict::Allowed
            }
        }
    }

    /// Forgets the attempts of `subject` (a successful login clears its e-mail's failures).
    pub async fn reset(&self, limit: &Limit, subject: &str) {
        if let Err(e) = self.client.del::<u64, _>(self.key(limit, subject)).await {
            tracing::warn!(limit = limit.name, error = %e, "could not reset throttle");
        }
    }

    fn key(&self, limit: &Limit, subject: &str) -> String {
        let digest = Sha256::digest(subject.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        self.settings.key(&["throttle", limit.name, &hex])
    }

    async fn try_hit(&self, limit: &Limit, subject: &str) -> Result<Verdict, fred::error::Error> {
        let key = self.key(limit, subject);
        let count: u64 = self.client.incr(&key).await?;
        let window = i64::try_from(limit.window.as_secs().max(1)).unwrap_or(i64::MAX);
        // NX: only the first hit of a window sets its expiry.
        let _: i64 = self
            .client
            .expire(&key, window, Some(ExpireOptions::NX))
            .await?;
        if count <= limit.max {
            return Ok(Verdict::Allowed);
        }
        let ttl: i64 = self.client.ttl(&key).await?;
        Ok(Verdict::Limited {
            retry_after: u64::try_from(ttl).unwrap_or(1).max(1),
        })
    }
}
