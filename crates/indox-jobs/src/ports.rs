//! The driven port: a durable task queue.

use async_trait::async_trait;
use chrono::Duration;

use crate::JobError;

/// A claimed task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Attempts before this one.
    pub attempts: u32,
}

/// A durable queue of background tasks.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Adds a task that runs at once.
    async fn enqueue(&self, kind: &str, payload: serde_json::Value) -> Result<i64, JobError>;

    /// Adds a task of `kind` unless one is already queued or running (for periodic work
    /// that needs only one pending run); `true` when it added one.
    async fn enqueue_if_absent(&self, kind: &str) -> Result<bool, JobError>;

    /// Claims the next due task of one of `kinds` for `lease`, skipping tasks other
    /// processes hold. A claimed task that is neither completed nor failed before the
    /// lease ends becomes claimable again (its holder is presumed dead).
    async fn claim(&self, kinds: &[String], lease: Duration) -> Result<Option<Task>, JobError>;

    /// Removes a finished task.
    async fn complete(&self, id: i64) -> Result<(), JobError>;

    /// Records a failure; `retry_in = None` moves the task to the dead state.
    async fn fail(&self, id: i64, error: &str, retry_in: Option<Duration>) -> Result<(), JobError>;

    /// The dead tasks, newest first, at most `limit`.
    async fn dead(&self, limit: i64) -> Result<Vec<DeadTask>, JobError>;

    /// Puts a dead task back in the queue to run at once with a fresh attempt count;
    /// `false` when there is no dead task with this id.
    async fn retry_dead(&self, id: i64) -> Result<bool, JobError>;
}

/// A task that used up its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadTask {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Wakes the runner when a task is enqueued (Postgres `LISTEN/NOTIFY`), so it need not
/// poll fast.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TaskSignal: Send + Sync {
    /// Returns when a task may be waiting, or after `timeout`, whichever comes first.
    async fn wait(&self, timeout: std::time::Duration);
}
