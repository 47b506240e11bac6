//! Commits without a hold: exact debits, refusals that write nothing, duplicate detection,
//! the atomic idempotency completion, and concurrent commits.

use std::sync::Arc;

use indox_billing::{BillingError, CommitRequest, IdempotencyFinish, UsageLedger};
use indox_core::AccountId;
use indox_idempotency::{BeginOutcome, Fingerprint, IdempotencyKey, IdempotencyStore};
use indox_retention::{AssetClass, AssetRepository, NewAsset, RetentionError};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use crate::{assert_ledger_consistent, charge, funded, rendered, setup, TestRenderer};

fn plain(c: indox_billing::NewCharge) -> CommitRequest {
    CommitRequest {
        charge: c,
        hold: None,
        asset: None,
        idempotency: None,
    }
}

fn asset_for(account: AccountId) -> NewAsset {
    let id = Uuid::now_v7();
    NewAsset {
        id,
        account,
        class: AssetClass::TtsOutput,
        object_key: format!("tts-output/{account}/2026/01/01/{id}.mp3"),
        content_type: "audio/mpeg".into(),
        size_bytes: 3,
        sha256: [7; 32],
        duration_ms: Some(1_680),
        created_at: chrono::Utc::now(),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::days(7)),
        resemble_url: None,
        mirror: indox_retention::Mirror::Done,
    }
}

#[tokio::test]
async fn commit_debits_exactly_and_reads_the_row_back() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(1.00)).await;
    let mut c = charge(account.id, dec!(0.00100800));
    c.job_id = Some(Uuid::now_v7());
    c.upstream_quantity = Some(dec!(2.016));
    let committed = store.commit(plain(c.clone())).await.unwrap();
    assert!(committed.response.is_none());
    let u = &committed.usage;
    assert_eq!(u.id, c.usage_id);
    assert_eq!(u.account, account.id);
    assert_eq!(u.request_id, c.request_id.to_string());
    assert_eq!(u.job_id, c.job_id);
    assert_eq!(u.capability, "tts");
    assert_eq!(u.unit, "audio_second");
    assert_eq!(u.quantity, c.quote.quantity);
    assert_eq!(u.quantity.to_string(), "2.016");
    assert_eq!(u.upstream_quantity, Some(dec!(2.016)));
    assert_eq!(u.unit_price, dec!(0.0005));
    assert_eq!(u.provider_cost, c.quote.provider_cost);
    assert_eq!(u.markup_rate, dec!(0));
    assert_eq!(u.markup, dec!(0));
    assert_eq!(u.charged, dec!(0.00100800));
    assert_eq!(u.charged.to_string(), "0.00100800");
    assert_eq!(u.currency, "USD");

    assert_eq!(store.get_usage(u.id).await.unwrap().as_ref(), Some(u));
    assert_eq!(store.get_usage(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        store.usage_rows_for_account(account.id).await.unwrap(),
        vec![u.clone()]
    );

    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(acct.balance, dec!(0.99899200));
}

#[tokio::test]
async fn insufficient_funds_write_nothing() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(0.05)).await;
    let err = store
        .commit(plain(charge(account.id, dec!(0.10))))
        .await
        .unwrap_err();
    match err {
        BillingError::InsufficientFunds {
            required,
            available,
        } => {
            assert_eq!(required, dec!(0.10));
            assert_eq!(available, dec!(0.05));
        }
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }
    assert!(store
        .usage_rows_for_account(account.id)
        .await
        .unwrap()
        .is_empty());
    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(acct.balance, dec!(0.05));

    let nobody = AccountId::new();
    assert!(matches!(
        store.commit(plain(charge(nobody, dec!(0.10)))).await,
        Err(BillingError::AccountNotFound)
    ));
}

