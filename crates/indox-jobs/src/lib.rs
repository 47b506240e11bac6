#![doc = include_str!("../README.md")]

pub mod callbacks;
pub mod error;
pub mod job;
pub mod ports;
pub mod retry;
pub mod runner;
pub mod status;

pub use callbacks::{AccountSecrets, Attempt, CallbackStore, CALLBACK_TASK};
pub use error::JobError;
pub use job::{Finish, Finished, Job, JobKind, JobRepository, NewJob, POLL_TASK, SUBMIT_TASK};
pub use ports::{DeadTask, Task, TaskQueue, TaskSignal};
pub use retry::RetryPolicy;
pub use runner::{Outcome, Runner, TaskFailure, TaskHandler};
pub use status::JobStatus;
