#![doc = include_str!("../README.md")]

pub mod error;
pub mod ports;
pub mod retry;
pub mod status;

pub use error::JobError;
pub use ports::{Task, TaskQueue};
pub use retry::RetryPolicy;
pub use status::JobStatus;
