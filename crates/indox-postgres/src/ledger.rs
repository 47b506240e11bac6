//! `UsageLedger` on Postgres: the charge commit (the hot path), holds and usage reads.
//!
//! A commit is one data-modifying CTE statement for the balance change, its ledger
//! entries, the usage row and the asset record; with an idempotency key, a second statement
//! stores the response, both in one transaction. Without a key the commit is that single
//! statement alone: one round trip, atomic on its own. A commit whose connection broke
//! before its answer is resolved by sending it again (`resolve`).

use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{
    Bool, Bytea, Int4, Int8, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use indox_billing::{
    round_money, BillingError, CommitRequest, Committed, HoldId, IdempotencyFinish, NewCharge,
    UsageLedger, UsageRecord,
};
use indox_core::{AccountId, RequestId};
use indox_idempotency::StoredResponse;
use indox_retention::{Mirror, NewAsset};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{is_unique_violation, TxError};
use crate::models::{AvailableRow, CountRow, UsageRow};
use crate::{PgError, PgStore};

type Tx = TxError<BillingError>;

/// Debits the balance (checking the available amount) and writes the charge entry and the
/// usage row. Parameters: $1 usage id, $2 account, $3 charged, $4..$16 the usage columns.
const CHARGE_SQL: &str = "\
WITH acct AS (
    UPDATE accounts SET balance = balance - $3
    WHERE id = $2 AND balance - held >= $3
    RETURNING balance, held
), usage AS (
    INSERT INTO provider_resemble_usage
        (id, account_id, request_id, job_id, capability, unit, quantity, upstream_quantity,
         unit_price, provider_cost, markup_rate, markup, charged, currency, asset_id, byok)
    SELECT $1, $2, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $3, $14, $15, $16 FROM acct
    RETURNING *
), entry AS (
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, held_after, usage_id)
    SELECT $2, 'charge', -$3, balance, held, $1 FROM acct
)
SELECT * FROM usage";

/// Settles hold $17 (which must be open and belong to the account): releases its amount
/// from `held` and debits `charged` unconditionally, with a settle and a charge entry.
const SETTLE_SQL: &str = "\
WITH h AS (
    UPDATE holds SET state = 'settled', resolved_at = now()
    WHERE id = $17 AND account_id = $2 AND state = 'open'
    RETURNING amount
), acct AS (
    UPDATE accounts a SET held = a.held - h.amount, balance = a.balance - $3
    FROM h WHERE a.id = $2
    RETURNING a.balance, a.held, h.amount AS hold_amount
), usage AS (
    INSERT INTO provider_resemble_usage
        (id, account_id, request_id, job_id, capability, unit, quantity, upstream_quantity,
         unit_price, provider_cost, markup_rate, markup, charged, currency, asset_id, byok)
    SELECT $1, $2, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $3, $14, $15, $16 FROM acct
    RETURNING *
), entries AS (
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, held_after, usage_id, hold_id)
    SELECT $2, v.kind, v.amount, v.balance_after, acct.held, $1, $17
    FROM acct CROSS JOIN LATERAL (VALUES
        (1, 'settle', -acct.hold_amount, acct.balance + $3),
        (2, 'charge', -$3, acct.balance)
    ) AS v (ord, kind, amount, balance_after)
    ORDER BY v.ord
)
SELECT * FROM usage";

/// The asset CTEs appended to a charge statement, so that a charge and its asset are one
/// statement (one round trip, atomic): they insert only when a row of `source` was written
/// (the charge's `usage` CTE; a one-row CTE for an asset without a charge).
/// `$n`.. are the 13 asset parameters, in [`bind_asset`] order.
pub(crate) fn asset_ctes(n: usize, source: &str) -> String {
    let p = |i: usize| format!("${}", n + i);
    format!(
        ", a AS (
    INSERT INTO assets
        (id, account_id, class, object_key, content_type, size_bytes, sha256, duration_ms,
         created_at, expires_at, resemble_url, mirrored_at, mirror_next_at)
    SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
           CASE WHEN {m} THEN now() END,
           CASE WHEN {m} THEN NULL
                WHEN {bytes}::bytea IS NULL THEN now() + make_interval(secs => {lease})
                ELSE now() END
    FROM {source}
    RETURNING id
), b AS (
    INSERT INTO asset_blobs (asset_id, bytes)
    SELECT id, {bytes} FROM a WHERE NOT {m} AND {bytes}::bytea IS NOT NULL
)
",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10),
        m = p(11),
        bytes = p(12),
        lease = crate::assets::IN_FLIGHT_LEASE_SECONDS
    )
}

