//! The retry policy for background tasks: bounded, exponential, jittered.

use chrono::Duration;

/// Exponential backoff with full-range jitter, capped, over a bounded number of attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before the task is dead.
    pub max_attempts: u32,
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
    /// Jitter as a fraction of the delay, 0..=1 (0.2 = ±20 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base: Duration::seconds(2),
            cap: Duration::minutes(30),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `failed_attempts + 1`, or `None` when the task is dead.
    /// `unit_random` is a uniform number in `0..1` (the caller supplies it so this stays pure).
    pub fn delay(&self, failed_attempts: u32, unit_random: f64) -> Option<Duration> {
        if failed_attempts >= self.max_attempts {
            return None;
        }
        let exp = failed_attempts.saturating_sub(1).min(30);
        let raw_ms = self.base.num_milliseconds().saturating_mul(1i64 << exp);
        let capped = raw_ms.min(self.cap.num_milliseconds()) as f64;
        let r = unit_random.clamp(0.0, 1.0);
        let factor = 1.0 + self.jitter * (2.0 * r - 1.0);
        Some(Duration::milliseconds((capped * factor).round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grows_then_caps_then_dies() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.5), Some(Duration::seconds(2)));
        assert_eq!(p.delay(2, 0.5), Some(Duration::seconds(4)));
        assert_eq!(
            p.delay(9, 0.5),
            Some(Duration::minutes(30).min(Duration::seconds(512)))
        );
        assert_eq!(p.delay(10, 0.5), None);
    }

    proptest! {
        #[test]
        fn jitter_stays_in_band(attempt in 1u32..10, r in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = p.delay(attempt, r).unwrap().num_milliseconds() as f64;
            let mid = p.delay(attempt, 0.5).unwrap().num_milliseconds() as f64;
            prop_assert!(d >= mid * 0.8 - 1.0 && d <= mid * 1.2 + 1.0);
        }
    }
}
