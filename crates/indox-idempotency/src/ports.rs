//! The driven port for idempotency-key storage.

use async_trait::async_trait;
use indox_core::AccountId;

use crate::{BeginOutcome, Fingerprint, IdempotencyError, IdempotencyKey};

/// Storage of idempotency keys, scoped per account.
///
/// Completing a key (storing its response) is part of the billing commit, so that the
/// usage row and the stored response appear in the same transaction; see `indox-billing`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically claims `key` for this request or reports what already holds it,
    /// applying [`crate::decide`] to an existing key.
    ///
    /// # Errors
    /// MUST return [`IdempotencyError::Store`] only when storage fails.
    async fn begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<BeginOutcome, IdempotencyError>;

    /// Drops an in-flight key whose request failed without effect, so a retry may run.
    async fn release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> Result<(), IdempotencyError>;
}
