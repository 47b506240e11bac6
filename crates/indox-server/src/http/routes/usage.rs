//! `GET /api/v1/resemble/usage/{usage_id}`: one usage row of the caller, as a billing block.

use actix_web::{web, HttpResponse};
use uuid::Uuid;

use crate::app::tts::BillingBlock;
use crate::app::AppState;
use crate::http::auth::Caller;
use crate::http::{ApiError, ErrorKind, ReqId};

/// Reads a usage row the caller owns (a streamed synthesis is billed after its last byte).
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
        Some(u) if u.account == caller.0.account.id => {
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "usage_id": u.id,
                "request_id": u.request_id,
                "capability": u.capability,
                "asset_id": u.asset_id,
                "created_at": u.created_at,
                "billing": BillingBlock::from(&u),
            })))
        }
        _ => Err(not_found()),
    }
}