const COMPLETE_KEY_SQL: &str = "\
UPDATE idempotency_keys
SET state = 'completed', response_status = $3, response_body = $4, completed_at = now()
WHERE account_id = $1 AND key = $2 AND state = 'in_flight'";

pub(crate) const PLACE_HOLD_SQL: &str = "\
WITH acct AS (
    UPDATE accounts SET held = held + $2
    WHERE id = $1 AND balance - held >= $2
    RETURNING balance, held
), h AS (
    INSERT INTO holds (id, account_id, amount, state, request_id)
    SELECT $3, $1, $2, 'open', $4 FROM acct
    RETURNING id
), entry AS (
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, held_after, hold_id)
    SELECT $1, 'hold', $2, balance, held, $3 FROM acct
)
SELECT count(*) AS n FROM h";

pub(crate) const RELEASE_HOLD_SQL: &str = "\
WITH h AS (
    UPDATE holds SET state = 'released', resolved_at = now()
    WHERE id = $1 AND state = 'open'
    RETURNING account_id, amount
), acct AS (
    UPDATE accounts a SET held = a.held - h.amount
    FROM h WHERE a.id = h.account_id
    RETURNING a.id, a.balance, a.held, h.amount
), entry AS (
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, held_after, hold_id)
    SELECT id, 'release', -amount, balance, held, $1 FROM acct
)
SELECT count(*) AS n FROM acct";

/// The charge statement (with or without a hold); `Domain` errors say why nothing was written.
pub(crate) async fn write_charge(
    conn: &mut AsyncPgConnection,
    c: &NewCharge,
    hold: Option<HoldId>,
    asset: Option<&NewAsset>,
) -> Result<UsageRecord, Tx> {
    let q = &c.quote;
    let base = if hold.is_some() {
        SETTLE_SQL
    } else {
        CHARGE_SQL
    };
    let sql = match asset {
        None => base.to_owned(),
        Some(_) => {
            let first = if hold.is_some() { 18 } else { 17 };
            let head = base.strip_suffix("\nSELECT * FROM usage").unwrap_or(base);
            format!("{head}{}SELECT * FROM usage", asset_ctes(first, "usage"))
        }
    };
    let mut query = diesel::sql_query(sql)
        .into_boxed::<Pg>()
        .bind::<SqlUuid, _>(c.usage_id)
        .bind::<SqlUuid, _>(c.account.0)
        .bind::<Numeric, _>(q.charged)
        .bind::<Text, _>(c.request_id.to_string())
        .bind::<Nullable<SqlUuid>, _>(c.job_id)
        .bind::<Text, _>(q.capability.as_str())
        .bind::<Text, _>(q.unit.as_str())
        .bind::<Numeric, _>(q.quantity)
        .bind::<Nullable<Numeric>, _>(c.upstream_quantity)
        .bind::<Numeric, _>(q.unit_price)
        .bind::<Numeric, _>(q.provider_cost)
        .bind::<Numeric, _>(q.markup_rate)
        .bind::<Numeric, _>(q.markup)
        .bind::<Text, _>(q.currency.clone())
        .bind::<Nullable<SqlUuid>, _>(c.asset_id)
        .bind::<diesel::sql_types::Bool, _>(q.byok);
    if let Some(h) = hold {
        query = query.bind::<SqlUuid, _>(h.0);
    }
    if let Some(a) = asset {
        query = bind_asset(query, a)?;
    }
    let row: Option<UsageRow> = match query.get_result(conn).await.optional() {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => return Err(Tx::Domain(BillingError::AlreadyBilled)),
        Err(e) => return Err(Tx::Db(e)),
    };
    if let Some(row) = row {
        return Ok(row.into());
    }
    if hold.is_some() {
        return Err(Tx::Domain(BillingError::HoldNotOpen));
    }
    Err(Tx::Domain(refusal(conn, c.account, q.charged).await?))
}

