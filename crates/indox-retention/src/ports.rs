//! The driven ports: the object store (S3/R2) and the asset records (Postgres).

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Duration;
use uuid::Uuid;

use crate::{RetentionError, StoredAsset};

/// An S3-compatible object store.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing any object there.
    ///
    /// # Errors
    /// MUST return [`RetentionError::StoreUnavailable`] when the store cannot be reached
    /// or answers with an error.
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), RetentionError>;

    /// A presigned GET URL for `key`, valid for `ttl`. Signs locally; does not contact the store.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, RetentionError>;

    /// Deletes `key`; deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), RetentionError>;

    /// Lists the keys under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, RetentionError>;

    /// Whether the store answers (used by readiness).
    async fn ping(&self) -> Result<(), RetentionError>;
}

/// An asset whose bytes still wait to be mirrored.
#[derive(Debug, Clone)]
pub struct PendingMirror {
    pub asset_id: Uuid,
    pub object_key: String,
    pub content_type: String,
    pub bytes: Bytes,
}

/// The asset records.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AssetRepository: Send + Sync {
    /// Reads an asset record.
    ///
    /// # Errors
    /// MUST return [`RetentionError::NotFound`] when there is no such asset.
    async fn get(&self, id: Uuid) -> Result<StoredAsset, RetentionError>;

    /// Claims up to `limit` assets waiting for their mirror, skipping ones another
    /// process holds.
    async fn pending_mirrors(&self, limit: i64) -> Result<Vec<PendingMirror>, RetentionError>;

    /// Records that the object is now in the store and drops the kept bytes.
    async fn mark_mirrored(&self, id: Uuid) -> Result<(), RetentionError>;

    /// Records a failed mirror attempt; the next try waits `retry_in`.
    async fn mirror_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), RetentionError>;
}
