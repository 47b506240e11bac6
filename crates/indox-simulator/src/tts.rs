//! Text-to-speech endpoints: `POST /synthesize` (JSON with base64 audio) and `POST /stream`
//! (chunked PCM16 WAV), with request validation, caching and billing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::audio::{mp3, signal, wav};
use crate::auth;
use crate::error::SimError;
use crate::state::{CacheKey, CachedAudio, SimState};

/// Maximum `data` length (characters) for `/synthesize` (FERN/MCPSPEC: 3000).
pub const SYNTH_MAX_CHARS: usize = 3000;
/// Maximum `data` length (characters) for `/stream` (DOCS: 2000).
pub const STREAM_MAX_CHARS: usize = 2000;
/// Sample rates the API accepts.
pub const SAMPLE_RATES: [u32; 6] = [8_000, 16_000, 22_050, 32_000, 44_100, 48_000];
/// Default sample rate (DOCS: 48000).
pub const DEFAULT_SAMPLE_RATE: u32 = 48_000;

/// Output container of `/synthesize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// WAV at the requested precision.
    Wav,
    /// MP3 (precision is ignored).
    Mp3,
}

/// A validated TTS request.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    /// Voice uuid.
    pub voice_uuid: String,
    /// Text to speak.
    pub data: String,
    /// Container (always WAV for `/stream`).
    pub output_format: OutputFormat,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// WAV precision (always PCM_16 for `/stream`).
    pub precision: wav::Precision,
    /// Title echoed back by `/synthesize`.
    pub title: Option<String>,
}

fn opt_str(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, SimError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(SimError::field(field, format!("{field} must be a string"))),
    }
}

fn opt_bool(obj: &Map<String, Value>, field: &'static str) -> Result<(), SimError> {
    match obj.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Ok(()),
        Some(_) => Err(SimError::field(field, format!("{field} must be a boolean"))),
    }
}

/// Parses and validates a `/synthesize` (`stream == false`) or `/stream` body.
pub fn parse_request(body: &[u8], stream: bool) -> Result<TtsRequest, SimError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SimError::bad_request(format!("Request body must be JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(SimError::bad_request("Request body must be a JSON object"));
    };
    let voice_uuid = opt_str(&obj, "voice_uuid")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| SimError::field("voice_uuid", "voice_uuid is required"))?;
    let data = opt_str(&obj, "data")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| SimError::field("data", "data is required and must not be empty"))?;
    let limit = if stream {
        STREAM_MAX_CHARS
    } else {
        SYNTH_MAX_CHARS
    };
    let chars = data.chars().count();
    if chars > limit {
        return Err(SimError::field(
            "data",
            format!("data is {chars} characters; the limit is {limit}"),
        ));
    }
    let output_format = if stream {
        OutputFormat::Wav
    } else {
        match opt_str(&obj, "output_format")?
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("wav") => OutputFormat::Wav,
            Some("mp3") => OutputFormat::Mp3,
            Some(other) => {
                return Err(SimError::field(
                    "output_format",
                    format!("output_format must be wav or mp3, got {other:?}"),
                ))
            }
        }
    };
    let sample_rate = match obj.get("sample_rate") {
        None | Some(Value::Null) => DEFAULT_SAMPLE_RATE,
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse::<u32>().unwrap_or(0),
        Some(_) => 0,
    };
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Err(SimError::field(
            "sample_rate",
            "sample_rate must be one of 8000, 16000, 22050, 32000, 44100, 48000",
        ));
    }
    let precision = match opt_str(&obj, "precision")? {
        None => wav::Precision::Pcm32,
        Some(p) => wav::Precision::parse(&p).ok_or_else(|| {
            SimError::field(
                "precision",
                "precision must be one of MULAW, PCM_16, PCM_24, PCM_32",
            )
        })?,
    };
    let precision = if stream {
        wav::Precision::Pcm16
    } else {
        precision
    };
    let title = if stream {
        None
    } else {
        opt_str(&obj, "title")?
    };
    opt_str(&obj, "project_uuid")?;
    opt_str(&obj, "model")?;
    opt_bool(&obj, "use_hd")?;
    opt_bool(&obj, "apply_custom_pronunciations")?;
    Ok(TtsRequest {
        voice_uuid,
        data,
        output_format,
        sample_rate,
        precision,
        title,
    })
}

