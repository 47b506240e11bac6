//! `ReconciliationStore`: per-day totals on UTC day boundaries, runs written atomically with
//! their lines and alerts, no duplicate open alert for the same figures (RC8), and the
//! latest run and lines.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use indox_billing::reconcile::{
    compare, AlertQuery, Comparison, DailyTotal, NewRun, ReconciliationStore, RunStatus, UnitLine,
};
use indox_billing::{CommitRequest, PriceBook, UsageLedger};
use indox_core::AccountId;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use uuid::Uuid;

use crate::{charge, exec, funded, setup};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Inserts a usage row directly (any capability, unit, job and creation time).
async fn usage_row(
    db: &indox_postgres::TestDatabase,
    account: AccountId,
    capability: &str,
    unit: &str,
    quantity: &str,
    job: bool,
    created_at: &str,
) {
    let job = if job {
        format!("'{}'", Uuid::now_v7())
    } else {
        "NULL".to_owned()
    };
    exec(
        db,
        &format!(
            "INSERT INTO provider_resemble_usage (id, account_id, request_id, job_id, capability, unit, \
               quantity, unit_price, provider_cost, markup_rate, markup, charged, currency, created_at) \
             VALUES ('{}', '{account}', '{}', {job}, '{capability}', '{unit}', {quantity}, 0, 0, 0, 0, 0, \
               'USD', '{created_at}')",
            Uuid::now_v7(),
            Uuid::now_v7(),
        ),
    )
    .await;
}

fn line(unit: &str, ours: Decimal, theirs: Decimal) -> UnitLine {
    let (drift, alert) = indox_billing::reconcile::assess(ours, theirs, false);
    UnitLine {
        upstream_unit: unit.into(),
        ours,
        theirs,
        drift,
        alert,
        partial: false,
    }
}

fn run(d: &str, finished: &str, lines: Vec<UnitLine>) -> NewRun {
    NewRun::succeeded(
        Uuid::now_v7(),
        day(d),
        at(finished) - chrono::Duration::seconds(1),
        at(finished),
        Comparison {
            lines,
            not_comparable: Vec::new(),
        },
    )
}

