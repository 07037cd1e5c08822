//! Password hashing with argon2id on the blocking pool.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU); doing it on the async executor
//! would stall every other request on that worker. A semaphore bounds how many run at once so a
//! login storm queues instead of exhausting memory (each hash takes 7 MiB) or the CPU.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::{OnceCell, Semaphore};

/// Hashes and verifies passwords off the executor.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when an e-mail is unknown so that an
    /// unknown e-mail and a wrong password take the same time. Computed in the background from
    /// start-up (an argon2 run would otherwise add tens of milliseconds to it), or by the first
    /// login that needs it if that comes first.
    dummy: Arc<OnceCell<Arc<str>>>,
    /// `auth_password_hashes_total{op}`: argon2 runs by `hash` and `verify`, the CPU an
    /// operator (and a test) can see being spent.
    runs: IntCounterVec,
}

impl Hasher {
    /// A hasher allowing `parallel` hashes at once; starts computing the dummy hash in the
    /// background.
    pub async fn new(parallel: usize) -> anyhow::Result<Self> {
        let permits = Arc::new(Semaphore::new(parallel.max(1)));
        let runs = IntCounterVec::new(
            Opts::new(
                "auth_password_hashes_total",
                "argon2id computations, by op (hash, verify)",
            ),
            &["op"],
        )?;
        let hasher = Self {
            permits,
            dummy: Arc::default(),
            runs,
        };
        let warm = hasher.clone();
        tokio::spawn(async move {
            if let Err(err) = warm.dummy().await {
                tracing::warn!(error = %format!("{err:#}"), "the dummy password hash failed");
            }
        });
        Ok(hasher)
    }

    /// The dummy hash, computing it first if no one has yet.
    async fn dummy(&self) -> anyhow::Result<Arc<str>> {
        let hash = self
            .dummy
            .get_or_try_init(|| async {
                let mut seed = [0u8; 24];
                rand::fill(&mut seed);
                let password: String = seed.iter().map(|b| format!("{b:02x}")).collect();
                let _permit = self.permits.acquire().await?;
                let hash = tokio::task::spawn_blocking(move || hash_now(&password)).await??;
                anyhow::Ok(Arc::<str>::from(hash))
            })
            .await?;
        Ok(Arc::clone(hash))
    }

    /// Adds the hasher's counter to `registry` (the one `/metrics` renders).
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.runs.clone()))
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        self.runs.with_label_values(&["hash"]).inc();
        tokio::task::spawn_blocking(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `hash`; `None` checks against the dummy hash and is false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        // Before taking a permit: computing the dummy takes one.
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy().await?.to_string(),
        };
        let _permit = self.permits.acquire().await?;
        self.runs.with_label_values(&["verify"]).inc();
        let ok = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await?;
        Ok(known && ok)
    }
}

/// How many hashes may run at once on `cores` cores: half of them, at least one, so a login
/// storm cannot take the CPU the other routes need. With a hash per core, `GET /tasks`'s p99 rose
/// 3 to 9 times under 16 clients logging in on two cores; with one, about 2 times
/// (ARCHITECTURE.md, "Performance").
pub fn hashing_permits(cores: usize) -> usize {
    (cores / 2).max(1)
}

/// argon2id with m = 7 MiB, t = 5, p = 1: of OWASP's equivalent minimums (19 MiB with t = 2,
/// 12 MiB with t = 3, ...) the one with the least memory. The CPU is the same; what differs is
/// the memory a hash streams through the caches the other routes use. With 19 MiB a login storm
/// on two cores did 21 logins/s, with 7 MiB 34-37, at the same cost to `GET /tasks`
/// (ARCHITECTURE.md, "Performance"). Hashes made with other parameters still verify: a PHC
/// string carries its own.
const PARAMS: Params = match Params::new(7 * 1024, 5, 1, None) {
    Ok(params) => params,
    Err(_) => panic!("invalid argon2 parameters"),
};

fn hash_now(password: &str) -> anyhow::Result<String> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_unknown_e_mail_is_checked_against_the_dummy_with_one_permit() -> anyhow::Result<()>
    {
        // With one permit the first `verify(None)` computes the dummy and then verifies: the
        // dummy must not wait for the permit its caller holds.
        let h = Hasher::new(1).await?;
        let checked =
            tokio::time::timeout(Duration::from_secs(30), h.verify("x".to_owned(), None)).await;
        assert!(matches!(checked, Ok(Ok(false))), "{checked:?}");
        Ok(())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() -> anyhow::Result<()> {
        let h = Hasher::new(2).await?;
        let hash = h.hash("correct horse".to_owned()).await?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            h.verify("correct horse".to_owned(), Some(hash.clone()))
                .await?
        );
        assert!(!h.verify("wrong horse".to_owned(), Some(hash)).await?);
        assert!(!h.verify("anything".to_owned(), None).await?);
        Ok(())
    }

    #[tokio::test]
    async fn new_hashes_use_seven_mib_and_five_passes_and_older_hashes_still_verify()
    -> anyhow::Result<()> {
        let h = Hasher::new(1).await?;
        let hash = h.hash("correct horse".to_owned()).await?;
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
        // Made with argon2's defaults (m = 19 MiB, t = 2), as every hash stored before.
        let older = Argon2::default()
            .hash_password(b"correct horse")
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(
            older.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{older}"
        );
        assert!(
            h.verify("correct horse".to_owned(), Some(older.clone()))
                .await?
        );
        assert!(!h.verify("wrong horse".to_owned(), Some(older)).await?);
        Ok(())
    }

    #[test]
    fn at_most_half_the_cores_hash_and_always_one() {
        assert_eq!(
            [1, 2, 3, 4, 16].map(hashing_permits),
            [1, 1, 1, 2, 8],
            "permits for 1, 2, 3, 4 and 16 cores"
        );
    }
}
