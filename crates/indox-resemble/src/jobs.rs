//! Async jobs on the upstream (speech-to-text, detect): request bodies, paths, and lenient
//! normalisation of the job item into the gateway's shape.

use serde_json::{json, Map, Value};

use indox_voice::{AsyncOp, UpstreamJob};

use crate::error::ResembleError;
use crate::parse::{as_f64, envelope};

/// The collection path under the app host (where jobs are created).
pub fn path(op: AsyncOp) -> &'static str {
    match op {
        AsyncOp::SpeechToText => "speech-to-text",
        AsyncOp::Detect => "detect",
        AsyncOp::Enhance => "audio_enhancements",
        AsyncOp::Edit => "edit",
        AsyncOp::Intelligence => "intelligence",
        AsyncOp::WatermarkApply => "watermark/apply",
        AsyncOp::WatermarkDetect => "watermark/detect",
        AsyncOp::IdentitySearch => "identity/search",
        AsyncOp::IdentityEnroll => "identity",
    }
}

/// Where one job is read.
pub fn get_path(op: AsyncOp, id: &str) -> String {
    match op {
        AsyncOp::Intelligence => format!("intelligences/{id}"),
        AsyncOp::WatermarkApply | AsyncOp::WatermarkDetect => format!("{}/{id}/result", path(op)),
        _ => format!("{}/{id}", path(op)),
    }
}

/// Whether the upstream answers at once instead of running a job.
pub fn is_synchronous(op: AsyncOp) -> bool {
    matches!(op, AsyncOp::IdentitySearch | AsyncOp::IdentityEnroll)
}

/// The create body: the media URL, the callback, and the parameters each operation takes.
pub fn create_body(
    op: AsyncOp,
    media_url: &str,
    params: &Value,
    callback_url: Option<&str>,
) -> Value {
    let mut body = Map::new();
    let url_field = if op == AsyncOp::Edit {
        "input_audio"
    } else {
        "url"
    };
    body.insert(url_field.into(), json!(media_url));
    if let Some(cb) = callback_url {
        // Edit names it `callback_uri`, everything else `callback_url`.
        let name = if op == AsyncOp::Edit {
            "callback_uri"
        } else {
            "callback_url"
        };
        if !is_synchronous(op) {
            body.insert(name.into(), json!(cb));
        }
    }
    let pass: &[&str] = match op {
        AsyncOp::Detect => &["modality"],
        AsyncOp::SpeechToText => &["query"],
        AsyncOp::Edit => &["original_transcript", "target_transcript", "voice_uuid"],
        AsyncOp::Intelligence => &["media_type", "query"],
        AsyncOp::WatermarkApply => &["strength", "custom_message"],
        AsyncOp::WatermarkDetect => &["custom_message"],
        AsyncOp::IdentitySearch => &["top_k"],
        AsyncOp::IdentityEnroll => &["name"],
        AsyncOp::Enhance => &[],
    };
    for k in pass {
        // The upstream's `modality` is audio|video|all; images are recognised from the file.
        if *k == "modality"
            && !matches!(
                params.get(*k).and_then(Value::as_str),
                Some("audio" | "video" | "all")
            )
        {
            continue;
        }
        if let Some(v) = params.get(*k).filter(|v| !v.is_null()) {
            body.insert((*k).into(), v.clone());
        }
    }
    Value::Object(body)
}

