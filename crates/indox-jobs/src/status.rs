//! The job status state machine shared by every async capability.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::JobError;

/// The status of an async job, as the product page names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl JobStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses [`JobStatus::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Processing,
            Self::Completed,
            Self::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// Whether `self → next` is allowed. Staying put is allowed (idempotent updates).
    pub fn can_move_to(self, next: JobStatus) -> bool {
        use JobStatus::*;
        self == next
            || matches!(
                (self, next),
                (Pending, Processing)
                    | (Pending, Completed)
                    | (Pending, Failed)
                    | (Processing, Completed)
                    | (Processing, Failed)
            )
    }

    /// Checks a transition.
    ///
    /// # Errors
    /// [`JobError::InvalidTransition`] when [`JobStatus::can_move_to`] says no.
    pub fn transition(self, next: JobStatus) -> Result<JobStatus, JobError> {
        if self.can_move_to(next) {
            Ok(next)
        } else {
            Err(JobError::InvalidTransition {
                from: self,
                to: next,
            })
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    #[test]
    fn finished_jobs_never_change() {
        for end in [Completed, Failed] {
            for next in [Pending, Processing, Completed, Failed] {
                assert_eq!(end.can_move_to(next), end == next, "{end} -> {next}");
            }
        }
        assert!(Processing.transition(Pending).is_err());
        assert_eq!(Pending.transition(Processing).unwrap(), Processing);
        assert_eq!(JobStatus::parse("completed"), Some(Completed));
        assert_eq!(JobStatus::parse("done"), None);
    }
}
