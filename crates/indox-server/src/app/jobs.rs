//! Async jobs (speech-to-text, detect): submit (fetch and measure the input, hold its cost,
//! queue it), the task handlers that send jobs upstream and poll them, finishing a job once
//! (from the webhook or the poller), and the job view users read.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use indox_accounts::Principal;
use indox_audio::{AudioFormat, AudioInfo};
use indox_billing::{quantity_from_millis, NewCharge};
use indox_core::{Capability, RequestId};
use indox_egress::EgressError;
use indox_jobs::{Finish, Finished, Job, JobKind, NewJob, Task, TaskFailure, TaskHandler};
use indox_retention::{AssetClass, Mirror};
use indox_voice::{AsyncOp, Created, UpstreamError, UpstreamJob};
use serde_json::{json, Value};
use uuid::Uuid;

use super::assets;
use super::tts::{admit, BillingBlock};
use super::AppState;
use crate::http::{ApiError, ErrorKind};

/// The upstream job operation behind a job kind; `None` for voice builds, which run on the
/// upstream's voice endpoints (see `app::cloning`).
pub fn op(kind: JobKind) -> Option<AsyncOp> {
    Some(match kind {
        JobKind::Stt => AsyncOp::SpeechToText,
        JobKind::Enhance => AsyncOp::Enhance,
        JobKind::Edit => AsyncOp::Edit,
        JobKind::Detect => AsyncOp::Detect,
        JobKind::Intelligence => AsyncOp::Intelligence,
        JobKind::WatermarkApply => AsyncOp::WatermarkApply,
        JobKind::WatermarkDetect => AsyncOp::WatermarkDetect,
        JobKind::IdentitySearch => AsyncOp::IdentitySearch,
        JobKind::IdentityEnroll => AsyncOp::IdentityEnroll,
        JobKind::VoiceBuild => return None,
    })
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable {
            code: "invalid_field",
            field: Some(field),
        },
        message,
    )
}

/// Sniffs the container of fetched media.
pub(crate) fn audio_format(bytes: &[u8]) -> Option<AudioFormat> {
    if bytes.starts_with(b"RIFF") {
        Some(AudioFormat::Wav)
    } else if bytes.starts_with(b"ID3")
        || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
    {
        Some(AudioFormat::Mp3)
    } else {
        None
    }
}

/// Fetches the input through the SSRF guard and measures it.
async fn fetch_raw(state: &AppState, field: &'static str, url: &str) -> Result<Bytes, ApiError> {
    let fetched = indox_egress::fetch(
        &state.egress_client,
        &state.egress,
        url,
        state.max_input_bytes,
    )
    .await
    .map_err(|e| match e {
        EgressError::Blocked { .. }
        | EgressError::Scheme(_)
        | EgressError::Userinfo
        | EgressError::EmptyHost
        | EgressError::InvalidUrl(_)
        | EgressError::Port(_) => invalid(
            field,
            format!("this URL is refused: {e}. Use a public http(s) URL"),
        ),
        EgressError::TooLarge { limit } => {
            invalid(field, format!("the media is larger than {limit} bytes"))
        }
        EgressError::Redirect { .. } => invalid(
            field,
            "the URL redirects; redirects are not followed, give the final URL",
        ),
        other => invalid(field, format!("the media could not be fetched: {other}")),
    })?;
    if !(200..300).contains(&fetched.status) {
        return Err(invalid(
            field,
            format!("fetching the media answered HTTP {}", fetched.status),
        ));
    }
    Ok(Bytes::from(fetched.bytes))
}

/// Fetches audio through the SSRF guard and measures it.
pub(crate) async fn fetch_input(
    state: &AppState,
    field: &'static str,
    url: &str,
) -> Result<(Bytes, AudioFormat, AudioInfo), ApiError> {
    let bytes = fetch_raw(state, field, url).await?;
    let format =
        audio_format(&bytes).ok_or_else(|| invalid(field, "the media is not WAV or MP3 audio"))?;
    let info = indox_audio::measure(&bytes, format)
        .map_err(|e| invalid(field, format!("the audio does not decode: {e}")))?;
    Ok((bytes, format, info))
}

/// Whether any string (key or value) in `v` has a NUL character: Postgres cannot store one in
/// `jsonb` or `text`, so such a body is refused up front (it was a 503 from the store).
pub(crate) fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// 422 for a body with a NUL character.
pub(crate) fn nul_error() -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable {
            code: "nul_character",
            field: None,
        },
        "a string in the body contains the NUL character (\\u0000), which cannot be stored; remove it",
    )
}

