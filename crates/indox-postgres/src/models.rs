//! Row types read from Postgres and their conversion into domain values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use indox_accounts::Account;
use indox_billing::UsageRecord;
use indox_core::AccountId;
use indox_retention::{AssetClass, StoredAsset};
use indox_voice::cloning::{
    CloneRecording, ClonedVoice, Consent, DesignCandidate, VoiceDesign, VoiceSource, VoiceType,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::schema::{
    accounts, api_keys, assets, clone_recordings, voice_design_candidates, voice_designs,
};
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
    pub byok: bool,
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
            byok: r.byok,
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

/// A row of `provider_resemble_usage`, read with `RETURNING *` or `SELECT *` (the table has
/// more columns than diesel's default `table!` supports, so the types are spelled out here).
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct UsageRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub account_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub request_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub job_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub capability: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub unit: String,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub quantity: Decimal,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    pub upstream_quantity: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub unit_price: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub provider_cost: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub markup_rate: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub markup: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub charged: Decimal,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub currency: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub asset_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub byok: bool,
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
            byok: r.byok,
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

/// The columns of `clone_voices`, in [`CloneVoiceRow`] order, for `sql_query` (the table is
/// too wide for `diesel::table!`; see `schema.rs`).
pub(crate) const CLONE_VOICE_COLUMNS: &str = "id, account_id, upstream_uuid, name, voice_type, \
     language, description, source, design_id, consent_text, consent_account_id, consent_key_id, \
     consent_given_at, build_job_id, paid_periods, past_due_since, created_at, deleted_at";

/// A row of `clone_voices`.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct CloneVoiceRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub account_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub upstream_uuid: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub voice_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub language: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub description: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub design_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub consent_text: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub consent_account_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub consent_key_id: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub consent_given_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub build_job_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Int4)]
    pub paid_periods: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub past_due_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A stored voice type.
pub(crate) fn voice_type(id: Uuid, s: &str) -> Result<VoiceType, PgError> {
    VoiceType::parse(s)
        .ok_or_else(|| PgError::Corrupt(format!("voice {id} has unknown voice type `{s}`")))
}

/// A stored period count.
pub(crate) fn paid_periods(id: Uuid, n: i32) -> Result<u32, PgError> {
    u32::try_from(n)
        .map_err(|_| PgError::Corrupt(format!("voice {id} has a negative paid period count")))
}

impl TryFrom<CloneVoiceRow> for ClonedVoice {
    type Error = PgError;

    fn try_from(r: CloneVoiceRow) -> Result<Self, Self::Error> {
        let voice_type = voice_type(r.id, &r.voice_type)?;
        let source = VoiceSource::parse(&r.source).ok_or_else(|| {
            PgError::Corrupt(format!("voice {} has unknown source `{}`", r.id, r.source))
        })?;
        let paid_periods = paid_periods(r.id, r.paid_periods)?;
        Ok(ClonedVoice {
            id: r.id,
            account: AccountId(r.account_id),
            upstream_uuid: r.upstream_uuid,
            name: r.name,
            voice_type,
            language: r.language,
            description: r.description,
            source,
            design_id: r.design_id,
            consent: Consent {
                text: r.consent_text,
                account: AccountId(r.consent_account_id),
                key_id: r.consent_key_id,
                given_at: r.consent_given_at,
            },
            build_job_id: r.build_job_id,
            paid_periods,
            past_due_since: r.past_due_since,
            created_at: r.created_at,
            deleted_at: r.deleted_at,
        })
    }
}

/// A row of `clone_recordings`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clone_recordings)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct CloneRecordingRow {
    pub id: Uuid,
    pub voice_id: Uuid,
    pub asset_id: Uuid,
    pub upstream_uuid: Option<String>,
    pub name: String,
    pub text: String,
    pub duration_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<CloneRecordingRow> for CloneRecording {
    type Error = PgError;

    fn try_from(r: CloneRecordingRow) -> Result<Self, Self::Error> {
        let duration_ms =
            r.duration_ms.map(u64::try_from).transpose().map_err(|_| {
                PgError::Corrupt(format!("recording {} has a negative duration", r.id))
            })?;
        Ok(CloneRecording {
            id: r.id,
            voice_id: r.voice_id,
            asset_id: r.asset_id,
            upstream_uuid: r.upstream_uuid,
            name: r.name,
            text: r.text,
            duration_ms,
            created_at: r.created_at,
        })
    }
}

/// A row of `voice_designs` (its candidates are read separately).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = voice_designs)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct VoiceDesignRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub upstream_uuid: String,
    pub prompt: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl VoiceDesignRow {
    /// The design with its candidates.
    pub(crate) fn with_candidates(self, candidates: Vec<DesignCandidate>) -> VoiceDesign {
        VoiceDesign {
            id: self.id,
            account: AccountId(self.account_id),
            upstream_uuid: self.upstream_uuid,
            prompt: self.prompt,
            candidates,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

/// The columns of `voice_design_candidates` that make a [`DesignCandidate`].
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = voice_design_candidates)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct DesignCandidateRow {
    pub design_id: Uuid,
    pub sample_index: i32,
    pub asset_id: Option<Uuid>,
    pub resemble_url: String,
}

impl TryFrom<DesignCandidateRow> for DesignCandidate {
    type Error = PgError;

    fn try_from(r: DesignCandidateRow) -> Result<Self, Self::Error> {
        let index = u32::try_from(r.sample_index).map_err(|_| {
            PgError::Corrupt(format!(
                "design {} has a candidate with a negative index",
                r.design_id
            ))
        })?;
        Ok(DesignCandidate {
            index,
            asset_id: r.asset_id,
            resemble_url: r.resemble_url,
        })
    }
}
