//! The price book: per capability, the billing unit and the provider's price per unit, as data.

use std::collections::BTreeMap;

use indox_core::Capability;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::BillingError;

/// The unit a capability is billed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// One second of audio (quantities carry milliseconds: three decimals).
    AudioSecond,
    /// One image.
    Image,
    /// One second of video (quantities carry milliseconds).
    VideoSecond,
    /// One search.
    Search,
    /// One voice for one month.
    VoiceMonth,
}

impl Unit {
    /// The stable name stored in `provider_resemble_usage.unit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AudioSecond => "audio_second",
            Self::Image => "image",
            Self::VideoSecond => "video_second",
            Self::Search => "search",
            Self::VoiceMonth => "voice_month",
        }
    }
}

/// One row of the price book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceEntry {
    pub capability: Capability,
    pub unit: Unit,
    /// The provider's price for one unit, in the book's currency.
    pub unit_price: Decimal,
    /// The key of this unit in the upstream's `billing_usage` report (for reconciliation).
    pub upstream_unit: String,
}

#[derive(Deserialize)]
struct RawBook {
    currency: String,
    version: String,
    entries: Vec<PriceEntry>,
}

/// The price book in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBook {
    pub currency: String,
    pub version: String,
    entries: BTreeMap<Capability, PriceEntry>,
}

/// The highest number of decimals a unit price may have, so that
/// quantity (3 decimals) × price always fits the money scale (8 decimals) exactly.
pub const MAX_PRICE_SCALE: u32 = 5;

impl PriceBook {
    /// The book shipped with the gateway (Resemble's Flex pay-as-you-go prices).
    pub fn resemble_default() -> Self {
        // The embedded book is checked by a unit test, so this cannot fail at run time;
        // an empty book (every request refused with "no price") would be the fallback.
        Self::from_json(include_str!("../price_book.json")).unwrap_or_else(|_| Self {
            currency: "USD".into(),
            version: "empty".into(),
            entries: BTreeMap::new(),
        })
    }

    /// Parses a price book.
    ///
    /// # Errors
    /// [`BillingError::InvalidPriceBook`] for bad JSON, duplicate capabilities, or prices
    /// that are negative or have more than [`MAX_PRICE_SCALE`] decimals.
    pub fn from_json(text: &str) -> Result<Self, BillingError> {
        let raw: RawBook = serde_json::from_str(text)
            .map_err(|e| BillingError::InvalidPriceBook(e.to_string()))?;
        let mut entries = BTreeMap::new();
        for e in raw.entries {
            if e.unit_price.is_sign_negative() {
                return Err(BillingError::InvalidPriceBook(format!(
                    "{}: negative price",
                    e.capability
                )));
            }
            if e.unit_price.normalize().scale() > MAX_PRICE_SCALE {
                return Err(BillingError::InvalidPriceBook(format!(
                    "{}: price {} has more than {MAX_PRICE_SCALE} decimals",
                    e.capability, e.unit_price
                )));
            }
            let cap = e.capability;
            if entries.insert(cap, e).is_some() {
                return Err(BillingError::InvalidPriceBook(format!(
                    "{cap}: listed twice"
                )));
            }
        }
        if raw.currency.len() != 3 {
            return Err(BillingError::InvalidPriceBook(
                "currency must be a 3-letter code".into(),
            ));
        }
        Ok(Self {
            currency: raw.currency,
            version: raw.version,
            entries,
        })
    }

    /// The entry for a capability.
    ///
    /// # Errors
    /// [`BillingError::NoPrice`] when the capability is not priced.
    pub fn entry(&self, c: Capability) -> Result<&PriceEntry, BillingError> {
        self.entries
            .get(&c)
            .ok_or_else(|| BillingError::NoPrice(c.to_string()))
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = &PriceEntry> {
        self.entries.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn shipped_book_parses_and_prices_tts_at_half_a_milli_dollar() {
        let book = PriceBook::from_json(include_str!("../price_book.json")).unwrap();
        let tts = book.entry(Capability::Tts).unwrap();
        assert_eq!(tts.unit, Unit::AudioSecond);
        assert_eq!(tts.unit_price, dec!(0.0005));
        assert_eq!(tts.upstream_unit, "synth");
        assert_eq!(book.currency, "USD");
        assert_eq!(
            book.entry(Capability::IdentitySearch).unwrap().unit,
            Unit::Search
        );
        assert!(
            book.entry(Capability::Voices).is_err(),
            "listing voices is free"
        );
    }

    #[test]
    fn rejects_bad_books() {
        let bad = [
            r#"{"currency":"USD","version":"x","entries":[{"capability":"tts","unit":"audio_second","unit_price":"-1","upstream_unit":"synth"}]}"#,
            r#"{"currency":"USD","version":"x","entries":[{"capability":"tts","unit":"audio_second","unit_price":"0.000001","upstream_unit":"synth"}]}"#,
            r#"{"currency":"USD","version":"x","entries":[{"capability":"tts","unit":"audio_second","unit_price":"1","upstream_unit":"a"},{"capability":"tts","unit":"audio_second","unit_price":"1","upstream_unit":"a"}]}"#,
            r#"{"currency":"DOLLARS","version":"x","entries":[]}"#,
            r#"not json"#,
        ];
        for b in bad {
            assert!(PriceBook::from_json(b).is_err(), "{b}");
        }
    }
}
