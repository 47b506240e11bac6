//! HTTP handlers of the async-job and identity endpoints (all under `/api/v2`, same auth as the
//! other routes), `POST /api/v2/secure_uploads`, and `GET /_media/{id}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::media::{self, Media, MediaKind};
use super::{Identity, Job, JobKind};
use crate::audio::{signal, wav};
use crate::auth;
use crate::error::SimError;
use crate::faults;
use crate::state::SimState;

/// Confidence of every word of a recovered transcript.
const WORD_CONFIDENCE: f64 = 0.98;
/// Transcript of audio the simulator did not synthesize.
pub const INAUDIBLE: &str = "[inaudible]";
/// Detect score of audio carrying the simulator's text marker.
pub const FAKE_SCORE: f64 = 0.97;
/// Detect score of any other audio.
pub const REAL_SCORE: f64 = 0.03;
/// Bytes that make an image detect as `Fake`.
pub const FAKE_IMAGE_MARKER: &str = "indox-fake";

/// A request body: JSON object or `multipart/form-data`.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pub(crate) fields: Map<String, Value>,
    pub(crate) files: HashMap<String, Bytes>,
}

impl Form {
    pub(crate) fn parse(req: &HttpRequest, body: &Bytes) -> Result<Self, SimError> {
        let ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
            let mut form = Self::default();
            for part in media::multipart(ct, body)? {
                if part.is_file {
                    form.files.insert(part.name, part.data);
                } else {
                    let text = String::from_utf8_lossy(&part.data).into_owned();
                    form.fields.insert(part.name, Value::String(text));
                }
            }
            return Ok(form);
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| SimError::bad_request(format!("Request body must be JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(SimError::bad_request("Request body must be a JSON object"));
        };
        Ok(Self {
            fields,
            files: HashMap::new(),
        })
    }

    pub(crate) fn str(&self, field: &'static str) -> Result<Option<String>, SimError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(SimError::field(field, format!("{field} must be a string"))),
        }
    }

    pub(crate) fn required(&self, field: &'static str) -> Result<String, SimError> {
        self.str(field)?
            .ok_or_else(|| SimError::field(field, format!("{field} is required")))
    }
}

/// Where the input media came from, and what it turned out to be.
struct Input {
    url: Option<String>,
    media: Result<Media, String>,
}