#[tokio::test]
async fn daily_totals_group_rows_by_capability_and_job_within_the_utc_day() {
    let (db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    let a = account.id;
    // The day's first and last millisecond count; the neighbours' do not.
    usage_row(
        &db,
        a,
        "tts",
        "audio_second",
        "1.500",
        false,
        "2026-03-01T00:00:00Z",
    )
    .await;
    usage_row(
        &db,
        a,
        "tts",
        "audio_second",
        "2.250",
        false,
        "2026-03-01T23:59:59.999Z",
    )
    .await;
    usage_row(
        &db,
        a,
        "tts",
        "audio_second",
        "9.000",
        false,
        "2026-02-28T23:59:59.999Z",
    )
    .await;
    usage_row(
        &db,
        a,
        "tts",
        "audio_second",
        "9.000",
        false,
        "2026-03-02T00:00:00Z",
    )
    .await;
    // A time written with an offset is still placed on its UTC day.
    usage_row(
        &db,
        a,
        "stt",
        "audio_second",
        "3.000",
        true,
        "2026-03-01T20:00:00-05:00",
    )
    .await;
    usage_row(
        &db,
        a,
        "voice_clone_rapid",
        "voice_month",
        "1",
        true,
        "2026-03-01T10:00:00Z",
    )
    .await;
    usage_row(
        &db,
        a,
        "voice_clone_rapid",
        "voice_month",
        "1",
        false,
        "2026-03-01T11:00:00Z",
    )
    .await;
    usage_row(
        &db,
        a,
        "voice_clone_rapid",
        "voice_month",
        "1",
        false,
        "2026-03-01T12:00:00Z",
    )
    .await;
    usage_row(
        &db,
        a,
        "identity_search",
        "search",
        "1",
        true,
        "2026-03-01T13:00:00Z",
    )
    .await;

    let totals = store.daily_totals(day("2026-03-01")).await.unwrap();
    let t =
        |capability: &str, unit: &str, with_job: bool, quantity: Decimal, rows: i64| DailyTotal {
            capability: capability.into(),
            unit: unit.into(),
            with_job,
            quantity,
            rows,
        };
    assert_eq!(
        totals,
        vec![
            t("identity_search", "search", true, dec!(1), 1),
            t("tts", "audio_second", false, dec!(3.750), 2),
            t("voice_clone_rapid", "voice_month", false, dec!(2), 2),
            t("voice_clone_rapid", "voice_month", true, dec!(1), 1),
        ]
    );
    // 20:00 at -05:00 is 01:00 UTC on 2 March.
    let next = store.daily_totals(day("2026-03-02")).await.unwrap();
    assert_eq!(
        next,
        vec![
            t("stt", "audio_second", true, dec!(3.000), 1),
            t("tts", "audio_second", false, dec!(9.000), 1),
        ]
    );
    assert!(store
        .daily_totals(day("2026-03-05"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn committed_charges_are_in_todays_totals() {
    let (_db, store) = setup().await;
    let account = funded(&store, dec!(1)).await;
    for _ in 0..2 {
        store
            .commit(CommitRequest {
                charge: charge(account.id, dec!(0.00100800)),
                hold: None,
                asset: None,
                idempotency: None,
            })
            .await
            .unwrap();
    }
    let today = Utc::now().date_naive();
    let totals = store.daily_totals(today).await.unwrap();
    assert_eq!(totals.len(), 1, "{totals:?}");
    assert_eq!((totals[0].quantity, totals[0].rows), (dec!(4.032), 2));
}

#[tokio::test]
async fn a_run_is_stored_with_its_lines_not_comparable_groups_and_alerts() {
    let (_db, store) = setup().await;
    let book = PriceBook::resemble_default();
    let ours = vec![
        DailyTotal {
            capability: "tts".into(),
            unit: "audio_second".into(),
            with_job: false,
            quantity: dec!(100.000),
            rows: 3,
        },
        DailyTotal {
            capability: "detect_image".into(),
            unit: "image".into(),
            with_job: true,
            quantity: dec!(2),
            rows: 2,
        },
    ];
    let theirs = BTreeMap::from([("synth".to_owned(), dec!(102.000))]);
    let comparison = compare(&book, &ours, &theirs);
    let new = NewRun::succeeded(
        Uuid::now_v7(),
        day("2026-03-01"),
        at("2026-03-02T01:00:00Z"),
        at("2026-03-02T01:00:02Z"),
        comparison.clone(),
    );
    let recorded = store.record_run(new.clone()).await.unwrap();
    assert_eq!(recorded.run_id, new.id);
    assert_eq!(recorded.new_alerts.len(), 1);
    let alert = &recorded.new_alerts[0];
    assert_eq!(
        (
            alert.upstream_unit.as_str(),
            alert.ours,
            alert.theirs,
            alert.drift
        ),
        ("synth", dec!(100), dec!(102), Some(dec!(0.02)))
    );
    assert_eq!(alert.day, day("2026-03-01"));
    assert_eq!(alert.run_id, new.id);
    assert_eq!(alert.created_at, new.finished_at);
    assert_eq!(alert.acknowledged_at, None);

    let stored = store
        .latest_run(Some(day("2026-03-01")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(
        stored.comparison, comparison,
        "lines and exclusions read back"
    );
    let listed = store
        .alerts(AlertQuery {
            run_id: Some(new.id),
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, recorded.new_alerts);
}

#[tokio::test]
async fn rule_rc8_a_rerun_with_the_same_figures_raises_no_second_open_alert() {
    let (_db, store) = setup().await;
    let first = store
        .record_run(run(
            "2026-03-01",
            "2026-03-02T01:00:00Z",
            vec![line("synth", dec!(100), dec!(102))],
        ))
        .await
        .unwrap();
    assert_eq!(first.new_alerts.len(), 1);
    // Same day, same figures: the run and its alerting line are stored, no new alert.
    let again = run(
        "2026-03-01",
        "2026-03-02T02:00:00Z",
        vec![line("synth", dec!(100), dec!(102))],
    );
    let second = store.record_run(again.clone()).await.unwrap();
    assert!(second.new_alerts.is_empty());
    let stored = store.latest_run(None).await.unwrap().unwrap();
    assert_eq!(stored.id, again.id);
    assert!(stored.comparison.lines[0].alert);
    // New figures (a late row) raise a new alert.
    let third = store
        .record_run(run(
            "2026-03-01",
            "2026-03-02T03:00:00Z",
            vec![line("synth", dec!(100.5), dec!(102))],
        ))
        .await
        .unwrap();
    assert_eq!(third.new_alerts.len(), 1);
    // Once acknowledged, the same figures raise again.
    let id = first.new_alerts[0].id;
    assert!(store
        .acknowledge_alert(id, at("2026-03-02T04:00:00Z"))
        .await
        .unwrap());
    assert!(!store
        .acknowledge_alert(id, at("2026-03-02T04:00:00Z"))
        .await
        .unwrap());
    let fourth = store
        .record_run(run(
            "2026-03-01",
            "2026-03-02T05:00:00Z",
            vec![line("synth", dec!(100), dec!(102))],
        ))
        .await
        .unwrap();
    assert_eq!(fourth.new_alerts.len(), 1);
    let open = store
        .alerts(AlertQuery {
            open_only: true,
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(
        store.alerts(AlertQuery::default()).await.unwrap().len(),
        3,
        "acknowledged alerts stay listed"
    );
    // The same figures on another day are another alert.
    let other_day = store
        .record_run(run(
            "2026-03-02",
            "2026-03-03T01:00:00Z",
            vec![line("synth", dec!(100), dec!(102))],
        ))
        .await
        .unwrap();
    assert_eq!(other_day.new_alerts.len(), 1);
}

#[tokio::test]
async fn a_failed_recording_writes_nothing() {
    let (_db, store) = setup().await;
    // Two lines for one unit break the lines' primary key after the run row was written.
    let bad = run(
        "2026-03-01",
        "2026-03-02T01:00:00Z",
        vec![
            line("synth", dec!(100), dec!(200)),
            line("synth", dec!(100), dec!(300)),
        ],
    );
    assert!(store.record_run(bad).await.is_err());
    assert_eq!(store.latest_run(None).await.unwrap(), None);
    assert!(store
        .alerts(AlertQuery::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn rule_rc7_failed_runs_keep_their_error_and_latest_lines_skip_them() {
    let (_db, store) = setup().await;
    assert_eq!(store.latest_lines().await.unwrap(), None);
    let old = run(
        "2026-03-01",
        "2026-03-02T01:00:00Z",
        vec![line("synth", dec!(10), dec!(10.05))],
    );
    store.record_run(old.clone()).await.unwrap();
    // A later run of an earlier day (the CLI over a past range) does not become "latest".
    store
        .record_run(run(
            "2026-02-01",
            "2026-03-02T06:00:00Z",
            vec![line("synth", dec!(1), dec!(1))],
        ))
        .await
        .unwrap();
    let failed = NewRun::failed(
        Uuid::now_v7(),
        day("2026-03-02"),
        at("2026-03-03T01:00:00Z"),
        at("2026-03-03T01:00:01Z"),
        "upstream unavailable: 503",
    );
    let recorded = store.record_run(failed.clone()).await.unwrap();
    assert!(recorded.new_alerts.is_empty());
    let stored = store
        .latest_run(Some(day("2026-03-02")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    assert_eq!(stored.error.as_deref(), Some("upstream unavailable: 503"));
    assert!(stored.comparison.lines.is_empty());

    let latest = store.latest_lines().await.unwrap().unwrap();
    assert_eq!(latest.run_id, old.id);
    assert_eq!(latest.day, day("2026-03-01"));
    assert_eq!(latest.lines.len(), 1);
    assert_eq!(latest.lines[0].drift, Some(dec!(0.005)));
}
