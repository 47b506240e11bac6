//! The provider webhook: verify the signature (constant time, ±5 min), drop repeats, then
//! trust nothing in the payload but the job's id: re-fetch the job from the upstream with an
//! authenticated GET and finish it from that.

use indox_jobs::JobKind;
use serde_json::Value;

use super::jobs::{finish_from_upstream, op};
use super::AppState;
use crate::http::{ApiError, ErrorKind};

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The job was re-fetched and finished (or found still running).
    Processed,
    /// The same delivery was seen before: nothing changed.
    Duplicate,
    /// No job of ours has this upstream id (the poller finishes jobs the webhook missed).
    UnknownJob,
}

fn unauthorized(msg: impl Into<String>) -> ApiError {
    ApiError::new(
        ErrorKind::Unauthorized {
            code: "invalid_signature",
        },
        msg,
    )
}

/// Handles one delivery.
pub async fn receive(
    state: &AppState,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Receipt, ApiError> {
    let Some(secret) = state.webhook_secret.as_deref() else {
        return Err(ApiError::new(
            ErrorKind::Unavailable {
                code: "webhooks_disabled",
                retry_after: None,
            },
            "provider webhooks are not configured on this gateway (RESEMBLE_WEBHOOK_SECRET)",
        ));
    };
    let header = signature.ok_or_else(|| unauthorized("missing X-Resemble-Signature"))?;
    let now = state.clock.now().timestamp();
    let signed_at = indox_webhooks::verify_provider(
        &[secret],
        header,
        body,
        now,
        indox_webhooks::DEFAULT_TOLERANCE_SECS,
    )
    .map_err(|e| unauthorized(format!("signature refused: {e}")))?;

    // A delivery is what the signature covers, its time and body, not the header's text: the
    // same signature with its parts reordered, spaced or padded is the same delivery (J4).
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(signed_at.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ctx.finish().as_ref());
    if !state
        .jobs
        .record_receipt(digest)
        .await
        .map_err(super::jobs::job_error)?
    {
        return Ok(Receipt::Duplicate);
    }

    let payload: Value = serde_json::from_slice(body).map_err(ApiError::malformed_json)?;
    let item = payload.get("item").unwrap_or(&payload);
    let upstream_id = item
        .get("uuid")
        .or_else(|| item.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::malformed_json("the payload names no job (`item.uuid`)"))?;
    for kind in JobKind::ROUTED {
        let Some(job) = state
            .jobs
            .find_by_upstream(kind, upstream_id)
            .await
            .map_err(super::jobs::job_error)?
        else {
            continue;
        };
        let Some(op) = op(kind) else { continue };
        // The payload is not trusted: ask the upstream itself.
        let up = super::byok::upstreams_by_id(state, job.account)
            .await?
            .voice
            .get_job(op, upstream_id)
            .await
            .map_err(ApiError::from)?;
        finish_from_upstream(state, &job, &up).await.map_err(|e| {
            tracing::error!(error = %e, job = %job.id, "could not finish a job from its webhook; the poller will");
            ApiError::store_unavailable("job store")
        })?;
        return Ok(Receipt::Processed);
    }
    Ok(Receipt::UnknownJob)
}
