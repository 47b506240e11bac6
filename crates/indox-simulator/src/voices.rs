//! Stock voices and `GET /api/v2/voices[/{uuid}]` (pagination shape A′:
//! `{success,page,num_pages,page_size,items}`); custom voices live in [`crate::cloning`].

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::auth;
use crate::cloning;
use crate::error::SimError;
use crate::state::SimState;

/// `(uuid, name, status, default_language, gender-ish description)` of the stock voices.
const VOICES: [(&str, &str, &str, &str, &str); 8] = [
    (
        "55592656",
        "Lucy",
        "finished",
        "en-US",
        "Warm, friendly narrator",
    ),
    (
        "9fd7430d",
        "Orion",
        "finished",
        "en-US",
        "Deep, calm documentary voice",
    ),
    (
        "1c4b7e2a",
        "Mara",
        "finished",
        "en-GB",
        "Bright British presenter",
    ),
    (
        "38d0f2b1",
        "Tomas",
        "ready",
        "es-ES",
        "Energetic Spanish host",
    ),
    (
        "4a6e91c3",
        "Yuki",
        "finished",
        "ja-JP",
        "Soft conversational voice",
    ),
    (
        "7b2d5f08",
        "Henri",
        "ready",
        "fr-FR",
        "Measured French newsreader",
    ),
    (
        "c0ffee42",
        "Ada",
        "finished",
        "en-US",
        "Crisp assistant voice",
    ),
    (
        "e5a1d9b7",
        "Kofi",
        "finished",
        "en-US",
        "Relaxed storyteller",
    ),
];

/// Whether a voice uuid exists.
pub fn exists(uuid: &str) -> bool {
    VOICES.iter().any(|v| v.0 == uuid)
}

/// Uuids of all stock voices, in list order.
pub fn stock_uuids() -> Vec<&'static str> {
    VOICES.iter().map(|v| v.0).collect()
}

fn voice_json(v: &(&str, &str, &str, &str, &str)) -> Value {
    let (uuid, name, status, lang, description) = *v;
    json!({
        "uuid": uuid,
        "name": name,
        "status": status,
        "voice_status": "ready",
        "voice_type": "professional",
        "default_language": lang,
        "supported_languages": [lang],
        "dataset_url": null,
        "callback_uri": null,
        "source": "Resemble",
        "description": description,
        "component_status": {
            "text_to_speech": {"status": "ready"},
            "fill": {"status": "ready"},
            "voice_conversion": {"status": "ready"}
        },
        "api_support": {"sync": true, "async": true, "direct_synthesis": true, "streaming": true},
        "created_at": "2025-01-15T10:00:00.000Z",
        "updated_at": "2025-01-15T10:40:00.000Z"
    })
}

/// Returns the raw value of a query parameter (no percent-decoding: values here are numbers
/// and dates).
pub fn query_param<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.query_string()
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn int_param(req: &HttpRequest, name: &'static str, default: u64) -> Result<u64, SimError> {
    match query_param(req, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| SimError::field(name, format!("{name} must be an integer"))),
    }
}

/// Validated `page` (default 1, ≥ 1) and `page_size` (default 10, 10–1000) query parameters.
pub fn page_params(req: &HttpRequest) -> Result<(u64, u64), SimError> {
    let page = int_param(req, "page", 1)?;
    let page_size = int_param(req, "page_size", 10)?;
    if page < 1 {
        return Err(SimError::field("page", "page must be >= 1"));
    }
    if !(10..=1000).contains(&page_size) {
        return Err(SimError::field(
            "page_size",
            "page_size must be between 10 and 1000",
        ));
    }
    Ok((page, page_size))
}

/// One page of `all` in pagination shape A′ `{success,page,num_pages,page_size,items}`.
pub fn page_body(all: Vec<Value>, page: u64, page_size: u64) -> Value {
    let total = all.len() as u64;
    let num_pages = total.div_ceil(page_size).max(1);
    let start = (page - 1).saturating_mul(page_size);
    let items: Vec<Value> = all
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(page_size).unwrap_or(usize::MAX))
        .collect();
    json!({
        "success": true,
        "page": page,
        "num_pages": num_pages,
        "page_size": page_size,
        "items": items,
    })
}

/// `GET /api/v2/voices?page=&page_size=`: the stock voices, then the team's custom voices
/// (any status) in creation order.
pub async fn list(req: HttpRequest, state: web::Data<SimState>) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let (page, page_size) = page_params(&req)?;
    let mut all: Vec<Value> = VOICES.iter().map(voice_json).collect();
    all.extend(cloning::all(&state).iter().map(cloning::CustomVoice::item));
    Ok(HttpResponse::Ok().json(page_body(all, page, page_size)))
}

/// `GET /api/v2/voices/{uuid}` (stock or custom).
pub async fn get(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    auth::require(&req, &state)?;
    let uuid = path.into_inner();
    let item = match VOICES.iter().find(|v| v.0 == uuid) {
        Some(voice) => voice_json(voice),
        None => cloning::advance(&state, &uuid)
            .ok_or(SimError::ItemNotFound)?
            .item(),
    };
    Ok(HttpResponse::Ok().json(json!({"success": true, "item": item})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_voices_are_unique_8_hex() {
        let uuids = stock_uuids();
        assert!(uuids.contains(&"9fd7430d") && uuids.contains(&"55592656"));
        for u in &uuids {
            assert_eq!(u.len(), 8);
            assert!(u.chars().all(|c| c.is_ascii_hexdigit()));
        }
        let mut dedup = uuids.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), uuids.len());
        assert!(!exists("00000000"));
    }
}
