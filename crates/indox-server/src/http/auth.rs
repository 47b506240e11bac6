//! The `Caller` and `AdminCaller` extractors: authenticate `Authorization: Bearer <key>`
//! (an account's API key, or the operator's admin key) before a handler runs.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use indox_accounts::Principal;
use indox_core::RequestId;

use crate::app::AppState;
use crate::http::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .copied()
            .unwrap_or_default();
        Box::pin(async move {
            let Some(state) = state else {
                return Err(
                    ApiError::store_unavailable("configuration").with_request_id(request_id)
                );
            };
            state
                .auth
                .authenticate(header.as_deref())
                .await
                .map(|p| {
                    crate::telemetry::set_account(p.account.id);
                    Caller(p)
                })
                .map_err(|e| ApiError::from(e).with_request_id(request_id))
        })
    }
}

/// An operator holding the admin key (`INDOX_ADMIN_KEY_SHA256`): compared as SHA-256 hashes
/// in constant time; account API keys never pass.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller;

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(admin_check(req))
    }
}

/// Whether the request carries the admin key.
pub fn is_admin(req: &HttpRequest) -> bool {
    admin_check(req).is_ok()
}

fn admin_check(req: &HttpRequest) -> Result<AdminCaller, ApiError> {
    use crate::http::ErrorKind;
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .copied()
        .unwrap_or_default();
    let stored = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.admin_key_hash.clone());
    let Some(stored) = stored else {
        return Err(ApiError::new(
            ErrorKind::Unauthorized {
                code: "admin_disabled",
            },
            "the admin API is disabled on this gateway (set INDOX_ADMIN_KEY_SHA256)",
        )
        .with_request_id(request_id));
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if indox_accounts::key::SecretHash::of(given).ct_eq(&stored) {
        Ok(AdminCaller)
    } else {
        Err(ApiError::new(
            ErrorKind::Unauthorized {
                code: "invalid_admin_key",
            },
            "this route needs the admin key: Authorization: Bearer <admin key>",
        )
        .with_request_id(request_id))
    }
}
