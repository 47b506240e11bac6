//! The one error enum of the jobs crate.

use crate::JobStatus;

/// Errors from jobs and the task queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A status change the state machine forbids.
    #[error("a job cannot move from {from} to {to}")]
    InvalidTransition { from: JobStatus, to: JobStatus },
    /// The queue store failed.
    #[error("task queue unavailable: {0}")]
    Store(String),
}
