//! The API error type: every failure becomes a status code and a JSON body that says what
//! went wrong and how to fix it, with the request id.

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use indox_accounts::AccountError;
use indox_billing::BillingError;
use indox_core::RequestId;
use indox_idempotency::IdempotencyError;
use indox_ratelimit::limiter::{Admission, Scope};
use indox_ratelimit::window::retry_after_secs;
use indox_retention::RetentionError;
use indox_voice::{UpstreamError, VoiceError};
use rust_decimal::Decimal;
use serde::Serialize;

/// What kind of failure this is; decides the status code and the `code` field.
#[derive(Debug, Clone)]
pub enum ErrorKind {
    /// 400: the body is not valid JSON, or a header is malformed.
    BadRequest { code: &'static str },
    /// 401.
    Unauthorized { code: &'static str },
    /// 402.
    InsufficientFunds {
        required: Decimal,
        available: Decimal,
    },
    /// 404.
    NotFound { code: &'static str },
    /// 409.
    Conflict { code: &'static str },
    /// 405.
    MethodNotAllowed,
    /// 408: the client sent its request too slowly; the connection is closed.
    RequestTimeout,
    /// 410.
    Gone { code: &'static str },
    /// 413.
    PayloadTooLarge,
    /// 422: a field is invalid.
    Unprocessable {
        code: &'static str,
        field: Option<&'static str>,
    },
    /// 429.
    RateLimited(Admission),
    /// 501: the route exists but the feature is not built.
    NotImplemented { code: &'static str },
    /// 502: the upstream failed or answered nonsense.
    BadGateway { code: &'static str },
    /// 503: the upstream or one of our stores is unavailable.
    Unavailable {
        code: &'static str,
        retry_after: Option<u64>,
    },
    /// 504.
    GatewayTimeout,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub request_id: Option<RequestId>,
}

/// The body of every error answer (`ErrorBody` in the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorBody)]
pub struct Body<'a> {
    error: Inner<'a>,
}

/// The error itself.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub struct Inner<'a> {
    /// A stable machine-readable code, e.g. `invalid_field`, `insufficient_balance`.
    code: &'a str,
    /// What went wrong and how to fix it.
    message: &'a str,
    /// The request field at fault (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// 402: the upper estimate of the cost, USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    required: Option<Decimal>,
    /// 402: what the balance has available, USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    available: Option<Decimal>,
    /// 429 and some 503s: also in `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u64>,
}

/// The error body's type for the OpenAPI document.
pub type ErrorBody = Body<'static>;

impl ApiError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            request_id: None,
        }
    }

    /// Attaches the request id shown in the body.
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.request_id = Some(id);
        self
    }

    /// 400 for a body that is not the JSON expected.
    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::BadRequest { code: "malformed_json" },
            format!("the request body is not valid JSON for this endpoint: {detail}. Send a JSON object with Content-Type: application/json"),
        )
    }

    /// 503 for one of our own stores.
    pub fn store_unavailable(what: &str) -> Self {
        Self::new(
            ErrorKind::Unavailable {
                code: "store_unavailable",
                retry_after: Some(1),
            },
            format!("the gateway's {what} is unavailable; nothing was charged. Retry shortly"),
        )
    }

    /// 503 `outcome_unknown`: a store's connection broke while an effect was being recorded
    /// and the store could not be reached to confirm it; `message` says where to look.
    pub fn outcome_unknown(message: String) -> Self {
        Self::new(
            ErrorKind::Unavailable {
                code: "outcome_unknown",
                retry_after: None,
            },
            message,
        )
    }

    fn code(&self) -> &'static str {
        match &self.kind {
            ErrorKind::BadRequest { code }
            | ErrorKind::Unauthorized { code }
            | ErrorKind::NotFound { code }
            | ErrorKind::Conflict { code }
            | ErrorKind::Gone { code }
            | ErrorKind::Unprocessable { code, .. }
            | ErrorKind::BadGateway { code }
            | ErrorKind::NotImplemented { code }
            | ErrorKind::Unavailable { code, .. } => code,
            ErrorKind::InsufficientFunds { .. } => "insufficient_balance",
            ErrorKind::RateLimited(a) => match a.denied_by() {
                Some(Scope::Upstream) => "upstream_budget_exhausted",
                _ => "rate_limited",
            },
            ErrorKind::GatewayTimeout => "upstream_timeout",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::RequestTimeout => "request_timeout",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match &self.kind {
            ErrorKind::RateLimited(a) => Some(retry_after_secs(a.retry_after_ms()).max(1)),
            ErrorKind::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match &self.kind {
            ErrorKind::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ErrorKind::InsufficientFunds { .. } => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::NotFound { .. } => StatusCode::NOT_FOUND,
            ErrorKind::Conflict { .. } => StatusCode::CONFLICT,
            ErrorKind::Gone { .. } => StatusCode::GONE,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(request_id = ?self.request_id.map(|r| r.to_string()), code = self.code(), message = %self.message, "request failed");
        }
        let (required, available) = match &self.kind {
            ErrorKind::InsufficientFunds {
                required,
                available,
            } => (Some(*required), Some(*available)),
            _ => (None, None),
        };
        let field = match &self.kind {
            ErrorKind::Unprocessable { field, .. } => *field,
            _ => None,
        };
        let retry_after = self.retry_after();
        let body = Body {
            error: Inner {
                code: self.code(),
                message: &self.message,
                field,
                request_id: self.request_id.map(|r| r.to_string()),
                required,
                available,
                retry_after_seconds: retry_after,
            },
        };
        let mut resp = HttpResponse::build(status);
        if let Some(secs) = retry_after {
            resp.insert_header((RETRY_AFTER, secs.to_string()));
        }
        if let ErrorKind::RateLimited(a) = &self.kind {
            super::rate_headers(&mut resp, a);
        }
        if matches!(self.kind, ErrorKind::RequestTimeout) {
            // A client too slow to send its body does not keep the connection.
            resp.force_close();
        }
        if let Some(id) = self.request_id {
            if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
                resp.insert_header(("x-request-id", v));
            }
        }
        resp.json(body)
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let msg = e.to_string();
        let kind = match e {
            AccountError::MissingCredentials => ErrorKind::Unauthorized {
                code: "missing_api_key",
            },
            AccountError::MalformedKey | AccountError::UnknownKey => ErrorKind::Unauthorized {
                code: "invalid_api_key",
            },
            AccountError::RevokedKey => ErrorKind::Unauthorized {
                code: "revoked_api_key",
            },
            AccountError::AccountNotFound => ErrorKind::NotFound {
                code: "account_not_found",
            },
            AccountError::NonPositiveAmount => ErrorKind::Unprocessable {
                code: "invalid_amount",
                field: Some("amount"),
            },
            _ => return ApiError::store_unavailable("account store"),
        };
        ApiError::new(kind, msg)
    }
}

