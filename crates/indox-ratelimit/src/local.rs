//! An in-process store: the fallback when Redis is down, and a store for tests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use crate::window::{admit, expire, judge};
use crate::{Decision, RateLimitError, RateLimitStore, WindowCheck};

/// Sliding logs in memory, per process.
#[derive(Debug)]
pub struct LocalStore {
    started: Instant,
    logs: Mutex<HashMap<String, VecDeque<u64>>>,
}

impl Default for LocalStore {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            logs: Mutex::new(HashMap::new()),
        }
    }
}

impl LocalStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same as [`RateLimitStore::acquire`], at an explicit time (for tests).
    pub fn acquire_at(&self, checks: &[WindowCheck], now_ms: u64) -> Vec<Decision> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let mut decisions = Vec::with_capacity(checks.len());
        for c in checks {
            let log = logs.entry(c.key.clone()).or_default();
            expire(log, now_ms, c.limit);
            decisions.push(judge(log, now_ms, c.limit, c.cost));
        }
        if decisions.iter().all(|d| d.allowed) {
            for c in checks {
                admit(logs.entry(c.key.clone()).or_default(), now_ms, c.cost);
            }
        }
        // Keep memory bounded: drop logs that emptied.
        logs.retain(|_, log| !log.is_empty());
        decisions
    }
}

#[async_trait]
impl RateLimitStore for LocalStore {
    async fn acquire(&self, checks: &[WindowCheck]) -> Result<Vec<Decision>, RateLimitError> {
        let now_ms = self.started.elapsed().as_millis() as u64;
        Ok(self.acquire_at(checks, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limit;

    #[test]
    fn all_or_nothing() {
        let store = LocalStore::new();
        let a = WindowCheck {
            key: "a".into(),
            limit: Limit::new(5, 1_000),
            cost: 1,
        };
        let b = WindowCheck {
            key: "b".into(),
            limit: Limit::new(1, 1_000),
            cost: 1,
        };
        assert!(store
            .acquire_at(&[a.clone(), b.clone()], 0)
            .iter()
            .all(|d| d.allowed));
        // b is full, so a must not be charged either.
        let d = store.acquire_at(&[a.clone(), b.clone()], 1);
        assert!(d[0].allowed && !d[1].allowed);
        let d = store.acquire_at(std::slice::from_ref(&a), 2);
        assert_eq!(
            d[0].remaining, 3,
            "the denied request must not have used a's budget"
        );
    }
}
