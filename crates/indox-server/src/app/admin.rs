//! The operator's use cases, shared by the admin HTTP API (`/api/v1/admin/*`) and the
//! `indox admin` CLI: accounts, keys, top-ups, markups, rate-limit overrides and dead tasks.
//!
//! Inputs arrive as text (JSON strings or command-line flags) and are validated here, each
//! bad field named with how to fix it; money is parsed straight into `Decimal`. Every change
//! is logged at info under the `indox::admin` target with what changed, never a key's secret
//! (docs/decisions.md, AD1–AD9).

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indox_accounts::{
    Account, AccountError, AccountRepository, Authenticator, KeySummary, ReferencedTopUp,
};
use indox_core::{AccountId, Capability};
use indox_jobs::{DeadTask, JobError, TaskQueue};
use indox_ratelimit::overrides::{MAX_OVERRIDE_LIMIT, MAX_OVERRIDE_WINDOW_MS};
use indox_ratelimit::{Limit, Override, OverrideScope, RateLimitError, RateLimiter};
use rust_decimal::Decimal;
use serde::Serialize;

use super::AppState;

/// Where admin actions are logged.
const LOG_TARGET: &str = "indox::admin";

/// The most a single top-up may credit (a typo guard, far below the `NUMERIC(20,8)` column's
/// ceiling); larger credits are several top-ups.
pub const MAX_TOP_UP: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// Decimal places a money amount may have (`NUMERIC(20,8)`).
const MONEY_DECIMALS: u32 = 8;

/// Decimal places a markup rate may have (`NUMERIC(10,6)`).
const MARKUP_DECIMALS: u32 = 6;

/// Longest account name, key label, top-up reference and ledger note.
const MAX_NAME_CHARS: usize = 200;
const MAX_LABEL_CHARS: usize = 100;
const MAX_REFERENCE_CHARS: usize = 255;
const MAX_NOTE_CHARS: usize = 500;

/// The dead-task listing's default and largest size.
pub const DEFAULT_DEAD_TASKS: i64 = 50;
const MAX_DEAD_TASKS: i64 = 1_000;

/// The account listing's default and largest page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

/// Why an admin action was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// A field is missing or invalid; the message says how to fix it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The id names nothing (`code` says what: `account_not_found`, `key_not_found`, …).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// A top-up reference was used before with another amount; nothing was credited.
    #[error("{0}")]
    ReferenceReused(String),
    /// The action is not available here (rate limits from the CLI).
    #[error("{0}")]
    Unsupported(&'static str),
    /// A store failed; nothing is known to have changed.
    #[error("store unavailable: {0}")]
    Store(String),
}

impl AdminError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    fn account_not_found(id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            code: "account_not_found",
            message: format!("no account with id {id}: list them with GET /api/v1/admin/accounts"),
        }
    }
}

impl From<JobError> for AdminError {
    fn from(e: JobError) -> Self {
        Self::Store(e.to_string())
    }
}

fn account_error(e: AccountError, account: AccountId) -> AdminError {
    match e {
        AccountError::AccountNotFound => AdminError::account_not_found(account),
        AccountError::NonPositiveAmount => {
            AdminError::invalid("amount", "must be greater than zero, e.g. \"10.00\"")
        }
        other => AdminError::Store(other.to_string()),
    }
}

fn limit_error(e: RateLimitError, account: AccountId) -> AdminError {
    match e {
        RateLimitError::UnknownAccount => AdminError::account_not_found(account),
        RateLimitError::InvalidSpec { reason, .. } => AdminError::invalid("limit", reason),
        other => AdminError::Store(other.to_string()),
    }
}

/// An account id from text; anything but a UUID names no account.
///
/// # Errors
/// [`AdminError::NotFound`] (`account_not_found`).
pub fn parse_account_id(raw: &str) -> Result<AccountId, AdminError> {
    AccountId::from_str(raw.trim()).map_err(|_| AdminError::account_not_found(raw))
}

