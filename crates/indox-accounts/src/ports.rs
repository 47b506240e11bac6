//! The driven port for account and key storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_core::AccountId;
use rust_decimal::Decimal;

use crate::key::SecretHash;
use crate::AccountError;

/// An account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// The sum of the account's ledger entries (top-ups minus charges).
    pub balance: Decimal,
    /// The sum of the account's open holds.
    pub held: Decimal,
    /// Per-account markup override; `None` means the global default applies.
    pub markup_rate: Option<Decimal>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// What the account can still spend: balance minus open holds.
    pub fn available(&self) -> Decimal {
        self.balance - self.held
    }
}

/// A stored key joined with its account, as the authenticator needs it.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub key_id: String,
    pub secret_hash: SecretHash,
    pub revoked: bool,
    pub account: Account,
}

/// Storage of accounts and keys.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Looks a key up by its public id, with its account.
    ///
    /// # Errors
    /// MUST return `Ok(None)` for an unknown id and [`AccountError::Store`] only when storage fails.
    async fn find_key(&self, key_id: &str) -> Result<Option<StoredKey>, AccountError>;

    /// Creates an account with a zero balance.
    async fn create_account(
        &self,
        name: &str,
        markup_rate: Option<Decimal>,
    ) -> Result<Account, AccountError>;

    /// Reads an account.
    ///
    /// # Errors
    /// MUST return [`AccountError::AccountNotFound`] when it does not exist.
    async fn get_account(&self, id: AccountId) -> Result<Account, AccountError>;

    /// Stores a key's hash for an account.
    ///
    /// # Errors
    /// MUST return [`AccountError::AccountNotFound`] when the account does not exist.
    async fn create_key(
        &self,
        account: AccountId,
        key_id: &str,
        secret_hash: &SecretHash,
        label: &str,
    ) -> Result<(), AccountError>;

    /// Revokes a key; later lookups report it as revoked.
    ///
    /// # Errors
    /// MUST return [`AccountError::UnknownKey`] when no such key exists.
    async fn revoke_key(&self, key_id: &str) -> Result<(), AccountError>;

    /// Adds `amount` to the balance with a `top_up` ledger entry, atomically.
    ///
    /// # Errors
    /// MUST return [`AccountError::AccountNotFound`] when the account does not exist.
    async fn top_up(
        &self,
        account: AccountId,
        amount: Decimal,
        note: &str,
    ) -> Result<Account, AccountError>;

    /// Sets or clears the per-account markup override.
    async fn set_markup(
        &self,
        account: AccountId,
        markup_rate: Option<Decimal>,
    ) -> Result<Account, AccountError>;
}
