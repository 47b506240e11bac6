//! `ReconciliationStore` on Postgres: our per-day usage totals, and each reconciliation run
//! written with its per-unit lines and its alerts in one transaction (tables
//! `reconciliation_runs`, `reconciliation_lines`, `reconciliation_alerts`).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{
    BigInt, Bool, Date, Jsonb, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use indox_billing::reconcile::{
    Alert, AlertQuery, Comparison, DailyTotal, LatestLines, NewRun, NotComparable,
    ReconciliationStore, RecordedRun, RunRecord, RunStatus, UnitLine,
};
use indox_billing::BillingError;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::TxError;
use crate::{PgError, PgStore};

type Tx = TxError<BillingError>;

#[derive(QueryableByName)]
struct TotalRow {
    #[diesel(sql_type = Text)]
    capability: String,
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = Bool)]
    with_job: bool,
    #[diesel(sql_type = Numeric)]
    quantity: Decimal,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct RunRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Timestamptz)]
    started_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    finished_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Jsonb)]
    not_comparable: serde_json::Value,
}

const RUN_COLUMNS: &str = "id, day, started_at, finished_at, status, error, not_comparable";

#[derive(QueryableByName)]
struct LineRow {
    #[diesel(sql_type = Text)]
    upstream_unit: String,
    #[diesel(sql_type = Numeric)]
    ours: Decimal,
    #[diesel(sql_type = Numeric)]
    theirs: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    drift: Option<Decimal>,
    #[diesel(sql_type = Bool)]
    alert: bool,
    #[diesel(sql_type = Bool)]
    partial: bool,
}

impl From<LineRow> for UnitLine {
    fn from(r: LineRow) -> Self {
        UnitLine {
            upstream_unit: r.upstream_unit,
            ours: r.ours,
            theirs: r.theirs,
            drift: r.drift,
            alert: r.alert,
            partial: r.partial,
        }
    }
}

#[derive(QueryableByName)]
struct AlertRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    run_id: Uuid,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Text)]
    upstream_unit: String,
    #[diesel(sql_type = Numeric)]
    ours: Decimal,
    #[diesel(sql_type = Numeric)]
    theirs: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    drift: Option<Decimal>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    acknowledged_at: Option<DateTime<Utc>>,
}

const ALERT_COLUMNS: &str =
    "id, run_id, day, upstream_unit, ours, theirs, drift, created_at, acknowledged_at";

impl From<AlertRow> for Alert {
    fn from(r: AlertRow) -> Self {
        Alert {
            id: r.id,
            run_id: r.run_id,
            day: r.day,
            upstream_unit: r.upstream_unit,
            ours: r.ours,
            theirs: r.theirs,
            drift: r.drift,
            created_at: r.created_at,
            acknowledged_at: r.acknowledged_at,
        }
    }
}

/// The first instant of a UTC day and of the next one.
fn day_bounds(day: NaiveDate) -> Result<(DateTime<Utc>, DateTime<Utc>), PgError> {
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = day
        .succ_opt()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .ok_or_else(|| PgError::Invalid(format!("day {day} is out of range")))?;
    Ok((start, end))
}

/// Reads a run's lines and turns the row into a record.
async fn with_lines(conn: &mut AsyncPgConnection, run: RunRow) -> Result<RunRecord, PgError> {
    let lines: Vec<LineRow> = diesel::sql_query(
        "SELECT upstream_unit, ours, theirs, drift, alert, partial FROM reconciliation_lines \
         WHERE run_id = $1 ORDER BY upstream_unit COLLATE \"C\"",
    )
    .bind::<SqlUuid, _>(run.id)
    .load(conn)
    .await?;
    let status = RunStatus::parse(&run.status)
        .ok_or_else(|| PgError::Corrupt(format!("reconciliation run status {}", run.status)))?;
    let not_comparable: Vec<NotComparable> = serde_json::from_value(run.not_comparable)
        .map_err(|e| PgError::Corrupt(format!("reconciliation run not_comparable: {e}")))?;
    Ok(RunRecord {
        id: run.id,
        day: run.day,
        started_at: run.started_at,
        finished_at: run.finished_at,
        status,
        error: run.error,
        comparison: Comparison {
            lines: lines.into_iter().map(UnitLine::from).collect(),
            not_comparable,
        },
    })
}

