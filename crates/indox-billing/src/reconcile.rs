//! Nightly reconciliation: compares our per-day usage totals with the upstream's own
//! `billing_usage` report, per upstream unit (rules RC1–RC9 in `docs/decisions.md`), and the
//! `ReconciliationStore` port where runs, their per-unit lines and their alerts are kept.
//!
//! The comparison is pure: [`compare`] takes our totals for one UTC day (grouped by
//! capability, unit and whether the row belongs to a job) and the upstream's map of
//! quantities per unit, and returns one [`UnitLine`] per upstream unit plus the groups that
//! cannot be compared ([`NotComparable`]). Decimal arithmetic only; every operation on a
//! figure from the upstream is checked, so absurd input never panics.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{BillingError, PriceBook};

/// RC4: a unit alerts when its drift is strictly greater than this (1 %), either way.
pub const DRIFT_THRESHOLD: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Decimals kept in the reported drift (the alert decision itself is exact, see [`assess`]).
pub const DRIFT_SCALE: u32 = 6;

/// Our usage for one UTC day, one group of `provider_resemble_usage` rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyTotal {
    /// The row's `capability`.
    pub capability: String,
    /// The row's `unit` (what it was billed in).
    pub unit: String,
    /// Whether the rows have a `job_id` (for voice subscriptions: a build, not a renewal).
    pub with_job: bool,
    /// The sum of the rows' `quantity`.
    pub quantity: Decimal,
    /// How many rows.
    pub rows: i64,
}

/// Why a group of our rows is left out of the comparison (RC2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Billed per search (`identity_search`); the upstream counts the search's audio seconds.
    PerSearch,
    /// Billed per image (`detect_image`); the upstream's unit is seconds.
    PerImage,
    /// A monthly renewal of a cloned voice (no job): the upstream counts a voice once, when
    /// it finishes training.
    Renewal,
    /// The capability is not in the price book, so its upstream unit is unknown.
    UnknownCapability,
    /// The row's unit is none the comparison knows how to measure.
    UnknownUnit,
}

impl Exclusion {
    /// The stable name (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerSearch => "per_search",
            Self::PerImage => "per_image",
            Self::Renewal => "renewal",
            Self::UnknownCapability => "unknown_capability",
            Self::UnknownUnit => "unknown_unit",
        }
    }

    /// Whether the upstream may count this usage under the same unit in its own measure, so
    /// that leaving it out makes our total a lower bound of what the upstream should report
    /// (RC3). A renewal is not such usage: the upstream never counts renewals.
    pub fn taints_unit(self) -> bool {
        !matches!(self, Self::Renewal | Self::UnknownCapability)
    }
}

/// A group of our rows that is not compared, as recorded with the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotComparable {
    pub capability: String,
    pub unit: String,
    pub with_job: bool,
    /// The upstream unit the capability maps to, when the price book knows it.
    pub upstream_unit: Option<String>,
    pub quantity: Decimal,
    pub rows: i64,
    pub reason: Exclusion,
}

/// Our figure against the upstream's for one upstream unit and one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitLine {
    /// The key in the upstream's report (`synth`, `stt`, …, `voice_subscriptions`).
    pub upstream_unit: String,
    /// Our comparable total: seconds, or for `voice_subscriptions` the count of builds.
    pub ours: Decimal,
    /// The upstream's figure (0 when it does not report the unit).
    pub theirs: Decimal,
    /// `(theirs − ours) / ours`, to [`DRIFT_SCALE`] decimals; 0 when both are 0; `None`
    /// when only ours is 0 (undefined) or the figures are out of range.
    pub drift: Option<Decimal>,
    /// Whether this line raises an alert (RC4, RC5).
    pub alert: bool,
    /// Some of our usage of this unit was not comparable (RC3): only an upstream figure
    /// below ours by more than the threshold alerts.
    pub partial: bool,
}

/// The outcome of comparing one day.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Comparison {
    /// One line per upstream unit, sorted by unit.
    pub lines: Vec<UnitLine>,
    /// Our groups left out, sorted by capability.
    pub not_comparable: Vec<NotComparable>,
}

impl Comparison {
    /// The lines that alert.
    pub fn alerts(&self) -> impl Iterator<Item = &UnitLine> {
        self.lines.iter().filter(|l| l.alert)
    }
}

/// How a group of our rows is counted (RC1, RC2).
enum Measure {
    /// Add its quantity (seconds) to the unit.
    Seconds(String),
    /// Add its row count (voices built) to the unit.
    Count(String),
    Excluded(Option<String>, Exclusion),
}

