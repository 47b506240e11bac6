//! The admin API, `/api/v1/admin/*`: every route needs the admin key ([`AdminCaller`], checked
//! before the body is read), takes JSON and answers JSON. The handlers read the request and
//! call `app::admin`; errors name the field and how to fix it, unknown ids are 404.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::app::admin::{self, Admin, AdminError, OverrideRequest};
use crate::app::AppState;
use crate::http::auth::AdminCaller;
use crate::http::{read_body, ApiError, ErrorKind, ReqId};

/// Largest JSON body of these routes.
const MAX_JSON_BYTES: usize = 16 * 1024;

/// `DELETE /admin/keys/{key_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyRevoked {
    pub key_id: String,
    pub revoked: bool,
}

/// `DELETE /admin/accounts/{id}/rate-limits/{scope}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverrideRemoved {
    #[schema(value_type = uuid::Uuid)]
    pub account_id: indox_core::AccountId,
    pub capability: String,
    pub removed: bool,
}

/// `GET /admin/dead-tasks`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadTasks {
    pub items: Vec<admin::DeadTaskView>,
}

/// `POST /admin/dead-tasks/{id}/retry`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskRequeued {
    pub id: i64,
    pub requeued: bool,
}

/// Registers the admin routes (inside the `/api/v1` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/accounts", web::post().to(create_account))
        .route("/admin/accounts", web::get().to(list_accounts))
        .route("/admin/accounts/{id}", web::get().to(get_account))
        .route("/admin/accounts/{id}/keys", web::post().to(create_key))
        .route("/admin/accounts/{id}/top-ups", web::post().to(top_up))
        .route("/admin/accounts/{id}/markup", web::put().to(set_markup))
        .route(
            "/admin/accounts/{id}/rate-limits",
            web::get().to(rate_limits),
        )
        .route(
            "/admin/accounts/{id}/rate-limits",
            web::put().to(set_rate_limit),
        )
        .route(
            "/admin/accounts/{id}/rate-limits/{scope}",
            web::delete().to(remove_rate_limit),
        )
        .route("/admin/keys/{key_id}", web::delete().to(revoke_key))
        .route("/admin/dead-tasks", web::get().to(dead_tasks))
        .route("/admin/dead-tasks/{id}/retry", web::post().to(retry_task));
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid { field, message } => ApiError::new(
                ErrorKind::Unprocessable {
                    code: "invalid_field",
                    field: Some(field),
                },
                format!("{field} {message}"),
            ),
            AdminError::NotFound { code, message } => {
                ApiError::new(ErrorKind::NotFound { code }, message)
            }
            AdminError::ReferenceReused(message) => ApiError::new(
                ErrorKind::Unprocessable {
                    code: "reference_reused",
                    field: Some("reference"),
                },
                message,
            ),
            AdminError::Unsupported(message) => ApiError::new(
                ErrorKind::NotImplemented {
                    code: "not_supported",
                },
                message,
            ),
            other => {
                tracing::error!(error = %other, "admin store failure");
                ApiError::store_unavailable("account store")
            }
        }
    }
}

/// Answers `status` with the JSON of `run`, or its error with the request id.
async fn respond<T, F>(rid: ReqId, status: StatusCode, run: F) -> Result<HttpResponse, ApiError>
where
    T: serde::Serialize,
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    match run.await {
        Ok(body) => Ok(HttpResponse::build(status).json(body)),
        Err(e) => Err(e.with_request_id(rid.0)),
    }
}

/// The body as a JSON object whose fields are all in `allowed` (an empty body is `{}`).
async fn object(
    payload: web::Payload,
    allowed: &[&'static str],
) -> Result<Map<String, Value>, ApiError> {
    let body = read_body(payload, MAX_JSON_BYTES).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let Value::Object(map) = serde_json::from_slice(&body).map_err(ApiError::malformed_json)?
    else {
        return Err(ApiError::malformed_json("expected a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::new(
            ErrorKind::Unprocessable {
                code: "unknown_field",
                field: None,
            },
            format!(
                "unknown field `{unknown}`; this endpoint takes {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(map)
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    AdminError::Invalid {
        field,
        message: message.to_owned(),
    }
    .into()
}

/// A string field (absent or `null`: `None`). Numbers are refused for money so that no
/// amount ever passes through a float.
fn string<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
    hint: &str,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, &format!("must be a string, e.g. {hint}"))),
    }
}

/// A whole-number field.
fn whole(map: &Map<String, Value>, field: &'static str) -> Result<Option<u64>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a whole number greater than zero")),
    }
}

fn required<T>(v: Option<T>, field: &'static str, hint: &str) -> Result<T, ApiError> {
    v.ok_or_else(|| invalid(field, &format!("is required, e.g. {hint}")))
}

/// Query parameters as text, so that bad numbers get our own message.
#[derive(Debug, Deserialize)]
pub struct Query {
    page: Option<String>,
    page_size: Option<String>,
    limit: Option<String>,
}

