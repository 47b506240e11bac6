#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
pub mod limiter;
pub mod local;
pub mod overrides;
pub mod ports;
pub mod window;

pub use config::{Limit, LimitConfig};
pub use error::RateLimitError;
pub use limiter::{Admission, RateLimiter};
pub use local::LocalStore;
pub use overrides::{NoOverrides, Override, OverrideCache, OverrideScope, OverrideStore};
pub use ports::{RateLimitStore, WindowCheck};
pub use window::Decision;
