//! Typed configuration, read once from the environment at start.
//!
//! Every variable is declared in [`crate::variables`] (which generates `.env.example`). Every
//! value is parsed up front and a bad or missing one fails start with the variable's name. Secrets have no defaults. The source is a
//! plain map, so tests build configurations without touching the process environment.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::redis::RedisSettings;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{0} must be set")]
    Missing(String),
    /// A variable is set to something unusable.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// Why its value is refused.
        reason: String,
    },
}

/// Where configuration values come from: the process environment (plus `.env`) or a map.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl fmt::Debug for Env {
    // Values can be secrets: show only which variables are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("set", &names).finish()
    }
}

impl Env {
    /// The process environment, after loading `.env` from the working directory when there is
    /// one. Variables already set in the environment win over the file.
    pub fn from_process() -> Self {
        // Only the working directory's .env (dotenvy::dotenv() would also search the parent
        // folders and pick up a checkout's .env from anywhere below it). A missing one is normal
        // outside development.
        let _ = dotenvy::from_path(".env");
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// A fixed set of variables (tests, tools).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets one variable, returning the changed source (tests).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The value of `name`, treating an empty value as unset. Every accessor reads through here;
    /// debug and test builds refuse a name that `crate::variables` does not declare, so a new
    /// variable cannot be read before it is declared (and in `.env.example`).
    pub fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(
            crate::variables::find(name).is_some(),
            "{name} is read but not declared in app/src/variables.rs"
        );
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or an error naming it.
    pub fn required(&self, name: &str) -> Result<&str, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::Missing(name.to_owned()))
    }

    /// `name` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| invalid(name, e)),
        }
    }

    /// `name` as a duration (`15m`, `7d`, `30s`, `250ms`, or plain seconds), or `default`.
    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => parse_duration(raw).map_err(|e| invalid(name, e)),
        }
    }

    /// `name` as a duration like [`Env::duration_or`], refused when zero (a timeout, interval or
    /// cap of nothing is a mistake, never a way to turn something off).
    pub fn positive_duration_or(
        &self,
        name: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let value = self.duration_or(name, default)?;
        if value.is_zero() {
            return Err(invalid(name, "must be positive"));
        }
        Ok(value)
    }

    /// `name` as a secret: required, and at least 32 bytes so HS256 keys are not guessable.
    pub fn secret(&self, name: &str) -> Result<Secret, ConfigError> {
        let value = self.required(name)?;
        if value.len() < 32 {
            return Err(invalid(
                name,
                "must be at least 32 characters (use `openssl rand -hex 32`)",
            ));
        }
        Ok(Secret(value.to_owned()))
    }

    /// `name` as a comma-separated list, or `default` when unset.
    pub fn list_or(&self, name: &str, default: &[&str]) -> Vec<String> {
        match self.get(name) {
            None => default.iter().map(|s| (*s).to_owned()).collect(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The database URL of `domain`: its database variable in the table of services
    /// (`<DOMAIN>_DATABASE_URL`), or plain `DATABASE_URL` when this process mounts that one domain
    /// only.
    pub fn database_url(&self, domain: &str, only_domain: bool) -> Result<String, ConfigError> {
        let name = crate::services::database_var(domain).ok_or_else(|| ConfigError::Invalid {
            name: domain.to_owned(),
            reason: "the table of services gives this module no database".to_owned(),
        })?;
        if let Some(url) = self.get(name) {
            return Ok(url.to_owned());
        }
        if only_domain {
            if let Some(url) = self.get("DATABASE_URL") {
                return Ok(url.to_owned());
            }
        }
        Err(ConfigError::Missing(name.to_owned()))
    }

    /// Redis settings: `REDIS_URL` when set (it may name a database number), else
    /// `REDIS_HOST`/`REDIS_PORT`; keys under `REDIS_PREFIX` (default `tessera`).
    pub fn redis(&self) -> Result<RedisSettings, ConfigError> {
        let url = match self.get("REDIS_URL") {
            Some(url) => {
                if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                    return Err(invalid(
                        "REDIS_URL",
                        "must start with redis:// or rediss://",
                    ));
                }
                url.to_owned()
            }
            None => {
                let host = self.get("REDIS_HOST").unwrap_or("127.0.0.1");
                let port: u16 = self.parse_or("REDIS_PORT", 6379)?;
                format!("redis://{host}:{port}")
            }
        };
        let prefix = self.get("REDIS_PREFIX").unwrap_or("tessera").to_owned();
        Ok(RedisSettings { url, prefix })
    }
}

fn invalid(name: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.to_string(),
    }
}

