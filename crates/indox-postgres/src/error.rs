//! The crate's own error enum and its mapping into the ports' error types.
//!
//! Diesel and pool errors stop here: at a port boundary they become the port's `Store`
//! (or equivalent) variant carrying a message, never the Diesel type itself.

use indox_accounts::AccountError;
use indox_billing::BillingError;
use indox_idempotency::IdempotencyError;
use indox_jobs::JobError;
use indox_retention::RetentionError;
use indox_voice::VoiceError;

/// Everything that can go wrong in the Postgres adapter itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The configuration cannot be used (for example a zero-sized pool or a bad URL).
    #[error("invalid Postgres configuration: {0}")]
    Config(String),
    /// No pooled connection could be had (pool exhausted, timed out or the server is down).
    #[error("Postgres connection pool: {0}")]
    Pool(String),
    /// A direct connection could not be opened.
    #[error("cannot connect to Postgres: {0}")]
    Connect(String),
    /// A statement failed.
    #[error("Postgres query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying the embedded migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A value cannot be stored (out of the column's range, or refused by a rule).
    #[error("value cannot be stored: {0}")]
    Invalid(String),
    /// A stored row cannot be turned into a domain value.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for PgError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Pool(e.to_string())
    }
}

impl From<diesel::ConnectionError> for PgError {
    fn from(e: diesel::ConnectionError) -> Self {
        Self::Connect(e.to_string())
    }
}

impl From<PgError> for AccountError {
    fn from(e: PgError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<PgError> for BillingError {
    fn from(e: PgError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<PgError> for IdempotencyError {
    fn from(e: PgError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<PgError> for RetentionError {
    fn from(e: PgError) -> Self {
        Self::Records(e.to_string())
    }
}

impl From<PgError> for JobError {
    fn from(e: PgError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<PgError> for VoiceError {
    fn from(e: PgError) -> Self {
        Self::Store(e.to_string())
    }
}

/// Whether a Diesel error is a violation of a unique constraint.
pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The constraint a unique violation broke, when the error is one (and names it).
pub(crate) fn unique_constraint(e: &diesel::result::Error) -> Option<&str> {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) => info.constraint_name(),
        _ => None,
    }
}

/// Whether a Diesel error is a violation of a foreign key.
pub(crate) fn is_foreign_key_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _
        )
    )
}

/// The outcome of a transaction body: a database error (rolls back) or a domain refusal
/// (also rolls back, and is reported as such).
#[derive(Debug)]
pub(crate) enum TxError<E> {
    Db(diesel::result::Error),
    Pg(PgError),
    Domain(E),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

impl<E> From<PgError> for TxError<E> {
    fn from(e: PgError) -> Self {
        Self::Pg(e)
    }
}

impl<E: From<PgError>> TxError<E> {
    /// Collapses into the port's error type.
    pub(crate) fn into_port(self) -> E {
        match self {
            Self::Db(e) => E::from(PgError::Query(e)),
            Self::Pg(e) => E::from(e),
            Self::Domain(e) => e,
        }
    }
}
