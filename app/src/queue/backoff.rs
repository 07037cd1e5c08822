//! Retry delays: exponential backoff with jitter.

use std::time::Duration;

/// How randomness spreads retry delays, so jobs that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Anywhere in `[0, ceiling]`: the widest spread, but a retry can come almost immediately.
    Full,
    /// In `[ceiling / 2, ceiling]`: keeps at least half the backoff.
    #[default]
    Equal,
}

/// The delay before the retry that follows failed attempt `attempt` (1-based).
///
/// The ceiling is `base * 2^(attempt - 1)` capped at `max`; `unit` is a random number in
/// `[0, 1]` (passed in so the function stays pure and testable) that places the delay under it.
pub fn backoff_delay(
    attempt: u32,
    base: Duration,
    max: Duration,
    jitter: Jitter,
    unit: f64,
) -> Duration {
    // 2^31 times any sensible base is already past any sensible cap; the clamp only keeps the
    // shift in range.
    let exponent = attempt.saturating_sub(1).min(31);
    let ceiling = base.saturating_mul(1u32 << exponent).min(max);
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    match jitter {
        Jitter::Full => ceiling.mul_f64(unit),
        Jitter::Equal => {
            let half = ceiling / 2;
            half + (ceiling - half).mul_f64(unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn the_ceiling_doubles_with_each_attempt() {
        for (attempt, secs) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)] {
            assert_eq!(
                backoff_delay(attempt, BASE, MAX, Jitter::Full, 1.0),
                Duration::from_secs(secs)
            );
        }
    }

    #[test]
    fn the_delay_is_capped_at_the_maximum_even_for_huge_attempts() {
        assert_eq!(backoff_delay(10, BASE, MAX, Jitter::Full, 1.0), MAX);
        assert_eq!(backoff_delay(u32::MAX, BASE, MAX, Jitter::Full, 1.0), MAX);
        assert_eq!(backoff_delay(u32::MAX, BASE, MAX, Jitter::Equal, 1.0), MAX);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        assert_eq!(
            backoff_delay(3, BASE, MAX, Jitter::Full, 0.0),
            Duration::ZERO
        );
        assert_eq!(
            backoff_delay(3, BASE, MAX, Jitter::Full, 0.5),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn equal_jitter_keeps_at_least_half_the_ceiling() {
        assert_eq!(
            backoff_delay(3, BASE, MAX, Jitter::Equal, 0.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff_delay(3, BASE, MAX, Jitter::Equal, 1.0),
            Duration::from_secs(4)
        );
        assert_eq!(
            backoff_delay(3, BASE, MAX, Jitter::Equal, 0.5),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn out_of_range_randomness_is_clamped() {
        assert_eq!(
            backoff_delay(2, BASE, MAX, Jitter::Full, 7.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff_delay(2, BASE, MAX, Jitter::Full, -1.0),
            Duration::ZERO
        );
        assert_eq!(
            backoff_delay(2, BASE, MAX, Jitter::Full, f64::NAN),
            Duration::ZERO
        );
    }

    #[test]
    fn attempt_zero_is_treated_like_the_first() {
        assert_eq!(backoff_delay(0, BASE, MAX, Jitter::Full, 1.0), BASE);
    }
}