/// Parses `15m`, `7d`, `12h`, `30s`, `250ms`, or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration like 15m, 7d or 30s"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3_600),
        "d" => n.saturating_mul(86_400),
        other => return Err(format!("unknown unit `{other}` (use ms, s, m, h or d)")),
    };
    Ok(Duration::from_secs(secs))
}

/// A secret value that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (tests, tools).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it (a key constructor).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `url` with the password of its user-info part replaced by `***` (`postgres://app:***@db/x`),
/// for `Debug` output and logs: connection URLs carry credentials.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user-info ends at the last `@` before the path.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => rest[..at].to_owned(),
    };
    format!("{scheme}://{user}@{}", &rest[at + 1..])
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the default outside `just dev`).
    Json,
    /// Human-readable lines.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            other => Err(format!("`{other}` is not json or pretty")),
        }
    }
}

/// The largest request body accepted unless `BODY_LIMIT_BYTES` says otherwise (64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// How long SIGTERM waits for in-flight work unless `SHUTDOWN_TIMEOUT` says otherwise: room for
/// a job at the default `QUEUE_HANDLER_TIMEOUT` (20 s) to finish and be recorded.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP listener and request limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `HOST`, default `0.0.0.0`.
    pub host: String,
    /// `PORT`; its default depends on what the process mounts.
    pub port: u16,
    /// `BODY_LIMIT_BYTES`, default 64 KiB.
    pub body_limit: usize,
    /// `SHUTDOWN_TIMEOUT`, default 30 s: how long SIGTERM waits for in-flight work. A process
    /// that runs queue consumers refuses to start when it is shorter than
    /// `QUEUE_HANDLER_TIMEOUT` (default 20 s) plus the settle margin
    /// (`crate::server::check_shutdown_budget`).
    pub shutdown_timeout: Duration,
    /// `HTTP_WORKERS`, default the number of cores.
    pub workers: usize,
}

impl HttpSettings {
    /// Reads the listener settings; `default_port` depends on the mounted modules.
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        Ok(Self {
            host: env.get("HOST").unwrap_or("0.0.0.0").to_owned(),
            port: env.parse_or("PORT", default_port)?,
            body_limit: env.parse_or("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT)?,
            shutdown_timeout: env.duration_or("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT)?,
            workers: http_workers(env)?,
        })
    }
}

/// `HTTP_WORKERS`, default the number of cores: the HTTP server's threads, which also split
/// each database's `DB_POOL_SIZE` between them (`crate::db::PoolSettings`).
pub fn http_workers(env: &Env) -> Result<usize, ConfigError> {
    env.parse_or(
        "HTTP_WORKERS",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    )
}

/// Token settings shared by every module that issues or checks tokens.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `JWT_SECRET`: signs and verifies access tokens.
    pub jwt_secret: Secret,
    /// `JWT_EXPIRES_IN`, default 15 minutes.
    pub access_ttl: Duration,
    /// `REFRESH_TOKEN_EXPIRES_IN`, default 7 days.
    pub refresh_ttl: Duration,
    /// `INTERNAL_JWT_SECRET`: signs and verifies service tokens; must differ from `JWT_SECRET`.
    pub internal_secret: Secret,
}

