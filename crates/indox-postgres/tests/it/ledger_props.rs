//! A property test of the ledger (rule B6): random mixes of top-ups, commits, holds, releases
//! and settlements run concurrently on the real database, and afterwards every account's
//! balance and held amount equal both the sums of its ledger entries and a model built from
//! the operations that succeeded; an account never spends more than it had.

use std::sync::Arc;

use futures_util::future::join_all;
use indox_accounts::AccountRepository;
use indox_billing::{BillingError, CommitRequest, HoldId, UsageLedger};
use indox_core::{AccountId, RequestId};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::{assert_ledger_consistent, charge, funded};

/// One operation; amounts are in cents of a cent (1e-4 USD) so they stay exact.
#[derive(Debug, Clone)]
enum Op {
    TopUp(i64),
    /// A commit without a hold (refused when the available balance is short).
    Charge(i64),
    /// A hold, then its release.
    HoldRelease(i64),
    /// A hold, then a commit settling it for at most the held amount.
    HoldSettle(i64, i64),
}

fn op() -> impl Strategy<Value = (usize, Op)> {
    let amount = 1i64..20_000;
    (
        0usize..2,
        prop_oneof![
            amount.clone().prop_map(Op::TopUp),
            amount.clone().prop_map(Op::Charge),
            amount.clone().prop_map(Op::HoldRelease),
            (amount, 0i64..=100).prop_map(|(a, pct)| Op::HoldSettle(a, a * pct / 100)),
        ],
    )
}

fn usd(units: i64) -> Decimal {
    Decimal::new(units, 4)
}

/// What an operation changed if it succeeded: (balance delta, held delta after it ended).
async fn apply(store: Arc<indox_postgres::PgStore>, account: AccountId, op: Op) -> Decimal {
    match op {
        Op::TopUp(a) => {
            store.top_up(account, usd(a), "prop").await.unwrap();
            usd(a)
        }
        Op::Charge(a) => match store
            .commit(CommitRequest {
                charge: charge(account, usd(a)),
                hold: None,
                asset: None,
                idempotency: None,
            })
            .await
        {
            Ok(_) => -usd(a),
            Err(BillingError::InsufficientFunds { .. }) => Decimal::ZERO,
            Err(e) => panic!("commit failed: {e}"),
        },
        Op::HoldRelease(a) => match store.place_hold(account, usd(a), RequestId::new()).await {
            Ok(h) => {
                store.release_hold(h).await.unwrap();
                Decimal::ZERO
            }
            Err(BillingError::InsufficientFunds { .. }) => Decimal::ZERO,
            Err(e) => panic!("hold failed: {e}"),
        },
        Op::HoldSettle(a, settle) => {
            let hold: HoldId = match store.place_hold(account, usd(a), RequestId::new()).await {
                Ok(h) => h,
                Err(BillingError::InsufficientFunds { .. }) => return Decimal::ZERO,
                Err(e) => panic!("hold failed: {e}"),
            };
            let settle = settle.max(1);
            store
                .commit(CommitRequest {
                    charge: charge(account, usd(settle)),
                    hold: Some(hold),
                    asset: None,
                    idempotency: None,
                })
                .await
                .unwrap();
            -usd(settle)
        }
    }
}

#[test]
fn balances_equal_their_ledger_entries_under_concurrent_operations() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, store) = rt.block_on(crate::setup());
    let store = Arc::new(store);
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..40), start in 0i64..30_000)| {
        rt.block_on(async {
            let accounts = [
                funded(&store, usd(start)).await.id,
                funded(&store, usd(start / 2)).await.id,
            ];
            let tasks = ops.iter().cloned().map(|(who, op)| {
                let store = store.clone();
                let account = accounts[who];
                tokio::spawn(async move { (who, apply(store, account, op).await) })
            });
            let mut expected = [usd(start), usd(start / 2)];
            for r in join_all(tasks).await {
                let (who, delta) = r.unwrap();
                expected[who] += delta;
            }
            for (i, account) in accounts.iter().enumerate() {
                let acct = assert_ledger_consistent(&store, *account).await;
                assert_eq!(acct.balance, expected[i], "balance follows the successful operations");
                assert_eq!(acct.held, Decimal::ZERO, "every hold was released or settled");
                assert!(acct.balance >= Decimal::ZERO, "no account spent more than it had");
                let again = store.get_account(*account).await.unwrap();
                assert_eq!(again.balance, acct.balance);
            }
        });
    });
    drop(db);
}
