//! Logs and traces: the `tracing` subscriber (text, or JSON lines with `INDOX_JSON_LOGS=true`),
//! OpenTelemetry span export over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, and the `observe` middleware: one span and one log line per request, the HTTP metrics,
//! and the per-request upstream-time accumulator behind the gateway-overhead histogram.
//!
//! Logging is set up before `Settings` exists (the admin CLI logs too), so this module reads
//! its few variables itself: `INDOX_JSON_LOGS`, `RUST_LOG`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use indox_core::{AccountId, RequestId};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::Empty;
use tracing::Instrument as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::app::AppState;
use crate::metrics::UNMATCHED_ROUTE;

/// How logs and traces are emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// JSON lines (production) instead of human text.
    pub json_logs: bool,
    /// An `EnvFilter` directive, e.g. `info` or `indox_server=debug,info` (`RUST_LOG`).
    pub log_filter: String,
    /// Where spans are posted (`…/v1/traces`); `None` exports nothing.
    pub otlp_traces_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl TelemetryConfig {
    /// Reads the configuration from the environment. The OTLP endpoint follows the
    /// OpenTelemetry conventions: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; `OTEL_SDK_DISABLED=true` or
    /// `OTEL_TRACES_EXPORTER=none` turns export off.
    pub fn from_env() -> Self {
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim().trim_end_matches('/')))
        });
        Self {
            json_logs: var("INDOX_JSON_LOGS").is_some_and(|v| v == "true"),
            log_filter: var("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
            otlp_traces_endpoint: endpoint.filter(|_| !disabled),
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "indox-gateway".to_owned()),
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
    #[error("RUST_LOG is invalid: {0}")]
    Filter(String),
}

/// The installed telemetry; flush or shut it down before the process exits so the last
/// spans are sent.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every finished span now (waits for the exporter).
    ///
    /// # Errors
    /// When the exporter fails or does not answer.
    pub async fn flush(&self) -> Result<(), String> {
        let Some(provider) = self.provider.clone() else {
            return Ok(());
        };
        // `force_flush` blocks until the batch thread has exported.
        tokio::task::spawn_blocking(move || provider.force_flush())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Flushes and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
            }
        }
    }
}

/// Installs the global subscriber, logging to standard error.
///
/// # Errors
/// See [`TelemetryError`].
pub fn init(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    init_with_writer(config, std::io::stderr)
}

/// Installs the global subscriber, logging to `writer` (tests capture the lines this way).
///
/// # Errors
/// See [`TelemetryError`].
pub fn init_with_writer<W>(config: &TelemetryConfig, writer: W) -> Result<Telemetry, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.log_filter)
        .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let fmt = if config.json_logs {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(writer).boxed()
    };
    let provider = config
        .otlp_traces_endpoint
        .as_deref()
        .map(|endpoint| tracer_provider(endpoint, &config.service_name))
        .transpose()?;
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("indox-server")));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    Ok(Telemetry { provider })
}

/// A batch span processor posting OTLP/HTTP protobuf to `endpoint`.
fn tracer_provider(endpoint: &str, service: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(ExportClient::start().map_err(TelemetryError::Exporter)?)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The exporter's HTTP client: the workspace's reqwest 0.12 on a one-thread Tokio runtime of
/// its own. The SDK's batch processor runs on a plain thread and blocks on the export future,
/// so the request must be driven by a runtime that is not the caller's; owning one also keeps
/// export traffic off the request-serving workers. (opentelemetry-otlp's own reqwest features
/// would compile a second reqwest, 0.13.)
#[derive(Debug)]
struct ExportClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    /// Dropping it (with the exporter) ends the runtime's thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ExportClient {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the export runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("otlp-export".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| format!("starting the export thread: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("building the export client: {e}"))?;
        Ok(Self {
            client,
            runtime: handle,
            _stop: stop,
        })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            })
            .await??;
        let mut response = opentelemetry_http::Response::builder()
            .status(status)
            .body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

// ---------------------------------------------------------------------------------------------
// Per request

/// What one request learns while it runs (read by the [`observe`] middleware at its end).
#[derive(Debug, Default)]
struct RequestContext {
    upstream_nanos: AtomicU64,
    upstream_calls: AtomicU32,
    account: OnceLock<AccountId>,
}

tokio::task_local! {
    /// The current request's context: actix polls a request's handler inside the
    /// middleware's future, on the same task, so it is visible to everything the handler
    /// awaits (not to tasks it spawns).
    static REQUEST: Arc<RequestContext>;
}

/// Adds one upstream call's time to the current request (no-op outside a request, e.g. in
/// the job runner).
pub fn add_upstream_time(elapsed: Duration) {
    let _ = REQUEST.try_with(|c| {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        c.upstream_nanos.fetch_add(nanos, Ordering::Relaxed);
        c.upstream_calls.fetch_add(1, Ordering::Relaxed);
    });
}

/// Tells the current request's span and log line which account it serves.
pub fn set_account(account: AccountId) {
    let _ = REQUEST.try_with(|c| {
        let _ = c.account.set(account);
    });
}

/// A method label of bounded cardinality.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Middleware (inside `http::request_id`, which sets the id): opens the request's span
/// (exported as an OTLP server span), runs the request with a fresh `RequestContext`,
/// records `indox_http_requests_total`, `indox_http_request_duration_seconds` and
/// `indox_gateway_overhead_seconds`, and logs one line: request id, method, route pattern,
/// path, status, duration, account id when known. No header is logged.
///
/// Durations end when the response head is ready; a stream's body is not included.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .copied()
        .unwrap_or_default();
    let method = method_label(req.method());
    let path = req.path().to_owned();
    // The pattern the path matches, known before routing so the exported span is named after
    // it (an OTel span's name cannot change once it started).
    let route = req
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        request_id = %id,
        http.request.method = method,
        http.route = route.as_str(),
        http.response.status_code = Empty,
        account_id = Empty,
    );
    let context = Arc::new(RequestContext::default());
    let started = Instant::now();
    let result = REQUEST
        .scope(context.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();

    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let upstream = (context.upstream_calls.load(Ordering::Relaxed) > 0)
        .then(|| Duration::from_nanos(context.upstream_nanos.load(Ordering::Relaxed)));
    if let Some(m) = &metrics {
        m.record_request(&route, method, status, elapsed, upstream);
    }
    let account = context.account.get().copied();
    span.record("http.response.status_code", status);
    if let Some(a) = &account {
        span.record("account_id", tracing::field::display(a));
    }
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    drop(span);
    tracing::info!(
        request_id = %id,
        method,
        route = route.as_str(),
        path = path.as_str(),
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        upstream_ms = upstream.map(|u| u.as_secs_f64() * 1000.0),
        account_id = account.as_ref().map(tracing::field::display),
        "request"
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upstream_time_and_account_reach_the_request_context() {
        let ctx = Arc::new(RequestContext::default());
        REQUEST
            .scope(ctx.clone(), async {
                add_upstream_time(Duration::from_millis(3));
                add_upstream_time(Duration::from_millis(4));
                set_account(AccountId::default());
            })
            .await;
        assert_eq!(ctx.upstream_calls.load(Ordering::Relaxed), 2);
        assert_eq!(ctx.upstream_nanos.load(Ordering::Relaxed), 7_000_000);
        assert!(ctx.account.get().is_some());
        // Outside a request nothing happens (and nothing panics).
        add_upstream_time(Duration::from_millis(1));
        set_account(AccountId::default());
    }
}