/// Why a conditional debit of `required` matched no row: no account, or not enough money.
pub(crate) async fn refusal(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    required: Decimal,
) -> Result<BillingError, Tx> {
    let available: Option<AvailableRow> =
        diesel::sql_query("SELECT balance - held AS available FROM accounts WHERE id = $1")
            .bind::<SqlUuid, _>(account.0)
            .get_result(conn)
            .await
            .optional()?;
    Ok(match available {
        None => BillingError::AccountNotFound,
        Some(a) => BillingError::InsufficientFunds {
            required,
            available: a.available,
        },
    })
}

/// Binds the 13 asset parameters of [`asset_ctes`].
pub(crate) fn bind_asset<'a>(
    query: diesel::query_builder::BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery>,
    a: &'a NewAsset,
) -> Result<diesel::query_builder::BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery>, PgError>
{
    let size = i64::try_from(a.size_bytes)
        .map_err(|_| PgError::Invalid(format!("asset size {} is out of range", a.size_bytes)))?;
    let duration = a
        .duration_ms
        .map(i64::try_from)
        .transpose()
        .map_err(|_| PgError::Invalid("asset duration is out of range".into()))?;
    let (mirrored, pending): (bool, Option<&[u8]>) = match &a.mirror {
        Mirror::Done => (true, None),
        Mirror::InFlight => (false, None),
        Mirror::Pending(bytes) => (false, Some(bytes.as_ref())),
    };
    Ok(query
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
        .bind::<Nullable<Text>, _>(a.resemble_url.as_deref())
        .bind::<Bool, _>(mirrored)
        .bind::<Nullable<Bytea>, _>(pending))
}

async fn complete_key(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    finish: &IdempotencyFinish,
    usage: &UsageRecord,
) -> Result<StoredResponse, Tx> {
    let response = finish.renderer.render(usage);
    let updated = diesel::sql_query(COMPLETE_KEY_SQL)
        .bind::<SqlUuid, _>(account.0)
        .bind::<Text, _>(finish.key.as_str())
        .bind::<Int4, _>(i32::from(response.status))
        .bind::<Bytea, _>(response.body.as_slice())
        .execute(conn)
        .await?;
    if updated == 0 {
        // Another request took the key over, or it was never begun: completing it here
        // could store a second response for one key, so the whole charge is refused.
        return Err(Tx::Domain(BillingError::Store(
            "the idempotency key is not held by this request any more".into(),
        )));
    }
    Ok(response)
}

impl PgStore {
    /// One attempt at a commit.
    async fn commit_once(&self, req: &CommitRequest) -> Result<Committed, Tx> {
        let mut conn = self.conn().await?;
        let CommitRequest {
            charge,
            hold,
            asset,
            idempotency,
        } = req;
        if idempotency.is_none() {
            // The hot path: one statement (charge, ledger entries, usage row and asset),
            // atomic without an explicit transaction.
            let usage = write_charge(&mut conn, charge, *hold, asset.as_ref()).await?;
            return Ok(Committed {
                usage,
                response: None,
            });
        }
        conn.transaction::<_, Tx, _>(async |conn| {
            let usage = write_charge(conn, charge, *hold, asset.as_ref()).await?;
            let response = match idempotency {
                Some(finish) => Some(complete_key(conn, charge.account, finish, &usage).await?),
                None => None,
            };
            Ok(Committed { usage, response })
        })
        .await
    }

