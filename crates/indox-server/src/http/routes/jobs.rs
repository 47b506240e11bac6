//! The async job routes: `POST /resemble/{stt|detect}`, `GET /resemble/{stt|detect}/{job_id}`
//! (with `?wait=N` long-poll), and the provider webhook.

use actix_web::{web, HttpRequest, HttpResponse};
use indox_jobs::JobKind;
use serde::Deserialize;

use crate::app::{jobs, webhook, AppState};
use crate::http::auth::Caller;
use crate::http::{read_body, ApiError, ErrorKind, ReqId};

/// The longest long-poll.
const MAX_WAIT_SECS: u64 = 60;

async fn submit(
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

async fn get(
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

/// `POST /resemble/webhooks/resemble` (no API key: the signature authenticates it).
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
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": status })))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// `GET /resemble/webhooks/secret`: the secret your callbacks are signed with.
pub async fn callback_secret(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let s = crate::app::callbacks::secrets(&state, caller.0.account.id)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "secret": s.current, "previous_secret": s.previous, "rotated_at": s.rotated_at })))
}

/// `POST /resemble/webhooks/secret/rotate`: a new secret; the old one verifies for a day more.
pub async fn rotate_callback_secret(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let s = crate::app::callbacks::rotate(&state, caller.0.account.id)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "secret": s.current, "previous_secret": s.previous, "rotated_at": s.rotated_at })))
}
