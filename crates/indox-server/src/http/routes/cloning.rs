//! Voice cloning and voice design (`/resemble/voices…`, `/resemble/voice-design…`), behind
//! the Business-plan gate: until `RESEMBLE_BUSINESS_PLAN_ACTIVE=true` every such route
//! answers 503 and makes no upstream call. The handlers only read the request and call
//! `app::cloning`.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
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

/// Any other method on a cloning path: the gate first, then 405.
pub async fn other(
    state: web::Data<AppState>,
    _caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    respond(&state, rid, StatusCode::OK, async {
        Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            "this method is not supported on this path; see the route table in the README",
        ))
    })
    .await
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
