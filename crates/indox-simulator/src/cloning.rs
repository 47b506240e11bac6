//! Custom voices (create, build/train, delete), their recordings, and voice design: the
//! voice table, the time-driven training lifecycle with signed callbacks, and the handlers.
//!
//! A custom voice is `pending` from creation until its training ends (Resemble documents no
//! `training` status), then `finished` or `failed`. Training lasts `voice_training_delay`;
//! voices advance lazily on every read and from a background task that also fires the
//! `callback_uri` and bills one `voice_subscriptions` unit per finished voice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::audio::{signal, wav};
use crate::auth;
use crate::error::SimError;
use crate::jobs::api::{media_url, Form};
use crate::jobs::{callback, media};
use crate::state::SimState;
use crate::voices;

/// Substring of a voice name that makes its training fail (deterministically).
pub const FAIL_TRIGGER: &str = "fail-voice";
/// `billing_usage` unit counting voices that finished training.
pub const VOICE_UNIT: &str = "voice_subscriptions";
/// Recordings a professional voice needs before it can be built.
pub const PROFESSIONAL_MIN_RECORDINGS: usize = 3;
/// Candidates a voice design returns.
pub const DESIGN_CANDIDATES: usize = 3;
/// Sample rate of voice-design previews.
const DESIGN_SAMPLE_RATE: u32 = 22_050;
/// Characters of the prompt spoken in a design preview.
const DESIGN_PROMPT_CHARS: usize = 24;

/// `professional` (default) or `rapid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceType {
    /// Needs ≥ 3 active recordings.
    Professional,
    /// Needs ≥ 1 active recording or a `dataset_url`.
    Rapid,
}

impl VoiceType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Professional => "professional",
            Self::Rapid => "rapid",
        }
    }
}

/// Voice status (the documented strings only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceStatus {
    /// Created, or training.
    Pending,
    /// Trained.
    Finished,
    /// Training failed.
    Failed,
}

impl VoiceStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Finished => "finished",
            Self::Failed => "failed",
        }
    }
}

/// A recording of a custom voice.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Recording uuid.
    pub uuid: String,
    /// Unique per voice.
    pub name: String,
    /// Transcript.
    pub text: String,
    /// Emotion label.
    pub emotion: String,
    /// Whether it counts for the build.
    pub is_active: bool,
    /// Fill flag (echoed).
    pub fill: bool,
    /// Measured length in seconds.
    pub duration: f64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
struct Training {
    started: Instant,
    delay: Duration,
    succeeds: bool,
}

/// A custom voice of this simulator's single team.
#[derive(Debug, Clone)]
pub struct CustomVoice {
    /// 8 hex digits, like the stock voices.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Professional or rapid.
    pub voice_type: VoiceType,
    /// `language` at creation (default `en-US`).
    pub language: String,
    /// Free text.
    pub description: Option<String>,
    /// Dataset URL (never fetched).
    pub dataset_url: Option<String>,
    /// Where to POST the training result.
    pub callback_uri: Option<String>,
    /// `"Custom"` or `"Voice Design"`.
    pub source: &'static str,
    /// Current status (as of the last advance).
    pub status: VoiceStatus,
    /// Usable for synthesis before training finishes (voices made from a design).
    pub usable_early: bool,
    /// Recordings, in upload order.
    pub recordings: Vec<Recording>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    training: Option<Training>,
}

impl CustomVoice {
    fn status_at(&self, now: Instant) -> VoiceStatus {
        match self.training {
            Some(t) if now.saturating_duration_since(t.started) >= t.delay => {
                if t.succeeds {
                    VoiceStatus::Finished
                } else {
                    VoiceStatus::Failed
                }
            }
            _ => self.status,
        }
    }

    /// Whether a training run is under way.
    pub fn is_training(&self) -> bool {
        self.training.is_some() && self.status == VoiceStatus::Pending
    }

    /// Whether `/synthesize` may use it.
    pub fn is_usable(&self) -> bool {
        match self.status {
            VoiceStatus::Finished => true,
            VoiceStatus::Pending => self.usable_early && self.training.is_some(),
            VoiceStatus::Failed => false,
        }
    }

