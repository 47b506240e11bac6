//! Voice cloning and voice design: voices created under recorded consent, recordings kept
//! permanently in our bucket and sent upstream, builds run as jobs (held, then billed as the
//! first subscription month when training finishes), monthly renewals, deletion, voice
//! design candidates kept 14 days, and the ownership check synthesis applies to cloned voices.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use indox_accounts::Principal;
use indox_audio::AudioFormat;
use indox_billing::{BillingError, CommitRequest, NewCharge};
use indox_core::{Capability, RequestId};
use indox_jobs::{Job, JobKind, JobStatus, NewJob, Task, TaskFailure, TaskHandler};
use indox_retention::{presign_ttl, AssetClass, Mirror, RetentionError};
use indox_voice::cloning::{
    check_buildable, check_recording_length, clone_status, due_periods, period_request_id,
    period_start, validate_name, BuildState, CloneRecording, CloneStatus, ClonedVoice, Consent,
    DesignCandidate, NewCloneRecording, NewClonedVoice, NewUpstreamVoice, RecordingUpload,
    Training, VoiceDesign, VoiceDraft, VoiceSource, VoiceType, DESIGN_RETENTION_DAYS,
    MAX_PROMPT_CHARS, MAX_TEXT_CHARS,
};
use indox_voice::{UpstreamError, UpstreamJob, VoiceError};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::assets;
use super::jobs::{fetch_input, job_error};
use super::tts::{admit, BillingBlock};
use super::AppState;
use crate::http::{ApiError, ErrorKind};

/// The renewal pass on the durable queue.
pub const RENEW_TASK: &str = "voices.renew";

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    VoiceError::Invalid {
        field,
        message: message.into(),
    }
    .into()
}

fn voice_not_found() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound {
            code: "voice_not_found",
        },
        "no cloned voice with this uuid for your account (GET /api/v1/resemble/voices lists yours)",
    )
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(ApiError::malformed_json)?
    };
    if super::jobs::has_nul(&value) {
        return Err(super::jobs::nul_error());
    }
    match value {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::malformed_json("expected a JSON object")),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// The cloning client for `account` (its own Resemble key under BYOK, BY1).
async fn cloning_of(
    state: &AppState,
    account: &indox_accounts::Account,
) -> Result<std::sync::Arc<dyn indox_voice::cloning::CloningUpstream>, ApiError> {
    Ok(super::byok::upstreams(state, account).await?.cloning)
}

/// As [`cloning_of`] for background work that knows only the account id.
async fn cloning_by_id(
    state: &AppState,
    account: indox_core::AccountId,
) -> Result<std::sync::Arc<dyn indox_voice::cloning::CloningUpstream>, TaskFailure> {
    super::byok::upstreams_by_id(state, account)
        .await
        .map(|u| u.cloning)
        .map_err(|e| TaskFailure::Retry(e.message))
}

/// The business-plan gate: until `RESEMBLE_BUSINESS_PLAN_ACTIVE=true`, every cloning and
/// design route answers 503 and makes no upstream call.
pub fn gate(state: &AppState) -> Result<(), ApiError> {
    if state.business_plan_active {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::Unavailable {
            code: "business_plan_required",
            retry_after: None,
        },
        "voice cloning and voice design need a Resemble Business plan; this gateway has not enabled them \
         (RESEMBLE_BUSINESS_PLAN_ACTIVE is not true), so no request was sent to Resemble",
    ))
}

// ---------------------------------------------------------------------------------------------
// Reading voices

/// A voice the caller owns (deleted ones included); another account's is a 404.
async fn owned_voice(
    state: &AppState,
    caller: &Principal,
    uuid: &str,
) -> Result<ClonedVoice, ApiError> {
    match state.clones.voice_by_uuid(uuid).await? {
        Some(v) if v.account == caller.account.id => Ok(v),
        _ => Err(voice_not_found()),
    }
}

async fn build_job(state: &AppState, voice: &ClonedVoice) -> Result<Option<Job>, ApiError> {
    match voice.build_job_id {
        None => Ok(None),
        Some(id) => state.jobs.get(id).await.map_err(job_error),
    }
}

fn build_state(job: Option<&Job>) -> BuildState {
    match job.map(|j| j.status) {
        None => BuildState::None,
        Some(JobStatus::Completed) => BuildState::Completed,
        Some(JobStatus::Failed) => BuildState::Failed,
        Some(JobStatus::Pending | JobStatus::Processing) => BuildState::Running,
    }
}

fn recording_view(r: &CloneRecording) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "text": r.text,
        "asset_id": r.asset_id,
        "duration_seconds": r.duration_ms.map(|ms| Decimal::new(ms as i64, 3)),
        "created_at": r.created_at,
    })
}

fn consent_view(consent: &Consent, recordings: &[CloneRecording]) -> Value {
    json!({
        "text": consent.text,
        "given_by": {"account_id": consent.account.0, "key_id": consent.key_id},
        "given_at": consent.given_at,
        "recordings": recordings.iter().map(|r| r.id).collect::<Vec<_>>(),
    })
}

