//! `CloneRepository` on Postgres: cloned voices with their permanent consent, their
//! recordings (and the assets holding their audio), the build and subscription bookkeeping,
//! and voice designs with their candidates.
//!
//! Consent is enforced by the schema as well: triggers refuse any change to a voice's
//! consent, owner or upstream uuid and any `DELETE` of a voice or a recording (a voice is
//! soft-deleted with `deleted_at`). `clone_voices` is too wide for `diesel::table!` (see
//! `schema.rs`), so it is read and written with `sql_query`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use indox_core::AccountId;
use indox_retention::NewAsset;
use indox_voice::cloning::{
    CloneRecording, CloneRepository, ClonedVoice, DesignCandidate, NewCloneRecording,
    NewClonedVoice, Subscription, VoiceDesign,
};
use indox_voice::VoiceError;
use uuid::Uuid;

use crate::assets::record_asset;
use crate::error::{unique_constraint, TxError};
use crate::models::{
    paid_periods, voice_type, CloneRecordingRow, CloneVoiceRow, DesignCandidateRow, VoiceDesignRow,
    CLONE_VOICE_COLUMNS,
};
use crate::schema::{clone_recordings, voice_design_candidates, voice_designs};
use crate::{PgError, PgStore};

type Tx = TxError<VoiceError>;

/// The unique constraint on a voice's upstream uuid.
const VOICE_UPSTREAM_UUID_KEY: &str = "clone_voices_upstream_uuid_key";
/// The unique constraint on a recording's name within its voice.
const RECORDING_NAME_KEY: &str = "clone_recordings_voice_name_key";

const INSERT_VOICE_SQL: &str = "\
INSERT INTO clone_voices
    (id, account_id, upstream_uuid, name, voice_type, language, description, source, design_id,
     consent_text, consent_account_id, consent_key_id, consent_given_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// Points a live voice at job $2 unless its current build job exists and has not failed.
const BEGIN_BUILD_SQL: &str = "\
UPDATE clone_voices SET build_job_id = $2
WHERE id = $1 AND deleted_at IS NULL
  AND (build_job_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM jobs j
                      WHERE j.id = clone_voices.build_job_id AND j.status <> 'failed'))";

/// Live voices whose current build job completed; the completion anchors the periods.
const SUBSCRIPTIONS_SQL: &str = "\
SELECT v.id, v.account_id, v.voice_type, j.completed_at AS anchor, v.paid_periods,
       v.past_due_since
FROM clone_voices v
JOIN jobs j ON j.id = v.build_job_id
WHERE v.deleted_at IS NULL AND j.status = 'completed' AND j.completed_at IS NOT NULL
ORDER BY j.completed_at, v.id";

#[derive(QueryableByName)]
struct SubscriptionRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    account_id: Uuid,
    #[diesel(sql_type = Text)]
    voice_type: String,
    #[diesel(sql_type = Timestamptz)]
    anchor: DateTime<Utc>,
    #[diesel(sql_type = Int4)]
    paid_periods: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    past_due_since: Option<DateTime<Utc>>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = PgError;

    fn try_from(r: SubscriptionRow) -> Result<Self, Self::Error> {
        Ok(Subscription {
            voice_id: r.id,
            account: AccountId(r.account_id),
            voice_type: voice_type(r.id, &r.voice_type)?,
            anchor: r.anchor,
            paid_periods: paid_periods(r.id, r.paid_periods)?,
            past_due_since: r.past_due_since,
        })
    }
}

/// A period number as stored (`integer`).
fn period(n: u32) -> Result<i32, PgError> {
    i32::try_from(n).map_err(|_| PgError::Invalid(format!("period {n} is out of range")))
}

/// A candidate index as stored (`integer`).
fn sample_index(n: u32) -> Result<i32, PgError> {
    i32::try_from(n).map_err(|_| PgError::Invalid(format!("candidate index {n} is out of range")))
}

/// Runs a [`voices_query`] and converts its rows.
async fn load_voices(
    conn: &mut diesel_async::AsyncPgConnection,
    query: diesel::query_builder::BoxedSqlQuery<
        '_,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
) -> Result<Vec<ClonedVoice>, PgError> {
    let rows: Vec<CloneVoiceRow> = query.load(conn).await?;
    rows.into_iter().map(ClonedVoice::try_from).collect()
}

/// `SELECT` of every `clone_voices` column, followed by `tail` (its `WHERE`/`ORDER BY`).
fn voices_query(
    tail: &str,
) -> diesel::query_builder::BoxedSqlQuery<'static, diesel::pg::Pg, diesel::query_builder::SqlQuery>
{
    diesel::sql_query(format!(
        "SELECT {CLONE_VOICE_COLUMNS} FROM clone_voices {tail}"
    ))
    .into_boxed()
}

