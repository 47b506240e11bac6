//! Voices as listed by the upstream, normalised to one shape.

use serde::{Deserialize, Serialize};

/// A voice. Fields the upstream sends beyond these are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voice {
    pub uuid: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_languages: Vec<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One page of voices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoicePage {
    pub items: Vec<Voice>,
    pub page: u32,
    pub page_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_pages: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
}

/// Validates `page` (≥ 1) and `page_size` (10..=1000, the upstream's own range), with defaults 1 and 10.
///
/// # Errors
/// [`crate::VoiceError::Invalid`] naming the field.
pub fn validate_paging(
    page: Option<i64>,
    page_size: Option<i64>,
) -> Result<(u32, u32), crate::VoiceError> {
    let page = page.unwrap_or(1);
    if !(1..=1_000_000).contains(&page) {
        return Err(crate::VoiceError::invalid(
            "page",
            "must be a whole number of at least 1",
        ));
    }
    let size = page_size.unwrap_or(10);
    if !(10..=1000).contains(&size) {
        return Err(crate::VoiceError::invalid(
            "page_size",
            "must be between 10 and 1000",
        ));
    }
    Ok((page as u32, size as u32))
}