/// The JSON users see for a voice.
async fn view(state: &AppState, voice: &ClonedVoice) -> Result<Value, ApiError> {
    let job = build_job(state, voice).await?;
    let recordings = state.clones.recordings(voice.id).await?;
    let status = clone_status(voice.deleted_at.is_some(), build_state(job.as_ref()));
    let build = match &job {
        None => Value::Null,
        Some(j) => {
            let billing = match j.usage_id {
                Some(id) => state
                    .billing
                    .ledger()
                    .get_usage(id)
                    .await
                    .ok()
                    .flatten()
                    .map(|u| serde_json::to_value(BillingBlock::from(&u)).unwrap_or(Value::Null)),
                None => None,
            };
            json!({
                "job_id": j.id,
                "status": j.status.as_str(),
                "error": j.error,
                "started_at": j.created_at,
                "completed_at": j.completed_at,
                "billing": billing,
            })
        }
    };
    let capability = voice.voice_type.capability();
    let subscription = match (&job, status) {
        (Some(j), CloneStatus::Built | CloneStatus::Deleted) if j.completed_at.is_some() => {
            let anchor = j.completed_at.unwrap_or(j.created_at);
            json!({
                "capability": capability.as_str(),
                "active": status == CloneStatus::Built,
                "started_at": anchor,
                "paid_periods": voice.paid_periods,
                "paid_through": period_start(anchor, voice.paid_periods),
                "next_charge_at": (status == CloneStatus::Built).then(|| period_start(anchor, voice.paid_periods)),
                "past_due_since": voice.past_due_since,
            })
        }
        _ => Value::Null,
    };
    Ok(json!({
        "uuid": voice.upstream_uuid,
        "name": voice.name,
        "status": status.as_str(),
        "voice_type": voice.voice_type.as_str(),
        "language": voice.language,
        "description": voice.description,
        "source": voice.source.as_str(),
        "design_id": voice.design_id,
        "created_at": voice.created_at,
        "deleted_at": voice.deleted_at,
        "consent": consent_view(&voice.consent, &recordings),
        "recordings": recordings.iter().map(recording_view).collect::<Vec<_>>(),
        "build": build,
        "subscription": subscription,
    }))
}

/// `GET /voices/{uuid}`.
pub async fn get(state: &AppState, caller: &Principal, uuid: &str) -> Result<Value, ApiError> {
    let voice = owned_voice(state, caller, uuid).await?;
    view(state, &voice).await
}

/// `GET /voices/{uuid}/consent`: the consent record and the recordings it covers.
pub async fn consent(state: &AppState, caller: &Principal, uuid: &str) -> Result<Value, ApiError> {
    let voice = owned_voice(state, caller, uuid).await?;
    let recordings = state.clones.recordings(voice.id).await?;
    let mut out = consent_view(&voice.consent, &recordings);
    out["voice_uuid"] = json!(voice.upstream_uuid);
    Ok(out)
}

/// `GET /voices`: the caller's cloned voices, newest first.
pub async fn list(state: &AppState, caller: &Principal) -> Result<Value, ApiError> {
    let voices = state.clones.list_voices(caller.account.id).await?;
    let mut items = Vec::with_capacity(voices.len());
    for v in &voices {
        items.push(view(state, v).await?);
    }
    Ok(json!({ "items": items }))
}

// ---------------------------------------------------------------------------------------------
// Creating, recording, building, deleting

/// `POST /voices` `{name, consent_text, voice_type?, language?, description?}`: creates the
/// voice upstream and records it with its consent.
pub async fn create(state: &AppState, caller: &Principal, body: &[u8]) -> Result<Value, ApiError> {
    let obj = object(body)?;
    let draft = VoiceDraft::validate(
        opt_str(&obj, "name")?,
        opt_str(&obj, "consent_text")?,
        opt_str(&obj, "voice_type")?,
        opt_str(&obj, "language")?,
        opt_str(&obj, "description")?,
    )?;
    admit(state, caller, draft.voice_type.capability()).await?;
    let up = cloning_of(state, &caller.account)
        .await?
        .create_voice(&NewUpstreamVoice {
            name: draft.name.clone(),
            voice_type: draft.voice_type,
            language: draft.language.clone(),
            description: draft.description.clone(),
        })
        .await?;
    let now = state.clock.now();
    let voice = NewClonedVoice {
        id: Uuid::now_v7(),
        account: caller.account.id,
        upstream_uuid: up.uuid,
        name: draft.name,
        voice_type: draft.voice_type,
        language: draft.language,
        description: draft.description,
        source: VoiceSource::Recordings,
        design_id: None,
        consent: consent_of(caller, draft.consent_text, now),
        created_at: now,
    };
    record_voice(state, caller, &voice).await?;
    get(state, caller, &voice.upstream_uuid).await
}