#[async_trait]
impl CloneRepository for PgStore {
    async fn create_voice(&self, voice: &NewClonedVoice) -> Result<(), VoiceError> {
        let mut conn = self.conn().await?;
        let inserted = diesel::sql_query(INSERT_VOICE_SQL)
            .bind::<SqlUuid, _>(voice.id)
            .bind::<SqlUuid, _>(voice.account.0)
            .bind::<Text, _>(&voice.upstream_uuid)
            .bind::<Text, _>(&voice.name)
            .bind::<Text, _>(voice.voice_type.as_str())
            .bind::<Text, _>(&voice.language)
            .bind::<Nullable<Text>, _>(voice.description.as_deref())
            .bind::<Text, _>(voice.source.as_str())
            .bind::<Nullable<SqlUuid>, _>(voice.design_id)
            .bind::<Text, _>(&voice.consent.text)
            .bind::<SqlUuid, _>(voice.consent.account.0)
            .bind::<Text, _>(&voice.consent.key_id)
            .bind::<Timestamptz, _>(voice.consent.given_at)
            .bind::<Timestamptz, _>(voice.created_at)
            .execute(&mut conn)
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) => Err(match unique_constraint(&e) {
                Some(VOICE_UPSTREAM_UUID_KEY) => VoiceError::Conflict(format!(
                    "a voice with uuid {} is already recorded",
                    voice.upstream_uuid
                )),
                Some(_) => VoiceError::Conflict(format!("voice {} is already recorded", voice.id)),
                None => PgError::from(e).into(),
            }),
        }
    }

    async fn voice_by_uuid(&self, upstream_uuid: &str) -> Result<Option<ClonedVoice>, VoiceError> {
        let mut conn = self.conn().await?;
        let query = voices_query("WHERE upstream_uuid = $1").bind::<Text, _>(upstream_uuid);
        Ok(load_voices(&mut conn, query).await?.into_iter().next())
    }

    async fn list_voices(&self, account: AccountId) -> Result<Vec<ClonedVoice>, VoiceError> {
        let mut conn = self.conn().await?;
        let query = voices_query("WHERE account_id = $1 ORDER BY created_at DESC, id DESC")
            .bind::<SqlUuid, _>(account.0);
        Ok(load_voices(&mut conn, query).await?)
    }

    async fn add_recording(
        &self,
        recording: &NewCloneRecording,
        asset: Option<NewAsset>,
    ) -> Result<(), VoiceError> {
        if let Some(a) = &asset {
            if a.id != recording.asset_id {
                return Err(PgError::Invalid(format!(
                    "recording {} points at asset {}, not at the asset {} given with it",
                    recording.id, recording.asset_id, a.id
                ))
                .into());
            }
        }
        let duration_ms = recording
            .duration_ms
            .map(i64::try_from)
            .transpose()
            .map_err(|_| PgError::Invalid("recording duration is out of range".into()))?;
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            if let Some(a) = &asset {
                record_asset(conn, a).await?;
            }
            let inserted = diesel::insert_into(clone_recordings::table)
                .values((
                    clone_recordings::id.eq(recording.id),
                    clone_recordings::voice_id.eq(recording.voice_id),
                    clone_recordings::asset_id.eq(recording.asset_id),
                    clone_recordings::upstream_uuid.eq(recording.upstream_uuid.as_deref()),
                    clone_recordings::name.eq(&recording.name),
                    clone_recordings::text.eq(&recording.text),
                    clone_recordings::duration_ms.eq(duration_ms),
                    clone_recordings::created_at.eq(recording.created_at),
                ))
                .execute(conn)
                .await;
            match inserted {
                Ok(_) => Ok(()),
                Err(e) => Err(match unique_constraint(&e) {
                    Some(RECORDING_NAME_KEY) => Tx::Domain(VoiceError::Conflict(
                        "a recording with this name already exists for this voice".into(),
                    )),
                    Some(_) => Tx::Domain(VoiceError::Conflict(format!(
                        "recording {} is already recorded",
                        recording.id
                    ))),
                    None => Tx::Db(e),
                }),
            }
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn recordings(&self, voice_id: Uuid) -> Result<Vec<CloneRecording>, VoiceError> {
        let mut conn = self.conn().await?;
        let rows: Vec<CloneRecordingRow> = clone_recordings::table
            .filter(clone_recordings::voice_id.eq(voice_id))
            .order((
                clone_recordings::created_at.asc(),
                clone_recordings::id.asc(),
            ))
            .select(CloneRecordingRow::as_select())
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(CloneRecording::try_from)
            .collect::<Result<_, _>>()?)
    }

    async fn begin_build(&self, voice_id: Uuid, job_id: Uuid) -> Result<bool, VoiceError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(BEGIN_BUILD_SQL)
            .bind::<SqlUuid, _>(voice_id)
            .bind::<SqlUuid, _>(job_id)
            .execute(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(updated == 1)
    }

    async fn abandon_build(&self, voice_id: Uuid, job_id: Uuid) -> Result<(), VoiceError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(
            "UPDATE clone_voices SET build_job_id = NULL WHERE id = $1 AND build_job_id = $2",
        )
        .bind::<SqlUuid, _>(voice_id)
        .bind::<SqlUuid, _>(job_id)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(())
    }

    async fn mark_deleted(&self, voice_id: Uuid, at: DateTime<Utc>) -> Result<bool, VoiceError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(
            "UPDATE clone_voices SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind::<SqlUuid, _>(voice_id)
        .bind::<Timestamptz, _>(at)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(updated == 1)
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, VoiceError> {
        let mut conn = self.conn().await?;
        let rows: Vec<SubscriptionRow> = diesel::sql_query(SUBSCRIPTIONS_SQL)
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .into_iter()
            .map(Subscription::try_from)
            .collect::<Result<_, _>>()?)
    }

    async fn mark_paid(&self, voice_id: Uuid, period_n: u32) -> Result<bool, VoiceError> {
        let current = period(period_n)?;
        let next = period_n
            .checked_add(1)
            .ok_or_else(|| PgError::Invalid(format!("period {period_n} is out of range")))
            .and_then(period)?;
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(
            "UPDATE clone_voices SET paid_periods = $3, past_due_since = NULL \
             WHERE id = $1 AND paid_periods = $2",
        )
        .bind::<SqlUuid, _>(voice_id)
        .bind::<Int4, _>(current)
        .bind::<Int4, _>(next)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(updated == 1)
    }

    async fn mark_past_due(&self, voice_id: Uuid, at: DateTime<Utc>) -> Result<(), VoiceError> {
        let mut conn = self.conn().await?;
        // LEAST ignores NULLs: the first mark sets it, later ones keep the earliest.
        diesel::sql_query(
            "UPDATE clone_voices SET past_due_since = LEAST(past_due_since, $2) WHERE id = $1",
        )
        .bind::<SqlUuid, _>(voice_id)
        .bind::<Timestamptz, _>(at)
        .execute(&mut conn)
        .await
        .map_err(PgError::from)?;
        Ok(())
    }

    async fn create_design(
        &self,
        design: &VoiceDesign,
        assets: Vec<NewAsset>,
    ) -> Result<(), VoiceError> {
        let candidates = design
            .candidates
            .iter()
            .map(|c| {
                Ok((
                    voice_design_candidates::design_id.eq(design.id),
                    voice_design_candidates::sample_index.eq(sample_index(c.index)?),
                    voice_design_candidates::asset_id.eq(c.asset_id),
                    voice_design_candidates::resemble_url.eq(c.resemble_url.as_str()),
                ))
            })
            .collect::<Result<Vec<_>, PgError>>()?;
        let mut conn = self.conn().await?;
        conn.transaction::<_, Tx, _>(async |conn| {
            for a in &assets {
                record_asset(conn, a).await?;
            }
            diesel::insert_into(voice_designs::table)
                .values((
                    voice_designs::id.eq(design.id),
                    voice_designs::account_id.eq(design.account.0),
                    voice_designs::upstream_uuid.eq(&design.upstream_uuid),
                    voice_designs::prompt.eq(&design.prompt),
                    voice_designs::created_at.eq(design.created_at),
                    voice_designs::expires_at.eq(design.expires_at),
                ))
                .execute(conn)
                .await?;
            if !candidates.is_empty() {
                diesel::insert_into(voice_design_candidates::table)
                    .values(&candidates)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await
        .map_err(Tx::into_port)
    }

    async fn design(&self, id: Uuid) -> Result<Option<VoiceDesign>, VoiceError> {
        let mut conn = self.conn().await?;
        let row: Option<VoiceDesignRow> = voice_designs::table
            .find(id)
            .select(VoiceDesignRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(PgError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let candidates: Vec<DesignCandidateRow> = voice_design_candidates::table
            .filter(voice_design_candidates::design_id.eq(id))
            .order(voice_design_candidates::sample_index.asc())
            .select(DesignCandidateRow::as_select())
            .load(&mut conn)
            .await
            .map_err(PgError::from)?;
        let candidates = candidates
            .into_iter()
            .map(DesignCandidate::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Some(row.with_candidates(candidates)))
    }
}
