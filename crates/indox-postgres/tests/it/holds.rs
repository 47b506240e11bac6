//! Holds: placing, settling through a commit, releasing.

use indox_accounts::AccountRepository;
use indox_billing::{BillingError, CommitRequest, HoldId, UsageLedger};
use indox_core::RequestId;
use rust_decimal_macros::dec;
use uuid::Uuid;

use crate::{assert_ledger_consistent, charge, funded, setup};

#[tokio::test]
async fn holds_reserve_settle_and_release() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(1.00)).await;

    let hold = store
        .place_hold(account.id, dec!(0.30), RequestId::new())
        .await
        .unwrap();
    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(
        (acct.balance, acct.held, acct.available()),
        (dec!(1.00), dec!(0.30), dec!(0.70))
    );

    match store
        .place_hold(account.id, dec!(0.80), RequestId::new())
        .await
    {
        Err(BillingError::InsufficientFunds {
            required,
            available,
        }) => {
            assert_eq!((required, available), (dec!(0.80), dec!(0.70)));
        }
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }
    // A commit without the hold sees only the available amount.
    assert!(matches!(
        store
            .commit(CommitRequest {
                charge: charge(account.id, dec!(0.75)),
                hold: None,
                asset: None,
                idempotency: None
            })
            .await,
        Err(BillingError::InsufficientFunds { .. })
    ));

    // Settling charges the real cost, even above the hold.
    let settled = store
        .commit(CommitRequest {
            charge: charge(account.id, dec!(0.35)),
            hold: Some(hold),
            asset: None,
            idempotency: None,
        })
        .await
        .unwrap();
    assert_eq!(settled.usage.charged, dec!(0.35));
    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!((acct.balance, acct.held), (dec!(0.65), dec!(0)));

    // A settled hold cannot be used or released again.
    assert!(matches!(
        store
            .commit(CommitRequest {
                charge: charge(account.id, dec!(0.01)),
                hold: Some(hold),
                asset: None,
                idempotency: None
            })
            .await,
        Err(BillingError::HoldNotOpen)
    ));
    assert!(matches!(
        store.release_hold(hold).await,
        Err(BillingError::HoldNotOpen)
    ));

    let second = store
        .place_hold(account.id, dec!(0.20), RequestId::new())
        .await
        .unwrap();
    assert_eq!(
        store.get_account(account.id).await.unwrap().held,
        dec!(0.20)
    );
    store.release_hold(second).await.unwrap();
    assert!(matches!(
        store.release_hold(second).await,
        Err(BillingError::HoldNotOpen)
    ));
    assert!(matches!(
        store.release_hold(HoldId(Uuid::now_v7())).await,
        Err(BillingError::HoldNotOpen)
    ));

    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!((acct.balance, acct.held), (dec!(0.65), dec!(0)));
    assert_eq!(
        store
            .usage_rows_for_account(account.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // The entries, in order: the settle comes before its charge, and every entry carries
    // the balance and held amounts after it.
    let entries = crate::query_text(
        &db,
        "SELECT kind || ' ' || amount || ' ' || balance_after || ' ' || held_after AS v \
         FROM ledger_entries ORDER BY id",
    )
    .await;
    assert_eq!(
        entries,
        vec![
            "top_up 1.00000000 1.00000000 0.00000000",
            "hold 0.30000000 1.00000000 0.30000000",
            "settle -0.30000000 1.00000000 0.00000000",
            "charge -0.35000000 0.65000000 0.00000000",
            "hold 0.20000000 0.65000000 0.20000000",
            "release -0.20000000 0.65000000 0.00000000",
        ]
    );
}

#[tokio::test]
async fn a_hold_of_another_account_is_not_open_for_this_one() {
    let (_db, store) = setup().await;
    let a = funded(&store, dec!(1)).await;
    let b = funded(&store, dec!(1)).await;
    let hold = store
        .place_hold(a.id, dec!(0.5), RequestId::new())
        .await
        .unwrap();
    assert!(matches!(
        store
            .commit(CommitRequest {
                charge: charge(b.id, dec!(0.1)),
                hold: Some(hold),
                asset: None,
                idempotency: None
            })
            .await,
        Err(BillingError::HoldNotOpen)
    ));
    assert_ledger_consistent(&store, a.id).await;
    assert_ledger_consistent(&store, b.id).await;
}
