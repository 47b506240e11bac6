//! `CallbackStore` on Postgres: account signing secrets and the delivery-attempt record,
//! each attempt's next try enqueued in the same transaction as its record.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Bool, Int4, Int8, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};
use indox_core::AccountId;
use indox_jobs::{AccountSecrets, Attempt, CallbackStore, JobError, CALLBACK_TASK};
use uuid::Uuid;

use crate::error::TxError;
use crate::{PgError, PgStore};

type Tx = TxError<JobError>;

#[derive(QueryableByName)]
struct SecretRow {
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    previous: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    rotated_at: Option<DateTime<Utc>>,
}

impl From<SecretRow> for AccountSecrets {
    fn from(r: SecretRow) -> Self {
        AccountSecrets {
            current: r.secret,
            previous: r.previous,
            rotated_at: r.rotated_at,
        }
    }
}

#[derive(QueryableByName)]
struct AttemptRow {
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Int4)]
    attempt: i32,
    #[diesel(sql_type = Nullable<Int4>)]
    status_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Bool)]
    delivered: bool,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

/// The previous secret is honoured only this long after a rotation.
const SELECT_SECRETS: &str = "SELECT secret, CASE WHEN previous_until > now() THEN previous_secret END AS previous, rotated_at \
     FROM account_webhook_secrets WHERE account_id = $1";

#[async_trait]
impl CallbackStore for PgStore {
    async fn secrets(
        &self,
        account: AccountId,
        generated: String,
    ) -> Result<AccountSecrets, JobError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("INSERT INTO account_webhook_secrets (account_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind::<SqlUuid, _>(account.0)
            .bind::<Text, _>(&generated)
            .execute(&mut conn)
            .await
            .map_err(PgError::from)?;
        let row: SecretRow = diesel::sql_query(SELECT_SECRETS)
            .bind::<SqlUuid, _>(account.0)
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(row.into())
    }

    async fn rotate(&self, account: AccountId, new: String) -> Result<AccountSecrets, JobError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "INSERT INTO account_webhook_secrets (account_id, secret) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET previous_secret = account_webhook_secrets.secret,
                 previous_until = now() + interval '1 day', secret = EXCLUDED.secret, rotated_at = now()",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Text, _>(&new)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        let row: SecretRow = diesel::sql_query(SELECT_SECRETS)
            .bind::<SqlUuid, _>(account.0)
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(row.into())
    }

    async fn record_attempt(
        &self,
        job: Uuid,
        a: Attempt,
        next_in: Option<chrono::Duration>,
    ) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            diesel::sql_query(
                "INSERT INTO callback_deliveries (job_id, event_id, attempt, status_code, error, delivered) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind::<SqlUuid, _>(job)
            .bind::<Text, _>(&a.event_id)
            .bind::<Int4, _>(i32::try_from(a.attempt).unwrap_or(i32::MAX))
            .bind::<Nullable<Int4>, _>(a.status_code.map(i32::from))
            .bind::<Nullable<Text>, _>(a.error.as_deref().map(|e| crate::truncate_chars(e, 2_000)))
            .bind::<Bool, _>(a.delivered)
            .execute(conn)
            .await?;
            if let Some(delay) = next_in {
                diesel::sql_query("INSERT INTO tasks (kind, payload, run_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')")
                    .bind::<Text, _>(CALLBACK_TASK)
                    .bind::<Jsonb, _>(serde_json::json!({ "job_id": job, "attempt": a.attempt + 1 }))
                    .bind::<Int8, _>(delay.num_milliseconds())
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn attempts(&self, job: Uuid) -> Result<Vec<Attempt>, JobError> {
        let mut conn = self.conn().await?;
        let rows: Vec<AttemptRow> = diesel::sql_query(
            "SELECT event_id, attempt, status_code, error, delivered, created_at FROM callback_deliveries WHERE job_id = $1 ORDER BY id",
        )
        .bind::<SqlUuid, _>(job)
        .load(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| Attempt {
                event_id: r.event_id,
                attempt: u32::try_from(r.attempt).unwrap_or(0),
                status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
                error: r.error,
                delivered: r.delivered,
                at: r.created_at,
            })
            .collect())
    }
}
