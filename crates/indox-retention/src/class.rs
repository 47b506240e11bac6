//! Asset classes: prefix and retention period of each.

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// The retention class of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetClass {
    TtsOutput,
    EnhanceOutput,
    EditOutput,
    WatermarkOutput,
    SttInput,
    GenericUpload,
    VoiceDesignCandidate,
    VoiceCloneRecording,
    VoiceModel,
}

impl AssetClass {
    /// Every class.
    pub const ALL: [AssetClass; 9] = [
        Self::TtsOutput,
        Self::EnhanceOutput,
        Self::EditOutput,
        Self::WatermarkOutput,
        Self::SttInput,
        Self::GenericUpload,
        Self::VoiceDesignCandidate,
        Self::VoiceCloneRecording,
        Self::VoiceModel,
    ];

    /// The stable name stored in the `assets.class` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TtsOutput => "tts_output",
            Self::EnhanceOutput => "enhance_output",
            Self::EditOutput => "edit_output",
            Self::WatermarkOutput => "watermark_output",
            Self::SttInput => "stt_input",
            Self::GenericUpload => "generic_upload",
            Self::VoiceDesignCandidate => "voice_design_candidate",
            Self::VoiceCloneRecording => "voice_clone_recording",
            Self::VoiceModel => "voice_model",
        }
    }

    /// Parses [`AssetClass::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The top-level bucket prefix, which names the retention class.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::TtsOutput => "tts-output",
            Self::EnhanceOutput => "enhance-output",
            Self::EditOutput => "edit-output",
            Self::WatermarkOutput => "watermark-output",
            Self::SttInput => "stt-input",
            Self::GenericUpload => "uploads",
            Self::VoiceDesignCandidate => "voice-design",
            Self::VoiceCloneRecording => "voice-recordings",
            Self::VoiceModel => "voice-models",
        }
    }

    /// How long objects of this class are kept; `None` means permanently.
    pub fn retention(self) -> Option<Duration> {
        match self {
            Self::TtsOutput | Self::EnhanceOutput | Self::EditOutput | Self::WatermarkOutput => {
                Some(Duration::days(7))
            }
            Self::SttInput | Self::GenericUpload => Some(Duration::days(30)),
            Self::VoiceDesignCandidate => Some(Duration::days(14)),
            Self::VoiceCloneRecording | Self::VoiceModel => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_page_retention_table() {
        let days = |c: AssetClass| c.retention().map(|d| d.num_days());
        assert_eq!(days(AssetClass::TtsOutput), Some(7));
        assert_eq!(days(AssetClass::EnhanceOutput), Some(7));
        assert_eq!(days(AssetClass::EditOutput), Some(7));
        assert_eq!(days(AssetClass::WatermarkOutput), Some(7));
        assert_eq!(days(AssetClass::SttInput), Some(30));
        assert_eq!(days(AssetClass::GenericUpload), Some(30));
        assert_eq!(days(AssetClass::VoiceDesignCandidate), Some(14));
        assert_eq!(days(AssetClass::VoiceCloneRecording), None);
        assert_eq!(days(AssetClass::VoiceModel), None);
        assert_eq!(AssetClass::VoiceCloneRecording.prefix(), "voice-recordings");
        assert_eq!(AssetClass::GenericUpload.prefix(), "uploads");
    }

    #[test]
    fn names_round_trip_and_prefixes_are_distinct() {
        let mut prefixes = std::collections::HashSet::new();
        for c in AssetClass::ALL {
            assert_eq!(AssetClass::parse(c.as_str()), Some(c));
            assert!(prefixes.insert(c.prefix()));
        }
    }
}
