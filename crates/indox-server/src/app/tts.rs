//! The text-to-speech use cases: synthesize (one answer) and stream (bytes as they come),
//! each metered on the audio the gateway actually returns, mirrored, and billed once.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use indox_accounts::Principal;
use indox_audio::{AudioFormat, AudioInfo};
use indox_billing::{
    estimate_tts_millis, quantity_from_millis, quantity_from_seconds, CommitRequest,
    IdempotencyFinish, NewCharge, ResponseRenderer, UsageRecord,
};
use indox_core::{Capability, RequestId};
use indox_idempotency::{BeginOutcome, Fingerprint, IdempotencyKey, StoredResponse};
use indox_ratelimit::limiter::Admission;
use indox_retention::{AssetClass, Mirror};
use indox_voice::tts::RawSynthesis;
use indox_voice::SynthesisRequest;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::assets::{self, PreparedAsset};
use super::AppState;
use crate::http::{ApiError, ErrorKind};

/// The `billing` block of a response, built from a `provider_resemble_usage` row.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BillingBlock {
    pub usage_id: Uuid,
    #[schema(example = "second")]
    pub unit: String,
    #[schema(value_type = String, example = "2.52")]
    pub quantity: Decimal,
    #[schema(value_type = Option<String>, example = "2.52")]
    pub upstream_quantity: Option<Decimal>,
    #[schema(value_type = String, example = "0.00030000")]
    pub unit_price: Decimal,
    #[schema(value_type = String, example = "0.00075600")]
    pub provider_cost: Decimal,
    #[schema(value_type = String, example = "0.2")]
    pub markup_rate: Decimal,
    #[schema(value_type = String, example = "0.00015120")]
    pub markup: Decimal,
    #[schema(value_type = String, example = "0.00090720")]
    pub charged: Decimal,
    #[schema(example = "USD")]
    pub currency: String,
    /// Billed on the account's own Resemble key: no provider cost, only the platform fee (BY2).
    pub byok: bool,
}

impl From<&UsageRecord> for BillingBlock {
    fn from(u: &UsageRecord) -> Self {
        Self {
            usage_id: u.id,
            unit: u.unit.clone(),
            quantity: u.quantity,
            upstream_quantity: u.upstream_quantity,
            unit_price: u.unit_price,
            provider_cost: u.provider_cost,
            markup_rate: u.markup_rate,
            markup: u.markup,
            charged: u.charged,
            currency: u.currency.clone(),
            byok: u.byok,
        }
    }
}

/// Everything in a synthesis response except the billing block.
#[derive(Debug, Serialize)]
struct SynthesisParts {
    request_id: String,
    audio_content: String,
    duration: f64,
    output_format: &'static str,
    sample_rate: u32,
    audio_url: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    asset_id: Uuid,
    retention_expires_at: Option<DateTime<Utc>>,
    resemble_url: Option<String>,
    audio_timestamps: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct SynthesisBody<'a> {
    #[serde(flatten)]
    parts: &'a SynthesisParts,
    billing: BillingBlock,
}

/// Renders the response from the committed row; used for the answer and for the stored
/// idempotent response, so both are the same bytes.
struct SynthesisRenderer(Arc<SynthesisParts>);

impl ResponseRenderer for SynthesisRenderer {
    fn render(&self, usage: &UsageRecord) -> StoredResponse {
        let body = SynthesisBody {
            parts: &self.0,
            billing: BillingBlock::from(usage),
        };
        // Serialising plain data with string keys cannot fail.
        StoredResponse {
            status: 200,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }
}

/// What a synthesize call produced.
#[derive(Debug)]
pub enum SynthesizeOutcome {
    /// A fresh answer.
    Fresh { body: Vec<u8>, admission: Admission },
    /// The stored answer of an earlier request with the same `Idempotency-Key`.
    Replay(StoredResponse),
}

/// Parses a JSON body into the raw synthesis fields and a canonical form for fingerprints.
pub fn parse_body(body: &[u8]) -> Result<(RawSynthesis, Vec<u8>), ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(ApiError::malformed_json)?;
    if !value.is_object() {
        return Err(ApiError::malformed_json("expected a JSON object"));
    }
    // serde_json's Map is ordered by key, so this is canonical.
    let canonical = serde_json::to_vec(&value).unwrap_or_default();
    let raw: RawSynthesis = serde_json::from_value(value).map_err(ApiError::malformed_json)?;
    Ok((raw, canonical))
}

