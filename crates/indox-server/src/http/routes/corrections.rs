//! Operator corrections to balances, as new ledger entries (the ledger and usage rows are
//! append-only, B6): `POST /api/v1/admin/usage/{usage_id}/refunds` and
//! `POST /api/v1/admin/accounts/{id}/adjustments`, behind the admin key.

use std::str::FromStr;

use actix_web::{web, HttpResponse};
use indox_core::AccountId;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::AdminCaller;
use crate::http::{ApiError, ErrorKind, ReqId};

/// A correction's body: a decimal string and why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    amount: String,
    note: String,
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable {
            code: "invalid_field",
            field: Some(field),
        },
        format!("{field} {message}"),
    )
}

/// The amount (a JSON string, never a float) and a note of 1–500 characters for the audit trail.
fn parse(body: &Correction) -> Result<(Decimal, String), ApiError> {
    let text = body.amount.trim();
    let amount = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
        .then(|| Decimal::from_str(text).ok())
        .flatten()
        .ok_or_else(|| {
            invalid(
                "amount",
                "must be a decimal string such as \"1.50\" or \"-0.25\"",
            )
        })?;
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(invalid(
            "note",
            "is required: why the correction is made (at most 500 characters)",
        ));
    }
    Ok((amount, note.to_owned()))
}

fn uuid(field: &'static str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| invalid(field, "must be a uuid"))
}

/// `POST /api/v1/admin/usage/{usage_id}/refunds` `{amount, note}`: credits back up to what
/// the row charged (all refunds of a row together), with a `refund` entry linked to it.
#[utoipa::path(
    post,
    path = "/api/v1/admin/usage/{usage_id}/refunds",
    tag = "admin",
    operation_id = "admin_refund",
    request_body(content = crate::http::openapi::schemas::CorrectionRequest, content_type = "application/json"),
    params(("usage_id" = String, Path, description = "The usage row")),
    responses(
        (status = 201, description = "Credited back with a `refund` ledger entry", body = crate::http::openapi::schemas::Refund),
        (status = 400, description = "Malformed JSON, not an object, or an unknown field", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such usage row", body = crate::http::error::ErrorBody),
    ),
    security(("admin" = []))
)]
pub async fn refund(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
    body: web::Json<Correction>,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let usage_id = uuid("usage_id", &path)?;
        let (amount, note) = parse(&body)?;
        let balance = state
            .billing
            .ledger()
            .refund(usage_id, amount, &note)
            .await?;
        tracing::info!(target: "indox::admin", usage = %usage_id, %amount, note, "admin: refund");
        Ok(HttpResponse::Created().json(json!({
            "usage_id": usage_id, "refunded": amount, "balance": balance, "note": note
        })))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// `POST /api/v1/admin/accounts/{id}/adjustments` `{amount, note}`: a signed correction
/// with an `adjustment` entry; a debit may not take the available balance below zero.
#[utoipa::path(
    post,
    path = "/api/v1/admin/accounts/{id}/adjustments",
    tag = "admin",
    operation_id = "admin_adjust",
    request_body(content = crate::http::openapi::schemas::CorrectionRequest, content_type = "application/json"),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 201, description = "Corrected with an `adjustment` ledger entry", body = crate::http::openapi::schemas::Adjustment),
        (status = 400, description = "Malformed JSON, not an object, or an unknown field", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid", body = crate::http::error::ErrorBody),
        (status = 402, description = "A debit would take the available balance below zero", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
    ),
    security(("admin" = []))
)]
pub async fn adjust(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
    body: web::Json<Correction>,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let account = AccountId(uuid("id", &path)?);
        let (amount, note) = parse(&body)?;
        let balance = state
            .billing
            .ledger()
            .adjust(account, amount, &note)
            .await
            .map_err(|e| match e {
                indox_billing::BillingError::AccountNotFound => ApiError::new(
                    ErrorKind::NotFound {
                        code: "account_not_found",
                    },
                    "no account with this id",
                ),
                other => other.into(),
            })?;
        tracing::info!(target: "indox::admin", account = %account, %amount, note, "admin: balance adjustment");
        Ok(HttpResponse::Created().json(json!({
            "account_id": account.0, "amount": amount, "balance": balance, "note": note
        })))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// Registers the two routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usage/{usage_id}/refunds", web::post().to(refund))
        .route("/admin/accounts/{id}/adjustments", web::post().to(adjust));
}
