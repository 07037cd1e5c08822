//! Fixed-window attempt counters in Redis, shared by every process of a deployment.
//!
//! The gateway's general rate limit lives in memory per process; these counters are for the
//! few actions that must be limited across processes (login attempts per e-mail and per IP).
//!
//! A counter and its expiry are set by one Lua script, so no crash or lost connection between
//! two commands can leave a counter that never expires (which would refuse its subject forever).

use std::time::Duration;

use fred::prelude::{Client, KeysInterface, LuaInterface};
use sha2::{Digest, Sha256};

use crate::redis::RedisSettings;

/// The longest the auth service holds a login on purpose (`LOGIN_MAX_DELAY`, see
/// ARCHITECTURE.md "Login throttling"), when the variable is not set. Shared by the auth domain,
/// which applies it, and the gateway, which must wait longer than that for the auth service.
pub const DEFAULT_LOGIN_MAX_DELAY: Duration = Duration::from_secs(5);

/// What an upstream needs beyond a deliberate login delay (argon2, the database, the hop).
/// `UPSTREAM_TIMEOUT` must exceed `LOGIN_MAX_DELAY` by at least this much: a slowed login that
/// timed out would count as an auth failure, and a handful of them (slowed on purpose by
/// anyone who guesses wrong at one account) would open the breaker and refuse every login.
pub const LOGIN_DELAY_HEADROOM: Duration = Duration::from_secs(2);

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

    /// Counts one attempt for `subject` and returns how many the window holds now, this one
    /// included; `None` when Redis is unreachable (logged), for callers that fail open.
    pub async fn count(&self, limit: &Limit, subject: &str) -> Option<u64> {
        match self.incr(limit, subject).await {
            Ok((count, _)) => Some(count),
            Err(e) => {
                tracing::warn!(limit = limit.name, error = %e, "throttle unavailable; not counting");
                None
            }
        }
    }

    /// Takes back one attempt of `subject` (counted before its outcome was known, and it turned
    /// out to be a success). A window that expired meanwhile is left alone: decrementing a
    /// missing key would create one without an expiry.
    pub async fn forgive(&self, limit: &Limit, subject: &str) {
        let key = self.key(limit, subject);
        if let Err(e) = self
            .client
            .eval::<i64, _, _, _>(FORGIVE, vec![key], Vec::<String>::new())
            .await
        {
            tracing::warn!(limit = limit.name, error = %e, "could not take back an attempt");
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

    /// Increments the counter and gives it the window's expiry if it has none, atomically;
    /// returns the count and the seconds left in the window.
    async fn incr(&self, limit: &Limit, subject: &str) -> Result<(u64, u64), fred::error::Error> {
        let key = self.key(limit, subject);
        let window = limit.window.as_secs().max(1);
        let reply: Vec<i64> = self
            .client
            .eval(HIT, vec![key], vec![window.to_string()])
            .await?;
        let (count, ttl) = match reply[..] {
            [count, ttl] => (count, ttl),
            _ => {
                return Err(fred::error::Error::new(
                    fred::error::ErrorKind::Parse,
                    "the throttle script answered an unexpected shape",
                ));
            }
        };
        Ok((
            u64::try_from(count).unwrap_or(u64::MAX),
            u64::try_from(ttl).unwrap_or(window),
        ))
    }

    async fn try_hit(&self, limit: &Limit, subject: &str) -> Result<Verdict, fred::error::Error> {
        let (count, ttl) = self.incr(limit, subject).await?;
        if count <= limit.max {
            return Ok(Verdict::Allowed);
        }
        Ok(Verdict::Limited {
            retry_after: ttl.max(1),
        })
    }
}

/// `INCR` and, when the key has no expiry yet (its first hit of a window, or a key some older
/// code left without one), `EXPIRE`, in one step. Returns `{count, ttl}`.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// `DECR` of an existing counter (keeping its expiry); a counter back at zero is removed.
const FORGIVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local n = redis.call('DECR', KEYS[1])
if n <= 0 then
  redis.call('DEL', KEYS[1])
end
return n
";
