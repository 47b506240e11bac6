//! Idempotency keys: start, replay, mismatch, in flight, take-over, release.

use indox_billing::{CommitRequest, IdempotencyFinish, UsageLedger};
use indox_idempotency::{BeginOutcome, Fingerprint, IdempotencyKey, IdempotencyStore};
use rust_decimal_macros::dec;

use crate::{charge, funded, rendered, setup, TestRenderer};

#[tokio::test]
async fn begin_follows_the_decision_rule() {
    let (_db, mut store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    let other_account = funded(&store, dec!(1)).await;
    let key = IdempotencyKey::parse("k-1").unwrap();
    let fp = Fingerprint::of("POST", "/v1/tts", b"a");
    let other_fp = Fingerprint::of("POST", "/v1/tts", b"b");

    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Started
    );
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::InFlight
    );
    assert_eq!(
        store.begin(account.id, &key, &other_fp).await.unwrap(),
        BeginOutcome::Mismatch
    );
    // Keys are scoped per account.
    assert_eq!(
        store
            .begin(other_account.id, &key, &other_fp)
            .await
            .unwrap(),
        BeginOutcome::Started
    );

    // Released keys may be started again.
    store.release(account.id, &key).await.unwrap();
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Started
    );

    // An abandoned key is taken over once the lock timeout has passed.
    store.set_idempotency_lock_timeout(chrono::Duration::milliseconds(300));
    assert_eq!(
        store.idempotency_lock_timeout(),
        chrono::Duration::milliseconds(300)
    );
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::InFlight
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        store.begin(account.id, &key, &other_fp).await.unwrap(),
        BeginOutcome::Mismatch
    );
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Started
    );
    // The take-over renewed the lock.
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::InFlight
    );

    // Completed by a commit: replays, and release no longer removes it.
    let req = CommitRequest {
        charge: charge(account.id, dec!(0.01)),
        hold: None,
        asset: None,
        idempotency: Some(IdempotencyFinish {
            key: key.clone(),
            renderer: Box::new(TestRenderer),
        }),
    };
    let committed = store.commit(req).await.unwrap();
    let expected = rendered(&committed.usage);
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Replay(expected.clone())
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    store.release(account.id, &key).await.unwrap();
    assert_eq!(
        store.begin(account.id, &key, &fp).await.unwrap(),
        BeginOutcome::Replay(expected)
    );
    assert_eq!(
        store.begin(account.id, &key, &other_fp).await.unwrap(),
        BeginOutcome::Mismatch
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_concurrent_begin_starts() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    let key = IdempotencyKey::parse("race").unwrap();
    let fp = Fingerprint::of("POST", "/v1/tts", b"x");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (store, key, fp) = (store.clone(), key.clone(), fp.clone());
        set.spawn(async move { store.begin(account.id, &key, &fp).await.unwrap() });
    }
    let mut started = 0;
    while let Some(outcome) = set.join_next().await {
        match outcome.unwrap() {
            BeginOutcome::Started => started += 1,
            BeginOutcome::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}