    fn active_recordings(&self) -> usize {
        self.recordings.iter().filter(|r| r.is_active).count()
    }

    /// The voice object as `GET /voices/{uuid}` shows it.
    pub fn item(&self) -> Value {
        let component = match self.status {
            VoiceStatus::Finished => "ready",
            VoiceStatus::Failed => "failed",
            VoiceStatus::Pending => "pending",
        };
        let usable = self.is_usable();
        json!({
            "uuid": self.uuid,
            "name": self.name,
            "status": self.status.as_str(),
            "voice_status": self.status.as_str(),
            "voice_type": self.voice_type.as_str(),
            "default_language": self.language,
            "supported_languages": [self.language],
            "dataset_url": self.dataset_url,
            "callback_uri": self.callback_uri,
            "source": self.source,
            "description": self.description,
            "component_status": {
                "text_to_speech": {"status": component},
                "fill": {"status": component},
                "voice_conversion": {"status": component}
            },
            "api_support": {
                "sync": usable, "async": usable, "direct_synthesis": usable, "streaming": usable
            },
            "created_at": self.created_at.to_rfc3339(),
            "updated_at": self.updated_at.to_rfc3339(),
        })
    }
}

/// A voice design: the prompt and its preview samples (`/_media/{design}-{index}`).
#[derive(Debug, Clone)]
pub struct Design {
    /// Design uuid (the `uuid` of every candidate).
    pub uuid: String,
    /// `user_prompt`.
    pub prompt: String,
    /// Preview URLs by sample index.
    pub samples: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Custom voices and voice designs.
#[derive(Debug, Default)]
pub struct VoiceStore {
    voices: Mutex<Vec<CustomVoice>>,
    designs: Mutex<HashMap<String, Design>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl VoiceStore {
    fn with_voice<R>(&self, uuid: &str, f: impl FnOnce(&mut CustomVoice) -> R) -> Option<R> {
        lock(&self.voices)
            .iter_mut()
            .find(|v| v.uuid == uuid)
            .map(f)
    }

    fn insert(&self, voice: CustomVoice) {
        lock(&self.voices).push(voice);
    }

    fn remove(&self, uuid: &str) -> bool {
        let mut voices = lock(&self.voices);
        let before = voices.len();
        voices.retain(|v| v.uuid != uuid);
        voices.len() != before
    }

    fn uuids(&self) -> Vec<String> {
        lock(&self.voices).iter().map(|v| v.uuid.clone()).collect()
    }

    /// A fresh 8-hex uuid that no stock or custom voice uses.
    fn fresh_uuid(&self) -> String {
        let voices = lock(&self.voices);
        loop {
            let raw = uuid::Uuid::new_v4().simple().to_string();
            let id = raw.get(..8).unwrap_or(&raw).to_owned();
            if !voices::exists(&id) && !voices.iter().any(|v| v.uuid == id) {
                return id;
            }
        }
    }

    /// Moves a voice to the status its training age implies. Returns the voice and whether
    /// this call ended its training.
    fn advance_locked(&self, uuid: &str) -> Option<(CustomVoice, bool)> {
        self.with_voice(uuid, |v| {
            let status = v.status_at(Instant::now());
            let ended = status != v.status;
            if ended {
                v.status = status;
                v.updated_at = Utc::now();
            }
            (v.clone(), ended)
        })
    }
}

/// Advances a custom voice; when its training just ended, bills a finished voice and sends the
/// `callback_uri` (in the background).
pub fn advance(state: &Arc<SimState>, uuid: &str) -> Option<CustomVoice> {
    let (voice, ended) = state.voices.advance_locked(uuid)?;
    if ended {
        if voice.status == VoiceStatus::Finished {
            state.bill_unit(Utc::now().date_naive(), VOICE_UNIT, 1.0);
        }
        if let Some(url) = voice.callback_uri.clone() {
            let ok = voice.status == VoiceStatus::Finished;
            let body = json!({"ok": ok, "id": voice.uuid, "status": voice.status.as_str()});
            tokio::spawn(callback::deliver(Arc::clone(state), url, body));
        }
    }
    Some(voice)
}

/// All custom voices (advanced), in creation order.
pub fn all(state: &Arc<SimState>) -> Vec<CustomVoice> {
    state
        .voices
        .uuids()
        .iter()
        .filter_map(|u| advance(state, u))
        .collect()
}

/// Ok for a stock voice or a usable custom voice; 404 `Voice not found` for an unknown
/// (or deleted) one; 400 `Voice is not ready` for a custom voice that is not trained.
pub fn check_usable(state: &Arc<SimState>, uuid: &str) -> Result<(), SimError> {
    if voices::exists(uuid) {
        return Ok(());
    }
    match advance(state, uuid) {
        None => Err(SimError::VoiceNotFound),
        Some(v) if v.is_usable() => Ok(()),
        Some(_) => Err(SimError::VoiceNotReady),
    }
}

/// Starts training now; a background task ends it on time (so the callback needs no poll).
fn start_training(state: &Arc<SimState>, uuid: &str) -> Option<CustomVoice> {
    let delay = state.knobs().voice_training_delay;
    let voice = state.voices.with_voice(uuid, |v| {
        v.training = Some(Training {
            started: Instant::now(),
            delay,
            succeeds: !v.name.contains(FAIL_TRIGGER),
        });
        v.status = VoiceStatus::Pending;
        v.updated_at = Utc::now();
        v.clone()
    })?;
    let state = Arc::clone(state);
    let uuid = uuid.to_owned();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // A read may already have ended it (then it also sent the callback).
        advance(&state, &uuid);
    });
    Some(voice)
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), SimError> {
    if value.chars().count() > max {
        return Err(SimError::field(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn opt_bool(form: &Form, field: &'static str, default: bool) -> Result<bool, SimError> {
    match form.fields.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(default),
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(SimError::field(field, format!("{field} must be a boolean"))),
        },
        Some(_) => Err(SimError::field(field, format!("{field} must be a boolean"))),
    }
}

/// A custom voice of the team, advanced; stock voices are not the team's (404).
fn team_voice(state: &Arc<SimState>, uuid: &str) -> Result<CustomVoice, SimError> {
    advance(state, uuid).ok_or(SimError::ItemNotFound)
}

fn new_voice(
    state: &SimState,
    name: String,
    voice_type: VoiceType,
    language: String,
) -> CustomVoice {
    let now = Utc::now();
    CustomVoice {
        uuid: state.voices.fresh_uuid(),
        name,
        voice_type,
        language,
        description: None,
        dataset_url: None,
        callback_uri: None,
        source: "Custom",
        status: VoiceStatus::Pending,
        usable_early: false,
        recordings: Vec::new(),
        created_at: now,
        updated_at: now,
        training: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Voices

/// `POST /api/v2/voices` JSON `{name*, voice_type, language, description, dataset_url,
/// callback_uri}` → `{success,item}` with `status:"pending"`. A professional voice created
/// with a `dataset_url` starts training at once (documented: it trains automatically).
pub async fn create_voice(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = Form::parse(&req, &body)?;
    let name = form.required("name")?;
    check_len("name", &name, 256)?;
    let voice_type = match form.str("voice_type")?.as_deref() {
        None | Some("professional") => VoiceType::Professional,
        Some("rapid" | "rapid_voice") => VoiceType::Rapid,
        Some(other) => {
            return Err(SimError::field(
                "voice_type",
                format!("voice_type must be professional or rapid, got {other:?}"),
            ))
        }
    };
    let language = form.str("language")?.unwrap_or_else(|| "en-US".to_owned());
    check_len("language", &language, 16)?;
    let description = form.str("description")?;
    let dataset_url = form.str("dataset_url")?;
    if let Some(url) = &dataset_url {
        check_len("dataset_url", url, 30_000)?;
        media::check_url(&state, "dataset_url", url)?;
    }
    let callback_uri = form.str("callback_uri")?;
    if let Some(url) = &callback_uri {
        check_len("callback_uri", url, 1000)?;
        media::check_url(&state, "callback_uri", url)?;
    }
    let mut voice = new_voice(&state, name, voice_type, language);
    voice.description = description;
    voice.dataset_url = dataset_url;
    voice.callback_uri = callback_uri;
    let auto_train = voice_type == VoiceType::Professional && voice.dataset_url.is_some();
    let uuid = voice.uuid.clone();
    let mut item = voice.item();
    state.voices.insert(voice);
    if auto_train {
        if let Some(v) = start_training(&state, &uuid) {
            item = v.item();
        }
    }
    Ok(HttpResponse::Ok().json(json!({"success": true, "item": item})))
}

/// `DELETE /api/v2/voices/{uuid}` → `{"success":true,"message":"Voice was deleted."}`.
pub async fn delete_voice(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    if !state.voices.remove(&path) {
        return Err(SimError::ItemNotFound);
    }
    Ok(HttpResponse::Ok().json(json!({"success": true, "message": "Voice was deleted."})))
}

/// `POST /api/v2/voices/{uuid}/build` `{fill?}` → `{success:true,message:"Voice build started"}`.
pub async fn build(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let form = if body.iter().all(u8::is_ascii_whitespace) {
        Form::default()
    } else {
        Form::parse(&req, &body)?
    };
    opt_bool(&form, "fill", false)?;
    let voice = team_voice(&state, &path)?;
    if voice.is_training() {
        return Err(SimError::bad_request("Voice is already being built"));
    }
    if voice.status == VoiceStatus::Finished {
        return Err(SimError::bad_request("Voice has already been built"));
    }
    let active = voice.active_recordings();
    match voice.voice_type {
        VoiceType::Professional if active < PROFESSIONAL_MIN_RECORDINGS => {
            return Err(SimError::bad_request(format!(
                "Professional voices need at least {PROFESSIONAL_MIN_RECORDINGS} active \
                 recordings to build; this voice has {active}"
            )));
        }
        VoiceType::Rapid if active == 0 && voice.dataset_url.is_none() => {
            return Err(SimError::bad_request(
                "Rapid voices need at least 1 active recording or a dataset_url to build",
            ));
        }
        _ => {}
    }
    start_training(&state, &voice.uuid).ok_or(SimError::ItemNotFound)?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "message": "Voice build started"})))
}

