//! Stable event ids for deduplication and the retry schedule for callback delivery.

use chrono::Duration;
use ring::digest;
use uuid::Uuid;

/// Prefix of every event id.
pub const EVENT_ID_PREFIX: &str = "evt_";
/// Number of base32 characters after the prefix (130 bits of the digest).
pub const EVENT_ID_HASH_CHARS: usize = 26;

/// The id of the event "job `job_id` reached `status`", identical on every delivery attempt
/// so receivers can deduplicate on it (Standard Webhooks `webhook-id`).
///
/// It is `evt_` followed by the first 26 characters of the lowercase RFC 4648 base32
/// encoding (no padding) of `SHA-256(job_id's 16 bytes ‖ status as UTF-8)`. The job id has a
/// fixed length, so distinct `(job_id, status)` pairs never hash the same input.
pub fn event_id(job_id: Uuid, status: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(job_id.as_bytes());
    ctx.update(status.as_bytes());
    let digest = ctx.finish();
    let mut id = String::with_capacity(EVENT_ID_PREFIX.len() + EVENT_ID_HASH_CHARS);
    id.push_str(EVENT_ID_PREFIX);
    id.extend(base32_lower(digest.as_ref()).take(EVENT_ID_HASH_CHARS));
    id
}

/// Lowercase RFC 4648 base32 without padding, as an iterator of characters.
fn base32_lower(bytes: &[u8]) -> impl Iterator<Item = char> + '_ {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let total_bits = bytes.len() * 8;
    (0..total_bits.div_ceil(5)).map(move |index| {
        let bit = index * 5;
        let mut value = 0usize;
        for offset in 0..5 {
            let position = bit + offset;
            let set = bytes
                .get(position / 8)
                .is_some_and(|byte| byte & (0x80 >> (position % 8)) != 0);
            value = (value << 1) | usize::from(set);
        }
        char::from(ALPHABET[value])
    })
}

/// When to retry a failed callback delivery.
///
/// The standard schedule makes 8 attempts: at +0, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
/// 10 h after each failure (99 305 s ≈ 27.6 h of base delay in all), each delay jittered by
/// ±20 %. Attempts are numbered from 1; attempt 1 is the immediate one.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays_ms: Vec<i64>,
    jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::standard()
    }
}

impl RetrySchedule {
    /// Base delays of the standard schedule, in seconds, after attempts 1 to 7.
    pub const STANDARD_DELAYS_SECS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
    /// Jitter of the standard schedule: ±20 %.
    pub const STANDARD_JITTER: f64 = 0.2;

    /// The standard schedule (8 attempts over about 27.6 h, ±20 % jitter).
    pub fn standard() -> Self {
        Self {
            delays_ms: Self::STANDARD_DELAYS_SECS
                .iter()
                .map(|secs| secs * 1_000)
                .collect(),
            jitter: Self::STANDARD_JITTER,
        }
    }

    /// A custom schedule: `delays[i]` follows the failure of attempt `i + 1`. Negative delays
    /// count as zero; `jitter` is clamped to `0..=1` (a non-finite value counts as zero).
    pub fn new(delays: &[Duration], jitter: f64) -> Self {
        Self {
            delays_ms: delays.iter().map(|d| d.num_milliseconds().max(0)).collect(),
            jitter: if jitter.is_finite() {
                jitter.clamp(0.0, 1.0)
            } else {
                0.0
            },
        }
    }

    /// Total attempts, including the first immediate one.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays_ms.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The jitter fraction (0.2 = ±20 %).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The un-jittered delay after attempt `attempt_just_failed`, or `None` after the last.
    /// Attempt 0 is treated as attempt 1.
    pub fn base_delay(&self, attempt_just_failed: u32) -> Option<Duration> {
        self.base_ms(attempt_just_failed)
            .and_then(Duration::try_milliseconds)
    }

    /// The sum of all un-jittered delays: how long after the first attempt the last one runs.
    pub fn total_base(&self) -> Duration {
        let total = self
            .delays_ms
            .iter()
            .fold(0i64, |sum, ms| sum.saturating_add(*ms));
        Duration::try_milliseconds(total).unwrap_or(Duration::MAX)
    }

