//! The Postgres adapter: every storage port of the gateway on diesel-async (docs below).
#![doc = include_str!("../README.md")]

pub mod error;
pub mod schema;
pub mod store;

mod accounts;
mod analytics;
mod assets;
mod callbacks;
mod idempotency;
mod jobs;
mod ledger;
mod metrics;
mod models;
mod provider_keys;
mod ratelimit;
mod reconcile;
mod resolve;
pub mod signal;
mod tasks;
mod voices;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use assets::MIRROR_LEASE_SECONDS;
pub use error::PgError;
pub use metrics::QueueStats;
pub use signal::PgTaskSignal;
pub use store::{
    connect, migrate, PgConfig, PgStore, DEFAULT_IDEMPOTENCY_LOCK_TIMEOUT, MIGRATIONS,
};
#[cfg(feature = "test-support")]
pub use test_support::TestDatabase;

/// `s` cut to at most `max` characters (never inside a character).
pub(crate) fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_chars;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 10), "abc");
    }
}