// ---------------------------------------------------------------------------------------------
// Recordings

fn recording_media_id(voice: &str, recording: &str) -> String {
    format!("rec-{voice}-{recording}")
}

fn recording_item(state: &SimState, voice: &str, r: &Recording) -> Value {
    json!({
        "uuid": r.uuid,
        "name": r.name,
        "text": r.text,
        "emotion": r.emotion,
        "fill": r.fill,
        "is_active": r.is_active,
        "audio_src": media_url(state, &recording_media_id(voice, &r.uuid)),
        "metrics": {
            "signal_to_noise_ratio": 35.0,
            "loudness_grade": "good",
            "resemble_sample_score": 0.9
        },
        "created_at": r.created_at.to_rfc3339(),
        "updated_at": r.updated_at.to_rfc3339(),
    })
}

/// `POST /api/v2/voices/{uuid}/recordings` multipart `{file*, name*, text*, emotion,
/// is_active, fill}` → `{success,item}`.
pub async fn recording_create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let voice = team_voice(&state, &path)?;
    let form = Form::parse(&req, &body)?;
    let file = form
        .files
        .get("file")
        .cloned()
        .ok_or_else(|| SimError::field("file", "file parameter is required"))?;
    let name = form.required("name")?;
    check_len("name", &name, 256)?;
    let text = form.required("text")?;
    check_len("text", &text, 1024)?;
    let emotion = form.str("emotion")?.unwrap_or_else(|| "neutral".to_owned());
    check_len("emotion", &emotion, 64)?;
    let is_active = opt_bool(&form, "is_active", true)?;
    let fill = opt_bool(&form, "fill", false)?;
    let analysed = media::analyze(file).map_err(|e| SimError::field("file", e))?;
    if analysed.media_type() != "audio" {
        return Err(SimError::field("file", "file must be WAV or MP3 audio"));
    }
    if voice.recordings.iter().any(|r| r.name == name) {
        return Err(SimError::field(
            "name",
            "name must be unique among the voice's recordings",
        ));
    }
    let now = Utc::now();
    let recording = Recording {
        uuid: uuid::Uuid::new_v4().to_string(),
        name,
        text,
        emotion,
        is_active,
        fill,
        duration: analysed.duration(),
        created_at: now,
        updated_at: now,
    };
    // Re-check uniqueness under the lock (a concurrent upload may have won the name).
    let added = state.voices.with_voice(&voice.uuid, |v| {
        if v.recordings.iter().any(|r| r.name == recording.name) {
            false
        } else {
            v.recordings.push(recording.clone());
            true
        }
    });
    match added {
        None => return Err(SimError::ItemNotFound),
        Some(false) => {
            return Err(SimError::field(
                "name",
                "name must be unique among the voice's recordings",
            ))
        }
        Some(true) => {}
    }
    state.jobs.put_media(
        &recording_media_id(&voice.uuid, &recording.uuid),
        analysed.bytes.clone(),
        analysed.content_type(),
    );
    let item = recording_item(&state, &voice.uuid, &recording);
    Ok(HttpResponse::Ok().json(json!({"success": true, "item": item})))
}

