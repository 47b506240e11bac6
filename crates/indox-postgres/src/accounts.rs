//! `AccountRepository` on Postgres: accounts, API keys and top-ups.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use indox_accounts::key::SecretHash;
use indox_accounts::{
    Account, AccountError, AccountPage, AccountRepository, KeySummary, ReferencedTopUp, StoredKey,
};
use indox_core::AccountId;
use rust_decimal::Decimal;

use crate::error::is_foreign_key_violation;
use crate::models::{AccountRow, KeyRow};
use crate::schema::{accounts, api_keys};
use crate::{PgError, PgStore};

#[async_trait]
impl AccountRepository for PgStore {
    async fn find_key(&self, key_id: &str) -> Result<Option<StoredKey>, AccountError> {
        let mut conn = self.conn().await?;
        let found: Option<(KeyRow, AccountRow)> = api_keys::table
            .inner_join(accounts::table)
            .filter(api_keys::key_id.eq(key_id))
            .select((KeyRow::as_select(), AccountRow::as_select()))
            .first(&mut conn)
            .await
            .optional()
            .map_err(PgError::from)?;
        let Some((key, account)) = found else {
            return Ok(None);
        };
        let secret_hash = SecretHash::from_slice(&key.secret_hash).ok_or_else(|| {
            PgError::Corrupt(format!(
                "key {} has a secret hash of the wrong length",
                key.key_id
            ))
        })?;
        Ok(Some(StoredKey {
            key_id: key.key_id,
            secret_hash,
            revoked: key.revoked_at.is_some(),
            account: account.into(),
        }))
    }

