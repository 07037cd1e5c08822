//! Password hashing with argon2id on threads of its own, at a lower CPU priority.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU); doing it on the async executor
//! would stall every other request on that worker. It runs on a few dedicated threads (one per
//! core), so a login storm queues instead of exhausting memory (each hash takes 19 MiB), and
//! those threads run at nice [`HASH_NICENESS`]: when the machine is busy the scheduler serves
//! the other routes first, and logins take what is left rather than a core each. Without it, 16
//! clients logging in doubled the p99 of `GET /tasks` in the same process (see BENCHMARKS.md).

use std::sync::{Arc, Mutex, mpsc};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::{OnceCell, oneshot};

/// The niceness of the hashing threads (0 is normal, 19 the lowest priority). At 10 a hashing
/// thread gets about a tenth of the CPU a busy request thread gets; it can still make progress
/// on a saturated machine, so logins slow down rather than stop.
pub const HASH_NICENESS: i32 = 10;

/// One computation for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords off the executor.
#[derive(Clone)]
pub struct Hasher {
    /// The queue of the hashing threads; they end when the last clone is dropped.
    jobs: mpsc::Sender<Job>,
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
    /// A hasher with `parallel` threads; starts computing the dummy hash in the background.
    pub async fn new(parallel: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..parallel.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || hashing_thread(&queue))?;
        }
        let runs = IntCounterVec::new(
            Opts::new(
                "auth_password_hashes_total",
                "argon2id computations, by op (hash, verify)",
            ),
            &["op"],
        )?;
        let hasher = Self {
            jobs,
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
                anyhow::Ok(Arc::from(self.run(move || hash_now(&password)).await??))
            })
            .await?;
        Ok(Arc::clone(hash))
    }

    /// Adds the hasher's counter to `registry` (the one `/metrics` renders).
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.runs.clone()))
    }

    /// Runs `work` on a hashing thread and waits for its result.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The caller may have gone (a client disconnected): nobody to tell.
                let _ = tx.send(work());
            }))
            .map_err(|_| anyhow::anyhow!("the password hashing threads have stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("a password hashing thread failed"))
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.runs.with_label_values(&["hash"]).inc();
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `hash`; `None` checks against the dummy hash and is false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        self.runs.with_label_values(&["verify"]).inc();
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy().await?.to_string(),
        };
        let ok = self
            .run(move || {
                Argon2::default()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && ok)
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the queue closes.
fn hashing_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Sets this thread's niceness to [`HASH_NICENESS`] (Linux applies it to the one thread).
/// Lowering one's own priority needs no privilege; if it fails anyway the thread hashes at
/// normal priority, which is correct, only less kind to the other routes.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_NICENESS)
    {
        tracing::warn!(error = %err, "could not lower the password hashing thread's priority");
    }
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    // Argon2::default() is argon2id, m = 19 MiB, t = 2, p = 1: the OWASP minimum.
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_the_lower_priority() -> anyhow::Result<()> {
        let h = Hasher::new(1).await?;
        let nice = h
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await??;
        assert_eq!(nice, HASH_NICENESS);
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
}