/// A decimal from text: digits with an optional sign and point (no exponent, no float).
fn parse_decimal(field: &'static str, raw: &str, example: &str) -> Result<Decimal, AdminError> {
    let text = raw.trim();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
    plain
        .then(|| Decimal::from_str(text).ok())
        .flatten()
        .ok_or_else(|| {
            AdminError::invalid(
                field,
                format!("{raw:?} is not a decimal number; write it like \"{example}\""),
            )
        })
}

/// A top-up amount: positive, at most 8 decimals, at most [`MAX_TOP_UP`] (rule AD3).
///
/// # Errors
/// [`AdminError::Invalid`] naming `amount`.
pub fn parse_amount(raw: &str) -> Result<Decimal, AdminError> {
    let amount = parse_decimal("amount", raw, "10.00")?;
    if amount <= Decimal::ZERO {
        return Err(AdminError::invalid(
            "amount",
            "must be greater than zero, e.g. \"10.00\"",
        ));
    }
    if amount.normalize().scale() > MONEY_DECIMALS {
        return Err(AdminError::invalid(
            "amount",
            format!("may have at most {MONEY_DECIMALS} decimal places; round {raw:?}"),
        ));
    }
    if amount > MAX_TOP_UP {
        return Err(AdminError::invalid(
            "amount",
            format!("may be at most {MAX_TOP_UP} per top-up; split a larger credit"),
        ));
    }
    Ok(amount)
}

/// A markup rate: a fraction from 0 to 10 with at most 6 decimals (rule R5).
///
/// # Errors
/// [`AdminError::Invalid`] naming `markup_rate`.
pub fn parse_markup(raw: &str) -> Result<Decimal, AdminError> {
    let rate = parse_decimal("markup_rate", raw, "0.15")?;
    if indox_billing::quote::validate_markup(rate).is_err() {
        return Err(AdminError::invalid(
            "markup_rate",
            "must be a fraction from 0 to 10 (0.15 means 15 %)",
        ));
    }
    if rate.normalize().scale() > MARKUP_DECIMALS {
        return Err(AdminError::invalid(
            "markup_rate",
            format!("may have at most {MARKUP_DECIMALS} decimal places"),
        ));
    }
    Ok(rate.normalize())
}

/// Free text for a field: trimmed, within `max` characters, no control characters.
fn text(field: &'static str, raw: &str, max: usize) -> Result<String, AdminError> {
    let t = raw.trim();
    if t.chars().count() > max {
        return Err(AdminError::invalid(
            field,
            format!("may be at most {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            field,
            "may not contain control characters (newlines, tabs, …)",
        ));
    }
    Ok(t.to_owned())
}

/// A top-up reference: 1–255 visible ASCII characters, like an `Idempotency-Key` (AD3).
fn reference(raw: &str) -> Result<String, AdminError> {
    let ok =
        (1..=MAX_REFERENCE_CHARS).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| raw.to_owned()).ok_or_else(|| {
        AdminError::invalid(
            "reference",
            format!("must be 1 to {MAX_REFERENCE_CHARS} visible ASCII characters without spaces, e.g. an invoice number"),
        )
    })
}

/// An account as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AccountView {
    #[schema(value_type = uuid::Uuid)]
    pub id: AccountId,
    pub name: String,
    pub balance: Decimal,
    pub held: Decimal,
    /// `balance - held`: what the account can still spend.
    pub available: Decimal,
    /// The account's own markup; `null` means the gateway default applies.
    pub markup_rate: Option<Decimal>,
    pub created_at: DateTime<Utc>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            name: a.name.clone(),
            balance: a.balance,
            held: a.held,
            available: a.available(),
            markup_rate: a.markup_rate,
            created_at: a.created_at,
        }
    }
}

/// A key as the admin API shows it: never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeySummary> for KeyView {
    fn from(k: KeySummary) -> Self {
        Self {
            key_id: k.key_id,
            label: k.label,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// An account with its keys.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AccountDetail {
    #[serde(flatten)]
    pub account: AccountView,
    pub keys: Vec<KeyView>,
}

/// One page of accounts, in the same shape as the voice listing.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AccountList {
    pub items: Vec<AccountView>,
    pub page: u32,
    pub page_size: u32,
    pub num_pages: u64,
    pub total_count: u64,
}

