#![doc = include_str!("../README.md")]

pub mod auth;
pub mod error;
pub mod key;
pub mod ports;
pub mod provider_key;

pub use auth::{Authenticator, Principal};
pub use error::AccountError;
pub use ports::{Account, AccountPage, AccountRepository, KeySummary, ReferencedTopUp, StoredKey};
