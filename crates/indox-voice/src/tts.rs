//! Text-to-speech requests: what users may send, validated, and what the upstream returns.

use bytes::Bytes;
use indox_audio::AudioFormat;
use serde::Deserialize;

use crate::VoiceError;

/// Longest text for `synthesize` (the upstream's OpenAPI says 3,000 characters).
pub const MAX_SYNTH_CHARS: usize = 3_000;
/// Longest text for `stream` (the upstream's streaming page says 2,000 characters).
pub const MAX_STREAM_CHARS: usize = 2_000;
/// Sample rates the upstream accepts.
pub const SAMPLE_RATES: [u32; 6] = [8_000, 16_000, 22_050, 32_000, 44_100, 48_000];

/// WAV sample encodings the upstream offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Mulaw,
    Pcm16,
    Pcm24,
    Pcm32,
}

impl Precision {
    /// The upstream's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mulaw => "MULAW",
            Self::Pcm16 => "PCM_16",
            Self::Pcm24 => "PCM_24",
            Self::Pcm32 => "PCM_32",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MULAW" => Some(Self::Mulaw),
            "PCM_16" => Some(Self::Pcm16),
            "PCM_24" => Some(Self::Pcm24),
            "PCM_32" => Some(Self::Pcm32),
            _ => None,
        }
    }
}

/// A synthesis request as users send it; every field optional so that missing ones get
/// a clear message instead of a generic parse error.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawSynthesis {
    pub voice_uuid: Option<String>,
    pub text: Option<String>,
    pub output_format: Option<String>,
    pub sample_rate: Option<serde_json::Value>,
    pub precision: Option<String>,
}

/// A validated synthesis request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthesisRequest {
    pub voice_uuid: String,
    pub text: String,
    pub output_format: AudioFormat,
    pub sample_rate: Option<u32>,
    pub precision: Option<Precision>,
}

impl SynthesisRequest {
    /// Validates a raw request; `streaming` applies the streaming limits (WAV only, 2,000 chars).
    ///
    /// # Errors
    /// [`VoiceError::Invalid`] naming the first bad field with a fix.
    pub fn validate(raw: RawSynthesis, streaming: bool) -> Result<Self, VoiceError> {
        let voice_uuid = raw
            .voice_uuid
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        if voice_uuid.is_empty() {
            return Err(VoiceError::invalid(
                "voice_uuid",
                "is required: pick one from GET /api/v1/resemble/tts/voices",
            ));
        }
        if voice_uuid.len() > 64
            || !voice_uuid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(VoiceError::invalid("voice_uuid", "must be a voice uuid (letters, digits and dashes) from GET /api/v1/resemble/tts/voices"));
        }
        let text = raw.text.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(VoiceError::invalid(
                "text",
                "is required and must not be blank",
            ));
        }
        let max = if streaming {
            MAX_STREAM_CHARS
        } else {
            MAX_SYNTH_CHARS
        };
        let chars = text.chars().count();
        if chars > max {
            return Err(VoiceError::invalid("text", format!("is {chars} characters long; the limit is {max}: split the text into several requests")));
        }
        let output_format = match raw.output_format.as_deref() {
            None => AudioFormat::Wav,
            Some(f) => match f.to_ascii_lowercase().as_str() {
                "wav" => AudioFormat::Wav,
                "mp3" => AudioFormat::Mp3,
                _ => {
                    return Err(VoiceError::invalid(
                        "output_format",
                        format!("`{f}` is not supported: use \"mp3\" or \"wav\""),
                    ))
                }
            },
        };
        if streaming && output_format != AudioFormat::Wav {
            return Err(VoiceError::invalid(
                "output_format",
                "streaming returns WAV only: omit output_format or use \"wav\"",
            ));
        }
        let sample_rate = match raw.sample_rate {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let n = match &v {
                    serde_json::Value::Number(n) => n.as_u64(),
                    serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
                    _ => None,
                };
                match n.and_then(|n| u32::try_from(n).ok()) {
                    Some(r) if SAMPLE_RATES.contains(&r) => Some(r),
                    _ => return Err(VoiceError::invalid("sample_rate", format!("{v} is not supported: use one of 8000, 16000, 22050, 32000, 44100, 48000"))),
                }
            }
        };
        let precision = match raw.precision.as_deref() {
            None => None,
            Some(p) => match Precision::parse(p) {
                Some(_) if output_format == AudioFormat::Mp3 => {
                    return Err(VoiceError::invalid(
                        "precision",
                        "applies to WAV only: omit it for mp3",
                    ))
                }
                Some(p) => Some(p),
                None => {
                    return Err(VoiceError::invalid(
                        "precision",
                        format!("`{p}` is not supported: use MULAW, PCM_16, PCM_24 or PCM_32"),
                    ))
                }
            },
        };
        if streaming && precision.is_some_and(|p| p != Precision::Pcm16) {
            return Err(VoiceError::invalid(
                "precision",
                "streaming returns PCM_16 only: omit precision",
            ));
        }
        Ok(Self {
            voice_uuid,
            text,
            output_format,
            sample_rate,
            precision,
        })
    }
}

