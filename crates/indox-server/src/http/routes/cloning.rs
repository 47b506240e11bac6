//! Voice cloning and voice design (`/resemble/voices…`, `/resemble/voice-design…`), behind
//! the Business-plan gate: until `RESEMBLE_BUSINESS_PLAN_ACTIVE=true` every such route
//! answers 503 and makes no upstream call. The handlers only read the request and call
//! `app::cloning`.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::app::{cloning, AppState};
use crate::http::auth::Caller;
use crate::http::{read_body, ApiError, ErrorKind, ReqId};

/// Largest JSON body of these routes.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Runs one gated use case and answers `status` with its JSON, or the error with the
/// request id.
async fn respond<F>(
    state: &AppState,
    rid: ReqId,
    status: StatusCode,
    run: F,
) -> Result<HttpResponse, ApiError>
where
    F: Future<Output = Result<Value, ApiError>>,
{
    let result = match cloning::gate(state) {
        Ok(()) => run.await,
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => Ok(HttpResponse::build(status).json(body)),
        Err(e) => Err(e.with_request_id(rid.0)),
    }
}

async fn body(state: &AppState, payload: web::Payload) -> Result<bytes::Bytes, ApiError> {
    cloning::gate(state)?;
    read_body(payload, MAX_JSON_BYTES).await
}

/// `POST /resemble/voices`.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/voices",
    tag = "cloning",
    operation_id = "create_voice",
    request_body(content = crate::http::openapi::schemas::CreateVoiceRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The voice, with its consent record", body = crate::http::openapi::schemas::ClonedVoice),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid (consent is required)", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::CREATED, async {
        let b = body(&state, payload).await?;
        cloning::create(&state, &caller.0, &b).await
    })
    .await
}

/// `GET /resemble/voices`.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/voices",
    tag = "cloning",
    operation_id = "list_cloned_voices",
    responses(
        (status = 200, description = "Your cloned voices, newest first", body = crate::http::openapi::schemas::ClonedVoiceList),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or a store is unavailable", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    respond(
        &state,
        rid,
        StatusCode::OK,
        cloning::list(&state, &caller.0),
    )
    .await
}

/// `GET /resemble/voices/{uuid}`.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/voices/{uuid}",
    tag = "cloning",
    operation_id = "get_cloned_voice",
    params(("uuid" = String, Path, description = "The voice's uuid")),
    responses(
        (status = 200, description = "The voice", body = crate::http::openapi::schemas::ClonedVoice),
        (status = 404, description = "No such voice for your account", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or a store is unavailable", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(
        &state,
        rid,
        StatusCode::OK,
        cloning::get(&state, &caller.0, &path),
    )
    .await
}

/// `DELETE /resemble/voices/{uuid}`.
#[utoipa::path(
    delete,
    path = "/api/v1/resemble/voices/{uuid}",
    tag = "cloning",
    operation_id = "delete_cloned_voice",
    params(("uuid" = String, Path, description = "The voice's uuid")),
    responses(
        (status = 200, description = "Deleted upstream; the subscription stops, consent and recordings stay", body = crate::http::openapi::schemas::ClonedVoice),
        (status = 404, description = "No such voice for your account", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(
        &state,
        rid,
        StatusCode::OK,
        cloning::delete(&state, &caller.0, &path),
    )
    .await
}

/// `GET /resemble/voices/{uuid}/consent`.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/voices/{uuid}/consent",
    tag = "cloning",
    operation_id = "get_consent",
    params(("uuid" = String, Path, description = "The voice's uuid")),
    responses(
        (status = 200, description = "The consent record and the recordings it covers", body = crate::http::openapi::schemas::ConsentRecord),
        (status = 404, description = "No such voice for your account", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or a store is unavailable", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn consent(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(
        &state,
        rid,
        StatusCode::OK,
        cloning::consent(&state, &caller.0, &path),
    )
    .await
}

/// `POST /resemble/voices/{uuid}/recordings`.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/voices/{uuid}/recordings",
    tag = "cloning",
    operation_id = "add_recording",
    request_body(content = crate::http::openapi::schemas::AddRecordingRequest, content_type = "application/json"),
    params(("uuid" = String, Path, description = "The voice's uuid")),
    responses(
        (status = 201, description = "Stored permanently and sent to Resemble", body = crate::http::openapi::schemas::RecordingAdded),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such voice for your account", body = crate::http::error::ErrorBody),
        (status = 409, description = "The voice was deleted, or has a recording of this name", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid, or the audio cannot be fetched or measured", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_recording(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::CREATED, async {
        let b = body(&state, payload).await?;
        cloning::add_recording(&state, &caller.0, &path, &b).await
    })
    .await
}

