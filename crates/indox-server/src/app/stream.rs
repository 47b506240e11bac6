//! Streaming TTS: bytes go to the client as the upstream sends them; what was actually
//! streamed is measured, mirrored and billed once the stream ends (or the client leaves).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use indox_accounts::Principal;
use indox_audio::{AudioFormat, WavStreamMeter};
use indox_billing::{estimate_tts_millis, quantity_from_millis, CommitRequest, HoldId, NewCharge};
use indox_core::{Capability, RequestId};
use indox_ratelimit::limiter::Admission;
use indox_retention::AssetClass;
use indox_voice::{ByteStream, SynthesisRequest, UpstreamError};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::assets;
use super::tts::{admit, parse_body};
use super::AppState;
use crate::http::ApiError;

/// A started stream: the body to send and the ids the client can look up afterwards.
pub struct StartedStream {
    pub body: MeteredStream,
    pub usage_id: Uuid,
    pub admission: Admission,
}

/// What the metered stream saw, sent to the finaliser when it ends.
struct Streamed {
    bytes: Bytes,
    meter: WavStreamMeter,
    upstream_error: Option<UpstreamError>,
}

/// Forwards upstream chunks unchanged while measuring and keeping them; on end or drop it
/// hands everything to the finaliser exactly once.
pub struct MeteredStream {
    inner: ByteStream,
    meter: WavStreamMeter,
    kept: BytesMut,
    done: Option<oneshot::Sender<Streamed>>,
    error: Option<UpstreamError>,
}

impl MeteredStream {
    fn finish(&mut self) {
        if let Some(tx) = self.done.take() {
            let streamed = Streamed {
                bytes: std::mem::take(&mut self.kept).freeze(),
                meter: std::mem::take(&mut self.meter),
                upstream_error: self.error.take(),
            };
            // The finaliser only goes away when the runtime shuts down.
            let _ = tx.send(streamed);
        }
    }
}

impl Stream for MeteredStream {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done.is_none() {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                // A chunk that breaks the WAV structure is still forwarded; billing then
                // uses what had been measured up to it.
                if let Err(e) = self.meter.feed(&chunk) {
                    tracing::warn!(error = %e, "streamed audio stopped parsing as WAV");
                }
                self.kept.extend_from_slice(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.error = Some(e.clone());
                self.finish();
                Poll::Ready(Some(Err(actix_web::error::ErrorBadGateway(e.to_string()))))
            }
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        // The client went away mid-stream: bill what was sent so far.
        self.finish();
    }
}

/// `POST /tts/stream`: validates, rate-limits, holds the estimated cost, opens the upstream
/// stream, and spawns the finaliser that settles the hold on what was actually streamed.
pub async fn start(
    state: &AppState,
    caller: &Principal,
    request_id: RequestId,
    body: &[u8],
) -> Result<StartedStream, ApiError> {
    let (raw, _) = parse_body(body)?;
    let req = SynthesisRequest::validate(raw, true)?;
    let admission = admit(state, caller, Capability::TtsStream).await?;
    let account = &caller.account;
    super::cloning::check_voice_use(state, caller, &req.voice_uuid).await?;
    let estimate = quantity_from_millis(estimate_tts_millis(req.text.chars().count()));
    let upstream = super::byok::upstreams(state, account).await?.voice;
    let estimated = state.billing.quote(
        Capability::TtsStream,
        estimate,
        super::byok::pricing(account),
    )?;
    let hold = state
        .billing
        .ledger()
        .place_hold(account.id, estimated.charged, request_id)
        .await?;

    let inner = match upstream.stream(&req).await {
        Ok(s) => s,
        Err(e) => {
            release(state, hold).await;
            return Err(e.into());
        }
    };
    let (tx, rx) = oneshot::channel();
    let usage_id = Uuid::now_v7();
    let finaliser = Finaliser {
        state: state.clone(),
        caller: caller.clone(),
        request_id,
        usage_id,
        hold,
    };
    tokio::spawn(async move {
        match rx.await {
            Ok(streamed) => finaliser.run(streamed).await,
            Err(_) => release(&finaliser.state, finaliser.hold).await,
        }
    });
    let body = MeteredStream {
        inner,
        meter: WavStreamMeter::new(),
        kept: BytesMut::new(),
        done: Some(tx),
        error: None,
    };
    Ok(StartedStream {
        body,
        usage_id,
        admission,
    })
}

async fn release(state: &AppState, hold: HoldId) {
    if let Err(e) = state.billing.ledger().release_hold(hold).await {
        tracing::error!(error = %e, hold = %hold.0, "could not release a hold");
    }
}

struct Finaliser {
    state: AppState,
    caller: Principal,
    request_id: RequestId,
    usage_id: Uuid,
    hold: HoldId,
}

impl Finaliser {
    async fn run(self, streamed: Streamed) {
        if let Some(e) = &streamed.upstream_error {
            tracing::warn!(error = %e, request_id = %self.request_id, "upstream stream ended with an error; billing what was streamed");
        }
        let info = match streamed.meter.info() {
            Some(info) if info.frames > 0 => info,
            _ => {
                // No audio reached the client: nothing to bill.
                release(&self.state, self.hold).await;
                return;
            }
        };
        let account = &self.caller.account;
        let quantity = quantity_from_millis(info.duration_millis_ceil());
        let quote = match self.state.billing.quote(
            Capability::TtsStream,
            quantity,
            super::byok::pricing(account),
        ) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "could not price a finished stream");
                release(&self.state, self.hold).await;
                return;
            }
        };
        let now = self.state.clock.now();
        let prepared = assets::prepare(
            &self.state,
            account.id,
            AssetClass::TtsOutput,
            streamed.bytes,
            AudioFormat::Wav,
            &info,
            now,
            None,
        )
        .await;
        let stored = assets::mirror_first(&self.state, prepared).await;
        let charge = NewCharge {
            usage_id: self.usage_id,
            account: account.id,
            request_id: self.request_id,
            job_id: None,
            quote,
            upstream_quantity: None,
            asset_id: Some(stored.asset.id),
        };
        let commit = CommitRequest {
            charge,
            hold: Some(self.hold),
            asset: Some(stored.asset),
            idempotency: None,
        };
        // The client already has the audio, so the charge must land: retry a failing store
        // a few times before giving up loudly (the hold then stays open for the operator).
        let mut commit = Some(commit);
        for attempt in 1..=5u32 {
            let Some(c) = commit.take() else { break };
            let retry = CommitRequest {
                charge: c.charge.clone(),
                hold: c.hold,
                asset: c.asset.clone(),
                idempotency: None,
            };
            match self.state.billing.ledger().commit(c).await {
                Ok(done) => {
                    tracing::info!(usage_id = %done.usage.id, charged = %done.usage.charged, "stream billed");
                    return;
                }
                Err(indox_billing::BillingError::AlreadyBilled) => return,
                Err(e) => {
                    tracing::error!(error = %e, attempt, "could not bill a finished stream; retrying");
                    commit = Some(retry);
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                }
            }
        }
        tracing::error!(usage_id = %self.usage_id, hold = %self.hold.0, "a finished stream could not be billed; its hold stays open");
    }
}
