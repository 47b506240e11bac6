//! Audio custody: preparing an asset record, uploading it to the object store, and settling
//! the record once the upload's fate is known (confirmed in batches, or bytes kept for retry).

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use indox_audio::{AudioFormat, AudioInfo};
use indox_core::AccountId;
use indox_retention::{object_key, presign_ttl, AssetClass, Mirror, NewAsset};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::AppState;

/// An asset ready to be recorded (as an in-flight upload) with its presigned URL.
#[derive(Debug, Clone)]
pub struct PreparedAsset {
    pub asset: NewAsset,
    pub bytes: Bytes,
    /// The presigned URL; only handed out once the upload succeeded.
    pub url: Option<String>,
    pub url_expires_at: Option<DateTime<Utc>>,
}

/// Names the object, computes its checksum and expiry, and presigns its URL (locally).
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per capability; a struct would only rename the list"
)]
pub async fn prepare(
    state: &AppState,
    account: AccountId,
    class: AssetClass,
    audio: Bytes,
    format: AudioFormat,
    info: &AudioInfo,
    now: DateTime<Utc>,
    resemble_url: Option<String>,
) -> PreparedAsset {
    let id = Uuid::now_v7();
    let key = object_key(class, account, id, format.as_str(), now);
    let expires_at = class.retention().map(|r| now + r);
    let digest = ring::digest::digest(&ring::digest::SHA256, &audio);
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(digest.as_ref());
    let (url, url_expires_at) = match presign_ttl(now, state.presign_ttl, expires_at) {
        Some(ttl) => match state.objects.presign_get(&key, ttl).await {
            Ok(u) => (Some(u), Some(now + ttl)),
            Err(e) => {
                tracing::warn!(error = %e, "could not presign a URL");
                (None, None)
            }
        },
        None => (None, None),
    };
    let asset = NewAsset {
        id,
        account,
        class,
        object_key: key,
        content_type: format.content_type().to_owned(),
        size_bytes: audio.len() as u64,
        sha256,
        duration_ms: Some(info.duration_millis_ceil()),
        created_at: now,
        expires_at,
        resemble_url,
        mirror: Mirror::InFlight,
    };
    PreparedAsset {
        asset,
        bytes: audio,
        url,
        url_expires_at,
    }
}

/// Uploads the asset's bytes; `true` when the store has them.
pub async fn put(state: &AppState, p: &PreparedAsset) -> bool {
    match state
        .objects
        .put(&p.asset.object_key, p.bytes.clone(), &p.asset.content_type)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, key = %p.asset.object_key, "object store unavailable; the mirror will be retried");
            false
        }
    }
}

/// Uploads first, then marks the record `Done` or keeps the bytes (`Pending`) and drops
/// the URL. For paths where the record must be final before it is written.
pub async fn mirror_first(state: &AppState, mut p: PreparedAsset) -> PreparedAsset {
    if put(state, &p).await {
        p.asset.mirror = Mirror::Done;
    } else {
        p.asset.mirror = Mirror::Pending(p.bytes.clone());
        p.url = None;
        p.url_expires_at = None;
    }
    p
}

/// After an upload that ran concurrently with the record: confirm it (batched), or keep
/// the bytes for the retrier and drop the URL. If even that fails, the record's lease runs
/// out and the retrier asks the store whether the object arrived.
pub async fn settle_in_flight(state: &AppState, p: &mut PreparedAsset, uploaded: bool) {
    if uploaded {
        state.confirmations.confirm(p.asset.id);
        return;
    }
    p.url = None;
    p.url_expires_at = None;
    if let Err(e) = state
        .assets
        .keep_for_retry(p.asset.id, p.bytes.clone())
        .await
    {
        tracing::error!(error = %e, asset = %p.asset.id, "could not keep the bytes of a failed upload");
    }
}

/// Removes an uploaded object whose record was never written, so no unowned audio lingers.
pub async fn discard(state: &AppState, key: &str) {
    if let Err(e) = state.objects.delete(key).await {
        tracing::warn!(error = %e, key = %key, "could not delete the object of a failed commit");
    }
}

/// Batches upload confirmations into one `UPDATE` per burst.
#[derive(Debug, Clone)]
pub struct Confirmations {
    tx: mpsc::UnboundedSender<Uuid>,
}

impl Confirmations {
    /// Starts the batcher on the current runtime.
    pub fn start(assets: std::sync::Arc<dyn indox_retention::AssetRepository>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Uuid>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                // Gather what arrives within a few milliseconds, up to a bound.
                let deadline = tokio::time::Instant::now() + Duration::from_millis(5);
                while batch.len() < 512 {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(id)) => batch.push(id),
                        _ => break,
                    }
                }
                if let Err(e) = assets.mark_mirrored_many(&batch).await {
                    // The records keep their lease; the retrier checks the store later.
                    tracing::warn!(error = %e, count = batch.len(), "could not confirm uploads; the retrier will check them");
                }
            }
        });
        Self { tx }
    }

    /// Queues one confirmation.
    pub fn confirm(&self, id: Uuid) {
        if self.tx.send(id).is_err() {
            tracing::warn!(asset = %id, "the confirmation batcher has stopped; the retrier will check this upload");
        }
    }
}