/// `POST /resemble/voices/{uuid}/build` (202: training runs in the background).
#[utoipa::path(
    post,
    path = "/api/v1/resemble/voices/{uuid}/build",
    tag = "cloning",
    operation_id = "build_voice",
    request_body(content = Option<crate::http::openapi::schemas::BuildRequest>, content_type = "application/json"),
    params(("uuid" = String, Path, description = "The voice's uuid")),
    responses(
        (status = 202, description = "Training: one month is held and billed when it finishes", body = crate::http::openapi::schemas::ClonedVoice),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 402, description = "The balance cannot cover the first month", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such voice for your account", body = crate::http::error::ErrorBody),
        (status = 409, description = "The voice cannot be built now (state or recordings)", body = crate::http::error::ErrorBody),
        (status = 422, description = "`callback_uri` is refused", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn build(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::ACCEPTED, async {
        let b = body(&state, payload).await?;
        let callback = cloning::build_callback(&state, &b)?;
        cloning::build(&state, &caller.0, &path, callback).await
    })
    .await
}

/// `POST /resemble/voices/build` `{voice_uuid}`: the product page's table names this form.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/voices/build",
    tag = "cloning",
    operation_id = "build_voice_by_body",
    request_body(content = crate::http::openapi::schemas::BuildByBodyRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Training: one month is held and billed when it finishes", body = crate::http::openapi::schemas::ClonedVoice),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 402, description = "The balance cannot cover the first month", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such voice for your account", body = crate::http::error::ErrorBody),
        (status = 409, description = "The voice cannot be built now (state or recordings)", body = crate::http::error::ErrorBody),
        (status = 422, description = "`voice_uuid` is missing or `callback_uri` is refused", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn build_by_body(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::ACCEPTED, async {
        let b = body(&state, payload).await?;
        let uuid = serde_json::from_slice::<Value>(&b)
            .ok()
            .and_then(|v| v.get("voice_uuid").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::Unprocessable { code: "invalid_field", field: Some("voice_uuid") },
                    "voice_uuid is required: the uuid of the voice to build (or use POST /resemble/voices/{uuid}/build)",
                )
            })?;
        let callback = cloning::build_callback(&state, &b)?;
        cloning::build(&state, &caller.0, &uuid, callback).await
    })
    .await
}

/// `POST /resemble/voice-design`.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/voice-design",
    tag = "cloning",
    operation_id = "design_voice",
    request_body(content = crate::http::openapi::schemas::DesignRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Three candidates, mirrored for 14 days", body = crate::http::openapi::schemas::VoiceDesign),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "`prompt` is missing or too long", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn design(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::CREATED, async {
        let b = body(&state, payload).await?;
        cloning::design(&state, &caller.0, &b).await
    })
    .await
}

/// `GET /resemble/voice-design/{design_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/voice-design/{design_id}",
    tag = "cloning",
    operation_id = "get_design",
    params(("design_id" = String, Path, description = "The `design_id`")),
    responses(
        (status = 200, description = "The design with fresh candidate URLs", body = crate::http::openapi::schemas::VoiceDesign),
        (status = 404, description = "No such design for your account", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or a store is unavailable", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_design(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(
        &state,
        rid,
        StatusCode::OK,
        cloning::get_design(&state, &caller.0, &path),
    )
    .await
}

/// `POST /resemble/voice-design/{design_id}/{index}/voice` (202: the voice trains in the background).
#[utoipa::path(
    post,
    path = "/api/v1/resemble/voice-design/{design_id}/{index}/voice",
    tag = "cloning",
    operation_id = "voice_from_design",
    request_body(content = crate::http::openapi::schemas::DesignVoiceRequest, content_type = "application/json"),
    params(("design_id" = String, Path, description = "The `design_id`"), ("index" = String, Path, description = "A candidate's `index`")),
    responses(
        (status = 202, description = "A rapid voice from the candidate, training; billed like a build", body = crate::http::openapi::schemas::ClonedVoice),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 402, description = "The balance cannot cover the first month", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such design for your account", body = crate::http::error::ErrorBody),
        (status = 410, description = "The design expired (14 days)", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field or the index is invalid", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "The Business-plan gate is closed (`business_plan_required`), or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn design_voice(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::ACCEPTED, async {
        let b = body(&state, payload).await?;
        let (design, index) = path.into_inner();
        cloning::voice_from_design(&state, &caller.0, &design, &index, &b).await
    })
    .await
}

/// Any other method on a cloning path: the gate first, then 405 with `Allow`.
pub async fn other(
    state: web::Data<AppState>,
    _caller: Caller,
    rid: ReqId,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let result = respond(&state, rid, StatusCode::OK, async {
        Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            "this method is not supported on this path; see the route table in the README",
        ))
    })
    .await;
    match result {
        Err(e) if matches!(e.kind, ErrorKind::MethodNotAllowed) => Ok(crate::http::with_allow(
            actix_web::ResponseError::error_response(&e),
            req.path(),
        )),
        other => other,
    }
}

/// Registers the cloning and design routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/resemble/voices")
            .route(web::post().to(create))
            .route(web::get().to(list))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voices/build")
            .route(web::post().to(build_by_body))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voices/{uuid}")
            .route(web::get().to(get))
            .route(web::delete().to(delete))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voices/{uuid}/consent")
            .route(web::get().to(consent))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voices/{uuid}/recordings")
            .route(web::post().to(add_recording))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voices/{uuid}/build")
            .route(web::post().to(build))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voice-design")
            .route(web::post().to(design))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voice-design/{design_id}")
            .route(web::get().to(get_design))
            .default_service(web::to(other)),
    )
    .service(
        web::resource("/resemble/voice-design/{design_id}/{index}/voice")
            .route(web::post().to(design_voice))
            .default_service(web::to(other)),
    );
}
