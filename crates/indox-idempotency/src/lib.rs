#![doc = include_str!("../README.md")]

pub mod error;
pub mod model;
pub mod ports;

pub use error::IdempotencyError;
pub use model::{
    decide, BeginOutcome, Decision, Existing, Fingerprint, IdempotencyKey, KeyState, StoredResponse,
};
pub use ports::IdempotencyStore;