fn number(field: &'static str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| invalid(field, "must be a whole number"))
    })
    .transpose()
}

/// `POST /admin/accounts` `{name, markup_rate?}` → 201.
#[utoipa::path(
    post,
    path = "/api/v1/admin/accounts",
    tag = "admin",
    operation_id = "admin_create_account",
    request_body(content = crate::http::openapi::schemas::CreateAccountRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The account", body = crate::app::admin::AccountDetail),
        (status = 400, description = "Malformed JSON, or not an object", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid or unknown", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn create_account(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::CREATED, async {
        let body = object(payload, &["name", "markup_rate"]).await?;
        let name = required(string(&body, "name", "\"acme\"")?, "name", "\"acme\"")?;
        let markup = string(&body, "markup_rate", "\"0.15\"")?;
        Ok(Admin::from_state(&state)
            .create_account(name, markup)
            .await?)
    })
    .await
}

/// `GET /admin/accounts?page=&page_size=`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts",
    tag = "admin",
    operation_id = "admin_list_accounts",
    params(("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "From 1"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 500, description = "1 to 500 (default 50)")),
    responses(
        (status = 200, description = "One page of accounts, oldest first", body = crate::app::admin::AccountList),
        (status = 400, description = "Malformed query string", body = crate::http::error::ErrorBody),
        (status = 422, description = "`page` or `page_size` out of range", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn list_accounts(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let page = number("page", query.page.as_deref())?;
        let size = number("page_size", query.page_size.as_deref())?;
        Ok(Admin::from_state(&state).list_accounts(page, size).await?)
    })
    .await
}

/// `GET /admin/accounts/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts/{id}",
    tag = "admin",
    operation_id = "admin_get_account",
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account with its keys (never their secrets)", body = crate::app::admin::AccountDetail),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn get_account(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let id = admin::parse_account_id(&path)?;
        Ok(Admin::from_state(&state).account(id).await?)
    })
    .await
}

/// `POST /admin/accounts/{id}/keys` `{label?}` → 201 with the key, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/admin/accounts/{id}/keys",
    tag = "admin",
    operation_id = "admin_create_key",
    request_body(content = Option<crate::http::openapi::schemas::CreateKeyRequest>, content_type = "application/json"),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 201, description = "The key; `api_key` is shown this once", body = crate::app::admin::IssuedKey),
        (status = 400, description = "Malformed JSON, or not an object", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid or unknown", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn create_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::CREATED, async {
        let id = admin::parse_account_id(&path)?;
        let body = object(payload, &["label"]).await?;
        let label = string(&body, "label", "\"prod\"")?;
        Ok(Admin::from_state(&state).create_key(id, label).await?)
    })
    .await
}

/// `DELETE /admin/keys/{key_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/keys/{key_id}",
    tag = "admin",
    operation_id = "admin_revoke_key",
    params(("key_id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "Revoked, effective at once", body = KeyRevoked),
        (status = 404, description = "No such key", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn revoke_key(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        Admin::from_state(&state).revoke_key(&path).await?;
        Ok(KeyRevoked {
            key_id: path.into_inner(),
            revoked: true,
        })
    })
    .await
}

/// `POST /admin/accounts/{id}/top-ups` `{amount: "10.00", reference?, note?}`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/accounts/{id}/top-ups",
    tag = "admin",
    operation_id = "admin_top_up",
    request_body(content = crate::http::openapi::schemas::TopUpRequest, content_type = "application/json"),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "Credited (or, with a known `reference`, replayed)", body = crate::app::admin::TopUpResult),
        (status = 400, description = "Malformed JSON, or not an object", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid or unknown", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn top_up(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let run = async {
        let id = admin::parse_account_id(&path)?;
        let body = object(payload, &["amount", "reference", "note"]).await?;
        let amount = required(string(&body, "amount", "\"10.00\"")?, "amount", "\"10.00\"")?;
        let reference = string(&body, "reference", "\"invoice-2026-001\"")?;
        let note = string(&body, "note", "\"January invoice\"")?;
        Ok::<_, ApiError>(
            Admin::from_state(&state)
                .top_up(id, amount, reference, note)
                .await?,
        )
    };
    match run.await {
        Ok(result) => {
            let mut resp = HttpResponse::Ok();
            if result.replayed {
                resp.insert_header(("idempotent-replayed", "true"));
            }
            Ok(resp.json(result))
        }
        Err(e) => Err(e.with_request_id(rid.0)),
    }
}

