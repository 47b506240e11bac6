//! Per-account overrides of the configured limits: the scope and resolution rules, the
//! [`OverrideStore`] port, and the in-process [`OverrideCache`] that keeps storage off the
//! request path.
//!
//! Rules (`docs/decisions.md`, AD5–AD6): an override for a capability replaces the configured
//! per-account limit of that capability; an override for `all` replaces it for every
//! capability that has no override of its own; the shared upstream budget is never
//! overridden. Each process caches an account's overrides for a short TTL (5 s by default)
//! and drops its entry at once when the change goes through it, so other processes see a
//! change within the TTL.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_core::{AccountId, Capability, Clock, SystemClock};

use crate::{Limit, RateLimitError};

/// How long a process trusts its cached overrides by default.
pub const DEFAULT_OVERRIDE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The largest `max` an override may set.
pub const MAX_OVERRIDE_LIMIT: u32 = 1_000_000;

/// The longest window an override may set (one day).
pub const MAX_OVERRIDE_WINDOW_MS: u64 = 86_400_000;

/// Past this many cached accounts, expired entries are dropped (and, if that is not enough,
/// the whole cache), so memory stays bounded however many accounts call.
const MAX_CACHED_ACCOUNTS: usize = 100_000;

/// What an override covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OverrideScope {
    /// Every capability without an override of its own.
    All,
    /// One capability.
    Capability(Capability),
}

impl OverrideScope {
    /// `all` or the capability's name (the path segment of the admin API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Capability(c) => c.as_str(),
        }
    }

    /// The capability, or `None` for `all` (the stored form: `NULL` means all).
    pub fn capability(self) -> Option<Capability> {
        match self {
            Self::All => None,
            Self::Capability(c) => Some(c),
        }
    }

    /// From the stored form: `None` means all.
    pub fn from_capability(c: Option<Capability>) -> Self {
        c.map_or(Self::All, Self::Capability)
    }
}

impl fmt::Display for OverrideScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OverrideScope {
    type Err = indox_core::capability::UnknownCapability;

    /// `all` or a capability name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            Ok(Self::All)
        } else {
            s.parse().map(Self::Capability)
        }
    }
}

/// One stored override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    pub scope: OverrideScope,
    pub limit: Limit,
    pub updated_at: DateTime<Utc>,
}

/// Checks an override's limit against the bounds.
///
/// # Errors
/// [`RateLimitError::InvalidSpec`] when `max` is not in `1..=MAX_OVERRIDE_LIMIT` or the
/// window not in `1..=MAX_OVERRIDE_WINDOW_MS` milliseconds.
pub fn validate_override(limit: Limit) -> Result<Limit, RateLimitError> {
    let bad = |reason: String| RateLimitError::InvalidSpec {
        spec: format!("{}/{}ms", limit.max, limit.window_ms),
        reason,
    };
    if !(1..=MAX_OVERRIDE_LIMIT).contains(&limit.max) {
        return Err(bad(format!(
            "limit must be between 1 and {MAX_OVERRIDE_LIMIT}"
        )));
    }
    if !(1..=MAX_OVERRIDE_WINDOW_MS).contains(&limit.window_ms) {
        return Err(bad(format!(
            "window must be between 1 ms and {MAX_OVERRIDE_WINDOW_MS} ms (one day)"
        )));
    }
    Ok(limit)
}

/// The per-account limit in force for `capability`: its own override, else the `all`
/// override, else `configured`.
pub fn resolve(overrides: &[Override], capability: Capability, configured: Limit) -> Limit {
    let own = overrides
        .iter()
        .find(|o| o.scope == OverrideScope::Capability(capability));
    let all = overrides.iter().find(|o| o.scope == OverrideScope::All);
    own.or(all).map_or(configured, |o| o.limit)
}

