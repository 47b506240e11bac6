//! The one error enum of the Redis adapter, and its mapping into the rate-limit port's error.

use std::time::Duration;

use indox_ratelimit::RateLimitError;

/// Errors from the Redis rate-limit store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The settings are unusable (bad URL, zero pool size, zero timeout).
    #[error("invalid redis configuration: {0}")]
    Config(String),
    /// No pooled connection could be had (connect failed, pool exhausted).
    #[error("redis pool: {0}")]
    Pool(String),
    /// Redis answered a command with an error, or the connection broke.
    #[error("redis command failed: {0}")]
    Command(String),
    /// The script answered something the adapter does not understand.
    #[error("unexpected redis reply: {0}")]
    Reply(String),
    /// The call did not finish in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<RedisError> for RateLimitError {
    fn from(e: RedisError) -> Self {
        RateLimitError::Store(e.to_string())
    }
}
