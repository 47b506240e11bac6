//! The shared application state handed to every handler.

use std::sync::Arc;

use indox_accounts::Authenticator;
use indox_billing::Billing;
use indox_core::Clock;
use indox_idempotency::IdempotencyStore;
use indox_ratelimit::RateLimiter;
use indox_retention::{AssetRepository, ObjectStore};
use indox_voice::VoiceUpstream;

use super::Probe;

/// Every port the handlers use, already wired to adapters.
#[derive(Clone)]
pub struct AppState {
    pub auth: Authenticator,
    pub limiter: Arc<RateLimiter>,
    /// The Prometheus registry (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    pub billing: Billing,
    /// Usage aggregates for `/analytics` and the console.
    pub analytics: Arc<dyn indox_billing::analytics::UsageAnalytics>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub upstream: Arc<dyn VoiceUpstream>,
    /// The upstream's custom-voice and voice-design endpoints.
    pub cloning: Arc<dyn indox_voice::cloning::CloningUpstream>,
    /// Bring-your-own-key: the sealer and the per-account upstream clients.
    pub byok: Arc<super::byok::Byok>,
    /// Accounts' sealed Resemble keys.
    pub provider_keys: Arc<dyn indox_accounts::provider_key::ProviderKeyStore>,
    /// Cloned voices, their consent, recordings, subscriptions, and voice designs.
    pub clones: Arc<dyn indox_voice::cloning::CloneRepository>,
    pub objects: Arc<dyn ObjectStore>,
    pub assets: Arc<dyn AssetRepository>,
    /// Batches upload confirmations into the asset records.
    pub confirmations: super::assets::Confirmations,
    pub clock: Arc<dyn Clock>,
    /// Lifetime of presigned URLs handed out (clipped to each asset's expiry).
    pub presign_ttl: chrono::Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Whether voice cloning and design are enabled (`RESEMBLE_BUSINESS_PLAN_ACTIVE`).
    pub business_plan_active: bool,
    /// The SHA-256 of the admin key; `None` disables the admin API.
    pub admin_key_hash: Option<indox_accounts::key::SecretHash>,
    /// Reconciliation runs, their lines and alerts, and our per-day usage totals.
    pub reconciliations: Arc<dyn indox_billing::reconcile::ReconciliationStore>,
    /// The durable task queue.
    pub tasks: Arc<dyn indox_jobs::TaskQueue>,
    /// Async jobs.
    pub jobs: Arc<dyn indox_jobs::JobRepository>,
    /// What the gateway may fetch from or post to, and the client that enforces it.
    pub egress: Arc<indox_egress::EgressPolicy>,
    pub egress_client: reqwest::Client,
    pub max_input_bytes: u64,
    /// Largest upload body (`POST /resemble/uploads`) accepted.
    pub max_upload_bytes: u64,
    /// Job completions, from this process and (through `LISTEN indox_jobs`) others.
    pub job_events: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// Callback secrets and delivery attempts.
    pub callbacks: Arc<dyn indox_jobs::CallbackStore>,
    pub callback_schedule: indox_webhooks::RetrySchedule,
    /// Where the provider should post job webhooks, if anywhere.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Vec<u8>>,
    pub job_poll_interval: chrono::Duration,
    /// Set when shutdown begins: `/readyz` answers 503 so balancers stop routing here.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Dependencies checked by `/readyz`.
    pub probes: Vec<Arc<dyn Probe>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("billing", &self.billing)
            .finish_non_exhaustive()
    }
}
