//! Lenient parsing of Resemble's 2xx answers: every documented variant of the pagination,
//! number-as-string values, `item` vs `items`, and failure envelopes sent with a 2xx status.

use std::collections::BTreeMap;
use std::str::FromStr;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use indox_audio::AudioFormat;
use indox_voice::{Synthesis, Voice, VoicePage};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{classify_failed_envelope, ResembleError};

/// Parses a 2xx body as a JSON object, turning failure envelopes into errors:
/// `success:false`, or (billing API) an `error` with no `success`, `item` or `items`.
pub fn envelope(status: u16, body: &[u8]) -> Result<Map<String, Value>, ResembleError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ResembleError::Protocol(format!("the body is not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ResembleError::Protocol(
            "the body is not a JSON object".into(),
        ));
    };
    let failed = match obj.get("success") {
        Some(v) => is_false(v),
        None => {
            obj.get("error").is_some_and(|e| !e.is_null())
                && !obj.contains_key("item")
                && !obj.contains_key("items")
        }
    };
    if failed {
        return Err(classify_failed_envelope(status, &Value::Object(obj)));
    }
    Ok(obj)
}

fn is_false(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::String(s) => s.eq_ignore_ascii_case("false"),
        Value::Number(n) => n.as_u64() == Some(0),
        _ => false,
    }
}

/// A non-negative integer sent as a number (`48000`, `48000.0`) or a string (`"48000"`).
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| as_u64(&Value::from(s.parse::<f64>().ok()?)))
        }
        _ => None,
    }
}

/// A finite number sent as a number or a string.
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// An exact decimal sent as a number or a string (`"1200"`, `8450`, `"12.345"`, `1e3`).
pub fn as_decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

fn as_u32(v: &Value) -> Option<u32> {
    as_u64(v).and_then(|n| u32::try_from(n).ok())
}

fn first<'a>(objs: &[&'a Map<String, Value>], keys: &[&str]) -> Option<&'a Value> {
    objs.iter()
        .flat_map(|o| keys.iter().filter_map(move |k| o.get(*k)))
        .find(|v| !v.is_null())
}

/// Parses `GET /voices`. Accepts shapes A (`total_count`), A′ (`num_pages`), B
/// (`total_results`, `page_count`), C/D (`meta`/`pagination` objects with `per_page`,
/// `total_pages`, `total_items`), `items` or `item`; `requested` fills what is missing.
pub fn parse_voice_page(
    status: u16,
    body: &[u8],
    requested: (u32, u32),
) -> Result<VoicePage, ResembleError> {
    let obj = envelope(status, body)?;
    let list = match obj
        .get("items")
        .filter(|v| !v.is_null())
        .or_else(|| obj.get("item"))
    {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(one)) => vec![Value::Object(one.clone())],
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(ResembleError::Protocol(
                "`items` is not a list of voices".into(),
            ))
        }
    };
    let mut items = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        match parse_voice(v) {
            Some(voice) => items.push(voice),
            None => tracing::warn!(index = i, "skipping a Resemble voice without a uuid"),
        }
    }
    let mut scopes = vec![&obj];
    for nested in ["meta", "pagination"] {
        if let Some(Value::Object(o)) = obj.get(nested) {
            scopes.push(o);
        }
    }
    let page = first(&scopes, &["page", "current_page"])
        .and_then(as_u32)
        .unwrap_or(requested.0);
    let page_size = first(&scopes, &["page_size", "per_page"])
        .and_then(as_u32)
        .unwrap_or(requested.1);
    let num_pages = first(&scopes, &["num_pages", "page_count", "total_pages"]).and_then(as_u32);
    let total_count =
        first(&scopes, &["total_count", "total_results", "total_items"]).and_then(as_u64);
    Ok(VoicePage {
        items,
        page,
        page_size,
        num_pages,
        total_count,
    })
}

