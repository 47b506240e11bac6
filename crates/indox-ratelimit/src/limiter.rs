//! The rate limiter service: per-account windows plus the shared upstream budget, with a local fallback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indox_core::{AccountId, Capability};

use crate::{Decision, LimitConfig, LocalStore, RateLimitStore, WindowCheck};

/// Which window refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The caller's own per-capability window.
    Account,
    /// The budget of the shared upstream key.
    Upstream,
}

/// The result of asking to admit a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The caller's window (drives the `X-RateLimit-*` headers).
    pub account: Decision,
    /// The shared upstream window, when the request goes upstream.
    pub upstream: Option<Decision>,
    /// `true` when the shared store failed and the local fallback decided.
    pub degraded: bool,
}

impl Admission {
    /// Whether every window admitted the request.
    pub fn allowed(&self) -> bool {
        self.account.allowed && self.upstream.is_none_or(|u| u.allowed)
    }

    /// The window that refused, if any (the caller's first).
    pub fn denied_by(&self) -> Option<Scope> {
        if !self.account.allowed {
            Some(Scope::Account)
        } else if self.upstream.is_some_and(|u| !u.allowed) {
            Some(Scope::Upstream)
        } else {
            None
        }
    }

    /// Milliseconds to wait before retrying: the longest wait among refusing windows.
    pub fn retry_after_ms(&self) -> u64 {
        let up = self
            .upstream
            .filter(|u| !u.allowed)
            .map_or(0, |u| u.retry_after_ms);
        let own = if self.account.allowed {
            0
        } else {
            self.account.retry_after_ms
        };
        own.max(up)
    }
}

/// Admits or refuses requests.
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    fallback: LocalStore,
    config: LimitConfig,
    prefix: String,
    degraded_decisions: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter over `store`; every key starts with `prefix` (tests use a unique one).
    pub fn new(
        store: Arc<dyn RateLimitStore>,
        config: LimitConfig,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            store,
            fallback: LocalStore::new(),
            config,
            prefix: prefix.into(),
            degraded_decisions: AtomicU64::new(0),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    /// How many decisions the local fallback made because the shared store failed.
    pub fn degraded_decisions(&self) -> u64 {
        self.degraded_decisions.load(Ordering::Relaxed)
    }

    /// The checks for one request.
    pub fn checks(
        &self,
        account: AccountId,
        capability: Capability,
        upstream: bool,
    ) -> Vec<WindowCheck> {
        let mut checks = vec![WindowCheck {
            key: format!("{}:acct:{}:{}", self.prefix, account, capability),
            limit: self.config.for_capability(capability),
            cost: 1,
        }];
        if upstream {
            checks.push(WindowCheck {
                key: format!("{}:upstream:resemble", self.prefix),
                limit: self.config.upstream,
                cost: 1,
            });
        }
        checks
    }

    /// Asks to admit one request of `capability` by `account`; `upstream` says whether it
    /// will use the shared upstream key. Never fails: when the shared store is down the
    /// per-process fallback decides and the admission is marked `degraded`.
    pub async fn admit(
        &self,
        account: AccountId,
        capability: Capability,
        upstream: bool,
    ) -> Admission {
        let checks = self.checks(account, capability, upstream);
        let (decisions, degraded) = match self.store.acquire(&checks).await {
            Ok(d) if d.len() == checks.len() => (d, false),
            Ok(_) | Err(_) => {
                let n = self.degraded_decisions.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(1000) {
                    tracing::warn!(
                        degraded_total = n + 1,
                        "rate-limit store unavailable; using the per-process fallback"
                    );
                }
                // `acquire` on the local store cannot fail.
                let d = self.fallback.acquire(&checks).await.unwrap_or_default();
                (d, true)
            }
        };
        let account = decisions.first().copied().unwrap_or(Decision {
            allowed: true,
            limit: 0,
            remaining: 0,
            retry_after_ms: 0,
            reset_after_ms: 0,
        });
        Admission {
            account,
            upstream: decisions.get(1).copied(),
            degraded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockRateLimitStore;
    use crate::{Limit, RateLimitError};

    fn config() -> LimitConfig {
        let mut c = LimitConfig::default();
        c.per_capability
            .insert(Capability::Tts, Limit::new(2, 60_000));
        c.upstream = Limit::new(3, 1_000);
        c
    }

    #[tokio::test]
    async fn uses_the_shared_store() {
        let mut store = MockRateLimitStore::new();
        store.expect_acquire().times(1).returning(|checks| {
            assert_eq!(checks.len(), 2);
            assert!(checks[0].key.starts_with("t1:acct:"));
            assert_eq!(checks[1].key, "t1:upstream:resemble");
            Ok(vec![
                Decision {
                    allowed: false,
                    limit: 2,
                    remaining: 0,
                    retry_after_ms: 1500,
                    reset_after_ms: 2000,
                },
                Decision {
                    allowed: true,
                    limit: 3,
                    remaining: 2,
                    retry_after_ms: 0,
                    reset_after_ms: 1000,
                },
            ])
        });
        let limiter = RateLimiter::new(Arc::new(store), config(), "t1");
        let a = limiter.admit(AccountId::new(), Capability::Tts, true).await;
        assert!(!a.allowed());
        assert_eq!(a.denied_by(), Some(Scope::Account));
        assert_eq!(a.retry_after_ms(), 1500);
        assert!(!a.degraded);
    }

    #[tokio::test]
    async fn falls_back_to_local_limits_when_the_store_fails() {
        let mut store = MockRateLimitStore::new();
        store
            .expect_acquire()
            .returning(|_| Err(RateLimitError::Store("down".into())));
        let limiter = RateLimiter::new(Arc::new(store), config(), "t2");
        let acct = AccountId::new();
        let first = limiter.admit(acct, Capability::Tts, false).await;
        let second = limiter.admit(acct, Capability::Tts, false).await;
        let third = limiter.admit(acct, Capability::Tts, false).await;
        assert!(first.allowed() && second.allowed());
        assert!(
            !third.allowed(),
            "the fallback still enforces the per-account limit"
        );
        assert!(third.degraded);
        assert_eq!(limiter.degraded_decisions(), 3);
    }
}
