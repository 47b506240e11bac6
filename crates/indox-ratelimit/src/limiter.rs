//! The rate limiter service: per-account windows plus the shared upstream budget, with a local fallback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indox_core::{AccountId, Capability, Clock};

use crate::overrides::{resolve, validate_override};
use crate::{
    Decision, Limit, LimitConfig, LocalStore, Override, OverrideCache, OverrideScope,
    OverrideStore, RateLimitError, RateLimitStore, WindowCheck,
};

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
    overrides: OverrideCache,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .field("prefix", &self.prefix)
            .field("overrides", &self.overrides)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter over `store`; every key starts with `prefix` (tests use a unique one).
    /// Per-account overrides come from `overrides` through an in-process cache
    /// ([`OverrideCache`], 5 s TTL unless [`with_override_ttl`](Self::with_override_ttl)).
    pub fn new(
        store: Arc<dyn RateLimitStore>,
        config: LimitConfig,
        prefix: impl Into<String>,
        overrides: Arc<dyn OverrideStore>,
    ) -> Self {
        Self {
            store,
            fallback: LocalStore::new(),
            config,
            prefix: prefix.into(),
            degraded_decisions: AtomicU64::new(0),
            overrides: OverrideCache::new(overrides),
        }
    }

    /// Sets how long each process trusts its cached overrides (zero: read them on every
    /// request). A change made through this limiter is seen at once here, in other
    /// processes within the TTL.
    #[must_use]
    pub fn with_override_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.overrides.set_ttl(ttl);
        self
    }

    /// Sets the clock that ages cached overrides.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.overrides.set_clock(clock);
        self
    }

    /// The limits in force.
    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    /// How many decisions the local fallback made because the shared store failed.
    pub fn degraded_decisions(&self) -> u64 {
        self.degraded_decisions.load(Ordering::Relaxed)
    }

    /// The per-account limit in force for `capability`: the account's override (cached),
    /// else the configured one.
    pub async fn limit_for(&self, account: AccountId, capability: Capability) -> Limit {
        let overrides = self.overrides.get(account).await;
        resolve(
            &overrides,
            capability,
            self.config.for_capability(capability),
        )
    }

    /// The overrides of `account`, read from the store (not the cache).
    ///
    /// # Errors
    /// [`RateLimitError::Store`] when the store fails.
    pub async fn overrides(&self, account: AccountId) -> Result<Vec<Override>, RateLimitError> {
        let mut v = self.overrides.store().overrides(account).await?;
        v.sort_by_key(|o| o.scope);
        Ok(v)
    }

    /// Sets the override of `account` for `scope`; this process applies it at once.
    ///
    /// # Errors
    /// [`RateLimitError::InvalidSpec`] for a limit out of bounds (nothing stored),
    /// [`RateLimitError::UnknownAccount`], or [`RateLimitError::Store`].
    pub async fn set_override(
        &self,
        account: AccountId,
        scope: OverrideScope,
        limit: Limit,
    ) -> Result<Override, RateLimitError> {
        let limit = validate_override(limit)?;
        let stored = self
            .overrides
            .store()
            .put_override(account, scope, limit)
            .await;
        // Invalidate even on error: the write may have landed before the error surfaced.
        self.overrides.invalidate(account);
        stored
    }

    /// Removes the override of `account` for `scope` (`false` when there was none); this
    /// process falls back to the configured limit at once.
    ///
    /// # Errors
    /// [`RateLimitError::Store`].
    pub async fn remove_override(
        &self,
        account: AccountId,
        scope: OverrideScope,
    ) -> Result<bool, RateLimitError> {
        let removed = self.overrides.store().remove_override(account, scope).await;
        self.overrides.invalidate(account);
        removed
    }

    /// The checks for one request, with the caller's per-account limit `account_limit`
    /// (see [`limit_for`](Self::limit_for)).
    pub fn checks(
        &self,
        account: AccountId,
        capability: Capability,
        upstream: bool,
        account_limit: Limit,
    ) -> Vec<WindowCheck> {
        let mut checks = vec![WindowCheck {
            key: format!("{}:acct:{}:{}", self.prefix, account, capability),
            limit: account_limit,
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
    /// per-process fallback decides and the admission is marked `degraded`. The account's
    /// limit is its override when it has one (cached; no storage read on a cache hit).
    pub async fn admit(
        &self,
        account: AccountId,
        capability: Capability,
        upstream: bool,
    ) -> Admission {
        let limit = self.limit_for(account, capability).await;
        let checks = self.checks(account, capability, upstream, limit);
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
    use crate::overrides::MockOverrideStore;
    use crate::ports::MockRateLimitStore;
    use crate::{Limit, NoOverrides, RateLimitError};

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
        let limiter = RateLimiter::new(Arc::new(store), config(), "t1", Arc::new(NoOverrides));
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
        let limiter = RateLimiter::new(Arc::new(store), config(), "t2", Arc::new(NoOverrides));
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

    fn tts_override(max: u32) -> Override {
        Override {
            scope: OverrideScope::Capability(Capability::Tts),
            limit: Limit::new(max, 60_000),
            updated_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    fn fixed_clock() -> Arc<indox_core::FixedClock> {
        Arc::new(indox_core::FixedClock::new(
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        ))
    }

    #[tokio::test]
    async fn rule_ad5_an_override_replaces_the_configured_limit_of_that_account_only() {
        let limited = AccountId::new();
        let mut overrides = MockOverrideStore::new();
        overrides.expect_overrides().returning(move |a| {
            Ok(if a == limited {
                vec![tts_override(1)]
            } else {
                vec![]
            })
        });
        let limiter = RateLimiter::new(
            Arc::new(LocalStore::new()),
            config(),
            "t3",
            Arc::new(overrides),
        );
        let first = limiter.admit(limited, Capability::Tts, false).await;
        assert!(first.allowed());
        assert_eq!(first.account.limit, 1, "the override's limit is reported");
        let second = limiter.admit(limited, Capability::Tts, false).await;
        assert_eq!(second.denied_by(), Some(Scope::Account));

        let other = AccountId::new();
        for _ in 0..2 {
            let a = limiter.admit(other, Capability::Tts, false).await;
            assert!(a.allowed(), "another account keeps the configured 2/min");
            assert_eq!(a.account.limit, 2);
        }
        // Other capabilities of the limited account keep their configured limit.
        assert_eq!(
            limiter.limit_for(limited, Capability::Stt).await,
            config().default
        );
    }

    #[tokio::test]
    async fn rule_ad6_overrides_are_read_once_per_ttl_not_per_request() {
        let mut overrides = MockOverrideStore::new();
        overrides
            .expect_overrides()
            .times(1)
            .returning(|_| Ok(vec![tts_override(100)]));
        let limiter = RateLimiter::new(
            Arc::new(LocalStore::new()),
            config(),
            "t4",
            Arc::new(overrides),
        )
        .with_clock(fixed_clock());
        let acct = AccountId::new();
        for _ in 0..50 {
            assert!(limiter.admit(acct, Capability::Tts, false).await.allowed());
        }
    }

    #[tokio::test]
    async fn setting_and_removing_an_override_applies_at_once_in_this_process() {
        let clock = fixed_clock();
        let acct = AccountId::new();
        let mut overrides = MockOverrideStore::new();
        let mut seq = mockall::Sequence::new();
        overrides
            .expect_overrides()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![]));
        overrides
            .expect_put_override()
            .withf(move |a, scope, limit| {
                *a == acct
                    && *scope == OverrideScope::Capability(Capability::Tts)
                    && *limit == Limit::new(7, 1_000)
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(tts_override(7)));
        overrides
            .expect_overrides()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![tts_override(7)]));
        overrides
            .expect_remove_override()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(true));
        overrides
            .expect_overrides()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![]));
        let limiter = RateLimiter::new(
            Arc::new(LocalStore::new()),
            config(),
            "t5",
            Arc::new(overrides),
        )
        .with_clock(clock);
        assert_eq!(limiter.limit_for(acct, Capability::Tts).await.max, 2);
        let tts = OverrideScope::Capability(Capability::Tts);
        limiter
            .set_override(acct, tts, Limit::new(7, 1_000))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limiter.limit_for(acct, Capability::Tts).await.max, 7);
        assert_eq!(limiter.remove_override(acct, tts).await, Ok(true));
        assert_eq!(limiter.limit_for(acct, Capability::Tts).await.max, 2);
    }

    #[tokio::test]
    async fn an_out_of_bounds_override_is_refused_before_the_store() {
        let overrides = MockOverrideStore::new(); // any call would panic
        let limiter = RateLimiter::new(
            Arc::new(LocalStore::new()),
            config(),
            "t6",
            Arc::new(overrides),
        );
        let r = limiter
            .set_override(AccountId::new(), OverrideScope::All, Limit::new(0, 1_000))
            .await;
        assert!(matches!(r, Err(RateLimitError::InvalidSpec { .. })));
    }

    #[tokio::test]
    async fn a_failing_override_store_falls_back_to_the_configured_limits() {
        let mut overrides = MockOverrideStore::new();
        overrides
            .expect_overrides()
            .returning(|_| Err(RateLimitError::Store("down".into())));
        let limiter = RateLimiter::new(
            Arc::new(LocalStore::new()),
            config(),
            "t7",
            Arc::new(overrides),
        );
        let a = limiter
            .admit(AccountId::new(), Capability::Tts, false)
            .await;
        assert!(a.allowed());
        assert_eq!(a.account.limit, 2);
    }
}
