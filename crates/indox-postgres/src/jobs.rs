//! `JobRepository` on Postgres: each job state change in one transaction with its money
//! (hold at submit; charge or release at the end) and its follow-up tasks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{
    Bytea, Int8, Jsonb, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use indox_billing::{BillingError, HoldId};
use indox_core::AccountId;
use indox_jobs::{
    Finish, Finished, Job, JobError, JobKind, JobRepository, JobStatus, NewJob, POLL_TASK,
    SUBMIT_TASK,
};
use indox_retention::{Mirror, NewAsset};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::TxError;
use crate::ledger::{refusal, write_charge, PLACE_HOLD_SQL, RELEASE_HOLD_SQL};
use crate::models::CountRow;
use crate::{PgError, PgStore};

type Tx = TxError<JobError>;

const JOB_COLUMNS: &str =
    "id, account_id, kind, status, request, input_asset_id, input_quantity, hold_id, \
     upstream_id, result, error, usage_id, created_at, completed_at";

#[derive(QueryableByName)]
struct JobRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    account_id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Jsonb)]
    request: serde_json::Value,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    input_asset_id: Option<Uuid>,
    #[diesel(sql_type = Numeric)]
    input_quantity: Decimal,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    hold_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    upstream_id: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    result: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    usage_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    completed_at: Option<DateTime<Utc>>,
}

impl TryFrom<JobRow> for Job {
    type Error = PgError;
    fn try_from(r: JobRow) -> Result<Self, PgError> {
        Ok(Job {
            id: r.id,
            account: AccountId(r.account_id),
            kind: JobKind::parse(&r.kind)
                .ok_or_else(|| PgError::Corrupt(format!("job kind {}", r.kind)))?,
            status: JobStatus::parse(&r.status)
                .ok_or_else(|| PgError::Corrupt(format!("job status {}", r.status)))?,
            request: r.request,
            input_asset_id: r.input_asset_id,
            input_quantity: r.input_quantity,
            hold_id: r.hold_id,
            upstream_id: r.upstream_id,
            result: r.result,
            error: r.error,
            usage_id: r.usage_id,
            created_at: r.created_at,
            completed_at: r.completed_at,
        })
    }
}

fn billing(e: BillingError) -> JobError {
    match e {
        BillingError::InsufficientFunds {
            required,
            available,
        } => JobError::InsufficientFunds {
            required,
            available,
        },
        other => JobError::Billing(other.to_string()),
    }
}

async fn insert_task(
    conn: &mut AsyncPgConnection,
    kind: &str,
    job: Uuid,
    run_in: chrono::Duration,
) -> Result<(), Tx> {
    diesel::sql_query("INSERT INTO tasks (kind, payload, run_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')")
        .bind::<Text, _>(kind)
        .bind::<Jsonb, _>(serde_json::json!({ "job_id": job }))
        .bind::<Int8, _>(run_in.num_milliseconds())
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_asset(conn: &mut AsyncPgConnection, a: &NewAsset) -> Result<(), Tx> {
    let (mirrored, pending): (bool, Option<&[u8]>) = match &a.mirror {
        Mirror::Done => (true, None),
        Mirror::InFlight => (false, None),
        Mirror::Pending(b) => (false, Some(b.as_ref())),
    };
    let size = i64::try_from(a.size_bytes)
        .map_err(|_| PgError::Invalid("asset size out of range".into()))?;
    let duration = a
        .duration_ms
        .map(i64::try_from)
        .transpose()
        .map_err(|_| PgError::Invalid("asset duration out of range".into()))?;
    diesel::sql_query(
        "WITH a AS (
            INSERT INTO assets (id, account_id, class, object_key, content_type, size_bytes, sha256, duration_ms,
                                created_at, expires_at, resemble_url, mirrored_at, mirror_next_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL,
                    CASE WHEN $11 THEN now() END, CASE WHEN $11 THEN NULL ELSE now() END)
            RETURNING id)
         INSERT INTO asset_blobs (asset_id, bytes) SELECT id, $12 FROM a WHERE NOT $11 AND $12::bytea IS NOT NULL",
    )
    .bind::<SqlUuid, _>(a.id)
    .bind::<SqlUuid, _>(a.account.0)
    .bind::<Text, _>(a.class.as_str())
    .bind::<Text, _>(&a.object_key)
    .bind::<Text, _>(&a.content_type)
    .bind::<Int8, _>(size)
    .bind::<Bytea, _>(a.sha256.as_slice())
    .bind::<Nullable<Int8>, _>(duration)
    .bind::<Timestamptz, _>(a.created_at)
    .bind::<Nullable<Timestamptz>, _>(a.expires_at)
    .bind::<diesel::sql_types::Bool, _>(mirrored)
    .bind::<Nullable<Bytea>, _>(pending)
    .execute(conn)
    .await?;
    Ok(())
}