/// A new key. `api_key` is the plaintext, shown this once; only its hash is stored.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    #[schema(value_type = uuid::Uuid)]
    pub account_id: AccountId,
    pub key_id: String,
    pub label: String,
    pub api_key: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("account_id", &self.account_id)
            .field("key_id", &self.key_id)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The result of a top-up.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TopUpResult {
    #[schema(value_type = uuid::Uuid)]
    pub account_id: AccountId,
    /// The amount credited by this request, or first credited under `reference` (replay).
    pub amount: Decimal,
    pub balance: Decimal,
    pub held: Decimal,
    pub available: Decimal,
    pub reference: Option<String>,
    /// `true` when `reference` was already applied and nothing was credited now.
    pub replayed: bool,
}

/// One rate-limit override as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OverrideView {
    /// A capability, or `all`.
    pub capability: String,
    pub limit: u32,
    pub window_seconds: u64,
    pub window_ms: u64,
    pub updated_at: DateTime<Utc>,
}

impl From<&Override> for OverrideView {
    fn from(o: &Override) -> Self {
        Self {
            capability: o.scope.to_string(),
            limit: o.limit.max,
            window_seconds: o.limit.window_ms / 1_000,
            window_ms: o.limit.window_ms,
            updated_at: o.updated_at,
        }
    }
}

/// An account's overrides.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RateLimits {
    #[schema(value_type = uuid::Uuid)]
    pub account_id: AccountId,
    pub overrides: Vec<OverrideView>,
}

/// A dead task as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeadTaskView {
    pub id: i64,
    pub kind: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub payload: serde_json::Value,
}

impl From<DeadTask> for DeadTaskView {
    fn from(t: DeadTask) -> Self {
        Self {
            id: t.id,
            kind: t.kind,
            attempts: t.attempts,
            last_error: t.last_error,
            payload: t.payload,
        }
    }
}

/// A rate-limit override request: `capability` (`None` or `all`: every capability), the
/// number of requests and the window in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideRequest<'a> {
    pub capability: Option<&'a str>,
    pub limit: u64,
    pub window_seconds: u64,
}

/// The scope named by `all` or a capability.
///
/// # Errors
/// [`AdminError::Invalid`] naming `capability`, with the accepted names.
pub fn parse_scope(raw: &str) -> Result<OverrideScope, AdminError> {
    OverrideScope::from_str(raw.trim()).map_err(|_| {
        let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        AdminError::invalid(
            "capability",
            format!(
                "{raw:?} is not a capability; use `all` or one of {}",
                names.join(", ")
            ),
        )
    })
}

/// The admin use cases over the ports.
#[derive(Clone)]
pub struct Admin {
    accounts: Arc<dyn AccountRepository>,
    tasks: Arc<dyn TaskQueue>,
    limiter: Option<Arc<RateLimiter>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// Over an account repository and a task queue (the CLI: no rate limiter).
    pub fn new(accounts: Arc<dyn AccountRepository>, tasks: Arc<dyn TaskQueue>) -> Self {
        Self {
            accounts,
            tasks,
            limiter: None,
        }
    }

    /// Over a running gateway's ports, with its rate limiter.
    pub fn from_state(state: &AppState) -> Self {
        Self {
            accounts: state.auth.repository().clone(),
            tasks: state.tasks.clone(),
            limiter: Some(state.limiter.clone()),
        }
    }

    fn limiter(&self) -> Result<&RateLimiter, AdminError> {
        self.limiter.as_deref().ok_or(AdminError::Unsupported(
            "rate-limit overrides are managed through the admin API of a running gateway",
        ))
    }

    async fn get(&self, id: AccountId) -> Result<Account, AdminError> {
        self.accounts
            .get_account(id)
            .await
            .map_err(|e| account_error(e, id))
    }

