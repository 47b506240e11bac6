//! Periodic housekeeping: releases holds whose holder stopped without settling them (a
//! process that crashed mid-stream), so they do not lock an account's balance forever, and
//! schedules the retention sweep and the voice-subscription renewals.

use std::time::Duration;

use super::AppState;

/// Releases every open hold older than `ttl`; returns how many were released.
pub async fn release_stale_holds(state: &AppState, ttl: chrono::Duration) -> usize {
    let ledger = state.billing.ledger();
    let stale = match ledger.stale_holds(ttl).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for stale holds");
            return 0;
        }
    };
    let mut released = 0;
    for hold in stale {
        match ledger.release_hold(hold).await {
            Ok(()) => released += 1,
            // Settled or released by someone else in the meantime: nothing to do.
            Err(indox_billing::BillingError::HoldNotOpen) => {}
            Err(e) => tracing::warn!(error = %e, hold = %hold.0, "could not release a stale hold"),
        }
    }
    if released > 0 {
        tracing::warn!(released, "released holds whose holder never settled them");
    }
    released
}

/// Runs the housekeeping every `interval`: stale holds, and a retention sweep and a renewal
/// pass on the durable queue every `sweep_every` (only one of each is ever pending across
/// processes).
pub async fn run(
    state: AppState,
    hold_ttl: chrono::Duration,
    interval: Duration,
    sweep_every: Duration,
) {
    let mut last_sweep: Option<tokio::time::Instant> = None;
    loop {
        release_stale_holds(&state, hold_ttl).await;
        if last_sweep.is_none_or(|t| t.elapsed() >= sweep_every) {
            let mut scheduled = true;
            for task in [
                super::retention::SWEEP_TASK,
                super::cloning::RENEW_TASK,
                super::reconcile::RECONCILE_TASK,
            ] {
                if let Err(e) = state.tasks.enqueue_if_absent(task).await {
                    tracing::warn!(error = %e, task, "could not schedule periodic work");
                    scheduled = false;
                }
            }
            if scheduled {
                last_sweep = Some(tokio::time::Instant::now());
            }
        }
        tokio::time::sleep(interval).await;
    }
}