async fn resolve_media(
    state: &SimState,
    form: &Form,
    file_field: Option<&'static str>,
    url_field: &'static str,
    token_fields: &[&'static str],
) -> Result<Input, SimError> {
    if let Some(bytes) = file_field.and_then(|f| form.files.get(f)) {
        return Ok(Input {
            url: None,
            media: media::analyze(bytes.clone()),
        });
    }
    if let Some(url) = form.str(url_field)? {
        media::check_url(state, url_field, &url)?;
        let media = match media::fetch(state, &url).await {
            Ok(bytes) => media::analyze(bytes),
            Err(e) => Err(e),
        };
        return Ok(Input {
            url: Some(url),
            media,
        });
    }
    for token_field in token_fields {
        if let Some(token) = form.str(token_field)? {
            let bytes = state.jobs.upload(&token).ok_or_else(|| {
                SimError::field(token_field, format!("{token_field} is unknown or expired"))
            })?;
            return Ok(Input {
                url: None,
                media: media::analyze(bytes),
            });
        }
    }
    let what = match file_field {
        Some(f) => format!("{f} parameter is required"),
        None => format!("{url_field} is required"),
    };
    Err(SimError::field(file_field.unwrap_or(url_field), what))
}

fn callback_field(
    state: &SimState,
    form: &Form,
    field: &'static str,
) -> Result<Option<String>, SimError> {
    let url = form.str(field)?;
    if let Some(u) = &url {
        media::check_url(state, field, u)?;
    }
    Ok(url)
}

fn contains_trigger(bytes: &[u8]) -> bool {
    bytes
        .windows(media::FAIL_TRIGGER.len())
        .any(|w| w == media::FAIL_TRIGGER.as_bytes())
}

/// Whether a new job must fail: the `fail-job` trigger in the request or the spoken text, or
/// the deterministic `job_failure_rate` draw.
fn injected_failure(state: &SimState, raw: &[u8], media: &Result<Media, String>) -> bool {
    let spoken = media
        .as_ref()
        .ok()
        .and_then(|m| m.text.as_deref())
        .is_some_and(|t| t.contains(media::FAIL_TRIGGER));
    let rate = state.knobs().job_failure_rate;
    let (u, _) = faults::draw(state.seed ^ 0x6A6F_6273, state.jobs.next_index());
    contains_trigger(raw) || spoken || u < rate
}

type Computed = Result<(Map<String, Value>, f64), String>;

/// Builds a job: `fields` always shown; `compute` turns the media into the result fields and
/// the billed seconds (or a failure message).
fn build_job(
    state: &SimState,
    kind: JobKind,
    raw: &[u8],
    input: &Input,
    fields: Map<String, Value>,
    callback_url: Option<String>,
    compute: impl FnOnce(&Media, &str) -> Computed,
) -> Job {
    let mut job = Job::new(kind, state.knobs().job_delay);
    job.fields = fields;
    job.callback_url = callback_url;
    let forced = injected_failure(state, raw, &input.media);
    let computed = match &input.media {
        Ok(m) => compute(m, &job.uuid),
        Err(e) => Err(e.clone()),
    };
    match computed {
        _ if forced => job.outcome = Err("Simulated job failure (injected)".to_owned()),
        Ok((result, seconds)) => {
            job.outcome = Ok(result);
            job.seconds = seconds;
        }
        Err(e) => job.outcome = Err(e),
    }
    job
}

pub(crate) fn media_url(state: &SimState, id: &str) -> String {
    format!("{}/_media/{id}", state.base_url())
}

fn require_audio(m: &Media) -> Result<(), String> {
    match m.kind {
        MediaKind::Audio(_) => Ok(()),
        MediaKind::Image(_) => Err("File must be a valid audio file".to_owned()),
    }
}

fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Words and timings of a text the simulator synthesized at `sample_rate`.
pub fn words_for(text: &str, sample_rate: u32) -> Vec<Value> {
    let times = signal::graph_times(text, sample_rate);
    let mut words = Vec::new();
    let mut current: Option<(String, f64, f64)> = None;
    for (c, start, end) in times {
        if c.is_whitespace() {
            if let Some((w, s, e)) = current.take() {
                words.push((w, s, e));
            }
            continue;
        }
        match &mut current {
            Some((w, _, e)) => {
                w.push(c);
                *e = end;
            }
            None => current = Some((c.to_string(), start, end)),
        }
    }
    if let Some(last) = current {
        words.push(last);
    }
    words
        .into_iter()
        .map(|(word, start, end)| {
            json!({"word": word, "start": round_ms(start), "end": round_ms(end),
                   "confidence": WORD_CONFIDENCE})
        })
        .collect()
}

/// What the simulated recogniser hears: the embedded text, or `[inaudible]`.
fn transcript(m: &Media) -> (String, Vec<Value>) {
    let rate = m.info.map(|i| i.sample_rate).unwrap_or(22_050);
    match &m.text {
        Some(t) => (t.clone(), words_for(t, rate)),
        None => (
            INAUDIBLE.to_owned(),
            vec![
                json!({"word": INAUDIBLE, "start": 0.0, "end": round_ms(m.duration()),
                        "confidence": 0.2}),
            ],
        ),
    }
}

fn created(item: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"success": true, "item": item}))
}

fn get_job(
    state: &Arc<SimState>,
    uuid: &str,
    kind: JobKind,
    not_found: SimError,
) -> Result<HttpResponse, SimError> {
    if state.jobs.peek(uuid, kind).is_none() {
        return Err(not_found);
    }
    let job = super::advance_and_notify(state, uuid).ok_or(not_found)?;
    Ok(HttpResponse::Ok().json(job.get_body()))
}

fn prefers_wait(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("wait")))
}

// ---------------------------------------------------------------------------------------------
// Speech-to-text

