//! The pool, configuration, start-up (connect, migrate) and the helper queries the server
//! and tests use to check the ledger invariants.

use chrono::Duration;
use diesel::prelude::*;
use diesel::sql_types::{Numeric, Uuid as SqlUuid};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use indox_billing::UsageRecord;
use indox_core::AccountId;
use rust_decimal::Decimal;

use crate::models::UsageRow;
use crate::PgError;

/// The schema migrations, compiled into the binary from the workspace's `migrations/`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// How long an in-flight idempotency key is held before another request may take it over.
pub const DEFAULT_IDEMPOTENCY_LOCK_TIMEOUT: Duration = Duration::seconds(60);

/// How long a caller waits for a free pooled connection before giving up.
const POOL_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long opening (or checking) one connection may take.
const POOL_CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How to reach Postgres.
#[derive(Clone)]
pub struct PgConfig {
    /// A `postgres://` URL. It may hold a password, so it is never logged or printed.
    pub url: String,
    /// The pool's size.
    pub max_connections: usize,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The Postgres adapter: one pool behind every port this crate implements.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: Pool<AsyncPgConnection>,
    pub(crate) idempotency_lock_timeout: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .field("idempotency_lock_timeout", &self.idempotency_lock_timeout)
            .finish()
    }
}

/// Builds the pool. No connection is opened until one is needed; call [`PgStore::ping`]
/// to check the database answers.
///
/// # Errors
/// [`PgError::Config`] for a zero-sized pool or when the pool cannot be built.
pub async fn connect(cfg: PgConfig) -> Result<PgStore, PgError> {
    if cfg.max_connections == 0 {
        return Err(PgError::Config("max_connections must be at least 1".into()));
    }
    // `Fast` recycling: a checked-out connection is only checked for a dangling or broken
    // transaction (a cancelled commit), not pinged, which would add a round trip to every
    // request. A connection the server closed fails its first query instead.
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(cfg.url, manager_config);
    let pool = Pool::builder(manager)
        .max_size(cfg.max_connections)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT_TIMEOUT))
        .create_timeout(Some(POOL_CREATE_TIMEOUT))
        .recycle_timeout(Some(POOL_CREATE_TIMEOUT))
        .build()
        .map_err(|e| PgError::Config(e.to_string()))?;
    Ok(PgStore {
        pool,
        idempotency_lock_timeout: DEFAULT_IDEMPOTENCY_LOCK_TIMEOUT,
    })
}

/// Applies every pending embedded migration; a no-op when the schema is current.
///
/// Runs on a blocking thread (Diesel's migration harness is synchronous) through
/// diesel-async's `AsyncConnectionWrapper`, so it needs a Tokio runtime.
///
/// # Errors
/// [`PgError::Connect`] when the database cannot be reached, [`PgError::Migration`] when a
/// migration fails (that migration is rolled back).
pub async fn migrate(url: &str) -> Result<(), PgError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<(), PgError> {
        use diesel::Connection as _;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| PgError::Migration(e.to_string()))?;
        for version in &applied {
            tracing::info!(%version, "applied migration");
        }
        Ok(())
    })
    .await
    .map_err(|e| PgError::Migration(format!("migration task failed: {e}")))?
}

impl PgStore {
    /// A pooled connection.
    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, PgError> {
        Ok(self.pool.get().await?)
    }

    /// Readiness: `SELECT 1` on a pooled connection.
    ///
    /// # Errors
    /// [`PgError::Pool`] or [`PgError::Query`] when the database does not answer.
    pub async fn ping(&self) -> Result<(), PgError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }

    /// How long an in-flight idempotency key is held before a retry may take it over.
    pub fn idempotency_lock_timeout(&self) -> Duration {
        self.idempotency_lock_timeout
    }

    /// Sets the idempotency lock timeout (default [`DEFAULT_IDEMPOTENCY_LOCK_TIMEOUT`]).
    pub fn set_idempotency_lock_timeout(&mut self, timeout: Duration) {
        self.idempotency_lock_timeout = timeout;
    }

    /// Every usage row of an account, oldest first.
    ///
    /// # Errors
    /// [`PgError`] when the query fails.
    pub async fn usage_rows_for_account(
        &self,
        account: AccountId,
    ) -> Result<Vec<UsageRecord>, PgError> {
        let mut conn = self.conn().await?;
        let rows: Vec<UsageRow> = diesel::sql_query(
            "SELECT * FROM provider_resemble_usage WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind::<SqlUuid, _>(account.0)
        .load(&mut conn)
        .await?;
        Ok(rows.into_iter().map(UsageRecord::from).collect())
    }

    /// The sums of an account's ledger entries: `(balance_sum, held_sum)`, where the first
    /// adds the `top_up`, `charge`, `refund` and `adjustment` entries and the second the
    /// `hold`, `release` and `settle` entries. They always equal the account's `balance`
    /// and `held`.
    ///
    /// # Errors
    /// [`PgError`] when the query fails.
    pub async fn ledger_sum(&self, account: AccountId) -> Result<(Decimal, Decimal), PgError> {
        #[derive(QueryableByName)]
        struct Sums {
            #[diesel(sql_type = Numeric)]
            balance_sum: Decimal,
            #[diesel(sql_type = Numeric)]
            held_sum: Decimal,
        }
        let mut conn = self.conn().await?;
        let sums: Sums = diesel::sql_query(
            "SELECT \
               COALESCE(SUM(amount) FILTER (WHERE kind IN ('top_up', 'charge', 'refund', 'adjustment')), 0) \
                 AS balance_sum, \
               COALESCE(SUM(amount) FILTER (WHERE kind IN ('hold', 'release', 'settle')), 0) AS held_sum \
             FROM ledger_entries WHERE account_id = $1",
        )
        .bind::<SqlUuid, _>(account.0)
        .get_result(&mut conn)
        .await?;
        Ok((sums.balance_sum, sums.held_sum))
    }
}