/// Fields a kind needs besides its media.
fn required_fields(kind: JobKind) -> &'static [&'static str] {
    match kind {
        JobKind::Edit => &["original_transcript", "target_transcript", "voice_uuid"],
        JobKind::IdentityEnroll => &["name"],
        _ => &[],
    }
}

/// The input's URL: `audio_url`, `url` or (edit) `input_audio`, or `upload_id` naming one of
/// the caller's uploads (resolved to a presigned URL of our stored copy).
async fn input_url(
    state: &AppState,
    caller: &Principal,
    kind: JobKind,
    obj: &serde_json::Map<String, Value>,
) -> Result<(&'static str, String), ApiError> {
    for field in ["audio_url", "url", "input_audio"] {
        if let Some(v) = obj.get(field) {
            let url = v
                .as_str()
                .ok_or_else(|| invalid(field, "must be a URL string"))?;
            return Ok((field, url.to_owned()));
        }
    }
    if let Some(v) = obj.get("upload_id") {
        let not_found = || {
            invalid(
                "upload_id",
                "no upload with this id for your account (POST /api/v1/resemble/uploads first)",
            )
        };
        let id = v
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(not_found)?;
        let asset = match state.assets.get(id).await {
            Ok(a) if a.account == caller.account.id && a.deleted_at.is_none() => a,
            Ok(_) | Err(indox_retention::RetentionError::NotFound) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if asset.mirrored_at.is_none() {
            return Err(ApiError::new(
                ErrorKind::Unavailable {
                    code: "upload_not_stored_yet",
                    retry_after: Some(5),
                },
                "this upload is still being copied to storage; retry in a few seconds",
            ));
        }
        let url = state
            .objects
            .presign_get(&asset.object_key, chrono::Duration::minutes(30))
            .await?;
        return Ok(("upload_id", url));
    }
    let field = if kind == JobKind::Edit {
        "input_audio"
    } else {
        "audio_url"
    };
    Err(invalid(
        field,
        "is required: the URL of the audio (or an `upload_id`)",
    ))
}

/// `POST /resemble/{stt|detect}`: validates, fetches and measures the input, stores it,
/// holds its cost and queues the job. Never waits for the upstream.
pub async fn submit(
    state: &AppState,
    caller: &Principal,
    kind: JobKind,
    body: &[u8],
) -> Result<Job, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(ApiError::malformed_json)?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::malformed_json("expected a JSON object"))?;
    if has_nul(&value) {
        return Err(nul_error());
    }
    let (field, url) = input_url(state, caller, kind, obj).await?;
    let modality = match obj.get("modality") {
        None | Some(Value::Null) => "audio",
        Some(m) => match (kind, m.as_str()) {
            (_, Some("audio")) => "audio",
            (JobKind::Detect, Some("image")) => "image",
            (JobKind::Detect, Some("video")) => "video",
            _ => {
                return Err(invalid(
                    "modality",
                    "use \"audio\" (detect also takes \"image\" or \"video\")",
                ))
            }
        },
    };
    for required in required_fields(kind) {
        let given = obj.get(*required).and_then(Value::as_str).map(str::trim);
        if given.is_none_or(str::is_empty) {
            return Err(invalid(required, "is required for this job"));
        }
    }
    let callback_uri = match obj.get("callback_uri") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            state.egress.check_url(u).map_err(|e| {
                invalid(
                    "callback_uri",
                    format!("this URL is refused: {e}. Use a public http(s) URL"),
                )
            })?;
            Some(u.clone())
        }
        Some(_) => return Err(invalid("callback_uri", "must be a URL string")),
    };
    admit(state, caller, kind.capability()).await?;

    let account = &caller.account;
    let (capability, quantity, input_asset, media_url) = match modality {
        // Images are billed per image, videos per second of their own length (from the MP4
        // header); neither is audio, so neither is mirrored: the upstream reads the user's URL.
        "image" => {
            let bytes = fetch_raw(state, field, &url).await?;
            indox_audio::media::image_content_type(&bytes)
                .ok_or_else(|| invalid(field, "the media is not a PNG, JPEG, GIF or WebP image"))?;
            (
                Capability::DetectImage,
                rust_decimal::Decimal::ONE,
                None,
                url.clone(),
            )
        }
        "video" => {
            let bytes = fetch_raw(state, field, &url).await?;
            let ms = indox_audio::media::mp4_duration_millis(&bytes).ok_or_else(|| {
                invalid(
                    field,
                    "the media is not an MP4/MOV video whose length can be read",
                )
            })?;
            (
                Capability::DetectVideo,
                quantity_from_millis(ms),
                None,
                url.clone(),
            )
        }
        _ => {
            let (bytes, format, info) = fetch_input(state, field, &url).await?;
            // Identity searches are billed per search; everything else per second of input audio.
            let quantity = match kind {
                JobKind::IdentitySearch => rust_decimal::Decimal::ONE,
                _ => quantity_from_millis(info.duration_millis_ceil()),
            };
            let now = state.clock.now();
            let class = match kind {
                JobKind::Stt => AssetClass::SttInput,
                _ => AssetClass::GenericUpload,
            };
            let prepared =
                assets::prepare(state, account.id, class, bytes, format, &info, now, None).await;
            let prepared = assets::mirror_first(state, prepared).await;
            // The upstream reads our stored copy when it can, the user's URL otherwise.
            let media_url = match (&prepared.asset.mirror, &prepared.url) {
                (Mirror::Done, Some(u)) => u.clone(),
                _ => url.clone(),
            };
            (kind.capability(), quantity, Some(prepared.asset), media_url)
        }
    };
    let quote = state
        .billing
        .quote(capability, quantity, super::byok::pricing(account))?;
    let job = NewJob {
        id: Uuid::now_v7(),
        account: account.id,
        kind,
        request: {
            let mut request = obj.clone();
            request.insert(field.into(), json!(url));
            request.insert("media_url".into(), json!(media_url));
            request.insert("callback_uri".into(), json!(callback_uri));
            request.insert("billing_capability".into(), json!(capability.as_str()));
            Value::Object(request)
        },
        input_asset,
        input_quantity: quantity,
        hold_amount: quote.charged,
    };
    state.jobs.create(job).await.map_err(job_error)
}