/// `GET /api/v2/voices/{uuid}/recordings?page=&page_size=` (pagination A′).
pub async fn recording_list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let (page, page_size) = voices::page_params(&req)?;
    let voice = team_voice(&state, &path)?;
    let items: Vec<Value> = voice
        .recordings
        .iter()
        .map(|r| recording_item(&state, &voice.uuid, r))
        .collect();
    Ok(HttpResponse::Ok().json(voices::page_body(items, page, page_size)))
}

/// `GET /api/v2/voices/{uuid}/recordings/{recording_uuid}`.
pub async fn recording_get(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let (voice_uuid, rec_uuid) = path.into_inner();
    let voice = team_voice(&state, &voice_uuid)?;
    let rec = voice
        .recordings
        .iter()
        .find(|r| r.uuid == rec_uuid)
        .ok_or(SimError::ItemNotFound)?;
    let item = recording_item(&state, &voice.uuid, rec);
    Ok(HttpResponse::Ok().json(json!({"success": true, "item": item})))
}

/// `DELETE /api/v2/voices/{uuid}/recordings/{recording_uuid}` → `{success:true}`.
pub async fn recording_delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let (voice_uuid, rec_uuid) = path.into_inner();
    let removed = state.voices.with_voice(&voice_uuid, |v| {
        let before = v.recordings.len();
        v.recordings.retain(|r| r.uuid != rec_uuid);
        v.recordings.len() != before
    });
    if removed != Some(true) {
        return Err(SimError::ItemNotFound);
    }
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