async fn load(
    conn: &mut AsyncPgConnection,
    where_sql: &str,
    lock: bool,
    bind: impl FnOnce(
        String,
    ) -> diesel::query_builder::BoxedSqlQuery<
        'static,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
) -> Result<Option<Job>, Tx> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE {where_sql}{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row: Option<JobRow> =
        diesel::OptionalExtension::optional(bind(sql).get_result(conn).await)?;
    Ok(row.map(Job::try_from).transpose()?)
}

fn by_id(
    id: Uuid,
) -> impl FnOnce(
    String,
) -> diesel::query_builder::BoxedSqlQuery<
    'static,
    diesel::pg::Pg,
    diesel::query_builder::SqlQuery,
> {
    move |sql| diesel::sql_query(sql).into_boxed().bind::<SqlUuid, _>(id)
}

impl PgStore {
    /// A job creation whose answer was lost (see `resolve`): sent again with the same job id
    /// until an attempt succeeds, or is refused (then the job row tells whether the first
    /// attempt landed).
    async fn resolve_create(&self, job: &NewJob) -> Result<Job, JobError> {
        let mut attempts = crate::resolve::Attempts::start();
        while attempts.next().await {
            let refused = match self.create_once(job).await {
                Ok(created) => {
                    tracing::info!(job = %job.id, "a job creation whose answer was lost had not happened; sent again");
                    return Ok(created);
                }
                Err(e) if e.retryable() => continue,
                Err(e) => e.into_port(),
            };
            match self.get(job.id).await {
                Ok(Some(found)) => {
                    tracing::info!(job = %job.id, "a job creation whose answer was lost had happened");
                    return Ok(found);
                }
                Ok(None) => return Err(refused),
                Err(_) => continue,
            }
        }
        tracing::error!(job = %job.id, "the outcome of a job creation is unknown: the store stayed unreachable");
        Err(JobError::OutcomeUnknown { job_id: job.id })
    }

    /// One attempt at creating a job: its hold, input asset, row and first task.
    async fn create_once(&self, job: &NewJob) -> Result<Job, Tx> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            let hold = Uuid::now_v7();
            let placed: CountRow = diesel::sql_query(PLACE_HOLD_SQL)
                .bind::<SqlUuid, _>(job.account.0)
                .bind::<Numeric, _>(job.hold_amount)
                .bind::<SqlUuid, _>(hold)
                .bind::<Text, _>(format!("job:{}", job.id))
                .get_result(conn)
                .await?;
            if placed.n != 1 {
                let why = refusal(conn, job.account, job.hold_amount).await.map_err(|e| match e {
                    TxError::Domain(b) => TxError::Domain(billing(b)),
                    TxError::Db(e) => TxError::Db(e),
                    TxError::Pg(e) => TxError::Pg(e),
                })?;
                return Err(TxError::Domain(billing(why)));
            }
            if let Some(asset) = &job.input_asset {
                insert_asset(conn, asset).await?;
            }
            diesel::sql_query(
                "INSERT INTO jobs (id, account_id, kind, status, request, input_asset_id, input_quantity, hold_id)
                 VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7)",
            )
            .bind::<SqlUuid, _>(job.id)
            .bind::<SqlUuid, _>(job.account.0)
            .bind::<Text, _>(job.kind.as_str())
            .bind::<Jsonb, _>(&job.request)
            .bind::<Nullable<SqlUuid>, _>(job.input_asset.as_ref().map(|a| a.id))
            .bind::<Numeric, _>(job.input_quantity)
            .bind::<SqlUuid, _>(hold)
            .execute(conn)
            .await?;
            insert_task(conn, SUBMIT_TASK, job.id, chrono::Duration::zero()).await?;
            load(conn, "id = $1", false, by_id(job.id)).await?.ok_or_else(|| TxError::Pg(PgError::Corrupt("job vanished".into())))
        })
        .await
    }
}

