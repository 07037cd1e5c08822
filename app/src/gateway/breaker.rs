//! A circuit breaker per upstream: after `failures` consecutive failed calls it opens and the
//! gateway answers 503 at once, without calling, for `open_for`; then one trial call goes
//! through (half-open), and its outcome closes or re-opens the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures (unreachable, timed out) that open the breaker.
    pub failures: u32,
    /// How long it stays open before a trial call.
    pub open_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; others wait until it reports or `open_for` passes.
    HalfOpen {
        since: Instant,
    },
}

/// The state an observer sees (for metrics and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// A trial call is out.
    HalfOpen,
}

/// One upstream's breaker. Time is passed in so the logic is testable without waiting.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (plain copies).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go out now; `Err` carries how long until one may.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } => {
                *state = State::HalfOpen { since: now };
                Ok(())
            }
            State::HalfOpen { since } if now.duration_since(since) < self.settings.open_for => {
                Err(self.settings.open_for - now.duration_since(since))
            }
            // The trial never reported (its caller went away): try again.
            State::HalfOpen { .. } => {
                *state = State::HalfOpen { since: now };
                Ok(())
            }
        }
    }

    /// The call got an answer from the upstream.
    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// The call failed (could not connect, or no answer in time). Returns whether this failure
    /// opened the breaker.
    pub fn failure(&self, now: Instant) -> bool {
        let mut state = self.lock();
        let open = State::Open {
            until: now + self.settings.open_for,
        };
        match *state {
            State::Closed { failures } if failures + 1 >= self.settings.failures => {
                *state = open;
                true
            }
            State::Closed { failures } => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                false
            }
            State::HalfOpen { .. } => {
                *state = open;
                true
            }
            // Calls admitted before the breaker opened report late; it stays open as it is.
            State::Open { .. } => false,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match *self.lock() {
            State::Closed { .. } => Phase::Closed,
            State::Open { .. } => Phase::Open,
            State::HalfOpen { .. } => Phase::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failures: 3,
            open_for: Duration::from_secs(5),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker();
        let t = Instant::now();
        assert!(!b.failure(t));
        assert!(!b.failure(t));
        b.success();
        assert!(!b.failure(t));
        assert!(!b.failure(t));
        assert_eq!(b.phase(), Phase::Closed);
        assert!(b.failure(t));
        assert_eq!(b.phase(), Phase::Open);
        assert_eq!(
            b.admit(t + Duration::from_secs(1)),
            Err(Duration::from_secs(4))
        );
    }

    #[test]
    fn lets_one_trial_through_after_the_open_period() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.failure(t);
        }
        let later = t + Duration::from_secs(5);
        assert_eq!(b.admit(later), Ok(()));
        assert_eq!(b.phase(), Phase::HalfOpen);
        // Others wait for the trial.
        assert!(b.admit(later + Duration::from_millis(10)).is_err());
        b.success();
        assert_eq!(b.phase(), Phase::Closed);
        assert_eq!(b.admit(later), Ok(()));
    }

    #[test]
    fn a_failed_trial_reopens_and_a_lost_trial_is_retried() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.failure(t);
        }
        let trial = t + Duration::from_secs(5);
        assert_eq!(b.admit(trial), Ok(()));
        assert!(b.failure(trial));
        assert_eq!(b.phase(), Phase::Open);
        let next = trial + Duration::from_secs(5);
        assert_eq!(b.admit(next), Ok(()));
        // The trial's caller vanished without reporting: after another period, a new trial.
        assert_eq!(b.admit(next + Duration::from_secs(5)), Ok(()));
    }
}
