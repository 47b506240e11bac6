//! The one error enum of the retention crate.

/// Errors from the object store or the asset records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The object store could not be reached or refused the operation.
    #[error("object store unavailable: {0}")]
    StoreUnavailable(String),
    /// No such object or asset.
    #[error("asset not found")]
    NotFound,
    /// The asset existed and was deleted by retention.
    #[error("asset was deleted by retention")]
    Gone,
    /// The asset records failed.
    #[error("asset records unavailable: {0}")]
    Records(String),
}
