//! Voice cloning and voice design: the rules (consent, recordings, build, the monthly
//! subscription's periods), the upstream port for the provider's voice endpoints, and the
//! repository port where cloned voices, their consent and their recordings are kept.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Months, Utc};
use indox_core::{AccountId, Capability};
use indox_retention::NewAsset;
use uuid::Uuid;

use crate::{UpstreamError, VoiceError};

/// Longest voice or recording name (the upstream's limit).
pub const MAX_NAME_CHARS: usize = 256;
/// Longest consent statement.
pub const MAX_CONSENT_CHARS: usize = 10_000;
/// Longest recording transcript (the upstream's limit).
pub const MAX_TEXT_CHARS: usize = 1_024;
/// Longest voice-design prompt.
pub const MAX_PROMPT_CHARS: usize = 2_000;
/// Shortest recording accepted, in milliseconds.
pub const MIN_RECORDING_MS: u64 = 1_000;
/// Longest recording accepted, in milliseconds (the upstream documents 1–60 s as typical).
pub const MAX_RECORDING_MS: u64 = 600_000;
/// How long voice-design candidates are kept (the product page's 14 days).
pub const DESIGN_RETENTION_DAYS: i64 = 14;

/// `rapid` (one recording is enough) or `professional` (at least three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceType {
    Rapid,
    Professional,
}

impl VoiceType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rapid => "rapid",
            Self::Professional => "professional",
        }
    }

    /// Parses the wire value (`rapid_voice` is the upstream's alias of `rapid`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rapid" | "rapid_voice" => Some(Self::Rapid),
            "professional" => Some(Self::Professional),
            _ => None,
        }
    }

    /// Active recordings the upstream needs before it builds the voice.
    pub fn min_recordings(self) -> usize {
        match self {
            Self::Rapid => 1,
            Self::Professional => 3,
        }
    }

    /// What the voice's monthly subscription is billed as.
    pub fn capability(self) -> Capability {
        match self {
            Self::Rapid => Capability::VoiceCloneRapid,
            Self::Professional => Capability::VoiceClone,
        }
    }
}

/// Where a cloned voice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceSource {
    /// Built from the user's recordings.
    Recordings,
    /// Made from a voice-design candidate.
    Design,
}

impl VoiceSource {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recordings => "recordings",
            Self::Design => "design",
        }
    }

    /// Parses [`VoiceSource::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recordings" => Some(Self::Recordings),
            "design" => Some(Self::Design),
            _ => None,
        }
    }
}

/// The consent a voice was created under: what was said, by whom (the account and the API
/// key that sent it), and when. Stored with the voice, never changed, never deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub text: String,
    pub account: AccountId,
    pub key_id: String,
    pub given_at: DateTime<Utc>,
}

/// A validated `POST /voices` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceDraft {
    pub name: String,
    pub consent_text: String,
    pub voice_type: VoiceType,
    pub language: String,
    pub description: Option<String>,
}