impl TokenSettings {
    /// Reads and checks the token settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwt_secret = env.secret("JWT_SECRET")?;
        let internal_secret = env.secret("INTERNAL_JWT_SECRET")?;
        if jwt_secret.expose() == internal_secret.expose() {
            return Err(invalid(
                "INTERNAL_JWT_SECRET",
                "must differ from JWT_SECRET",
            ));
        }
        let access_ttl = env.duration_or("JWT_EXPIRES_IN", Duration::from_secs(15 * 60))?;
        if access_ttl.is_zero() {
            return Err(invalid("JWT_EXPIRES_IN", "must be positive"));
        }
        let refresh_ttl =
            env.duration_or("REFRESH_TOKEN_EXPIRES_IN", Duration::from_secs(7 * 86_400))?;
        if refresh_ttl.is_zero() {
            return Err(invalid("REFRESH_TOKEN_EXPIRES_IN", "must be positive"));
        }
        Ok(Self {
            jwt_secret,
            access_ttl,
            refresh_ttl,
            internal_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://app:s3cr3t@db:5432/tessera_auth?sslmode=require"),
            "postgres://app:***@db:5432/tessera_auth?sslmode=require"
        );
        assert_eq!(
            super::redact_url("redis://:p%40ss@cache:6379/2"),
            "redis://:***@cache:6379/2"
        );
        assert_eq!(
            super::redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(
            super::redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    use super::*;

    #[test]
    fn durations_accept_the_seed_spellings() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn a_zero_duration_is_refused_where_it_must_be_positive() {
        let env = Env::from_pairs([("MAIL_POLL_INTERVAL", "0s"), ("SMTP_TIMEOUT", "2s")]);
        let err = env
            .positive_duration_or("MAIL_POLL_INTERVAL", Duration::from_secs(5))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("MAIL_POLL_INTERVAL is invalid: must be positive")
        );
        assert_eq!(
            env.positive_duration_or("SMTP_TIMEOUT", Duration::from_secs(10))
                .ok(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            env.positive_duration_or("MAIL_SEND_TIMEOUT", Duration::from_secs(10))
                .ok(),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn a_missing_secret_names_the_variable() {
        let err = TokenSettings::from_env(&Env::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("JWT_SECRET must be set"));
    }

    #[test]
    fn a_short_secret_is_refused() {
        let env = Env::from_pairs([
            ("JWT_SECRET", "short"),
            ("INTERNAL_JWT_SECRET", "x".repeat(40).as_str()),
        ]);
        let err = TokenSettings::from_env(&env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("JWT_SECRET is invalid"), "{err}");
    }

    #[test]
    fn the_two_secrets_must_differ() {
        let same = "s".repeat(40);
        let env = Env::from_pairs([
            ("JWT_SECRET", same.as_str()),
            ("INTERNAL_JWT_SECRET", same.as_str()),
        ]);
        let err = TokenSettings::from_env(&env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must differ"), "{err}");
    }

    #[test]
    fn redis_url_wins_over_host_and_port() {
        let env = Env::from_pairs([
            ("REDIS_URL", "redis://cache:6380/2"),
            ("REDIS_HOST", "other"),
        ]);
        assert_eq!(
            env.redis().map(|r| r.url).ok().as_deref(),
            Some("redis://cache:6380/2")
        );
        let env = Env::from_pairs([("REDIS_HOST", "cache"), ("REDIS_PORT", "6390")]);
        assert_eq!(
            env.redis().map(|r| r.url).ok().as_deref(),
            Some("redis://cache:6390")
        );
    }

    #[test]
    fn a_single_domain_process_may_use_plain_database_url() {
        let env = Env::from_pairs([("DATABASE_URL", "postgres://x/auth")]);
        assert_eq!(
            env.database_url("auth", true).ok().as_deref(),
            Some("postgres://x/auth")
        );
        let err = env.database_url("auth", false).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("AUTH_DATABASE_URL must be set"));
    }
}