fn classify(book: &PriceBook, total: &DailyTotal) -> Measure {
    let upstream_unit = total
        .capability
        .parse()
        .ok()
        .and_then(|c| book.entry(c).ok())
        .map(|e| e.upstream_unit.clone());
    let Some(upstream_unit) = upstream_unit else {
        return Measure::Excluded(None, Exclusion::UnknownCapability);
    };
    let excluded = |why| Measure::Excluded(Some(upstream_unit.clone()), why);
    match total.unit.as_str() {
        "audio_second" | "video_second" => Measure::Seconds(upstream_unit),
        "voice_month" if total.with_job => Measure::Count(upstream_unit),
        "voice_month" => excluded(Exclusion::Renewal),
        "search" => excluded(Exclusion::PerSearch),
        "image" => excluded(Exclusion::PerImage),
        _ => excluded(Exclusion::UnknownUnit),
    }
}

/// Drift and alert for one unit (RC4, RC5): exact comparisons, no division in the decision.
///
/// - both 0: drift 0, no alert;
/// - ours 0, theirs not: drift undefined (`None`), alert (unless `partial`, where only a
///   negative upstream figure alerts);
/// - otherwise drift = `(theirs − ours) / ours` and the line alerts when
///   `|theirs − ours| > 1 % × ours` (for a `partial` line: when `ours − theirs > 1 % × ours`).
pub fn assess(ours: Decimal, theirs: Decimal, partial: bool) -> (Option<Decimal>, bool) {
    let Some(diff) = theirs.checked_sub(ours) else {
        return (None, true);
    };
    let Some(allowed) = ours.abs().checked_mul(DRIFT_THRESHOLD) else {
        return (None, true);
    };
    let alert = if partial {
        -diff > allowed
    } else {
        diff.abs() > allowed
    };
    let drift = if ours.is_zero() {
        theirs.is_zero().then_some(Decimal::ZERO)
    } else {
        diff.checked_div(ours).map(|d| {
            d.round_dp_with_strategy(
                DRIFT_SCALE,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            )
            .normalize()
        })
    };
    (drift, alert)
}

/// Compares our totals for one day with the upstream's report for the same day.
///
/// Lines cover every upstream unit of the price book, every unit the upstream reported and
/// every unit we have comparable usage of (RC6); a unit missing from the report counts as 0.
pub fn compare(
    book: &PriceBook,
    ours: &[DailyTotal],
    theirs: &BTreeMap<String, Decimal>,
) -> Comparison {
    let mut sums: BTreeMap<String, Decimal> = book
        .entries()
        .map(|e| (e.upstream_unit.clone(), Decimal::ZERO))
        .collect();
    for unit in theirs.keys() {
        sums.entry(unit.clone()).or_insert(Decimal::ZERO);
    }
    let mut tainted = BTreeSet::new();
    let mut not_comparable = Vec::new();
    for total in ours {
        let (unit, add) = match classify(book, total) {
            Measure::Seconds(unit) => (unit, total.quantity),
            Measure::Count(unit) => (unit, Decimal::from(total.rows)),
            Measure::Excluded(unit, reason) => {
                if let Some(u) = unit.as_ref().filter(|_| reason.taints_unit()) {
                    tainted.insert(u.clone());
                }
                not_comparable.push(NotComparable {
                    capability: total.capability.clone(),
                    unit: total.unit.clone(),
                    with_job: total.with_job,
                    upstream_unit: unit,
                    quantity: total.quantity,
                    rows: total.rows,
                    reason,
                });
                continue;
            }
        };
        let sum = sums.entry(unit).or_insert(Decimal::ZERO);
        *sum = sum.checked_add(add).unwrap_or(Decimal::MAX);
    }
    not_comparable.sort_by(|a, b| {
        (&a.capability, &a.unit, a.with_job).cmp(&(&b.capability, &b.unit, b.with_job))
    });
    let lines = sums
        .into_iter()
        .map(|(unit, ours)| {
            let theirs = theirs.get(&unit).copied().unwrap_or(Decimal::ZERO);
            let partial = tainted.contains(&unit);
            let (drift, alert) = assess(ours, theirs, partial);
            UnitLine {
                upstream_unit: unit,
                ours,
                theirs,
                drift,
                alert,
                partial,
            }
        })
        .collect();
    Comparison {
        lines,
        not_comparable,
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Both sides were read and compared; the lines and alerts were stored.
    Succeeded,
    /// Reading the upstream's report failed: no lines, no alerts (RC7).
    Failed,
}

impl RunStatus {
    /// The stable name (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A run to record: one day, compared once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub id: Uuid,
    pub day: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    /// Why it failed (`Failed` only).
    pub error: Option<String>,
    /// The comparison (empty for a failed run).
    pub comparison: Comparison,
}

impl NewRun {
    /// A run that compared the day.
    pub fn succeeded(
        id: Uuid,
        day: NaiveDate,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        comparison: Comparison,
    ) -> Self {
        Self {
            id,
            day,
            started_at,
            finished_at,
            status: RunStatus::Succeeded,
            error: None,
            comparison,
        }
    }

    /// A run that could not compare the day.
    pub fn failed(
        id: Uuid,
        day: NaiveDate,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            id,
            day,
            started_at,
            finished_at,
            status: RunStatus::Failed,
            error: Some(error.into()),
            comparison: Comparison::default(),
        }
    }
}