// ---------------------------------------------------------------------------------------------
// Voice design

/// The text spoken in the `index`-th preview of a prompt (distinct per index).
pub fn preview_text(prompt: &str, index: usize) -> String {
    let snippet: String = prompt.chars().take(DESIGN_PROMPT_CHARS).collect();
    format!("Sample {} {}", index + 1, snippet.trim())
}

fn design_media_id(design: &str, index: usize) -> String {
    format!("design-{design}-{index}")
}

fn render_preview(text: &str) -> Bytes {
    let pcm = signal::render(text, DESIGN_SAMPLE_RATE);
    Bytes::from(wav::encode(
        &pcm,
        DESIGN_SAMPLE_RATE,
        wav::Precision::Pcm16,
        text,
    ))
}

/// `POST /api/v2/voice-design` `{user_prompt*, is_voice_design_trial?}` (JSON or form) →
/// shape (b): `{"voice_candidates":[{audio_url,voice_sample_index,uuid}×3]}`.
pub async fn design_create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let form = Form::parse(&req, &body)?;
    let prompt = form.required("user_prompt")?;
    check_len("user_prompt", &prompt, 2000)?;
    opt_bool(&form, "is_voice_design_trial", true)?;
    let design_uuid = uuid::Uuid::new_v4().to_string();
    let texts: Vec<String> = (0..DESIGN_CANDIDATES)
        .map(|i| preview_text(&prompt, i))
        .collect();
    let rendered = web::block(move || texts.iter().map(|t| render_preview(t)).collect::<Vec<_>>())
        .await
        .map_err(|e| SimError::Internal(format!("render task failed: {e}")))?;
    let mut samples = Vec::with_capacity(DESIGN_CANDIDATES);
    let mut candidates = Vec::with_capacity(DESIGN_CANDIDATES);
    for (index, wav_bytes) in rendered.into_iter().enumerate() {
        let id = design_media_id(&design_uuid, index);
        state.jobs.put_media(&id, wav_bytes, "audio/wav");
        let url = media_url(&state, &id);
        candidates.push(json!({
            "audio_url": url,
            "voice_sample_index": index,
            "uuid": design_uuid,
        }));
        samples.push(url);
    }
    lock(&state.voices.designs).insert(
        design_uuid.clone(),
        Design {
            uuid: design_uuid,
            prompt,
            samples,
            created_at: Utc::now(),
        },
    );
    Ok(HttpResponse::Ok().json(json!({"voice_candidates": candidates})))
}

