//! The driven port: a store that keeps the sliding logs.

use async_trait::async_trait;

use crate::{Decision, Limit, RateLimitError};

/// One window to check: a key, its limit and the cost of this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCheck {
    pub key: String,
    pub limit: Limit,
    pub cost: u32,
}

/// Where sliding logs live.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Checks every window atomically: the request is admitted into all of them or
    /// into none. Returns one decision per check, in order.
    ///
    /// # Errors
    /// MUST return [`RateLimitError::Store`] when the store cannot answer.
    async fn acquire(&self, checks: &[WindowCheck]) -> Result<Vec<Decision>, RateLimitError>;
}
