//! Usage analytics and the account overview: spend and usage grouped by capability and by
//! day or hour from `provider_resemble_usage` (totals are exact sums of the rows), the
//! caller's balance, and their recent jobs.

use indox_accounts::Principal;
use indox_billing::analytics::{roll_up, AnalyticsQuery};
use indox_core::AccountId;
use serde_json::{json, Value};

use super::AppState;
use crate::http::{ApiError, ErrorKind};

/// Who is asking: an account sees itself; the admin sees one account or all of them.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Account(AccountId),
    Admin(Option<AccountId>),
}

/// `GET /api/v1/analytics?from=&to=&granularity=&account_id=`.
pub async fn analytics(
    state: &AppState,
    scope: Scope,
    from: Option<&str>,
    to: Option<&str>,
    granularity: Option<&str>,
) -> Result<Value, ApiError> {
    let account = match scope {
        Scope::Account(a) => Some(a),
        Scope::Admin(a) => a,
    };
    let query = AnalyticsQuery::parse(
        account,
        from,
        to,
        granularity,
        state.clock.now().date_naive(),
    )
    .map_err(|e| {
        ApiError::new(
            ErrorKind::Unprocessable {
                code: "invalid_field",
                field: Some(e.field),
            },
            format!("{} {}", e.field, e.message),
        )
    })?;
    let buckets = state.analytics.buckets(&query).await?;
    let (by_capability, totals) = roll_up(&buckets);
    Ok(json!({
        "account_id": query.account.map(|a| a.0),
        "from": query.from,
        "to": query.to,
        "granularity": query.granularity,
        "currency": state.billing.book().currency,
        "totals": totals,
        "by_capability": by_capability,
        "series": buckets,
    }))
}

/// `GET /api/v1/account`: the caller's balance and markup.
pub fn account(caller: &Principal) -> Value {
    let a = &caller.account;
    json!({
        "account_id": a.id.0,
        "name": a.name,
        "key_id": caller.key_id,
        "balance": a.balance,
        "held": a.held,
        "available": a.available(),
        "markup_rate": a.markup_rate,
        "created_at": a.created_at,
    })
}

/// `GET /api/v1/resemble/jobs?limit=`: the caller's most recent jobs of every kind.
pub async fn recent_jobs(
    state: &AppState,
    caller: &Principal,
    limit: Option<i64>,
) -> Result<Value, ApiError> {
    let limit = limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            ErrorKind::Unprocessable {
                code: "invalid_field",
                field: Some("limit"),
            },
            "limit must be between 1 and 200",
        ));
    }
    let jobs = state
        .jobs
        .recent(caller.account.id, limit)
        .await
        .map_err(super::jobs::job_error)?;
    let mut items = Vec::with_capacity(jobs.len());
    for j in &jobs {
        items.push(super::jobs::view(state, j).await);
    }
    Ok(json!({ "items": items }))
}

/// The reconciliation status for operators: the latest reconciled day's lines and the open
/// alerts.
pub async fn reconciliation(state: &AppState) -> Result<Value, ApiError> {
    let latest = state.reconciliations.latest_lines().await?;
    let alerts = state
        .reconciliations
        .alerts(indox_billing::reconcile::AlertQuery {
            run_id: None,
            open_only: true,
            limit: 100,
        })
        .await?;
    let items: Vec<Value> = match &latest {
        None => Vec::new(),
        Some(l) => l
            .lines
            .iter()
            .map(|line| {
                json!({
                    "day": l.day,
                    "upstream_unit": line.upstream_unit,
                    "ours": line.ours,
                    "theirs": line.theirs,
                    "drift": line.drift,
                    "alert": line.alert,
                    "partial": line.partial,
                })
            })
            .collect(),
    };
    Ok(json!({
        "day": latest.as_ref().map(|l| l.day),
        "finished_at": latest.as_ref().map(|l| l.finished_at),
        "items": items,
        "open_alerts": alerts,
    }))
}
