//! `AssetRepository` on Postgres: asset records and the queue of bytes awaiting their mirror.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Duration;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Int8, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use indox_retention::ports::PendingMirror;
use indox_retention::{AssetRepository, NewAsset, RetentionError, StoredAsset};
use uuid::Uuid;

use crate::models::{AssetRow, CountRow};
use crate::schema::assets;
use crate::{truncate_chars, PgError, PgStore};

/// How long a claimed mirror is leased to its claimer before others may try it.
pub const MIRROR_LEASE_SECONDS: i64 = 30;

/// How long an upload running concurrently with its record may take to be confirmed before
/// the retrier checks the store itself.
pub const IN_FLIGHT_LEASE_SECONDS: i64 = 120;

/// The longest mirror error text kept.
const MAX_ERROR_CHARS: usize = 2_000;

/// Claims due assets (skipping rows other claimers hold) and leases them by pushing their
/// next attempt time forward. Parameters: $1 limit, $2 lease in seconds.
const PENDING_SQL: &str = "\
WITH picked AS (
    SELECT a.id FROM assets a
    WHERE a.mirrored_at IS NULL AND a.deleted_at IS NULL AND a.mirror_next_at <= now()
    ORDER BY a.mirror_next_at
    LIMIT $1
    FOR UPDATE OF a SKIP LOCKED
), leased AS (
    UPDATE assets a SET mirror_next_at = now() + make_interval(secs => $2)
    FROM picked WHERE a.id = picked.id
    RETURNING a.id, a.object_key, a.content_type
)
SELECT l.id, l.object_key, l.content_type, b.bytes
FROM leased l LEFT JOIN asset_blobs b ON b.asset_id = l.id";

const MARK_MIRRORED_SQL: &str = "\
WITH a AS (
    UPDATE assets SET mirrored_at = now(), mirror_next_at = NULL, mirror_error = NULL
    WHERE id = ANY($1)
    RETURNING id
), blob AS (
    DELETE FROM asset_blobs WHERE asset_id IN (SELECT id FROM a)
)
SELECT count(*) AS n FROM a";

/// Records an asset without a charge: the asset CTEs of a charge, fed by a one-row source.
fn record_sql() -> String {
    format!(
        "WITH one AS (SELECT 1){}SELECT count(*) AS n FROM a",
        crate::ledger::asset_ctes(1, "one")
    )
}

/// Records an asset without a charge on `conn` (so inside the caller's transaction, if it
/// has one): its row and, for [`indox_retention::Mirror::Pending`], its bytes in
/// `asset_blobs` for the mirror retrier. [`AssetRepository::record`] is this on a pooled
/// connection; other ports record the assets that belong to their own rows with it.
///
/// # Errors
/// [`PgError`] when the statement fails (a duplicate id or object key included) or the
/// asset's values cannot be stored.
pub(crate) async fn record_asset(
    conn: &mut AsyncPgConnection,
    asset: &NewAsset,
) -> Result<(), PgError> {
    let query = diesel::sql_query(record_sql()).into_boxed::<Pg>();
    let query = crate::ledger::bind_asset(query, asset)?;
    let written: CountRow = query.get_result(conn).await?;
    if written.n != 1 {
        return Err(PgError::Invalid(format!(
            "asset {} was not recorded",
            asset.id
        )));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct PendingRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    object_key: String,
    #[diesel(sql_type = Text)]
    content_type: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Bytea>)]
    bytes: Option<Vec<u8>>,
}

