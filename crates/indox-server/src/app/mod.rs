//! Application services: the use cases handlers call, written against the domain ports only.

pub mod admin;
pub mod analytics;
pub mod assets;
pub mod byok;
pub mod callbacks;
pub mod cloning;
pub mod jobs;
pub mod maintenance;
pub mod mirror;
pub mod probe;
pub mod reconcile;
pub mod retention;
pub mod state;
pub mod stream;
pub mod tts;
pub mod uploads;
pub mod webhook;

pub use probe::Probe;
pub use state::AppState;
