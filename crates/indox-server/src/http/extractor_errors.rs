//! actix's typed extractors (`Json`, `Query`, `Path`) answer malformed input with plain
//! text by default; these configurations make them answer with the gateway's JSON error
//! body instead, so every 4xx says what was wrong in the same shape.

use actix_web::web;

use super::{ApiError, ErrorKind};

/// `Json<T>` bodies that do not parse: 400 `malformed_json` (413 past the size limit).
pub fn json() -> web::JsonConfig {
    web::JsonConfig::default().error_handler(|err, _req| {
        let api = match &err {
            actix_web::error::JsonPayloadError::Overflow { limit }
            | actix_web::error::JsonPayloadError::OverflowKnownLength { limit, .. } => {
                ApiError::new(
                    ErrorKind::PayloadTooLarge,
                    format!("the request body is larger than {limit} bytes"),
                )
            }
            actix_web::error::JsonPayloadError::ContentType => ApiError::new(
                ErrorKind::BadRequest {
                    code: "unsupported_content_type",
                },
                "send the body as JSON with Content-Type: application/json",
            ),
            other => ApiError::malformed_json(other),
        };
        api.into()
    })
}

/// Query strings that do not fit the route's parameters: 400 `invalid_query`.
pub fn query() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::new(
            ErrorKind::BadRequest {
                code: "invalid_query",
            },
            format!("the query string is not valid for this route: {err}"),
        )
        .into()
    })
}

/// Path segments that do not fit the route: 404 `not_found`.
pub fn path() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        ApiError::new(
            ErrorKind::NotFound { code: "not_found" },
            format!("no such resource: {err}"),
        )
        .into()
    })
}
