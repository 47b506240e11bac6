//! The sliding-log window math, shared by the in-memory store and mirrored by the Redis Lua script.

use std::collections::VecDeque;

use crate::Limit;

/// The verdict for one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still admissible in the window after this one.
    pub remaining: u32,
    /// When denied: milliseconds until enough entries leave the window to admit this request.
    pub retry_after_ms: u64,
    /// Milliseconds until the window is empty again.
    pub reset_after_ms: u64,
}

/// Drops the entries of `log` (admission times in ms, oldest first) that left the window.
pub fn expire(log: &mut VecDeque<u64>, now_ms: u64, limit: Limit) {
    while log.front().is_some_and(|&t| t + limit.window_ms <= now_ms) {
        log.pop_front();
    }
}

/// Judges a request of `cost` units at `now_ms` without admitting it.
pub fn judge(log: &VecDeque<u64>, now_ms: u64, limit: Limit, cost: u32) -> Decision {
    let used = log.len() as u64;
    let max = u64::from(limit.max);
    let cost = u64::from(cost);
    if used + cost <= max {
        // Once admitted at `now_ms`, this request is the newest entry: the window is
        // empty again one full window later.
        return Decision {
            allowed: true,
            limit: limit.max,
            remaining: (max - used - cost) as u32,
            retry_after_ms: 0,
            reset_after_ms: limit.window_ms,
        };
    }
    // The request fits once `used + cost - max` of the oldest entries have left.
    let must_leave = used + cost - max;
    let retry_after_ms = if cost > max {
        // Never admissible; tell the caller to wait a whole window.
        limit.window_ms
    } else {
        let idx = (must_leave - 1) as usize;
        log.get(idx)
            .map_or(limit.window_ms, |&t| t + limit.window_ms - now_ms)
    };
    let reset_after_ms = log.back().map_or(0, |&t| t + limit.window_ms - now_ms);
    Decision {
        allowed: false,
        limit: limit.max,
        remaining: 0,
        retry_after_ms,
        reset_after_ms,
    }
}

/// Expires old entries, judges, and admits the request when allowed.
pub fn evaluate(log: &mut VecDeque<u64>, now_ms: u64, limit: Limit, cost: u32) -> Decision {
    expire(log, now_ms, limit);
    let d = judge(log, now_ms, limit, cost);
    if d.allowed {
        admit(log, now_ms, cost);
    }
    d
}

/// Records `cost` admissions at `now_ms`.
pub fn admit(log: &mut VecDeque<u64>, now_ms: u64, cost: u32) {
    for _ in 0..cost {
        log.push_back(now_ms);
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1 when waiting is needed.
pub fn retry_after_secs(ms: u64) -> u64 {
    if ms == 0 {
        0
    } else {
        ms.div_ceil(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admits_up_to_max_then_denies_with_exact_wait() {
        let limit = Limit::new(3, 1_000);
        let mut log = VecDeque::new();
        for (t, remaining) in [(0, 2), (10, 1), (20, 0)] {
            let d = evaluate(&mut log, t, limit, 1);
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
        }
        let d = evaluate(&mut log, 500, limit, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 500); // t=0 leaves at 1000
        assert_eq!(d.reset_after_ms, 520); // t=20 leaves at 1020
                                           // At exactly t=1000 the first entry has left.
        assert!(evaluate(&mut log, 1_000, limit, 1).allowed);
    }

    #[test]
    fn cost_larger_than_one() {
        let limit = Limit::new(5, 1_000);
        let mut log = VecDeque::new();
        assert!(evaluate(&mut log, 0, limit, 2).allowed);
        assert!(evaluate(&mut log, 100, limit, 2).allowed);
        let d = evaluate(&mut log, 200, limit, 2);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 800); // one of the two t=0 entries must leave
        let d = evaluate(&mut log, 200, limit, 9);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 1_000);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(0), 0);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(1_000), 1);
        assert_eq!(retry_after_secs(1_001), 2);
    }

    proptest! {
        /// In any window of `window_ms`, no more than `max` requests are admitted,
        /// and a denied request retried after exactly `retry_after_ms` is admitted.
        #[test]
        fn never_more_than_max_in_any_window(
            max in 1u32..10,
            window in 1u64..2_000,
            gaps in proptest::collection::vec(0u64..300, 1..200),
        ) {
            let limit = Limit::new(max, window);
            let mut log = VecDeque::new();
            let mut admitted: Vec<u64> = Vec::new();
            let mut now = 0u64;
            for gap in gaps {
                now += gap;
                let d = evaluate(&mut log, now, limit, 1);
                if d.allowed {
                    admitted.push(now);
                } else {
                    let mut probe = log.clone();
                    let later = now + d.retry_after_ms;
                    prop_assert!(evaluate(&mut probe, later, limit, 1).allowed);
                    if d.retry_after_ms > 0 {
                        let mut probe = log.clone();
                        prop_assert!(!evaluate(&mut probe, later - 1, limit, 1).allowed);
                    }
                }
            }
            for (i, &t) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|&&u| u < t + window).count();
                prop_assert!(in_window <= max as usize);
            }
        }
    }
}
