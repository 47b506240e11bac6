//! The one error enum of the rate-limit crate.

/// Errors from rate limiting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitError {
    /// A limit specification could not be parsed.
    #[error("invalid rate-limit spec `{spec}`: {reason}")]
    InvalidSpec { spec: String, reason: String },
    /// The shared store failed.
    #[error("rate-limit store unavailable: {0}")]
    Store(String),
    /// An override was set for an account that does not exist.
    #[error("no such account")]
    UnknownAccount,
}
