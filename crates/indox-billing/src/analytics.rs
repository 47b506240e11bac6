//! Usage analytics: the query (date range, granularity, account scope), the port that
//! aggregates `provider_resemble_usage`, and the exact roll-ups (per capability, totals)
//! computed from its buckets with `Decimal` sums, so every total equals the sum of the rows.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Days, NaiveDate, Utc};
use indox_core::AccountId;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::BillingError;

/// Longest range of a daily query.
pub const MAX_DAYS: u64 = 366;
/// Longest range of an hourly query.
pub const MAX_HOURLY_DAYS: u64 = 31;

/// The size of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    Hour,
}

impl Granularity {
    /// Parses `day` or `hour`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }

    /// The wire (and `date_trunc`) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Hour => "hour",
        }
    }
}

/// A validated analytics query: UTC days `from..=to`, one account or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsQuery {
    /// `None`: every account (admin scope only).
    pub account: Option<AccountId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
}

/// Which field of the query is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> QueryError {
    QueryError {
        field,
        message: message.into(),
    }
}

fn date(
    field: &'static str,
    raw: Option<&str>,
    default: NaiveDate,
) -> Result<NaiveDate, QueryError> {
    match raw {
        None => Ok(default),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| bad(field, "must be a date in YYYY-MM-DD form (UTC)")),
    }
}

impl AnalyticsQuery {
    /// Validates the query string's fields. `to` defaults to today and `from` to 29 days
    /// before `to` (30 days in all); `granularity` defaults to `day`.
    ///
    /// # Errors
    /// [`QueryError`] naming the field: a malformed date, `from` after `to`, a range longer
    /// than 366 days (31 for hourly buckets), or an unknown granularity.
    pub fn parse(
        account: Option<AccountId>,
        from: Option<&str>,
        to: Option<&str>,
        granularity: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, QueryError> {
        let to = date("to", to, today)?;
        let from = date(
            "from",
            from,
            to.checked_sub_days(Days::new(29)).unwrap_or(to),
        )?;
        if from > to {
            return Err(bad("from", "must not be after `to`"));
        }
        let granularity = match granularity {
            None => Granularity::Day,
            Some(g) => Granularity::parse(g)
                .ok_or_else(|| bad("granularity", "must be \"day\" or \"hour\""))?,
        };
        let days = (to - from).num_days().unsigned_abs() + 1;
        let max = match granularity {
            Granularity::Day => MAX_DAYS,
            Granularity::Hour => MAX_HOURLY_DAYS,
        };
        if days > max {
            return Err(bad(
                "from",
                format!(
                    "the range is {days} days; at most {max} with granularity={}",
                    granularity.as_str()
                ),
            ));
        }
        Ok(Self {
            account,
            from,
            to,
            granularity,
        })
    }

    /// The first instant of the range.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// The first instant after the range.
    pub fn end(&self) -> DateTime<Utc> {
        self.to
            .checked_add_days(Days::new(1))
            .unwrap_or(self.to)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    }
}

/// The sums of the usage rows of one capability in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// The bucket's first instant (UTC).
    pub period: DateTime<Utc>,
    pub capability: String,
    pub unit: String,
    pub requests: i64,
    pub quantity: Decimal,
    pub provider_cost: Decimal,
    pub markup: Decimal,
    pub charged: Decimal,
}

/// Sums over a set of rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub requests: i64,
    pub provider_cost: Decimal,
    pub markup: Decimal,
    pub charged: Decimal,
}

/// One capability's sums over the whole range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilitySums {
    pub capability: String,
    pub unit: String,
    pub requests: i64,
    pub quantity: Decimal,
    pub provider_cost: Decimal,
    pub markup: Decimal,
    pub charged: Decimal,
}

