//! The task runner: claims tasks from the queue, dispatches them to their handlers by kind,
//! and applies the retry policy (bounded, jittered) or moves them to the dead state.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use futures_util::FutureExt as _;

use crate::{JobError, RetryPolicy, Task, TaskQueue, TaskSignal};

/// Why a task did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskFailure {
    /// Worth another attempt later (a dependency was down, a timeout).
    Retry(String),
    /// Will never succeed (a malformed payload): dead at once.
    Permanent(String),
}

/// Runs one kind of task. Handlers must be idempotent: a task can run more than once
/// (a process can die after the work and before the queue hears of it).
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Does the work.
    async fn handle(&self, task: &Task) -> Result<(), TaskFailure>;
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The queue had nothing due.
    Idle,
    /// The task succeeded and left the queue.
    Done { id: i64 },
    /// The task failed and runs again after the delay.
    Retrying { id: i64, after: Duration },
    /// The task is dead (attempts used up, permanent failure, panic budget, no handler).
    Dead { id: i64 },
}

/// Dispatches tasks to handlers.
pub struct Runner {
    queue: Arc<dyn TaskQueue>,
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
    kinds: Vec<String>,
    policy: RetryPolicy,
    lease: Duration,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("kinds", &self.kinds)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner over `queue`; tasks are leased for `lease` while they run.
    pub fn new(queue: Arc<dyn TaskQueue>, policy: RetryPolicy, lease: Duration) -> Self {
        Self {
            queue,
            handlers: HashMap::new(),
            kinds: Vec::new(),
            policy,
            lease,
        }
    }

    /// Registers the handler of one kind.
    pub fn register(mut self, kind: &str, handler: Arc<dyn TaskHandler>) -> Self {
        if self.handlers.insert(kind.to_owned(), handler).is_none() {
            self.kinds.push(kind.to_owned());
        }
        self
    }

