//! The one error enum of the idempotency crate.

/// Errors from idempotency handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyError {
    /// The header value is empty, too long or has characters outside visible ASCII.
    #[error("invalid Idempotency-Key: use 1 to 255 visible ASCII characters")]
    InvalidKey,
    /// The store failed.
    #[error("idempotency store unavailable: {0}")]
    Store(String),
}
