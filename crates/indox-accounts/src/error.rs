//! The one error enum of the accounts crate.

/// Everything that can go wrong while authenticating or managing accounts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No `Authorization` header, or not of the form `Bearer <key>`.
    #[error("missing or malformed Authorization header: send `Authorization: Bearer <api key>`")]
    MissingCredentials,
    /// The key is not of the `ixk_<id>_<secret>` form.
    #[error("malformed API key: keys look like `ixk_<id>_<secret>`")]
    MalformedKey,
    /// The key id is unknown or the secret does not match.
    #[error("unknown API key")]
    UnknownKey,
    /// The key exists but was revoked.
    #[error("this API key was revoked")]
    RevokedKey,
    /// The account does not exist.
    #[error("account not found")]
    AccountNotFound,
    /// A top-up amount that is not strictly positive.
    #[error("top-up amount must be greater than zero")]
    NonPositiveAmount,
    /// A provider (Resemble) key, or the secrets key that seals it, is unusable.
    #[error("invalid provider key: {0}")]
    InvalidProviderKey(String),
    /// The storage behind the port failed.
    #[error("account store unavailable: {0}")]
    Store(String),
}