/// `POST /api/v2/speech-to-text`: multipart `file`, JSON `url` or `audio_token`.
pub async fn stt_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = Form::parse(&req, &body)?;
    let callback_url = callback_field(&state, &form, "callback_url")?;
    let query = form.str("query")?;
    let input = resolve_media(&state, &form, Some("file"), "url", &["audio_token"])
        .await
        .map_err(|e| match e {
            SimError::BadRequest {
                field: Some("file"),
                ..
            } => SimError::bad_request("Provide one of file, url or audio_token"),
            other => other,
        })?;
    let mut fields = Map::new();
    fields.insert("query".into(), json!(query));
    fields.insert("file_url".into(), json!(input.url));
    fields.insert("privacy_mode".into(), json!(false));
    fields.insert("file_deleted_at".into(), Value::Null);
    fields.insert("content_deleted_at".into(), Value::Null);
    let job = build_job(
        &state,
        JobKind::Stt,
        &body,
        &input,
        fields,
        callback_url,
        |m, _| {
            require_audio(m)?;
            let (text, words) = transcript(m);
            let answer = query
                .as_ref()
                .map(|q| format!("(simulated) Asked {q:?}; the transcript says: {text}"));
            let mut r = Map::new();
            r.insert("text".into(), json!(text));
            r.insert("words".into(), json!(words));
            r.insert("duration_seconds".into(), json!(m.duration()));
            r.insert("answer".into(), json!(answer));
            Ok((r, m.duration()))
        },
    );
    let job = super::launch(&state, job);
    Ok(created(job.item()))
}

