//! `GET /api/v1/resemble/usage/{usage_id}`: one usage row of the caller, as a billing block.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::app::tts::BillingBlock;
use crate::app::AppState;
use crate::http::auth::Caller;
use crate::http::{ApiError, ErrorKind, ReqId};

/// One usage row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub usage_id: Uuid,
    pub request_id: String,
    pub capability: String,
    pub asset_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub billing: BillingBlock,
}

/// Reads a usage row the caller owns (a streamed synthesis is billed after its last byte).
#[utoipa::path(
    get,
    path = "/api/v1/resemble/usage/{usage_id}",
    tag = "assets",
    operation_id = "get_usage",
    params(("usage_id" = String, Path, description = "The usage id (`X-Usage-Id` of a stream, `billing.usage_id` of an answer)")),
    responses(
        (status = 200, description = "The usage row as a billing block", body = UsageView),
        (status = 404, description = "No such usage row for your account", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorKind::NotFound { code: "usage_not_found" },
            "no usage row with this id for your account (a stream is billed a moment after it ends)",
        )
        .with_request_id(rid.0)
    };
    let id = Uuid::parse_str(&path).map_err(|_| not_found())?;
    let usage = state
        .billing
        .ledger()
        .get_usage(id)
        .await
        .map_err(|e| ApiError::from(e).with_request_id(rid.0))?;
    match usage {
        Some(u) if u.account == caller.0.account.id => Ok(HttpResponse::Ok().json(UsageView {
            usage_id: u.id,
            billing: BillingBlock::from(&u),
            request_id: u.request_id,
            capability: u.capability,
            asset_id: u.asset_id,
            created_at: u.created_at,
        })),
        _ => Err(not_found()),
    }
}
