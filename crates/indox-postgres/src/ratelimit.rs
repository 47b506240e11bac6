//! `OverrideStore` on Postgres: per-account rate-limit overrides (`rate_limit_overrides`,
//! `capability` NULL meaning every capability). Read once per account and cache TTL by
//! each gateway process, never on every request.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Int4, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use indox_core::{AccountId, Capability};
use indox_ratelimit::{Limit, Override, OverrideScope, OverrideStore, RateLimitError};

use crate::error::is_foreign_key_violation;
use crate::{PgError, PgStore};

impl From<PgError> for RateLimitError {
    fn from(e: PgError) -> Self {
        Self::Store(e.to_string())
    }
}

#[derive(QueryableByName)]
struct OverrideRow {
    #[diesel(sql_type = Nullable<Text>)]
    capability: Option<String>,
    #[diesel(sql_type = Int4)]
    limit: i32,
    #[diesel(sql_type = Int8)]
    window_ms: i64,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

impl OverrideRow {
    /// The domain value; `None` for a row this version cannot use (a capability it does not
    /// know, written by a newer gateway during a rolling deploy), which is then ignored.
    fn into_override(self) -> Option<Override> {
        let scope = match self.capability.as_deref() {
            None => OverrideScope::All,
            Some(name) => match name.parse::<Capability>() {
                Ok(c) => OverrideScope::Capability(c),
                Err(_) => {
                    tracing::warn!(
                        capability = name,
                        "ignoring a rate-limit override for an unknown capability"
                    );
                    return None;
                }
            },
        };
        Some(Override {
            scope,
            limit: Limit::new(
                u32::try_from(self.limit).ok()?,
                u64::try_from(self.window_ms).ok()?,
            ),
            updated_at: self.updated_at,
        })
    }
}

const COLUMNS: &str = "capability, \"limit\", window_ms, updated_at";

fn to_sql_limit(limit: Limit) -> Result<(i32, i64), RateLimitError> {
    let max = i32::try_from(limit.max)
        .map_err(|_| PgError::Invalid(format!("limit {} is too large", limit.max)))?;
    let window = i64::try_from(limit.window_ms)
        .map_err(|_| PgError::Invalid(format!("window {} ms is too long", limit.window_ms)))?;
    Ok((max, window))
}

#[async_trait]
impl OverrideStore for PgStore {
    async fn overrides(&self, account: AccountId) -> Result<Vec<Override>, RateLimitError> {
        let mut conn = self.conn().await?;
        let rows: Vec<OverrideRow> = diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM rate_limit_overrides WHERE account_id = $1"
        ))
        .bind::<SqlUuid, _>(account.0)
        .load(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .filter_map(OverrideRow::into_override)
            .collect())
    }

    async fn put_override(
        &self,
        account: AccountId,
        scope: OverrideScope,
        limit: Limit,
    ) -> Result<Override, RateLimitError> {
        let (max, window) = to_sql_limit(limit)?;
        let mut conn = self.conn().await?;
        let row: Result<OverrideRow, _> = diesel::sql_query(format!(
            "INSERT INTO rate_limit_overrides (account_id, capability, \"limit\", window_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, (COALESCE(capability, ''))) DO UPDATE \
               SET \"limit\" = EXCLUDED.\"limit\", window_ms = EXCLUDED.window_ms, updated_at = now() \
             RETURNING {COLUMNS}"
        ))
        .bind::<SqlUuid, _>(account.0)
        .bind::<Nullable<Text>, _>(scope.capability().map(Capability::as_str))
        .bind::<Int4, _>(max)
        .bind::<Int8, _>(window)
        .get_result(&mut conn)
        .await;
        match row {
            Ok(r) => r.into_override().ok_or_else(|| {
                PgError::Corrupt("a stored override cannot be read back".into()).into()
            }),
            Err(e) if is_foreign_key_violation(&e) => Err(RateLimitError::UnknownAccount),
            Err(e) => Err(PgError::from(e).into()),
        }
    }

    async fn remove_override(
        &self,
        account: AccountId,
        scope: OverrideScope,
    ) -> Result<bool, RateLimitError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query(
            "DELETE FROM rate_limit_overrides \
             WHERE account_id = $1 AND capability IS NOT DISTINCT FROM $2",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Nullable<Text>, _>(scope.capability().map(Capability::as_str))
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(n > 0)
    }
}
