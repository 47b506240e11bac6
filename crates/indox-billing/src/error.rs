//! The one error enum of the billing crate.

use rust_decimal::Decimal;

/// Errors from pricing or the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BillingError {
    /// The price book has no entry for a capability.
    #[error("no price for capability `{0}`")]
    NoPrice(String),
    /// The price book text is invalid.
    #[error("invalid price book: {0}")]
    InvalidPriceBook(String),
    /// A markup rate outside 0..=10 (0 % to 1000 %).
    #[error("markup rate {0} is out of range: use a fraction between 0 and 10 (0.20 means 20 %)")]
    InvalidMarkup(Decimal),
    /// The account cannot cover the amount.
    #[error("insufficient balance: {required} needed, {available} available")]
    InsufficientFunds {
        required: Decimal,
        available: Decimal,
    },
    /// A usage row for the same account and request or job already exists.
    #[error("this request was already billed")]
    AlreadyBilled,
    /// The account does not exist.
    #[error("account not found")]
    AccountNotFound,
    /// The hold does not exist or was already settled or released.
    #[error("hold not found or already resolved")]
    HoldNotOpen,
    /// No usage row with this id.
    #[error("usage row not found")]
    UsageNotFound,
    /// A refund larger than what is left to refund of a usage row.
    #[error("refund too large: at most {refundable} of this row is left to refund")]
    RefundTooLarge { refundable: Decimal },
    /// An amount that is zero, negative where a credit is needed, or has more than 8 decimals.
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// The ledger store failed; nothing was committed.
    #[error("billing store unavailable: {0}")]
    Store(String),
    /// The connection broke while the charge was being committed, and the store could not be
    /// reached again in time to find out whether it was: usage row `usage_id` may exist.
    #[error("the outcome of charge {usage_id} is unknown: the billing store could not be reached to confirm it")]
    OutcomeUnknown { usage_id: uuid::Uuid },
}