fn trimmed(field: &'static str, value: Option<&str>, max: usize) -> Result<String, VoiceError> {
    let v = value.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(VoiceError::invalid(
            field,
            "is required and must not be blank",
        ));
    }
    if v.chars().count() > max {
        return Err(VoiceError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// Validates a voice name.
///
/// # Errors
/// [`VoiceError::Invalid`] naming the field.
pub fn validate_name(field: &'static str, name: Option<&str>) -> Result<String, VoiceError> {
    trimmed(field, name, MAX_NAME_CHARS)
}

/// Validates a consent statement: required, not blank, at most [`MAX_CONSENT_CHARS`].
///
/// # Errors
/// [`VoiceError::Invalid`] for `consent_text`.
pub fn validate_consent(text: Option<&str>) -> Result<String, VoiceError> {
    trimmed("consent_text", text, MAX_CONSENT_CHARS).map_err(|_| {
        VoiceError::invalid(
            "consent_text",
            format!(
                "is required: a statement (at most {MAX_CONSENT_CHARS} characters) by the person \
                 whose voice is cloned that they consent to it; it is stored with the voice permanently"
            ),
        )
    })
}

impl VoiceDraft {
    /// Validates the fields of `POST /voices`. The voice type defaults to `rapid` (one
    /// recording is enough, as the product page's example uploads "one or more").
    ///
    /// # Errors
    /// [`VoiceError::Invalid`] naming the first bad field.
    pub fn validate(
        name: Option<&str>,
        consent_text: Option<&str>,
        voice_type: Option<&str>,
        language: Option<&str>,
        description: Option<&str>,
    ) -> Result<Self, VoiceError> {
        let name = validate_name("name", name)?;
        let consent_text = validate_consent(consent_text)?;
        let voice_type = match voice_type {
            None => VoiceType::Rapid,
            Some(t) => VoiceType::parse(t).ok_or_else(|| {
                VoiceError::invalid("voice_type", "must be \"rapid\" or \"professional\"")
            })?,
        };
        let language = match language {
            None => "en-US".to_owned(),
            Some(l) => {
                let ok = (2..=16).contains(&l.len())
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if !ok {
                    return Err(VoiceError::invalid(
                        "language",
                        "must be a language tag such as \"en-US\"",
                    ));
                }
                l.to_owned()
            }
        };
        let description = match description.map(str::trim) {
            None | Some("") => None,
            Some(d) if d.chars().count() > MAX_CONSENT_CHARS => {
                return Err(VoiceError::invalid(
                    "description",
                    format!("must be at most {MAX_CONSENT_CHARS} characters"),
                ))
            }
            Some(d) => Some(d.to_owned()),
        };
        Ok(Self {
            name,
            consent_text,
            voice_type,
            language,
            description,
        })
    }
}

/// Checks a recording's measured length.
///
/// # Errors
/// [`VoiceError::Invalid`] for `audio_url` when it is shorter than 1 s or longer than 10 min.
pub fn check_recording_length(field: &'static str, millis: u64) -> Result<(), VoiceError> {
    if millis < MIN_RECORDING_MS {
        return Err(VoiceError::invalid(
            field,
            "the recording is shorter than 1 second; record at least a sentence",
        ));
    }
    if millis > MAX_RECORDING_MS {
        return Err(VoiceError::invalid(
            field,
            "the recording is longer than 10 minutes; split it into several recordings",
        ));
    }
    Ok(())
}

/// How a training run stands, from the upstream's voice status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Training {
    Running,
    Finished,
    Failed,
}

impl Training {
    /// Reads the upstream's voice `status` leniently: `finished`, `ready`, `built` and
    /// `completed` mean trained; `failed` and `error` mean failed; anything else is running.
    pub fn from_upstream(status: &str) -> Self {
        match status.to_ascii_lowercase().as_str() {
            "finished" | "ready" | "built" | "completed" => Self::Finished,
            "failed" | "error" => Self::Failed,
            _ => Self::Running,
        }
    }
}

/// The status users see for a cloned voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneStatus {
    /// Created; recordings may be added; not built yet (or its last build failed to start).
    Pending,
    /// A build is under way.
    Training,
    /// Trained and usable for synthesis by its owner.
    Built,
    /// The last build failed (its hold was released); it can be built again.
    Failed,
    /// Deleted: its subscription has stopped; consent and recordings are kept.
    Deleted,
}

impl CloneStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Training => "training",
            Self::Built => "built",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }
}

/// The state of a voice's build job, as far as its status is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildState {
    None,
    Running,
    Completed,
    Failed,
}

/// The status of a voice from its deletion and its build.
pub fn clone_status(deleted: bool, build: BuildState) -> CloneStatus {
    match (deleted, build) {
        (true, _) => CloneStatus::Deleted,
        (false, BuildState::None) => CloneStatus::Pending,
        (false, BuildState::Running) => CloneStatus::Training,
        (false, BuildState::Completed) => CloneStatus::Built,
        (false, BuildState::Failed) => CloneStatus::Failed,
    }
}

/// Why a voice cannot be built now.
///
/// # Errors
/// [`VoiceError::Conflict`] saying what to do first.
pub fn check_buildable(
    status: CloneStatus,
    voice_type: VoiceType,
    active_recordings: usize,
    has_consent: bool,
) -> Result<(), VoiceError> {
    match status {
        CloneStatus::Training => {
            return Err(VoiceError::Conflict(
                "this voice is already being built; poll GET /resemble/voices/{uuid}".into(),
            ))
        }
        CloneStatus::Built => {
            return Err(VoiceError::Conflict("this voice is already built".into()))
        }
        CloneStatus::Deleted => return Err(VoiceError::Conflict("this voice was deleted".into())),
        CloneStatus::Pending | CloneStatus::Failed => {}
    }
    if !has_consent {
        return Err(VoiceError::Conflict(
            "this voice has no recorded consent; it cannot be built".into(),
        ));
    }
    let need = voice_type.min_recordings();
    if active_recordings < need {
        return Err(VoiceError::Conflict(format!(
            "a {} voice needs at least {need} recording(s) before it is built; it has {active_recordings}. \
             Add recordings with POST /resemble/voices/{{uuid}}/recordings",
            voice_type.as_str()
        )));
    }
    Ok(())
}

