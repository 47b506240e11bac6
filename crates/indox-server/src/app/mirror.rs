//! The mirror retrier: uploads audio whose mirror to the object store failed at request time.

use std::time::Duration;

use indox_jobs::RetryPolicy;

use super::AppState;

/// Runs one pass: claims pending mirrors, uploads them, records the outcome. Returns how
/// many were mirrored.
pub async fn run_once(state: &AppState, policy: &RetryPolicy) -> usize {
    let pending = match state.assets.pending_mirrors(32).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "could not read pending mirrors");
            return 0;
        }
    };
    let mut done = 0;
    for p in pending {
        match state
            .objects
            .put(&p.object_key, p.bytes.clone(), &p.content_type)
            .await
        {
            Ok(()) => match state.assets.mark_mirrored(p.asset_id).await {
                Ok(()) => done += 1,
                Err(e) => {
                    tracing::warn!(error = %e, asset = %p.asset_id, "mirrored, but could not record it; will retry")
                }
            },
            Err(e) => {
                let wait = policy
                    .delay(1, rand::random::<f64>())
                    .unwrap_or(chrono::Duration::seconds(30));
                if let Err(e2) = state
                    .assets
                    .mirror_failed(p.asset_id, &e.to_string(), wait)
                    .await
                {
                    tracing::warn!(error = %e2, "could not record a failed mirror");
                }
            }
        }
    }
    if done > 0 {
        tracing::info!(mirrored = done, "mirrored pending assets");
    }
    done
}

/// Loops forever, one pass every `interval` (sooner while there is a backlog).
pub async fn run(state: AppState, interval: Duration) {
    let policy = RetryPolicy {
        max_attempts: u32::MAX,
        ..RetryPolicy::default()
    };
    loop {
        let n = run_once(&state, &policy).await;
        if n == 0 {
            tokio::time::sleep(interval).await;
        }
    }
}
