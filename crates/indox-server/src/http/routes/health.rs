//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer too).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::{probe, AppState};

/// Liveness: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: Postgres, Redis and the object store all answer within a second.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
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