/// The consent `caller` gives now: the text, the account and key that sent it, the time.
fn consent_of(caller: &Principal, text: String, now: DateTime<Utc>) -> Consent {
    Consent {
        text,
        account: caller.account.id,
        key_id: caller.key_id.clone(),
        given_at: now,
    }
}

/// Deletes a voice just created upstream that the gateway will not keep; a failure is
/// logged (the voice is then left upstream unrecorded).
async fn undo_upstream_voice(state: &AppState, caller: &Principal, uuid: &str, why: &str) {
    let undo = match cloning_of(state, &caller.account).await {
        Ok(c) => c.delete_voice(uuid).await,
        Err(e) => Err(UpstreamError::Connect(e.message)),
    };
    if let Err(error) = undo {
        tracing::error!(voice = %uuid, %error, why, "a voice created upstream could not be deleted again");
    }
}

/// Records a voice created upstream; if that fails, deletes it upstream again so no
/// unrecorded voice is left there.
async fn record_voice(
    state: &AppState,
    caller: &Principal,
    voice: &NewClonedVoice,
) -> Result<(), ApiError> {
    if let Err(e) = state.clones.create_voice(voice).await {
        undo_upstream_voice(state, caller, &voice.upstream_uuid, "could not be recorded").await;
        return Err(e.into());
    }
    Ok(())
}

/// The audio of a recording: fetched from `audio_url` (through the SSRF guard), or read from
/// one of the caller's `purpose=voice_clone` uploads.
async fn recording_audio(
    state: &AppState,
    caller: &Principal,
    fields: &Map<String, Value>,
) -> Result<
    (
        &'static str,
        Bytes,
        AudioFormat,
        Option<indox_retention::StoredAsset>,
    ),
    ApiError,
