//! The driven port: the usage ledger, where charges, holds and usage rows are written atomically.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_core::{AccountId, RequestId};
use indox_idempotency::{IdempotencyKey, StoredResponse};
use indox_retention::NewAsset;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::{BillingError, Quote};

/// An open reservation of balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HoldId(pub Uuid);

/// A charge to write: the priced quote and where it came from.
#[derive(Debug, Clone)]
pub struct NewCharge {
    pub usage_id: Uuid,
    pub account: AccountId,
    pub request_id: RequestId,
    pub job_id: Option<Uuid>,
    pub quote: Quote,
    /// What the upstream said it served, kept beside our own measurement (`quote.quantity`).
    pub upstream_quantity: Option<Decimal>,
    pub asset_id: Option<Uuid>,
}

/// A row of `provider_resemble_usage`, as read back after the insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub id: Uuid,
    pub account: AccountId,
    pub request_id: String,
    pub job_id: Option<Uuid>,
    pub capability: String,
    pub unit: String,
    pub quantity: Decimal,
    pub upstream_quantity: Option<Decimal>,
    pub unit_price: Decimal,
    pub provider_cost: Decimal,
    pub markup_rate: Decimal,
    pub markup: Decimal,
    pub charged: Decimal,
    pub currency: String,
    pub asset_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Billed on the account's own Resemble key (rule BY2).
    pub byok: bool,
}

/// Turns the committed usage row into the response to keep for idempotent replays.
pub trait ResponseRenderer: Send + Sync {
    /// The response that will be sent for this row.
    fn render(&self, usage: &UsageRecord) -> StoredResponse;
}

/// Completes an `Idempotency-Key` in the same transaction as the charge.
pub struct IdempotencyFinish {
    pub key: IdempotencyKey,
    pub renderer: Box<dyn ResponseRenderer>,
}

impl std::fmt::Debug for IdempotencyFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyFinish")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Everything one billable success writes, in one transaction.
#[derive(Debug)]
pub struct CommitRequest {
    pub charge: NewCharge,
    /// Settle this hold instead of checking the balance.
    pub hold: Option<HoldId>,
    /// The asset the charge produced.
    pub asset: Option<NewAsset>,
    /// The idempotency key to complete.
    pub idempotency: Option<IdempotencyFinish>,
}

/// What a commit wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    pub usage: UsageRecord,
    /// The stored response, when an idempotency key was completed.
    pub response: Option<StoredResponse>,
}

/// The ledger of balances, holds and usage rows.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// Writes the usage row, the balance change and its ledger entry, the asset record and
    /// the idempotency completion, all in one transaction, and reads the usage row back.
    ///
    /// # Errors
    /// - MUST return [`BillingError::InsufficientFunds`] (and write nothing) when there is no
    ///   hold and the available balance (balance − open holds) is below `charged`;
    /// - MUST return [`BillingError::HoldNotOpen`] when the hold is not open;
    /// - MUST return [`BillingError::AlreadyBilled`] when a row with the same account and
    ///   request id (or job id) exists;
    /// - MUST return [`BillingError::Store`] when storage fails, having written nothing.
    ///
    /// A commit with a hold settles it: the hold is released and `charged` is debited even
    /// if it exceeds the hold (the account may go below zero by the estimate's error).
    async fn commit(&self, req: CommitRequest) -> Result<Committed, BillingError>;

    /// Reserves `amount` of the available balance.
    ///
    /// # Errors
    /// MUST return [`BillingError::InsufficientFunds`] when the available balance is lower.
    async fn place_hold(
        &self,
        account: AccountId,
        amount: Decimal,
        request_id: RequestId,
    ) -> Result<HoldId, BillingError>;

    /// Releases a hold without charging.
    async fn release_hold(&self, hold: HoldId) -> Result<(), BillingError>;

    /// The open holds placed more than `older_than` ago (their holder stopped without
    /// settling them, e.g. a process crashed mid-stream).
    async fn stale_holds(&self, older_than: chrono::Duration) -> Result<Vec<HoldId>, BillingError>;

    /// Reads a usage row.
    async fn get_usage(&self, id: Uuid) -> Result<Option<UsageRecord>, BillingError>;

    /// Credits `amount` back to the account of usage row `usage_id` with a `refund` ledger
    /// entry linked to the row; returns the balance after it. The row itself never changes
    /// (B6), and a row's refunds never add up to more than it charged.
    ///
    /// # Errors
    /// [`BillingError::UsageNotFound`], [`BillingError::RefundTooLarge`] (nothing written),
    /// [`BillingError::InvalidAmount`] for a non-positive amount.
    async fn refund(
        &self,
        usage_id: Uuid,
        amount: Decimal,
        note: &str,
    ) -> Result<Decimal, BillingError>;

    /// A signed correction of the balance with an `adjustment` entry; returns the balance
    /// after it. A debit may not take the available balance (balance − holds) below zero.
    ///
    /// # Errors
    /// [`BillingError::InsufficientFunds`] for such a debit, [`BillingError::AccountNotFound`],
    /// [`BillingError::InvalidAmount`] for zero.
    async fn adjust(
        &self,
        account: AccountId,
        amount: Decimal,
        note: &str,
    ) -> Result<Decimal, BillingError>;
}