#[async_trait]
impl ReconciliationStore for PgStore {
    async fn daily_totals(&self, day: NaiveDate) -> Result<Vec<DailyTotal>, BillingError> {
        let (start, end) = day_bounds(day)?;
        let mut conn = self.conn().await?;
        let rows: Vec<TotalRow> = diesel::sql_query(
            "SELECT capability, unit, job_id IS NOT NULL AS with_job, \
                    SUM(quantity) AS quantity, COUNT(*) AS n \
             FROM provider_resemble_usage \
             WHERE created_at >= $1 AND created_at < $2 AND NOT byok \
             GROUP BY 1, 2, 3 ORDER BY capability COLLATE \"C\", unit COLLATE \"C\", 3",
        )
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(end)
        .load(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| DailyTotal {
                capability: r.capability,
                unit: r.unit,
                with_job: r.with_job,
                quantity: r.quantity,
                rows: r.n,
            })
            .collect())
    }

    async fn record_run(&self, run: NewRun) -> Result<RecordedRun, BillingError> {
        let not_comparable = serde_json::to_value(&run.comparison.not_comparable)
            .map_err(|e| PgError::Invalid(format!("not_comparable: {e}")))?;
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            diesel::sql_query(
                "INSERT INTO reconciliation_runs \
                   (id, day, started_at, finished_at, status, error, not_comparable) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind::<SqlUuid, _>(run.id)
            .bind::<Date, _>(run.day)
            .bind::<Timestamptz, _>(run.started_at)
            .bind::<Timestamptz, _>(run.finished_at)
            .bind::<Text, _>(run.status.as_str())
            .bind::<Nullable<Text>, _>(
                run.error
                    .as_deref()
                    .map(|e| crate::truncate_chars(e, 2_000)),
            )
            .bind::<Jsonb, _>(&not_comparable)
            .execute(conn)
            .await?;
            let mut new_alerts = Vec::new();
            for line in &run.comparison.lines {
                diesel::sql_query(
                    "INSERT INTO reconciliation_lines \
                       (run_id, upstream_unit, ours, theirs, drift, alert, partial) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind::<SqlUuid, _>(run.id)
                .bind::<Text, _>(&line.upstream_unit)
                .bind::<Numeric, _>(line.ours)
                .bind::<Numeric, _>(line.theirs)
                .bind::<Nullable<Numeric>, _>(line.drift)
                .bind::<Bool, _>(line.alert)
                .bind::<Bool, _>(line.partial)
                .execute(conn)
                .await?;
                if !line.alert {
                    continue;
                }
                // RC8: an open alert with the same figures is not raised twice.
                let raised: Option<AlertRow> = diesel::OptionalExtension::optional(
                    diesel::sql_query(format!(
                        "INSERT INTO reconciliation_alerts \
                           (id, run_id, day, upstream_unit, ours, theirs, drift, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (day, upstream_unit, ours, theirs) \
                           WHERE acknowledged_at IS NULL DO NOTHING \
                         RETURNING {ALERT_COLUMNS}"
                    ))
                    .bind::<SqlUuid, _>(Uuid::now_v7())
                    .bind::<SqlUuid, _>(run.id)
                    .bind::<Date, _>(run.day)
                    .bind::<Text, _>(&line.upstream_unit)
                    .bind::<Numeric, _>(line.ours)
                    .bind::<Numeric, _>(line.theirs)
                    .bind::<Nullable<Numeric>, _>(line.drift)
                    .bind::<Timestamptz, _>(run.finished_at)
                    .get_result(conn)
                    .await,
                )?;
                new_alerts.extend(raised.map(Alert::from));
            }
            Ok(RecordedRun {
                run_id: run.id,
                new_alerts,
            })
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn alerts(&self, query: AlertQuery) -> Result<Vec<Alert>, BillingError> {
        let limit = if query.limit <= 0 {
            100
        } else {
            query.limit.min(1_000)
        };
        let mut conn = self.conn().await?;
        let rows: Vec<AlertRow> = diesel::sql_query(format!(
            "SELECT {ALERT_COLUMNS} FROM reconciliation_alerts \
             WHERE ($1::uuid IS NULL OR run_id = $1) AND (NOT $2 OR acknowledged_at IS NULL) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind::<Nullable<SqlUuid>, _>(query.run_id)
        .bind::<Bool, _>(query.open_only)
        .bind::<BigInt, _>(limit)
        .load(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(rows.into_iter().map(Alert::from).collect())
    }

    async fn acknowledge_alert(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, BillingError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query(
            "UPDATE reconciliation_alerts SET acknowledged_at = $2 \
             WHERE id = $1 AND acknowledged_at IS NULL",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(n == 1)
    }

    async fn latest_run(&self, day: Option<NaiveDate>) -> Result<Option<RunRecord>, BillingError> {
        let mut conn = self.conn().await?;
        let row: Option<RunRow> = diesel::OptionalExtension::optional(
            diesel::sql_query(format!(
                "SELECT {RUN_COLUMNS} FROM reconciliation_runs \
                 WHERE ($1::date IS NULL OR day = $1) \
                 ORDER BY finished_at DESC, id DESC LIMIT 1"
            ))
            .bind::<Nullable<Date>, _>(day)
            .get_result(&mut conn)
            .await,
        )
        .map_err(PgError::from)?;
        match row {
            Some(r) => Ok(Some(with_lines(&mut conn, r).await?)),
            None => Ok(None),
        }
    }

    async fn latest_lines(&self) -> Result<Option<LatestLines>, BillingError> {
        let mut conn = self.conn().await?;
        let row: Option<RunRow> = diesel::OptionalExtension::optional(
            diesel::sql_query(format!(
                "SELECT {RUN_COLUMNS} FROM reconciliation_runs WHERE status = 'succeeded' \
                 ORDER BY day DESC, finished_at DESC, id DESC LIMIT 1"
            ))
            .get_result(&mut conn)
            .await,
        )
        .map_err(PgError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let run = with_lines(&mut conn, row).await?;
        Ok(Some(LatestLines {
            run_id: run.id,
            day: run.day,
            finished_at: run.finished_at,
            lines: run.comparison.lines,
        }))
    }
}