/// Rolls buckets up per capability and in total. Decimal addition is exact, so the totals
/// equal the sums of the underlying rows.
pub fn roll_up(buckets: &[Bucket]) -> (Vec<CapabilitySums>, Sums) {
    let mut by: BTreeMap<(&str, &str), CapabilitySums> = BTreeMap::new();
    let mut total = Sums::default();
    for b in buckets {
        let e = by
            .entry((b.capability.as_str(), b.unit.as_str()))
            .or_insert_with(|| CapabilitySums {
                capability: b.capability.clone(),
                unit: b.unit.clone(),
                requests: 0,
                quantity: Decimal::ZERO,
                provider_cost: Decimal::ZERO,
                markup: Decimal::ZERO,
                charged: Decimal::ZERO,
            });
        e.requests += b.requests;
        e.quantity += b.quantity;
        e.provider_cost += b.provider_cost;
        e.markup += b.markup;
        e.charged += b.charged;
        total.requests += b.requests;
        total.provider_cost += b.provider_cost;
        total.markup += b.markup;
        total.charged += b.charged;
    }
    (by.into_values().collect(), total)
}

/// Aggregates the usage rows.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UsageAnalytics: Send + Sync {
    /// The rows of `query`'s range and scope summed per time bucket and capability, ordered
    /// by period then capability.
    async fn buckets(&self, query: &AnalyticsQuery) -> Result<Vec<Bucket>, BillingError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    #[test]
    fn defaults_are_the_last_30_days_by_day() {
        let q = AnalyticsQuery::parse(None, None, None, None, today()).unwrap();
        assert_eq!(q.to, today());
        assert_eq!(q.from, NaiveDate::from_ymd_opt(2026, 10, 26).unwrap());
        assert_eq!(q.granularity, Granularity::Day);
        assert_eq!(q.end() - q.start(), chrono::Duration::days(30));
    }

    #[test]
    fn bad_fields_are_named() {
        let e = AnalyticsQuery::parse(None, Some("2026-13-01"), None, None, today()).unwrap_err();
        assert_eq!(e.field, "from");
        let e = AnalyticsQuery::parse(None, Some("2026-11-25"), Some("2026-11-24"), None, today())
            .unwrap_err();
        assert_eq!(e.field, "from");
        let e = AnalyticsQuery::parse(None, None, None, Some("week"), today()).unwrap_err();
        assert_eq!(e.field, "granularity");
        let e = AnalyticsQuery::parse(None, Some("2026-01-01"), None, Some("hour"), today())
            .unwrap_err();
        assert!(e.message.contains("at most 31"));
        assert!(AnalyticsQuery::parse(None, Some("2025-11-24"), None, None, today()).is_ok());
        assert!(AnalyticsQuery::parse(None, Some("2025-11-23"), None, None, today()).is_err());
    }

    proptest! {
        /// The roll-up's totals are the exact sums of the buckets, however they are split.
        #[test]
        fn totals_are_exact_sums(cents in proptest::collection::vec((0u8..4, 0i64..10_000_000_000, 1i64..50), 0..60)) {
            let buckets: Vec<Bucket> = cents.iter().enumerate().map(|(i, (cap, charged, n))| Bucket {
                period: DateTime::<Utc>::from_timestamp(i as i64 * 3600, 0).unwrap(),
                capability: format!("cap{cap}"),
                unit: "audio_second".into(),
                requests: *n,
                quantity: Decimal::new(*n * 1_500, 3),
                provider_cost: Decimal::new(*charged, 8),
                markup: Decimal::new(*charged / 5, 8),
                charged: Decimal::new(*charged + *charged / 5, 8),
            }).collect();
            let (by, total) = roll_up(&buckets);
            let sum: Decimal = buckets.iter().map(|b| b.charged).sum();
            prop_assert_eq!(total.charged, sum);
            prop_assert_eq!(by.iter().map(|c| c.charged).sum::<Decimal>(), sum);
            prop_assert_eq!(total.provider_cost + total.markup, total.charged);
            prop_assert_eq!(by.iter().map(|c| c.requests).sum::<i64>(), total.requests);
        }
    }
}