#[async_trait]
impl JobRepository for PgStore {
    async fn create(&self, job: NewJob) -> Result<Job, JobError> {
        match self.create_once(&job).await {
            Ok(created) => Ok(created),
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(job = %job.id, error = ?e, "the connection broke while creating a job; resolving it");
                self.resolve_create(&job).await
            }
            Err(e) => Err(e.into_port()),
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<Job>, JobError> {
        let mut conn = self.conn().await?;
        load(&mut conn, "id = $1", false, by_id(id))
            .await
            .map_err(Tx::into_port)
    }

    async fn recent(&self, account: AccountId, limit: i64) -> Result<Vec<Job>, JobError> {
        let mut conn = self.conn().await?;
        let rows: Vec<JobRow> = diesel::sql_query(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind::<SqlUuid, _>(account.0)
        .bind::<diesel::sql_types::BigInt, _>(limit.clamp(1, 500))
        .load(&mut conn)
        .await
        .map_err(PgError::from)?;
        rows.into_iter()
            .map(|r| Job::try_from(r).map_err(JobError::from))
            .collect()
    }

    async fn mark_submitted(
        &self,
        id: Uuid,
        upstream_id: &str,
        poll_in: chrono::Duration,
    ) -> Result<bool, JobError> {
        let mut conn = self.conn().await?;
        let upstream_id = upstream_id.to_owned();
        conn.transaction::<_, Tx, _>(async |conn| {
            let n = diesel::sql_query(
                "UPDATE jobs SET status = 'processing', upstream_id = $2, updated_at = now() WHERE id = $1 AND status = 'pending'",
            )
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(&upstream_id)
            .execute(conn)
            .await?;
            if n == 1 {
                insert_task(conn, POLL_TASK, id, poll_in).await?;
            }
            Ok(n == 1)
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn poll_again(&self, id: Uuid, poll_in: chrono::Duration) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        insert_task(&mut conn, POLL_TASK, id, poll_in)
            .await
            .map_err(Tx::into_port)
    }

    async fn finish(&self, id: Uuid, finish: Finish) -> Result<Finished, JobError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            let job = load(conn, "id = $1", true, by_id(id)).await?.ok_or_else(|| TxError::Pg(PgError::Invalid(format!("no job {id}"))))?;
            if job.status.is_terminal() {
                return Ok(Finished::AlreadyEnded(job.status));
            }
            // The user's callback is sent after our own bookkeeping, from the same commit.
            if job.request.get("callback_uri").is_some_and(serde_json::Value::is_string) {
                diesel::sql_query("INSERT INTO tasks (kind, payload) VALUES ($1, $2)")
                    .bind::<Text, _>(indox_jobs::CALLBACK_TASK)
                    .bind::<Jsonb, _>(serde_json::json!({ "job_id": id, "attempt": 1 }))
                    .execute(conn)
                    .await?;
            }
            match finish {
                Finish::Completed { result, charge, output_asset } => {
                    if let Some(asset) = &output_asset {
                        insert_asset(conn, asset).await?;
                    }
                    let hold = job.hold_id.map(HoldId);
                    let usage = write_charge(conn, charge.as_ref(), hold, None).await.map_err(|e| match e {
                        TxError::Domain(b) => TxError::Domain(billing(b)),
                        TxError::Db(e) => TxError::Db(e),
                        TxError::Pg(e) => TxError::Pg(e),
                    })?;
                    diesel::sql_query(
                        "UPDATE jobs SET status = 'completed', result = $2, usage_id = $3, completed_at = now(), updated_at = now() WHERE id = $1",
                    )
                    .bind::<SqlUuid, _>(id)
                    .bind::<Jsonb, _>(&result)
                    .bind::<SqlUuid, _>(usage.id)
                    .execute(conn)
                    .await?;
                    Ok(Finished::Completed(Box::new(usage)))
                }
                Finish::Failed { error } => {
                    if let Some(hold) = job.hold_id {
                        diesel::sql_query(RELEASE_HOLD_SQL).bind::<SqlUuid, _>(hold).execute(conn).await?;
                    }
                    diesel::sql_query(
                        "UPDATE jobs SET status = 'failed', error = $2, completed_at = now(), updated_at = now() WHERE id = $1",
                    )
                    .bind::<SqlUuid, _>(id)
                    .bind::<Text, _>(crate::truncate_chars(&error, 2_000))
                    .execute(conn)
                    .await?;
                    Ok(Finished::Failed)
                }
            }
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn find_by_upstream(
        &self,
        kind: JobKind,
        upstream_id: &str,
    ) -> Result<Option<Job>, JobError> {
        let mut conn = self.conn().await?;
        let upstream_id = upstream_id.to_owned();
        load(
            &mut conn,
            "kind = $1 AND upstream_id = $2",
            false,
            move |sql| {
                diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Text, _>(kind.as_str())
                    .bind::<Text, _>(upstream_id)
            },
        )
        .await
        .map_err(Tx::into_port)
    }

    async fn record_receipt(&self, digest: [u8; 32]) -> Result<bool, JobError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query(
            "INSERT INTO webhook_receipts (digest) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind::<Bytea, _>(digest.as_slice())
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(n == 1)
    }
}