/// `PUT /admin/accounts/{id}/markup` `{markup_rate: "0.15" | null}`.
#[utoipa::path(
    put,
    path = "/api/v1/admin/accounts/{id}/markup",
    tag = "admin",
    operation_id = "admin_set_markup",
    request_body(content = crate::http::openapi::schemas::MarkupRequest, content_type = "application/json"),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account", body = crate::app::admin::AccountView),
        (status = 400, description = "Malformed JSON, or not an object", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid or unknown", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn set_markup(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let id = admin::parse_account_id(&path)?;
        let body = object(payload, &["markup_rate"]).await?;
        if !body.contains_key("markup_rate") {
            return Err(invalid(
                "markup_rate",
                "is required: a rate like \"0.15\", or null for the gateway default",
            ));
        }
        let rate = string(&body, "markup_rate", "\"0.15\" (or null for the default)")?;
        Ok(Admin::from_state(&state).set_markup(id, rate).await?)
    })
    .await
}

/// `GET /admin/accounts/{id}/rate-limits`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts/{id}/rate-limits",
    tag = "admin",
    operation_id = "admin_rate_limits",
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account's overrides", body = crate::app::admin::RateLimits),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
        (status = 501, description = "This gateway has no override store", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn rate_limits(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let id = admin::parse_account_id(&path)?;
        Ok(Admin::from_state(&state).rate_limits(id).await?)
    })
    .await
}

/// `PUT /admin/accounts/{id}/rate-limits` `{capability?, limit, window_seconds}`.
#[utoipa::path(
    put,
    path = "/api/v1/admin/accounts/{id}/rate-limits",
    tag = "admin",
    operation_id = "admin_set_rate_limit",
    request_body(content = crate::http::openapi::schemas::RateLimitRequest, content_type = "application/json"),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The stored override", body = crate::app::admin::OverrideView),
        (status = 400, description = "Malformed JSON, or not an object", body = crate::http::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account", body = crate::http::error::ErrorBody),
        (status = 422, description = "A field is invalid or unknown", body = crate::http::error::ErrorBody),
        (status = 501, description = "This gateway has no override store", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn set_rate_limit(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let id = admin::parse_account_id(&path)?;
        let body = object(payload, &["capability", "limit", "window_seconds"]).await?;
        let req = OverrideRequest {
            capability: string(&body, "capability", "\"tts\" (or \"all\")")?,
            limit: required(whole(&body, "limit")?, "limit", "100")?,
            window_seconds: required(whole(&body, "window_seconds")?, "window_seconds", "60")?,
        };
        Ok(Admin::from_state(&state).set_rate_limit(id, req).await?)
    })
    .await
}

/// `DELETE /admin/accounts/{id}/rate-limits/{capability|all}`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/accounts/{id}/rate-limits/{scope}",
    tag = "admin",
    operation_id = "admin_remove_rate_limit",
    params(("id" = String, Path, description = "The account id"), ("scope" = String, Path, description = "A capability, or `all`")),
    responses(
        (status = 200, description = "Removed: the configured limit applies again", body = OverrideRemoved),
        (status = 404, description = "No such account or override", body = crate::http::error::ErrorBody),
        (status = 422, description = "Not a capability", body = crate::http::error::ErrorBody),
        (status = 501, description = "This gateway has no override store", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn remove_rate_limit(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let (id, scope) = path.into_inner();
        let account = admin::parse_account_id(&id)?;
        Admin::from_state(&state)
            .remove_rate_limit(account, &scope)
            .await?;
        Ok(OverrideRemoved {
            account_id: account,
            capability: scope,
            removed: true,
        })
    })
    .await
}

/// `GET /admin/dead-tasks?limit=`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/dead-tasks",
    tag = "admin",
    operation_id = "admin_dead_tasks",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many (default 50)")),
    responses(
        (status = 200, description = "Background tasks that used up their attempts, newest first", body = DeadTasks),
        (status = 400, description = "Malformed query string", body = crate::http::error::ErrorBody),
        (status = 422, description = "`limit` out of range", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn dead_tasks(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let limit = number("limit", query.limit.as_deref())?;
        let items = Admin::from_state(&state).dead_tasks(limit).await?;
        Ok(DeadTasks { items })
    })
    .await
}

/// `POST /admin/dead-tasks/{id}/retry`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/dead-tasks/{id}/retry",
    tag = "admin",
    operation_id = "admin_retry_task",
    params(("id" = String, Path, description = "The dead task's id")),
    responses(
        (status = 200, description = "Put back in the queue", body = TaskRequeued),
        (status = 404, description = "No such dead task", body = crate::http::error::ErrorBody),

    ),
    security(("admin" = []))
)]
pub async fn retry_task(
    _: AdminCaller,
    state: web::Data<AppState>,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(rid, StatusCode::OK, async {
        let not_found = || AdminError::NotFound {
            code: "dead_task_not_found",
            message: format!(
                "no dead task with id {:?}: GET /api/v1/admin/dead-tasks lists them",
                path.as_str()
            ),
        };
        let id: i64 = path.trim().parse().map_err(|_| not_found())?;
        Admin::from_state(&state).retry_task(id).await?;
        Ok(TaskRequeued { id, requeued: true })
    })
    .await
}