/// The job item: under `item` (documented) or at the top level (enhancements).
fn item(obj: &Map<String, Value>) -> Map<String, Value> {
    match obj.get("item") {
        Some(Value::Object(i)) => i.clone(),
        _ => obj.clone(),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The upstream's id of a created job.
pub fn parse_created(status: u16, body: &[u8]) -> Result<String, ResembleError> {
    let obj = envelope(status, body)?;
    let it = item(&obj);
    text(it.get("uuid").or_else(|| it.get("id")))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ResembleError::Protocol("the created job has no uuid".into()))
}

/// The answer of a synchronous operation (identity), as a finished job.
pub fn parse_sync(
    op: AsyncOp,
    status_code: u16,
    body: &[u8],
) -> Result<UpstreamJob, ResembleError> {
    let obj = envelope(status_code, body)?;
    let result = match op {
        AsyncOp::IdentitySearch => {
            // DOCS: `item: [{uuid,name,confidence,distance}]`; FERN: `item: {<uuid>: {name,distance,score_type}}`.
            let matches: Vec<Value> = match obj.get("item").or_else(|| obj.get("items")) {
                Some(Value::Array(a)) => a.clone(),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(uuid, v)| {
                        let mut o = v.as_object().cloned().unwrap_or_default();
                        o.insert("uuid".into(), json!(uuid));
                        Value::Object(o)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            json!({ "matches": matches })
        }
        _ => {
            let it = item(&obj);
            json!({ "identity": Value::Object(it) })
        }
    };
    Ok(UpstreamJob {
        id: String::new(),
        status: "completed".into(),
        result,
        error: None,
    })
}

/// Maps the upstream's status words onto ours (`finished`/`success` mean completed).
fn status(raw: Option<String>) -> String {
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("completed" | "complete" | "finished" | "success" | "succeeded" | "done") => {
            "completed".into()
        }
        Some("failed" | "error" | "partially_failed") => "failed".into(),
        Some("processing" | "running" | "in_progress" | "started") => "processing".into(),
        _ => "pending".into(),
    }
}

/// Words in either documented shape: `{word,start,end,confidence}` or
/// `{text,start_time,end_time,speaker_id}`.
fn words(v: Option<&Value>) -> Value {
    let Some(Value::Array(ws)) = v else {
        return json!([]);
    };
    Value::Array(
        ws.iter()
            .filter_map(|w| {
                let w = w.as_object()?;
                Some(json!({
                    "word": text(w.get("word").or_else(|| w.get("text")))?,
                    "start": w.get("start").or_else(|| w.get("start_time")).and_then(as_f64),
                    "end": w.get("end").or_else(|| w.get("end_time")).and_then(as_f64),
                    "confidence": w.get("confidence").and_then(as_f64),
                }))
            })
            .collect(),
    )
}

/// A detection verdict from `metrics` (audio) or `image_metrics`/`video_metrics`.
fn verdict(it: &Map<String, Value>) -> Value {
    let pick = ["metrics", "image_metrics", "video_metrics"]
        .iter()
        .find_map(|k| it.get(*k).and_then(Value::as_object).map(|m| (*k, m)));
    let Some((source, m)) = pick else {
        return Value::Null;
    };
    let label = text(m.get("label")).map(|l| l.to_ascii_lowercase());
    let score = m
        .get("aggregated_score")
        .and_then(as_f64)
        .or_else(|| m.get("score").and_then(as_f64))
        .or_else(|| {
            // A list of per-chunk scores: their mean.
            let list = m.get("score")?.as_array()?;
            let xs: Vec<f64> = list.iter().filter_map(as_f64).collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        });
    json!({ "verdict": label, "score": score, "source": source, "metrics": Value::Object(m.clone()) })
}

/// Normalises a job read.
pub fn parse_job(op: AsyncOp, status_code: u16, body: &[u8]) -> Result<UpstreamJob, ResembleError> {
    let obj = envelope(status_code, body)?;
    let it = item(&obj);
    let id = text(it.get("uuid").or_else(|| it.get("id"))).unwrap_or_default();
    let mut status = status(text(it.get("status")));
    // Edit and intelligence items may carry no status: done once the result or an error is set.
    if it.get("status").is_none() {
        if it.get("result_audio_url").is_some_and(|v| !v.is_null())
            || it.get("description").is_some_and(|v| !v.is_null())
        {
            status = "completed".into();
        } else if it.get("error").is_some_and(|v| !v.is_null()) {
            status = "failed".into();
        }
    }
    let error = text(it.get("error_message").or_else(|| it.get("error"))).filter(|e| !e.is_empty());
    let result = if status == "completed" {
        match op {
            AsyncOp::SpeechToText => json!({
                "transcript": text(it.get("text")).unwrap_or_default(),
                "words": words(it.get("words")),
                "duration_seconds": it.get("duration_seconds").and_then(as_f64),
            }),
            AsyncOp::Enhance => json!({
                "enhanced_audio_url": text(it.get("enhanced_audio_url").or_else(|| it.get("url"))),
            }),
            AsyncOp::Edit => json!({ "result_audio_url": text(it.get("result_audio_url")) }),
            AsyncOp::Intelligence => {
                json!({ "description": it.get("description").cloned().unwrap_or(Value::Null) })
            }
            AsyncOp::WatermarkApply => {
                json!({ "watermarked_media": text(it.get("watermarked_media")) })
            }
            AsyncOp::WatermarkDetect => {
                let m = it
                    .get("metrics")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let present = match m.get("has_watermark") {
                    Some(Value::Bool(b)) => Some(*b),
                    // FERN audio: `{channel: bool}`; present when any channel has it.
                    Some(Value::Object(ch)) => Some(ch.values().any(|v| v.as_bool() == Some(true))),
                    _ => m
                        .get("overall_status")
                        .and_then(Value::as_str)
                        .map(|s| s == "present"),
                };
                json!({ "has_watermark": present, "confidence": m.get("confidence").and_then(as_f64), "metrics": Value::Object(m) })
            }
            AsyncOp::IdentitySearch | AsyncOp::IdentityEnroll => Value::Object(it.clone()),
            AsyncOp::Detect => {
                let mut v = verdict(&it);
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "media_type".into(),
                        it.get("media_type").cloned().unwrap_or(Value::Null),
                    );
                }
                v
            }
        }
    } else {
        Value::Null
    };
    Ok(UpstreamJob {
        id,
        status,
        result,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stt_words_in_both_shapes() {
        let docs = br#"{"success":true,"item":{"uuid":"a","status":"completed","text":"hi there","words":[{"word":"hi","start":0.0,"end":0.2,"confidence":0.9}],"duration_seconds":"1.5"}}"#;
        let j = parse_job(AsyncOp::SpeechToText, 200, docs).unwrap();
        assert_eq!(j.status, "completed");
        assert_eq!(j.result["transcript"], "hi there");
        assert_eq!(j.result["words"][0]["word"], "hi");
        assert_eq!(j.result["duration_seconds"], 1.5);
        let fern = br#"{"success":true,"item":{"uuid":"a","status":"completed","text":"x","words":[{"text":"x","start_time":"0.1","end_time":0.3,"speaker_id":1}]}}"#;
        let j = parse_job(AsyncOp::SpeechToText, 200, fern).unwrap();
        assert_eq!(j.result["words"][0]["word"], "x");
        assert_eq!(j.result["words"][0]["start"], 0.1);
    }

    #[test]
    fn detect_verdicts_and_statuses() {
        let audio = br#"{"success":true,"item":{"uuid":"d","status":"completed","media_type":"audio","metrics":{"label":"fake","score":["0.9","0.95"],"aggregated_score":"0.97"}}}"#;
        let j = parse_job(AsyncOp::Detect, 200, audio).unwrap();
        assert_eq!(
            (j.result["verdict"].as_str(), j.result["score"].as_f64()),
            (Some("fake"), Some(0.97))
        );
        let image = br#"{"success":true,"item":{"uuid":"d","status":"completed","image_metrics":{"type":"FinalResult","label":"Real","score":0.1}}}"#;
        let j = parse_job(AsyncOp::Detect, 200, image).unwrap();
        assert_eq!(j.result["verdict"], "real");
        let running = br#"{"success":true,"item":{"uuid":"d","status":"processing"}}"#;
        let j = parse_job(AsyncOp::Detect, 200, running).unwrap();
        assert_eq!(
            (j.status.as_str(), j.result.is_null()),
            ("processing", true)
        );
        let failed = br#"{"success":true,"item":{"uuid":"d","status":"failed","error_message":"bad media"}}"#;
        assert_eq!(
            parse_job(AsyncOp::Detect, 200, failed)
                .unwrap()
                .error
                .as_deref(),
            Some("bad media")
        );
        assert_eq!(status(Some("finished".into())), "completed");
    }

    #[test]
    fn enhancement_is_flat() {
        let done = br#"{"success":true,"uuid":"e","status":"completed","enhanced_audio_url":"https://x/e.wav","error_message":null}"#;
        let j = parse_job(AsyncOp::Enhance, 200, done).unwrap();
        assert_eq!((j.id.as_str(), j.status.as_str()), ("e", "completed"));
        assert_eq!(j.result["enhanced_audio_url"], "https://x/e.wav");
        assert_eq!(j.error, None);
    }

    #[test]
    fn created_ids_and_bodies() {
        assert_eq!(
            parse_created(
                200,
                br#"{"success":true,"item":{"uuid":"u1","status":"pending"}}"#
            )
            .unwrap(),
            "u1"
        );
        assert_eq!(
            parse_created(202, br#"{"success":true,"uuid":"u2","status":"pending"}"#).unwrap(),
            "u2"
        );
        assert!(parse_created(200, br#"{"success":true,"item":{}}"#).is_err());
        let b = create_body(
            AsyncOp::Detect,
            "https://x/a.wav",
            &json!({"modality":"audio"}),
            Some("https://gw/cb"),
        );
        assert_eq!(
            b,
            json!({"url":"https://x/a.wav","callback_url":"https://gw/cb","modality":"audio"})
        );
    }
}