    /// Creates an account with a zero balance (`markup_rate`: `None` for the default).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a blank or long name or a bad markup.
    pub async fn create_account(
        &self,
        name: &str,
        markup_rate: Option<&str>,
    ) -> Result<AccountDetail, AdminError> {
        let name = text("name", name, MAX_NAME_CHARS)?;
        if name.is_empty() {
            return Err(AdminError::invalid(
                "name",
                "is required: a name for the account, e.g. \"acme\"",
            ));
        }
        let markup = markup_rate.map(parse_markup).transpose()?;
        let account = self
            .accounts
            .create_account(&name, markup)
            .await
            .map_err(|e| AdminError::Store(e.to_string()))?;
        tracing::info!(target: LOG_TARGET, action = "create_account", account = %account.id,
            name = %account.name, markup_rate = ?account.markup_rate, "admin: account created");
        Ok(AccountDetail {
            account: AccountView::from(&account),
            keys: Vec::new(),
        })
    }

    /// One page of accounts, oldest first (`page` from 1, `page_size` up to 500).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a page or size out of range.
    pub async fn list_accounts(
        &self,
        page: Option<i64>,
        page_size: Option<i64>,
    ) -> Result<AccountList, AdminError> {
        let page = page.unwrap_or(1);
        let page = u32::try_from(page)
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| AdminError::invalid("page", "must be a whole number of at least 1"))?;
        let size = page_size.unwrap_or(i64::from(DEFAULT_PAGE_SIZE));
        let size = u32::try_from(size)
            .ok()
            .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
            .ok_or_else(|| {
                AdminError::invalid(
                    "page_size",
                    format!("must be between 1 and {MAX_PAGE_SIZE}"),
                )
            })?;
        let listed = self
            .accounts
            .list_accounts(page, size)
            .await
            .map_err(|e| AdminError::Store(e.to_string()))?;
        Ok(AccountList {
            items: listed.items.iter().map(AccountView::from).collect(),
            page,
            page_size: size,
            num_pages: listed.total.div_ceil(u64::from(size)),
            total_count: listed.total,
        })
    }

    /// An account with its keys (ids and labels, never secrets).
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown account.
    pub async fn account(&self, id: AccountId) -> Result<AccountDetail, AdminError> {
        let account = self.get(id).await?;
        let keys = self
            .accounts
            .list_keys(id)
            .await
            .map_err(|e| account_error(e, id))?;
        Ok(AccountDetail {
            account: AccountView::from(&account),
            keys: keys.into_iter().map(KeyView::from).collect(),
        })
    }

    /// Issues a key for an account; its plaintext is in the result and nowhere else.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown account, [`AdminError::Invalid`] for a bad label.
    pub async fn create_key(
        &self,
        account: AccountId,
        label: Option<&str>,
    ) -> Result<IssuedKey, AdminError> {
        let label = text("label", label.unwrap_or(""), MAX_LABEL_CHARS)?;
        let key = Authenticator::new(self.accounts.clone())
            .issue_key(account, &label)
            .await
            .map_err(|e| account_error(e, account))?;
        tracing::info!(target: LOG_TARGET, action = "create_key", %account,
            key_id = key.key_id(), label = %label, "admin: API key issued");
        Ok(IssuedKey {
            account_id: account,
            key_id: key.key_id().to_owned(),
            label,
            api_key: key.plaintext().to_owned(),
        })
    }

    /// Revokes a key at once (revoking twice keeps the first time).
    ///
    /// # Errors
    /// [`AdminError::NotFound`] (`key_not_found`) for an unknown key.
    pub async fn revoke_key(&self, key_id: &str) -> Result<(), AdminError> {
        let key_id = key_id.trim();
        self.accounts
            .revoke_key(key_id)
            .await
            .map_err(|e| match e {
                AccountError::UnknownKey => AdminError::NotFound {
                    code: "key_not_found",
                    message: format!(
                        "no API key with id {key_id:?}: key ids are listed by GET /api/v1/admin/accounts/{{id}}"
                    ),
                },
                other => AdminError::Store(other.to_string()),
            })?;
        tracing::info!(target: LOG_TARGET, action = "revoke_key", key_id, "admin: API key revoked");
        Ok(())
    }

    /// Credits an account (rule AD3). With a `reference`, at most once per account and
    /// reference: a repeat with the same amount credits nothing and reports `replayed`; with
    /// another amount it is refused.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a bad amount, reference or note, [`AdminError::NotFound`]
    /// for an unknown account, [`AdminError::ReferenceReused`].
    pub async fn top_up(
        &self,
        account: AccountId,
        amount: &str,
        reference_text: Option<&str>,
        note: Option<&str>,
    ) -> Result<TopUpResult, AdminError> {
        let amount = parse_amount(amount)?;
        let reference = reference_text.map(reference).transpose()?;
        let note = text("note", note.unwrap_or("admin top-up"), MAX_NOTE_CHARS)?;
        let (after, replayed) = match &reference {
            None => (
                self.accounts
                    .top_up(account, amount, &note)
                    .await
                    .map_err(|e| account_error(e, account))?,
                false,
            ),
            Some(r) => {
                let note = format!("{note} [reference {r}]");
                match self
                    .accounts
                    .top_up_once(account, amount, &note, r)
                    .await
                    .map_err(|e| account_error(e, account))?
                {
                    ReferencedTopUp::Applied(a) => (a, false),
                    ReferencedTopUp::AlreadyApplied { account: a, amount: first } if first == amount => (a, true),
                    ReferencedTopUp::AlreadyApplied { amount: first, .. } => {
                        return Err(AdminError::ReferenceReused(format!(
                            "reference {r:?} was already used for a top-up of {first}; nothing was credited. \
                             Use a new reference for a different top-up"
                        )))
                    }
                }
            }
        };
        if replayed {
            tracing::info!(target: LOG_TARGET, action = "top_up", %account, %amount,
                reference = ?reference, "admin: top-up already applied under this reference; nothing credited");
        } else {
            tracing::info!(target: LOG_TARGET, action = "top_up", %account, %amount,
                balance = %after.balance, reference = ?reference, note = %note, "admin: account topped up");
        }
        Ok(TopUpResult {
            account_id: account,
            amount,
            balance: after.balance,
            held: after.held,
            available: after.available(),
            reference,
            replayed,
        })
    }

    /// Sets the account's markup (`None`: back to the gateway default).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a bad rate, [`AdminError::NotFound`] for an unknown account.
    pub async fn set_markup(
        &self,
        account: AccountId,
        markup_rate: Option<&str>,
    ) -> Result<AccountView, AdminError> {
        let rate = markup_rate.map(parse_markup).transpose()?;
        let before = self.get(account).await?;
        let after = self
            .accounts
            .set_markup(account, rate)
            .await
            .map_err(|e| account_error(e, account))?;
        tracing::info!(target: LOG_TARGET, action = "set_markup", %account,
            from = ?before.markup_rate, to = ?after.markup_rate, "admin: markup changed (null: the default)");
        Ok(AccountView::from(&after))
    }

    /// The account's rate-limit overrides.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown account.
    pub async fn rate_limits(&self, account: AccountId) -> Result<RateLimits, AdminError> {
        let limiter = self.limiter()?;
        self.get(account).await?;
        let overrides = limiter
            .overrides(account)
            .await
            .map_err(|e| limit_error(e, account))?;
        Ok(RateLimits {
            account_id: account,
            overrides: overrides.iter().map(OverrideView::from).collect(),
        })
    }

    /// Sets the account's limit for one capability or all of them (rule AD5).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming `capability`, `limit` or `window_seconds`;
    /// [`AdminError::NotFound`] for an unknown account.
    pub async fn set_rate_limit(
        &self,
        account: AccountId,
        req: OverrideRequest<'_>,
    ) -> Result<OverrideView, AdminError> {
        let limiter = self.limiter()?;
        let scope = req.capability.map_or(Ok(OverrideScope::All), parse_scope)?;
        let max = u32::try_from(req.limit)
            .ok()
            .filter(|m| (1..=MAX_OVERRIDE_LIMIT).contains(m))
            .ok_or_else(|| {
                AdminError::invalid(
                    "limit",
                    format!("must be a whole number of requests from 1 to {MAX_OVERRIDE_LIMIT}"),
                )
            })?;
        let max_secs = MAX_OVERRIDE_WINDOW_MS / 1_000;
        if !(1..=max_secs).contains(&req.window_seconds) {
            return Err(AdminError::invalid(
                "window_seconds",
                format!("must be a whole number of seconds from 1 to {max_secs} (one day)"),
            ));
        }
        let limit = Limit::new(max, req.window_seconds * 1_000);
        let stored = limiter
            .set_override(account, scope, limit)
            .await
            .map_err(|e| limit_error(e, account))?;
        tracing::info!(target: LOG_TARGET, action = "set_rate_limit", %account, capability = %scope,
            limit = max, window_seconds = req.window_seconds, "admin: rate-limit override set");
        Ok(OverrideView::from(&stored))
    }

    /// Removes the account's override for `scope` (`all` or a capability).
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown account or when there is no such override.
    pub async fn remove_rate_limit(
        &self,
        account: AccountId,
        scope: &str,
    ) -> Result<(), AdminError> {
        let limiter = self.limiter()?;
        let scope = parse_scope(scope)?;
        self.get(account).await?;
        let removed = limiter
            .remove_override(account, scope)
            .await
            .map_err(|e| limit_error(e, account))?;
        if !removed {
            return Err(AdminError::NotFound {
                code: "rate_limit_override_not_found",
                message: format!(
                    "account {account} has no `{scope}` override: GET …/rate-limits lists them"
                ),
            });
        }
        tracing::info!(target: LOG_TARGET, action = "remove_rate_limit", %account,
            capability = %scope, "admin: rate-limit override removed; the configured limit applies");
        Ok(())
    }

    /// The dead tasks, newest first (`limit` 1–1000, default 50).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming `limit`.
    pub async fn dead_tasks(&self, limit: Option<i64>) -> Result<Vec<DeadTaskView>, AdminError> {
        let limit = limit.unwrap_or(DEFAULT_DEAD_TASKS);
        if !(1..=MAX_DEAD_TASKS).contains(&limit) {
            return Err(AdminError::invalid(
                "limit",
                format!("must be a whole number from 1 to {MAX_DEAD_TASKS}"),
            ));
        }
        Ok(self
            .tasks
            .dead(limit)
            .await?
            .into_iter()
            .map(DeadTaskView::from)
            .collect())
    }

    /// Puts a dead task back in the queue with a fresh attempt count.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] (`dead_task_not_found`) when no dead task has this id.
    pub async fn retry_task(&self, id: i64) -> Result<(), AdminError> {
        if !self.tasks.retry_dead(id).await? {
            return Err(AdminError::NotFound {
                code: "dead_task_not_found",
                message: format!(
                    "no dead task with id {id}: GET /api/v1/admin/dead-tasks lists them"
                ),
            });
        }
        tracing::info!(target: LOG_TARGET, action = "retry_task", task_id = id, "admin: dead task requeued");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ad3_amounts_are_positive_decimals_with_at_most_8_places() {
        assert_eq!(parse_amount("10.00").ok(), Some(Decimal::new(1000, 2)));
        assert_eq!(parse_amount("0.00000001").ok(), Some(Decimal::new(1, 8)));
        assert!(
            parse_amount("1.500000000").is_ok(),
            "trailing zeros are fine"
        );
        for bad in [
            "0",
            "-1",
            "0.000000001",
            "1e3",
            "ten",
            "",
            "NaN",
            "1000000000.01",
        ] {
            assert!(
                matches!(
                    parse_amount(bad),
                    Err(AdminError::Invalid {
                        field: "amount",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn markups_follow_rule_r5() {
        assert_eq!(parse_markup("0.15").ok(), Some(Decimal::new(15, 2)));
        assert!(parse_markup("10").is_ok());
        for bad in ["-0.1", "10.01", "0.1234567", "x"] {
            assert!(parse_markup(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_and_scopes_are_checked() {
        assert!(reference("inv-2026-001").is_ok());
        assert!(reference("").is_err());
        assert!(reference("has space").is_err());
        assert!(reference(&"x".repeat(256)).is_err());
        assert_eq!(parse_scope("all").ok(), Some(OverrideScope::All));
        assert!(matches!(
            parse_scope("nope"),
            Err(AdminError::Invalid {
                field: "capability",
                ..
            })
        ));
    }
}
