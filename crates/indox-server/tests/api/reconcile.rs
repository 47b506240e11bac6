//! Reconciliation against the simulator's `billing_usage` (rules RC1–RC9): usage synthesized
//! through the gateway, the simulator told to over- or under-report, and the alerts that
//! follow; a report that cannot be read; the nightly task's once-per-day pass.

use std::sync::Arc;

use chrono::{Days, NaiveDate, Utc};
use indox_billing::reconcile::{AlertQuery, RunStatus};
use indox_server::app::reconcile::{run_range, Reconciler, RunReport, RECONCILE_TASK};
use indox_simulator::SimConfig;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

use crate::helpers::*;

/// A gateway whose simulator reports `report_factor` × what it served, and some audio
/// synthesized through it today (WAV, so both sides measure the same samples).
async fn app_with_usage(report_factor: f64) -> (TestApp, NaiveDate, User) {
    let app = spawn_app_with(Options {
        sim: SimConfig {
            report_factor,
            ..Options::default().sim
        },
        ..Options::default()
    })
    .await;
    let user = app.user("5.00").await;
    for text in [
        "Reconciliation compares our rows with the upstream's report.",
        "A second sentence, a little longer than the first one, for more seconds.",
        "And a third.",
    ] {
        let resp = app.synthesize(&user, tts_body(text, "wav")).await;
        assert_eq!(resp.status(), 200);
    }
    (app, Utc::now().date_naive(), user)
}

/// The units whose lines alert.
fn alerting(report: &RunReport) -> Vec<&str> {
    report
        .alerting()
        .map(|l| l.upstream_unit.as_str())
        .collect()
}

fn synth_drift(report: &RunReport) -> Decimal {
    report
        .comparison
        .lines
        .iter()
        .find(|l| l.upstream_unit == "synth")
        .and_then(|l| l.drift)
        .expect("a synth line with a drift")
}

async fn alerts_of(app: &TestApp, report: &RunReport) -> usize {
    app.app
        .reconciliations
        .alerts(AlertQuery {
            run_id: Some(report.run_id),
            ..AlertQuery::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn rule_rc4_upstream_reporting_two_percent_more_raises_exactly_one_alert() {
    let (app, today, user) = app_with_usage(1.02).await;
    let reports = run_range(&app.app, today, today).await.unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(alerting(report), ["synth"], "{report:?}");
    let drift = synth_drift(report);
    assert!(drift > dec!(0.019) && drift < dec!(0.021), "{drift}");
    assert_eq!(report.new_alerts.len(), 1);
    assert_eq!(alerts_of(&app, report).await, 1);
    // RC1: the synth line is the seconds of our TTS rows.
    let ours: Decimal = app
        .usage(user.account)
        .await
        .iter()
        .map(|u| u.quantity)
        .sum();
    let line = &report.comparison.lines;
    assert_eq!(
        line.iter()
            .find(|l| l.upstream_unit == "synth")
            .unwrap()
            .ours,
        ours
    );

    // RC8: a re-run with the same figures keeps alerting but stores no second alert.
    let again = run_range(&app.app, today, today).await.unwrap();
    assert_eq!(alerting(&again[0]), ["synth"]);
    assert!(again[0].new_alerts.is_empty());
    let all = app
        .app
        .reconciliations
        .alerts(AlertQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].run_id, report.run_id);
}

#[tokio::test]
async fn rule_rc4_half_a_percent_raises_none() {
    let (app, today, _) = app_with_usage(1.005).await;
    let reports = run_range(&app.app, today, today).await.unwrap();
    let report = &reports[0];
    assert_eq!(report.status, RunStatus::Succeeded);
    assert!(alerting(report).is_empty(), "{report:?}");
    let drift = synth_drift(report);
    assert!(drift > dec!(0.004) && drift < dec!(0.006), "{drift}");
    assert!(report.new_alerts.is_empty());
    assert_eq!(alerts_of(&app, report).await, 0);
    // Units with no usage on either side are lines too (RC5, RC6), without drift.
    let detect = report
        .comparison
        .lines
        .iter()
        .find(|l| l.upstream_unit == "detect")
        .unwrap();
    assert_eq!(
        (detect.ours, detect.theirs, detect.drift, detect.alert),
        (Decimal::ZERO, Decimal::ZERO, Some(Decimal::ZERO), false)
    );
    // The latest lines (what the drift gauge exports) are this run's.
    let latest = app
        .app
        .reconciliations
        .latest_lines()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.run_id, report.run_id);
    assert_eq!(latest.lines, report.comparison.lines);
}

#[tokio::test]
async fn rule_rc4_upstream_reporting_two_percent_less_raises_one_alert() {
    let (app, today, _) = app_with_usage(1.0).await;
    // The runtime knob, this time.
    app.sim_faults(json!({"report_factor": 0.98})).await;
    let reports = run_range(&app.app, today, today).await.unwrap();
    let report = &reports[0];
    assert_eq!(alerting(report), ["synth"], "{report:?}");
    let drift = synth_drift(report);
    assert!(drift < dec!(-0.019) && drift > dec!(-0.021), "{drift}");
    assert_eq!(alerts_of(&app, report).await, 1);
}

#[tokio::test]
async fn rule_rc7_an_unreadable_report_records_a_failed_run_and_no_alert() {
    // It would alert if the report could be read.
    let (app, today, _) = app_with_usage(1.02).await;
    app.sim_faults(json!({"error_rate_5xx": 1.0})).await;
    let reports = run_range(&app.app, today, today).await.unwrap();
    let report = &reports[0];
    assert_eq!(report.status, RunStatus::Failed);
    assert!(
        report
            .error
            .as_deref()
            .is_some_and(|e| e.contains("billing_usage")),
        "{report:?}"
    );
    assert!(report.comparison.lines.is_empty());
    assert!(report.new_alerts.is_empty());
    let stored = app
        .app
        .reconciliations
        .latest_run(Some(today))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.id, stored.status),
        (report.run_id, RunStatus::Failed)
    );
    assert!(app
        .app
        .reconciliations
        .alerts(AlertQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.app.reconciliations.latest_lines().await.unwrap(), None);

    // Once the upstream answers again, the day reconciles (and alerts).
    app.sim_faults(json!({"error_rate_5xx": 0.0})).await;
    let retried = run_range(&app.app, today, today).await.unwrap();
    assert_eq!(retried[0].status, RunStatus::Succeeded);
    assert_eq!(alerting(&retried[0]), ["synth"]);
}

