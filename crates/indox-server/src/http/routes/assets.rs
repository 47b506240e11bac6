//! `GET /api/v1/resemble/assets/{id}`: a fresh presigned URL for a live asset the caller owns.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use indox_retention::{presign_ttl, RetentionError};
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::auth::Caller;
use crate::http::{ApiError, ErrorKind, ReqId};

/// A stored audio file with a fresh presigned URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssetView {
    pub asset_id: Uuid,
    /// The retention class.
    pub class: &'static str,
    pub content_type: String,
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
    /// When retention deletes it; `null` for permanent classes.
    pub retention_expires_at: Option<DateTime<Utc>>,
    pub audio_url: String,
    /// When `audio_url` stops working.
    pub expires_at: DateTime<Utc>,
}

/// Reads one asset and presigns a new URL for it.
#[utoipa::path(
    get,
    path = "/api/v1/resemble/assets/{asset_id}",
    tag = "assets",
    operation_id = "get_asset",
    params(("asset_id" = String, Path, description = "An `asset_id` from an answer")),
    responses(
        (status = 200, description = "A fresh presigned URL", body = AssetView),
        (status = 404, description = "No such asset for your account", body = crate::http::error::ErrorBody),
        (status = 410, description = "Deleted by its retention policy", body = crate::http::error::ErrorBody),
        (status = 503, description = "Still being copied to storage (retry), or the store is unavailable", body = crate::http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    rid: ReqId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorKind::NotFound {
                code: "asset_not_found",
            },
            "no asset with this id for your account",
        )
    };
    let run = async {
        let id = Uuid::parse_str(&path).map_err(|_| not_found())?;
        let asset = match state.assets.get(id).await {
            Ok(a) => a,
            Err(RetentionError::NotFound) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        // Someone else's asset is indistinguishable from a missing one.
        if asset.account != caller.0.account.id {
            return Err(not_found());
        }
        if asset.deleted_at.is_some() {
            return Err(RetentionError::Gone.into());
        }
        let now = state.clock.now();
        if asset.mirrored_at.is_none() {
            return Err(ApiError::new(
                ErrorKind::Unavailable {
                    code: "asset_not_stored_yet",
                    retry_after: Some(5),
                },
                "this audio is still being copied to storage; retry in a few seconds",
            ));
        }
        let Some(ttl) = presign_ttl(now, state.presign_ttl, asset.expires_at) else {
            return Err(RetentionError::Gone.into());
        };
        let url = state.objects.presign_get(&asset.object_key, ttl).await?;
        Ok(HttpResponse::Ok().json(AssetView {
            asset_id: asset.id,
            class: asset.class.as_str(),
            content_type: asset.content_type,
            size_bytes: asset.size_bytes,
            created_at: asset.created_at,
            retention_expires_at: asset.expires_at,
            audio_url: url,
            expires_at: now + ttl,
        }))
    };
    run.await.map_err(|e: ApiError| e.with_request_id(rid.0))
}
