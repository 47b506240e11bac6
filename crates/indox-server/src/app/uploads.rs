//! Client uploads: audio a caller stores with the gateway for later use (voice-clone
//! recordings, STT, watermark and audio-job inputs). The bytes must be real WAV or MP3; they
//! are stored under the retention class of their purpose and recorded without a charge.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use indox_accounts::Principal;
use indox_audio::AudioFormat;
use indox_retention::{AssetClass, Mirror};
use serde::Serialize;
use uuid::Uuid;

use super::{assets, AppState};
use crate::http::{ApiError, ErrorKind};

/// What an upload is for; decides its prefix and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A voice-clone source recording: kept permanently under `voice-recordings/`.
    VoiceClone,
    /// Input for speech-to-text: 30 days under `stt-input/`.
    SttInput,
    /// Input for watermarking: 30 days under `uploads/`.
    WatermarkInput,
    /// Input for another audio job: 30 days under `uploads/`.
    AudioJobInput,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 4] = [
        Self::VoiceClone,
        Self::SttInput,
        Self::WatermarkInput,
        Self::AudioJobInput,
    ];

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VoiceClone => "voice_clone",
            Self::SttInput => "stt_input",
            Self::WatermarkInput => "watermark_input",
            Self::AudioJobInput => "audio_job_input",
        }
    }

    /// Parses [`Purpose::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The retention class its uploads are stored under.
    pub fn class(self) -> AssetClass {
        match self {
            Self::VoiceClone => AssetClass::VoiceCloneRecording,
            Self::SttInput => AssetClass::SttInput,
            Self::WatermarkInput | Self::AudioJobInput => AssetClass::GenericUpload,
        }
    }
}

/// The class of an upload with an optional purpose: without one, the generic 30-day class.
pub fn class_for(purpose: Option<Purpose>) -> AssetClass {
    purpose.map_or(AssetClass::GenericUpload, Purpose::class)
}

/// The `purpose` form field: absent or blank means none; anything else must be known.
pub fn parse_purpose(raw: Option<&str>) -> Result<Option<Purpose>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    Purpose::parse(raw).map(Some).ok_or_else(|| {
        let known: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        ApiError::new(
            ErrorKind::Unprocessable {
                code: "invalid_field",
                field: Some("purpose"),
            },
            format!(
                "purpose must be one of {}, or left out for a 30-day generic upload",
                known.join(", ")
            ),
        )
    })
}

/// The container the bytes claim to be, from their first bytes: `RIFF` is WAV; an ID3v2 tag
/// or an MPEG audio frame sync (11 set bits) is MP3.
pub fn sniff(bytes: &[u8]) -> Option<AudioFormat> {
    match bytes {
        [b'R', b'I', b'F', b'F', ..] => Some(AudioFormat::Wav),
        [b'I', b'D', b'3', ..] => Some(AudioFormat::Mp3),
        [0xFF, second, ..] if second & 0xE0 == 0xE0 => Some(AudioFormat::Mp3),
        _ => None,
    }
}

/// The answer to an upload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub upload_id: Uuid,
    /// The purpose given, or `null` for a generic upload.
    pub purpose: Option<&'static str>,
    pub class: &'static str,
    pub content_type: String,
    pub size_bytes: u64,
    /// Seconds of audio.
    pub duration: f64,
    /// A presigned URL, or `null` while the bytes are still being copied to storage.
    pub audio_url: Option<String>,
    /// When `audio_url` stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When retention deletes the upload; `null` for permanent classes.
    pub retention_expires_at: Option<DateTime<Utc>>,
}

fn field_error(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable {
            code,
            field: Some("file"),
        },
        message,
    )
}

/// Checks and stores one uploaded file; `file` is `None` when the form had no file field.
pub async fn upload(
    state: &AppState,
    caller: &Principal,
    file: Option<Bytes>,
    purpose: Option<&str>,
) -> Result<Uploaded, ApiError> {
    let purpose = parse_purpose(purpose)?;
    let file = file.ok_or_else(|| {
        field_error(
            "missing_field",
            "the form has no `file` field: send the audio as a multipart/form-data part named file",
        )
    })?;
    if file.is_empty() {
        return Err(field_error("invalid_audio", "file is empty"));
    }
    let format = sniff(&file).ok_or_else(|| {
        field_error(
            "unsupported_audio",
            "file is not WAV or MP3 audio: send a RIFF/WAVE file or an MP3",
        )
    })?;
    let info = indox_audio::measure(&file, format).map_err(|e| {
        field_error(
            "invalid_audio",
            format!("file looks like {format} but does not decode: {e}"),
        )
    })?;

    let class = class_for(purpose);
    let now = state.clock.now();
    let prepared = assets::prepare(
        state,
        caller.account.id,
        class,
        file,
        format,
        &info,
        now,
        None,
    )
    .await;
    let prepared = assets::mirror_first(state, prepared).await;
    if let Err(e) = state.assets.record(&prepared.asset).await {
        tracing::error!(error = %e, asset = %prepared.asset.id, "could not record an upload");
        if matches!(prepared.asset.mirror, Mirror::Done) {
            assets::discard(state, &prepared.asset.object_key).await;
        }
        return Err(ApiError::store_unavailable("asset store"));
    }
    Ok(Uploaded {
        upload_id: prepared.asset.id,
        purpose: purpose.map(Purpose::as_str),
        class: class.as_str(),
        content_type: prepared.asset.content_type,
        size_bytes: prepared.asset.size_bytes,
        duration: info.duration_seconds_f64(),
        audio_url: prepared.url,
        expires_at: prepared.url_expires_at,
        retention_expires_at: prepared.asset.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_map_to_classes() {
        assert_eq!(
            class_for(Some(Purpose::VoiceClone)),
            AssetClass::VoiceCloneRecording
        );
        assert_eq!(class_for(Some(Purpose::SttInput)), AssetClass::SttInput);
        assert_eq!(
            class_for(Some(Purpose::WatermarkInput)),
            AssetClass::GenericUpload
        );
        assert_eq!(
            class_for(Some(Purpose::AudioJobInput)),
            AssetClass::GenericUpload
        );
        assert_eq!(class_for(None), AssetClass::GenericUpload);
        assert_eq!(class_for(Some(Purpose::VoiceClone)).retention(), None);
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn purpose_field_values() {
        assert_eq!(parse_purpose(None).unwrap(), None);
        assert_eq!(parse_purpose(Some("  ")).unwrap(), None);
        assert_eq!(
            parse_purpose(Some(" voice_clone ")).unwrap(),
            Some(Purpose::VoiceClone)
        );
        assert!(parse_purpose(Some("VOICE_CLONE")).is_err());
        assert!(parse_purpose(Some("permanent")).is_err());
    }

    #[test]
    fn sniffing_reads_magic_bytes() {
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), Some(AudioFormat::Wav));
        assert_eq!(sniff(b"ID3\x04"), Some(AudioFormat::Mp3));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90]), Some(AudioFormat::Mp3));
        assert_eq!(sniff(&[0xFF, 0xE2]), Some(AudioFormat::Mp3));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF]), None); // JPEG
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b"RIF"), None);
        assert_eq!(sniff(&[0xFF]), None);
        assert_eq!(sniff(b""), None);
    }
}
