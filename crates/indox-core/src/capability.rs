//! The metered capabilities of the gateway, one per product-page row.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A metered capability. The string form is used in the price book, in rate-limit
/// configuration, in Redis keys and in the `capability` column of usage rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Tts,
    TtsStream,
    Voices,
    Stt,
    Enhance,
    Edit,
    Detect,
    /// Deepfake detection of an image (billed per image).
    DetectImage,
    /// Deepfake detection of a video (billed per second of video).
    DetectVideo,
    Intelligence,
    WatermarkApply,
    WatermarkDetect,
    IdentitySearch,
    IdentityEnroll,
    /// A professional cloned voice's monthly subscription.
    VoiceClone,
    /// A rapid cloned voice's monthly subscription.
    VoiceCloneRapid,
    /// Voice design (rate-limited, not metered).
    VoiceDesign,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 17] = [
        Self::Tts,
        Self::TtsStream,
        Self::Voices,
        Self::Stt,
        Self::Enhance,
        Self::Edit,
        Self::Detect,
        Self::DetectImage,
        Self::DetectVideo,
        Self::Intelligence,
        Self::WatermarkApply,
        Self::WatermarkDetect,
        Self::IdentitySearch,
        Self::IdentityEnroll,
        Self::VoiceClone,
        Self::VoiceCloneRapid,
        Self::VoiceDesign,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tts => "tts",
            Self::TtsStream => "tts_stream",
            Self::Voices => "voices",
            Self::Stt => "stt",
            Self::Enhance => "enhance",
            Self::Edit => "edit",
            Self::Detect => "detect",
            Self::DetectImage => "detect_image",
            Self::DetectVideo => "detect_video",
            Self::Intelligence => "intelligence",
            Self::WatermarkApply => "watermark_apply",
            Self::WatermarkDetect => "watermark_detect",
            Self::IdentitySearch => "identity_search",
            Self::IdentityEnroll => "identity_enroll",
            Self::VoiceClone => "voice_clone",
            Self::VoiceCloneRapid => "voice_clone_rapid",
            Self::VoiceDesign => "voice_design",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string names no capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCapability(pub String);

impl fmt::Display for UnknownCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown capability `{}`", self.0)
    }
}

impl std::error::Error for UnknownCapability {}

impl std::str::FromStr for Capability {
    type Err = UnknownCapability;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCapability(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
            let json = serde_json_like(c);
            assert_eq!(json, c.as_str());
        }
        assert!("nope".parse::<Capability>().is_err());
    }

    fn serde_json_like(c: Capability) -> String {
        c.to_string()
    }
}