/// `GET /api/v2/speech-to-text/{uuid}`.
pub async fn stt_get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    get_job(
        &state.into_inner(),
        &path,
        JobKind::Stt,
        SimError::JobNotFound {
            key: "error",
            message: "Transcript not found",
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Audio enhancement

/// `POST /api/v2/audio_enhancements`: multipart `audio_file` (documented) or JSON `url`.
pub async fn enhance_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = Form::parse(&req, &body)?;
    match form.str("enhancement_engine")?.as_deref() {
        None | Some("v1") | Some("v2") => {}
        Some(_) => {
            return Err(SimError::field(
                "enhancement_engine",
                "enhancement_engine must be v1 or v2",
            ))
        }
    }
    let input = resolve_media(&state, &form, Some("audio_file"), "url", &[]).await?;
    let job = build_job(
        &state,
        JobKind::Enhance,
        &body,
        &input,
        Map::new(),
        None,
        |m, uuid| {
            require_audio(m)?;
            state
                .jobs
                .put_media(uuid, m.bytes.clone(), m.content_type());
            let mut r = Map::new();
            r.insert("enhanced_audio_url".into(), json!(media_url(&state, uuid)));
            Ok((r, m.duration()))
        },
    );
    let job = super::launch(&state, job);
    Ok(HttpResponse::Accepted()
        .json(json!({"success": true, "uuid": job.uuid, "status": job.status.as_str()})))
}

/// `GET /api/v2/audio_enhancements/{uuid}`.
pub async fn enhance_get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    get_job(
        &state.into_inner(),
        &path,
        JobKind::Enhance,
        SimError::JobNotFound {
            key: "message",
            message: "Audio enhancement not found or not accessible",
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Audio edit

/// `POST /api/v2/edit`: JSON (`input_audio` = URL) or multipart (`input_audio` = file).
pub async fn edit_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = Form::parse(&req, &body)?;
    let original = form.required("original_transcript")?;
    let target = form.required("target_transcript")?;
    let voice_uuid = form.required("voice_uuid")?;
    crate::cloning::check_usable(&state, &voice_uuid)?;
    let callback_uri = callback_field(&state, &form, "callback_uri")?;
    let input = resolve_media(&state, &form, Some("input_audio"), "input_audio", &[]).await?;
    let mut fields = Map::new();
    fields.insert("voice_uuid".into(), json!(voice_uuid));
    fields.insert("original_transcript".into(), json!(original));
    fields.insert("target_transcript".into(), json!(target));
    fields.insert("input_audio_url".into(), json!(input.url));
    let job = build_job(
        &state,
        JobKind::Edit,
        &body,
        &input,
        fields,
        callback_uri,
        |m, uuid| {
            require_audio(m)?;
            let rate = m
                .info
                .map(|i| i.sample_rate)
                .filter(|r| crate::tts::SAMPLE_RATES.contains(r))
                .unwrap_or(22_050);
            let pcm = signal::render(&target, rate);
            let out = wav::encode(&pcm, rate, wav::Precision::Pcm16, &target);
            state.jobs.put_media(uuid, Bytes::from(out), "audio/wav");
            let mut r = Map::new();
            r.insert("result_audio_url".into(), json!(media_url(&state, uuid)));
            Ok((r, m.duration()))
        },
    );
    let job = super::launch(&state, job);
    Ok(created(job.item()))
}

/// `GET /api/v2/edit/{uuid}`.
pub async fn edit_get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    get_job(
        &state.into_inner(),
        &path,
        JobKind::Edit,
        SimError::ItemNotFound,
    )
}

// ---------------------------------------------------------------------------------------------
// Detect

fn score_str(x: f64) -> String {
    format!("{x:.2}")
}

/// The verdict fields of a completed detect.
fn detect_result(m: &Media, frame_length: f64) -> Map<String, Value> {
    let mut r = Map::new();
    match m.kind {
        MediaKind::Audio(_) => {
            let fake = m.text.is_some();
            let score = if fake { FAKE_SCORE } else { REAL_SCORE };
            let chunks = (m.duration() / frame_length).ceil().max(1.0) as usize;
            r.insert("duration".into(), json!(m.duration()));
            r.insert(
                "metrics".into(),
                json!({
                    "label": if fake { "fake" } else { "real" },
                    "score": vec![score_str(score); chunks],
                    "consistency": score_str(0.99),
                    "aggregated_score": score_str(score),
                    "image": null,
                }),
            );
        }
        MediaKind::Image(_) => {
            let fake = m
                .bytes
                .windows(FAKE_IMAGE_MARKER.len())
                .any(|w| w == FAKE_IMAGE_MARKER.as_bytes());
            r.insert(
                "image_metrics".into(),
                json!({
                    "type": "FinalResult",
                    "label": if fake { "Fake" } else { "Real" },
                    "score": if fake { 0.93 } else { 0.04 },
                    "image": null,
                    "children": [],
                }),
            );
        }
    }
    r
}

/// `POST /api/v2/detect`: JSON `url`, multipart `file`, or `media_token`. `Prefer: wait`
/// answers with the finished item.
pub async fn detect_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = Form::parse(&req, &body)?;
    let callback_url = callback_field(&state, &form, "callback_url")?;
    match form.str("modality")?.as_deref() {
        None | Some("audio" | "video" | "all") => {}
        Some(_) => {
            return Err(SimError::field(
                "modality",
                "modality must be audio, video or all",
            ))
        }
    }
    let frame_length = match form.fields.get("frame_length") {
        None | Some(Value::Null) => 2.0,
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|f| (1.0..=4.0).contains(f))
            .ok_or_else(|| SimError::field("frame_length", "frame_length must be 1-4"))?,
    };
    let input = resolve_media(&state, &form, Some("file"), "url", &["media_token"]).await?;
    let mut fields = Map::new();
    let media_type = input
        .media
        .as_ref()
        .map(Media::media_type)
        .unwrap_or("audio");
    fields.insert("media_type".into(), json!(media_type));
    fields.insert("url".into(), json!(input.url));
    fields.insert("audio_url".into(), json!(input.url));
    fields.insert("filename".into(), Value::Null);
    fields.insert("visualize".into(), json!(false));
    fields.insert("zero_retention_mode".into(), json!(false));
    fields.insert("media_redacted".into(), json!(false));
    fields.insert("media_deleted".into(), json!(false));
    fields.insert("file_deleted_at".into(), Value::Null);
    fields.insert("extra_params".into(), json!({}));
    let job = build_job(
        &state,
        JobKind::Detect,
        &body,
        &input,
        fields,
        callback_url,
        |m, _| Ok((detect_result(m, frame_length), m.duration())),
    );
    let job = super::launch(&state, job);
    if prefers_wait(&req) {
        if let Some(done) = super::wait_for(&state, &job.uuid).await {
            return Ok(HttpResponse::Ok().json(done.get_body()));
        }
    }
    Ok(created(job.item()))
}