/// Job-store failures as API errors.
pub fn job_error(e: indox_jobs::JobError) -> ApiError {
    match e {
        indox_jobs::JobError::InsufficientFunds {
            required,
            available,
        } => indox_billing::BillingError::InsufficientFunds {
            required,
            available,
        }
        .into(),
        indox_jobs::JobError::OutcomeUnknown { job_id } => ApiError::outcome_unknown(format!(
            "the connection to the job store broke while this job was recorded, and it could not \
             be reached again to confirm it: it may have been accepted (job id {job_id}; reading \
             it under this path shows it if it was, 404 if not)"
        )),
        other => {
            tracing::error!(error = %other, "job store failure");
            ApiError::store_unavailable("job store")
        }
    }
}

/// Reads a job the caller owns (another account's job is a 404, never a 403).
pub async fn read(
    state: &AppState,
    caller: &Principal,
    kind: JobKind,
    id: &str,
) -> Result<Job, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorKind::NotFound {
                code: "job_not_found",
            },
            "no job with this id for your account",
        )
    };
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    match state.jobs.get(id).await.map_err(job_error)? {
        Some(j) if j.account == caller.account.id && j.kind == kind => Ok(j),
        _ => Err(not_found()),
    }
}

/// Waits up to `wait` for a job to end, woken by completion events; returns the latest row.
pub async fn wait_for(
    state: &AppState,
    job: Job,
    wait: std::time::Duration,
) -> Result<Job, ApiError> {
    if job.status.is_terminal() || wait.is_zero() {
        return Ok(job);
    }
    let mut events = state.job_events.subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    // Re-read after subscribing: the job may have ended in between.
    let mut current = state
        .jobs
        .get(job.id)
        .await
        .map_err(job_error)?
        .unwrap_or(job);
    while !current.status.is_terminal() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => break,
            Ok(Ok(id)) if id != current.id => continue,
            // Our job, a lagged receiver or a closed channel: read the row again.
            Ok(_) => {}
        }
        current = state
            .jobs
            .get(current.id)
            .await
            .map_err(job_error)?
            .unwrap_or(current);
    }
    Ok(current)
}

/// The JSON users see for a job.
pub async fn view(state: &AppState, job: &Job) -> Value {
    let mut out = json!({
        "job_id": job.id,
        "kind": job.kind.as_str(),
        "status": job.status.as_str(),
        "created_at": job.created_at,
        "completed_at": job.completed_at,
        "input_seconds": job.input_quantity,
        "error": job.error,
    });
    if let (Some(Value::Object(result)), Value::Object(o)) = (&job.result, &mut out) {
        for (k, v) in result {
            o.insert(k.clone(), v.clone());
        }
    }
    if let Some(cb) = super::callbacks::callback_view(state, job).await {
        out["callback"] = cb;
    }
    if let Some(usage_id) = job.usage_id {
        if let Ok(Some(u)) = state.billing.ledger().get_usage(usage_id).await {
            out["billing"] = serde_json::to_value(BillingBlock::from(&u)).unwrap_or(Value::Null);
        }
    }
    out
}