#[async_trait]
impl AssetRepository for PgStore {
    async fn get(&self, id: Uuid) -> Result<StoredAsset, RetentionError> {
        let mut conn = self.conn().await?;
        let row: Option<AssetRow> = assets::table
            .find(id)
            .select(AssetRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(PgError::from)?;
        let row = row.ok_or(RetentionError::NotFound)?;
        Ok(StoredAsset::try_from(row)?)
    }

    async fn expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<StoredAsset>, RetentionError> {
        let mut conn = self.conn().await?;
        let rows: Vec<AssetRow> = assets::table
            .filter(assets::deleted_at.is_null())
            .filter(assets::expires_at.le(now))
            .order(assets::expires_at)
            .limit(limit.max(0))
            .select(AssetRow::as_select())
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        rows.into_iter()
            .map(|r| StoredAsset::try_from(r).map_err(RetentionError::from))
            .collect()
    }

    async fn mark_deleted(&self, id: Uuid) -> Result<bool, RetentionError> {
        let mut conn = self.conn().await?;
        let marked: CountRow = diesel::sql_query(
            "WITH a AS (UPDATE assets SET deleted_at = now(), mirror_next_at = NULL WHERE id = $1 AND deleted_at IS NULL RETURNING id), \
             b AS (DELETE FROM asset_blobs WHERE asset_id IN (SELECT id FROM a)) \
             SELECT count(*) AS n FROM a",
        )
        .bind::<SqlUuid, _>(id)
        .get_result(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(marked.n == 1)
    }

    async fn record(&self, asset: &NewAsset) -> Result<(), RetentionError> {
        let mut conn = self.conn().await?;
        record_asset(&mut conn, asset).await?;
        Ok(())
    }

    async fn pending_mirrors(&self, limit: i64) -> Result<Vec<PendingMirror>, RetentionError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let rows: Vec<PendingRow> = diesel::sql_query(PENDING_SQL)
            .bind::<Int8, _>(limit)
            .bind::<diesel::sql_types::Double, _>(MIRROR_LEASE_SECONDS as f64)
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| PendingMirror {
                asset_id: r.id,
                object_key: r.object_key,
                content_type: r.content_type,
                bytes: r.bytes.map(Bytes::from),
            })
            .collect())
    }

    async fn mark_mirrored(&self, id: Uuid) -> Result<(), RetentionError> {
        if self.mark_mirrored_many(&[id]).await? == 0 {
            return Err(RetentionError::NotFound);
        }
        Ok(())
    }

    async fn mark_mirrored_many(&self, ids: &[Uuid]) -> Result<u64, RetentionError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn().await?;
        let marked: CountRow = diesel::sql_query(MARK_MIRRORED_SQL)
            .bind::<diesel::sql_types::Array<SqlUuid>, _>(ids)
            .get_result(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(u64::try_from(marked.n).unwrap_or(0))
    }

    async fn keep_for_retry(&self, id: Uuid, bytes: Bytes) -> Result<(), RetentionError> {
        let mut conn = self.conn().await?;
        let kept: CountRow = diesel::sql_query(
            "WITH a AS (UPDATE assets SET mirror_next_at = now() WHERE id = $1 AND mirrored_at IS NULL RETURNING id), \
             b AS (INSERT INTO asset_blobs (asset_id, bytes) SELECT id, $2 FROM a \
                   ON CONFLICT (asset_id) DO UPDATE SET bytes = EXCLUDED.bytes) \
             SELECT count(*) AS n FROM a",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Bytea, _>(bytes.as_ref())
        .get_result(&mut conn)
        .await
        .map_err(PgError::from)?;
        if kept.n == 0 {
            return Err(RetentionError::NotFound);
        }
        Ok(())
    }

    async fn mirror_lost(&self, id: Uuid, error: &str) -> Result<(), RetentionError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(
            "UPDATE assets SET mirror_next_at = NULL, mirror_error = $2, mirror_attempts = mirror_attempts + 1 \
             WHERE id = $1 AND mirrored_at IS NULL",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(truncate_chars(error, MAX_ERROR_CHARS))
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        if updated == 0 {
            return Err(RetentionError::NotFound);
        }
        Ok(())
    }

    async fn mirror_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), RetentionError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(
            "UPDATE assets SET mirror_attempts = mirror_attempts + 1, mirror_error = $2, \
               mirror_next_at = now() + $3 * interval '1 millisecond' \
             WHERE id = $1",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(truncate_chars(error, MAX_ERROR_CHARS))
        .bind::<Int8, _>(retry_in.num_milliseconds())
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        if updated == 0 {
            return Err(RetentionError::NotFound);
        }
        Ok(())
    }
}