/// `GET /api/v2/detect/{uuid}`.
pub async fn detect_get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    get_job(
        &state.into_inner(),
        &path,
        JobKind::Detect,
        SimError::JobNotFound {
            key: "message",
            message: "Detect not found",
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Intelligence

fn intelligence_description(m: &Media) -> Value {
    match m.kind {
        MediaKind::Audio(_) => {
            let fake = m.text.is_some();
            let (text, _) = transcript(m);
            json!({
                "speaker_info": "single adult speaker (simulated)",
                "language": "en",
                "dialect": "General American",
                "emotion": "neutral",
                "speaking_style": "read speech",
                "context": "simulated analysis",
                "message": text,
                "abnormalities": if fake { "tonal artifacts typical of generated speech" } else { "none detected" },
                "transcription": text,
                "translation": null,
                "misinformation": "none detected",
                "fraud": {"type": "none", "confidence": 0.9, "reasoning": "no fraud indicators (simulated)"},
                "liveness": {"assessment": if fake { "synthetic" } else { "live" }, "confidence": 0.95},
                "digitally_altered": {"assessment": if fake { "likely" } else { "unlikely" }, "confidence": 0.95},
            })
        }
        MediaKind::Image(_) => json!({
            "scene_description": "a still image (simulated)",
            "subjects": [],
            "authenticity_analysis": "no manipulation detected (simulated)",
            "context_and_setting": "unknown",
            "abnormalities": "none detected",
            "misinformation": "none detected",
        }),
    }
}

/// `POST /api/v2/intelligence`: synchronous 200 with the result, or 202 with a stub item when
/// `callback_url` is given (then the result is POSTed and available at `/intelligences/{uuid}`).
pub async fn intelligence_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = Form::parse(&req, &body)?;
    let callback_url = callback_field(&state, &form, "callback_url")?;
    let requested_type = form.str("media_type")?;
    if let Some(t) = &requested_type {
        if !matches!(t.as_str(), "audio" | "video" | "image") {
            return Err(SimError::field(
                "media_type",
                "media_type must be audio, video or image",
            ));
        }
    }
    let input = resolve_media(&state, &form, Some("file"), "url", &["media_token"]).await?;
    let media_type = input
        .media
        .as_ref()
        .map(|m| m.media_type().to_owned())
        .ok()
        .or(requested_type)
        .unwrap_or_else(|| "audio".to_owned());
    let mut fields = Map::new();
    fields.insert("media_type".into(), json!(media_type));
    fields.insert("detect_uuid".into(), Value::Null);
    let is_async = callback_url.is_some();
    let mut job = build_job(
        &state,
        JobKind::Intelligence,
        &body,
        &input,
        fields,
        callback_url,
        |m, _| {
            let mut r = Map::new();
            r.insert("description".into(), intelligence_description(m));
            Ok((r, m.duration()))
        },
    );
    if is_async {
        let job = super::launch(&state, job);
        return Ok(HttpResponse::Accepted().json(json!({
            "success": true,
            "item": {"uuid": job.uuid, "media_type": media_type,
                     "created_at": job.created_at.to_rfc3339()},
        })));
    }
    if let Err(e) = &job.outcome {
        return Err(SimError::field("url", e.clone()));
    }
    job.delay = Duration::ZERO;
    let uuid = job.uuid.clone();
    state.jobs.insert(job);
    let job = super::advance(&state, &uuid)
        .map(|(j, _)| j)
        .ok_or_else(|| SimError::Internal("intelligence vanished".into()))?;
    Ok(HttpResponse::Ok().json(job.get_body()))
}

/// `GET /api/v2/intelligences/{uuid}`.
pub async fn intelligence_get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    get_job(
        &state.into_inner(),
        &path,
        JobKind::Intelligence,
        SimError::ItemNotFound,
    )
}

// ---------------------------------------------------------------------------------------------
// Watermark

fn watermark_kind(op: &str) -> Option<JobKind> {
    match op {
        "apply" => Some(JobKind::WatermarkApply),
        "detect" => Some(JobKind::WatermarkDetect),
        _ => None,
    }
}

