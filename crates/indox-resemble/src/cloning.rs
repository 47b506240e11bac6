//! Custom voices, their recordings and voice design on the app host: request bodies, lenient
//! normalisation of the answers, and [`CloningUpstream`] for [`ResembleClient`].
//!
//! - `create_voice` → `POST {app_url}/voices` JSON `{name, voice_type, language, description?}`
//! - `get_voice` → `GET {app_url}/voices/{uuid}`
//! - `delete_voice` → `DELETE {app_url}/voices/{uuid}`
//! - `add_recording` → `POST {app_url}/voices/{uuid}/recordings` multipart
//!   `{file, name, text, emotion?, is_active}`
//! - `build_voice` → `POST {app_url}/voices/{uuid}/build` JSON `{}`
//! - `design` → `POST {app_url}/voice-design` JSON `{user_prompt}`
//! - `voice_from_design` → `POST {app_url}/voice-design/{design}/{index}/create_rapid_voice`
//!   JSON `{voice_name}`
//!
//! Voices and recordings are read from `item` or the top-level object, with `uuid` or `id`;
//! a voice's status comes from `status` or `voice_status` and defaults to `pending`. Voice
//! designs are accepted in both documented shapes. `success:false` with a 2xx is an error
//! (see [`crate::parse::envelope`]).

use async_trait::async_trait;
use indox_voice::cloning::{
    CloningUpstream, DesignSample, NewUpstreamVoice, RecordingUpload, UpstreamDesign,
    UpstreamRecording, UpstreamVoice,
};
use indox_voice::UpstreamError;
use reqwest::multipart::{Form, Part};
use reqwest::Url;
use serde_json::{json, Map, Value};

use crate::error::ResembleError;
use crate::parse::{as_u64, envelope};
use crate::ResembleClient;

/// The status given to a voice object that carries none.
pub const DEFAULT_VOICE_STATUS: &str = "pending";
/// The content type of an upload whose own content type is not a valid MIME type.
const FALLBACK_CONTENT_TYPE: &str = "application/octet-stream";

// ---------------------------------------------------------------------------------------------
// Request bodies

/// The `POST /voices` body: `{name, voice_type, language, description?}` (a blank description
/// is left out).
pub fn create_voice_body(voice: &NewUpstreamVoice) -> Value {
    let mut body = json!({
        "name": voice.name,
        "voice_type": voice.voice_type.as_str(),
        "language": voice.language,
    });
    if let Some(d) = voice
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        body["description"] = json!(d);
    }
    body
}

/// The text fields of the `POST /voices/{uuid}/recordings` form, in order: `name`, `text`,
/// `emotion` (only when given) and `is_active` (`"true"`). The `file` part is added apart.
pub fn recording_fields(recording: &RecordingUpload) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("name", recording.name.clone()),
        ("text", recording.text.clone()),
    ];
    if let Some(e) = recording
        .emotion
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        fields.push(("emotion", e.to_owned()));
    }
    fields.push(("is_active", "true".to_owned()));
    fields
}

// ---------------------------------------------------------------------------------------------
// Lenient parsing

/// A non-blank string (trimmed), or a number as text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of `keys` that holds a non-blank string or a number.
fn first_text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(obj.get(*k)))
}

/// The object under `item` (documented), else the top-level object.
fn item(obj: &Map<String, Value>) -> &Map<String, Value> {
    match obj.get("item") {
        Some(Value::Object(i)) => i,
        _ => obj,
    }
}

/// One voice object; `None` without a `uuid` or `id`.
pub fn voice_of(obj: &Map<String, Value>) -> Option<UpstreamVoice> {
    Some(UpstreamVoice {
        uuid: first_text(obj, &["uuid", "id"])?,
        name: first_text(obj, &["name"]).unwrap_or_default(),
        status: first_text(obj, &["status", "voice_status"])
            .unwrap_or_else(|| DEFAULT_VOICE_STATUS.to_owned()),
    })
}

/// Parses a voice answer (`POST /voices`, `GET /voices/{uuid}`).
///
/// # Errors
/// The failure envelope's error, or [`ResembleError::Protocol`] when there is no uuid.
pub fn parse_voice(status: u16, body: &[u8]) -> Result<UpstreamVoice, ResembleError> {
    let obj = envelope(status, body)?;
    voice_of(item(&obj))
        .ok_or_else(|| ResembleError::Protocol("the voice has no `uuid` or `id`".into()))
}