impl From<BillingError> for ApiError {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::InsufficientFunds { required, available } => ApiError::new(
                ErrorKind::InsufficientFunds { required, available },
                format!(
                    "your balance cannot cover this request: it needs up to {required} USD and {available} USD is available. \
                     Top up your account, then retry; nothing was charged"
                ),
            ),
            BillingError::AlreadyBilled => ApiError::new(
                ErrorKind::Conflict { code: "already_billed" },
                "this request was already billed; use its Idempotency-Key to fetch the stored response",
            ),
            BillingError::UsageNotFound => ApiError::new(
                ErrorKind::NotFound { code: "usage_not_found" },
                "no usage row with this id",
            ),
            BillingError::RefundTooLarge { refundable } => ApiError::new(
                ErrorKind::Unprocessable { code: "refund_too_large", field: Some("amount") },
                format!("amount is more than is left to refund of this row ({refundable} USD)"),
            ),
            BillingError::InvalidAmount(m) => ApiError::new(
                ErrorKind::Unprocessable { code: "invalid_field", field: Some("amount") },
                format!("amount: {m}"),
            ),
            BillingError::NoPrice(c) => ApiError::new(
                ErrorKind::Unavailable { code: "not_priced", retry_after: None },
                format!("capability `{c}` has no price configured; nothing was charged"),
            ),
            BillingError::OutcomeUnknown { usage_id } => ApiError::outcome_unknown(format!(
                "the connection to the billing store broke while this charge was recorded, and it \
                 could not be reached again to confirm it: it may have been charged. \
                 GET /api/v1/resemble/usage/{usage_id} shows the charge if it was recorded (404: it was not)"
            )),
            _ => ApiError::store_unavailable("billing store"),
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(e: IdempotencyError) -> Self {
        match e {
            IdempotencyError::InvalidKey => ApiError::new(
                ErrorKind::BadRequest {
                    code: "invalid_idempotency_key",
                },
                e.to_string(),
            ),
            _ => ApiError::store_unavailable("idempotency store"),
        }
    }
}

