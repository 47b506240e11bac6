#![doc = include_str!("../README.md")]

pub mod app;
pub mod config;
pub mod http;
pub mod metrics;
pub mod telemetry;
pub mod wiring;

pub use config::Settings;
pub use wiring::{Application, Shutdown};
