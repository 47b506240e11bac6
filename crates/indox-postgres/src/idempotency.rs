//! `IdempotencyStore` on Postgres: claiming keys and the replay/mismatch/in-flight rule.
//!
//! Completing a key is not here: it happens inside the billing commit (see `ledger.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use indox_core::AccountId;
use indox_idempotency::{
    decide, BeginOutcome, Decision, Existing, Fingerprint, IdempotencyError, IdempotencyKey,
    IdempotencyStore, KeyState, StoredResponse,
};

use crate::error::TxError;
use crate::schema::idempotency_keys;
use crate::{PgError, PgStore};

type Tx = TxError<IdempotencyError>;

/// How often `begin` retries when the key it collided with disappears before it can be read.
const BEGIN_ATTEMPTS: usize = 3;

#[derive(QueryableByName)]
struct ExistingRow {
    #[diesel(sql_type = Bytea)]
    fingerprint: Vec<u8>,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Int4>)]
    response_status: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Bytea>)]
    response_body: Option<Vec<u8>>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    locked_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    now: DateTime<Utc>,
}

impl ExistingRow {
    fn into_existing(self) -> Result<(Existing, DateTime<Utc>), PgError> {
        let fingerprint = <[u8; 32]>::try_from(self.fingerprint.as_slice())
            .map(Fingerprint)
            .map_err(|_| PgError::Corrupt("idempotency fingerprint of the wrong length".into()))?;
        let state = match self.state.as_str() {
            "in_flight" => KeyState::InFlight,
            "completed" => {
                let status = self
                    .response_status
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or_else(|| {
                        PgError::Corrupt("completed idempotency key without a status".into())
                    })?;
                KeyState::Completed(StoredResponse {
                    status,
                    body: self.response_body.unwrap_or_default(),
                })
            }
            other => {
                return Err(PgError::Corrupt(format!(
                    "idempotency key in unknown state `{other}`"
                )))
            }
        };
        Ok((
            Existing {
                fingerprint,
                state,
                locked_at: self.locked_at,
            },
            self.now,
        ))
    }
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn begin(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<BeginOutcome, IdempotencyError> {
        let mut conn = self.conn().await?;
        let timeout = self.idempotency_lock_timeout;
        for _ in 0..BEGIN_ATTEMPTS {
            // The common case, a fresh key: one statement.
            let inserted = diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::account_id.eq(account.0),
                    idempotency_keys::key.eq(key.as_str()),
                    idempotency_keys::fingerprint.eq(fingerprint.0.as_slice()),
                    idempotency_keys::state.eq("in_flight"),
                    idempotency_keys::locked_at.eq(diesel::dsl::now),
                ))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await
                .map_err(PgError::from)?;
            if inserted == 1 {
                return Ok(BeginOutcome::Started);
            }
            // The key exists: lock it, decide, and take it over if its holder is gone.
            let outcome = conn
                .transaction::<_, Tx, _>(async |conn| {
                    let row: Option<ExistingRow> = diesel::sql_query(
                        "SELECT fingerprint, state, response_status, response_body, locked_at, now() AS now \
                         FROM idempotency_keys WHERE account_id = $1 AND key = $2 FOR UPDATE",
                    )
                    .bind::<SqlUuid, _>(account.0)
                    .bind::<Text, _>(key.as_str())
                    .get_result(conn)
                    .await
                    .optional()?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let (existing, now) = row.into_existing()?;
                    Ok(Some(match decide(&existing, fingerprint, now, timeout) {
                        Decision::Replay(resp) => BeginOutcome::Replay(resp),
                        Decision::Mismatch => BeginOutcome::Mismatch,
                        Decision::InFlight => BeginOutcome::InFlight,
                        Decision::TakeOver => {
                            diesel::update(idempotency_keys::table.find((account.0, key.as_str())))
                                .set(idempotency_keys::locked_at.eq(diesel::dsl::now))
                                .execute(conn)
                                .await?;
                            tracing::info!(%account, "took over an abandoned idempotency key");
                            BeginOutcome::Started
                        }
                    }))
                })
                .await
                .map_err(Tx::into_port)?;
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
            // Released between our insert and our read: try to claim it again.
        }
        Err(IdempotencyError::Store(
            "the idempotency key kept changing; try again".into(),
        ))
    }

    async fn release(
        &self,
        account: AccountId,
        key: &IdempotencyKey,
    ) -> Result<(), IdempotencyError> {
        let mut conn = self.conn().await?;
        diesel::delete(
            idempotency_keys::table
                .find((account.0, key.as_str()))
                .filter(idempotency_keys::state.eq("in_flight")),
        )
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(())
    }
}