/// `POST /api/v2/watermark/{apply|detect}` JSON `{url}`; `Prefer: wait` answers when done.
pub async fn watermark_create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let op = path.into_inner();
    let kind = watermark_kind(&op)
        .ok_or_else(|| SimError::NoRoute(format!("POST /api/v2/watermark/{op}")))?;
    let form = Form::parse(&req, &body)?;
    if let Some(s) = form.fields.get("strength").filter(|v| !v.is_null()) {
        if !s.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)) {
            return Err(SimError::field("strength", "strength must be within 0..=1"));
        }
    }
    let input = resolve_media(&state, &form, None, "url", &[]).await?;
    let mut fields = Map::new();
    let media_type = input
        .media
        .as_ref()
        .map(Media::media_type)
        .unwrap_or("audio");
    fields.insert("media_type".into(), json!(media_type));
    fields.insert("operation_type".into(), json!(op));
    fields.insert("model_version".into(), json!("perth_v2"));
    fields.insert("source_media_url".into(), json!(input.url));
    let job = build_job(&state, kind, &body, &input, fields, None, |m, uuid| {
        let MediaKind::Audio(format) = m.kind else {
            return Err(
                "File must be valid media format (the simulator watermarks audio only)".to_owned(),
            );
        };
        let mut r = Map::new();
        if kind == JobKind::WatermarkApply {
            let marked = media::apply_watermark(&m.bytes, format)?;
            state
                .jobs
                .put_media(uuid, Bytes::from(marked), m.content_type());
            r.insert("watermarked_media".into(), json!(media_url(&state, uuid)));
        } else {
            let found = m.watermarked;
            r.insert(
                "metrics".into(),
                json!({"has_watermark": found, "confidence": if found { 0.99 } else { 0.01 }}),
            );
        }
        Ok((r, m.duration()))
    });
    let job = super::launch(&state, job);
    if prefers_wait(&req) {
        if let Some(done) = super::wait_for(&state, &job.uuid).await {
            return Ok(HttpResponse::Ok().json(done.get_body()));
        }
    }
    Ok(created(job.item()))
}

/// `GET /api/v2/watermark/{apply|detect}/{uuid}/result`.
pub async fn watermark_get(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let (op, uuid) = path.into_inner();
    let not_found = SimError::JobNotFound {
        key: "error",
        message: "Not found",
    };
    let kind = watermark_kind(&op).ok_or(SimError::JobNotFound {
        key: "error",
        message: "Not found",
    })?;
    get_job(&state.into_inner(), &uuid, kind, not_found)
}

// ---------------------------------------------------------------------------------------------
// Identity (synchronous)

/// A voice fingerprint: FNV-1a of the embedded text if any, else of the bytes.
fn fingerprint(m: &Media) -> u64 {
    let data: &[u8] = match &m.text {
        Some(t) => t.as_bytes(),
        None => &m.bytes,
    };
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn unprocessable(message: String) -> HttpResponse {
    HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY)
        .json(json!({"success": false, "message": message, "error": message}))
}

/// `POST /api/v2/identity`: `{name, url|signed_id}` (enrolls now) or `{identity:{name,..}}`.
pub async fn identity_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let mut form = Form::parse(&req, &body)?;
    let mut identity_type = "person".to_owned();
    let mut visibility = "team".to_owned();
    if let Some(Value::Object(nested)) = form.fields.get("identity").cloned() {
        for (k, v) in nested {
            form.fields.entry(k).or_insert(v);
        }
    }
    let name = form.required("name")?;
    if name.chars().count() > 120 {
        return Ok(unprocessable("name is too long (max 120)".to_owned()));
    }
    if let Some(t) = form.str("identity_type")? {
        identity_type = t;
    }
    if let Some(v) = form.str("visibility")? {
        visibility = v;
    }
    let has_media = form.str("url")?.is_some() || form.str("signed_id")?.is_some();
    let (fp, url, seconds) = if has_media {
        let input = resolve_media(&state, &form, None, "url", &["signed_id"]).await?;
        let m = match input.media {
            Ok(m) if matches!(m.kind, MediaKind::Audio(_)) => m,
            Ok(_) => return Ok(unprocessable("File must be a valid audio file".to_owned())),
            Err(e) => return Ok(unprocessable(e)),
        };
        (Some(fingerprint(&m)), input.url, m.duration())
    } else {
        (None, None, 0.0)
    };
    let identity = Identity {
        uuid: uuid::Uuid::new_v4().to_string(),
        name,
        fingerprint: fp,
        audio_url: url,
        created_at: chrono::Utc::now(),
    };
    state.bill_unit(chrono::Utc::now().date_naive(), "identity", seconds);
    state.jobs.add_identity(identity.clone());
    Ok(created(json!({
        "uuid": identity.uuid,
        "name": identity.name,
        "created_at": identity.created_at.to_rfc3339(),
        "audio_url": identity.audio_url,
        "visibility": visibility,
        "identity_type": identity_type,
    })))
}