#[tokio::test]
async fn a_repeated_request_or_job_is_already_billed() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    let first = charge(account.id, dec!(0.10));
    store.commit(plain(first.clone())).await.unwrap();

    let mut again = charge(account.id, dec!(0.10));
    again.request_id = first.request_id;
    assert!(matches!(
        store.commit(plain(again)).await,
        Err(BillingError::AlreadyBilled)
    ));

    let job = Uuid::now_v7();
    let mut by_job = charge(account.id, dec!(0.10));
    by_job.job_id = Some(job);
    store.commit(plain(by_job)).await.unwrap();
    let mut same_job = charge(account.id, dec!(0.10));
    same_job.job_id = Some(job);
    // Also inside a transaction (with an asset): nothing of it may remain.
    let asset = asset_for(account.id);
    let asset_id = asset.id;
    let req = CommitRequest {
        charge: same_job,
        hold: None,
        asset: Some(asset),
        idempotency: None,
    };
    assert!(matches!(
        store.commit(req).await,
        Err(BillingError::AlreadyBilled)
    ));
    assert!(matches!(
        store.get(asset_id).await,
        Err(RetentionError::NotFound)
    ));

    assert_eq!(
        store
            .usage_rows_for_account(account.id)
            .await
            .unwrap()
            .len(),
        2
    );
    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(acct.balance, dec!(0.80));
}

#[tokio::test]
async fn the_idempotency_completion_is_part_of_the_commit() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(0.15)).await;
    let fp = Fingerprint::of("POST", "/v1/tts", b"{\"text\":\"hi\"}");

    // Success: the key is completed with the rendered response, atomically with the row.
    let key = IdempotencyKey::parse("order-1").unwrap();
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Started
    );
    let asset = asset_for(account.id);
    let asset_id = asset.id;
    let mut c = charge(account.id, dec!(0.10));
    c.asset_id = Some(asset_id);
    let req = CommitRequest {
        charge: c,
        hold: None,
        asset: Some(asset),
        idempotency: Some(IdempotencyFinish {
            key: key.clone(),
            renderer: Box::new(TestRenderer),
        }),
    };
    let committed = store.commit(req).await.unwrap();
    let expected = rendered(&committed.usage);
    assert_eq!(committed.response.as_ref(), Some(&expected));
    assert_eq!(committed.usage.asset_id, Some(asset_id));
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Replay(expected)
    );
    let stored = store.get(asset_id).await.unwrap();
    assert!(stored.mirrored_at.is_some());

    // Failure: nothing is written and the key stays in flight.
    let key2 = IdempotencyKey::parse("order-2").unwrap();
    assert_eq!(
        store.begin(account.id, &key2, &fp).await.unwrap(),
        BeginOutcome::Started
    );
    let req = CommitRequest {
        charge: charge(account.id, dec!(0.10)),
        hold: None,
        asset: None,
        idempotency: Some(IdempotencyFinish {
            key: key2.clone(),
            renderer: Box::new(TestRenderer),
        }),
    };
    assert!(matches!(
        store.commit(req).await,
        Err(BillingError::InsufficientFunds { .. })
    ));
    assert_eq!(
        store.begin(account.id, &key2, &fp).await.unwrap(),
        BeginOutcome::InFlight
    );
    assert_eq!(
        store
            .usage_rows_for_account(account.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // A key that is not in flight (never begun) refuses the whole commit.
    let key3 = IdempotencyKey::parse("order-3").unwrap();
    let req = CommitRequest {
        charge: charge(account.id, dec!(0.01)),
        hold: None,
        asset: None,
        idempotency: Some(IdempotencyFinish {
            key: key3,
            renderer: Box::new(TestRenderer),
        }),
    };
    assert!(matches!(
        store.commit(req).await,
        Err(BillingError::Store(_))
    ));
    assert_eq!(
        store
            .usage_rows_for_account(account.id)
            .await
            .unwrap()
            .len(),
        1
    );

    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(acct.balance, dec!(0.05));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_never_overdraw() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(2.00)).await;
    let store = Arc::new(store);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        let c = charge(account.id, dec!(0.10));
        set.spawn(async move { store.commit(plain(c)).await });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(res) = set.join_next().await {
        match res.unwrap() {
            Ok(_) => ok += 1,
            Err(BillingError::InsufficientFunds {
                required,
                available,
            }) => {
                assert_eq!(required, dec!(0.10));
                assert!(available < required);
                refused += 1;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((ok, refused), (20, 30));
    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(acct.balance, Decimal::ZERO);
    assert_eq!(
        store
            .usage_rows_for_account(account.id)
            .await
            .unwrap()
            .len(),
        20
    );
}
