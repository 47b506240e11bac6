//! Async jobs (speech-to-text, enhancement, edit, detect, intelligence, watermark) and the
//! synchronous identity endpoints: the job table, the time-driven lifecycle
//! (`pending` → `processing` → `completed`|`failed`), item rendering and billing.
//!
//! A job's input media is fetched and analysed when it is created, so its outcome is known at
//! once; the lifecycle only reveals it after `job_delay` (pending) + `job_delay` (processing).
//! Jobs advance lazily on every GET and from a background task that also fires the callback.

pub mod api;
pub mod callback;
pub mod media;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::state::SimState;

/// The kinds of async job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `POST /speech-to-text`.
    Stt,
    /// `POST /audio_enhancements`.
    Enhance,
    /// `POST /edit`.
    Edit,
    /// `POST /detect`.
    Detect,
    /// `POST /intelligence` (async only with `callback_url`).
    Intelligence,
    /// `POST /watermark/apply`.
    WatermarkApply,
    /// `POST /watermark/detect`.
    WatermarkDetect,
}

impl JobKind {
    /// The `billing_usage` unit the processed seconds count towards.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            Self::Stt => Some("stt"),
            Self::Enhance => Some("enhance"),
            Self::Edit => Some("edit"),
            Self::Detect => Some("detect"),
            Self::Intelligence => None,
            Self::WatermarkApply | Self::WatermarkDetect => Some("watermark"),
        }
    }

    /// The status a new job reports (detect documents no `pending`).
    pub fn initial_status(self) -> Status {
        match self {
            Self::Detect => Status::Processing,
            _ => Status::Pending,
        }
    }

    /// Field that carries the failure reason in the item.
    fn error_key(self) -> &'static str {
        match self {
            Self::Edit | Self::Intelligence => "error",
            _ => "error_message",
        }
    }

    /// Result fields that are `null` until the job completes.
    fn result_keys(self) -> &'static [&'static str] {
        match self {
            Self::Stt => &["text", "words", "duration_seconds", "answer"],
            Self::Enhance => &["enhanced_audio_url"],
            Self::Edit => &["result_audio_url"],
            Self::Detect => &["duration", "metrics"],
            Self::Intelligence => &["description"],
            Self::WatermarkApply | Self::WatermarkDetect => &["watermarked_media", "metrics"],
        }
    }
}

/// Job status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Accepted, not started.
    Pending,
    /// Being worked on.
    Processing,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
}

impl Status {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// `completed` or `failed`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// One async job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Job uuid.
    pub uuid: String,
    /// What it does.
    pub kind: JobKind,
    /// Current status (as of the last advance).
    pub status: Status,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
    started: Instant,
    delay: Duration,
    /// Fields shown in every state (echoed request fields, media type, ...).
    pub fields: Map<String, Value>,
    /// Result fields shown once completed, or the failure message.
    pub outcome: Result<Map<String, Value>, String>,
    /// Where to POST the terminal state, if anywhere.
    pub callback_url: Option<String>,
    /// Processed seconds billed when the job completes.
    pub seconds: f64,
}

impl Job {
    /// Creates a job that starts now with the given delay per non-terminal state.
    pub fn new(kind: JobKind, delay: Duration) -> Self {
        let now = Utc::now();
        Self {
            uuid: uuid::Uuid::new_v4().to_string(),
            kind,
            status: kind.initial_status(),
            created_at: now,
            updated_at: now,
            started: Instant::now(),
            delay,
            fields: Map::new(),
            outcome: Ok(Map::new()),
            callback_url: None,
            seconds: 0.0,
        }
    }

    fn status_at(&self, now: Instant) -> Status {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= self.delay.saturating_mul(2) {
            match self.outcome {
                Ok(_) => Status::Completed,
                Err(_) => Status::Failed,
            }
        } else if elapsed >= self.delay {
            Status::Processing
        } else {
            self.kind.initial_status()
        }
    }

    /// Time left until the job reaches its terminal state.
    pub fn remaining(&self) -> Duration {
        self.delay
            .saturating_mul(2)
            .saturating_sub(self.started.elapsed())
    }