/// Deterministic "model seed" reported for a voice and text (FNV-1a, 31 bits).
fn seed_for(voice: &str, text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in voice.bytes().chain([0]).chain(text.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h & 0x7FFF_FFFF
}

/// Renders the complete `/synthesize` JSON body and the audio duration it describes.
pub fn render_synthesis(req: &TtsRequest) -> Result<CachedAudio, SimError> {
    let rate = req.sample_rate;
    let samples = signal::total_samples(&req.data, rate);
    let (audio, frames, format_name) = match req.output_format {
        OutputFormat::Wav => {
            let pcm = signal::render(&req.data, rate);
            (
                wav::encode(&pcm, rate, req.precision, &req.data),
                samples,
                "wav",
            )
        }
        OutputFormat::Mp3 => {
            let layout = mp3::layout(rate)
                .ok_or_else(|| SimError::Internal(format!("no MP3 layout for {rate} Hz")))?;
            let mp3_frames = layout.frames_for(samples);
            let bytes = mp3::encode(rate, mp3_frames, &req.data)
                .ok_or_else(|| SimError::Internal(format!("no MP3 layout for {rate} Hz")))?;
            (
                bytes,
                mp3_frames * u64::from(layout.samples_per_frame),
                "mp3",
            )
        }
    };
    let duration = frames as f64 / f64::from(rate);
    let speech = signal::ms_to_samples(signal::CHAR_MS * req.data.chars().count() as u64, rate);
    let synth_duration = speech as f64 / f64::from(rate);
    let times = signal::graph_times(&req.data, rate);
    let graph_chars: Vec<String> = times.iter().map(|(c, _, _)| c.to_string()).collect();
    let graph_times: Vec<[f64; 2]> = times.iter().map(|(_, s, e)| [*s, *e]).collect();
    let body = json!({
        "success": true,
        "audio_content": base64::engine::general_purpose::STANDARD.encode(&audio),
        "audio_timestamps": {
            "graph_chars": graph_chars,
            "graph_times": graph_times,
            "phon_chars": [],
            "phon_times": [],
        },
        "duration": duration,
        "synth_duration": synth_duration,
        "output_format": format_name,
        "sample_rate": rate,
        "seed": seed_for(&req.voice_uuid, &req.data),
        "title": req.title,
        "issues": [],
    });
    let body = serde_json::to_vec(&body).map_err(|e| SimError::Internal(e.to_string()))?;
    Ok(CachedAudio {
        body: Bytes::from(body),
        header_len: 0,
        duration,
    })
}

/// Renders the complete streamed WAV (header + PCM16) for `/stream`.
pub fn render_stream(req: &TtsRequest) -> CachedAudio {
    let rate = req.sample_rate;
    let pcm = signal::render(&req.data, rate);
    let mut body = wav::stream_header(rate, &req.data);
    let header_len = body.len();
    body.extend_from_slice(&wav::pcm16(&pcm));
    CachedAudio {
        body: Bytes::from(body),
        header_len,
        duration: pcm.len() as f64 / f64::from(rate),
    }
}

fn cache_key(req: &TtsRequest, kind: String) -> CacheKey {
    CacheKey {
        kind,
        voice: req.voice_uuid.clone(),
        text: req.data.clone(),
        sample_rate: req.sample_rate,
        title: req.title.clone(),
    }
}

async fn cached_or_render(
    state: &SimState,
    key: CacheKey,
    render: impl FnOnce() -> Result<CachedAudio, SimError> + Send + 'static,
) -> Result<Arc<CachedAudio>, SimError> {
    if let Some(hit) = state.cached(&key) {
        return Ok(hit);
    }
    let rendered = web::block(render)
        .await
        .map_err(|e| SimError::Internal(format!("render task failed: {e}")))??;
    let rendered = Arc::new(rendered);
    state.cache_insert(key, Arc::clone(&rendered));
    Ok(rendered)
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// `POST /synthesize`.
pub async fn synthesize(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let tts = parse_request(&body, false)?;
    crate::cloning::check_usable(&state, &tts.voice_uuid)?;
    let kind = match tts.output_format {
        OutputFormat::Wav => format!("wav:{}", tts.precision.as_str()),
        OutputFormat::Mp3 => "mp3".to_owned(),
    };
    let key = cache_key(&tts, kind);
    let audio = cached_or_render(&state, key, move || render_synthesis(&tts)).await?;
    state.bill(today(), audio.duration);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(audio.body.clone()))
}

/// `POST /stream`: WAV header first, then ~100 ms PCM16 chunks with a pause between them.
pub async fn stream(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let tts = parse_request(&body, true)?;
    crate::cloning::check_usable(&state, &tts.voice_uuid)?;
    let chunk_bytes = (tts.sample_rate as usize / 10).max(1) * 2;
    let key = cache_key(&tts, "stream".to_owned());
    let audio = cached_or_render(&state, key, move || Ok(render_stream(&tts))).await?;
    state.bill(today(), audio.duration);
    let delay = state.knobs().stream_chunk_delay;
    let body = audio_chunks(Arc::clone(&audio), chunk_bytes, delay);
    Ok(HttpResponse::Ok().content_type("audio/wav").streaming(body))
}

/// The chunk sequence of a streamed response: header, then audio chunks.
fn audio_chunks(
    audio: Arc<CachedAudio>,
    chunk_bytes: usize,
    delay: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(0usize, move |offset| {
        let audio = Arc::clone(&audio);
        async move {
            let total = audio.body.len();
            if offset >= total {
                return None;
            }
            let end = if offset == 0 {
                audio.header_len
            } else {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                (offset + chunk_bytes).min(total)
            };
            Some((Ok(audio.body.slice(offset..end)), end))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_string_sample_rate() {
        let r = parse_request(br#"{"voice_uuid":"55592656","data":"hi"}"#, false).unwrap();
        assert_eq!(r.sample_rate, 48_000);
        assert_eq!(r.precision, wav::Precision::Pcm32);
        assert_eq!(r.output_format, OutputFormat::Wav);
        let r = parse_request(
            br#"{"voice_uuid":"55592656","data":"hi","sample_rate":"22050","output_format":"MP3"}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            (r.sample_rate, r.output_format),
            (22_050, OutputFormat::Mp3)
        );
        let r = parse_request(
            br#"{"voice_uuid":"x","data":"hi","precision":"MULAW"}"#,
            true,
        )
        .unwrap();
        assert_eq!(r.precision, wav::Precision::Pcm16, "stream is always PCM16");
    }

    #[test]
    fn invalid_requests_name_the_field() {
        let cases: [(&[u8], Option<&str>); 8] = [
            (b"not json", None),
            (b"[1]", None),
            (br#"{"data":"hi"}"#, Some("voice_uuid")),
            (br#"{"voice_uuid":"a","data":"  "}"#, Some("data")),
            (
                br#"{"voice_uuid":"a","data":"hi","sample_rate":24000}"#,
                Some("sample_rate"),
            ),
            (
                br#"{"voice_uuid":"a","data":"hi","precision":"PCM_8"}"#,
                Some("precision"),
            ),
            (
                br#"{"voice_uuid":"a","data":"hi","output_format":"ogg"}"#,
                Some("output_format"),
            ),
            (
                br#"{"voice_uuid":"a","data":"hi","use_hd":"yes"}"#,
                Some("use_hd"),
            ),
        ];
        for (body, field) in cases {
            match parse_request(body, false) {
                Err(SimError::BadRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!(
                    "expected 400 for {:?}, got {other:?}",
                    String::from_utf8_lossy(body)
                ),
            }
        }
    }

    #[test]
    fn data_limits_differ_between_endpoints() {
        let text = "a".repeat(2500);
        let body = serde_json::to_vec(&json!({"voice_uuid":"a","data":text})).unwrap();
        assert!(parse_request(&body, false).is_ok());
        assert!(parse_request(&body, true).is_err());
        let text = "a".repeat(3001);
        let body = serde_json::to_vec(&json!({"voice_uuid":"a","data":text})).unwrap();
        assert!(parse_request(&body, false).is_err());
    }

    #[test]
    fn seeds_are_deterministic() {
        assert_eq!(seed_for("a", "b"), seed_for("a", "b"));
        assert_ne!(seed_for("a", "b"), seed_for("a", "c"));
    }
}