impl From<RetentionError> for ApiError {
    fn from(e: RetentionError) -> Self {
        match e {
            RetentionError::NotFound => ApiError::new(
                ErrorKind::NotFound {
                    code: "asset_not_found",
                },
                "no such asset",
            ),
            RetentionError::Gone => ApiError::new(
                ErrorKind::Gone {
                    code: "asset_deleted",
                },
                "this asset was deleted by its retention policy",
            ),
            _ => ApiError::store_unavailable("object store"),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let msg = e.to_string();
        match e {
            UpstreamError::BadRequest(m) => ApiError::new(
                ErrorKind::Unprocessable { code: "upstream_rejected", field: None },
                format!("Resemble rejected the request: {m}"),
            ),
            UpstreamError::NotFound(_) => ApiError::new(
                ErrorKind::NotFound { code: "voice_not_found" },
                "no such voice: pick a voice_uuid from GET /api/v1/resemble/tts/voices",
            ),
            UpstreamError::Unauthorized { .. } => ApiError::new(
                ErrorKind::BadGateway { code: "upstream_auth_failed" },
                "the gateway's Resemble credentials were refused; nothing was charged. Operators have been alerted",
            ),
            UpstreamError::RateLimited { retry_after } => ApiError::new(
                ErrorKind::Unavailable {
                    code: "upstream_rate_limited",
                    retry_after: Some(retry_after.map_or(1, |d| d.as_secs().max(1))),
                },
                "Resemble is rate limiting the gateway; nothing was charged. Retry after the Retry-After delay",
            ),
            UpstreamError::Unavailable { status: 503 } => ApiError::new(
                ErrorKind::Unavailable { code: "upstream_unavailable", retry_after: Some(1) },
                format!("{msg}; nothing was charged. Retry shortly"),
            ),
            UpstreamError::Timeout => ApiError::new(ErrorKind::GatewayTimeout, "Resemble did not answer in time; nothing was charged"),
            _ => ApiError::new(ErrorKind::BadGateway { code: "upstream_error" }, format!("{msg}; nothing was charged")),
        }
    }
}

impl From<VoiceError> for ApiError {
    fn from(e: VoiceError) -> Self {
        match e {
            VoiceError::Invalid { field, message } => ApiError::new(
                ErrorKind::Unprocessable {
                    code: "invalid_field",
                    field: Some(field),
                },
                format!("{field} {message}"),
            ),
            VoiceError::Upstream(u) => u.into(),
            VoiceError::Conflict(m) => ApiError::new(
                ErrorKind::Conflict {
                    code: "voice_state_conflict",
                },
                m,
            ),
            VoiceError::Store(m) => {
                tracing::error!(error = %m, "voice store failure");
                ApiError::store_unavailable("voice store")
            }
            other => ApiError::new(
                ErrorKind::BadGateway {
                    code: "upstream_error",
                },
                other.to_string(),
            ),
        }
    }
}
