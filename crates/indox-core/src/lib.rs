#![doc = include_str!("../README.md")]

pub mod capability;
pub mod clock;
pub mod ids;

pub use capability::Capability;
pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{AccountId, RequestId};
