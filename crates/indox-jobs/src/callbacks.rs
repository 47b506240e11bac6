//! Callbacks to users' servers: the per-account signing secrets and the record of every
//! delivery attempt (the delivery itself is a task, `callback.deliver`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_core::AccountId;
use uuid::Uuid;

use crate::JobError;

/// The task that delivers one callback attempt.
pub const CALLBACK_TASK: &str = "callback.deliver";

/// An account's signing secrets (`whsec_…`): the current one, and the previous one while it
/// is still honoured after a rotation.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountSecrets {
    pub current: String,
    pub previous: Option<String>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for AccountSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSecrets")
            .field("rotated_at", &self.rotated_at)
            .finish_non_exhaustive()
    }
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub event_id: String,
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    pub at: DateTime<Utc>,
}

/// Storage of callback secrets and attempts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CallbackStore: Send + Sync {
    /// The account's secrets, creating the first one with `generate` when there is none.
    async fn secrets(
        &self,
        account: AccountId,
        generated: String,
    ) -> Result<AccountSecrets, JobError>;

    /// Replaces the current secret with `new`; the old one stays valid for a day.
    async fn rotate(&self, account: AccountId, new: String) -> Result<AccountSecrets, JobError>;

    /// Records one attempt and, when `next_in` is given, enqueues the next one.
    async fn record_attempt(
        &self,
        job: Uuid,
        attempt: Attempt,
        next_in: Option<chrono::Duration>,
    ) -> Result<(), JobError>;

    /// Every attempt for a job, oldest first.
    async fn attempts(&self, job: Uuid) -> Result<Vec<Attempt>, JobError>;
}
