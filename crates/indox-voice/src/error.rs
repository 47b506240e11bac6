//! The one error enum of the voice crate, and the classified upstream failure.

use std::time::Duration;

/// A classified failure of the upstream provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The upstream refused the request as invalid (its message is passed on).
    #[error("upstream rejected the request: {0}")]
    BadRequest(String),
    /// The upstream says the resource (voice, job) does not exist.
    #[error("upstream resource not found: {0}")]
    NotFound(String),
    /// The upstream refused our credentials or plan.
    #[error("upstream refused our credentials or plan ({status})")]
    Unauthorized { status: u16 },
    /// The upstream is rate limiting the shared key.
    #[error("upstream is rate limiting")]
    RateLimited { retry_after: Option<Duration> },
    /// The upstream answered 5xx.
    #[error("upstream unavailable ({status})")]
    Unavailable { status: u16 },
    /// No answer in time.
    #[error("upstream timed out")]
    Timeout,
    /// Could not connect.
    #[error("could not reach upstream: {0}")]
    Connect(String),
    /// The answer could not be understood.
    #[error("unexpected upstream answer: {0}")]
    Protocol(String),
}

/// Errors of the voice domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    /// A field is missing or invalid; `field` names it and the message says how to fix it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The request conflicts with the resource's state (the message says what to do first).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("voice store failure: {0}")]
    Store(String),
    /// The upstream failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl VoiceError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}
