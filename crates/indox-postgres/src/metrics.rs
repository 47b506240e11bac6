//! Operational numbers read at scrape time (`GET /metrics`): task queue depth and age, open
//! async jobs, failed callback deliveries. One statement, read-only.

use diesel::sql_types::{Double, Int8};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::{PgError, PgStore};

/// The numbers, as Postgres counts them now.
#[derive(Debug, Clone, Copy, Default, PartialEq, QueryableByName)]
pub struct QueueStats {
    /// Tasks in state `queued` (due now or scheduled later).
    #[diesel(sql_type = Int8)]
    pub tasks_queued: i64,
    /// Queued tasks whose `run_at` has passed.
    #[diesel(sql_type = Int8)]
    pub tasks_due: i64,
    /// Tasks in state `running`.
    #[diesel(sql_type = Int8)]
    pub tasks_running: i64,
    /// Tasks in state `dead`.
    #[diesel(sql_type = Int8)]
    pub tasks_dead: i64,
    /// Seconds since the `run_at` of the oldest due queued task (0 when none).
    #[diesel(sql_type = Double)]
    pub oldest_due_task_age_secs: f64,
    /// Jobs in status `pending`.
    #[diesel(sql_type = Int8)]
    pub jobs_pending: i64,
    /// Jobs in status `processing`.
    #[diesel(sql_type = Int8)]
    pub jobs_processing: i64,
    /// Seconds since the oldest pending or processing job was created (0 when none).
    #[diesel(sql_type = Double)]
    pub oldest_open_job_age_secs: f64,
    /// Callback delivery attempts recorded as not delivered.
    #[diesel(sql_type = Int8)]
    pub callback_failures: i64,
}

/// `tasks` is read through its `(state, run_at)` index; `jobs` and `callback_deliveries`
/// have no index on status, so those counts scan (cheap at today's sizes; a partial index on
/// open jobs would bound it).
const QUEUE_STATS_SQL: &str = "\
SELECT
    (SELECT count(*) FROM tasks WHERE state = 'queued') AS tasks_queued,
    (SELECT count(*) FROM tasks WHERE state = 'queued' AND run_at <= now()) AS tasks_due,
    (SELECT count(*) FROM tasks WHERE state = 'running') AS tasks_running,
    (SELECT count(*) FROM tasks WHERE state = 'dead') AS tasks_dead,
    (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(run_at)), 0)::float8
       FROM tasks WHERE state = 'queued' AND run_at <= now()) AS oldest_due_task_age_secs,
    (SELECT count(*) FROM jobs WHERE status = 'pending') AS jobs_pending,
    (SELECT count(*) FROM jobs WHERE status = 'processing') AS jobs_processing,
    (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
       FROM jobs WHERE status IN ('pending', 'processing')) AS oldest_open_job_age_secs,
    (SELECT count(*) FROM callback_deliveries WHERE NOT delivered) AS callback_failures";

impl PgStore {
    /// The task queue, job and callback numbers `GET /metrics` exposes.
    ///
    /// # Errors
    /// [`PgError`] when the database does not answer.
    pub async fn queue_stats(&self) -> Result<QueueStats, PgError> {
        let mut conn = self.conn().await?;
        let stats = diesel::sql_query(QUEUE_STATS_SQL)
            .get_result(&mut conn)
            .await?;
        Ok(stats)
    }
}
