//! SSRF-safe egress for user-supplied URLs (`audio_url`, `url`, `callback_uri`); docs below.
#![doc = include_str!("../README.md")]

mod client;
mod error;
mod policy;

pub use client::{fetch, post_json, safe_client, ClientConfig, Fetched, SafeResolver};
pub use error::EgressError;
pub use policy::{classify, is_public, Allowlist, Cidr, EgressPolicy, TargetHost, TargetUrl};
