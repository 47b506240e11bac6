//! S3 adapter crate: the object store behind `indox_retention::ObjectStore`.
#![doc = include_str!("../README.md")]

pub mod config;
pub mod error;
mod presign;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::S3Config;
pub use error::S3Error;
pub use store::S3Store;
#[cfg(feature = "test-support")]
pub use testing::LocalS3;
