//! `GET /api/v1/analytics` (an account's own usage, or any account's or all with the admin
//! key), `GET /api/v1/account` and `GET /api/v1/resemble/jobs`: what the usage console reads.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use indox_core::AccountId;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::analytics::{self, Scope};
use crate::app::AppState;
use crate::http::auth::{is_admin, Caller};
use crate::http::{ApiError, ErrorKind, ReqId};

/// The analytics query string.
#[derive(Debug, Deserialize)]
pub struct AnalyticsParams {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    /// Admin only: one account (omit for all accounts).
    account_id: Option<String>,
}

/// `GET /api/v1/analytics`: with an account key, that account's usage; with the admin key,
/// `account_id`'s or (without it) every account's.
#[utoipa::path(
    get,
    path = "/api/v1/analytics",
    tag = "account",
    operation_id = "analytics",
    params(
        ("from" = Option<chrono::NaiveDate>, Query, description = "First day, UTC (default: 29 days before `to`)"),
        ("to" = Option<chrono::NaiveDate>, Query, description = "Last day, UTC (default: today)"),
        ("granularity" = Option<String>, Query, pattern = "^(day|hour)$", description = "`day` (default; at most 366 days) or `hour` (at most 31 days)"),
        ("account_id" = Option<uuid::Uuid>, Query, description = "Admin key only: one account (omit for all)"),
    ),
    responses(
        (status = 200, description = "Usage and spend by capability and time bucket", body = crate::http::openapi::schemas::Analytics),
        (status = 400, description = "Malformed query string", body = crate::http::error::ErrorBody),
        (status = 422, description = "A date, the range or the granularity is invalid, or `account_id` without the admin key", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []), ("admin" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    rid: ReqId,
    params: web::Query<AnalyticsParams>,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let scope = if is_admin(&req) {
            let account = match params.account_id.as_deref() {
                None => None,
                Some(s) => Some(AccountId(Uuid::parse_str(s).map_err(|_| {
                    ApiError::new(
                        ErrorKind::Unprocessable {
                            code: "invalid_field",
                            field: Some("account_id"),
                        },
                        "account_id must be an account's uuid",
                    )
                })?)),
            };
            Scope::Admin(account)
        } else {
            let caller = Caller::extract(&req).await?;
            if params.account_id.is_some() {
                return Err(ApiError::new(
                    ErrorKind::Unprocessable {
                        code: "invalid_field",
                        field: Some("account_id"),
                    },
                    "account_id needs the admin key; with an account key you see your own usage",
                ));
            }
            Scope::Account(caller.0.account.id)
        };
        let body = analytics::analytics(
            &state,
            scope,
            params.from.as_deref(),
            params.to.as_deref(),
            params.granularity.as_deref(),
        )
        .await?;
        Ok(HttpResponse::Ok().json(body))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// `GET /api/v1/account`: balance, markup and whether the account brings its own key.
#[utoipa::path(
    get,
    path = "/api/v1/account",
    tag = "account",
    operation_id = "account",
    responses((status = 200, description = "Your account", body = crate::http::openapi::schemas::AccountOverview)),
    security(("bearer" = []))
)]
pub async fn account(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let mut body = analytics::account(&caller.0);
    body["byok"] = crate::app::byok::status(&state, caller.0.account.id)
        .await
        .map_err(|e| e.with_request_id(rid.0))?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PUT /api/v1/account/resemble-key` `{"api_key"}`: bring your own Resemble key.
#[utoipa::path(
    put,
    path = "/api/v1/account/resemble-key",
    tag = "account",
    operation_id = "put_resemble_key",
    request_body(content = crate::http::openapi::schemas::ResembleKeyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored: calls for this account now use it", body = crate::http::openapi::schemas::ByokStatus),
        (status = 400, description = "Malformed JSON", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "No key, or Resemble refused it", body = crate::http::error::ErrorBody),
        (status = 502, description = "Resemble failed", body = crate::http::error::ErrorBody),
        (status = 503, description = "BYOK is not configured on this gateway, or Resemble or a store is unavailable", body = crate::http::error::ErrorBody),
        (status = 504, description = "Resemble timed out", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_resemble_key(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let body = crate::http::read_body(payload, 4 * 1024).await?;
        crate::app::byok::register(&state, &caller.0.account, &body).await
    };
    run.await
        .map(|b| HttpResponse::Ok().json(b))
        .map_err(|e: ApiError| e.with_request_id(rid.0))
}

/// `DELETE /api/v1/account/resemble-key`: back to the platform's key.
#[utoipa::path(
    delete,
    path = "/api/v1/account/resemble-key",
    tag = "account",
    operation_id = "delete_resemble_key",
    responses((status = 200, description = "Removed (or there was none)", body = crate::http::openapi::schemas::ByokStatus)),
    security(("bearer" = []))
)]
pub async fn delete_resemble_key(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    crate::app::byok::remove(&state, caller.0.account.id)
        .await
        .map(|b| HttpResponse::Ok().json(b))
        .map_err(|e| e.with_request_id(rid.0))
}

/// The jobs list's query string.
#[derive(Debug, Deserialize)]
pub struct JobsParams {
    limit: Option<i64>,
}

/// `GET /api/v1/resemble/jobs?limit=`.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/jobs",
    tag = "jobs",
    operation_id = "list_jobs",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "How many (default 20)")),
    responses(
        (status = 200, description = "Your most recent jobs of every kind, newest first", body = crate::http::openapi::schemas::JobList),
        (status = 400, description = "Malformed query string", body = crate::http::error::ErrorBody),
        (status = 422, description = "`limit` out of range", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn jobs(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    params: web::Query<JobsParams>,
) -> Result<HttpResponse, ApiError> {
    analytics::recent_jobs(&state, &caller.0, params.limit)
        .await
        .map(|b| HttpResponse::Ok().json(b))
        .map_err(|e| e.with_request_id(rid.0))
}

/// `GET /api/v1/admin/reconciliation`: the latest reconciled day's per-unit lines and the
/// open alerts (admin key).
#[utoipa::path(
    get,
    path = "/api/v1/admin/reconciliation",
    tag = "admin",
    operation_id = "reconciliation",
    responses((status = 200, description = "The latest reconciled day and the open drift alerts", body = crate::http::openapi::schemas::Reconciliation)),
    security(("admin" = []))
)]
pub async fn reconciliation(
    _: crate::http::auth::AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    analytics::reconciliation(&state)
        .await
        .map(|b| HttpResponse::Ok().json(b))
        .map_err(|e| e.with_request_id(rid.0))
}