    /// A commit whose answer was lost (see `resolve`): sent again with the same usage id
    /// until an attempt succeeds (the first never landed), or is refused (then the row tells:
    /// there, the first one landed; absent, the refusal stands).
    async fn resolve_commit(&self, req: &CommitRequest) -> Result<Committed, BillingError> {
        let id = req.charge.usage_id;
        let mut attempts = crate::resolve::Attempts::start();
        while attempts.next().await {
            let refused = match self.commit_once(req).await {
                Ok(committed) => {
                    tracing::info!(usage = %id, "a commit whose answer was lost had not happened; sent again");
                    return Ok(committed);
                }
                Err(e) if e.retryable() => continue,
                Err(e) => e.into_port(),
            };
            match self.get_usage(id).await {
                Ok(Some(usage)) => {
                    tracing::info!(usage = %id, "a commit whose answer was lost had happened");
                    // The renderer is deterministic: these are the bytes the lost commit stored.
                    let response = req
                        .idempotency
                        .as_ref()
                        .map(|finish| finish.renderer.render(&usage));
                    return Ok(Committed { usage, response });
                }
                Ok(None) => return Err(refused),
                Err(_) => continue,
            }
        }
        tracing::error!(usage = %id, "the outcome of a commit is unknown: the store stayed unreachable");
        Err(BillingError::OutcomeUnknown { usage_id: id })
    }
}

