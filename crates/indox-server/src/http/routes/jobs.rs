//! The async job routes: `POST /resemble/{stt|detect}`, `GET /resemble/{stt|detect}/{job_id}`
//! (with `?wait=N` long-poll), and the provider webhook.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use indox_jobs::JobKind;
use serde::{Deserialize, Serialize};

use crate::app::{jobs, webhook, AppState};
use crate::http::auth::Caller;
use crate::http::{read_body, ApiError, ErrorKind, ReqId};

/// The longest long-poll.
const MAX_WAIT_SECS: u64 = 60;

/// Submits a job (the template of one documented path per kind, `openapi::JobRoutes`).
#[utoipa::path(
    post,
    path = "/api/v1/resemble/{kind}",
    tag = "jobs",
    request_body(content = crate::http::openapi::schemas::JobSubmit, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued: the input was fetched, measured, stored and its cost held", body = crate::http::openapi::schemas::Job),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 402, description = "The balance cannot cover the hold", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid, or the input cannot be fetched or is not audio", body = crate::http::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::http::error::ErrorBody),
        (status = 503, description = "The upload is still being stored (retry), or a store is unavailable", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn submit(
    state: &AppState,
    caller: &Caller,
    rid: ReqId,
    kind: JobKind,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let body = read_body(payload, state.max_body_bytes).await?;
        let job = jobs::submit(state, &caller.0, kind, &body).await?;
        Ok(HttpResponse::Accepted().json(jobs::view(state, &job).await))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// `?wait=N`
#[derive(Debug, Deserialize)]
pub struct Wait {
    wait: Option<String>,
}

/// Reads a job (the template of one documented path per kind, `openapi::JobRoutes`).
#[utoipa::path(
    get,
    path = "/api/v1/resemble/{kind}/{job_id}",
    tag = "jobs",
    params(
        ("job_id" = String, Path, description = "The `job_id` of the submission"),
        ("wait" = Option<u64>, Query, description = "Long-poll: wait up to this many seconds (capped at 60) for the job to end"),
    ),
    responses(
        (status = 200, description = "The job", body = crate::http::openapi::schemas::Job),
        (status = 400, description = "Malformed query string", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such job of this kind for your account", body = crate::http::error::ErrorBody),
        (status = 422, description = "`wait` is not whole seconds", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    state: &AppState,
    caller: &Caller,
    rid: ReqId,
    kind: JobKind,
    id: &str,
    wait: &Wait,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let secs = match wait.wait.as_deref() {
            None => 0,
            Some(w) => w.trim().parse::<u64>().map_err(|_| {
                ApiError::new(
                    ErrorKind::Unprocessable {
                        code: "invalid_field",
                        field: Some("wait"),
                    },
                    format!("wait must be whole seconds, 0 to {MAX_WAIT_SECS}"),
                )
            })?,
        };
        let job = jobs::read(state, &caller.0, kind, id).await?;
        let job = jobs::wait_for(
            state,
            job,
            std::time::Duration::from_secs(secs.min(MAX_WAIT_SECS)),
        )
        .await?;
        Ok(HttpResponse::Ok().json(jobs::view(state, &job).await))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// Registers `POST /resemble/<kind>` and `GET /resemble/<kind>/{job_id}` for every job kind.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for kind in JobKind::ROUTED {
        cfg.route(
            &format!("/resemble/{}", kind.path()),
            web::post().to(
                move |state: web::Data<AppState>,
                      caller: Caller,
                      rid: ReqId,
                      payload: web::Payload| async move {
                    submit(&state, &caller, rid, kind, payload).await
                },
            ),
        );
        cfg.route(
            &format!("/resemble/{}/{{job_id}}", kind.path()),
            web::get().to(
                move |state: web::Data<AppState>,
                      caller: Caller,
                      rid: ReqId,
                      path: web::Path<String>,
                      wait: web::Query<Wait>| async move {
                    get(&state, &caller, rid, kind, &path, &wait).await
                },
            ),
        );
    }
}

/// What the provider webhook did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// `processed`, `duplicate` or `unknown_job`.
    #[schema(pattern = "^(processed|duplicate|unknown_job)$")]
    pub status: &'static str,
}

/// `POST /resemble/webhooks/resemble` (no API key: the signature authenticates it).
#[utoipa::path(
    post,
    path = "/api/v1/resemble/webhooks/resemble",
    tag = "jobs",
    operation_id = "resemble_webhook",
    request_body(content = crate::http::openapi::schemas::ProviderWebhook, content_type = "application/json"),
    params(("X-Resemble-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">`")),
    responses(
        (status = 200, description = "Received", body = WebhookReceipt),
        (status = 400, description = "Not JSON, or names no job", body = crate::http::error::ErrorBody),
        (status = 401, description = "Missing or invalid signature", body = crate::http::error::ErrorBody),
        (status = 404, description = "The job is gone upstream", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "Resemble rejected the re-fetch", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "Webhooks are not configured, Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(())
)]
pub async fn resemble_webhook(
    state: web::Data<AppState>,
    rid: ReqId,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let body = read_body(payload, 1024 * 1024).await?;
        let signature = req
            .headers()
            .get("x-resemble-signature")
            .and_then(|v| v.to_str().ok());
        let receipt = webhook::receive(&state, signature, &body).await?;
        let status = match receipt {
            webhook::Receipt::Processed => "processed",
            webhook::Receipt::Duplicate => "duplicate",
            webhook::Receipt::UnknownJob => "unknown_job",
        };
        Ok(HttpResponse::Ok().json(WebhookReceipt { status }))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// The secret callbacks are signed with (Standard Webhooks).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallbackSecret {
    /// `whsec_…`
    pub secret: String,
    /// The secret before the last rotation, still signing for a day after it.
    pub previous_secret: Option<String>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl From<indox_jobs::AccountSecrets> for CallbackSecret {
    fn from(s: indox_jobs::AccountSecrets) -> Self {
        Self {
            secret: s.current,
            previous_secret: s.previous,
            rotated_at: s.rotated_at,
        }
    }
}

/// `GET /resemble/webhooks/secret`: the secret your callbacks are signed with.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/webhooks/secret",
    tag = "jobs",
    operation_id = "callback_secret",
    responses((status = 200, description = "Your callback secret (created on first use)", body = CallbackSecret)),
    security(("bearer" = []))
)]
pub async fn callback_secret(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let s = crate::app::callbacks::secrets(&state, caller.0.account.id)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    Ok(HttpResponse::Ok().json(CallbackSecret::from(s)))
}

/// `POST /resemble/webhooks/secret/rotate`: a new secret; the old one verifies for a day more.
#[utoipa::path(
    post,
    path = "/api/v1/resemble/webhooks/secret/rotate",
    tag = "jobs",
    operation_id = "rotate_callback_secret",
    responses((status = 200, description = "The new secret and the previous one", body = CallbackSecret)),
    security(("bearer" = []))
)]
pub async fn rotate_callback_secret(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let s = crate::app::callbacks::rotate(&state, caller.0.account.id)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    Ok(HttpResponse::Ok().json(CallbackSecret::from(s)))
}
