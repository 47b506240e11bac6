//! Commits whose answer was lost. When the connection breaks while a commit is on its way,
//! Postgres may have committed it (the answer was lost) or not (the statement never arrived):
//! the caller must not be told "nothing was charged". Such a commit is sent again with the
//! same ids: the primary key of the usage row (or of the job) fences it, so a second copy can
//! never commit beside the first (a retry that meets the first copy waits for it on the unique
//! index, then fails with a unique violation), and when a retry is refused the row is looked
//! up by its id. It is retried until one attempt is definitive or [`RESOLVE_FOR`] has passed;
//! past that the outcome is reported as unknown, never as a failure.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error};
use tokio::time::Instant;

use crate::error::TxError;
use crate::PgError;

/// How long a commit whose answer was lost is retried before its outcome is reported unknown.
pub(crate) const RESOLVE_FOR: Duration = Duration::from_secs(15);

/// The first and the longest wait between attempts.
const FIRST_WAIT: Duration = Duration::from_millis(50);
const LONGEST_WAIT: Duration = Duration::from_secs(1);

/// Whether a failed statement may nevertheless have run: the connection broke (no answer
/// came back), as opposed to Postgres answering with an error.
pub(crate) fn outcome_unknown(e: &Error) -> bool {
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        )
        | Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { commit_error, .. } => outcome_unknown(commit_error),
        _ => false,
    }
}

impl<E> TxError<E> {
    /// The statement may have run: the connection broke before its answer.
    pub(crate) fn outcome_unknown(&self) -> bool {
        match self {
            Self::Db(e) | Self::Pg(PgError::Query(e)) => outcome_unknown(e),
            _ => false,
        }
    }

    /// Worth another attempt while resolving: the outcome is unknown, or no connection could
    /// be had (the store is still unreachable).
    pub(crate) fn retryable(&self) -> bool {
        self.outcome_unknown() || matches!(self, Self::Pg(PgError::Pool(_) | PgError::Connect(_)))
    }
}

/// Paces the attempts of one resolution: 50 ms, doubling up to 1 s, until [`RESOLVE_FOR`].
pub(crate) struct Attempts {
    deadline: Instant,
    wait: Duration,
}

impl Attempts {
    pub(crate) fn start() -> Self {
        Self {
            deadline: Instant::now() + RESOLVE_FOR,
            wait: FIRST_WAIT,
        }
    }

    /// Waits before the next attempt; `false` once the time is up.
    pub(crate) async fn next(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.wait.min(self.deadline - now)).await;
        self.wait = (self.wait * 2).min(LONGEST_WAIT);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_connection_leaves_the_outcome_unknown() {
        let broken = Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        );
        assert!(outcome_unknown(&broken));
        assert!(outcome_unknown(&Error::BrokenTransactionManager));
        let refused = Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_owned()),
        );
        assert!(!outcome_unknown(&refused));
        assert!(!outcome_unknown(&Error::NotFound));
        let commit = Error::RollbackErrorOnCommit {
            rollback_error: Box::new(Error::BrokenTransactionManager),
            commit_error: Box::new(refused),
        };
        assert!(!outcome_unknown(&commit), "Postgres answered the commit");
        let tx: TxError<()> = TxError::Pg(PgError::Pool("refused".into()));
        assert!(tx.retryable() && !tx.outcome_unknown());
    }
}