    /// The jittered delay before the next attempt, or `None` when `attempt_just_failed` was
    /// the last one (the delivery is dead).
    ///
    /// `unit_random` is a uniform number in `0..=1` supplied by the caller so this stays pure;
    /// 0 gives `base × (1 − jitter)`, 1 gives `base × (1 + jitter)`. Values outside the range
    /// are clamped and a non-finite value counts as 0.5 (no jitter).
    pub fn next_delay(&self, attempt_just_failed: u32, unit_random: f64) -> Option<Duration> {
        self.jittered_ms(attempt_just_failed, unit_random)
            .and_then(Duration::try_milliseconds)
    }

    /// Like [`next_delay`](Self::next_delay), but honours a receiver's `Retry-After` (seconds):
    /// it is clamped to `[delay, 2 × delay]`, where `delay` is the jittered delay, so a
    /// receiver can slow retries down (at most twice) but never speed them up. Still `None`
    /// after the last attempt, whatever the receiver asks.
    pub fn next_delay_with_retry_after(
        &self,
        attempt_just_failed: u32,
        unit_random: f64,
        retry_after: Option<u64>,
    ) -> Option<Duration> {
        let delay = self.jittered_ms(attempt_just_failed, unit_random)?;
        let chosen = match retry_after {
            None => delay,
            Some(secs) => {
                let asked = i64::try_from(secs)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000);
                asked.clamp(delay, delay.saturating_mul(2))
            }
        };
        Duration::try_milliseconds(chosen)
    }

    fn base_ms(&self, attempt_just_failed: u32) -> Option<i64> {
        let index = usize::try_from(attempt_just_failed.max(1) - 1).ok()?;
        self.delays_ms.get(index).copied()
    }

    fn jittered_ms(&self, attempt_just_failed: u32, unit_random: f64) -> Option<i64> {
        let base = self.base_ms(attempt_just_failed)?;
        let r = if unit_random.is_finite() {
            unit_random.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let factor = 1.0 + self.jitter * (2.0 * r - 1.0);
        // `as` saturates for floats; base ≥ 0 and factor ∈ [0, 2], so the result is ≥ 0.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let ms = (base as f64 * factor).round() as i64;
        Some(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Known answer produced with Python's standard library:
    //   d = hashlib.sha256(uuid.UUID("0190f0c2-7b1e-7c3a-9d2e-5f6a7b8c9d0e").bytes
    //                      + b"finished").digest()
    //   "evt_" + base64.b32encode(d).decode().lower().rstrip("=")[:26]
    #[test]
    fn event_id_known_answer() {
        let job = Uuid::parse_str("0190f0c2-7b1e-7c3a-9d2e-5f6a7b8c9d0e").unwrap();
        assert_eq!(event_id(job, "finished"), "evt_nbmpubj4ajvpyhlbqs2yommlhn");
    }

    #[test]
    fn event_id_is_stable_and_distinct() {
        let job = Uuid::new_v4();
        let id = event_id(job, "finished");
        assert_eq!(id, event_id(job, "finished"));
        assert_eq!(id.len(), EVENT_ID_PREFIX.len() + EVENT_ID_HASH_CHARS);
        assert!(id.starts_with("evt_"));
        assert!(id[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(id, event_id(job, "failed"));
        assert_ne!(id, event_id(Uuid::new_v4(), "finished"));
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, lowercased and without padding.
        for (input, expected) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_lower(input.as_bytes()).collect::<String>(), expected);
        }
    }

    #[test]
    fn standard_schedule_totals() {
        let s = RetrySchedule::standard();
        assert_eq!(s, RetrySchedule::default());
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(s.total_base(), Duration::seconds(99_305));
        let hours = s.total_base().num_seconds() as f64 / 3_600.0;
        assert!((27.5..27.7).contains(&hours), "{hours}");
        let expected = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
        for (attempt, secs) in (1u32..).zip(expected) {
            assert_eq!(s.base_delay(attempt), Some(Duration::seconds(secs)));
            assert_eq!(s.next_delay(attempt, 0.5), Some(Duration::seconds(secs)));
        }
        assert_eq!(s.base_delay(0), s.base_delay(1));
        assert_eq!(s.next_delay(8, 0.5), None);
        assert_eq!(s.next_delay(9, 0.5), None);
        assert_eq!(s.next_delay(u32::MAX, 0.5), None);
        let jittered_sum: i64 = (1..8)
            .map(|a| s.next_delay(a, 0.5).unwrap().num_seconds())
            .sum();
        assert_eq!(jittered_sum, 99_305);
    }

    #[test]
    fn jitter_extremes_and_odd_randoms() {
        let s = RetrySchedule::standard();
        assert_eq!(s.next_delay(1, 0.0), Some(Duration::seconds(4)));
        assert_eq!(s.next_delay(1, 1.0), Some(Duration::seconds(6)));
        assert_eq!(s.next_delay(2, -3.0), Some(Duration::seconds(240)));
        assert_eq!(s.next_delay(2, 7.0), Some(Duration::seconds(360)));
        assert_eq!(s.next_delay(2, f64::NAN), Some(Duration::seconds(300)));
        assert_eq!(s.next_delay(2, f64::INFINITY), Some(Duration::seconds(300)));
    }

    #[test]
    fn retry_after_is_clamped() {
        let s = RetrySchedule::standard();
        // Base 300 s after attempt 2, no jitter at r = 0.5.
        let d = |ra| s.next_delay_with_retry_after(2, 0.5, ra);
        assert_eq!(d(None), Some(Duration::seconds(300)));
        assert_eq!(d(Some(0)), Some(Duration::seconds(300)));
        assert_eq!(d(Some(299)), Some(Duration::seconds(300)));
        assert_eq!(d(Some(450)), Some(Duration::seconds(450)));
        assert_eq!(d(Some(600)), Some(Duration::seconds(600)));
        assert_eq!(d(Some(601)), Some(Duration::seconds(600)));
        assert_eq!(d(Some(u64::MAX)), Some(Duration::seconds(600)));
        // The bounds follow the jittered delay.
        assert_eq!(
            s.next_delay_with_retry_after(2, 0.0, Some(1)),
            Some(Duration::seconds(240))
        );
        assert_eq!(
            s.next_delay_with_retry_after(2, 1.0, Some(10_000)),
            Some(Duration::seconds(720))
        );
        // Retry-After never resurrects a dead delivery.
        assert_eq!(s.next_delay_with_retry_after(8, 0.5, Some(60)), None);
    }

    #[test]
    fn custom_schedules() {
        let empty = RetrySchedule::new(&[], 0.2);
        assert_eq!(empty.max_attempts(), 1);
        assert_eq!(empty.next_delay(1, 0.5), None);
        assert_eq!(empty.total_base(), Duration::zero());
        let s = RetrySchedule::new(&[Duration::seconds(-5), Duration::milliseconds(250)], 9.0);
        assert_eq!(s.jitter(), 1.0);
        assert_eq!(s.next_delay(1, 1.0), Some(Duration::zero()));
        assert_eq!(s.next_delay(2, 1.0), Some(Duration::milliseconds(500)));
        assert_eq!(s.next_delay(2, 0.0), Some(Duration::zero()));
        assert_eq!(RetrySchedule::new(&[], f64::NAN).jitter(), 0.0);
    }

    proptest! {
        #[test]
        fn jitter_stays_within_twenty_percent(attempt in 0u32..12, r in any::<f64>()) {
            let s = RetrySchedule::standard();
            match (s.base_delay(attempt), s.next_delay(attempt, r)) {
                (Some(base), Some(delay)) => {
                    let base = base.num_milliseconds() as f64;
                    let delay = delay.num_milliseconds() as f64;
                    prop_assert!(delay >= (base * 0.8).floor(), "{delay} < 0.8 × {base}");
                    prop_assert!(delay <= (base * 1.2).ceil(), "{delay} > 1.2 × {base}");
                }
                (None, None) => prop_assert!(attempt >= 8),
                other => prop_assert!(false, "mismatch {other:?}"),
            }
        }

        #[test]
        fn retry_after_stays_within_delay_and_twice_delay(
            attempt in 1u32..8,
            r in 0.0f64..=1.0,
            retry_after in proptest::option::of(any::<u64>()),
        ) {
            let s = RetrySchedule::standard();
            let delay = s.next_delay(attempt, r).unwrap();
            let chosen = s.next_delay_with_retry_after(attempt, r, retry_after).unwrap();
            prop_assert!(chosen >= delay);
            prop_assert!(chosen <= delay * 2);
            if retry_after.is_none() {
                prop_assert_eq!(chosen, delay);
            }
        }
    }
}