/// A stored run with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: Uuid,
    pub day: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub comparison: Comparison,
}

/// A stored alert: one unit of one day out of tolerance (RC5, RC8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: Uuid,
    /// The run that raised it.
    pub run_id: Uuid,
    pub day: NaiveDate,
    pub upstream_unit: String,
    pub ours: Decimal,
    pub theirs: Decimal,
    pub drift: Option<Decimal>,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// What recording a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRun {
    pub run_id: Uuid,
    /// The alerts this run raised. An alerting line whose figures (day, unit, ours, theirs)
    /// already have an open alert raises none (RC8).
    pub new_alerts: Vec<Alert>,
}

/// Which alerts to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertQuery {
    /// Only those raised by this run.
    pub run_id: Option<Uuid>,
    /// Only those not acknowledged.
    pub open_only: bool,
    /// At most this many, newest first (0 = 100).
    pub limit: i64,
}

/// The per-unit lines of the latest successful run of the most recent day reconciled (what a
/// drift gauge exports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestLines {
    pub run_id: Uuid,
    pub day: NaiveDate,
    pub finished_at: DateTime<Utc>,
    pub lines: Vec<UnitLine>,
}

/// Where reconciliation reads our usage and keeps its runs, lines and alerts.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ReconciliationStore: Send + Sync {
    /// Our usage rows created on `day` (UTC calendar day of `created_at`), summed per
    /// capability, unit and whether `job_id` is set.
    async fn daily_totals(&self, day: NaiveDate) -> Result<Vec<DailyTotal>, BillingError>;

    /// Stores the run, its lines and the alerts of its alerting lines, in one transaction.
    /// An alerting line whose (day, unit, ours, theirs) already has an open alert raises no
    /// second one (RC8).
    ///
    /// # Errors
    /// [`BillingError::Store`] when storage fails, having written nothing.
    async fn record_run(&self, run: NewRun) -> Result<RecordedRun, BillingError>;

    /// Alerts, newest first.
    async fn alerts(&self, query: AlertQuery) -> Result<Vec<Alert>, BillingError>;

    /// Marks an alert as seen; `false` when there is no open alert with this id.
    async fn acknowledge_alert(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, BillingError>;

    /// The most recently finished run (of `day`, when given), whatever its status.
    async fn latest_run(&self, day: Option<NaiveDate>) -> Result<Option<RunRecord>, BillingError>;

    /// The lines of the latest successful run of the most recent day reconciled.
    async fn latest_lines(&self) -> Result<Option<LatestLines>, BillingError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn total(capability: &str, unit: &str, with_job: bool, quantity: Decimal) -> DailyTotal {
        DailyTotal {
            capability: capability.into(),
            unit: unit.into(),
            with_job,
            quantity,
            rows: 1,
        }
    }

    fn line<'a>(c: &'a Comparison, unit: &str) -> &'a UnitLine {
        c.lines
            .iter()
            .find(|l| l.upstream_unit == unit)
            .unwrap_or_else(|| panic!("no line for {unit}: {c:?}"))
    }

    fn report(pairs: &[(&str, Decimal)]) -> BTreeMap<String, Decimal> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn rule_rc1_seconds_of_every_capability_add_up_per_upstream_unit() {
        let book = PriceBook::resemble_default();
        let ours = [
            total("tts", "audio_second", false, dec!(10.000)),
            total("tts_stream", "audio_second", false, dec!(2.500)),
            total("detect", "audio_second", true, dec!(3.000)),
            total("detect_video", "video_second", true, dec!(4.000)),
            total("watermark_apply", "audio_second", true, dec!(1.000)),
            total("watermark_detect", "audio_second", true, dec!(1.000)),
        ];
        let c = compare(
            &book,
            &ours,
            &report(&[
                ("synth", dec!(12.500)),
                ("detect", dec!(7.000)),
                ("watermark", dec!(2.000)),
            ]),
        );
        assert_eq!(line(&c, "synth").ours, dec!(12.5));
        assert_eq!(line(&c, "detect").ours, dec!(7));
        assert_eq!(line(&c, "watermark").ours, dec!(2));
        assert!(c.alerts().next().is_none(), "{c:?}");
        assert!(c.not_comparable.is_empty());
    }

    #[test]
    fn rule_rc1_voice_builds_are_counted_as_voices_not_summed_as_months() {
        let book = PriceBook::resemble_default();
        let mut builds = total("voice_clone_rapid", "voice_month", true, dec!(3));
        builds.rows = 3;
        let mut pro = total("voice_clone", "voice_month", true, dec!(1));
        pro.rows = 1;
        let c = compare(
            &book,
            &[builds, pro],
            &report(&[("voice_subscriptions", dec!(4.000))]),
        );
        let l = line(&c, "voice_subscriptions");
        assert_eq!((l.ours, l.theirs, l.alert), (dec!(4), dec!(4), false));
    }

    #[test]
    fn rule_rc2_renewals_searches_and_images_are_recorded_not_compared() {
        let book = PriceBook::resemble_default();
        let mut renewals = total("voice_clone", "voice_month", false, dec!(2));
        renewals.rows = 2;
        let ours = [
            renewals,
            total("identity_search", "search", true, dec!(5)),
            total("detect_image", "image", true, dec!(3)),
            total("made_up", "audio_second", false, dec!(9)),
        ];
        let c = compare(&book, &ours, &BTreeMap::new());
        let reasons: Vec<_> = c
            .not_comparable
            .iter()
            .map(|n| (n.capability.as_str(), n.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("detect_image", Exclusion::PerImage),
                ("identity_search", Exclusion::PerSearch),
                ("made_up", Exclusion::UnknownCapability),
                ("voice_clone", Exclusion::Renewal),
            ]
        );
        assert!(
            c.lines.iter().all(|l| l.ours.is_zero() && !l.alert),
            "{c:?}"
        );
        // Renewals do not make voice_subscriptions partial; searches and images do.
        assert!(!line(&c, "voice_subscriptions").partial);
        assert!(line(&c, "identity").partial);
        assert!(line(&c, "detect").partial);
    }

    #[test]
    fn rule_rc3_a_partial_unit_alerts_only_when_the_upstream_reports_less() {
        let book = PriceBook::resemble_default();
        let ours = [
            total("identity_enroll", "audio_second", true, dec!(100)),
            total("identity_search", "search", true, dec!(1)),
        ];
        // The search's seconds are in the upstream's figure: more is expected.
        let more = compare(&book, &ours, &report(&[("identity", dec!(130))]));
        assert!(!line(&more, "identity").alert);
        assert_eq!(line(&more, "identity").drift, Some(dec!(0.3)));
        let less = compare(&book, &ours, &report(&[("identity", dec!(98.9))]));
        assert!(line(&less, "identity").alert);
        let within = compare(&book, &ours, &report(&[("identity", dec!(99))]));
        assert!(!line(&within, "identity").alert);
    }

    #[test]
    fn rule_rc4_threshold_is_strictly_greater_than_one_percent_both_ways() {
        assert_eq!(
            assess(dec!(100), dec!(101), false),
            (Some(dec!(0.01)), false)
        );
        assert_eq!(
            assess(dec!(100), dec!(99), false),
            (Some(dec!(-0.01)), false)
        );
        assert_eq!(
            assess(dec!(100), dec!(101.001), false),
            (Some(dec!(0.01001)), true)
        );
        assert_eq!(
            assess(dec!(100), dec!(98.999), false),
            (Some(dec!(-0.01001)), true)
        );
        assert_eq!(
            assess(dec!(100), dec!(102), false),
            (Some(dec!(0.02)), true)
        );
        assert_eq!(
            assess(dec!(100), dec!(100.5), false),
            (Some(dec!(0.005)), false)
        );
    }

    #[test]
    fn rule_rc4_drift_keeps_six_decimals_but_the_decision_is_exact() {
        // 1.0000004 % rounds to 0.010000 for display, yet it is over the threshold.
        let (drift, alert) = assess(dec!(10000000), dec!(10100000.04), false);
        assert_eq!(drift, Some(dec!(0.01)));
        assert!(alert);
    }

    #[test]
    fn rule_rc5_zero_on_one_side_alerts_zero_on_both_does_not() {
        assert_eq!(assess(dec!(0), dec!(0), false), (Some(dec!(0)), false));
        assert_eq!(assess(dec!(0), dec!(0.001), false), (None, true));
        assert_eq!(assess(dec!(0.001), dec!(0), false), (Some(dec!(-1)), true));
    }

    #[test]
    fn rule_rc6_lines_cover_the_book_the_report_and_our_usage() {
        let book = PriceBook::resemble_default();
        let c = compare(
            &book,
            &[],
            &report(&[("synth", dec!(0)), ("brand_new_unit", dec!(5))]),
        );
        let units: Vec<_> = c.lines.iter().map(|l| l.upstream_unit.as_str()).collect();
        let mut expected: Vec<_> = book.entries().map(|e| e.upstream_unit.as_str()).collect();
        expected.push("brand_new_unit");
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(units, expected);
        // An upstream unit we never bill, reported non-zero, alerts.
        let l = line(&c, "brand_new_unit");
        assert_eq!((l.ours, l.drift, l.alert), (dec!(0), None, true));
        assert_eq!(c.alerts().count(), 1);
    }

    #[test]
    fn absurd_upstream_figures_alert_instead_of_panicking() {
        let (drift, alert) = assess(dec!(1), Decimal::MIN, false);
        assert_eq!((drift, alert), (None, true));
        let (_, alert) = assess(Decimal::MAX, Decimal::MIN, true);
        assert!(alert);
    }

    #[test]
    fn statuses_and_exclusions_have_stable_names() {
        for s in [RunStatus::Succeeded, RunStatus::Failed] {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RunStatus::parse("running"), None);
        assert_eq!(
            serde_json::to_value(Exclusion::PerSearch).unwrap(),
            serde_json::json!(Exclusion::PerSearch.as_str())
        );
    }

    proptest! {
        /// RC4: for ours > 0 and theirs = ours × (1 + f), the line alerts exactly when
        /// |f| > 1 %, and the reported drift is f (to six decimals).
        #[test]
        fn rule_rc4_alert_iff_relative_difference_exceeds_one_percent(
            ours_ms in 1i64..10_000_000_000,
            f_millionths in -50_000i64..50_000,
        ) {
            let ours = Decimal::new(ours_ms, 3);
            let f = Decimal::new(f_millionths, 6);
            let theirs = ours * (Decimal::ONE + f);
            let (drift, alert) = assess(ours, theirs, false);
            prop_assert_eq!(alert, f.abs() > DRIFT_THRESHOLD);
            prop_assert_eq!(drift, Some(f.normalize()));
        }

        /// RC1/RC2: every group of ours lands in exactly one place: its unit's line or the
        /// not-comparable list.
        #[test]
        fn rule_rc2_every_group_is_compared_or_recorded_once(
            groups in proptest::collection::vec(
                (0usize..6, any::<bool>(), 0i64..1_000_000, 1i64..50),
                0..20,
            ),
        ) {
            const KINDS: [(&str, &str); 6] = [
                ("tts", "audio_second"),
                ("stt", "audio_second"),
                ("detect_image", "image"),
                ("identity_search", "search"),
                ("voice_clone_rapid", "voice_month"),
                ("nope", "audio_second"),
            ];
            let book = PriceBook::resemble_default();
            let ours: Vec<DailyTotal> = groups
                .iter()
                .map(|&(k, with_job, q, rows)| DailyTotal {
                    capability: KINDS[k].0.into(),
                    unit: KINDS[k].1.into(),
                    with_job,
                    quantity: Decimal::new(q, 3),
                    rows,
                })
                .collect();
            let c = compare(&book, &ours, &BTreeMap::new());
            let compared: Decimal = c.lines.iter().map(|l| l.ours).sum();
            let expected: Decimal = ours
                .iter()
                .map(|t| match (t.capability.as_str(), t.with_job) {
                    ("tts" | "stt", _) => t.quantity,
                    ("voice_clone_rapid", true) => Decimal::from(t.rows),
                    _ => Decimal::ZERO,
                })
                .sum();
            prop_assert_eq!(compared, expected);
            let excluded = ours
                .iter()
                .filter(|t| {
                    !matches!(
                        (t.capability.as_str(), t.with_job),
                        ("tts" | "stt", _) | ("voice_clone_rapid", true)
                    )
                })
                .count();
            prop_assert_eq!(c.not_comparable.len(), excluded);
            // With an empty report, a line alerts exactly when we have comparable usage of it
            // (partial or not: an upstream reporting nothing reports less).
            for l in &c.lines {
                prop_assert_eq!(l.alert, !l.ours.is_zero());
            }
        }
    }
}
