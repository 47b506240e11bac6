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
    /// Whether the account brings its own Resemble key (BYOK).
    pub byok: bool,
}

impl Account {
    /// What the account can still spend: balance minus open holds.
    pub fn available(&self) -> Decimal {
        self.balance - self.held
    }
}

/// One page of accounts, oldest first (the admin listing).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPage {
    pub items: Vec<Account>,
    /// How many accounts exist in all.
    pub total: u64,
}

/// A key as an operator may see it: its public id and metadata, never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    pub key_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The outcome of a top-up that carries a reference.
#[derive(Debug, Clone, PartialEq)]
pub enum ReferencedTopUp {
    /// The reference was new: the account was credited (the account after it).
    Applied(Account),
    /// A top-up with this reference was already applied, for `amount`; nothing was credited
    /// now (the account as it is now).
    AlreadyApplied { account: Account, amount: Decimal },
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

    /// Page `page` (from 1) of `page_size` accounts, oldest first, with the total count.
    async fn list_accounts(&self, page: u32, page_size: u32) -> Result<AccountPage, AccountError>;

    /// The keys of an account, oldest first (empty for an unknown account).
    async fn list_keys(&self, account: AccountId) -> Result<Vec<KeySummary>, AccountError>;

    /// [`top_up`](Self::top_up) at most once per `(account, reference)`: the reference, the
    /// balance change and its ledger entry are written atomically, and a repeat credits
    /// nothing and reports the amount the reference was first used with.
    ///
    /// # Errors
    /// MUST return [`AccountError::AccountNotFound`] when the account does not exist.
    async fn top_up_once(
        &self,
        account: AccountId,
        amount: Decimal,
        note: &str,
        reference: &str,
    ) -> Result<ReferencedTopUp, AccountError>;
}