/// Parses a `POST /voices/{uuid}/recordings` answer; the audio URL is taken from `audio_src`,
/// `url` or `audio_url`.
///
/// # Errors
/// The failure envelope's error, or [`ResembleError::Protocol`] when there is no uuid.
pub fn parse_recording(status: u16, body: &[u8]) -> Result<UpstreamRecording, ResembleError> {
    let obj = envelope(status, body)?;
    let it = item(&obj);
    let uuid = first_text(it, &["uuid", "id"])
        .ok_or_else(|| ResembleError::Protocol("the recording has no `uuid` or `id`".into()))?;
    Ok(UpstreamRecording {
        uuid,
        name: first_text(it, &["name"]).unwrap_or_default(),
        audio_src: first_text(it, &["audio_src", "url", "audio_url"]),
    })
}

/// Parses an answer that only acknowledges (`DELETE /voices/{uuid}`, `POST …/build`): an
/// empty body or any JSON object that is not a failure envelope.
///
/// # Errors
/// The failure envelope's error (`success:false` is [`ResembleError::Rejected`], or
/// [`ResembleError::NotFound`] when its message says so); a body that is not a JSON object is
/// [`ResembleError::Protocol`].
pub fn parse_ack(status: u16, body: &[u8]) -> Result<(), ResembleError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    envelope(status, body).map(|_| ())
}

/// Parses a `POST /voice-design` answer in either documented shape:
///
/// - (a) `{"voice_candidates":{"voice_design_model_uuid":…,"samples":[{audio_url,sample_index}]}}`
/// - (b) `{"voice_candidates":[{audio_url,voice_sample_index,uuid}, …]}` (the design's uuid is
///   repeated on every candidate; the first one is used)
///
/// `voice_candidates` may also sit under `item`. A sample index may be a number or a string and
/// defaults to the sample's position; `audio_url` may also be `url` or `audio_src`. Samples
/// without a URL are skipped; the rest are sorted by index (the first of equal indexes wins).
///
/// # Errors
/// The failure envelope's error, or [`ResembleError::Protocol`] when no design uuid or no
/// usable sample is found.
pub fn parse_design(status: u16, body: &[u8]) -> Result<UpstreamDesign, ResembleError> {
    let obj = envelope(status, body)?;
    let scope = item(&obj);
    let candidates = scope
        .get("voice_candidates")
        .or_else(|| obj.get("voice_candidates"));
    let (mut uuid, raw): (Option<String>, &[Value]) = match candidates {
        Some(Value::Object(c)) => (
            first_text(c, &["voice_design_model_uuid", "uuid", "id"]),
            c.get("samples")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice),
        ),
        Some(Value::Array(list)) => (None, list.as_slice()),
        _ => {
            return Err(ResembleError::Protocol(
                "the voice design has no `voice_candidates`".into(),
            ))
        }
    };
    let mut samples = Vec::with_capacity(raw.len());
    for (position, sample) in raw.iter().enumerate() {
        let Some(s) = sample.as_object() else {
            tracing::warn!(
                position,
                "skipping a voice-design sample that is not an object"
            );
            continue;
        };
        let Some(audio_url) = first_text(s, &["audio_url", "url", "audio_src"]) else {
            tracing::warn!(
                position,
                "skipping a voice-design sample without an audio URL"
            );
            continue;
        };
        let index = ["sample_index", "voice_sample_index", "index"]
            .iter()
            .find_map(|k| s.get(*k).and_then(as_u64))
            .and_then(|i| u32::try_from(i).ok())
            .or_else(|| u32::try_from(position).ok())
            .unwrap_or(u32::MAX);
        if let Some(found) = first_text(s, &["voice_design_model_uuid", "uuid"]) {
            if uuid.is_none() {
                uuid = Some(found);
            } else if uuid.as_deref() != Some(found.as_str()) {
                tracing::warn!(
                    position,
                    "voice-design candidates name different uuids; using the first"
                );
            }
        }
        samples.push(DesignSample { index, audio_url });
    }
    let uuid = uuid
        .or_else(|| first_text(scope, &["voice_design_model_uuid", "uuid", "id"]))
        .ok_or_else(|| ResembleError::Protocol("the voice design has no uuid".into()))?;
    samples.sort_by_key(|s| s.index);
    samples.dedup_by_key(|s| s.index);
    if samples.is_empty() {
        return Err(ResembleError::Protocol(
            "the voice design has no samples".into(),
        ));
    }
    Ok(UpstreamDesign { uuid, samples })
}

