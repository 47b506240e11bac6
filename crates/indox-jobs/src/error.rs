//! The one error enum of the jobs crate.

use crate::JobStatus;

/// Errors from jobs and the task queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A status change the state machine forbids.
    #[error("a job cannot move from {from} to {to}")]
    InvalidTransition { from: JobStatus, to: JobStatus },
    /// The account cannot cover the job's hold.
    #[error("insufficient balance: {required} needed, {available} available")]
    InsufficientFunds {
        required: rust_decimal::Decimal,
        available: rust_decimal::Decimal,
    },
    /// The job store refused the charge (already billed, hold not open).
    #[error("billing refused: {0}")]
    Billing(String),
    /// The queue store failed.
    #[error("task queue unavailable: {0}")]
    Store(String),
    /// The connection broke while the job was being recorded, and the store could not be
    /// reached again in time to find out whether it was: job `job_id` may exist.
    #[error("the outcome of recording job {job_id} is unknown: the job store could not be reached to confirm it")]
    OutcomeUnknown { job_id: uuid::Uuid },
}
