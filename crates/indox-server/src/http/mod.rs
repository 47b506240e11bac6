//! The HTTP layer: middleware, extractors, shared response helpers and the route table.

pub mod auth;
pub mod error;
pub mod extractor_errors;
pub mod multipart;
pub mod routes;

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponseBuilder};
use indox_core::RequestId;
use indox_ratelimit::limiter::Admission;
use indox_ratelimit::window::retry_after_secs;

pub use error::{ApiError, ErrorKind};

/// The request id of the current request (set by [`request_id`]).
#[derive(Debug, Clone, Copy)]
pub struct ReqId(pub RequestId);

impl FromRequest for ReqId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .copied()
            .unwrap_or_default();
        ready(Ok(ReqId(id)))
    }
}

/// Middleware: gives every request an id and returns it in `X-Request-Id`. The request's
/// span, its one log line and its metrics are `crate::telemetry::observe`'s (wrapped inside
/// this one, so it sees the id).
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::new();
    req.extensions_mut().insert(id);
    let mut res = next.call(req).await?;
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

/// Adds `X-RateLimit-Limit/Remaining/Reset` for the caller's window.
pub fn rate_headers(resp: &mut HttpResponseBuilder, admission: &Admission) {
    let a = admission.account;
    resp.insert_header(("x-ratelimit-limit", a.limit.to_string()));
    resp.insert_header(("x-ratelimit-remaining", a.remaining.to_string()));
    resp.insert_header((
        "x-ratelimit-reset",
        retry_after_secs(a.reset_after_ms).to_string(),
    ));
}

/// Reads a request body up to `limit` bytes; larger bodies get a JSON 413.
pub async fn read_body(
    payload: actix_web::web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    read_body_limited(payload, limit, "send less text per request").await
}

/// [`read_body`] with the advice the 413 gives.
pub async fn read_body_limited(
    mut payload: actix_web::web::Payload,
    limit: usize,
    advice: &str,
) -> Result<bytes::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::malformed_json(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes; {advice}"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The JSON answer for paths and methods that do not exist.
pub async fn not_found(req: HttpRequest) -> actix_web::HttpResponse {
    let msg = format!(
        "no route for {} {}: see the API reference for the paths under /api/v1/resemble",
        req.method(),
        req.path()
    );
    let id = req
        .extensions()
        .get::<RequestId>()
        .copied()
        .unwrap_or_default();
    actix_web::ResponseError::error_response(
        &ApiError::new(
            ErrorKind::NotFound {
                code: "route_not_found",
            },
            msg,
        )
        .with_request_id(id),
    )
}
