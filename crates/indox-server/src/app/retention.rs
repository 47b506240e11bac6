//! The retention sweeper: deletes expired objects from the bucket and marks them deleted.
//! It runs as a task on the durable queue (`retention.sweep`), enqueued periodically by the
//! housekeeping loop; it never touches a permanent asset, and running it twice, or in two
//! processes at once, deletes nothing twice (object deletes are idempotent, the row is
//! marked only once).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_jobs::{Task, TaskFailure, TaskHandler};

use super::AppState;

/// The sweep task.
pub const SWEEP_TASK: &str = "retention.sweep";

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Assets deleted, by class.
    pub deleted: BTreeMap<&'static str, u64>,
    /// Objects the store refused to delete (retried by the next sweep).
    pub failed: u64,
}

impl SweepReport {
    /// How many assets were deleted in all.
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }
}

/// Deletes every asset whose expiry is at or before `now`.
pub async fn sweep_once(state: &AppState, now: DateTime<Utc>) -> Result<SweepReport, String> {
    let mut report = SweepReport::default();
    // Pages of expired assets until none is left; a page whose objects all failed stops the
    // pass (the store is down: the next sweep retries).
    loop {
        let page = state
            .assets
            .expired(now, 200)
            .await
            .map_err(|e| e.to_string())?;
        let page_len = page.len();
        let mut progressed = false;
        for asset in page {
            // Defence in depth: a class without retention is never deleted, whatever the row says.
            if asset.class.retention().is_none() {
                tracing::error!(asset = %asset.id, class = asset.class.as_str(), "a permanent asset has an expiry; not deleting it");
                continue;
            }
            if let Err(e) = state.objects.delete(&asset.object_key).await {
                tracing::warn!(asset = %asset.id, error = %e, "could not delete an expired object; the next sweep retries");
                report.failed += 1;
                continue;
            }
            match state.assets.mark_deleted(asset.id).await {
                Ok(true) => {
                    *report.deleted.entry(asset.class.as_str()).or_default() += 1;
                    progressed = true;
                }
                // Another sweeper got there first.
                Ok(false) => progressed = true,
                Err(e) => return Err(e.to_string()),
            }
        }
        if page_len < 200 || !progressed {
            break;
        }
    }
    if report.total() > 0 || report.failed > 0 {
        tracing::info!(deleted = report.total(), failed = report.failed, by_class = ?report.deleted, "retention sweep");
    }
    Ok(report)
}

/// `retention.sweep`.
pub struct SweepHandler(pub AppState);

#[async_trait]
impl TaskHandler for SweepHandler {
    async fn handle(&self, _task: &Task) -> Result<(), TaskFailure> {
        let state = &self.0;
        sweep_once(state, state.clock.now())
            .await
            .map(|_| ())
            .map_err(TaskFailure::Retry)
    }
}