> {
    if let Some(url) = opt_str(fields, "audio_url")? {
        let (bytes, format, info) = fetch_input(state, "audio_url", url).await?;
        check_recording_length("audio_url", info.duration_millis_ceil())?;
        return Ok(("audio_url", bytes, format, None));
    }
    let Some(id) = opt_str(fields, "upload_id")? else {
        return Err(invalid(
            "audio_url",
            "is required: the URL of a WAV or MP3 recording (or `upload_id` of an upload made with purpose=voice_clone)",
        ));
    };
    let not_found = || {
        invalid(
            "upload_id",
            "no upload with this id for your account (POST /api/v1/resemble/uploads with purpose=voice_clone first)",
        )
    };
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let asset = match state.assets.get(id).await {
        Ok(a) if a.account == caller.account.id && a.deleted_at.is_none() => a,
        Ok(_) | Err(RetentionError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    if asset.class != AssetClass::VoiceCloneRecording {
        return Err(invalid(
            "upload_id",
            "this upload was not made with purpose=voice_clone, so it is not kept permanently; upload the recording again with purpose=voice_clone",
        ));
    }
    if asset.mirrored_at.is_none() {
        return Err(ApiError::new(
            ErrorKind::Unavailable {
                code: "upload_not_stored_yet",
                retry_after: Some(5),
            },
            "this upload is still being copied to storage; retry in a few seconds",
        ));
    }
    let bytes = state.objects.get(&asset.object_key).await?;
    let format = super::jobs::audio_format(&bytes)
        .ok_or_else(|| invalid("upload_id", "the upload is not WAV or MP3 audio"))?;
    let info = indox_audio::measure(&bytes, format)
        .map_err(|e| invalid("upload_id", format!("the upload does not decode: {e}")))?;
    check_recording_length("upload_id", info.duration_millis_ceil())?;
    Ok(("upload_id", bytes, format, Some(asset)))
}

/// `POST /voices/{uuid}/recordings` `{"fields": {name, audio_url | upload_id, text?, emotion?}}`:
/// stores the recording permanently (class `voice_clone_recording`), uploads it to the
/// voice upstream, and adds it to the voice's consent record.
pub async fn add_recording(
    state: &AppState,
    caller: &Principal,
    uuid: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let obj = object(body)?;
    // The product page nests the fields under `fields`; a flat body is accepted too.
    let fields = match obj.get("fields") {
        Some(Value::Object(f)) => f.clone(),
        Some(_) => return Err(invalid("fields", "must be an object")),
        None => obj,
    };
    let name = validate_name("fields.name", opt_str(&fields, "name")?)?;
    // The upstream needs a transcript; without one the recording's name stands in (docs/decisions.md V3).
    let text = match opt_str(&fields, "text")?.map(str::trim) {
        Some(t) if !t.is_empty() => {
            if t.chars().count() > MAX_TEXT_CHARS {
                return Err(invalid(
                    "fields.text",
                    format!("must be at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            t.to_owned()
        }
        _ => name.clone(),
    };
    let emotion = opt_str(&fields, "emotion")?.map(str::to_owned);
    let voice = owned_voice(state, caller, uuid).await?;
    if voice.deleted_at.is_some() {
        return Err(VoiceError::Conflict("this voice was deleted".into()).into());
    }
    let existing = state.clones.recordings(voice.id).await?;
    if existing.iter().any(|r| r.name == name) {
        return Err(VoiceError::Conflict(format!(
            "this voice already has a recording named {name:?}; recording names are unique per voice"
        ))
        .into());
    }
    admit(state, caller, voice.voice_type.capability()).await?;
    let (field, bytes, format, upload) = recording_audio(state, caller, &fields).await?;
    let info = indox_audio::measure(&bytes, format)
        .map_err(|e| invalid(field, format!("the audio does not decode: {e}")))?;
    let now = state.clock.now();
    // A fresh recording is stored first (permanent class), so the upstream only ever holds
    // audio we also hold; an upload made for cloning is already stored.
    let (asset_id, new_asset) = match &upload {
        Some(a) => (a.id, None),
        None => {
            let prepared = assets::prepare(
                state,
                caller.account.id,
                AssetClass::VoiceCloneRecording,
                bytes.clone(),
                format,
                &info,
                now,
                None,
            )
            .await;
            let prepared = assets::mirror_first(state, prepared).await;
            (prepared.asset.id, Some(prepared.asset))
        }
    };
    let uploaded_key = new_asset
        .as_ref()
        .filter(|a| matches!(a.mirror, Mirror::Done))
        .map(|a| a.object_key.clone());
    let up = cloning_of(state, &caller.account)
        .await?
        .add_recording(
            &voice.upstream_uuid,
            &RecordingUpload {
                name: name.clone(),
                text: text.clone(),
                emotion,
                audio: bytes,
                file_name: format!("{name}.{}", format.as_str()),
                content_type: format.content_type().to_owned(),
            },
        )
        .await;
    let up = match up {
        Ok(u) => u,
        Err(e) => {
            if let Some(key) = &uploaded_key {
                assets::discard(state, key).await;
            }
            return Err(e.into());
        }
    };
    let recording = NewCloneRecording {
        id: Uuid::now_v7(),
        voice_id: voice.id,
        asset_id,
        upstream_uuid: Some(up.uuid),
        name,
        text,
        duration_ms: Some(info.duration_millis_ceil()),
        created_at: now,
    };
    if let Err(e) = state.clones.add_recording(&recording, new_asset).await {
        if let Some(key) = &uploaded_key {
            assets::discard(state, key).await;
        }
        return Err(e.into());
    }
    let recordings = state.clones.recordings(voice.id).await?;
    let stored = recordings
        .iter()
        .find(|r| r.id == recording.id)
        .map(recording_view)
        .unwrap_or(Value::Null);
    Ok(json!({
        "voice_uuid": voice.upstream_uuid,
        "recording": stored,
        "consent": consent_view(&voice.consent, &recordings),
    }))
}

/// `POST /voices/{uuid}/build`: checks the voice can be built, holds one month of its
/// subscription and queues the build job; the hold is settled into the first month's charge
/// when training finishes, or released if it fails.
pub async fn build(
    state: &AppState,
    caller: &Principal,
    uuid: &str,
    callback_uri: Option<String>,
) -> Result<Value, ApiError> {
    let voice = owned_voice(state, caller, uuid).await?;
    let job = build_job(state, &voice).await?;
    let status = clone_status(voice.deleted_at.is_some(), build_state(job.as_ref()));
    let recordings = state.clones.recordings(voice.id).await?;
    check_buildable(
        status,
        voice.voice_type,
        recordings.len(),
        !voice.consent.text.trim().is_empty(),
    )?;
    start_build(state, caller, &voice, false, callback_uri).await?;
    get(state, caller, uuid).await
}

/// Reads `callback_uri` from a build body.
pub fn build_callback(state: &AppState, body: &[u8]) -> Result<Option<String>, ApiError> {
    let obj = object(body)?;
    match opt_str(&obj, "callback_uri")? {
        None => Ok(None),
        Some(u) => {
            state.egress.check_url(u).map_err(|e| {
                invalid(
                    "callback_uri",
                    format!("this URL is refused: {e}. Use a public http(s) URL"),
                )
            })?;
            Ok(Some(u.to_owned()))
        }
    }
}

/// Holds the first month and queues the build job (`upstream_started`: the upstream is
/// already training, as for voices made from a design).
async fn start_build(
    state: &AppState,
    caller: &Principal,
    voice: &ClonedVoice,
    upstream_started: bool,
    callback_uri: Option<String>,
) -> Result<Job, ApiError> {
    let capability = voice.voice_type.capability();
    admit(state, caller, capability).await?;
    let quote = state.billing.quote(
        capability,
        Decimal::ONE,
        super::byok::pricing(&caller.account),
    )?;
    let job_id = Uuid::now_v7();
    if !state.clones.begin_build(voice.id, job_id).await? {
        return Err(VoiceError::Conflict(
            "this voice is already being built or is built; poll GET /resemble/voices/{uuid}"
                .into(),
        )
        .into());
    }
    let new = NewJob {
        id: job_id,
        account: caller.account.id,
        kind: JobKind::VoiceBuild,
        request: json!({
            "voice_id": voice.id,
            "voice_uuid": voice.upstream_uuid,
            "billing_capability": capability.as_str(),
            "upstream_started": upstream_started,
            "callback_uri": callback_uri,
        }),
        input_asset: None,
        input_quantity: Decimal::ONE,
        hold_amount: quote.charged,
    };
    match state.jobs.create(new).await {
        Ok(job) => Ok(job),
        Err(e) => {
            if let Err(undo) = state.clones.abandon_build(voice.id, job_id).await {
                tracing::error!(voice = %voice.id, error = %undo, "could not undo a build that was not queued");
            }
            Err(job_error(e))
        }
    }
}

/// `DELETE /voices/{uuid}`: deletes the voice upstream and stops its subscription. Its
/// consent record and recordings are kept (identity assets are permanent).
pub async fn delete(state: &AppState, caller: &Principal, uuid: &str) -> Result<Value, ApiError> {
    let voice = owned_voice(state, caller, uuid).await?;
    if voice.deleted_at.is_none() {
        let cloning = cloning_of(state, &caller.account).await?;
        match cloning.delete_voice(&voice.upstream_uuid).await {
            Ok(()) | Err(UpstreamError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        state
            .clones
            .mark_deleted(voice.id, state.clock.now())
            .await?;
    }
    get(state, caller, uuid).await
}

/// Whether `caller` may synthesize with `voice_uuid`: stock voices are anyone's; a cloned
/// voice is its owner's only (another account's is a 404), not once deleted, and not while
/// its subscription is past due (402).
pub async fn check_voice_use(
    state: &AppState,
    caller: &Principal,
    voice_uuid: &str,
) -> Result<(), ApiError> {
    let Some(voice) = state.clones.voice_by_uuid(voice_uuid).await? else {
        return Ok(());
    };
    if voice.account != caller.account.id {
        return Err(UpstreamError::NotFound(voice_uuid.to_owned()).into());
    }
    if voice.deleted_at.is_some() {
        return Err(ApiError::new(
            ErrorKind::NotFound {
                code: "voice_not_found",
            },
            "this cloned voice was deleted",
        ));
    }
    if voice.past_due_since.is_some() {
        let quote = state.billing.quote(
            voice.voice_type.capability(),
            Decimal::ONE,
            super::byok::pricing(&caller.account),
        )?;
        return Err(ApiError::new(
            ErrorKind::InsufficientFunds {
                required: quote.charged,
                available: caller.account.available(),
            },
            "this voice's monthly subscription could not be renewed for lack of balance; top up and it renews at the next renewal pass",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Build jobs (run by the job task handlers)

fn request_str<'a>(job: &'a Job, field: &str) -> &'a str {
    job.request
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

const SUPERSEDED: &str =
    "a later build request of this voice replaced this one; nothing was charged for it";

/// Whether a build job is still the one its voice is waiting for.
enum Current {
    Yes,
    Deleted,
    /// Two build requests raced and the other one won (`begin_build` took it over while
    /// this job was not yet written): only the voice's current build job may charge.
    Superseded,
}

async fn current(state: &AppState, job: &Job) -> Result<Current, TaskFailure> {
    let voice = state
        .clones
        .voice_by_uuid(request_str(job, "voice_uuid"))
        .await
        .map_err(|e| TaskFailure::Retry(e.to_string()))?;
    Ok(match voice {
        None => Current::Deleted,
        Some(v) if v.deleted_at.is_some() => Current::Deleted,
        Some(v) if v.build_job_id != Some(job.id) => Current::Superseded,
        Some(_) => Current::Yes,
    })
}

fn failed(error: impl Into<String>) -> UpstreamJob {
    UpstreamJob {
        id: String::new(),
        status: "failed".into(),
        result: Value::Null,
        error: Some(error.into()),
    }
}

/// `job.submit` for a build: starts training upstream and hands the job to the poller. A
/// build the upstream says is already running (a retry after a crash) counts as started.
pub async fn submit_build(state: &AppState, job: &Job) -> Result<(), TaskFailure> {
    let uuid = request_str(job, "voice_uuid").to_owned();
    let started = job
        .request
        .get("upstream_started")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match current(state, job).await? {
        Current::Yes => {}
        Current::Deleted => {
            return finish(
                state,
                job,
                &failed("the voice was deleted before it was built"),
            )
            .await
        }
        Current::Superseded => return finish(state, job, &failed(SUPERSEDED)).await,
    }
    if !started {
        let cloning = cloning_by_id(state, job.account).await?;
        match cloning.build_voice(&uuid).await {
            Ok(()) => {}
            Err(e @ (UpstreamError::BadRequest(_) | UpstreamError::NotFound(_))) => {
                let running = matches!(
                    cloning
                        .get_voice(&uuid)
                        .await
                        .map(|v| Training::from_upstream(&v.status)),
                    Ok(Training::Running | Training::Finished)
                ) && !matches!(e, UpstreamError::NotFound(_));
                if !running {
                    return finish(
                        state,
                        job,
                        &failed(format!("Resemble refused the build: {e}")),
                    )
                    .await;
                }
            }
            Err(e) => return Err(TaskFailure::Retry(e.to_string())),
        }
    }
    // The job's upstream id is unique per kind; a voice can be built again after a failure.
    let upstream_id = format!("{uuid}/{}", job.id);
    state
        .jobs
        .mark_submitted(job.id, &upstream_id, state.job_poll_interval)
        .await
        .map(|_| ())
        .map_err(|e| TaskFailure::Retry(e.to_string()))
}

/// `job.poll` for a build: reads the voice upstream; `Ok(true)` when the job ended.
pub async fn poll_build(state: &AppState, job: &Job) -> Result<bool, TaskFailure> {
    let up = match current(state, job).await? {
        Current::Deleted => {
            failed("the voice was deleted before training finished; nothing was charged")
        }
        Current::Superseded => failed(SUPERSEDED),
        Current::Yes => {
            let uuid = request_str(job, "voice_uuid");
            match cloning_by_id(state, job.account)
                .await?
                .get_voice(uuid)
                .await
            {
                Ok(v) => match Training::from_upstream(&v.status) {
                    Training::Finished => UpstreamJob {
                        id: v.uuid.clone(),
                        status: "completed".into(),
                        result: json!({"voice_uuid": v.uuid, "voice_status": "built"}),
                        error: None,
                    },
                    Training::Failed => failed("Resemble reports the voice's training failed"),
                    Training::Running => return Ok(false),
                },
                Err(UpstreamError::NotFound(_)) => failed("Resemble no longer knows this voice"),
                Err(e) => return Err(TaskFailure::Retry(e.to_string())),
            }
        }
    };
    finish(state, job, &up).await.map(|()| true)
}

async fn finish(state: &AppState, job: &Job, up: &UpstreamJob) -> Result<(), TaskFailure> {
    super::jobs::finish_from_upstream(state, job, up)
        .await
        .map(|_| ())
        .map_err(TaskFailure::Retry)
}

// ---------------------------------------------------------------------------------------------
// Monthly renewals

/// What one renewal pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenewalReport {
    /// Periods charged now.
    pub charged: u32,
    /// Periods another process (or an earlier, interrupted pass) had already charged.
    pub already_charged: u32,
    /// Voices whose renewal could not be paid.
    pub past_due: u32,
}

/// Charges every subscription period due at `now` for every live built voice: one usage
/// row per voice and period (its request id is derived from both, so no period is ever
/// charged twice), catching up periods a stopped worker missed. A period the balance cannot
/// pay marks the voice past due (synthesis with it answers 402) and is retried next pass.
pub async fn renew_due(state: &AppState, now: DateTime<Utc>) -> Result<RenewalReport, String> {
    let mut report = RenewalReport::default();
    let subs = state
        .clones
        .subscriptions()
        .await
        .map_err(|e| e.to_string())?;
    for sub in subs {
        for period in due_periods(sub.anchor, sub.paid_periods, now) {
            let account = state
                .auth
                .repository()
                .get_account(sub.account)
                .await
                .map_err(|e| e.to_string())?;
            let capability: Capability = sub.voice_type.capability();
            let quote = state
                .billing
                .quote(capability, Decimal::ONE, super::byok::pricing(&account))
                .map_err(|e| e.to_string())?;
            let commit = CommitRequest {
                charge: NewCharge {
                    usage_id: Uuid::now_v7(),
                    account: sub.account,
                    request_id: RequestId(period_request_id(sub.voice_id, period)),
                    job_id: None,
                    quote,
                    upstream_quantity: None,
                    asset_id: None,
                },
                hold: None,
                asset: None,
                idempotency: None,
            };
            match state.billing.ledger().commit(commit).await {
                Ok(_) => report.charged += 1,
                Err(BillingError::AlreadyBilled) => report.already_charged += 1,
                Err(BillingError::InsufficientFunds { .. }) => {
                    state
                        .clones
                        .mark_past_due(sub.voice_id, now)
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::warn!(voice = %sub.voice_id, period, "a voice subscription could not be renewed for lack of balance");
                    report.past_due += 1;
                    break;
                }
                Err(e) => return Err(e.to_string()),
            }
            state
                .clones
                .mark_paid(sub.voice_id, period)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    if report != RenewalReport::default() {
        tracing::info!(
            charged = report.charged,
            already = report.already_charged,
            past_due = report.past_due,
            "voice subscription renewals"
        );
    }
    Ok(report)
}

/// `voices.renew`.
pub struct RenewHandler(pub AppState);

#[async_trait]
impl TaskHandler for RenewHandler {
    async fn handle(&self, _task: &Task) -> Result<(), TaskFailure> {
        let state = &self.0;
        renew_due(state, state.clock.now())
            .await
            .map(|_| ())
            .map_err(TaskFailure::Retry)
    }
}

// ---------------------------------------------------------------------------------------------
// Voice design

fn design_not_found() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound {
            code: "design_not_found",
        },
        "no voice design with this id for your account",
    )
}

async fn design_view(state: &AppState, design: &VoiceDesign) -> Value {
    let now = state.clock.now();
    let mut candidates = Vec::with_capacity(design.candidates.len());
    for c in &design.candidates {
        let (url, expires) = match c.asset_id {
            Some(id) => match state.assets.get(id).await {
                Ok(a) if a.deleted_at.is_none() && a.mirrored_at.is_some() => {
                    match presign_ttl(now, state.presign_ttl, a.expires_at) {
                        Some(ttl) => match state.objects.presign_get(&a.object_key, ttl).await {
                            Ok(u) => (Some(u), Some(now + ttl)),
                            Err(_) => (None, None),
                        },
                        None => (None, None),
                    }
                }
                _ => (None, None),
            },
            None => (None, None),
        };
        candidates.push(json!({
            "index": c.index,
            "audio_url": url,
            "expires_at": expires,
            "asset_id": c.asset_id,
            "resemble_url": c.resemble_url,
        }));
    }
    json!({
        "design_id": design.id,
        "prompt": design.prompt,
        "created_at": design.created_at,
        "retention_expires_at": design.expires_at,
        "expired": design.expires_at <= now,
        "candidates": candidates,
    })
}

/// `POST /voice-design` `{prompt}` (or `user_prompt`): candidates designed upstream, each
/// mirrored into the bucket for 14 days.
pub async fn design(state: &AppState, caller: &Principal, body: &[u8]) -> Result<Value, ApiError> {
    let obj = object(body)?;
    let prompt = match opt_str(&obj, "prompt")? {
        Some(p) => Some(p),
        None => opt_str(&obj, "user_prompt")?,
    }
    .map(str::trim)
    .unwrap_or_default()
    .to_owned();
    if prompt.is_empty() || prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(invalid(
            "prompt",
            format!(
                "is required: a description of the voice, at most {MAX_PROMPT_CHARS} characters"
            ),
        ));
    }
    admit(state, caller, Capability::VoiceDesign).await?;
    let up = cloning_of(state, &caller.account)
        .await?
        .design(&prompt)
        .await?;
    let now = state.clock.now();
    let mut candidates = Vec::with_capacity(up.samples.len());
    let mut new_assets = Vec::new();
    for sample in &up.samples {
        let asset_id = match fetch_input(state, "audio_url", &sample.audio_url).await {
            Ok((bytes, format, info)) => {
                let prepared = assets::prepare(
                    state,
                    caller.account.id,
                    AssetClass::VoiceDesignCandidate,
                    bytes,
                    format,
                    &info,
                    now,
                    Some(sample.audio_url.clone()),
                )
                .await;
                let prepared = assets::mirror_first(state, prepared).await;
                let id = prepared.asset.id;
                new_assets.push(prepared.asset);
                Some(id)
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "could not mirror a voice-design candidate");
                None
            }
        };
        candidates.push(DesignCandidate {
            index: sample.index,
            asset_id,
            resemble_url: sample.audio_url.clone(),
        });
    }
    let design = VoiceDesign {
        id: Uuid::now_v7(),
        account: caller.account.id,
        upstream_uuid: up.uuid,
        prompt,
        candidates,
        created_at: now,
        expires_at: now + chrono::Duration::days(DESIGN_RETENTION_DAYS),
    };
    let keys: Vec<String> = new_assets
        .iter()
        .filter(|a| matches!(a.mirror, Mirror::Done))
        .map(|a| a.object_key.clone())
        .collect();
    if let Err(e) = state.clones.create_design(&design, new_assets).await {
        for key in &keys {
            assets::discard(state, key).await;
        }
        return Err(e.into());
    }
    Ok(design_view(state, &design).await)
}

async fn owned_design(
    state: &AppState,
    caller: &Principal,
    id: &str,
) -> Result<VoiceDesign, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| design_not_found())?;
    match state.clones.design(id).await? {
        Some(d) if d.account == caller.account.id => Ok(d),
        _ => Err(design_not_found()),
    }
}

/// `GET /voice-design/{design_id}`: the design with fresh URLs for its candidates.
pub async fn get_design(state: &AppState, caller: &Principal, id: &str) -> Result<Value, ApiError> {
    let design = owned_design(state, caller, id).await?;
    Ok(design_view(state, &design).await)
}

/// `POST /voice-design/{design_id}/{index}/voice` `{name, consent_text}`: turns a candidate
/// into a rapid voice (usable at once upstream while it trains). Its first month is held
/// and billed when training finishes, like any build; the candidate's audio is copied into
/// the permanent recordings class as the voice's source.
pub async fn voice_from_design(
    state: &AppState,
    caller: &Principal,
    design_id: &str,
    index: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let obj = object(body)?;
    let name = match opt_str(&obj, "name")? {
        Some(n) => Some(n),
        None => opt_str(&obj, "voice_name")?,
    };
    let draft = VoiceDraft::validate(
        name,
        opt_str(&obj, "consent_text")?,
        Some("rapid"),
        None,
        None,
    )?;
    let design = owned_design(state, caller, design_id).await?;
    let now = state.clock.now();
    if design.expires_at <= now {
        return Err(ApiError::new(
            ErrorKind::Gone {
                code: "design_expired",
            },
            "voice-design candidates are kept 14 days; this design has expired. Create a new design",
        ));
    }
    let candidate = index
        .parse::<u32>()
        .ok()
        .and_then(|i| design.candidates.iter().find(|c| c.index == i))
        .cloned()
        .ok_or_else(|| {
            invalid(
                "index",
                format!(
                    "must be one of the design's candidate indexes ({})",
                    design
                        .candidates
                        .iter()
                        .map(|c| c.index.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let capability = VoiceType::Rapid.capability();
    admit(state, caller, capability).await?;
    let quote = state.billing.quote(
        capability,
        Decimal::ONE,
        super::byok::pricing(&caller.account),
    )?;
    if caller.account.available() < quote.charged {
        return Err(BillingError::InsufficientFunds {
            required: quote.charged,
            available: caller.account.available(),
        }
        .into());
    }
    let uuid = cloning_of(state, &caller.account)
        .await?
        .voice_from_design(&design.upstream_uuid, candidate.index, &draft.name)
        .await?;
    let voice = NewClonedVoice {
        id: Uuid::now_v7(),
        account: caller.account.id,
        upstream_uuid: uuid.clone(),
        name: draft.name,
        voice_type: VoiceType::Rapid,
        language: draft.language,
        description: Some(design.prompt.clone()),
        source: VoiceSource::Design,
        design_id: Some(design.id),
        consent: consent_of(caller, draft.consent_text, now),
        created_at: now,
    };
    record_voice(state, caller, &voice).await?;
    keep_candidate(state, caller, &voice, &candidate, &design.prompt).await;
    let stored = owned_voice(state, caller, &uuid).await?;
    if let Err(e) = start_build(state, caller, &stored, true, None).await {
        // Not paid for: do not leave a usable voice upstream.
        undo_upstream_voice(state, caller, &uuid, "was not paid for").await;
        if let Err(undo) = state.clones.mark_deleted(stored.id, now).await {
            tracing::error!(voice = %uuid, error = %undo, "could not mark an unpaid voice deleted");
        }
        return Err(e);
    }
    get(state, caller, &uuid).await
}

/// Copies a design candidate into the permanent recordings class as the voice's source.
/// A copy that cannot be made is logged; the candidate itself stays for its 14 days.
async fn keep_candidate(
    state: &AppState,
    caller: &Principal,
    voice: &NewClonedVoice,
    candidate: &DesignCandidate,
    prompt: &str,
) {
    let copy = async {
        let asset_id = candidate
            .asset_id
            .ok_or("the candidate was never mirrored")?;
        let asset = state
            .assets
            .get(asset_id)
            .await
            .map_err(|_| "no candidate asset")?;
        let bytes = state
            .objects
            .get(&asset.object_key)
            .await
            .map_err(|_| "the candidate could not be read from the store")?;
        let format = super::jobs::audio_format(&bytes).ok_or("the candidate is not audio")?;
        let info =
            indox_audio::measure(&bytes, format).map_err(|_| "the candidate does not decode")?;
        let now = state.clock.now();
        let prepared = assets::prepare(
            state,
            caller.account.id,
            AssetClass::VoiceCloneRecording,
            bytes,
            format,
            &info,
            now,
            Some(candidate.resemble_url.clone()),
        )
        .await;
        let prepared = assets::mirror_first(state, prepared).await;
        let recording = NewCloneRecording {
            id: Uuid::now_v7(),
            voice_id: voice.id,
            asset_id: prepared.asset.id,
            upstream_uuid: None,
            name: format!("design-candidate-{}", candidate.index),
            text: prompt.chars().take(MAX_TEXT_CHARS).collect(),
            duration_ms: Some(info.duration_millis_ceil()),
            created_at: now,
        };
        state
            .clones
            .add_recording(&recording, Some(prepared.asset))
            .await
            .map_err(|_| "the recording could not be recorded")?;
        Ok::<(), &'static str>(())
    };
    if let Err(why) = copy.await {
        tracing::warn!(voice = %voice.upstream_uuid, why, "a design voice's source audio was not copied to permanent storage");
    }
}
