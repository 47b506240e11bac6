//! Quotes: quantity × price, plus markup, with every rounding rule applied in one place.
//!
//! The rules (also in `docs/decisions.md`):
//! - R1 quantities of audio are seconds with three decimals, rounded **up** to the next
//!   millisecond (a partial millisecond is a millisecond);
//! - R2 money has [`MONEY_SCALE`] = 8 decimals; `provider_cost = quantity × unit_price`,
//!   which is exact at that scale because prices have at most 5 decimals;
//! - R3 `charged = provider_cost × (1 + markup_rate)`, rounded to 8 decimals half away
//!   from zero; R4 `markup = charged − provider_cost`, so the parts always add up exactly;
//! - R5 the markup rate is a fraction in `0..=10` (0.20 = 20 %), per account or global.

use indox_core::Capability;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::{BillingError, PriceBook, Unit};

/// Decimals kept on money amounts.
pub const MONEY_SCALE: u32 = 8;
/// Decimals kept on audio-second quantities (milliseconds).
pub const QUANTITY_SCALE: u32 = 3;

/// Rule R2/R3: money at 8 decimals, half away from zero, always printed with 8 decimals.
pub fn round_money(amount: Decimal) -> Decimal {
    let mut d = amount.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(MONEY_SCALE);
    d
}

/// Rule R1: whole milliseconds as seconds with three decimals.
pub fn quantity_from_millis(ms: u64) -> Decimal {
    let mut d = Decimal::from(ms) / Decimal::from(1000);
    d.rescale(QUANTITY_SCALE);
    d
}

/// Rule R1 for a quantity that is already a decimal number of seconds: rounded up to the
/// next millisecond.
pub fn quantity_from_seconds(seconds: Decimal) -> Decimal {
    let mut d =
        seconds.round_dp_with_strategy(QUANTITY_SCALE, RoundingStrategy::ToPositiveInfinity);
    d.rescale(QUANTITY_SCALE);
    d
}

/// The markup policy: a global default and optional per-account overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkupPolicy {
    pub default_rate: Decimal,
}

impl MarkupPolicy {
    /// A policy with `default_rate` as the global markup.
    ///
    /// # Errors
    /// [`BillingError::InvalidMarkup`] outside `0..=10`.
    pub fn new(default_rate: Decimal) -> Result<Self, BillingError> {
        validate_markup(default_rate)?;
        Ok(Self { default_rate })
    }

    /// The rate for an account: its override, else the default.
    pub fn rate_for(&self, account_override: Option<Decimal>) -> Decimal {
        account_override.unwrap_or(self.default_rate)
    }
}

/// Rule R5.
///
/// # Errors
/// [`BillingError::InvalidMarkup`] outside `0..=10`.
pub fn validate_markup(rate: Decimal) -> Result<(), BillingError> {
    if rate.is_sign_negative() || rate > Decimal::TEN {
        return Err(BillingError::InvalidMarkup(rate));
    }
    Ok(())
}

/// A priced quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub capability: Capability,
    pub unit: Unit,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub provider_cost: Decimal,
    pub markup_rate: Decimal,
    pub markup: Decimal,
    pub charged: Decimal,
    pub currency: String,
    /// Priced for an account that brings its own Resemble key (rule BY2): no provider cost,
    /// only the platform fee.
    pub byok: bool,
}

/// How an account is priced: its markup override, and whether it brings its own Resemble key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pricing {
    pub markup_override: Option<Decimal>,
    pub byok: bool,
}

impl From<Option<Decimal>> for Pricing {
    fn from(markup_override: Option<Decimal>) -> Self {
        Self {
            markup_override,
            byok: false,
        }
    }
}

impl Quote {
    /// Prices `quantity` units of `capability` at `markup_rate`.
    ///
    /// # Errors
    /// [`BillingError::NoPrice`] for an unpriced capability, [`BillingError::InvalidMarkup`].
    pub fn compute(
        book: &PriceBook,
        capability: Capability,
        quantity: Decimal,
        markup_rate: Decimal,
    ) -> Result<Self, BillingError> {
        validate_markup(markup_rate)?;
        let entry = book.entry(capability)?;
        let provider_cost = round_money(quantity * entry.unit_price);
        let charged = round_money(provider_cost * (Decimal::ONE + markup_rate));
        let markup = charged - provider_cost;
        Ok(Self {
            capability,
            unit: entry.unit,
            quantity,
            unit_price: entry.unit_price,
            provider_cost,
            markup_rate,
            markup,
            charged,
            currency: book.currency.clone(),
            byok: false,
        })
    }

    /// Prices `quantity` for an account that brings its own Resemble key (rule BY2):
    /// Resemble bills that account directly, so `provider_cost` is 0, and the gateway charges
    /// only its platform fee, the markup on the list price:
    /// `charged = markup = round(quantity × unit_price × markup_rate)` (8 decimals, half away
    /// from zero).
    ///
    /// # Errors
    /// As [`Quote::compute`].
    pub fn compute_byok(
        book: &PriceBook,
        capability: Capability,
        quantity: Decimal,
        markup_rate: Decimal,
    ) -> Result<Self, BillingError> {
        validate_markup(markup_rate)?;
        let entry = book.entry(capability)?;
        let charged = round_money(quantity * entry.unit_price * markup_rate);
        Ok(Self {
            capability,
            unit: entry.unit,
            quantity,
            unit_price: entry.unit_price,
            provider_cost: Decimal::ZERO,
            markup_rate,
            markup: charged,
            charged,
            currency: book.currency.clone(),
            byok: true,
        })
    }
}

