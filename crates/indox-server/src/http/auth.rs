//! The `Caller` extractor: authenticates `Authorization: Bearer <key>` before a handler runs.

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
                .map(Caller)
                .map_err(|e| ApiError::from(e).with_request_id(request_id))
        })
    }
}