/// The start of subscription period `n` of a voice built at `anchor` (period 0 starts at
/// the build). Periods are calendar months counted from the anchor, never from the previous
/// period, so a voice built on 31 January renews on 28/29 February and then on 31 March.
pub fn period_start(anchor: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    anchor
        .checked_add_months(Months::new(n))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The periods due for payment at `now`, given that `paid` periods (0..paid) are paid.
pub fn due_periods(anchor: DateTime<Utc>, paid: u32, now: DateTime<Utc>) -> Vec<u32> {
    let mut due = Vec::new();
    let mut n = paid;
    while period_start(anchor, n) <= now && due.len() < 1200 {
        due.push(n);
        n += 1;
    }
    due
}

/// Namespace of the request ids of subscription charges.
const SUBSCRIPTION_NAMESPACE: Uuid = Uuid::from_u128(0x6b1d_3a8e_51c4_4c5e_9a0e_7f23_d2b1_c0de);

/// The request id of the charge for period `n` of voice `voice_id`: the same for every
/// process and every retry, so the ledger's uniqueness on request ids charges each period
/// at most once.
pub fn period_request_id(voice_id: Uuid, n: u32) -> Uuid {
    Uuid::new_v5(
        &SUBSCRIPTION_NAMESPACE,
        format!("{voice_id}:{n}").as_bytes(),
    )
}

// ---------------------------------------------------------------------------------------------
// The upstream port

/// A voice to create upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpstreamVoice {
    pub name: String,
    pub voice_type: VoiceType,
    pub language: String,
    pub description: Option<String>,
}

/// The upstream's voice object, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamVoice {
    pub uuid: String,
    pub name: String,
    /// The raw status (`pending`, `finished`, `ready`, `failed`, …); see [`Training::from_upstream`].
    pub status: String,
}

/// A recording to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingUpload {
    pub name: String,
    /// What is said in it.
    pub text: String,
    pub emotion: Option<String>,
    pub audio: Bytes,
    pub file_name: String,
    pub content_type: String,
}

/// The upstream's recording object, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRecording {
    pub uuid: String,
    pub name: String,
    pub audio_src: Option<String>,
}

/// One voice-design candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesignSample {
    pub index: u32,
    pub audio_url: String,
}

/// A voice design: its upstream id and its candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamDesign {
    pub uuid: String,
    pub samples: Vec<DesignSample>,
}

/// The provider's custom-voice and voice-design endpoints.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloningUpstream: Send + Sync {
    /// Creates a voice shell (`POST /voices`).
    async fn create_voice(&self, voice: &NewUpstreamVoice) -> Result<UpstreamVoice, UpstreamError>;

    /// Reads a voice (`GET /voices/{uuid}`).
    ///
    /// # Errors
    /// MUST return [`UpstreamError::NotFound`] for an unknown voice.
    async fn get_voice(&self, uuid: &str) -> Result<UpstreamVoice, UpstreamError>;

    /// Deletes a voice (`DELETE /voices/{uuid}`).
    ///
    /// # Errors
    /// MUST return [`UpstreamError::NotFound`] for an unknown voice.
    async fn delete_voice(&self, uuid: &str) -> Result<(), UpstreamError>;

    /// Uploads one recording (`POST /voices/{uuid}/recordings`, multipart).
    async fn add_recording(
        &self,
        voice_uuid: &str,
        recording: &RecordingUpload,
    ) -> Result<UpstreamRecording, UpstreamError>;

    /// Starts training (`POST /voices/{uuid}/build`).
    async fn build_voice(&self, uuid: &str) -> Result<(), UpstreamError>;

    /// Designs candidate voices from a prompt (`POST /voice-design`); accepts both documented
    /// response shapes.
    async fn design(&self, prompt: &str) -> Result<UpstreamDesign, UpstreamError>;

    /// Turns candidate `index` of a design into a rapid voice; returns its uuid.
    async fn voice_from_design(
        &self,
        design_uuid: &str,
        index: u32,
        name: &str,
    ) -> Result<String, UpstreamError>;
}

// ---------------------------------------------------------------------------------------------
// The repository port

/// A cloned voice to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClonedVoice {
    pub id: Uuid,
    pub account: AccountId,
    /// The upstream's uuid: the `uuid` users see and synthesize with.
    pub upstream_uuid: String,
    pub name: String,
    pub voice_type: VoiceType,
    pub language: String,
    pub description: Option<String>,
    pub source: VoiceSource,
    pub design_id: Option<Uuid>,
    pub consent: Consent,
    pub created_at: DateTime<Utc>,
}

