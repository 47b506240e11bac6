//! Voice cloning and voice design (`/resemble/voices…`, `/resemble/voice-design…`), behind
//! the Business-plan gate: until `RESEMBLE_BUSINESS_PLAN_ACTIVE=true` every such route
//! answers 503 and makes no upstream call. With the gate open, the routes answer 501 until
//! cloning is built (tracked in the issue), rather than pretending to work.

use actix_web::{web, HttpResponse};

use crate::app::AppState;
use crate::http::auth::Caller;
use crate::http::{ApiError, ErrorKind, ReqId};

/// Every cloning and design route.
pub async fn gated(
    state: web::Data<AppState>,
    _caller: Caller,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let err = if state.business_plan_active {
        ApiError::new(
            ErrorKind::NotImplemented { code: "not_built" },
            "voice cloning and voice design are not available on this gateway yet",
        )
    } else {
        ApiError::new(
            ErrorKind::Unavailable { code: "business_plan_required", retry_after: None },
            "voice cloning and voice design need a Resemble Business plan; this gateway has not enabled them \
             (RESEMBLE_BUSINESS_PLAN_ACTIVE is not true), so no request was sent to Resemble",
        )
    };
    Err(err.with_request_id(rid.0))
}

/// Registers the gated paths.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in [
        "/resemble/voices",
        "/resemble/voices/{uuid}",
        "/resemble/voices/{uuid}/recordings",
        "/resemble/voices/{uuid}/build",
        "/resemble/voice-design",
        "/resemble/voice-design/{design}/{index}/voice",
    ] {
        cfg.route(path, web::route().to(gated));
    }
}
