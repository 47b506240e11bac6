//! Wiring: builds every adapter from the settings, plugs them into the ports, and starts
//! the HTTP server and the background workers.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use async_trait::async_trait;
use indox_accounts::Authenticator;
use indox_billing::{Billing, MarkupPolicy, PriceBook};
use indox_core::{Clock, SystemClock};
use indox_postgres::PgStore;
use indox_ratelimit::RateLimiter;
use indox_redis::RedisRateLimitStore;
use indox_resemble::ResembleClient;
use indox_s3::S3Store;

use crate::app::{mirror, AppState, Probe};
use crate::http;
use crate::Settings;

struct PgProbe(PgStore);
#[async_trait]
impl Probe for PgProbe {
    fn name(&self) -> &'static str {
        "postgres"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct RedisProbe(Arc<RedisRateLimitStore>);
#[async_trait]
impl Probe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct S3Probe(Arc<S3Store>);
#[async_trait]
impl Probe for S3Probe {
    fn name(&self) -> &'static str {
        "object_store"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// The numbers `GET /metrics` reads from Postgres at scrape time.
struct PgScrape(PgStore);
#[async_trait]
impl crate::metrics::ScrapeSource for PgScrape {
    async fn queues(&self) -> Result<crate::metrics::QueueSnapshot, String> {
        let q = self.0.queue_stats().await.map_err(|e| e.to_string())?;
        Ok(crate::metrics::QueueSnapshot {
            tasks_queued: q.tasks_queued,
            tasks_due: q.tasks_due,
            tasks_running: q.tasks_running,
            tasks_dead: q.tasks_dead,
            oldest_due_task_age_secs: q.oldest_due_task_age_secs,
            jobs_pending: q.jobs_pending,
            jobs_processing: q.jobs_processing,
            oldest_open_job_age_secs: q.oldest_open_job_age_secs,
            callback_failures: q.callback_failures,
        })
    }
    /// The latest reconciled day's drift per unit, `(upstream − ours) / ours` (RC4); a unit
    /// whose drift is undefined (ours is 0) is left out.
    async fn reconciliation_drift(&self) -> Result<Vec<(String, f64)>, String> {
        use indox_billing::reconcile::ReconciliationStore as _;
        use rust_decimal::prelude::ToPrimitive as _;
        let latest = self.0.latest_lines().await.map_err(|e| e.to_string())?;
        Ok(latest.map_or_else(Vec::new, |l| {
            l.lines
                .into_iter()
                .filter_map(|x| Some((x.upstream_unit, x.drift?.to_f64()?)))
                .collect()
        }))
    }
}

/// A built gateway: bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: AppState,
    pg: PgStore,
    /// The background loops (mirror retrier, housekeeping, job runner).
    workers: Vec<tokio::task::JoinHandle<()>>,
    /// The job runner, stopped gracefully at shutdown (the other loops are just aborted:
    /// their work is leased and idempotent).
    runner: Option<tokio::task::JoinHandle<()>>,
    /// Tells the job runner to finish its task in hand and claim no more.
    stop_runner: Arc<std::sync::atomic::AtomicBool>,
    /// How long shutdown waits for the runner's task in hand.
    shutdown_timeout: std::time::Duration,
    /// How long `/readyz` answers 503 before the listener closes.
    drain: std::time::Duration,
}

/// Stops a gateway gracefully: readiness fails first (so balancers stop routing), then the
/// listener closes and in-flight requests finish, then the job runner finishes its task in
/// hand and claims no more; queued work is left for the other processes.
#[derive(Clone)]
pub struct Shutdown {
    server: actix_web::dev::ServerHandle,
    draining: Arc<std::sync::atomic::AtomicBool>,
    stop_runner: Arc<std::sync::atomic::AtomicBool>,
    drain: std::time::Duration,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("drain", &self.drain)
            .finish_non_exhaustive()
    }
}