/// `GET /api/v2/voice-design` → `{voice_designs:[{uuid,prompt_text,preview_samples,created_at}]}`
/// (newest first).
pub async fn design_list(
    req: HttpRequest,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let mut designs: Vec<Design> = lock(&state.voices.designs).values().cloned().collect();
    designs.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let items: Vec<Value> = designs
        .iter()
        .map(|d| {
            json!({
                "uuid": d.uuid,
                "prompt_text": d.prompt,
                "preview_samples": d.samples,
                "created_at": d.created_at.to_rfc3339(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"voice_designs": items})))
}

/// `POST /api/v2/voice-design/{design_uuid}/{sample_index}/create_rapid_voice` (alias
/// `…/create`) `{voice_name*}` → **202** `{"voice_uuid":"…"}`: a rapid voice that trains in the
/// background but is usable at once.
pub async fn design_voice(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let state = state.into_inner();
    let (design_uuid, raw_index) = path.into_inner();
    let form = Form::parse(&req, &body)?;
    let name = form.required("voice_name")?;
    check_len("voice_name", &name, 256)?;
    let design = lock(&state.voices.designs)
        .get(&design_uuid)
        .cloned()
        .ok_or(SimError::ItemNotFound)?;
    let index = raw_index
        .parse::<usize>()
        .ok()
        .filter(|i| *i < design.samples.len())
        .ok_or_else(|| {
            SimError::field(
                "sample_index",
                format!(
                    "sample_index must be between 0 and {}",
                    design.samples.len().saturating_sub(1)
                ),
            )
        })?;
    let mut voice = new_voice(&state, name, VoiceType::Rapid, "en-US".to_owned());
    voice.source = "Voice Design";
    voice.usable_early = true;
    voice.description = Some(design.prompt.clone());
    voice.dataset_url = design.samples.get(index).cloned();
    let uuid = voice.uuid.clone();
    state.voices.insert(voice);
    start_training(&state, &uuid).ok_or(SimError::ItemNotFound)?;
    Ok(HttpResponse::Accepted().json(json!({"voice_uuid": uuid})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_differ_per_index() {
        let a = preview_text("a calm old sailor with a raspy voice", 0);
        let b = preview_text("a calm old sailor with a raspy voice", 1);
        assert_ne!(a, b);
        assert!(a.chars().count() <= DESIGN_PROMPT_CHARS + 10);
        assert_ne!(render_preview(&a), render_preview(&b));
    }

    #[test]
    fn training_ends_by_age_and_fail_trigger() {
        let state = Arc::new(SimState::new(&crate::SimConfig::default()));
        let mut v = new_voice(&state, "ok".into(), VoiceType::Rapid, "en-US".into());
        assert!(!v.is_usable());
        v.training = Some(Training {
            started: Instant::now(),
            delay: Duration::ZERO,
            succeeds: true,
        });
        assert_eq!(v.status_at(Instant::now()), VoiceStatus::Finished);
        v.training = Some(Training {
            started: Instant::now(),
            delay: Duration::from_secs(3600),
            succeeds: false,
        });
        assert_eq!(v.status_at(Instant::now()), VoiceStatus::Pending);
        assert!(v.is_training());
        v.usable_early = true;
        assert!(v.is_usable());
        let uuid = v.uuid.clone();
        assert_eq!(uuid.len(), 8);
        state.voices.insert(v);
        assert!(matches!(
            check_usable(&state, &uuid),
            Ok(()) // usable early
        ));
        assert!(matches!(
            check_usable(&state, "nope"),
            Err(SimError::VoiceNotFound)
        ));
    }
}
