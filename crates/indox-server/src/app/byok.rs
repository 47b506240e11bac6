//! Bring-your-own-key: registering an account's own Resemble key (checked with Resemble,
//! sealed, stored), and choosing the upstream clients every call for an account goes
//! through: the platform's, or ones that carry the account's key (rules BY1–BY4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indox_accounts::provider_key::{KeySealer, ProviderKey};
use indox_accounts::Account;
use indox_billing::Pricing;
use indox_core::AccountId;
use indox_voice::cloning::CloningUpstream;
use indox_voice::{UpstreamError, VoiceUpstream};
use serde_json::{json, Value};

use super::AppState;
use crate::http::{ApiError, ErrorKind};

/// The upstream clients for one key.
#[derive(Clone)]
pub struct Upstreams {
    pub voice: Arc<dyn VoiceUpstream>,
    pub cloning: Arc<dyn CloningUpstream>,
}

/// Builds upstream clients that authenticate with a given key (implemented over the
/// Resemble adapter in the wiring).
pub trait UpstreamFactory: Send + Sync {
    /// Clients that send `key` instead of the platform's.
    ///
    /// # Errors
    /// A message when the key cannot be used in a header.
    fn with_key(&self, key: &ProviderKey) -> Result<Upstreams, String>;
}

/// BYOK configuration and the per-account client cache.
pub struct Byok {
    /// `None` when `INDOX_SECRETS_KEY` is not set: BYOK is unavailable.
    pub sealer: Option<KeySealer>,
    pub factory: Arc<dyn UpstreamFactory>,
    /// Clients per account, with the sealed bytes they were built from (a changed key, in
    /// this or another process, changes the bytes and rebuilds the clients).
    cache: Mutex<HashMap<AccountId, (Vec<u8>, Upstreams)>>,
}

impl std::fmt::Debug for Byok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Byok")
            .field("enabled", &self.sealer.is_some())
            .finish_non_exhaustive()
    }
}

impl Byok {
    /// BYOK with the given sealer (or disabled) and client factory.
    pub fn new(sealer: Option<KeySealer>, factory: Arc<dyn UpstreamFactory>) -> Self {
        Self {
            sealer,
            factory,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn forget(&self, account: AccountId) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&account);
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable {
            code: "byok_unavailable",
            retry_after: None,
        },
        "bringing your own Resemble key is not enabled on this gateway (INDOX_SECRETS_KEY is not set); nothing was stored",
    )
}

fn unreadable() -> ApiError {
    ApiError::new(
        ErrorKind::BadGateway {
            code: "byok_key_unreadable",
        },
        "your registered Resemble key cannot be read by this gateway any more; register it again with PUT /api/v1/account/resemble-key. Nothing was charged",
    )
}

/// How the account is priced (BY2 when it has its own key).
pub fn pricing(account: &Account) -> Pricing {
    Pricing {
        markup_override: account.markup_rate,
        byok: account.byok,
    }
}

/// The clients every upstream call for `account` goes through: the platform's, or (BY1) ones
/// carrying the account's own key. Never falls back to the platform key for a BYOK account.
pub async fn upstreams(state: &AppState, account: &Account) -> Result<Upstreams, ApiError> {
    if !account.byok {
        return Ok(Upstreams {
            voice: state.upstream.clone(),
            cloning: state.cloning.clone(),
        });
    }
    upstreams_for(state, account.id).await
}

/// As [`upstreams`], for an account known by id (background work: job polls, webhooks).
pub async fn upstreams_by_id(state: &AppState, account: AccountId) -> Result<Upstreams, ApiError> {
    let a = state
        .auth
        .repository()
        .get_account(account)
        .await
        .map_err(ApiError::from)?;
    upstreams(state, &a).await
}

async fn upstreams_for(state: &AppState, account: AccountId) -> Result<Upstreams, ApiError> {
    let sealer = state.byok.sealer.as_ref().ok_or_else(unreadable)?;
    let stored = state
        .provider_keys
        .provider_key(account)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(unreadable)?;
    if let Ok(cache) = state.byok.cache.lock() {
        if let Some((sealed, ups)) = cache.get(&account) {
            if *sealed == stored.sealed {
                return Ok(ups.clone());
            }
        }
    }
    let key = sealer.open(account, &stored.sealed).map_err(|e| {
        tracing::error!(account = %account, error = %e, "a sealed provider key does not open");
        unreadable()
    })?;
    let ups = state.byok.factory.with_key(&key).map_err(|e| {
        tracing::error!(account = %account, error = %e, "a provider key cannot be used");
        unreadable()
    })?;
    if let Ok(mut cache) = state.byok.cache.lock() {
        cache.insert(account, (stored.sealed, ups.clone()));
    }
    Ok(ups)
}

/// `PUT /api/v1/account/resemble-key` `{"api_key"}`: checks the key with Resemble, then
/// seals and stores it.
pub async fn register(state: &AppState, account: &Account, body: &[u8]) -> Result<Value, ApiError> {
    let sealer = state.byok.sealer.as_ref().ok_or_else(unavailable)?;
    let value: Value = serde_json::from_slice(body).map_err(ApiError::malformed_json)?;
    let raw = value
        .get("api_key")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("api_key is required: your Resemble API key"))?;
    let key = ProviderKey::parse(raw).map_err(|e| invalid(e.to_string()))?;
    let ups = state
        .byok
        .factory
        .with_key(&key)
        .map_err(|_| invalid("api_key contains characters that cannot be sent in a header"))?;
    match ups.voice.list_voices(1, 10).await {
        Ok(_) => {}
        Err(UpstreamError::Unauthorized { .. }) => {
            return Err(invalid(
                "Resemble refused this key; check it in your Resemble account. Nothing was stored",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let sealed = sealer.seal(account.id, &key).map_err(ApiError::from)?;
    state
        .provider_keys
        .put_provider_key(account.id, sealed, key.hint())
        .await
        .map_err(ApiError::from)?;
    state.byok.forget(account.id);
    tracing::info!(account = %account.id, "an account registered its own Resemble key");
    status(state, account.id).await
}

/// `DELETE /api/v1/account/resemble-key`: back to the platform's key.
pub async fn remove(state: &AppState, account: AccountId) -> Result<Value, ApiError> {
    state
        .provider_keys
        .delete_provider_key(account)
        .await
        .map_err(ApiError::from)?;
    state.byok.forget(account);
    status(state, account).await
}

/// The account's BYOK status, for `GET /api/v1/account`.
pub async fn status(state: &AppState, account: AccountId) -> Result<Value, ApiError> {
    let stored = state
        .provider_keys
        .provider_key(account)
        .await
        .map_err(ApiError::from)?;
    Ok(match stored {
        Some(k) => {
            json!({"enabled": true, "key_hint": format!("…{}", k.hint), "since": k.created_at})
        }
        None => json!({"enabled": false}),
    })
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(
        ErrorKind::Unprocessable {
            code: "invalid_field",
            field: Some("api_key"),
        },
        message,
    )
}