    /// Claims and runs one task. `unit_random` (uniform in `0..1`) jitters a retry delay.
    ///
    /// # Errors
    /// When the queue itself fails (the task, if claimed, comes back when its lease ends).
    pub async fn run_once(&self, unit_random: f64) -> Result<Outcome, JobError> {
        let Some(task) = self.queue.claim(&self.kinds, self.lease).await? else {
            return Ok(Outcome::Idle);
        };
        let result = match self.handlers.get(&task.kind) {
            Some(h) => AssertUnwindSafe(h.handle(&task))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(TaskFailure::Retry("the handler panicked".into()))),
            None => Err(TaskFailure::Permanent(format!(
                "no handler for task kind `{}`",
                task.kind
            ))),
        };
        match result {
            Ok(()) => {
                self.queue.complete(task.id).await?;
                Ok(Outcome::Done { id: task.id })
            }
            Err(TaskFailure::Retry(error)) => {
                // `attempts` counts the attempts before this one.
                let delay = self.policy.delay(task.attempts + 1, unit_random);
                self.queue.fail(task.id, &error, delay).await?;
                Ok(match delay {
                    Some(after) => Outcome::Retrying { id: task.id, after },
                    None => Outcome::Dead { id: task.id },
                })
            }
            Err(TaskFailure::Permanent(error)) => {
                self.queue.fail(task.id, &error, None).await?;
                Ok(Outcome::Dead { id: task.id })
            }
        }
    }

    /// Runs tasks until none is due, then waits for a signal (or `idle_poll`), forever.
    pub async fn run(self, signal: Arc<dyn TaskSignal>, idle_poll: std::time::Duration) {
        self.run_until(signal, idle_poll, Arc::new(AtomicBool::new(false)))
            .await;
    }

    /// As [`Runner::run`], until `stop` is set: the task in hand finishes, no new one is
    /// claimed, and queued work is left for other processes (graceful shutdown).
    pub async fn run_until(
        self,
        signal: Arc<dyn TaskSignal>,
        idle_poll: std::time::Duration,
        stop: Arc<AtomicBool>,
    ) {
        while !stop.load(Ordering::Acquire) {
            match self.run_once(rand::random::<f64>()).await {
                Ok(Outcome::Idle) => signal.wait(idle_poll).await,
                Ok(Outcome::Dead { id }) => tracing::error!(
                    task = id,
                    "a task is dead; list and retry dead tasks to run it again"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the task queue failed; retrying shortly");
                    signal.wait(idle_poll).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockTaskQueue;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting(AtomicU32, Result<(), TaskFailure>);

    #[async_trait]
    impl TaskHandler for Counting {
        async fn handle(&self, _task: &Task) -> Result<(), TaskFailure> {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.clone()
        }
    }

    struct Panicking;

    #[async_trait]
    impl TaskHandler for Panicking {
        async fn handle(&self, _task: &Task) -> Result<(), TaskFailure> {
            panic!("boom")
        }
    }

    fn task(kind: &str, attempts: u32) -> Task {
        Task {
            id: 7,
            kind: kind.into(),
            payload: serde_json::json!({}),
            attempts,
        }
    }

    fn queue_with(t: Option<Task>) -> MockTaskQueue {
        let mut q = MockTaskQueue::new();
        q.expect_claim()
            .times(1)
            .returning(move |_, _| Ok(t.clone()));
        q
    }

    /// Stops the runner when it claims a task (a shutdown arriving mid-task).
    struct StopWhenRun(Arc<AtomicBool>, AtomicU32);

    #[async_trait]
    impl TaskHandler for StopWhenRun {
        async fn handle(&self, _task: &Task) -> Result<(), TaskFailure> {
            self.0.store(true, Ordering::Release);
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stopped_runner_finishes_its_task_and_claims_no_more() {
        // Exactly one claim: the task in hand completes, then the loop ends without
        // claiming again (queued work stays for other processes).
        let mut q = queue_with(Some(task("a", 0)));
        q.expect_complete().times(1).returning(|_| Ok(()));
        let stop = Arc::new(AtomicBool::new(false));
        let h = Arc::new(StopWhenRun(stop.clone(), AtomicU32::new(0)));
        let r = Runner::new(Arc::new(q), RetryPolicy::default(), Duration::seconds(30))
            .register("a", h.clone());
        let mut signal = crate::ports::MockTaskSignal::new();
        signal.expect_wait().returning(|_| ());
        r.run_until(Arc::new(signal), std::time::Duration::from_millis(1), stop)
            .await;
        assert_eq!(h.1.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn success_completes_the_task() {
        let mut q = queue_with(Some(task("a", 0)));
        q.expect_complete()
            .withf(|id| *id == 7)
            .times(1)
            .returning(|_| Ok(()));
        let h = Arc::new(Counting(AtomicU32::new(0), Ok(())));
        let r = Runner::new(Arc::new(q), RetryPolicy::default(), Duration::seconds(30))
            .register("a", h.clone());
        assert_eq!(r.run_once(0.5).await.unwrap(), Outcome::Done { id: 7 });
        assert_eq!(h.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retryable_failures_back_off_then_die() {
        let policy = RetryPolicy::default();
        let mut q = queue_with(Some(task("a", 0)));
        q.expect_fail()
            .withf(|id, e, d| *id == 7 && e == "down" && *d == Some(Duration::seconds(2)))
            .times(1)
            .returning(|_, _, _| Ok(()));
        let h = Arc::new(Counting(
            AtomicU32::new(0),
            Err(TaskFailure::Retry("down".into())),
        ));
        let r = Runner::new(Arc::new(q), policy, Duration::seconds(30)).register("a", h.clone());
        assert_eq!(
            r.run_once(0.5).await.unwrap(),
            Outcome::Retrying {
                id: 7,
                after: Duration::seconds(2)
            }
        );

        // The last allowed attempt fails: dead.
        let mut q = queue_with(Some(task("a", policy.max_attempts - 1)));
        q.expect_fail()
            .withf(|_, _, d| d.is_none())
            .times(1)
            .returning(|_, _, _| Ok(()));
        let r = Runner::new(Arc::new(q), policy, Duration::seconds(30)).register("a", h);
        assert_eq!(r.run_once(0.5).await.unwrap(), Outcome::Dead { id: 7 });
    }

    #[tokio::test]
    async fn permanent_failures_unknown_kinds_and_panics() {
        let mut q = queue_with(Some(task("a", 0)));
        q.expect_fail()
            .withf(|_, e, d| e == "bad payload" && d.is_none())
            .times(1)
            .returning(|_, _, _| Ok(()));
        let h = Arc::new(Counting(
            AtomicU32::new(0),
            Err(TaskFailure::Permanent("bad payload".into())),
        ));
        let r = Runner::new(Arc::new(q), RetryPolicy::default(), Duration::seconds(30))
            .register("a", h);
        assert_eq!(r.run_once(0.5).await.unwrap(), Outcome::Dead { id: 7 });

        let mut q = queue_with(Some(task("zzz", 0)));
        q.expect_fail()
            .withf(|_, e, d| e.contains("no handler") && d.is_none())
            .times(1)
            .returning(|_, _, _| Ok(()));
        let r = Runner::new(Arc::new(q), RetryPolicy::default(), Duration::seconds(30));
        assert_eq!(r.run_once(0.5).await.unwrap(), Outcome::Dead { id: 7 });

        let mut q = queue_with(Some(task("p", 0)));
        q.expect_fail()
            .withf(|_, e, d| e.contains("panicked") && d.is_some())
            .times(1)
            .returning(|_, _, _| Ok(()));
        let r = Runner::new(Arc::new(q), RetryPolicy::default(), Duration::seconds(30))
            .register("p", Arc::new(Panicking));
        assert!(matches!(
            r.run_once(0.5).await.unwrap(),
            Outcome::Retrying { .. }
        ));
    }

    #[tokio::test]
    async fn an_empty_queue_is_idle() {
        let q = queue_with(None);
        let r = Runner::new(Arc::new(q), RetryPolicy::default(), Duration::seconds(30));
        assert_eq!(r.run_once(0.5).await.unwrap(), Outcome::Idle);
    }
}