/// A cloned voice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClonedVoice {
    pub id: Uuid,
    pub account: AccountId,
    pub upstream_uuid: String,
    pub name: String,
    pub voice_type: VoiceType,
    pub language: String,
    pub description: Option<String>,
    pub source: VoiceSource,
    pub design_id: Option<Uuid>,
    pub consent: Consent,
    /// The current (latest) build job.
    pub build_job_id: Option<Uuid>,
    /// Subscription periods paid (period 0 is paid when the build completes).
    pub paid_periods: u32,
    /// Set while a renewal could not be paid.
    pub past_due_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A recording as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneRecording {
    pub id: Uuid,
    pub voice_id: Uuid,
    pub asset_id: Uuid,
    pub upstream_uuid: Option<String>,
    pub name: String,
    pub text: String,
    pub duration_ms: Option<u64>,
    pub created_at: DateTime<Utc>,
}

/// A recording to record has the stored shape; its asset, when new, is passed beside it
/// (an upload made with `purpose=voice_clone` is already recorded).
pub type NewCloneRecording = CloneRecording;

/// A built voice whose subscription runs: what the renewal pass needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub voice_id: Uuid,
    pub account: AccountId,
    pub voice_type: VoiceType,
    /// When the build completed: period 0 starts here.
    pub anchor: DateTime<Utc>,
    pub paid_periods: u32,
    pub past_due_since: Option<DateTime<Utc>>,
}

/// A design candidate as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesignCandidate {
    pub index: u32,
    /// Our mirrored copy (14 days); `None` when it could not be mirrored.
    pub asset_id: Option<Uuid>,
    pub resemble_url: String,
}

