//! Reconciliation with the upstream's own usage report (rules RC1–RC9 in
//! `docs/decisions.md`): for each UTC day, our usage totals against
//! `VoiceUpstream::billing_usage(day, day)`, stored as a run with its per-unit lines, and an
//! alert (a stored row, an error-level log line, and the drift the metrics export) for every
//! unit beyond ±1 %. Runs nightly as the task `billing.reconcile` and from the CLI
//! (`indox admin reconcile --from --to`) for any range.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Days, NaiveDate};
use indox_billing::reconcile::{
    compare, Alert, Comparison, NewRun, ReconciliationStore, RunStatus, UnitLine,
};
use indox_billing::PriceBook;
use indox_core::Clock;
use indox_jobs::{Task, TaskFailure, TaskHandler};
use indox_voice::VoiceUpstream;
use uuid::Uuid;

use super::AppState;

/// The nightly reconciliation task.
pub const RECONCILE_TASK: &str = "billing.reconcile";

/// RC9: a day is reconciled by the task once it has been over for this long, so that usage
/// committed just after midnight and the upstream's own bookkeeping have settled.
pub const SETTLE_DELAY: chrono::Duration = chrono::Duration::hours(1);

/// The longest range one call reconciles (one upstream call per day).
pub const MAX_RANGE_DAYS: u64 = 366;

/// What reconciling one day did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub run_id: Uuid,
    pub day: NaiveDate,
    pub status: RunStatus,
    /// Why the run failed.
    pub error: Option<String>,
    /// The per-unit lines and the groups left out (empty for a failed run).
    pub comparison: Comparison,
    /// The alerts this run stored (an alert already open for the same figures is not
    /// stored again, RC8; its line still alerts).
    pub new_alerts: Vec<Alert>,
}

impl RunReport {
    /// The lines beyond tolerance.
    pub fn alerting(&self) -> impl Iterator<Item = &UnitLine> {
        self.comparison.alerts()
    }

    /// Whether any line is beyond tolerance.
    pub fn has_alert(&self) -> bool {
        self.alerting().next().is_some()
    }
}

/// Everything a reconciliation needs; built from the gateway's state, or by the CLI.
#[derive(Clone)]
pub struct Reconciler {
    pub upstream: Arc<dyn VoiceUpstream>,
    pub store: Arc<dyn ReconciliationStore>,
    /// Maps each capability to its upstream unit.
    pub book: PriceBook,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("book", &self.book.version)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// The gateway's upstream, store, price book and clock.
    pub fn from_state(state: &AppState) -> Self {
        Self {
            upstream: state.upstream.clone(),
            store: state.reconciliations.clone(),
            book: state.billing.book().clone(),
            clock: state.clock.clone(),
        }
    }

    /// Reconciles one UTC day and stores the run (a failed run when the upstream's report
    /// cannot be read, RC7).
    ///
    /// # Errors
    /// When our own store fails (reading our totals or writing the run): nothing is stored.
    pub async fn run_day(&self, day: NaiveDate) -> Result<RunReport, String> {
        let started = self.clock.now();
        let id = Uuid::now_v7();
        let ours = self
            .store
            .daily_totals(day)
            .await
            .map_err(|e| format!("reading our usage of {day}: {e}"))?;
        let run = match self.upstream.billing_usage(day, day).await {
            Ok(theirs) => NewRun::succeeded(
                id,
                day,
                started,
                self.clock.now(),
                compare(&self.book, &ours, &theirs),
            ),
            Err(e) => {
                tracing::warn!(%day, run_id = %id, error = %e, "reconciliation: the upstream's usage report could not be read");
                NewRun::failed(
                    id,
                    day,
                    started,
                    self.clock.now(),
                    format!("billing_usage: {e}"),
                )
            }
        };
        let recorded = self
            .store
            .record_run(run.clone())
            .await
            .map_err(|e| format!("storing the reconciliation of {day}: {e}"))?;
        for line in run.comparison.alerts() {
            let new = recorded
                .new_alerts
                .iter()
                .any(|a| a.upstream_unit == line.upstream_unit);
            tracing::error!(
                %day,
                run_id = %id,
                upstream_unit = %line.upstream_unit,
                ours = %line.ours,
                theirs = %line.theirs,
                drift = %line.drift.map_or_else(|| "undefined".to_owned(), |d| d.to_string()),
                partial = line.partial,
                new_alert = new,
                "reconciliation: usage drift beyond ±1 % against the upstream's report"
            );
        }
        Ok(RunReport {
            run_id: id,
            day,
            status: run.status,
            error: run.error,
            comparison: run.comparison,
            new_alerts: recorded.new_alerts,
        })
    }

    /// Reconciles every day from `start` to `end` (inclusive), one run per day, in order.
    ///
    /// # Errors
    /// An empty or too long range, or a failure of our own store (the days before it stay
    /// recorded).
    pub async fn run_range(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<RunReport>, String> {
        if end < start {
            return Err(format!("the range ends ({end}) before it starts ({start})"));
        }
        let days = u64::try_from((end - start).num_days()).unwrap_or(u64::MAX);
        if days >= MAX_RANGE_DAYS {
            return Err(format!(
                "the range {start}..={end} is {} days; reconcile at most {MAX_RANGE_DAYS} at a time",
                days.saturating_add(1)
            ));
        }
        let mut reports = Vec::new();
        let mut day = start;
        loop {
            reports.push(self.run_day(day).await?);
            match day.checked_add_days(Days::new(1)) {
                Some(next) if next <= end => day = next,
                _ => break,
            }
        }
        Ok(reports)
    }

    /// The day the nightly task reconciles now: the last UTC day that ended at least
    /// [`SETTLE_DELAY`] ago (RC9).
    pub fn due_day(&self) -> Option<NaiveDate> {
        self.clock
            .now()
            .checked_sub_signed(SETTLE_DELAY)?
            .date_naive()
            .checked_sub_days(Days::new(1))
    }

    /// The nightly pass: reconciles [`Reconciler::due_day`] unless its latest run
    /// succeeded, so it can be scheduled every hour (RC9). `None` when there was nothing
    /// to do.
    ///
    /// # Errors
    /// When our own store fails.
    pub async fn run_due(&self) -> Result<Option<RunReport>, String> {
        let Some(day) = self.due_day() else {
            return Ok(None);
        };
        let latest = self
            .store
            .latest_run(Some(day))
            .await
            .map_err(|e| format!("reading the reconciliation runs of {day}: {e}"))?;
        if latest.is_some_and(|r| r.status == RunStatus::Succeeded) {
            return Ok(None);
        }
        self.run_day(day).await.map(Some)
    }
}

/// Reconciles every day from `start` to `end` (inclusive) with the gateway's ports.
///
/// # Errors
/// See [`Reconciler::run_range`].
pub async fn run_range(
    state: &AppState,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<RunReport>, String> {
    Reconciler::from_state(state).run_range(start, end).await
}

/// `billing.reconcile`: [`Reconciler::run_due`]. A run that failed because the upstream's
/// report could not be read is retried with the queue's backoff.
pub struct ReconcileHandler(pub AppState);

#[async_trait]
impl TaskHandler for ReconcileHandler {
    async fn handle(&self, _task: &Task) -> Result<(), TaskFailure> {
        match Reconciler::from_state(&self.0).run_due().await {
            Ok(Some(report)) if report.status == RunStatus::Failed => Err(TaskFailure::Retry(
                report
                    .error
                    .unwrap_or_else(|| "reconciliation failed".to_owned()),
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(TaskFailure::Retry(e)),
        }
    }
}