/// `POST /api/v2/identity/search {url|signed_id, top_k?}` → `item:[{uuid,name,confidence,
/// distance}]`, best first (DOCS shape).
pub async fn identity_search(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let form = Form::parse(&req, &body)?;
    let top_k = match form.fields.get("top_k") {
        None | Some(Value::Null) => 5,
        Some(v) => v
            .as_u64()
            .filter(|k| (1..=20).contains(k))
            .ok_or_else(|| SimError::field("top_k", "top_k must be within 1..=20"))?,
    };
    let input = resolve_media(&state, &form, None, "url", &["signed_id"]).await?;
    let m = match input.media {
        Ok(m) if matches!(m.kind, MediaKind::Audio(_)) => m,
        Ok(_) => return Ok(unprocessable("File must be a valid audio file".to_owned())),
        Err(e) => return Ok(unprocessable(e)),
    };
    let probe = fingerprint(&m);
    state.bill_unit(chrono::Utc::now().date_naive(), "identity", m.duration());
    let mut scored: Vec<(f64, Identity)> = state
        .jobs
        .identities()
        .into_iter()
        .filter_map(|id| {
            let fp = id.fingerprint?;
            let confidence = if fp == probe {
                0.99
            } else {
                // A stable low similarity in [0.05, 0.35).
                0.05 + ((fp ^ probe) % 300) as f64 / 1000.0
            };
            Some((confidence, id))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let items: Vec<Value> = scored
        .into_iter()
        .take(top_k as usize)
        .map(|(c, id)| {
            json!({"uuid": id.uuid, "name": id.name, "confidence": c,
                   "distance": round_ms(1.0 - c)})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"success": true, "item": items})))
}

// ---------------------------------------------------------------------------------------------
// Uploads and served media

/// `POST /api/v2/secure_uploads` (multipart `file`) → `{success,token}`; the token works as
/// `audio_token`, `media_token` and `signed_id`.
pub async fn secure_upload(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let form = Form::parse(&req, &body)?;
    let file = form
        .files
        .get("file")
        .cloned()
        .ok_or_else(|| SimError::field("file", "file parameter is required"))?;
    let token = format!("simupload.{}", uuid::Uuid::new_v4().simple());
    state.jobs.put_upload(&token, file);
    Ok(HttpResponse::Ok().json(json!({"success": true, "token": token})))
}

/// `GET /_media/{id}`: job outputs (enhanced, edited, watermarked audio). No auth, like the
/// upstream's signed URLs.
pub async fn media_get(path: web::Path<String>, state: web::Data<SimState>) -> HttpResponse {
    match state.jobs.media(&path) {
        Some((bytes, content_type)) => HttpResponse::Ok().content_type(content_type).body(bytes),
        None => HttpResponse::NotFound().json(json!({"success": false, "message": "Not found"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_the_character_timing() {
        let w = words_for("hello big world", 8000);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0]["word"], "hello");
        assert_eq!(w[0]["start"], 0.1);
        assert_eq!(w[0]["end"], 0.425);
        assert_eq!(w[1]["word"], "big");
        assert_eq!(w[1]["start"], 0.49);
        assert_eq!(w[2]["end"], 1.075);
    }

    #[test]
    fn trigger_detection() {
        assert!(contains_trigger(br#"{"url":"http://x/fail-job.wav"}"#));
        assert!(!contains_trigger(br#"{"url":"http://x/ok.wav"}"#));
    }
}