#[async_trait]
impl UsageLedger for PgStore {
    async fn commit(&self, req: CommitRequest) -> Result<Committed, BillingError> {
        match self.commit_once(&req).await {
            Ok(committed) => Ok(committed),
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(usage = %req.charge.usage_id, error = ?e, "the connection broke during a commit; resolving it");
                self.resolve_commit(&req).await
            }
            Err(e) => Err(e.into_port()),
        }
    }

    async fn place_hold(
        &self,
        account: AccountId,
        amount: Decimal,
        request_id: RequestId,
    ) -> Result<HoldId, BillingError> {
        let amount = round_money(amount);
        if amount <= Decimal::ZERO {
            return Err(PgError::Invalid("a hold must be for a positive amount".into()).into());
        }
        let id = HoldId(Uuid::now_v7());
        let mut conn = self.conn().await?;
        let placed: CountRow = diesel::sql_query(PLACE_HOLD_SQL)
            .bind::<SqlUuid, _>(account.0)
            .bind::<Numeric, _>(amount)
            .bind::<SqlUuid, _>(id.0)
            .bind::<Text, _>(request_id.to_string())
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        if placed.n == 1 {
            return Ok(id);
        }
        Err(refusal(&mut conn, account, amount)
            .await
            .map_err(Tx::into_port)?)
    }

    async fn release_hold(&self, hold: HoldId) -> Result<(), BillingError> {
        let mut conn = self.conn().await?;
        let released: CountRow = diesel::sql_query(RELEASE_HOLD_SQL)
            .bind::<SqlUuid, _>(hold.0)
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        if released.n == 0 {
            return Err(BillingError::HoldNotOpen);
        }
        Ok(())
    }

    async fn stale_holds(&self, older_than: chrono::Duration) -> Result<Vec<HoldId>, BillingError> {
        let mut conn = self.conn().await?;
        let ids: Vec<Uuid> = crate::schema::holds::table
            .filter(crate::schema::holds::state.eq("open"))
            .filter(crate::schema::holds::created_at.lt(chrono::Utc::now() - older_than))
            .select(crate::schema::holds::id)
            .order(crate::schema::holds::created_at)
            .limit(1_000)
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(ids.into_iter().map(HoldId).collect())
    }

    async fn refund(
        &self,
        usage_id: Uuid,
        amount: Decimal,
        note: &str,
    ) -> Result<Decimal, BillingError> {
        if amount <= Decimal::ZERO || round_money(amount) != amount {
            return Err(BillingError::InvalidAmount(
                "a refund is a positive amount with at most 8 decimals".into(),
            ));
        }
        let note = note.to_owned();
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            // The row lock serialises refunds of one row (a lock, not an update: the row
            // itself stays append-only).
            let row: Option<RefundableRow> = diesel::sql_query(
                "SELECT u.account_id, u.charged, \
                        COALESCE((SELECT sum(e.amount) FROM ledger_entries e \
                                  WHERE e.usage_id = u.id AND e.kind = 'refund'), 0) AS refunded \
                 FROM provider_resemble_usage u WHERE u.id = $1 FOR UPDATE OF u",
            )
            .bind::<SqlUuid, _>(usage_id)
            .get_result(conn)
            .await
            .optional()?;
            let row = row.ok_or(Tx::Domain(BillingError::UsageNotFound))?;
            let refundable = row.charged - row.refunded;
            if amount > refundable {
                return Err(Tx::Domain(BillingError::RefundTooLarge { refundable }));
            }
            let after: BalanceRow = diesel::sql_query(
                "WITH acct AS (UPDATE accounts SET balance = balance + $2 WHERE id = $1 \
                               RETURNING balance, held), \
                 entry AS (INSERT INTO ledger_entries \
                             (account_id, kind, amount, balance_after, held_after, usage_id, note) \
                           SELECT $1, 'refund', $2, balance, held, $3, $4 FROM acct) \
                 SELECT balance FROM acct",
            )
            .bind::<SqlUuid, _>(row.account_id)
            .bind::<Numeric, _>(amount)
            .bind::<SqlUuid, _>(usage_id)
            .bind::<Text, _>(&note)
            .get_result(conn)
            .await?;
            Ok(after.balance)
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn adjust(
        &self,
        account: AccountId,
        amount: Decimal,
        note: &str,
    ) -> Result<Decimal, BillingError> {
        if amount.is_zero() || round_money(amount) != amount {
            return Err(BillingError::InvalidAmount(
                "an adjustment is a non-zero amount with at most 8 decimals".into(),
            ));
        }
        let mut conn = self.conn().await?;
        // One statement: a debit only applies while the available balance covers it.
        let after: Option<BalanceRow> = diesel::sql_query(
            "WITH acct AS (UPDATE accounts SET balance = balance + $2 \
                           WHERE id = $1 AND ($2 >= 0 OR balance - held + $2 >= 0) \
                           RETURNING balance, held), \
             entry AS (INSERT INTO ledger_entries \
                         (account_id, kind, amount, balance_after, held_after, note) \
                       SELECT $1, 'adjustment', $2, balance, held, $3 FROM acct) \
             SELECT balance FROM acct",
        )
        .bind::<SqlUuid, _>(account.0)
        .bind::<Numeric, _>(amount)
        .bind::<Text, _>(note)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(PgError::from)?;
        match after {
            Some(a) => Ok(a.balance),
            None => {
                let available: Option<AvailableRow> = diesel::sql_query(
                    "SELECT balance - held AS available FROM accounts WHERE id = $1",
                )
                .bind::<SqlUuid, _>(account.0)
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(PgError::from)?;
                match available {
                    None => Err(BillingError::AccountNotFound),
                    Some(a) => Err(BillingError::InsufficientFunds {
                        required: -amount,
                        available: a.available,
                    }),
                }
            }
        }
    }

    async fn get_usage(&self, id: Uuid) -> Result<Option<UsageRecord>, BillingError> {
        let mut conn = self.conn().await?;
        let row: Option<UsageRow> =
            diesel::sql_query("SELECT * FROM provider_resemble_usage WHERE id = $1")
                .bind::<SqlUuid, _>(id)
                .get_result(&mut conn)
                .await
                .optional()
                .map_err(PgError::from)?;
        Ok(row.map(UsageRecord::from))
    }
}

#[derive(QueryableByName)]
struct RefundableRow {
    #[diesel(sql_type = SqlUuid)]
    account_id: Uuid,
    #[diesel(sql_type = Numeric)]
    charged: Decimal,
    #[diesel(sql_type = Numeric)]
    refunded: Decimal,
}

#[derive(QueryableByName)]
struct BalanceRow {
    #[diesel(sql_type = Numeric)]
    balance: Decimal,
}