    async fn create_account(
        &self,
        name: &str,
        markup_rate: Option<Decimal>,
    ) -> Result<Account, AccountError> {
        let mut conn = self.conn().await?;
        let row: AccountRow = diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(AccountId::new().0),
                accounts::name.eq(name),
                accounts::markup_rate.eq(markup_rate),
            ))
            .returning(AccountRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(row.into())
    }

    async fn get_account(&self, id: AccountId) -> Result<Account, AccountError> {
        let mut conn = self.conn().await?;
        accounts::table
            .find(id.0)
            .select(AccountRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(PgError::from)?
            .map(Account::from)
            .ok_or(AccountError::AccountNotFound)
    }

    async fn create_key(
        &self,
        account: AccountId,
        key_id: &str,
        secret_hash: &SecretHash,
        label: &str,
    ) -> Result<(), AccountError> {
        let mut conn = self.conn().await?;
        let inserted = diesel::insert_into(api_keys::table)
            .values((
                api_keys::key_id.eq(key_id),
                api_keys::account_id.eq(account.0),
                api_keys::secret_hash.eq(secret_hash.0.as_slice()),
                api_keys::label.eq(label),
            ))
            .execute(&mut conn)
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_foreign_key_violation(&e) => Err(AccountError::AccountNotFound),
            Err(e) => Err(PgError::from(e).into()),
        }
    }

    async fn revoke_key(&self, key_id: &str) -> Result<(), AccountError> {
        let mut conn = self.conn().await?;
        // Revoking twice keeps the first revocation time.
        let updated = diesel::update(api_keys::table.find(key_id))
            .set(api_keys::revoked_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("COALESCE(revoked_at, now())")))
            .execute(&mut conn)
            .await
            .map_err(PgError::from)?;
        if updated == 0 {
            return Err(AccountError::UnknownKey);
        }
        Ok(())
    }

    async fn top_up(
        &self,
        account: AccountId,
        amount: Decimal,
        note: &str,
    ) -> Result<Account, AccountError> {
        if amount <= Decimal::ZERO {
            return Err(AccountError::NonPositiveAmount);
        }
        let amount = indox_billing::round_money(amount);
        let mut conn = self.conn().await?;
        // One statement, hence atomic: the balance change and its ledger entry.
        let row: Option<AccountRow> = diesel::sql_query(
            "WITH acct AS ( \
               UPDATE accounts SET balance = balance + $2 WHERE id = $1 RETURNING * \
             ), entry AS ( \
               INSERT INTO ledger_entries (account_id, kind, amount, balance_after, held_after, note) \
               SELECT id, 'top_up', $2, balance, held, $3 FROM acct \
             ) \
             SELECT * FROM acct",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Numeric, _>(amount)
        .bind::<Text, _>(note)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(PgError::from)?;
        row.map(Account::from).ok_or(AccountError::AccountNotFound)
    }

    async fn set_markup(
        &self,
        account: AccountId,
        markup_rate: Option<Decimal>,
    ) -> Result<Account, AccountError> {
        let mut conn = self.conn().await?;
        diesel::update(accounts::table.find(account.0))
            .set(accounts::markup_rate.eq(markup_rate))
            .returning(AccountRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(PgError::from)?
            .map(Account::from)
            .ok_or(AccountError::AccountNotFound)
    }

    async fn list_accounts(&self, page: u32, page_size: u32) -> Result<AccountPage, AccountError> {
        let mut conn = self.conn().await?;
        let total: i64 = accounts::table
            .count()
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        let size = i64::from(page_size);
        let rows: Vec<AccountRow> = accounts::table
            .order((accounts::created_at.asc(), accounts::id.asc()))
            .limit(size)
            .offset(i64::from(page.saturating_sub(1)) * size)
            .select(AccountRow::as_select())
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(AccountPage {
            items: rows.into_iter().map(Account::from).collect(),
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn list_keys(&self, account: AccountId) -> Result<Vec<KeySummary>, AccountError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(
            String,
            String,
            chrono::DateTime<chrono::Utc>,
            Option<chrono::DateTime<chrono::Utc>>,
        )> = api_keys::table
            .filter(api_keys::account_id.eq(account.0))
            .order((api_keys::created_at.asc(), api_keys::key_id.asc()))
            .select((
                api_keys::key_id,
                api_keys::label,
                api_keys::created_at,
                api_keys::revoked_at,
            ))
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(|(key_id, label, created_at, revoked_at)| KeySummary {
                key_id,
                label,
                created_at,
                revoked_at,
            })
            .collect())
    }

    async fn top_up_once(
        &self,
        account: AccountId,
        amount: Decimal,
        note: &str,
        reference: &str,
    ) -> Result<ReferencedTopUp, AccountError> {
        if amount <= Decimal::ZERO {
            return Err(AccountError::NonPositiveAmount);
        }
        let amount = indox_billing::round_money(amount);
        let mut conn = self.conn().await?;
        // One statement: the reference (a repeat conflicts and credits nothing; a concurrent
        // repeat waits for the first to commit), the balance change and its ledger entry.
        let applied: Option<AccountRow> = diesel::sql_query(
            "WITH ref AS ( \
               INSERT INTO top_up_references (account_id, reference, amount) \
               SELECT id, $4, $2 FROM accounts WHERE id = $1 \
               ON CONFLICT (account_id, reference) DO NOTHING \
               RETURNING account_id \
             ), acct AS ( \
               UPDATE accounts SET balance = balance + $2 \
               WHERE id = (SELECT account_id FROM ref) RETURNING * \
             ), entry AS ( \
               INSERT INTO ledger_entries (account_id, kind, amount, balance_after, held_after, note) \
               SELECT id, 'top_up', $2, balance, held, $3 FROM acct \
             ) \
             SELECT * FROM acct",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Numeric, _>(amount)
        .bind::<Text, _>(note)
        .bind::<Text, _>(reference)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(PgError::from)?;
        if let Some(row) = applied {
            return Ok(ReferencedTopUp::Applied(row.into()));
        }
        #[derive(QueryableByName)]
        struct Replay {
            #[diesel(sql_type = Numeric)]
            first_amount: Decimal,
            #[diesel(embed)]
            account: AccountRow,
        }
        let replay: Option<Replay> = diesel::sql_query(
            "SELECT r.amount AS first_amount, a.* FROM top_up_references r \
             JOIN accounts a ON a.id = r.account_id \
             WHERE r.account_id = $1 AND r.reference = $2",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Text, _>(reference)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(PgError::from)?;
        replay
            .map(|r| ReferencedTopUp::AlreadyApplied {
                account: r.account.into(),
                amount: r.first_amount,
            })
            .ok_or(AccountError::AccountNotFound)
    }
}
