//! Asset records and the rules for object keys and presigned-URL lifetimes.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use indox_core::AccountId;
use uuid::Uuid;

use crate::AssetClass;

/// Where an asset's bytes are when its record is written.
#[derive(Debug, Clone)]
pub enum Mirror {
    /// Already in the object store.
    Done,
    /// Being uploaded right now, concurrently with the record; the uploader confirms it.
    /// If nobody confirms within the lease, the retrier checks the store itself.
    InFlight,
    /// The upload failed: the bytes are kept (in Postgres) for the retrier.
    Pending(Bytes),
}

/// An asset about to be recorded.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub id: Uuid,
    pub account: AccountId,
    pub class: AssetClass,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: [u8; 32],
    pub duration_ms: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The upstream's own URL for the same audio, if it gave one.
    pub resemble_url: Option<String>,
    /// Where its bytes are.
    pub mirror: Mirror,
}

/// An asset as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAsset {
    pub id: Uuid,
    pub account: AccountId,
    pub class: AssetClass,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub mirrored_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub resemble_url: Option<String>,
}

/// The object key for an asset: `<class prefix>/<account>/<yyyy>/<mm>/<dd>/<asset id>.<ext>`.
///
/// The date is the creation day in UTC, so a listing per prefix and day is cheap.
pub fn object_key(
    class: AssetClass,
    account: AccountId,
    asset: Uuid,
    ext: &str,
    created_at: DateTime<Utc>,
) -> String {
    format!(
        "{}/{}/{}/{}.{}",
        class.prefix(),
        account,
        created_at.format("%Y/%m/%d"),
        asset,
        ext
    )
}

/// How long a presigned URL handed out now stays valid: the configured TTL, but never
/// past the asset's own expiry, and never more than S3's seven-day SigV4 maximum.
/// `None` when the asset has already expired.
pub fn presign_ttl(
    now: DateTime<Utc>,
    configured: Duration,
    expires_at: Option<DateTime<Utc>>,
) -> Option<Duration> {
    let mut ttl = configured.min(Duration::days(7));
    if let Some(exp) = expires_at {
        ttl = ttl.min(exp - now);
    }
    (ttl > Duration::zero()).then_some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_key_names_the_class_and_the_day() {
        let account = AccountId(Uuid::nil());
        let asset = Uuid::from_u128(1);
        let at = DateTime::from_timestamp(1_767_225_600, 0).unwrap(); // 2026-01-01
        let key = object_key(AssetClass::TtsOutput, account, asset, "mp3", at);
        assert_eq!(
            key,
            "tts-output/00000000-0000-0000-0000-000000000000/2026/01/01/00000000-0000-0000-0000-000000000001.mp3"
        );
    }

    #[test]
    fn presign_ttl_is_clipped() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        assert_eq!(presign_ttl(now, hour, None), Some(hour));
        assert_eq!(
            presign_ttl(now, Duration::days(30), None),
            Some(Duration::days(7))
        );
        assert_eq!(
            presign_ttl(now, hour, Some(now + Duration::minutes(5))),
            Some(Duration::minutes(5))
        );
        assert_eq!(
            presign_ttl(now, hour, Some(now - Duration::minutes(5))),
            None
        );
    }
}
