//! `ProviderKeyStore` on Postgres: accounts' sealed Resemble keys (`account_provider_keys`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Bytea, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::RunQueryDsl;
use indox_accounts::provider_key::{ProviderKeyStore, StoredProviderKey};
use indox_accounts::AccountError;
use indox_core::AccountId;

use crate::{PgError, PgStore};

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Bytea)]
    sealed: Vec<u8>,
    #[diesel(sql_type = Text)]
    key_hint: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

#[async_trait]
impl ProviderKeyStore for PgStore {
    async fn put_provider_key(
        &self,
        account: AccountId,
        sealed: Vec<u8>,
        hint: String,
    ) -> Result<(), AccountError> {
        let mut conn = self.conn().await?;
        // The key and the account's flag change in one statement.
        let n = diesel::sql_query(
            "WITH k AS (\
                INSERT INTO account_provider_keys (account_id, sealed, key_hint) \
                SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $1) \
                ON CONFLICT (account_id) DO UPDATE SET sealed = EXCLUDED.sealed, \
                key_hint = EXCLUDED.key_hint, created_at = now() \
                RETURNING account_id) \
             UPDATE accounts SET byok = true WHERE id IN (SELECT account_id FROM k)",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Bytea, _>(sealed)
        .bind::<Text, _>(hint)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        if n == 0 {
            return Err(AccountError::AccountNotFound);
        }
        Ok(())
    }

    async fn provider_key(
        &self,
        account: AccountId,
    ) -> Result<Option<StoredProviderKey>, AccountError> {
        let mut conn = self.conn().await?;
        let row: Option<KeyRow> = diesel::sql_query(
            "SELECT sealed, key_hint, created_at FROM account_provider_keys WHERE account_id = $1",
        )
        .bind::<SqlUuid, _>(account.0)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(PgError::from)?;
        Ok(row.map(|r| StoredProviderKey {
            sealed: r.sealed,
            hint: r.key_hint,
            created_at: r.created_at,
        }))
    }

    async fn delete_provider_key(&self, account: AccountId) -> Result<bool, AccountError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query(
            "WITH k AS (DELETE FROM account_provider_keys WHERE account_id = $1 RETURNING account_id) \
             UPDATE accounts SET byok = false WHERE id IN (SELECT account_id FROM k)",
        )
            .bind::<SqlUuid, _>(account.0)
            .execute(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(n == 1)
    }
}
