#![doc = include_str!("../README.md")]

pub mod class;
pub mod error;
pub mod model;
pub mod ports;

pub use class::AssetClass;
pub use error::RetentionError;
pub use model::{object_key, presign_ttl, Mirror, NewAsset, StoredAsset};
pub use ports::{AssetRepository, ObjectStore};