    /// The item as the GET endpoint shows it.
    pub fn item(&self) -> Value {
        let mut item = Map::new();
        item.insert("uuid".into(), json!(self.uuid));
        item.insert("status".into(), json!(self.status.as_str()));
        for (k, v) in &self.fields {
            item.insert(k.clone(), v.clone());
        }
        for key in self.kind.result_keys() {
            item.entry(key.to_string()).or_insert(Value::Null);
        }
        item.insert(self.kind.error_key().into(), Value::Null);
        match (&self.outcome, self.status) {
            (Ok(result), Status::Completed) => {
                for (k, v) in result {
                    item.insert(k.clone(), v.clone());
                }
            }
            (Err(message), Status::Failed) => {
                item.insert(self.kind.error_key().into(), json!(message));
            }
            _ => {}
        }
        item.insert("created_at".into(), json!(self.created_at.to_rfc3339()));
        item.insert("updated_at".into(), json!(self.updated_at.to_rfc3339()));
        Value::Object(item)
    }

    /// The body of the GET endpoint (also the callback body).
    pub fn get_body(&self) -> Value {
        let item = self.item();
        match self.kind {
            JobKind::Enhance => {
                let pick = |k: &str| item.get(k).cloned().unwrap_or(Value::Null);
                json!({
                    "success": true,
                    "uuid": self.uuid,
                    "status": self.status.as_str(),
                    "enhanced_audio_url": pick("enhanced_audio_url"),
                    "error_message": pick("error_message"),
                })
            }
            JobKind::Intelligence if self.status == Status::Failed => {
                let error = item.get("error").cloned().unwrap_or(Value::Null);
                json!({"success": false, "item": item, "error": error})
            }
            _ => json!({"success": true, "item": item}),
        }
    }
}

/// An enrolled identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Identity uuid.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Voice fingerprint (`None` when enrolled without audio).
    pub fingerprint: Option<u64>,
    /// The enrolled audio URL.
    pub audio_url: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Jobs, served media and identities.
