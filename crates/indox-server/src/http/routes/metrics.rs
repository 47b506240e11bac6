//! `GET /metrics`: the Prometheus exposition, for the operator only (admin key).

use actix_web::{web, HttpResponse};

use crate::app::AppState;
use crate::http::auth::AdminCaller;

/// The text exposition format, version 0.0.4. Needs `Authorization: Bearer <admin key>`:
/// the numbers (traffic per route, queue depths, rejections) are business data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String)),
    security(("admin" = []))
)]
pub async fn metrics(_admin: AdminCaller, state: web::Data<AppState>) -> HttpResponse {
    let body = state
        .metrics
        .render(state.limiter.degraded_decisions())
        .await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
