//! `TaskQueue` on Postgres: a durable queue claimed with `FOR UPDATE SKIP LOCKED` and leases.

use async_trait::async_trait;
use chrono::Duration;
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Int8, Jsonb, Text};
use diesel_async::RunQueryDsl;
use indox_jobs::{DeadTask, JobError, Task, TaskQueue};

use crate::schema::tasks;
use crate::{truncate_chars, PgError, PgStore};

/// The longest error text kept on a task.
const MAX_ERROR_CHARS: usize = 2_000;

/// Claims the oldest due task of the given kinds, or one whose lease ran out.
/// Parameters: $1 kinds, $2 lease in milliseconds.
const CLAIM_SQL: &str = "\
WITH next AS (
    SELECT id FROM tasks
    WHERE kind = ANY($1)
      AND ((state = 'queued' AND run_at <= now()) OR (state = 'running' AND locked_until < now()))
    ORDER BY run_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE tasks t
SET state = 'running', locked_until = now() + $2 * interval '1 millisecond', attempts = t.attempts + 1
FROM next WHERE t.id = next.id
RETURNING t.id, t.kind, t.payload, t.attempts - 1 AS attempts";

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = Int8)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Int4)]
    attempts: i32,
}

#[async_trait]
impl TaskQueue for PgStore {
    async fn enqueue(&self, kind: &str, payload: serde_json::Value) -> Result<i64, JobError> {
        let mut conn = self.conn().await?;
        let id = diesel::insert_into(tasks::table)
            .values((tasks::kind.eq(kind), tasks::payload.eq(payload)))
            .returning(tasks::id)
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(id)
    }

    async fn claim(&self, kinds: &[String], lease: Duration) -> Result<Option<Task>, JobError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let row: Option<ClaimedRow> = diesel::sql_query(CLAIM_SQL)
            .bind::<Array<Text>, _>(kinds)
            .bind::<Int8, _>(lease.num_milliseconds())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(PgError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts = u32::try_from(row.attempts).map_err(|_| {
            PgError::Corrupt(format!("task {} has a negative attempt count", row.id))
        })?;
        Ok(Some(Task {
            id: row.id,
            kind: row.kind,
            payload: row.payload,
            attempts,
        }))
    }

    async fn complete(&self, id: i64) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        diesel::delete(tasks::table.find(id))
            .execute(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(())
    }

    async fn fail(&self, id: i64, error: &str, retry_in: Option<Duration>) -> Result<(), JobError> {
        let mut conn = self.conn().await?;
        let error = truncate_chars(error, MAX_ERROR_CHARS);
        let updated = match retry_in {
            Some(delay) => diesel::sql_query(
                "UPDATE tasks SET state = 'queued', run_at = now() + $3 * interval '1 millisecond', \
                   locked_until = NULL, last_error = $2 WHERE id = $1",
            )
            .bind::<Int8, _>(id)
            .bind::<Text, _>(error)
            .bind::<Int8, _>(delay.num_milliseconds())
            .execute(&mut conn)
            .await,
            None => diesel::update(tasks::table.find(id))
                .set((
                    tasks::state.eq("dead"),
                    tasks::locked_until.eq(None::<chrono::DateTime<chrono::Utc>>),
                    tasks::last_error.eq(error),
                ))
                .execute(&mut conn)
                .await,
        }
        .map_err(PgError::from)?;
        if updated == 0 {
            tracing::debug!(task_id = id, "failed a task that no longer exists");
        }
        Ok(())
    }

    async fn enqueue_if_absent(&self, kind: &str) -> Result<bool, JobError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query(
            "INSERT INTO tasks (kind, payload) SELECT $1, '{}'::jsonb \
             WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE kind = $1 AND state IN ('queued', 'running'))",
        )
        .bind::<Text, _>(kind)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(n == 1)
    }

    async fn dead(&self, limit: i64) -> Result<Vec<DeadTask>, JobError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(i64, String, serde_json::Value, i32, Option<String>)> = tasks::table
            .filter(tasks::state.eq("dead"))
            .order(tasks::id.desc())
            .limit(limit.max(0))
            .select((
                tasks::id,
                tasks::kind,
                tasks::payload,
                tasks::attempts,
                tasks::last_error,
            ))
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, payload, attempts, last_error)| DeadTask {
                id,
                kind,
                payload,
                attempts: u32::try_from(attempts).unwrap_or(0),
                last_error,
            })
            .collect())
    }

    async fn retry_dead(&self, id: i64) -> Result<bool, JobError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(
            "UPDATE tasks SET state = 'queued', attempts = 0, run_at = now(), locked_until = NULL \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind::<Int8, _>(id)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        if updated == 1 {
            // Wake idle runners as an insert would.
            diesel::sql_query("SELECT pg_notify('indox_tasks', 'retry')")
                .execute(&mut conn)
                .await
                .map_err(PgError::from)?;
        }
        Ok(updated == 1)
    }
}
