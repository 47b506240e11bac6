//! The mirror retrier: uploads audio whose mirror failed at request time, and settles
//! uploads that were in flight when their process stopped (by asking the store).

use std::time::Duration;

use indox_jobs::RetryPolicy;
use indox_retention::ports::PendingMirror;

use super::AppState;

/// What happened to one pending mirror.
enum Outcome {
    Mirrored,
    Retry(String),
    Lost,
}

async fn attempt(state: &AppState, p: &PendingMirror) -> Outcome {
    match &p.bytes {
        Some(bytes) => match state
            .objects
            .put(&p.object_key, bytes.clone(), &p.content_type)
            .await
        {
            Ok(()) => Outcome::Mirrored,
            Err(e) => Outcome::Retry(e.to_string()),
        },
        // The upload ran beside the record and was never confirmed: only the store knows.
        None => match state.objects.exists(&p.object_key).await {
            Ok(true) => Outcome::Mirrored,
            Ok(false) => Outcome::Lost,
            Err(e) => Outcome::Retry(e.to_string()),
        },
    }
}

/// Runs one pass: claims due mirrors, settles each, records the outcome. Returns how many
/// are now mirrored.
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
        let recorded = match attempt(state, &p).await {
            Outcome::Mirrored => {
                done += 1;
                state.assets.mark_mirrored(p.asset_id).await
            }
            Outcome::Retry(error) => {
                let wait = policy
                    .delay(1, rand::random::<f64>())
                    .unwrap_or(chrono::Duration::seconds(30));
                state.assets.mirror_failed(p.asset_id, &error, wait).await
            }
            Outcome::Lost => {
                // The request answered with `audio_url: null` (its upload had not succeeded),
                // so no user was told this object exists; the audio was returned inline.
                tracing::error!(asset = %p.asset_id, key = %p.object_key, "an upload was lost with its process; the asset has no stored copy");
                state
                    .assets
                    .mirror_lost(
                        p.asset_id,
                        "the upload never arrived and its bytes were not kept",
                    )
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, asset = %p.asset_id, "could not record a mirror outcome; it will be retried");
        }
    }
    if done > 0 {
        tracing::info!(mirrored = done, "settled pending mirrors");
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
