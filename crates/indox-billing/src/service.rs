//! The billing service: the price book and markup policy over a ledger.

use std::sync::Arc;

use indox_core::Capability;
use rust_decimal::Decimal;

use crate::{BillingError, MarkupPolicy, PriceBook, Pricing, Quote, UsageLedger};

/// Prices requests and checks balances before work starts.
#[derive(Clone)]
pub struct Billing {
    book: Arc<PriceBook>,
    markup: MarkupPolicy,
    ledger: Arc<dyn UsageLedger>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("book", &self.book.version)
            .field("markup", &self.markup)
            .finish()
    }
}

impl Billing {
    /// A billing service.
    pub fn new(book: PriceBook, markup: MarkupPolicy, ledger: Arc<dyn UsageLedger>) -> Self {
        Self {
            book: Arc::new(book),
            markup,
            ledger,
        }
    }

    /// The price book.
    pub fn book(&self) -> &PriceBook {
        &self.book
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn UsageLedger> {
        &self.ledger
    }

    /// Prices `quantity` for an account: its markup override (or the default), and the
    /// platform fee only when it brings its own Resemble key.
    ///
    /// # Errors
    /// As [`Quote::compute`].
    pub fn quote(
        &self,
        capability: Capability,
        quantity: Decimal,
        pricing: impl Into<Pricing>,
    ) -> Result<Quote, BillingError> {
        let pricing = pricing.into();
        let rate = self.markup.rate_for(pricing.markup_override);
        if pricing.byok {
            Quote::compute_byok(&self.book, capability, quantity, rate)
        } else {
            Quote::compute(&self.book, capability, quantity, rate)
        }
    }

    /// Checks, before any upstream call, that `available` covers the estimated quantity.
    ///
    /// # Errors
    /// [`BillingError::InsufficientFunds`] with the estimate as `required`.
    pub fn preflight(
        &self,
        capability: Capability,
        estimated_quantity: Decimal,
        pricing: impl Into<Pricing>,
        available: Decimal,
    ) -> Result<Quote, BillingError> {
        let q = self.quote(capability, estimated_quantity, pricing)?;
        if available < q.charged {
            return Err(BillingError::InsufficientFunds {
                required: q.charged,
                available,
            });
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockUsageLedger;
    use rust_decimal_macros::dec;

    #[test]
    fn preflight_refuses_when_the_estimate_exceeds_the_balance() {
        let billing = Billing::new(
            PriceBook::resemble_default(),
            MarkupPolicy::new(dec!(0.2)).unwrap(),
            Arc::new(MockUsageLedger::new()),
        );
        let ok = billing
            .preflight(Capability::Tts, dec!(10), None, dec!(1))
            .unwrap();
        assert_eq!(ok.charged, dec!(0.00600000));
        let err = billing
            .preflight(Capability::Tts, dec!(10), None, dec!(0.005))
            .unwrap_err();
        assert!(
            matches!(err, BillingError::InsufficientFunds { required, .. } if required == dec!(0.006))
        );
        // A per-account override changes the price.
        let q = billing
            .quote(Capability::Tts, dec!(10), Some(dec!(1)))
            .unwrap();
        assert_eq!(q.charged, dec!(0.01));
    }
}
