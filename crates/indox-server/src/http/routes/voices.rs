//! `GET /api/v1/resemble/tts/voices`: the voices the caller can synthesize with.

use actix_web::{web, HttpResponse};
use indox_core::Capability;
use indox_voice::voices::validate_paging;
use serde::Deserialize;

use crate::app::{tts::admit, AppState};
use crate::http::auth::Caller;
use crate::http::{rate_headers, ApiError, ErrorKind, ReqId};

/// Query parameters; strings so that bad numbers get our own message.
#[derive(Debug, Deserialize)]
pub struct Paging {
    page: Option<String>,
    page_size: Option<String>,
}

fn number(field: &'static str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        s.trim().parse::<i64>().map_err(|_| {
            ApiError::new(
                ErrorKind::Unprocessable {
                    code: "invalid_field",
                    field: Some(field),
                },
                format!("{field} must be a whole number"),
            )
        })
    })
    .transpose()
}

/// Lists one page of voices.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/tts/voices",
    tag = "tts",
    operation_id = "list_voices",
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "From 1 (default 1)"),
        ("page_size" = Option<i64>, Query, minimum = 10, maximum = 1000, description = "10 to 1000 (default 10)"),
    ),
    responses(
        (status = 200, description = "One page of voices", body = crate::http::openapi::schemas::VoicePage),
        (status = 400, description = "Malformed query string", body = crate::http::error::ErrorBody),
        (status = 422, description = "`page` or `page_size` out of range", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    query: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let page = number("page", query.page.as_deref())?;
        let size = number("page_size", query.page_size.as_deref())?;
        let (page, size) = validate_paging(page, size)?;
        let admission = admit(&state, &caller.0, Capability::Voices).await?;
        let upstream = crate::app::byok::upstreams(&state, &caller.0.account).await?;
        let voices = upstream.voice.list_voices(page, size).await?;
        let mut resp = HttpResponse::Ok();
        rate_headers(&mut resp, &admission);
        Ok(resp.json(voices))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}
