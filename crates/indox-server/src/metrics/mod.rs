//! Prometheus metrics: the gateway's registry (HTTP requests, gateway overhead, upstream
//! latency, rate-limit rejections), the numbers read from Postgres at scrape time (task queue,
//! open jobs, callback failures), the reconciliation-drift hook, and `/metrics` rendering.
//!
//! Every family and label is listed in `docs/decisions.md` ("Observability").

pub mod registry;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indox_core::{AccountId, Capability};
use indox_ratelimit::limiter::{Admission, Scope};

pub use registry::{CounterVec, HistogramVec};
pub use upstream::InstrumentedUpstream;

/// Buckets of request and upstream latencies, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets of the gateway's own overhead, in seconds (much finer: it is usually a few ms).
const OVERHEAD_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The label of requests that matched no route (their raw paths are never labels).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Operational numbers read from the database at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueSnapshot {
    /// Background tasks waiting (due now or scheduled later).
    pub tasks_queued: i64,
    /// Queued tasks whose time has come (the backlog).
    pub tasks_due: i64,
    /// Tasks a worker holds.
    pub tasks_running: i64,
    /// Tasks that used up their attempts (`indox admin dead-tasks`).
    pub tasks_dead: i64,
    /// How long the oldest due task has been waiting past its `run_at`, in seconds.
    pub oldest_due_task_age_secs: f64,
    /// Async jobs not yet sent upstream.
    pub jobs_pending: i64,
    /// Async jobs running upstream.
    pub jobs_processing: i64,
    /// Age of the oldest pending or processing job, in seconds.
    pub oldest_open_job_age_secs: f64,
    /// Callback delivery attempts that failed, ever.
    pub callback_failures: i64,
}

/// Where the scrape-time numbers come from (Postgres, wired in `wiring.rs`).
#[async_trait]
pub trait ScrapeSource: Send + Sync {
    /// Task queue, job and callback numbers.
    async fn queues(&self) -> Result<QueueSnapshot, String>;

    /// HOOK (reconciliation drift): the latest reconciliation's drift per upstream unit, as
    /// `(unit, (upstream − ours) / ours)` (decisions RC4; units whose drift is undefined are
    /// left out). Rendered as `indox_reconciliation_drift_ratio` by
    /// [`render_reconciliation_drift`]. Empty until the reconciliation store is wired.
    async fn reconciliation_drift(&self) -> Result<Vec<(String, f64)>, String> {
        Ok(Vec::new())
    }
}

/// The gateway's metric families.
pub struct Metrics {
    /// `indox_http_requests_total{route,method,status}`
    pub http_requests: CounterVec,
    /// `indox_http_request_duration_seconds{route,method}`
    pub http_duration: HistogramVec,
    /// `indox_gateway_overhead_seconds{route}`
    pub overhead: HistogramVec,
    /// `indox_upstream_request_duration_seconds{operation,outcome}`
    pub upstream: HistogramVec,
    /// `indox_rate_limit_rejections_total{capability,scope}`
    pub rate_limit_rejections: CounterVec,
    source: Option<Arc<dyn ScrapeSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty families, no scrape-time source.
    pub fn new() -> Self {
        Self {
            http_requests: CounterVec::new(
                "indox_http_requests_total",
                "HTTP requests answered, by matched route pattern, method and status.",
                &["route", "method", "status"],
            ),
            http_duration: HistogramVec::new(
                "indox_http_request_duration_seconds",
                "Time from receiving a request to its response head (stream bodies not included).",
                &["route", "method"],
                LATENCY_BUCKETS,
            ),
            overhead: HistogramVec::new(
                "indox_gateway_overhead_seconds",
                "Request duration minus the upstream time spent within it, for requests that called the upstream.",
                &["route"],
                OVERHEAD_BUCKETS,
            ),
            upstream: HistogramVec::new(
                "indox_upstream_request_duration_seconds",
                "Calls to Resemble by operation and outcome (streams: until the first byte).",
                &["operation", "outcome"],
                LATENCY_BUCKETS,
            ),
            rate_limit_rejections: CounterVec::new(
                "indox_rate_limit_rejections_total",
                "Requests refused with 429, by capability and the window that refused.",
                &["capability", "scope"],
            ),
            source: None,
        }
    }

    /// Adds the source of the scrape-time numbers.
    pub fn with_source(mut self, source: Arc<dyn ScrapeSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Records one answered request. `upstream` is the upstream time spent within it, when
    /// it called the upstream at all (only those requests feed the overhead histogram).
    pub fn record_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        duration: Duration,
        upstream: Option<Duration>,
    ) {
        let status = status.to_string();
        self.http_requests.inc(&[route, method, &status]);
        self.http_duration.observe(&[route, method], duration);
        if let Some(up) = upstream {
            self.overhead
                .observe(&[route], duration.saturating_sub(up.min(duration)));
        }
    }

    /// Records one upstream call.
    pub fn record_upstream(&self, operation: &str, outcome: &str, duration: Duration) {
        self.upstream.observe(&[operation, outcome], duration);
    }

    /// Called by `app::tts::admit` for every rate-limit decision: counts refusals, and tells
    /// the request's log line and span which account it is for.
    pub fn observe_admission(
        &self,
        account: AccountId,
        capability: Capability,
        admission: &Admission,
    ) {
        crate::telemetry::set_account(account);
        if let Some(scope) = admission.denied_by() {
            let scope = match scope {
                Scope::Account => "account",
                Scope::Upstream => "upstream",
            };
            self.rate_limit_rejections
                .inc(&[capability.as_str(), scope]);
        }
    }