/// One voice; `uuid` may be a number, `name` may be missing, unknown fields go to `extra`.
fn parse_voice(v: Value) -> Option<Voice> {
    let Value::Object(mut obj) = v else {
        return None;
    };
    let uuid = match obj.remove("uuid")? {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let mut text = |key: &str| match obj.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Null) | None => None,
        Some(other) => {
            obj.insert(key.to_owned(), other);
            None
        }
    };
    let name = text("name").unwrap_or_default();
    let status = text("status");
    let voice_type = text("voice_type");
    let default_language = text("default_language");
    let supported_languages = match obj.remove("supported_languages") {
        Some(Value::Array(langs)) => langs
            .into_iter()
            .filter_map(|l| match l {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    Some(Voice {
        uuid,
        name,
        status,
        voice_type,
        default_language,
        supported_languages,
        extra: obj,
    })
}

/// Parses `GET /account/billing_usage`: `{success, items|item: {unit: "1200" | 8450}}` into
/// seconds per unit (`null` values are skipped).
pub fn parse_billing_usage(
    status: u16,
    body: &[u8],
) -> Result<BTreeMap<String, Decimal>, ResembleError> {
    let obj = envelope(status, body)?;
    let usage = match obj
        .get("items")
        .filter(|v| !v.is_null())
        .or_else(|| obj.get("item"))
    {
        Some(Value::Object(map)) => map,
        Some(Value::Null) | None => return Ok(BTreeMap::new()),
        Some(_) => {
            return Err(ResembleError::Protocol(
                "billing usage `items` is not an object".into(),
            ))
        }
    };
    let mut out = BTreeMap::new();
    for (unit, value) in usage {
        if value.is_null() {
            continue;
        }
        let seconds = as_decimal(value).ok_or_else(|| {
            ResembleError::Protocol(format!("billing usage `{unit}` is not a number: {value}"))
        })?;
        out.insert(unit.clone(), seconds);
    }
    Ok(out)
}

/// Parses a `POST /synthesize` answer. `requested` is the format asked for, used when the
/// answer does not name a known one.
pub fn parse_synthesis(
    status: u16,
    body: &[u8],
    requested: AudioFormat,
) -> Result<Synthesis, ResembleError> {
    let obj = envelope(status, body)?;
    let encoded = match obj.get("audio_content") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Null) | None => {
            return Err(ResembleError::Protocol(
                "the answer has no `audio_content`".into(),
            ))
        }
        Some(_) => {
            return Err(ResembleError::Protocol(
                "`audio_content` is not a string".into(),
            ))
        }
    };
    let audio = decode_base64(encoded)?;
    if audio.is_empty() {
        return Err(ResembleError::Protocol("`audio_content` is empty".into()));
    }
    let output_format = obj
        .get("output_format")
        .and_then(Value::as_str)
        .and_then(AudioFormat::from_extension)
        .unwrap_or(requested);
    let resemble_url = ["audio_src", "url", "audio_url"]
        .iter()
        .find_map(|k| match obj.get(*k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        });
    Ok(Synthesis {
        audio: Bytes::from(audio),
        output_format,
        claimed_duration: obj.get("duration").and_then(as_f64),
        sample_rate: obj.get("sample_rate").and_then(as_u32),
        resemble_url,
        audio_timestamps: obj
            .get("audio_timestamps")
            .filter(|v| !v.is_null())
            .cloned(),
    })
}

/// Standard base64 with or without padding, URL-safe alphabet too; whitespace and a
/// `data:…;base64,` prefix are ignored.
pub fn decode_base64(encoded: &str) -> Result<Vec<u8>, ResembleError> {
    let payload = match encoded.find(";base64,") {
        Some(i) if encoded.starts_with("data:") => &encoded[i + ";base64,".len()..],
        _ => encoded,
    };
    let compact: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut last = None;
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        match engine.decode(&compact) {
            Ok(bytes) => return Ok(bytes),
            Err(e) => last = last.or(Some(e)),
        }
    }
    Err(ResembleError::Protocol(format!(
        "`audio_content` is not valid base64: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests;
