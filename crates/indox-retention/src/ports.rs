//! The driven ports: the object store (S3/R2) and the asset records (Postgres).

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Duration;
use uuid::Uuid;

use crate::{NewAsset, RetentionError, StoredAsset};

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

    /// Reads the object at `key`.
    ///
    /// # Errors
    /// MUST return [`RetentionError::NotFound`] when there is no such object and
    /// [`RetentionError::StoreUnavailable`] when the store cannot be reached.
    async fn get(&self, key: &str) -> Result<Bytes, RetentionError>;

    /// Deletes `key`; deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), RetentionError>;

    /// Whether an object exists at `key`.
    async fn exists(&self, key: &str) -> Result<bool, RetentionError>;

    /// Lists the keys under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, RetentionError>;

    /// Whether the store answers (used by readiness).
    async fn ping(&self) -> Result<(), RetentionError>;
}

/// An asset whose mirror is not confirmed.
#[derive(Debug, Clone)]
pub struct PendingMirror {
    pub asset_id: Uuid,
    pub object_key: String,
    pub content_type: String,
    /// The kept bytes; `None` when the upload was in flight and never confirmed (the
    /// uploader stopped): then only the store can say whether the object arrived.
    pub bytes: Option<Bytes>,
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

    /// Records an asset that no charge goes with (a client's upload). A `Done` mirror is
    /// recorded as mirrored now; `Pending` bytes are kept for the retrier; an `InFlight`
    /// upload waits for its confirmation (or its lease to run out).
    ///
    /// # Errors
    /// MUST return [`RetentionError::Records`] when the record cannot be written (including
    /// an id that is already recorded).
    async fn record(&self, asset: &NewAsset) -> Result<(), RetentionError>;

    /// Up to `limit` live assets whose expiry is at or before `now` (never a permanent one:
    /// those have no expiry).
    async fn expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<StoredAsset>, RetentionError>;

    /// Marks an asset deleted (and drops any kept bytes); `false` when it already was.
    async fn mark_deleted(&self, id: Uuid) -> Result<bool, RetentionError>;

    /// Claims up to `limit` assets whose mirror is due (kept bytes, or an in-flight upload
    /// whose lease ran out), skipping ones another process holds.
    async fn pending_mirrors(&self, limit: i64) -> Result<Vec<PendingMirror>, RetentionError>;

    /// Records that the object is now in the store and drops the kept bytes.
    async fn mark_mirrored(&self, id: Uuid) -> Result<(), RetentionError>;

    /// [`AssetRepository::mark_mirrored`] for many assets at once (the uploaders'
    /// confirmations are batched); returns how many were updated.
    async fn mark_mirrored_many(&self, ids: &[Uuid]) -> Result<u64, RetentionError>;

    /// Keeps the bytes of an asset whose in-flight upload failed, for the retrier.
    async fn keep_for_retry(&self, id: Uuid, bytes: Bytes) -> Result<(), RetentionError>;

    /// Records that an in-flight upload never arrived and its bytes are gone; it is not
    /// retried again.
    async fn mirror_lost(&self, id: Uuid, error: &str) -> Result<(), RetentionError>;

    /// Records a failed mirror attempt; the next try waits `retry_in`.
    async fn mirror_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), RetentionError>;
}