/// Rate limiting for one request; a refusal becomes a 429.
pub async fn admit(
    state: &AppState,
    caller: &Principal,
    capability: Capability,
) -> Result<Admission, ApiError> {
    let admission = state
        .limiter
        .admit(caller.account.id, capability, true)
        .await;
    state
        .metrics
        .observe_admission(caller.account.id, capability, &admission);
    if admission.allowed() {
        Ok(admission)
    } else {
        let msg = match admission.denied_by() {
            Some(indox_ratelimit::limiter::Scope::Upstream) => {
                "the shared Resemble budget is exhausted for the moment; retry after the Retry-After delay"
            }
            _ => "rate limit reached for this capability; retry after the Retry-After delay",
        };
        Err(ApiError::new(ErrorKind::RateLimited(admission), msg))
    }
}

/// The audio's real length; upstream audio that does not decode is a bad gateway, never billed.
fn measure(audio: &[u8], format: AudioFormat) -> Result<AudioInfo, ApiError> {
    indox_audio::measure(audio, format).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway {
                code: "upstream_bad_audio",
            },
            format!("Resemble returned audio that does not decode ({e}); nothing was charged"),
        )
    })
}

/// `POST /tts/synthesize`.
pub async fn synthesize(
    state: &AppState,
    caller: &Principal,
    request_id: RequestId,
    body: &[u8],
    idempotency_key: Option<&str>,
) -> Result<SynthesizeOutcome, ApiError> {
    let (raw, canonical) = parse_body(body)?;
    let req = SynthesisRequest::validate(raw, false)?;
    let key = idempotency_key.map(IdempotencyKey::parse).transpose()?;
    let admission = admit(state, caller, Capability::Tts).await?;

    let account = caller.account.id;
    if let Some(key) = &key {
        let fp = Fingerprint::of("POST", "/api/v1/resemble/tts/synthesize", &canonical);
        match state.idempotency.begin(account, key, &fp).await? {
            BeginOutcome::Started => {}
            BeginOutcome::Replay(resp) => return Ok(SynthesizeOutcome::Replay(resp)),
            BeginOutcome::Mismatch => {
                return Err(ApiError::new(
                    ErrorKind::Unprocessable { code: "idempotency_key_reused", field: None },
                    "this Idempotency-Key was used for a different request body; use a new key for a new request",
                ))
            }
            BeginOutcome::InFlight => {
                return Err(ApiError::new(
                    ErrorKind::Conflict { code: "idempotency_key_in_flight" },
                    "a request with this Idempotency-Key is still running; retry after it finishes",
                ))
            }
        }
    }

    let result = synthesize_inner(state, caller, request_id, req, key.clone(), admission).await;
    if result.is_err() {
        if let Some(key) = &key {
            // The request had no effect, so its key is freed for a retry. If this fails the
            // key stays in flight until the lock timeout lets a retry take it over.
            if let Err(e) = state.idempotency.release(account, key).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
        }
    }
    result
}

