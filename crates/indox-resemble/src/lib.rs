//! The Resemble AI adapter of the IndoxHub Voice Gateway.
#![doc = include_str!("../README.md")]

mod client;
pub mod cloning;
mod config;
pub mod error;
pub mod jobs;
pub mod parse;

pub use client::ResembleClient;
pub use config::{
    ResembleConfig, DEFAULT_APP_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SYNTH_URL, DEFAULT_TIMEOUT,
};
pub use error::ResembleError;
