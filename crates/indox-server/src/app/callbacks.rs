//! Callbacks to users' servers: Standard Webhooks signed with the account's secret, posted
//! through the SSRF guard with redirects never followed, retried on a schedule of about a
//! day, each attempt recorded; the event id is stable so receivers can dedupe.

use async_trait::async_trait;
use indox_jobs::{AccountSecrets, Attempt, Task, TaskFailure, TaskHandler};
use indox_webhooks::WebhookSecret;
use serde_json::{json, Value};
use uuid::Uuid;

use super::jobs::view;
use super::AppState;
use crate::http::{ApiError, ErrorKind};

fn fresh_secret() -> Result<String, ApiError> {
    WebhookSecret::generate()
        .map(|s| s.to_whsec_string())
        .map_err(|_| {
            ApiError::new(
                ErrorKind::Unavailable {
                    code: "no_entropy",
                    retry_after: Some(1),
                },
                "could not generate a secret",
            )
        })
}

/// The account's secrets, created on first use.
pub async fn secrets(
    state: &AppState,
    account: indox_core::AccountId,
) -> Result<AccountSecrets, ApiError> {
    state
        .callbacks
        .secrets(account, fresh_secret()?)
        .await
        .map_err(super::jobs::job_error)
}

/// Rotates the account's secret; the previous one keeps verifying for a day.
pub async fn rotate(
    state: &AppState,
    account: indox_core::AccountId,
) -> Result<AccountSecrets, ApiError> {
    state
        .callbacks
        .rotate(account, fresh_secret()?)
        .await
        .map_err(super::jobs::job_error)
}

/// The `webhook-signature` value: one `v1,` entry per valid secret (both during a rotation).
fn signature(secrets: &AccountSecrets, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    [Some(&secrets.current), secrets.previous.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|s| WebhookSecret::parse(s).ok())
        .map(|s| indox_webhooks::sign(&s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `callback.deliver`: one attempt; the next one is enqueued with its record.
pub struct CallbackHandler(pub AppState);

#[async_trait]
impl TaskHandler for CallbackHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskFailure> {
        let state = &self.0;
        let job_id = task
            .payload
            .get("job_id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| TaskFailure::Permanent("callback task without a job_id".into()))?;
        let attempt = task
            .payload
            .get("attempt")
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32;
        let Some(job) = state
            .jobs
            .get(job_id)
            .await
            .map_err(|e| TaskFailure::Retry(e.to_string()))?
        else {
            return Err(TaskFailure::Permanent(format!("no job {job_id}")));
        };
        let Some(uri) = job.request.get("callback_uri").and_then(Value::as_str) else {
            return Ok(());
        };
        let event_id = indox_webhooks::event_id(job.id, job.status.as_str());
        let body = serde_json::to_vec(&json!({
            "type": format!("job.{}", job.status.as_str()),
            "event_id": event_id,
            "job": view(state, &job).await,
        }))
        .map_err(|e| TaskFailure::Permanent(e.to_string()))?;
        let secrets = state
            .callbacks
            .secrets(
                job.account,
                fresh_secret().map_err(|e| TaskFailure::Retry(e.message))?,
            )
            .await
            .map_err(|e| TaskFailure::Retry(e.to_string()))?;
        let timestamp = state.clock.now().timestamp();
        let headers = vec![
            ("webhook-id".to_owned(), event_id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            (
                "webhook-signature".to_owned(),
                signature(&secrets, &event_id, timestamp, &body),
            ),
        ];
        let outcome =
            indox_egress::post_json(&state.egress_client, &state.egress, uri, &body, &headers)
                .await;
        let (status_code, error, delivered) = match outcome {
            Ok(code) if (200..300).contains(&code) => (Some(code), None, true),
            Ok(code) => (
                Some(code),
                Some(format!("the receiver answered HTTP {code}")),
                false,
            ),
            Err(e) => (None, Some(e.to_string()), false),
        };
        let next_in = if delivered {
            None
        } else {
            state
                .callback_schedule
                .next_delay(attempt, rand::random::<f64>())
        };
        let record = Attempt {
            event_id,
            attempt,
            status_code,
            error,
            delivered,
            at: state.clock.now(),
        };
        state
            .callbacks
            .record_attempt(job.id, record, next_in)
            .await
            .map_err(|e| TaskFailure::Retry(e.to_string()))?;
        Ok(())
    }
}

/// The `callback` block of a job view.
pub async fn callback_view(state: &AppState, job: &indox_jobs::Job) -> Option<Value> {
    let uri = job.request.get("callback_uri")?.as_str()?.to_owned();
    let attempts = state.callbacks.attempts(job.id).await.unwrap_or_default();
    let delivered = attempts.iter().any(|a| a.delivered);
    Some(json!({
        "uri": uri,
        "delivered": delivered,
        "attempts": attempts.iter().map(|a| json!({
            "event_id": a.event_id, "attempt": a.attempt, "status_code": a.status_code,
            "error": a.error, "delivered": a.delivered, "at": a.at,
        })).collect::<Vec<_>>(),
    }))
}
