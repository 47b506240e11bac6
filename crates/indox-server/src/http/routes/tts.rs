//! `POST /api/v1/resemble/tts/synthesize` and `POST /api/v1/resemble/tts/stream`.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::tts::SynthesizeOutcome;
use crate::app::{stream, tts, AppState};
use crate::http::auth::Caller;
use crate::http::{rate_headers, read_body, ApiError, ReqId};

/// Synthesizes speech; honours `Idempotency-Key`.
pub async fn synthesize(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, state.max_body_bytes)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let outcome = tts::synthesize(&state, &caller.0, rid.0, &body, key)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    Ok(match outcome {
        SynthesizeOutcome::Fresh { body, admission } => {
            let mut resp = HttpResponse::Ok();
            rate_headers(&mut resp, &admission);
            resp.content_type(ContentType::json()).body(body)
        }
        SynthesizeOutcome::Replay(stored) => {
            let status = actix_web::http::StatusCode::from_u16(stored.status)
                .unwrap_or(actix_web::http::StatusCode::OK);
            HttpResponse::build(status)
                .insert_header(("idempotent-replayed", "true"))
                .content_type(ContentType::json())
                .body(stored.body)
        }
    })
}

/// Streams speech as chunked WAV; the usage row (id in `X-Usage-Id`) is written when it ends.
pub async fn stream(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, state.max_body_bytes)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    let started = stream::start(&state, &caller.0, rid.0, &body)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    let mut resp = HttpResponse::Ok();
    rate_headers(&mut resp, &started.admission);
    Ok(resp
        .content_type("audio/wav")
        .insert_header(("x-usage-id", started.usage_id.to_string()))
        .streaming(started.body))
}
