//! The driven port: the voice provider upstream (Resemble).

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;
use futures_core::Stream;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

use crate::{Synthesis, SynthesisRequest, UpstreamError, VoicePage};

/// The upstream's view of an async job, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamJob {
    pub id: String,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: String,
    /// The result in the gateway's shape (e.g. `transcript` and `words` for speech-to-text;
    /// `verdict` and `score` for detection); `null` until completed.
    pub result: serde_json::Value,
    pub error: Option<String>,
}

/// The async operations the upstream offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncOp {
    SpeechToText,
    Detect,
    Enhance,
    Edit,
    Intelligence,
    WatermarkApply,
    WatermarkDetect,
    /// Synchronous upstream: answered at once.
    IdentitySearch,
    /// Synchronous upstream: answered at once.
    IdentityEnroll,
}

/// What starting an upstream job gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Running upstream under this id.
    Started(String),
    /// The upstream answered at once (synchronous operations).
    Done(UpstreamJob),
}

/// A stream of audio bytes as they arrive from the upstream.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

/// The voice provider.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait VoiceUpstream: Send + Sync {
    /// One page of the voices the shared key can use.
    async fn list_voices(&self, page: u32, page_size: u32) -> Result<VoicePage, UpstreamError>;

    /// Synthesizes speech in one request.
    ///
    /// # Errors
    /// MUST return [`UpstreamError::NotFound`] for an unknown voice and classify every
    /// other failure; MUST NOT return audio that failed to decode from the transport.
    async fn synthesize(&self, req: &SynthesisRequest) -> Result<Synthesis, UpstreamError>;

    /// Starts a streamed synthesis; the stream yields WAV bytes as they arrive.
    ///
    /// # Errors
    /// Failures before the first byte are returned here; later ones end the stream.
    async fn stream(&self, req: &SynthesisRequest) -> Result<ByteStream, UpstreamError>;

    /// Starts an async job on media at `media_url`; returns the upstream's job id.
    async fn create_job(
        &self,
        op: AsyncOp,
        media_url: &str,
        params: &serde_json::Value,
        callback_url: Option<String>,
    ) -> Result<Created, UpstreamError>;

    /// Reads an async job (authenticated; the source of truth over any webhook payload).
    async fn get_job(&self, op: AsyncOp, id: &str) -> Result<UpstreamJob, UpstreamError>;

    /// The upstream's own usage report, seconds per unit over a date range (inclusive).
    async fn billing_usage(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<BTreeMap<String, Decimal>, UpstreamError>;
}