/// What a job is billed as (detection of images and videos has its own prices).
fn billing_capability(job: &Job) -> Capability {
    job.request
        .get("billing_capability")
        .and_then(Value::as_str)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| job.kind.capability())
}

/// Ends a job from the upstream's (re-fetched) view: charges once at completion, releases
/// the hold on failure, does nothing for a job that already ended or is still running.
pub async fn finish_from_upstream(
    state: &AppState,
    job: &Job,
    up: &UpstreamJob,
) -> Result<Option<Finished>, String> {
    let finish = match up.status.as_str() {
        "completed" => {
            let account = state
                .auth
                .repository()
                .get_account(job.account)
                .await
                .map_err(|e| e.to_string())?;
            let quote = state
                .billing
                .quote(
                    billing_capability(job),
                    job.input_quantity,
                    super::byok::pricing(&account),
                )
                .map_err(|e| e.to_string())?;
            let charge = NewCharge {
                usage_id: Uuid::now_v7(),
                account: job.account,
                // One usage row per job: the job id is also its request id.
                request_id: RequestId(job.id),
                job_id: Some(job.id),
                quote,
                upstream_quantity: up
                    .result
                    .get("duration_seconds")
                    .and_then(Value::as_f64)
                    .and_then(|d| d.to_string().parse().ok())
                    .map(indox_billing::quantity_from_seconds),
                asset_id: job.input_asset_id,
            };
            let (result, output_asset) = mirror_output(state, job, &up.result).await;
            Finish::Completed {
                result,
                charge: Box::new(charge),
                output_asset: output_asset.map(Box::new),
            }
        }
        "failed" => Finish::Failed {
            error: up
                .error
                .clone()
                .unwrap_or_else(|| "the upstream job failed".into()),
        },
        _ => return Ok(None),
    };
    let finished = state
        .jobs
        .finish(job.id, finish)
        .await
        .map_err(|e| e.to_string())?;
    let _ = state.job_events.send(job.id);
    Ok(Some(finished))
}

/// For jobs that produce audio (enhance), mirrors the upstream's output into the bucket
/// (7-day class) and adds our presigned URL to the result; the upstream's URL stays as
/// `resemble_url`. A mirror that cannot be made leaves `audio_url` null.
async fn mirror_output(
    state: &AppState,
    job: &Job,
    result: &Value,
) -> (Value, Option<indox_retention::NewAsset>) {
    let mut result = result.clone();
    let (field, class) = match job.kind {
        JobKind::Enhance => ("enhanced_audio_url", AssetClass::EnhanceOutput),
        JobKind::Edit => ("result_audio_url", AssetClass::EditOutput),
        JobKind::WatermarkApply => ("watermarked_media", AssetClass::WatermarkOutput),
        _ => return (result, None),
    };
    let Some(source) = result.get(field).and_then(Value::as_str).map(str::to_owned) else {
        return (result, None);
    };
    result["resemble_url"] = json!(source);
    result["audio_url"] = Value::Null;
    let fetched = match fetch_input(state, field, &source).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e.message, "could not mirror the job's output audio");
            return (result, None);
        }
    };
    let (bytes, format, info) = fetched;
    let now = state.clock.now();
    let prepared = assets::prepare(
        state,
        job.account,
        class,
        bytes,
        format,
        &info,
        now,
        Some(source),
    )
    .await;
    let prepared = assets::mirror_first(state, prepared).await;
    result["audio_url"] = json!(prepared.url);
    result["expires_at"] = json!(prepared.url_expires_at);
    result["asset_id"] = json!(prepared.asset.id);
    (result, Some(prepared.asset))
}

/// The job a task is about.
async fn task_job(state: &AppState, task: &Task) -> Result<Job, TaskFailure> {
    let id = job_id(task)?;
    state
        .jobs
        .get(id)
        .await
        .map_err(|e| TaskFailure::Retry(e.to_string()))?
        .ok_or_else(|| TaskFailure::Permanent(format!("no job {id}")))
}

