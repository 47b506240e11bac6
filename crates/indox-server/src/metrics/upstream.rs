//! `InstrumentedUpstream`: a decorator of the upstream ports (`VoiceUpstream`,
//! `CloningUpstream`) that times every call into `indox_upstream_request_duration_seconds`,
//! wraps it in a child span, and adds its time to the current request's upstream total (from
//! which the gateway overhead is computed).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::NaiveDate;
use indox_voice::cloning::{
    CloningUpstream, NewUpstreamVoice, RecordingUpload, UpstreamDesign, UpstreamRecording,
    UpstreamVoice,
};
use indox_voice::{
    AsyncOp, ByteStream, Created, Synthesis, SynthesisRequest, UpstreamError, UpstreamJob,
    VoicePage, VoiceUpstream,
};
use rust_decimal::Decimal;
use tracing::field::Empty;
use tracing::Instrument as _;

use super::Metrics;

/// Times and traces every call to `inner`.
pub struct InstrumentedUpstream<U: ?Sized> {
    inner: Arc<U>,
    metrics: Arc<Metrics>,
}

impl<U: ?Sized> std::fmt::Debug for InstrumentedUpstream<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedUpstream")
            .finish_non_exhaustive()
    }
}

impl<U: ?Sized> InstrumentedUpstream<U> {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: Arc<U>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, UpstreamError>>,
    ) -> Result<T, UpstreamError> {
        let span = tracing::info_span!(
            "upstream",
            otel.name = %format_args!("resemble {operation}"),
            otel.kind = "client",
            otel.status_code = Empty,
            upstream.operation = operation,
            upstream.outcome = Empty,
        );
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let outcome = outcome(&result);
        span.record("upstream.outcome", outcome);
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        self.metrics.record_upstream(operation, outcome, elapsed);
        crate::telemetry::add_upstream_time(elapsed);
        result
    }
}

/// The `outcome` label: `ok` or the class of the failure.
fn outcome<T>(result: &Result<T, UpstreamError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(UpstreamError::BadRequest(_)) => "bad_request",
        Err(UpstreamError::NotFound(_)) => "not_found",
        Err(UpstreamError::Unauthorized { .. }) => "unauthorized",
        Err(UpstreamError::RateLimited { .. }) => "rate_limited",
        Err(UpstreamError::Unavailable { .. }) => "unavailable",
        Err(UpstreamError::Timeout) => "timeout",
        Err(UpstreamError::Connect(_)) => "connect",
        Err(UpstreamError::Protocol(_)) => "protocol",
        Err(_) => "error",
    }
}

#[async_trait]
impl<U: VoiceUpstream + ?Sized> VoiceUpstream for InstrumentedUpstream<U> {
    async fn list_voices(&self, page: u32, page_size: u32) -> Result<VoicePage, UpstreamError> {
        self.timed("list_voices", self.inner.list_voices(page, page_size))
            .await
    }

    async fn synthesize(&self, req: &SynthesisRequest) -> Result<Synthesis, UpstreamError> {
        self.timed("synthesize", self.inner.synthesize(req)).await
    }

    async fn stream(&self, req: &SynthesisRequest) -> Result<ByteStream, UpstreamError> {
        self.timed("stream", self.inner.stream(req)).await
    }

    async fn create_job(
        &self,
        op: AsyncOp,
        media_url: &str,
        params: &serde_json::Value,
        callback_url: Option<String>,
    ) -> Result<Created, UpstreamError> {
        self.timed(
            "create_job",
            self.inner.create_job(op, media_url, params, callback_url),
        )
        .await
    }

    async fn get_job(&self, op: AsyncOp, id: &str) -> Result<UpstreamJob, UpstreamError> {
        self.timed("get_job", self.inner.get_job(op, id)).await
    }

    async fn billing_usage(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<BTreeMap<String, Decimal>, UpstreamError> {
        self.timed("billing_usage", self.inner.billing_usage(start, end))
            .await
    }
}

#[async_trait]
impl<U: CloningUpstream + ?Sized> CloningUpstream for InstrumentedUpstream<U> {
    async fn create_voice(&self, voice: &NewUpstreamVoice) -> Result<UpstreamVoice, UpstreamError> {
        self.timed("create_voice", self.inner.create_voice(voice))
            .await
    }

    async fn get_voice(&self, uuid: &str) -> Result<UpstreamVoice, UpstreamError> {
        self.timed("get_voice", self.inner.get_voice(uuid)).await
    }

    async fn delete_voice(&self, uuid: &str) -> Result<(), UpstreamError> {
        self.timed("delete_voice", self.inner.delete_voice(uuid))
            .await
    }

    async fn add_recording(
        &self,
        voice_uuid: &str,
        recording: &RecordingUpload,
    ) -> Result<UpstreamRecording, UpstreamError> {
        self.timed(
            "add_recording",
            self.inner.add_recording(voice_uuid, recording),
        )
        .await
    }

    async fn build_voice(&self, uuid: &str) -> Result<(), UpstreamError> {
        self.timed("build_voice", self.inner.build_voice(uuid))
            .await
    }

    async fn design(&self, prompt: &str) -> Result<UpstreamDesign, UpstreamError> {
        self.timed("design", self.inner.design(prompt)).await
    }

    async fn voice_from_design(
        &self,
        design_uuid: &str,
        index: u32,
        name: &str,
    ) -> Result<String, UpstreamError> {
        self.timed(
            "voice_from_design",
            self.inner.voice_from_design(design_uuid, index, name),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_name_the_failure_class() {
        assert_eq!(outcome::<()>(&Ok(())), "ok");
        assert_eq!(
            outcome::<()>(&Err(UpstreamError::NotFound("v".into()))),
            "not_found"
        );
        assert_eq!(outcome::<()>(&Err(UpstreamError::Timeout)), "timeout");
    }
}