impl Shutdown {
    /// Runs the shutdown sequence up to the listener's close; `Application::run_until_stopped`
    /// then waits for the runner.
    pub async fn begin(&self) {
        use std::sync::atomic::Ordering;
        self.draining.store(true, Ordering::Release);
        if !self.drain.is_zero() {
            tokio::time::sleep(self.drain).await;
        }
        self.stop_runner.store(true, Ordering::Release);
        self.server.stop(true).await;
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the gateway with the real clock.
    ///
    /// # Errors
    /// When an adapter cannot be configured or the address cannot be bound. Dependencies
    /// that are down do not stop the start: `/readyz` reports them.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the gateway with an injected clock (tests move time with it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let pg = indox_postgres::connect(settings.postgres.clone())
            .await
            .context("configuring the Postgres pool")?;
        let redis = Arc::new(
            RedisRateLimitStore::connect(settings.redis.clone())
                .context("configuring the Redis pool")?,
        );
        let s3 =
            Arc::new(S3Store::new(settings.s3.clone()).context("configuring the object store")?);
        if settings.s3_create_bucket {
            s3.ensure_bucket().await.context("creating the bucket")?;
        }
        let upstream = Arc::new(
            ResembleClient::new(settings.resemble.clone())
                .context("configuring the Resemble client")?,
        );
        let metrics =
            Arc::new(crate::metrics::Metrics::new().with_source(Arc::new(PgScrape(pg.clone()))));
        let upstream = Arc::new(crate::metrics::InstrumentedUpstream::new(
            upstream,
            metrics.clone(),
        ));

        let book = match &settings.price_book_path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the price book {path}"))?;
                PriceBook::from_json(&text)?
            }
            None => PriceBook::resemble_default(),
        };
        let markup = MarkupPolicy::new(settings.markup_default)?;
        let store = Arc::new(pg.clone());
        let egress = Arc::new(
            indox_egress::EgressPolicy::new().with_allowlist(
                indox_egress::Allowlist::parse(&settings.egress_allowlist)
                    .context("INDOX_EGRESS_ALLOWLIST")?,
            ),
        );
        let egress_client =
            indox_egress::safe_client(egress.clone(), indox_egress::ClientConfig::default())
                .context("building the egress client")?;
        let (job_events, _) = tokio::sync::broadcast::channel(1024);
        {
            // Completions in other gateway processes reach this one's long-polls.
            let tx = job_events.clone();
            indox_postgres::signal::listen(
                settings.postgres.url.clone(),
                "indox_jobs",
                move |payload| {
                    if let Some(id) = payload.and_then(|p| uuid::Uuid::parse_str(&p).ok()) {
                        let _ = tx.send(id);
                    }
                },
            );
        }
        let state = AppState {
            auth: Authenticator::new(store.clone()),
            limiter: Arc::new(
                RateLimiter::new(
                    redis.clone(),
                    settings.rate_limits.clone(),
                    settings.rate_limit_prefix.clone(),
                    store.clone(),
                )
                .with_override_ttl(settings.rate_limit_override_ttl),
            ),
            metrics: metrics.clone(),
            billing: Billing::new(book, markup, store.clone()),
            analytics: store.clone(),
            idempotency: store.clone(),
            cloning: upstream.clone(),
            upstream,
            byok: Arc::new(crate::app::byok::Byok::new(
                match &settings.secrets_key {
                    Some(k) => Some(
                        indox_accounts::provider_key::KeySealer::new(&k.0)
                            .map_err(|e| anyhow::anyhow!("INDOX_SECRETS_KEY: {e}"))?,
                    ),
                    None => None,
                },
                Arc::new(ResembleFactory {
                    config: settings.resemble.clone(),
                    metrics: metrics.clone(),
                }),
            )),
            provider_keys: store.clone(),
            clones: store.clone(),
            objects: s3.clone(),
            assets: store.clone(),
            confirmations: crate::app::assets::Confirmations::start(store.clone()),
            clock,
            business_plan_active: settings.business_plan_active,
            admin_key_hash: settings.admin_key_hash.clone(),
            reconciliations: store.clone(),
            tasks: store.clone(),
            jobs: store.clone(),
            callbacks: store.clone(),
            callback_schedule: indox_webhooks::RetrySchedule::new(&settings.callback_schedule, 0.2),
            egress,
            egress_client,
            max_input_bytes: settings.max_input_bytes,
            max_upload_bytes: settings.max_upload_bytes,
            job_events,
            webhook_url: settings.public_url.as_ref().map(|u| {
                format!(
                    "{}/api/v1/resemble/webhooks/resemble",
                    u.trim_end_matches('/')
                )
            }),
            webhook_secret: settings
                .webhook_secret
                .as_ref()
                .map(|s| s.as_bytes().to_vec()),
            job_poll_interval: settings.job_poll_interval,
            presign_ttl: settings.presign_ttl,
            max_body_bytes: settings.max_json_bytes,
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            probes: vec![
                Arc::new(PgProbe(pg.clone())),
                Arc::new(RedisProbe(redis)),
                Arc::new(S3Probe(s3)),
            ],
        };

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(state.clone());
        let throttle = web::Data::new(http::auth::AuthThrottle::default());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(throttle.clone())
                .wrap(middleware::from_fn(http::refuse_nul))
                .wrap(middleware::from_fn(http::close_unread_bodies))
                .wrap(middleware::from_fn(crate::telemetry::observe))
                .wrap(middleware::from_fn(http::request_id))
                .configure(http::routes::configure)
                .default_service(web::to(http::not_found))
        })
        // A request head must arrive within 5 s of the connection (408, then closed), and a
        // closing connection gets 1 s; bodies have their own floor (`http::read_body_limited`).
        .client_request_timeout(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .listen(listener)?
        .disable_signals();
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = server
            .shutdown_timeout(settings.shutdown_timeout.as_secs())
            .run();
        let mut workers = Vec::new();
        let stop_runner = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut runner_handle = None;
        if settings.run_mirror_worker {
            workers.push(tokio::spawn(mirror::run(
                state.clone(),
                settings.mirror_interval,
            )));
            workers.push(tokio::spawn(crate::app::maintenance::run(
                state.clone(),
                settings.hold_ttl,
                std::time::Duration::from_secs(60),
                settings.sweep_interval,
            )));
        }
        if settings.run_job_runner {
            let mut runner = indox_jobs::Runner::new(
                Arc::new(pg.clone()),
                indox_jobs::RetryPolicy::default(),
                settings.task_lease,
            );
            for (kind, handler) in crate::app::jobs::handlers(&state) {
                runner = runner.register(kind, handler);
            }
            let signal = Arc::new(indox_postgres::PgTaskSignal::start(
                settings.postgres.url.clone(),
            ));
            runner_handle = Some(tokio::spawn(runner.run_until(
                signal,
                std::time::Duration::from_secs(2),
                stop_runner.clone(),
            )));
        }
        Ok(Self {
            port,
            server,
            state,
            pg,
            workers,
            runner: runner_handle,
            stop_runner,
            shutdown_timeout: settings.shutdown_timeout,
            drain: settings.shutdown_drain,
        })
    }

    /// The port the gateway listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The wired state (tests use its ports directly).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The Postgres store (tests and the admin CLI read rows through it).
    pub fn postgres(&self) -> &PgStore {
        &self.pg
    }

    /// Handles that abort the background loops (tests use them to kill a process's work
    /// mid-flight, as a crash would).
    pub fn worker_aborts(&self) -> Vec<tokio::task::AbortHandle> {
        self.workers
            .iter()
            .chain(self.runner.iter())
            .map(tokio::task::JoinHandle::abort_handle)
            .collect()
    }

    /// The graceful shutdown sequence for this gateway.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown {
            server: self.server.handle(),
            draining: self.state.draining.clone(),
            stop_runner: self.stop_runner.clone(),
            drain: self.drain,
        }
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; in-flight requests finish on a graceful stop. Then the job
    /// runner gets up to the shutdown timeout to finish its task in hand (a task it could not
    /// finish is taken over by another process when its lease ends), and the other loops stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.stop_runner
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(runner) = self.runner {
            let abort = runner.abort_handle();
            if tokio::time::timeout(self.shutdown_timeout, runner)
                .await
                .is_err()
            {
                tracing::warn!("the job runner did not finish its task in time; its lease will hand it to another process");
                abort.abort();
            }
        }
        for w in &self.workers {
            w.abort();
        }
        served
    }
}

/// Resemble clients that carry an account's own key (BYOK), instrumented like the platform's.
struct ResembleFactory {
    config: indox_resemble::ResembleConfig,
    metrics: Arc<crate::metrics::Metrics>,
}

impl crate::app::byok::UpstreamFactory for ResembleFactory {
    fn with_key(
        &self,
        key: &indox_accounts::provider_key::ProviderKey,
    ) -> Result<crate::app::byok::Upstreams, String> {
        let mut config = self.config.clone();
        config.api_key = key.expose().to_owned();
        let client = Arc::new(ResembleClient::new(config).map_err(|e| e.to_string())?);
        let instrumented = Arc::new(crate::metrics::InstrumentedUpstream::new(
            client,
            self.metrics.clone(),
        ));
        Ok(crate::app::byok::Upstreams {
            voice: instrumented.clone(),
            cloning: instrumented,
        })
    }
}
