//! The one error type of the crate.

/// Everything that can go wrong while handling webhook secrets and signatures.
///
/// No variant ever carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A required header is absent or empty; the payload names the header.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but malformed.
    #[error("invalid header `{header}`: {reason}")]
    InvalidHeader {
        /// The header name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No signature in the header matched any of the secrets.
    #[error("no valid signature")]
    NoValidSignature,
    /// The signed timestamp is older than the tolerance allows (possible replay).
    #[error("timestamp too old")]
    TooOld,
    /// The signed timestamp is further in the future than the tolerance allows.
    #[error("timestamp too new")]
    TooNew,
    /// A webhook secret could not be parsed or built.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(&'static str),
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
}