#[derive(Debug, Default)]
pub struct JobStore {
    jobs: Mutex<HashMap<String, Job>>,
    media: Mutex<HashMap<String, (Bytes, &'static str)>>,
    uploads: Mutex<HashMap<String, Bytes>>,
    identities: Mutex<Vec<Identity>>,
    counter: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl JobStore {
    /// Stores a job.
    pub fn insert(&self, job: Job) {
        lock(&self.jobs).insert(job.uuid.clone(), job);
    }

    /// A job of the given kind, without advancing it.
    pub fn peek(&self, uuid: &str, kind: JobKind) -> Option<Job> {
        lock(&self.jobs)
            .get(uuid)
            .filter(|j| j.kind == kind)
            .cloned()
    }

    /// Number of stored jobs.
    pub fn len(&self) -> usize {
        lock(&self.jobs).len()
    }

    /// Whether no job was created.
    pub fn is_empty(&self) -> bool {
        lock(&self.jobs).is_empty()
    }

    /// Next index of the deterministic job-failure draw.
    pub fn next_index(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Serves `bytes` at `/_media/{id}`.
    pub fn put_media(&self, id: &str, bytes: Bytes, content_type: &'static str) {
        lock(&self.media).insert(id.to_owned(), (bytes, content_type));
    }

    /// What `/_media/{id}` serves.
    pub fn media(&self, id: &str) -> Option<(Bytes, &'static str)> {
        lock(&self.media).get(id).cloned()
    }

    /// Keeps an upload for `audio_token` / `media_token` / `signed_id`.
    pub fn put_upload(&self, token: &str, bytes: Bytes) {
        lock(&self.uploads).insert(token.to_owned(), bytes);
    }

    /// An uploaded file by token.
    pub fn upload(&self, token: &str) -> Option<Bytes> {
        lock(&self.uploads).get(token).cloned()
    }

    /// Enrolls an identity.
    pub fn add_identity(&self, identity: Identity) {
        lock(&self.identities).push(identity);
    }

    /// All identities.
    pub fn identities(&self) -> Vec<Identity> {
        lock(&self.identities).clone()
    }

    fn advance_locked(&self, uuid: &str) -> Option<(Job, bool)> {
        let mut jobs = lock(&self.jobs);
        let job = jobs.get_mut(uuid)?;
        if job.status.is_terminal() {
            return Some((job.clone(), false));
        }
        let status = job.status_at(Instant::now());
        if status != job.status {
            job.status = status;
            job.updated_at = Utc::now();
        }
        Some((job.clone(), status.is_terminal()))
    }
}

/// Advances a job to the status its age implies. Returns the job and whether this call moved
/// it to a terminal state (then the job is billed here and the caller fires the callback).
pub fn advance(state: &SimState, uuid: &str) -> Option<(Job, bool)> {
    let (job, finished) = state.jobs.advance_locked(uuid)?;
    if finished && job.status == Status::Completed {
        if let Some(unit) = job.kind.unit() {
            state.bill_unit(Utc::now().date_naive(), unit, job.seconds);
        }
    }
    Some((job, finished))
}

/// Advances a job (as [`advance`]) and, when it just finished, sends its callback in the
/// background.
pub fn advance_and_notify(state: &Arc<SimState>, uuid: &str) -> Option<Job> {
    let (job, finished) = advance(state, uuid)?;
    if finished {
        notify(state, &job);
    }
    Some(job)
}

fn notify(state: &Arc<SimState>, job: &Job) {
    if let Some(url) = job.callback_url.clone() {
        let body = job.get_body();
        tokio::spawn(callback::deliver(Arc::clone(state), url, body));
    }
}

/// Stores a new job and starts its background driver, which finishes it on time (and so fires
/// the callback without anyone polling).
pub fn launch(state: &Arc<SimState>, job: Job) -> Job {
    let uuid = job.uuid.clone();
    let wait = job.remaining();
    let snapshot = job.clone();
    state.jobs.insert(job);
    let state = Arc::clone(state);
    tokio::spawn(async move {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        // A poll may already have finished it (then it also sent the callback).
        advance_and_notify(&state, &uuid);
    });
    snapshot
}

/// Waits until the job is terminal (for `Prefer: wait`), then advances it.
pub async fn wait_for(state: &Arc<SimState>, uuid: &str) -> Option<Job> {
    let remaining = state.jobs.peek_any(uuid)?.remaining();
    if !remaining.is_zero() {
        tokio::time::sleep(remaining).await;
    }
    advance_and_notify(state, uuid)
}

impl JobStore {
    fn peek_any(&self, uuid: &str) -> Option<Job> {
        lock(&self.jobs).get(uuid).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_is_time_driven_and_bills_once() {
        let state = SimState::new(&crate::SimConfig::default());
        let mut job = Job::new(JobKind::Stt, Duration::ZERO);
        job.seconds = 2.5;
        let uuid = job.uuid.clone();
        assert_eq!(job.item()["status"], "pending");
        assert_eq!(job.item()["text"], Value::Null);
        state.jobs.insert(job);
        let (job, finished) = advance(&state, &uuid).unwrap();
        assert!(finished);
        assert_eq!(job.status, Status::Completed);
        let (_, again) = advance(&state, &uuid).unwrap();
        assert!(!again);
        let today = Utc::now().date_naive();
        assert_eq!(state.units_between(today, today).get("stt"), Some(&2.5));
    }

    #[test]
    fn failed_jobs_show_their_error_and_are_free() {
        let state = SimState::new(&crate::SimConfig::default());
        let mut job = Job::new(JobKind::Edit, Duration::from_secs(3600));
        job.outcome = Err("boom".into());
        job.seconds = 1.0;
        let uuid = job.uuid.clone();
        state.jobs.insert(job);
        let (job, finished) = advance(&state, &uuid).unwrap();
        assert!(!finished);
        assert_eq!(job.item()["error"], Value::Null);
        let mut job = Job::new(JobKind::Edit, Duration::ZERO);
        job.outcome = Err("boom".into());
        let uuid = job.uuid.clone();
        state.jobs.insert(job);
        let (job, _) = advance(&state, &uuid).unwrap();
        assert_eq!(job.item()["error"], "boom");
        assert_eq!(job.item()["result_audio_url"], Value::Null);
        let today = Utc::now().date_naive();
        assert!(state.units_between(today, today).is_empty());
    }
}