/// A voice design as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceDesign {
    pub id: Uuid,
    pub account: AccountId,
    pub upstream_uuid: String,
    pub prompt: String,
    pub candidates: Vec<DesignCandidate>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Where cloned voices, their consent, recordings, subscriptions and voice designs are kept.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloneRepository: Send + Sync {
    /// Records a voice and its consent.
    ///
    /// # Errors
    /// [`VoiceError::Conflict`] when the upstream uuid is already recorded.
    async fn create_voice(&self, voice: &NewClonedVoice) -> Result<(), VoiceError>;

    /// A voice by its upstream uuid (deleted ones included).
    async fn voice_by_uuid(&self, upstream_uuid: &str) -> Result<Option<ClonedVoice>, VoiceError>;

    /// The account's voices, newest first (deleted ones included).
    async fn list_voices(&self, account: AccountId) -> Result<Vec<ClonedVoice>, VoiceError>;

    /// Records a recording, and its asset when `asset` is given, in one transaction.
    ///
    /// # Errors
    /// [`VoiceError::Conflict`] when the voice already has a recording with this name.
    async fn add_recording(
        &self,
        recording: &NewCloneRecording,
        asset: Option<NewAsset>,
    ) -> Result<(), VoiceError>;

    /// The voice's recordings, oldest first.
    async fn recordings(&self, voice_id: Uuid) -> Result<Vec<CloneRecording>, VoiceError>;

    /// Points the voice at a new build job, unless a build is running or done (its current
    /// job exists and has not failed); `false` when it did not.
    async fn begin_build(&self, voice_id: Uuid, job_id: Uuid) -> Result<bool, VoiceError>;

    /// Undoes [`CloneRepository::begin_build`] when its job could not be created.
    async fn abandon_build(&self, voice_id: Uuid, job_id: Uuid) -> Result<(), VoiceError>;

    /// Marks the voice deleted; `false` when it already was.
    async fn mark_deleted(&self, voice_id: Uuid, at: DateTime<Utc>) -> Result<bool, VoiceError>;

    /// Every live voice whose build completed, with its subscription state.
    async fn subscriptions(&self) -> Result<Vec<Subscription>, VoiceError>;

    /// Records period `period` as paid (moves `paid_periods` from `period` to `period + 1`
    /// and clears any past-due mark); `false` when another process already did.
    async fn mark_paid(&self, voice_id: Uuid, period: u32) -> Result<bool, VoiceError>;

    /// Marks the subscription past due (keeps the earliest time it became so).
    async fn mark_past_due(&self, voice_id: Uuid, at: DateTime<Utc>) -> Result<(), VoiceError>;

    /// Records a voice design and its candidates (and their assets) in one transaction.
    async fn create_design(
        &self,
        design: &VoiceDesign,
        assets: Vec<NewAsset>,
    ) -> Result<(), VoiceError>;

    /// A voice design by id.
    async fn design(&self, id: Uuid) -> Result<Option<VoiceDesign>, VoiceError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn consent_is_required_and_bounded() {
        let ok = VoiceDraft::validate(Some("Me"), Some("I consent"), None, None, None).unwrap();
        assert_eq!(ok.voice_type, VoiceType::Rapid);
        assert_eq!(ok.language, "en-US");
        for bad in [None, Some(""), Some("   ")] {
            let e = VoiceDraft::validate(Some("Me"), bad, None, None, None).unwrap_err();
            assert!(matches!(
                e,
                VoiceError::Invalid {
                    field: "consent_text",
                    ..
                }
            ));
        }
        let long = "x".repeat(MAX_CONSENT_CHARS + 1);
        assert!(VoiceDraft::validate(Some("Me"), Some(&long), None, None, None).is_err());
        let e = VoiceDraft::validate(None, Some("ok"), None, None, None).unwrap_err();
        assert!(matches!(e, VoiceError::Invalid { field: "name", .. }));
        let e = VoiceDraft::validate(Some("Me"), Some("ok"), Some("fast"), None, None).unwrap_err();
        assert!(matches!(
            e,
            VoiceError::Invalid {
                field: "voice_type",
                ..
            }
        ));
        let e =
            VoiceDraft::validate(Some("Me"), Some("ok"), None, Some("en US;"), None).unwrap_err();
        assert!(matches!(
            e,
            VoiceError::Invalid {
                field: "language",
                ..
            }
        ));
    }

    #[test]
    fn building_needs_consent_recordings_and_no_running_build() {
        use CloneStatus::*;
        assert!(check_buildable(Pending, VoiceType::Rapid, 1, true).is_ok());
        assert!(check_buildable(Failed, VoiceType::Rapid, 1, true).is_ok());
        assert!(check_buildable(Pending, VoiceType::Rapid, 0, true).is_err());
        assert!(check_buildable(Pending, VoiceType::Professional, 2, true).is_err());
        assert!(check_buildable(Pending, VoiceType::Professional, 3, true).is_ok());
        assert!(check_buildable(Pending, VoiceType::Rapid, 5, false).is_err());
        for s in [Training, Built, Deleted] {
            assert!(check_buildable(s, VoiceType::Rapid, 5, true).is_err());
        }
    }

    #[test]
    fn status_follows_the_build_and_deletion() {
        assert_eq!(clone_status(false, BuildState::None), CloneStatus::Pending);
        assert_eq!(
            clone_status(false, BuildState::Running),
            CloneStatus::Training
        );
        assert_eq!(
            clone_status(false, BuildState::Completed),
            CloneStatus::Built
        );
        assert_eq!(clone_status(false, BuildState::Failed), CloneStatus::Failed);
        assert_eq!(
            clone_status(true, BuildState::Completed),
            CloneStatus::Deleted
        );
        assert_eq!(Training::from_upstream("finished"), Training::Finished);
        assert_eq!(Training::from_upstream("Ready"), Training::Finished);
        assert_eq!(Training::from_upstream("failed"), Training::Failed);
        assert_eq!(Training::from_upstream("pending"), Training::Running);
    }

    #[test]
    fn periods_are_calendar_months_from_the_anchor() {
        let anchor = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert_eq!(
            period_start(anchor, 1),
            Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap()
        );
        assert_eq!(
            period_start(anchor, 2),
            Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap()
        );
        // Period 0 is paid at the build; nothing is due until a month has passed.
        let just_before = Utc.with_ymd_and_hms(2026, 2, 28, 11, 59, 59).unwrap();
        assert!(due_periods(anchor, 1, just_before).is_empty());
        assert_eq!(due_periods(anchor, 1, period_start(anchor, 1)), vec![1]);
        // A worker that was down for three months catches up period by period.
        let later = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        assert_eq!(due_periods(anchor, 1, later), vec![1, 2, 3]);
        assert_eq!(due_periods(anchor, 3, later), vec![3]);
    }

    #[test]
    fn period_request_ids_are_stable_and_distinct() {
        let v = Uuid::from_u128(7);
        assert_eq!(period_request_id(v, 1), period_request_id(v, 1));
        assert_ne!(period_request_id(v, 1), period_request_id(v, 2));
        assert_ne!(
            period_request_id(v, 1),
            period_request_id(Uuid::from_u128(8), 1)
        );
    }

    #[test]
    fn recording_length_bounds() {
        assert!(check_recording_length("audio_url", 999).is_err());
        assert!(check_recording_length("audio_url", 1_000).is_ok());
        assert!(check_recording_length("audio_url", MAX_RECORDING_MS).is_ok());
        assert!(check_recording_length("audio_url", MAX_RECORDING_MS + 1).is_err());
    }
}
