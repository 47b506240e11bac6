//! Redis adapter crate: the shared rate-limit store behind `indox_ratelimit::RateLimitStore`.
#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
mod script;
pub mod store;

pub use config::RedisConfig;
pub use error::RedisError;
pub use store::RedisRateLimitStore;
