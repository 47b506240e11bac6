//! The HTTP layer: middleware, extractors, shared response helpers and the route table.

pub mod auth;
pub mod error;
pub mod multipart;
pub mod openapi;
pub mod routes;

use std::cell::RefCell;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

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

/// How long a request body may take before it must keep up [`BODY_MIN_BYTES_PER_SEC`].
pub const BODY_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// The slowest average rate a request body may arrive at once [`BODY_GRACE`] is over.
pub const BODY_MIN_BYTES_PER_SEC: u64 = 4 * 1024;

/// Reads a JSON request body up to `limit` bytes; larger bodies get a JSON 413, and a string
/// escaping the NUL character (`\u0000`, which no text field and no Postgres text column
/// takes) a 422 before anything parses it.
pub async fn read_body(
    payload: actix_web::web::Payload,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let body = read_body_limited(payload, limit, "send less text per request").await?;
    if has_nul_escape(&body) {
        return Err(ApiError::new(
            ErrorKind::Unprocessable {
                code: "nul_character",
                field: None,
            },
            "a string in the body contains the NUL character (\\u0000), which no field accepts; remove it",
        ));
    }
    Ok(body)
}

/// Whether JSON text escapes NUL: `\u0000` whose backslash is not itself escaped. (A raw NUL
/// byte is not valid JSON, and every backslash in JSON text is inside a string.)
fn has_nul_escape(json: &[u8]) -> bool {
    json.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && json[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
    })
}

/// [`read_body`] (without the NUL check, for binary bodies) with the advice the 413 gives.
/// A body that arrives slower than [`BODY_MIN_BYTES_PER_SEC`] on average once
/// [`BODY_GRACE`] is over (a slow-loris client) gets a 408 and its connection is closed.
pub async fn read_body_limited(
    mut payload: actix_web::web::Payload,
    limit: usize,
    advice: &str,
) -> Result<bytes::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let started = tokio::time::Instant::now();
    let mut buf = bytes::BytesMut::new();
    loop {
        let due = started
            + BODY_GRACE
            + std::time::Duration::from_millis(
                (buf.len() as u64).saturating_mul(1000) / BODY_MIN_BYTES_PER_SEC,
            );
        let Ok(next) = tokio::time::timeout_at(due, payload.next()).await else {
            return Err(ApiError::new(
                ErrorKind::RequestTimeout,
                format!(
                    "the request body arrived too slowly (under {BODY_MIN_BYTES_PER_SEC} bytes a second after the first {} s); send it in one go",
                    BODY_GRACE.as_secs()
                ),
            ));
        };
        let Some(chunk) = next else { break };
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

/// Middleware: a request's body stays alive until its response has been written, so that a
/// response given before the body was read to its end (a 401 or 413, a route that takes no
/// body, the 408 of [`read_body_limited`]) closes the connection; actix would otherwise drain
/// the rest of a chunked body first, for as long as a slow or endless client cares to send it
/// (docs/decisions.md A2).
pub async fn close_unread_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let body = Rc::new(RefCell::new(req.take_payload()));
    let shared: Pin<Box<dyn futures_core::Stream<Item = _>>> = Box::pin(SharedBody(body.clone()));
    req.set_payload(actix_web::dev::Payload::from(shared));
    let res = next.call(req).await?;
    Ok(res.map_body(|_, response| HoldingBody {
        response: response.boxed(),
        _request: body,
    }))
}

type RequestBody = Rc<RefCell<actix_web::dev::Payload>>;

/// The request body as the handler reads it (see [`close_unread_bodies`]).
struct SharedBody(RequestBody);

impl futures_core::Stream for SharedBody {
    type Item = Result<bytes::Bytes, actix_web::error::PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_next(cx)
    }
}

/// A response body that keeps the request body alive until the response is written.
struct HoldingBody {
    response: actix_web::body::BoxBody,
    _request: RequestBody,
}

impl MessageBody for HoldingBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.response.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<bytes::Bytes, Self::Error>>> {
        Pin::new(&mut self.response).poll_next(cx)
    }
}

/// Middleware: a URL whose path or query escapes the NUL character (`%00`) is a 400 before
/// any handler runs; no path segment or query value takes it, and Postgres text cannot hold it.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let raw = req.uri().path_and_query().map_or("", |p| p.as_str());
    if raw.contains("%00") {
        let id = req
            .extensions()
            .get::<RequestId>()
            .copied()
            .unwrap_or_default();
        let err = ApiError::new(
            ErrorKind::BadRequest {
                code: "nul_character",
            },
            "the URL contains the NUL character (%00), which no path or query parameter accepts",
        )
        .with_request_id(id);
        return Ok(req.error_response(err).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
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
    // A path the API has, with another method: 405 and the methods it takes.
    if let Some(methods) = openapi::allowed_methods(req.path()) {
        let err = ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!(
                "{} is not supported on {}: use {}",
                req.method(),
                req.path(),
                methods.join(", ")
            ),
        )
        .with_request_id(id);
        return with_allow(actix_web::ResponseError::error_response(&err), req.path());
    }
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

/// Adds `Allow` (the methods the API documents for `path`) to a 405.
pub fn with_allow(mut resp: actix_web::HttpResponse, path: &str) -> actix_web::HttpResponse {
    if let Some(methods) = openapi::allowed_methods(path) {
        if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
            resp.headers_mut().insert(actix_web::http::header::ALLOW, v);
        }
    }
    resp
}

/// Query strings and path segments that do not deserialize answer with the JSON error body
/// (actix's own answer is plain text).
pub fn query_error(e: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        ErrorKind::BadRequest {
            code: "invalid_query",
        },
        format!("the query string is malformed: {e}"),
    )
    .into()
}

/// JSON bodies read with `web::Json` that do not deserialize: 413 past the limit, else 400.
pub fn json_error(e: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    match e {
        actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
        | actix_web::error::JsonPayloadError::Overflow { .. } => ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the request body is too large: {e}"),
        ),
        other => ApiError::malformed_json(other),
    }
    .into()
}

/// See [`query_error`].
pub fn path_error(e: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        ErrorKind::NotFound {
            code: "route_not_found",
        },
        format!("the path is malformed: {e}"),
    )
    .into()
}
