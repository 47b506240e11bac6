//! The one error enum of the S3 adapter, and its mapping into the retention port's error.

use std::time::Duration;

use indox_retention::RetentionError;

/// Errors from the S3 adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The settings are unusable.
    #[error("invalid s3 configuration: {0}")]
    Config(String),
    /// The request could not be made or its answer not read.
    #[error("s3 {op} failed: {source}")]
    Client {
        op: &'static str,
        #[source]
        source: s3::error::S3Error,
    },
    /// The store answered with an error status.
    #[error("s3 {op} answered HTTP {status}: {body}")]
    Status {
        op: &'static str,
        status: u16,
        body: String,
    },
    /// The store did not answer in time.
    #[error("s3 {op} did not finish within {after:?}")]
    Timeout { op: &'static str, after: Duration },
    /// A presigned URL was asked for a lifetime S3 cannot sign.
    #[error("presigned URL lifetime must be between 1 s and 7 days, got {0} s")]
    InvalidTtl(i64),
}

impl From<S3Error> for RetentionError {
    fn from(e: S3Error) -> Self {
        RetentionError::StoreUnavailable(e.to_string())
    }
}
