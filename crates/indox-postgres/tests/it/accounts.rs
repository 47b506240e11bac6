//! Accounts, keys and top-ups.

use indox_accounts::key::{GeneratedKey, SecretHash};
use indox_accounts::{AccountError, AccountRepository};
use indox_core::AccountId;
use rust_decimal_macros::dec;

use crate::{assert_ledger_consistent, setup};

#[tokio::test]
async fn keys_are_found_with_their_account_and_can_be_revoked() {
    let (_db, store) = setup().await;
    let account = store
        .create_account("acme", Some(dec!(0.25)))
        .await
        .unwrap();
    assert_eq!(account.balance, dec!(0));
    assert_eq!(account.markup_rate, Some(dec!(0.25)));
    let key = GeneratedKey::generate();
    store
        .create_key(account.id, key.key_id(), key.secret_hash(), "ci")
        .await
        .unwrap();

    let found = store.find_key(key.key_id()).await.unwrap().unwrap();
    assert_eq!(found.key_id, key.key_id());
    assert_eq!(&found.secret_hash, key.secret_hash());
    assert!(!found.revoked);
    assert_eq!(found.account, account);

    assert!(store.find_key("0000000000000000").await.unwrap().is_none());

    store.revoke_key(key.key_id()).await.unwrap();
    assert!(store.find_key(key.key_id()).await.unwrap().unwrap().revoked);
    store.revoke_key(key.key_id()).await.unwrap(); // twice is fine
    assert!(matches!(
        store.revoke_key("ffffffffffffffff").await,
        Err(AccountError::UnknownKey)
    ));
}

#[tokio::test]
async fn missing_accounts_are_reported() {
    let (_db, store) = setup().await;
    let nobody = AccountId::new();
    assert!(matches!(
        store.get_account(nobody).await,
        Err(AccountError::AccountNotFound)
    ));
    let hash = SecretHash::of("whatever-secret-value");
    assert!(matches!(
        store
            .create_key(nobody, "0123456789abcdef", &hash, "")
            .await,
        Err(AccountError::AccountNotFound)
    ));
    assert!(matches!(
        store.top_up(nobody, dec!(1), "").await,
        Err(AccountError::AccountNotFound)
    ));
    assert!(matches!(
        store.set_markup(nobody, None).await,
        Err(AccountError::AccountNotFound)
    ));
}

#[tokio::test]
async fn markup_override_is_set_and_cleared() {
    let (_db, store) = setup().await;
    let account = store.create_account("acme", None).await.unwrap();
    assert_eq!(
        store
            .set_markup(account.id, Some(dec!(0.5)))
            .await
            .unwrap()
            .markup_rate,
        Some(dec!(0.5))
    );
    assert_eq!(
        store.get_account(account.id).await.unwrap().markup_rate,
        Some(dec!(0.5))
    );
    assert_eq!(
        store
            .set_markup(account.id, None)
            .await
            .unwrap()
            .markup_rate,
        None
    );
}

#[tokio::test]
async fn top_ups_credit_the_balance_with_a_ledger_entry() {
    let (_db, store) = setup().await;
    let account = store.create_account("acme", None).await.unwrap();
    let after = store
        .top_up(account.id, dec!(2.5), "invoice 1")
        .await
        .unwrap();
    assert_eq!(after.balance, dec!(2.5));
    let after = store
        .top_up(account.id, dec!(1.25), "invoice 2")
        .await
        .unwrap();
    assert_eq!(after.balance, dec!(3.75));
    assert_eq!(after.available(), dec!(3.75));
    assert!(matches!(
        store.top_up(account.id, dec!(0), "").await,
        Err(AccountError::NonPositiveAmount)
    ));
    assert!(matches!(
        store.top_up(account.id, dec!(-1), "").await,
        Err(AccountError::NonPositiveAmount)
    ));
    let acct = assert_ledger_consistent(&store, account.id).await;
    assert_eq!(acct.balance, dec!(3.75));
    assert_eq!(
        store.ledger_sum(account.id).await.unwrap(),
        (dec!(3.75), dec!(0))
    );
}
