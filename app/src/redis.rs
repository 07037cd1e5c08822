//! Redis connections (fred) and key naming.
//!
//! Every key the platform writes starts with a configurable prefix, so tests (and several
//! deployments sharing one Redis) never see each other's data.

use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike, Config, ReconnectPolicy};

/// Where Redis is and how keys are named.
#[derive(Clone)]
pub struct RedisSettings {
    /// A `redis://host:port/db` URL.
    pub url: String,
    /// The prefix of every key, without the trailing `:`.
    pub prefix: String,
}

impl std::fmt::Debug for RedisSettings {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &crate::config::redact_url(&self.url))
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisSettings {
    /// The full key for `parts`, joined with `:` under the prefix.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }
}

/// Creates a client for `settings` and starts connecting it in the background.
///
/// The client reconnects forever with capped backoff, and commands fail after a timeout instead
/// of waiting for a connection that may never come: Redis down means delay and 503s, not hangs.
pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Client> {
    let mut config = Config::from_url(&settings.url)?;
    // fred's default gives up for good when the first connection fails; a Redis that is down at
    // boot must only delay us.
    config.fail_fast = false;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(3);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(5);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build()?;
    // `init` waits for the first connection; we only start it, so a Redis that is down at boot
    // delays work instead of failing the process.
    let _connection_task = client.connect();
    Ok(client)
}