/// An upper estimate of the audio a text will produce, for balance checks and holds before
/// the upstream answers: one second plus 0.12 s per character (speech runs at roughly
/// 0.06–0.08 s per character, so this leaves a wide margin).
pub fn estimate_tts_millis(text_chars: usize) -> u64 {
    1_000 + 120 * text_chars as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn book() -> PriceBook {
        PriceBook::resemble_default()
    }

    #[test]
    fn rule_r1_quantities_round_up_to_the_millisecond() {
        assert_eq!(quantity_from_millis(1_680).to_string(), "1.680");
        assert_eq!(quantity_from_millis(0).to_string(), "0.000");
        assert_eq!(quantity_from_seconds(dec!(1.0001)).to_string(), "1.001");
        assert_eq!(quantity_from_seconds(dec!(1.000)).to_string(), "1.000");
    }

    #[test]
    fn rule_r2_r3_r4_tts_example() {
        let q = Quote::compute(&book(), Capability::Tts, dec!(1.680), dec!(0.20)).unwrap();
        assert_eq!(q.provider_cost, dec!(0.00084000));
        assert_eq!(q.charged, dec!(0.00100800));
        assert_eq!(q.markup, dec!(0.00016800));
        assert_eq!(q.charged.to_string(), "0.00100800");
        assert_eq!(q.unit, Unit::AudioSecond);
        assert_eq!(q.currency, "USD");
    }

    #[test]
    fn rule_r3_rounds_half_away_from_zero_at_eight_decimals() {
        // 0.001 s × 0.0005 = 0.0000005; × 1.33 = 0.000000665 → 0.00000067 (half away from zero).
        let q = Quote::compute(&book(), Capability::Tts, dec!(0.001), dec!(0.33)).unwrap();
        assert_eq!(q.provider_cost, dec!(0.00000050));
        assert_eq!(q.charged, dec!(0.00000067));
        assert_eq!(q.markup, dec!(0.00000017));
        assert_eq!(round_money(dec!(0.000000005)), dec!(0.00000001));
        assert_eq!(round_money(dec!(-0.000000005)), dec!(-0.00000001));
        assert_eq!(round_money(dec!(0.0000000049)), dec!(0.00000000));
    }

    #[test]
    fn rule_r5_markup_range() {
        assert!(Quote::compute(&book(), Capability::Tts, dec!(1), dec!(-0.01)).is_err());
        assert!(Quote::compute(&book(), Capability::Tts, dec!(1), dec!(10.01)).is_err());
        let zero = Quote::compute(&book(), Capability::Tts, dec!(2), dec!(0)).unwrap();
        assert_eq!(zero.charged, zero.provider_cost);
        assert_eq!(
            MarkupPolicy::new(dec!(0.2))
                .unwrap()
                .rate_for(Some(dec!(0.5))),
            dec!(0.5)
        );
        assert_eq!(
            MarkupPolicy::new(dec!(0.2)).unwrap().rate_for(None),
            dec!(0.2)
        );
    }

    proptest! {
        /// Rule R2 is exact and R4 makes the parts add up, for any millisecond count and markup.
        #[test]
        fn parts_always_add_up(ms in 0u64..10_000_000, markup_bp in 0i64..10_000) {
            let rate = Decimal::new(markup_bp, 4);
            let qty = quantity_from_millis(ms);
            let q = Quote::compute(&book(), Capability::Tts, qty, rate).unwrap();
            prop_assert_eq!(q.provider_cost, qty * dec!(0.0005));
            prop_assert_eq!(q.charged, q.provider_cost + q.markup);
            prop_assert!(q.markup >= Decimal::ZERO);
            prop_assert_eq!(q.charged.scale(), MONEY_SCALE);
            let exact = q.provider_cost * (Decimal::ONE + rate);
            prop_assert!((q.charged - exact).abs() <= dec!(0.000000005));
        }
    }

    #[test]
    fn byok_rows_carry_no_provider_cost_and_the_markup_as_the_fee() {
        // BY2: 12.345 s of TTS at 0.0005/s with 20 %: list cost 0.0061725, fee 0.0012345.
        let q = Quote::compute_byok(&book(), Capability::Tts, dec!(12.345), dec!(0.2)).unwrap();
        assert!(q.byok);
        assert_eq!(q.provider_cost, dec!(0));
        assert_eq!(q.charged, dec!(0.00123450));
        assert_eq!(q.markup, q.charged);
        // Rounded half away from zero at 8 decimals, like R3.
        let q = Quote::compute_byok(&book(), Capability::Tts, dec!(0.001), dec!(0.15)).unwrap();
        assert_eq!(q.charged, dec!(0.00000008));
        // A zero markup means a zero fee.
        let q = Quote::compute_byok(&book(), Capability::Tts, dec!(100), dec!(0)).unwrap();
        assert_eq!(q.charged, dec!(0));
    }
}