/// Parses a `…/create_rapid_voice` answer: `{"voice_uuid":…}` (documented, 202), or `uuid`,
/// `id`, or the same under `item`.
///
/// # Errors
/// The failure envelope's error, or [`ResembleError::Protocol`] when there is no uuid.
pub fn parse_design_voice(status: u16, body: &[u8]) -> Result<String, ResembleError> {
    let obj = envelope(status, body)?;
    let keys = ["voice_uuid", "uuid", "id"];
    first_text(&obj, &keys)
        .or_else(|| match obj.get("item") {
            Some(Value::Object(it)) => first_text(it, &keys),
            _ => None,
        })
        .ok_or_else(|| ResembleError::Protocol("the created voice has no uuid".into()))
}

// ---------------------------------------------------------------------------------------------
// The client

impl ResembleClient {
    /// `{app_url}/<segments…>`, each segment percent-encoded (so an id cannot leave its path
    /// segment). A blank, `.` or `..` id names nothing: [`ResembleError::NotFound`].
    fn app_endpoint(&self, segments: &[&str]) -> Result<Url, ResembleError> {
        let mut url = Url::parse(&self.app_url)
            .map_err(|e| ResembleError::Config(format!("app_url `{}`: {e}", self.app_url)))?;
        if let Some(bad) = segments
            .iter()
            .find(|s| s.trim().is_empty() || matches!(**s, "." | ".."))
        {
            return Err(ResembleError::NotFound(format!("no such resource `{bad}`")));
        }
        url.path_segments_mut()
            .map_err(|()| ResembleError::Config(format!("app_url `{}` has no path", self.app_url)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// The multipart form of one recording (the audio is not copied).
    fn recording_form(recording: &RecordingUpload) -> Form {
        let part = || {
            Part::stream_with_length(
                reqwest::Body::from(recording.audio.clone()),
                recording.audio.len() as u64,
            )
            .file_name(recording.file_name.clone())
        };
        let file = part()
            .mime_str(&recording.content_type)
            .or_else(|_| {
                tracing::warn!(
                    content_type = %recording.content_type,
                    "not a valid MIME type; uploading the recording as {FALLBACK_CONTENT_TYPE}"
                );
                part().mime_str(FALLBACK_CONTENT_TYPE)
            })
            .unwrap_or_else(|_| part());
        recording_fields(recording)
            .into_iter()
            .fold(Form::new().part("file", file), |form, (name, value)| {
                form.text(name, value)
            })
    }
}

#[async_trait]
impl CloningUpstream for ResembleClient {
    async fn create_voice(&self, voice: &NewUpstreamVoice) -> Result<UpstreamVoice, UpstreamError> {
        let req = self
            .http
            .post(self.app_endpoint(&["voices"])?)
            .json(&create_voice_body(voice));
        let (status, body) = self.send_json(req).await?;
        let mut created = parse_voice(status, &body)?;
        if created.name.is_empty() {
            created.name.clone_from(&voice.name);
        }
        Ok(created)
    }

    async fn get_voice(&self, uuid: &str) -> Result<UpstreamVoice, UpstreamError> {
        let req = self.http.get(self.app_endpoint(&["voices", uuid])?);
        let (status, body) = self.send_json(req).await?;
        Ok(parse_voice(status, &body)?)
    }

    async fn delete_voice(&self, uuid: &str) -> Result<(), UpstreamError> {
        let req = self.http.delete(self.app_endpoint(&["voices", uuid])?);
        let (status, body) = self.send_json(req).await?;
        Ok(parse_ack(status, &body)?)
    }

    async fn add_recording(
        &self,
        voice_uuid: &str,
        recording: &RecordingUpload,
    ) -> Result<UpstreamRecording, UpstreamError> {
        let req = self
            .http
            .post(self.app_endpoint(&["voices", voice_uuid, "recordings"])?)
            .multipart(Self::recording_form(recording));
        let (status, body) = self.send_json(req).await?;
        let mut created = parse_recording(status, &body)?;
        if created.name.is_empty() {
            created.name.clone_from(&recording.name);
        }
        Ok(created)
    }

    async fn build_voice(&self, uuid: &str) -> Result<(), UpstreamError> {
        let req = self
            .http
            .post(self.app_endpoint(&["voices", uuid, "build"])?)
            .json(&json!({}));
        let (status, body) = self.send_json(req).await?;
        Ok(parse_ack(status, &body)?)
    }

    async fn design(&self, prompt: &str) -> Result<UpstreamDesign, UpstreamError> {
        let req = self
            .http
            .post(self.app_endpoint(&["voice-design"])?)
            .json(&json!({ "user_prompt": prompt }));
        let (status, body) = self.send_json(req).await?;
        Ok(parse_design(status, &body)?)
    }

    async fn voice_from_design(
        &self,
        design_uuid: &str,
        index: u32,
        name: &str,
    ) -> Result<String, UpstreamError> {
        let index = index.to_string();
        let url =
            self.app_endpoint(&["voice-design", design_uuid, &index, "create_rapid_voice"])?;
        let req = self.http.post(url).json(&json!({ "voice_name": name }));
        let (status, body) = self.send_json(req).await?;
        Ok(parse_design_voice(status, &body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use indox_voice::cloning::VoiceType;

    fn up<T: std::fmt::Debug>(r: Result<T, ResembleError>) -> UpstreamError {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.into(),
        }
    }

    fn sample(index: u32, url: &str) -> DesignSample {
        DesignSample {
            index,
            audio_url: url.into(),
        }
    }

    #[test]
    fn create_body_leaves_out_a_blank_description() {
        let mut v = NewUpstreamVoice {
            name: "Me".into(),
            voice_type: VoiceType::Rapid,
            language: "en-US".into(),
            description: None,
        };
        assert_eq!(
            create_voice_body(&v),
            json!({"name":"Me","voice_type":"rapid","language":"en-US"})
        );
        v.voice_type = VoiceType::Professional;
        v.description = Some("  ".into());
        assert_eq!(
            create_voice_body(&v),
            json!({"name":"Me","voice_type":"professional","language":"en-US"})
        );
        v.description = Some("warm".into());
        assert_eq!(create_voice_body(&v)["description"], "warm");
    }

    #[test]
    fn recording_fields_send_emotion_only_when_given() {
        let mut r = RecordingUpload {
            name: "take 1".into(),
            text: "Hello there".into(),
            emotion: None,
            audio: Bytes::from_static(b"RIFF"),
            file_name: "take1.wav".into(),
            content_type: "audio/wav".into(),
        };
        assert_eq!(
            recording_fields(&r),
            vec![
                ("name", "take 1".to_owned()),
                ("text", "Hello there".to_owned()),
                ("is_active", "true".to_owned()),
            ]
        );
        r.emotion = Some("happy".into());
        assert_eq!(recording_fields(&r)[2], ("emotion", "happy".to_owned()));
        assert_eq!(recording_fields(&r).len(), 4);
    }

    #[test]
    fn voices_are_read_leniently() {
        let documented = br#"{"success":true,"item":{"uuid":"ab12cd34","name":"Me","status":"pending","voice_status":"pending","voice_type":"rapid"}}"#;
        assert_eq!(
            parse_voice(200, documented).unwrap(),
            UpstreamVoice {
                uuid: "ab12cd34".into(),
                name: "Me".into(),
                status: "pending".into(),
            }
        );
        // Top level, `id` as a number, status only in `voice_status`.
        let flat = br#"{"id":42,"name":"Flat","voice_status":"ready"}"#;
        let v = parse_voice(200, flat).unwrap();
        assert_eq!(
            (v.uuid.as_str(), v.name.as_str(), v.status.as_str()),
            ("42", "Flat", "ready")
        );
        // `status` wins over `voice_status`; a null status falls back.
        let both =
            br#"{"success":true,"item":{"uuid":"u","status":"finished","voice_status":"ready"}}"#;
        assert_eq!(parse_voice(200, both).unwrap().status, "finished");
        let null = br#"{"success":true,"item":{"uuid":"u","status":null,"voice_status":"ready"}}"#;
        assert_eq!(parse_voice(200, null).unwrap().status, "ready");
        // No status at all, no name: pending, empty name; a blank uuid falls back to `id`.
        let bare = br#"{"success":true,"item":{"uuid":" ","id":"x1"}}"#;
        assert_eq!(
            parse_voice(200, bare).unwrap(),
            UpstreamVoice {
                uuid: "x1".into(),
                name: String::new(),
                status: DEFAULT_VOICE_STATUS.into(),
            }
        );
    }

    #[test]
    fn voice_errors() {
        assert!(matches!(
            up(parse_voice(
                200,
                br#"{"success":true,"item":{"name":"no id"}}"#
            )),
            UpstreamError::Protocol(_)
        ));
        assert!(matches!(
            up(parse_voice(200, b"<html>")),
            UpstreamError::Protocol(_)
        ));
        assert!(matches!(
            up(parse_voice(200, b"[1,2]")),
            UpstreamError::Protocol(_)
        ));
        assert_eq!(
            up(parse_voice(
                200,
                br#"{"success":false,"message":"name has already been taken"}"#
            )),
            UpstreamError::BadRequest("name has already been taken".into())
        );
        assert_eq!(
            up(parse_voice(
                200,
                br#"{"success":false,"item":null,"message":"Not found"}"#
            )),
            UpstreamError::NotFound("Not found".into())
        );
    }

    #[test]
    fn recordings_are_read_leniently() {
        let documented = br#"{"success":true,"item":{"uuid":"r1","name":"take 1","text":"hi","emotion":"neutral","is_active":true,"audio_src":"https://cdn/r1.wav"}}"#;
        assert_eq!(
            parse_recording(200, documented).unwrap(),
            UpstreamRecording {
                uuid: "r1".into(),
                name: "take 1".into(),
                audio_src: Some("https://cdn/r1.wav".into()),
            }
        );
        let flat = br#"{"id":"r2","url":"https://cdn/r2.wav"}"#;
        let r = parse_recording(201, flat).unwrap();
        assert_eq!(
            (r.uuid.as_str(), r.name.as_str(), r.audio_src.as_deref()),
            ("r2", "", Some("https://cdn/r2.wav"))
        );
        let no_audio = br#"{"success":true,"item":{"uuid":"r3","name":"n","audio_src":null}}"#;
        assert_eq!(parse_recording(200, no_audio).unwrap().audio_src, None);
        assert!(matches!(
            up(parse_recording(200, br#"{"success":true,"item":{}}"#)),
            UpstreamError::Protocol(_)
        ));
        assert_eq!(
            up(parse_recording(
                200,
                br#"{"success":false,"errors":{"file":["must be valid media"]}}"#
            )),
            UpstreamError::BadRequest("file must be valid media".into())
        );
    }

    #[test]
    fn acknowledgements() {
        assert!(parse_ack(200, br#"{"success":true,"message":"Voice was deleted."}"#).is_ok());
        assert!(parse_ack(200, br#"{"success":true}"#).is_ok());
        assert!(parse_ack(204, b"").is_ok());
        assert!(parse_ack(200, b" \n").is_ok());
        assert_eq!(
            up(parse_ack(
                200,
                br#"{"success":false,"message":"Professional voices need at least 3 recordings"}"#
            )),
            UpstreamError::BadRequest("Professional voices need at least 3 recordings".into())
        );
        assert!(matches!(
            up(parse_ack(200, br#"{"success":false}"#)),
            UpstreamError::BadRequest(_)
        ));
        assert!(matches!(
            up(parse_ack(200, b"ok")),
            UpstreamError::Protocol(_)
        ));
    }

    #[test]
    fn design_shape_a() {
        let body = br#"{"voice_candidates":{"voice_design_model_uuid":"d-1","samples":[
            {"audio_url":"https://x/2.wav","sample_index":2},
            {"audio_url":"https://x/0.wav","sample_index":0},
            {"audio_url":"https://x/1.wav","sample_index":"1"}]}}"#;
        assert_eq!(
            parse_design(200, body).unwrap(),
            UpstreamDesign {
                uuid: "d-1".into(),
                samples: vec![
                    sample(0, "https://x/0.wav"),
                    sample(1, "https://x/1.wav"),
                    sample(2, "https://x/2.wav"),
                ],
            }
        );
    }

    #[test]
    fn design_shape_b() {
        let body = br#"{"voice_candidates":[
            {"audio_url":"https://x/b1.wav","voice_sample_index":1,"uuid":"d-2"},
            {"audio_url":"https://x/b0.wav","voice_sample_index":0,"uuid":"d-2"},
            {"audio_url":"https://x/b2.wav","voice_sample_index":2,"uuid":"d-2"}]}"#;
        assert_eq!(
            parse_design(200, body).unwrap(),
            UpstreamDesign {
                uuid: "d-2".into(),
                samples: vec![
                    sample(0, "https://x/b0.wav"),
                    sample(1, "https://x/b1.wav"),
                    sample(2, "https://x/b2.wav"),
                ],
            }
        );
    }

    #[test]
    fn design_variants() {
        // Under `item`, indexes missing (position used), a sample without a URL skipped,
        // a duplicate index dropped, the uuid on the top level.
        let body = br#"{"success":true,"item":{"uuid":"d-3","voice_candidates":[
            {"url":"https://x/p0.wav"},
            {"audio_url":null,"voice_sample_index":5},
            {"audio_src":"https://x/p2.wav"},
            {"audio_url":"https://x/dup.wav","sample_index":0},
            "junk"]}}"#;
        assert_eq!(
            parse_design(200, body).unwrap(),
            UpstreamDesign {
                uuid: "d-3".into(),
                samples: vec![sample(0, "https://x/p0.wav"), sample(2, "https://x/p2.wav")],
            }
        );
        // Shape (b) whose candidates name different uuids: the first is used.
        let mixed = br#"{"voice_candidates":[
            {"audio_url":"https://x/0.wav","voice_sample_index":0,"uuid":"first"},
            {"audio_url":"https://x/1.wav","voice_sample_index":1,"uuid":"second"}]}"#;
        assert_eq!(parse_design(200, mixed).unwrap().uuid, "first");
    }

    #[test]
    fn design_errors() {
        let no_uuid =
            br#"{"voice_candidates":[{"audio_url":"https://x/0.wav","voice_sample_index":0}]}"#;
        assert!(matches!(
            up(parse_design(200, no_uuid)),
            UpstreamError::Protocol(_)
        ));
        let no_samples = br#"{"voice_candidates":{"voice_design_model_uuid":"d","samples":[]}}"#;
        assert!(matches!(
            up(parse_design(200, no_samples)),
            UpstreamError::Protocol(_)
        ));
        let no_list = br#"{"voice_candidates":{"voice_design_model_uuid":"d"}}"#;
        assert!(matches!(
            up(parse_design(200, no_list)),
            UpstreamError::Protocol(_)
        ));
        let urls_missing = br#"{"voice_candidates":[{"uuid":"d","voice_sample_index":0}]}"#;
        assert!(matches!(
            up(parse_design(200, urls_missing)),
            UpstreamError::Protocol(_)
        ));
        assert!(matches!(
            up(parse_design(200, br#"{"success":true}"#)),
            UpstreamError::Protocol(_)
        ));
        assert!(matches!(
            up(parse_design(200, br#"{"voice_candidates":"nope"}"#)),
            UpstreamError::Protocol(_)
        ));
        assert_eq!(
            up(parse_design(
                200,
                br#"{"success":false,"message":"Voice design trial already used"}"#
            )),
            UpstreamError::BadRequest("Voice design trial already used".into())
        );
    }

    #[test]
    fn design_voice_uuid_in_any_place() {
        assert_eq!(
            parse_design_voice(202, br#"{"voice_uuid":"v-1"}"#).unwrap(),
            "v-1"
        );
        assert_eq!(
            parse_design_voice(200, br#"{"success":true,"uuid":"v-2"}"#).unwrap(),
            "v-2"
        );
        assert_eq!(
            parse_design_voice(
                200,
                br#"{"success":true,"item":{"uuid":"v-3","status":"pending"}}"#
            )
            .unwrap(),
            "v-3"
        );
        assert_eq!(
            parse_design_voice(200, br#"{"item":{"voice_uuid":"v-4"}}"#).unwrap(),
            "v-4"
        );
        assert!(matches!(
            up(parse_design_voice(202, br#"{"success":true}"#)),
            UpstreamError::Protocol(_)
        ));
        assert!(matches!(
            up(parse_design_voice(
                202,
                br#"{"success":false,"message":"Sample not found"}"#
            )),
            UpstreamError::NotFound(_)
        ));
    }

    #[test]
    fn endpoints_encode_ids() {
        let client = ResembleClient::new(crate::ResembleConfig {
            app_url: "https://app.example/api/v2/".into(),
            ..crate::ResembleConfig::new("k")
        })
        .unwrap();
        assert_eq!(
            client.app_endpoint(&["voices", "ab12"]).unwrap().as_str(),
            "https://app.example/api/v2/voices/ab12"
        );
        assert_eq!(
            client
                .app_endpoint(&["voice-design", "d/../x?y#z", "2", "create_rapid_voice"])
                .unwrap()
                .as_str(),
            "https://app.example/api/v2/voice-design/d%2F..%2Fx%3Fy%23z/2/create_rapid_voice"
        );
        for bad in ["", " ", ".", ".."] {
            assert!(matches!(
                client.app_endpoint(&["voices", bad]),
                Err(ResembleError::NotFound(_))
            ));
        }
    }
}
