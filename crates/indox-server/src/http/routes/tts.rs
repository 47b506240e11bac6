//! `POST /api/v1/resemble/tts/synthesize` and `POST /api/v1/resemble/tts/stream`.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::tts::SynthesizeOutcome;
use crate::app::{stream, tts, AppState};
use crate::http::auth::Caller;
use crate::http::{rate_headers, read_body, ApiError, ReqId};

/// Synthesizes speech; honours `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/tts/synthesize",
    tag = "tts",
    operation_id = "synthesize",
    request_body(content = crate::http::openapi::schemas::SynthesisRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Replays the stored answer of an earlier request with the same key and body (1-255 visible ASCII characters)")),
    responses(
        (status = 200, description = "The audio, its stored copy and the billing block", body = crate::http::openapi::schemas::SynthesisResponse),
        (status = 400, description = "Malformed JSON or `Idempotency-Key`", body = crate::http::error::ErrorBody),
        (status = 402, description = "The balance cannot cover the request", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such voice", body = crate::http::error::ErrorBody),
        (status = 409, description = "The same `Idempotency-Key` is in flight", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid, or the key was used with another body", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/resemble/tts/stream",
    tag = "tts",
    operation_id = "stream",
    request_body(content = crate::http::openapi::schemas::SynthesisRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Chunked WAV (PCM_16) as it is produced", content_type = "audio/wav", body = String,
            headers(("x-usage-id" = String, description = "The usage row written when the stream ends"))),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 402, description = "The balance cannot cover the hold", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such voice", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid (streams are WAV, PCM_16, at most 2,000 characters)", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
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