#[tokio::test]
async fn a_range_is_one_run_per_day_in_order_and_must_not_be_reversed() {
    let (app, today, _) = app_with_usage(1.0).await;
    let start = today.checked_sub_days(Days::new(2)).unwrap();
    let reports = run_range(&app.app, start, today).await.unwrap();
    let days: Vec<NaiveDate> = reports.iter().map(|r| r.day).collect();
    assert_eq!(
        days,
        [start, start.succ_opt().unwrap(), today],
        "one run per day"
    );
    // Earlier days have no usage on either side; today matches exactly.
    assert!(reports.iter().all(|r| !r.has_alert()), "{reports:?}");
    assert!(run_range(&app.app, today, start).await.is_err());
    let far = today.checked_sub_days(Days::new(400)).unwrap();
    assert!(run_range(&app.app, far, today).await.is_err());
}

#[tokio::test]
async fn rule_rc9_the_nightly_pass_reconciles_the_settled_day_once() {
    let (app, today, _) = app_with_usage(1.02).await;
    // 02:00 the next day: today has been over for more than the settle delay.
    let tomorrow_2am = today
        .succ_opt()
        .unwrap()
        .and_hms_opt(2, 0, 0)
        .unwrap()
        .and_utc();
    let nightly = Reconciler {
        clock: Arc::new(indox_core::FixedClock::new(tomorrow_2am)),
        ..Reconciler::from_state(&app.app)
    };
    assert_eq!(nightly.due_day(), Some(today));
    let first = nightly
        .run_due()
        .await
        .unwrap()
        .expect("the day is reconciled");
    assert_eq!(first.day, today);
    assert_eq!(alerting(&first), ["synth"]);
    // Every later pass that day does nothing: its run succeeded.
    assert_eq!(nightly.run_due().await.unwrap(), None);
    assert_eq!(
        app.app
            .reconciliations
            .alerts(AlertQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    // 00:30: the previous day has not settled yet, so the day before it is due.
    let early = Reconciler {
        clock: Arc::new(indox_core::FixedClock::new(
            today
                .succ_opt()
                .unwrap()
                .and_hms_opt(0, 30, 0)
                .unwrap()
                .and_utc(),
        )),
        ..Reconciler::from_state(&app.app)
    };
    assert_eq!(early.due_day(), today.pred_opt());
}

#[tokio::test]
async fn rule_rc9_the_task_runs_on_the_queue() {
    let app = spawn_app().await;
    let due = Reconciler::from_state(&app.app).due_day().unwrap();
    assert!(app
        .app
        .tasks
        .enqueue_if_absent(RECONCILE_TASK)
        .await
        .unwrap());
    let run = eventually(|| async { app.app.reconciliations.latest_run(Some(due)).await.unwrap() })
        .await
        .expect("the task reconciles the due day");
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(run.comparison.alerts().next().is_none());
}