    /// The whole exposition: the registry, then the numbers read at scrape time.
    /// `limiter_fallbacks` is the rate limiter's count of decisions made without Redis.
    pub async fn render(&self, limiter_fallbacks: u64) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.http_requests.render(&mut out);
        self.http_duration.render(&mut out);
        self.overhead.render(&mut out);
        self.upstream.render(&mut out);
        self.rate_limit_rejections.render(&mut out);
        registry::scraped(
            &mut out,
            "indox_rate_limit_fallback_decisions_total",
            "Rate-limit decisions made by the in-process fallback because Redis failed.",
            "counter",
            &[],
            &[(vec![], limiter_fallbacks as f64)],
        );
        if let Some(source) = &self.source {
            let limit = Duration::from_secs(2);
            let queues = tokio::time::timeout(limit, source.queues())
                .await
                .map_err(|_| "timed out".to_owned())
                .and_then(|r| r);
            let up = match queues {
                Ok(q) => {
                    render_queues(&mut out, &q);
                    1.0
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: could not read the queue numbers");
                    0.0
                }
            };
            registry::scraped(
                &mut out,
                "indox_metrics_source_up",
                "Whether the scrape-time numbers could be read (1) or not (0).",
                "gauge",
                &["source"],
                &[(vec!["postgres".to_owned()], up)],
            );
            match tokio::time::timeout(limit, source.reconciliation_drift()).await {
                Ok(Ok(drift)) => render_reconciliation_drift(&mut out, &drift),
                Ok(Err(e)) => tracing::warn!(error = %e, "metrics: could not read the drift"),
                Err(_) => tracing::warn!("metrics: reading the drift timed out"),
            }
        }
        out
    }
}

/// The task queue, job and callback families.
fn render_queues(out: &mut String, q: &QueueSnapshot) {
    let one = |v: f64| vec![(Vec::new(), v)];
    registry::scraped(
        out,
        "indox_task_queue_depth",
        "Background tasks by state (queued includes those scheduled for later).",
        "gauge",
        &["state"],
        &[
            (vec!["queued".to_owned()], q.tasks_queued as f64),
            (vec!["running".to_owned()], q.tasks_running as f64),
            (vec!["dead".to_owned()], q.tasks_dead as f64),
        ],
    );
    registry::scraped(
        out,
        "indox_task_queue_due",
        "Queued tasks whose run time has come: the backlog.",
        "gauge",
        &[],
        &one(q.tasks_due as f64),
    );
    registry::scraped(
        out,
        "indox_task_queue_oldest_due_age_seconds",
        "How long the oldest due task has waited past its run time (0 when none).",
        "gauge",
        &[],
        &one(q.oldest_due_task_age_secs),
    );
    registry::scraped(
        out,
        "indox_jobs_open",
        "Async jobs not finished, by status.",
        "gauge",
        &["status"],
        &[
            (vec!["pending".to_owned()], q.jobs_pending as f64),
            (vec!["processing".to_owned()], q.jobs_processing as f64),
        ],
    );
    registry::scraped(
        out,
        "indox_jobs_oldest_open_age_seconds",
        "Age of the oldest pending or processing async job (0 when none).",
        "gauge",
        &[],
        &one(q.oldest_open_job_age_secs),
    );
    registry::scraped(
        out,
        "indox_callback_delivery_failures_total",
        "User callback delivery attempts that failed.",
        "counter",
        &[],
        &one(q.callback_failures as f64),
    );
}

/// HOOK (reconciliation drift): renders `indox_reconciliation_drift_ratio{unit}` from the
/// latest reconciliation's relative drift per billing unit. Nothing is written for an empty
/// slice, so the family appears once reconciliation results are wired into
/// [`ScrapeSource::reconciliation_drift`].
pub fn render_reconciliation_drift(out: &mut String, drift: &[(String, f64)]) {
    if drift.is_empty() {
        return;
    }
    let rows: Vec<(Vec<String>, f64)> = drift
        .iter()
        .map(|(unit, ratio)| (vec![unit.clone()], *ratio))
        .collect();
    registry::scraped(
        out,
        "indox_reconciliation_drift_ratio",
        "Latest reconciliation, per upstream unit: (Resemble quantity - gateway quantity) / gateway quantity.",
        "gauge",
        &["unit"],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_duration_minus_upstream_and_only_with_upstream() {
        let m = Metrics::new();
        m.record_request(
            "/r",
            "POST",
            200,
            Duration::from_millis(30),
            Some(Duration::from_millis(25)),
        );
        m.record_request("/q", "GET", 200, Duration::from_millis(3), None);
        m.record_request(
            "/r",
            "POST",
            200,
            Duration::from_millis(5),
            Some(Duration::from_millis(9)),
        );
        assert_eq!(m.overhead.count(&["/r"]), 2);
        assert_eq!(m.overhead.count(&["/q"]), 0);
        let mut out = String::new();
        m.overhead.render(&mut out);
        // 5 ms + 0 (upstream time is capped at the request's duration).
        assert!(
            out.contains("indox_gateway_overhead_seconds_sum{route=\"/r\"} 0.005\n"),
            "{out}"
        );
        assert_eq!(m.http_requests.get(&["/q", "GET", "200"]), 1);
    }

    #[test]
    fn drift_hook_renders_one_gauge_per_unit() {
        let mut out = String::new();
        render_reconciliation_drift(&mut out, &[]);
        assert!(out.is_empty());
        render_reconciliation_drift(&mut out, &[("synth".to_owned(), -0.0125)]);
        assert!(out.contains("# TYPE indox_reconciliation_drift_ratio gauge\n"));
        assert!(out.contains("indox_reconciliation_drift_ratio{unit=\"synth\"} -0.0125\n"));
    }
}
