//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer too).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;

use crate::app::{probe, AppState};

/// `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "The process answers", body = Health)),
    security(())
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: Postgres, Redis and the object store all answer within a second.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Every dependency answers", body = crate::http::openapi::schemas::Readiness),
        (status = 503, description = "A dependency does not answer", body = crate::http::openapi::schemas::Readiness),
    ),
    security(())
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": "draining", "checks": {}}));
    }
    let results = probe::check_all(&state.probes, Duration::from_secs(1)).await;
    let ready = results.iter().all(|(_, e)| e.is_none());
    let checks: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, e)| {
            (
                name.to_owned(),
                e.map_or(json!("ok"), |e| json!({"error": e})),
            )
        })
        .collect();
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "checks": checks});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