/// Where overrides are stored (Postgres in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OverrideStore: Send + Sync {
    /// Every override of `account` (empty when it has none, or does not exist).
    ///
    /// # Errors
    /// MUST return [`RateLimitError::Store`] when the store cannot answer.
    async fn overrides(&self, account: AccountId) -> Result<Vec<Override>, RateLimitError>;

    /// Creates or replaces the override of `account` for `scope`; returns it as stored.
    ///
    /// # Errors
    /// MUST return [`RateLimitError::UnknownAccount`] when the account does not exist, and
    /// [`RateLimitError::Store`] when the store fails.
    async fn put_override(
        &self,
        account: AccountId,
        scope: OverrideScope,
        limit: Limit,
    ) -> Result<Override, RateLimitError>;

    /// Removes the override of `account` for `scope`; `false` when there was none.
    ///
    /// # Errors
    /// MUST return [`RateLimitError::Store`] when the store fails.
    async fn remove_override(
        &self,
        account: AccountId,
        scope: OverrideScope,
    ) -> Result<bool, RateLimitError>;
}

/// A store without overrides, that refuses changes: for limiters without a database
/// (benchmarks, unit tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOverrides;

#[async_trait]
impl OverrideStore for NoOverrides {
    async fn overrides(&self, _: AccountId) -> Result<Vec<Override>, RateLimitError> {
        Ok(Vec::new())
    }

    async fn put_override(
        &self,
        _: AccountId,
        _: OverrideScope,
        _: Limit,
    ) -> Result<Override, RateLimitError> {
        Err(RateLimitError::Store(
            "this limiter has no override store".into(),
        ))
    }

    async fn remove_override(
        &self,
        _: AccountId,
        _: OverrideScope,
    ) -> Result<bool, RateLimitError> {
        Ok(false)
    }
}

struct Entry {
    overrides: Arc<[Override]>,
    fetched_at: DateTime<Utc>,
}

/// An account's overrides, cached per process for a TTL.
///
/// A miss (or an expired entry) reads the store once; a store failure keeps the last
/// known overrides (or none) for another TTL and is logged, so a failing store neither
/// blocks requests nor is asked on every one. [`invalidate`](Self::invalidate) drops an
/// entry at once; a read that started before an invalidation is not cached (a generation
/// counter), so it cannot put back what was just invalidated.
pub struct OverrideCache {
    store: Arc<dyn OverrideStore>,
    ttl: chrono::Duration,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<AccountId, Entry>>,
    generation: AtomicU64,
    store_failures: AtomicU64,
}

impl fmt::Debug for OverrideCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverrideCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl OverrideCache {
    /// A cache over `store` with the default TTL and the system clock.
    pub fn new(store: Arc<dyn OverrideStore>) -> Self {
        Self {
            store,
            ttl: to_chrono(DEFAULT_OVERRIDE_TTL),
            clock: Arc::new(SystemClock),
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
        }
    }

    /// Sets how long entries are trusted (zero: every lookup reads the store).
    pub fn set_ttl(&mut self, ttl: std::time::Duration) {
        self.ttl = to_chrono(ttl);
    }

    /// Sets the clock that ages entries (tests move time with a `FixedClock`).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// The store behind the cache.
    pub fn store(&self) -> &Arc<dyn OverrideStore> {
        &self.store
    }

    /// How many lookups found the store failing.
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The overrides of `account`; never fails.
    pub async fn get(&self, account: AccountId) -> Arc<[Override]> {
        let now = self.clock.now();
        let stale = {
            let entries = self.lock();
            match entries.get(&account) {
                Some(e) if now - e.fetched_at < self.ttl => return e.overrides.clone(),
                Some(e) => Some(e.overrides.clone()),
                None => None,
            }
        };
        let generation = self.generation.load(Ordering::Acquire);
        let overrides: Arc<[Override]> = match self.store.overrides(account).await {
            Ok(v) => v.into(),
            Err(e) => {
                let n = self.store_failures.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(100) {
                    tracing::warn!(error = %e, failures_total = n + 1, %account,
                        "rate-limit overrides unavailable; keeping the last known ones");
                }
                stale.unwrap_or_else(|| Arc::from(Vec::new()))
            }
        };
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) == generation {
            if entries.len() >= MAX_CACHED_ACCOUNTS {
                entries.retain(|_, e| now - e.fetched_at < self.ttl);
                if entries.len() >= MAX_CACHED_ACCOUNTS {
                    entries.clear();
                }
            }
            entries.insert(
                account,
                Entry {
                    overrides: overrides.clone(),
                    fetched_at: now,
                },
            );
        }
        overrides
    }

    /// Forgets `account`'s entry: the next lookup reads the store.
    pub fn invalidate(&self, account: AccountId) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(&account);
    }
}

fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indox_core::FixedClock;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
    }

    fn ov(scope: OverrideScope, max: u32) -> Override {
        Override {
            scope,
            limit: Limit::new(max, 60_000),
            updated_at: at(0),
        }
    }

    #[test]
    fn rule_ad5_a_capability_override_beats_all_which_beats_the_configuration() {
        let configured = Limit::new(100, 60_000);
        let tts = OverrideScope::Capability(Capability::Tts);
        assert_eq!(resolve(&[], Capability::Tts, configured), configured);
        let both = [ov(OverrideScope::All, 5), ov(tts, 1)];
        assert_eq!(resolve(&both, Capability::Tts, configured).max, 1);
        assert_eq!(resolve(&both, Capability::Stt, configured).max, 5);
        let only_tts = [ov(tts, 1)];
        assert_eq!(resolve(&only_tts, Capability::Stt, configured), configured);
    }

    #[test]
    fn scopes_parse_and_print() {
        assert_eq!("all".parse(), Ok(OverrideScope::All));
        assert_eq!(
            "tts".parse(),
            Ok(OverrideScope::Capability(Capability::Tts))
        );
        assert!("everything".parse::<OverrideScope>().is_err());
        assert_eq!(OverrideScope::All.to_string(), "all");
        assert_eq!(OverrideScope::from_capability(None), OverrideScope::All);
    }

    #[test]
    fn overrides_are_bounded() {
        assert!(validate_override(Limit::new(1, 1)).is_ok());
        assert!(validate_override(Limit::new(0, 1_000)).is_err());
        assert!(validate_override(Limit::new(MAX_OVERRIDE_LIMIT + 1, 1_000)).is_err());
        assert!(validate_override(Limit::new(1, 0)).is_err());
        assert!(validate_override(Limit::new(1, MAX_OVERRIDE_WINDOW_MS + 1)).is_err());
    }

    fn cache(store: MockOverrideStore, clock: Arc<FixedClock>) -> OverrideCache {
        let mut c = OverrideCache::new(Arc::new(store));
        c.set_clock(clock);
        c
    }

    #[tokio::test]
    async fn rule_ad6_a_lookup_within_the_ttl_does_not_read_the_store() {
        let clock = Arc::new(FixedClock::new(at(0)));
        let mut store = MockOverrideStore::new();
        store
            .expect_overrides()
            .times(2)
            .returning(|_| Ok(vec![ov(OverrideScope::All, 3)]));
        let cache = cache(store, clock.clone());
        let acct = AccountId::new();
        assert_eq!(cache.get(acct).await.len(), 1);
        clock.advance(chrono::Duration::milliseconds(4_999));
        assert_eq!(cache.get(acct).await.len(), 1, "still cached");
        clock.advance(chrono::Duration::milliseconds(1));
        assert_eq!(cache.get(acct).await.len(), 1, "read again after 5 s");
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_every_time_and_invalidation_forgets_at_once() {
        let clock = Arc::new(FixedClock::new(at(0)));
        let mut store = MockOverrideStore::new();
        store.expect_overrides().times(3).returning(|_| Ok(vec![]));
        let mut c = cache(store, clock);
        let acct = AccountId::new();
        c.get(acct).await;
        c.invalidate(acct);
        c.get(acct).await;
        c.set_ttl(std::time::Duration::ZERO);
        c.get(acct).await;
    }

    #[tokio::test]
    async fn a_failing_store_keeps_the_last_known_overrides_for_another_ttl() {
        let clock = Arc::new(FixedClock::new(at(0)));
        let mut store = MockOverrideStore::new();
        let mut seq = mockall::Sequence::new();
        store
            .expect_overrides()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![ov(OverrideScope::All, 3)]));
        store
            .expect_overrides()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(RateLimitError::Store("down".into())));
        let cache = cache(store, clock.clone());
        let acct = AccountId::new();
        cache.get(acct).await;
        clock.advance(chrono::Duration::seconds(6));
        let kept = cache.get(acct).await;
        assert_eq!(kept.len(), 1, "the stale overrides stay in force");
        assert_eq!(cache.store_failures(), 1);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(cache.get(acct).await.len(), 1, "no new read within the TTL");
    }
}
