//! Job callbacks: POST the GET-shape body to the job's `callback_url`/`callback_uri`, signed
//! with the gateway-defined, test-only `X-Resemble-Signature` header (Resemble documents no
//! signature), retried 3 times with a short backoff. Attempts are counted in the statistics.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::state::SimState;

/// Statistics route key of callback attempts (`by_route_status["CALLBACK"][status]`, status 0
/// = the connection failed).
pub const CALLBACK_ROUTE: &str = "CALLBACK";
/// Statistics route key of callbacks suppressed by the `drop_callbacks` knob.
pub const DROPPED_ROUTE: &str = "CALLBACK_DROPPED";
/// Retries after the first failed attempt.
pub const RETRIES: u32 = 3;
/// Backoff before the first retry; doubles each time.
pub const BACKOFF: Duration = Duration::from_millis(50);

/// The `X-Resemble-Signature` value for a body signed now.
pub fn signature(secret: &str, body: &[u8]) -> String {
    indox_webhooks::sign_provider(secret.as_bytes(), chrono::Utc::now().timestamp(), body)
}

/// Delivers one callback (until a 2xx answer or the retries run out).
pub async fn deliver(state: Arc<SimState>, url: String, body: Value) {
    if state.knobs().drop_callbacks {
        state.record_outbound(DROPPED_ROUTE, 0);
        return;
    }
    let Ok(raw) = serde_json::to_vec(&body) else {
        return;
    };
    let mut backoff = BACKOFF;
    for attempt in 0..=RETRIES {
        let sent = state
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header(
                indox_webhooks::PROVIDER_SIGNATURE_HEADER,
                signature(&state.callback_secret, &raw),
            )
            .body(raw.clone())
            .send()
            .await;
        let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
        state.record_outbound(CALLBACK_ROUTE, status);
        if (200..300).contains(&status) || attempt == RETRIES {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}