async fn synthesize_inner(
    state: &AppState,
    caller: &Principal,
    request_id: RequestId,
    req: SynthesisRequest,
    key: Option<IdempotencyKey>,
    admission: Admission,
) -> Result<SynthesizeOutcome, ApiError> {
    let account = &caller.account;
    super::cloning::check_voice_use(state, caller, &req.voice_uuid).await?;
    let estimate = quantity_from_millis(estimate_tts_millis(req.text.chars().count()));
    state.billing.preflight(
        Capability::Tts,
        estimate,
        super::byok::pricing(account),
        account.available(),
    )?;

    let upstream = super::byok::upstreams(state, account).await?.voice;
    let synthesis = upstream.synthesize(&req).await?;
    let info = measure(&synthesis.audio, req.output_format)?;
    let quantity = quantity_from_millis(info.duration_millis_ceil());
    // The claim arrives as a JSON number; its shortest decimal form is what was sent.
    let upstream_quantity = synthesis
        .claimed_duration
        .and_then(|d| d.to_string().parse::<Decimal>().ok())
        .map(quantity_from_seconds);
    let quote = state
        .billing
        .quote(Capability::Tts, quantity, super::byok::pricing(account))?;

    let now = state.clock.now();
    let prepared = assets::prepare(
        state,
        account.id,
        AssetClass::TtsOutput,
        synthesis.audio.clone(),
        req.output_format,
        &info,
        now,
        synthesis.resemble_url.clone(),
    )
    .await;
    let charge = NewCharge {
        usage_id: Uuid::now_v7(),
        account: account.id,
        request_id,
        job_id: None,
        quote,
        upstream_quantity,
        asset_id: Some(prepared.asset.id),
    };
    let parts_for = |p: &PreparedAsset| SynthesisParts {
        request_id: request_id.to_string(),
        audio_content: B64.encode(&synthesis.audio),
        duration: info.duration_seconds_f64(),
        output_format: req.output_format.as_str(),
        sample_rate: info.sample_rate,
        audio_url: p.url.clone(),
        expires_at: p.url_expires_at,
        asset_id: p.asset.id,
        retention_expires_at: p.asset.expires_at,
        resemble_url: synthesis.resemble_url.clone(),
        audio_timestamps: synthesis.audio_timestamps.clone(),
    };

    let body = match key {
        // With an idempotency key the stored response must be final, so the upload
        // finishes before the commit that stores it.
        Some(key) => {
            let prepared = assets::mirror_first(state, prepared).await;
            let parts = Arc::new(parts_for(&prepared));
            let uploaded = matches!(prepared.asset.mirror, Mirror::Done);
            let commit = CommitRequest {
                charge,
                hold: None,
                asset: Some(prepared.asset.clone()),
                idempotency: Some(IdempotencyFinish {
                    key,
                    renderer: Box::new(SynthesisRenderer(parts.clone())),
                }),
            };
            match state.billing.ledger().commit(commit).await {
                Ok(c) => c
                    .response
                    .map(|r| r.body)
                    .unwrap_or_else(|| SynthesisRenderer(parts).render(&c.usage).body),
                Err(e) => {
                    let unknown = matches!(e, indox_billing::BillingError::OutcomeUnknown { .. });
                    if uploaded && !unknown {
                        assets::discard(state, &prepared.asset.object_key).await;
                    }
                    return Err(e.into());
                }
            }
        }
        // Otherwise the upload and the commit run side by side.
        None => {
            let mut prepared = prepared;
            let commit = CommitRequest {
                charge,
                hold: None,
                asset: Some(prepared.asset.clone()),
                idempotency: None,
            };
            let (uploaded, committed) = tokio::join!(
                assets::put(state, &prepared),
                state.billing.ledger().commit(commit)
            );
            match committed {
                Ok(c) => {
                    assets::settle_in_flight(state, &mut prepared, uploaded).await;
                    SynthesisRenderer(Arc::new(parts_for(&prepared)))
                        .render(&c.usage)
                        .body
                }
                Err(e) => {
                    // An unknown outcome may have recorded the asset: keep its object.
                    let unknown = matches!(e, indox_billing::BillingError::OutcomeUnknown { .. });
                    if uploaded && !unknown {
                        assets::discard(state, &prepared.asset.object_key).await;
                    }
                    return Err(e.into());
                }
            }
        }
    };
    Ok(SynthesizeOutcome::Fresh { body, admission })
}
