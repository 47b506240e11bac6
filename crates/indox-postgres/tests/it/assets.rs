//! Asset records and the mirror queue.

use bytes::Bytes;
use indox_billing::{CommitRequest, UsageLedger};
use indox_core::AccountId;
use indox_retention::{AssetClass, AssetRepository, Mirror, NewAsset, RetentionError};
use rust_decimal_macros::dec;
use uuid::Uuid;

use crate::{charge, exec, funded, setup};

fn unmirrored(account: AccountId, bytes: &'static [u8]) -> NewAsset {
    let id = Uuid::now_v7();
    NewAsset {
        id,
        account,
        class: AssetClass::TtsOutput,
        object_key: format!("tts-output/{account}/2026/01/01/{id}.wav"),
        content_type: "audio/wav".into(),
        size_bytes: bytes.len() as u64,
        sha256: [1; 32],
        duration_ms: Some(500),
        created_at: chrono::Utc::now(),
        expires_at: None,
        resemble_url: Some("https://example.invalid/a.wav".into()),
        mirror: Mirror::Pending(Bytes::from_static(bytes)),
    }
}

#[tokio::test]
async fn unmirrored_assets_wait_for_their_mirror() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    let asset = unmirrored(account.id, b"RIFF....");
    let id = asset.id;
    let key = asset.object_key.clone();
    store
        .commit(CommitRequest {
            charge: charge(account.id, dec!(0.01)),
            hold: None,
            asset: Some(asset),
            idempotency: None,
        })
        .await
        .unwrap();

    let stored = store.get(id).await.unwrap();
    assert_eq!(stored.account, account.id);
    assert_eq!(stored.class, AssetClass::TtsOutput);
    assert_eq!(stored.object_key, key);
    assert_eq!(stored.size_bytes, 8);
    assert!(stored.mirrored_at.is_none() && stored.deleted_at.is_none());
    assert_eq!(
        stored.resemble_url.as_deref(),
        Some("https://example.invalid/a.wav")
    );

    let pending = store.pending_mirrors(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].asset_id, id);
    assert_eq!(pending[0].object_key, key);
    assert_eq!(pending[0].content_type, "audio/wav");
    assert_eq!(pending[0].bytes.as_deref().unwrap(), b"RIFF....");
    // Leased: not handed out again while the lease runs.
    assert!(store.pending_mirrors(10).await.unwrap().is_empty());

    // A failure with an immediate retry makes it due again.
    store
        .mirror_failed(id, "store said 503", chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(store.pending_mirrors(10).await.unwrap().len(), 1);
    store
        .mirror_failed(id, "store said 503 again", chrono::Duration::hours(1))
        .await
        .unwrap();
    assert!(store.pending_mirrors(10).await.unwrap().is_empty());

    store.mark_mirrored(id).await.unwrap();
    assert!(store.get(id).await.unwrap().mirrored_at.is_some());
    exec(
        &db,
        "UPDATE assets SET mirror_next_at = now() - interval '1 hour'",
    )
    .await;
    assert!(store.pending_mirrors(10).await.unwrap().is_empty());
    assert_eq!(
        crate::query_text(&db, "SELECT count(*)::text AS v FROM asset_blobs").await,
        vec!["0"]
    );
    assert_eq!(
        crate::query_text(&db, "SELECT mirror_attempts::text AS v FROM assets").await,
        vec!["2"]
    );

    // Deleted assets still read back, with their deletion time.
    exec(
        &db,
        &format!("UPDATE assets SET deleted_at = now() WHERE id = '{id}'"),
    )
    .await;
    assert!(store.get(id).await.unwrap().deleted_at.is_some());

    assert!(matches!(
        store.get(Uuid::now_v7()).await,
        Err(RetentionError::NotFound)
    ));
    assert!(matches!(
        store.mark_mirrored(Uuid::now_v7()).await,
        Err(RetentionError::NotFound)
    ));
    assert!(matches!(
        store
            .mirror_failed(Uuid::now_v7(), "x", chrono::Duration::zero())
            .await,
        Err(RetentionError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mirror_claims_never_overlap() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    for _ in 0..12 {
        store
            .commit(CommitRequest {
                charge: charge(account.id, dec!(0.01)),
                hold: None,
                asset: Some(unmirrored(account.id, b"abc")),
                idempotency: None,
            })
            .await
            .unwrap();
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        set.spawn(async move { store.pending_mirrors(5).await.unwrap() });
    }
    let mut seen = std::collections::HashSet::new();
    while let Some(batch) = set.join_next().await {
        for p in batch.unwrap() {
            assert!(seen.insert(p.asset_id), "asset handed out twice");
        }
    }
    assert_eq!(seen.len(), 12);
}

#[tokio::test]
async fn in_flight_uploads_are_confirmed_in_batches_or_checked_after_their_lease() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut asset = unmirrored(account.id, b"abc");
        asset.mirror = Mirror::InFlight;
        ids.push(asset.id);
        let mut c = charge(account.id, dec!(0.01));
        c.asset_id = Some(asset.id);
        store
            .commit(CommitRequest {
                charge: c,
                hold: None,
                asset: Some(asset),
                idempotency: None,
            })
            .await
            .unwrap();
    }
    // In flight: not offered to the retrier while the lease runs.
    assert!(store.pending_mirrors(10).await.unwrap().is_empty());
    assert_eq!(store.mark_mirrored_many(&ids[..2]).await.unwrap(), 2);
    assert!(store.get(ids[0]).await.unwrap().mirrored_at.is_some());
    assert!(store.get(ids[2]).await.unwrap().mirrored_at.is_none());

    // The uploader failed: it keeps the bytes, and the retrier gets them at once.
    store
        .keep_for_retry(ids[2], Bytes::from_static(b"xyz"))
        .await
        .unwrap();
    let pending = store.pending_mirrors(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].bytes.as_deref(), Some(&b"xyz"[..]));

    // A lost upload stops being retried.
    store.mirror_lost(ids[2], "never arrived").await.unwrap();
    exec(&db, &format!("UPDATE assets SET mirror_next_at = now() - interval '1 hour' WHERE id = '{}' AND mirror_next_at IS NOT NULL", ids[2])).await;
    assert!(store.pending_mirrors(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn recorded_uploads_need_no_charge_and_keep_pending_bytes_for_the_retrier() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(0)).await;

    // Uploaded already: recorded as mirrored, nothing for the retrier.
    let mut done = unmirrored(account.id, b"RIFFdone");
    done.class = AssetClass::VoiceCloneRecording;
    done.mirror = Mirror::Done;
    done.resemble_url = None;
    store.record(&done).await.unwrap();
    let stored = store.get(done.id).await.unwrap();
    assert_eq!(stored.account, account.id);
    assert_eq!(stored.class, AssetClass::VoiceCloneRecording);
    assert_eq!(stored.object_key, done.object_key);
    assert_eq!(stored.size_bytes, 8);
    assert!(stored.expires_at.is_none() && stored.resemble_url.is_none());
    assert!(stored.mirrored_at.is_some());
    assert!(store.pending_mirrors(10).await.unwrap().is_empty());

    // The upload failed: the bytes are kept and offered to the retrier.
    let mut pending = unmirrored(account.id, b"RIFFkept");
    pending.expires_at = Some(chrono::Utc::now() + chrono::Duration::days(30));
    store.record(&pending).await.unwrap();
    assert!(store.get(pending.id).await.unwrap().mirrored_at.is_none());
    let due = store.pending_mirrors(10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].asset_id, pending.id);
    assert_eq!(due[0].object_key, pending.object_key);
    assert_eq!(due[0].bytes.as_deref().unwrap(), b"RIFFkept");
    store.mark_mirrored(pending.id).await.unwrap();
    assert_eq!(
        crate::query_text(&db, "SELECT count(*)::text AS v FROM asset_blobs").await,
        vec!["0"]
    );

    // No money moved, no usage row.
    assert_eq!(
        crate::query_text(
            &db,
            "SELECT count(*)::text AS v FROM provider_resemble_usage"
        )
        .await,
        vec!["0"]
    );
    assert_eq!(
        crate::query_text(&db, "SELECT count(*)::text AS v FROM ledger_entries").await,
        vec!["0"]
    );

    // The same id twice is refused.
    assert!(matches!(
        store.record(&done).await,
        Err(RetentionError::Records(_))
    ));
}
