//! Async jobs: their kinds, records, and the repository port that writes every state change
//! atomically with its money (hold at submit, one charge at completion) and its follow-up tasks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_billing::{NewCharge, UsageRecord};
use indox_core::{AccountId, Capability};
use indox_retention::NewAsset;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{JobError, JobStatus};

/// The task that sends a new job to the upstream.
pub const SUBMIT_TASK: &str = "job.submit";
/// The task that asks the upstream how a job is doing (the fallback when no webhook comes).
pub const POLL_TASK: &str = "job.poll";

/// What an async job does; each is one metered capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Stt,
    Enhance,
    Edit,
    Detect,
    Intelligence,
    WatermarkApply,
    WatermarkDetect,
    IdentitySearch,
    IdentityEnroll,
    /// Training a cloned voice (started by `POST /voices/{uuid}/build`, billed as the
    /// voice's first subscription month).
    VoiceBuild,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 10] = [
        Self::Stt,
        Self::Enhance,
        Self::Edit,
        Self::Detect,
        Self::Intelligence,
        Self::WatermarkApply,
        Self::WatermarkDetect,
        Self::IdentitySearch,
        Self::IdentityEnroll,
        Self::VoiceBuild,
    ];

    /// The kinds submitted at their own path and run as upstream jobs (all but voice builds).
    pub const ROUTED: [JobKind; 9] = [
        Self::Stt,
        Self::Enhance,
        Self::Edit,
        Self::Detect,
        Self::Intelligence,
        Self::WatermarkApply,
        Self::WatermarkDetect,
        Self::IdentitySearch,
        Self::IdentityEnroll,
    ];

    /// The stable name (`jobs.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stt => "stt",
            Self::Enhance => "enhance",
            Self::Edit => "edit",
            Self::Detect => "detect",
            Self::Intelligence => "intelligence",
            Self::WatermarkApply => "watermark_apply",
            Self::WatermarkDetect => "watermark_detect",
            Self::IdentitySearch => "identity_search",
            Self::IdentityEnroll => "identity_enroll",
            Self::VoiceBuild => "voice_build",
        }
    }

    /// The path under `/api/v1/resemble/` where jobs of this kind are submitted and read.
    pub fn path(self) -> &'static str {
        match self {
            Self::Stt => "stt",
            Self::Enhance => "enhance",
            Self::Edit => "edit",
            Self::Detect => "detect",
            Self::Intelligence => "intelligence",
            Self::WatermarkApply => "watermark/apply",
            Self::WatermarkDetect => "watermark/detect",
            Self::IdentitySearch => "identity/search",
            Self::IdentityEnroll => "identity",
            Self::VoiceBuild => "voices/build",
        }
    }

    /// Parses [`JobKind::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The capability it is billed as.
    pub fn capability(self) -> Capability {
        match self {
            Self::Stt => Capability::Stt,
            Self::Enhance => Capability::Enhance,
            Self::Edit => Capability::Edit,
            Self::Detect => Capability::Detect,
            Self::Intelligence => Capability::Intelligence,
            Self::WatermarkApply => Capability::WatermarkApply,
            Self::WatermarkDetect => Capability::WatermarkDetect,
            Self::IdentitySearch => Capability::IdentitySearch,
            Self::IdentityEnroll => Capability::IdentityEnroll,
            Self::VoiceBuild => Capability::VoiceClone,
        }
    }
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub account: AccountId,
    pub kind: JobKind,
    /// The validated request, as the user sent it (plus the gateway's input URL).
    pub request: serde_json::Value,
    /// The input the gateway fetched, measured and stored.
    pub input_asset: Option<NewAsset>,
    /// What is billed at completion: audio seconds (3 decimals) or a count.
    pub input_quantity: Decimal,
    /// The amount held from the balance until the job ends.
    pub hold_amount: Decimal,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub account: AccountId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub request: serde_json::Value,
    pub input_asset_id: Option<Uuid>,
    pub input_quantity: Decimal,
    pub hold_id: Option<Uuid>,
    pub upstream_id: Option<String>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub usage_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// How a job ends.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Completed: store the result and charge (settling the job's hold) in one transaction.
    Completed {
        result: serde_json::Value,
        charge: Box<NewCharge>,
        /// An output the gateway mirrored (enhanced audio), recorded with the completion.
        output_asset: Option<Box<NewAsset>>,
    },
    /// Failed: release the hold, charge nothing.
    Failed { error: String },
}

/// What finishing did.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// This call completed the job and wrote its one usage row.
    Completed(Box<UsageRecord>),
    /// This call failed the job.
    Failed,
    /// The job had already ended (a second webhook, or the poller losing a race): nothing
    /// changed.
    AlreadyEnded(JobStatus),
}

/// Storage of jobs.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait JobRepository: Send + Sync {
    /// Places the hold, records the input asset, inserts the job (`pending`) and enqueues
    /// its [`SUBMIT_TASK`], all in one transaction.
    ///
    /// # Errors
    /// MUST return [`JobError::InsufficientFunds`] (writing nothing) when the hold cannot
    /// be placed.
    async fn create(&self, job: NewJob) -> Result<Job, JobError>;

    /// Reads a job.
    async fn get(&self, id: Uuid) -> Result<Option<Job>, JobError>;

    /// The account's most recent jobs, newest first, at most `limit`.
    async fn recent(&self, account: AccountId, limit: i64) -> Result<Vec<Job>, JobError>;

    /// Records the upstream's id and moves `pending → processing`, enqueuing the first
    /// [`POLL_TASK`] after `poll_in`, in one transaction. A job no longer pending is left
    /// as it is (`false`).
    async fn mark_submitted(
        &self,
        id: Uuid,
        upstream_id: &str,
        poll_in: chrono::Duration,
    ) -> Result<bool, JobError>;

    /// Enqueues another poll of a running job after `poll_in`.
    async fn poll_again(&self, id: Uuid, poll_in: chrono::Duration) -> Result<(), JobError>;

    /// Ends a job exactly once: locks it, and unless it already ended, applies `finish`.
    async fn finish(&self, id: Uuid, finish: Finish) -> Result<Finished, JobError>;

    /// Finds a job by the upstream's id for it.
    async fn find_by_upstream(
        &self,
        kind: JobKind,
        upstream_id: &str,
    ) -> Result<Option<Job>, JobError>;

    /// Records a provider webhook delivery; `false` when it was already recorded.
    async fn record_receipt(&self, digest: [u8; 32]) -> Result<bool, JobError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(JobKind::parse("nope"), None);
        assert_eq!(JobKind::Enhance.capability(), Capability::Enhance);
    }
}
