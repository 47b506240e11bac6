//! Row types read from Postgres and their conversion into domain values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use indox_accounts::Account;
use indox_billing::UsageRecord;
use indox_core::AccountId;
use indox_retention::{AssetClass, StoredAsset};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::schema::{accounts, api_keys, assets, provider_resemble_usage};
use crate::PgError;

/// A row of `accounts`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = accounts)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct AccountRow {
    pub id: Uuid,
    pub name: String,
    pub balance: Decimal,
    pub held: Decimal,
    pub markup_rate: Option<Decimal>,
    pub created_at: DateTime<Utc>,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Account {
            id: AccountId(r.id),
            name: r.name,
            balance: r.balance,
            held: r.held,
            markup_rate: r.markup_rate,
            created_at: r.created_at,
        }
    }
}

/// The columns of `api_keys` the authenticator needs.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct KeyRow {
    pub key_id: String,
    pub secret_hash: Vec<u8>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A row of `provider_resemble_usage`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = provider_resemble_usage)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct UsageRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub request_id: String,
    pub job_id: Option<Uuid>,
    pub capability: String,
    pub unit: String,
    pub quantity: Decimal,
    pub upstream_quantity: Option<Decimal>,
    pub unit_price: Decimal,
    pub provider_cost: Decimal,
    pub markup_rate: Decimal,
    pub markup: Decimal,
    pub charged: Decimal,
    pub currency: String,
    pub asset_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<UsageRow> for UsageRecord {
    fn from(r: UsageRow) -> Self {
        UsageRecord {
            id: r.id,
            account: AccountId(r.account_id),
            request_id: r.request_id,
            job_id: r.job_id,
            capability: r.capability,
            unit: r.unit,
            quantity: r.quantity,
            upstream_quantity: r.upstream_quantity,
            unit_price: r.unit_price,
            provider_cost: r.provider_cost,
            markup_rate: r.markup_rate,
            markup: r.markup,
            charged: r.charged,
            currency: r.currency,
            asset_id: r.asset_id,
            created_at: r.created_at,
        }
    }
}

/// The columns of `assets` that make a [`StoredAsset`].
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = assets)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct AssetRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub class: String,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub mirrored_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub resemble_url: Option<String>,
}

impl TryFrom<AssetRow> for StoredAsset {
    type Error = PgError;

    fn try_from(r: AssetRow) -> Result<Self, Self::Error> {
        let class = AssetClass::parse(&r.class).ok_or_else(|| {
            PgError::Corrupt(format!("asset {} has unknown class `{}`", r.id, r.class))
        })?;
        let size_bytes = u64::try_from(r.size_bytes)
            .map_err(|_| PgError::Corrupt(format!("asset {} has a negative size", r.id)))?;
        Ok(StoredAsset {
            id: r.id,
            account: AccountId(r.account_id),
            class,
            object_key: r.object_key,
            content_type: r.content_type,
            size_bytes,
            created_at: r.created_at,
            expires_at: r.expires_at,
            mirrored_at: r.mirrored_at,
            deleted_at: r.deleted_at,
            resemble_url: r.resemble_url,
        })
    }
}

/// A single `bigint` count column named `n`.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub(crate) struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

/// A single numeric column named `available`, nullable when the account does not exist.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct AvailableRow {
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub available: Decimal,
}