fn job_id(task: &Task) -> Result<Uuid, TaskFailure> {
    task.payload
        .get("job_id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| TaskFailure::Permanent("task payload without a job_id".into()))
}

/// Whether an upstream failure can never succeed on retry.
fn permanent(e: &UpstreamError) -> bool {
    matches!(e, UpstreamError::BadRequest(_) | UpstreamError::NotFound(_))
}

/// `job.submit`: sends a pending job upstream, then hands it to the poller.
pub struct SubmitHandler(pub AppState);

#[async_trait]
impl TaskHandler for SubmitHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskFailure> {
        let state = &self.0;
        let job = task_job(state, task).await?;
        let id = job.id;
        if job.status != indox_jobs::JobStatus::Pending {
            return Ok(());
        }
        let Some(op) = op(job.kind) else {
            return super::cloning::submit_build(state, &job).await;
        };
        let media_url = job
            .request
            .get("media_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let upstream = super::byok::upstreams_by_id(state, job.account)
            .await
            .map_err(|e| TaskFailure::Retry(e.message))?
            .voice;
        match upstream
            .create_job(op, &media_url, &job.request, state.webhook_url.clone())
            .await
        {
            Ok(Created::Started(upstream_id)) => {
                state
                    .jobs
                    .mark_submitted(id, &upstream_id, state.job_poll_interval)
                    .await
                    .map_err(|e| TaskFailure::Retry(e.to_string()))?;
                Ok(())
            }
            // A synchronous upstream (identity) answered at once: finish now.
            Ok(Created::Done(up)) => {
                finish_from_upstream(state, &job, &up)
                    .await
                    .map_err(TaskFailure::Retry)?;
                Ok(())
            }
            Err(e) if permanent(&e) => {
                let up = UpstreamJob {
                    id: String::new(),
                    status: "failed".into(),
                    result: Value::Null,
                    error: Some(format!("Resemble refused the job: {e}")),
                };
                finish_from_upstream(state, &job, &up)
                    .await
                    .map_err(TaskFailure::Retry)?;
                Ok(())
            }
            Err(e) => Err(TaskFailure::Retry(e.to_string())),
        }
    }
}

/// `job.poll`: asks the upstream about a running job; finishes it or polls again later.
pub struct PollHandler(pub AppState);

#[async_trait]
impl TaskHandler for PollHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskFailure> {
        let state = &self.0;
        let job = task_job(state, task).await?;
        let id = job.id;
        if job.status.is_terminal() {
            return Ok(());
        }
        let Some(upstream_id) = job.upstream_id.clone() else {
            return Ok(());
        };
        let Some(op) = op(job.kind) else {
            if !super::cloning::poll_build(state, &job).await? {
                state
                    .jobs
                    .poll_again(id, state.job_poll_interval)
                    .await
                    .map_err(|e| TaskFailure::Retry(e.to_string()))?;
            }
            return Ok(());
        };
        let up = super::byok::upstreams_by_id(state, job.account)
            .await
            .map_err(|e| TaskFailure::Retry(e.message))?
            .voice
            .get_job(op, &upstream_id)
            .await
            .map_err(|e| TaskFailure::Retry(e.to_string()))?;
        match finish_from_upstream(state, &job, &up)
            .await
            .map_err(TaskFailure::Retry)?
        {
            Some(_) => Ok(()),
            None => {
                state
                    .jobs
                    .poll_again(id, state.job_poll_interval)
                    .await
                    .map_err(|e| TaskFailure::Retry(e.to_string()))?;
                Ok(())
            }
        }
    }
}

/// The handlers of the job tasks.
pub fn handlers(state: &AppState) -> Vec<(&'static str, Arc<dyn TaskHandler>)> {
    vec![
        (
            indox_jobs::SUBMIT_TASK,
            Arc::new(SubmitHandler(state.clone())) as Arc<dyn TaskHandler>,
        ),
        (indox_jobs::POLL_TASK, Arc::new(PollHandler(state.clone()))),
        (
            indox_jobs::CALLBACK_TASK,
            Arc::new(super::callbacks::CallbackHandler(state.clone())),
        ),
        (
            super::retention::SWEEP_TASK,
            Arc::new(super::retention::SweepHandler(state.clone())),
        ),
        (
            super::cloning::RENEW_TASK,
            Arc::new(super::cloning::RenewHandler(state.clone())),
        ),
        (
            super::reconcile::RECONCILE_TASK,
            Arc::new(super::reconcile::ReconcileHandler(state.clone())),
        ),
    ]
}