/// What the upstream returned for a synthesis.
#[derive(Debug, Clone)]
pub struct Synthesis {
    pub audio: Bytes,
    pub output_format: AudioFormat,
    /// The duration the upstream claims, in seconds.
    pub claimed_duration: Option<f64>,
    pub sample_rate: Option<u32>,
    /// The upstream's own URL for the audio, when it gives one.
    pub resemble_url: Option<String>,
    /// Character timings, passed through untouched.
    pub audio_timestamps: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(voice: &str, text: &str) -> RawSynthesis {
        RawSynthesis {
            voice_uuid: Some(voice.into()),
            text: Some(text.into()),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_the_product_page_request() {
        let mut r = raw("55592656", "Hello from IndoxHub.");
        r.output_format = Some("mp3".into());
        let req = SynthesisRequest::validate(r, false).unwrap();
        assert_eq!(req.output_format, AudioFormat::Mp3);
        assert_eq!(req.sample_rate, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(RawSynthesis, bool, &str)> = vec![
            (raw("", "hi"), false, "voice_uuid"),
            (raw("a b", "hi"), false, "voice_uuid"),
            (raw("55592656", "   "), false, "text"),
            (raw("55592656", &"x".repeat(3_001)), false, "text"),
            (raw("55592656", &"x".repeat(2_001)), true, "text"),
            (
                RawSynthesis {
                    output_format: Some("ogg".into()),
                    ..raw("v1", "hi")
                },
                false,
                "output_format",
            ),
            (
                RawSynthesis {
                    output_format: Some("mp3".into()),
                    ..raw("v1", "hi")
                },
                true,
                "output_format",
            ),
            (
                RawSynthesis {
                    sample_rate: Some(serde_json::json!(12345)),
                    ..raw("v1", "hi")
                },
                false,
                "sample_rate",
            ),
            (
                RawSynthesis {
                    sample_rate: Some(serde_json::json!(true)),
                    ..raw("v1", "hi")
                },
                false,
                "sample_rate",
            ),
            (
                RawSynthesis {
                    precision: Some("PCM_8".into()),
                    ..raw("v1", "hi")
                },
                false,
                "precision",
            ),
            (
                RawSynthesis {
                    precision: Some("PCM_16".into()),
                    output_format: Some("mp3".into()),
                    ..raw("v1", "hi")
                },
                false,
                "precision",
            ),
            (
                RawSynthesis {
                    precision: Some("PCM_32".into()),
                    ..raw("v1", "hi")
                },
                true,
                "precision",
            ),
        ];
        for (r, streaming, field) in cases {
            match SynthesisRequest::validate(r, streaming) {
                Err(VoiceError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected {field} to be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn sample_rate_may_be_a_string() {
        let r = RawSynthesis {
            sample_rate: Some(serde_json::json!("22050")),
            precision: Some("pcm_16".into()),
            ..raw("v1", "hi")
        };
        let req = SynthesisRequest::validate(r, false).unwrap();
        assert_eq!(req.sample_rate, Some(22_050));
        assert_eq!(req.precision, Some(Precision::Pcm16));
    }
}
