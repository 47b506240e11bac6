#![doc = include_str!("../README.md")]

pub mod audio;
pub mod auth;
pub mod billing;
pub mod cloning;
pub mod error;
pub mod faults;
pub mod jobs;
pub mod state;
pub mod tts;
pub mod voices;

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service as _};
use actix_web::{web, App, HttpRequest, HttpServer};

pub use error::SimError;
pub use state::{SimState, SimStats};

/// Simulator configuration. Fault knobs can also be changed at runtime via `/_sim/faults`
/// and `/_sim/config`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The platform's API key (default `"sim-key"`).
    pub api_key: String,
    /// Other Resemble accounts' keys also accepted (bring-your-own-key tests); requests
    /// are counted per key in `SimStats::by_key`. Default none.
    pub extra_api_keys: Vec<String>,
    /// Added before answering every real endpoint (default 0).
    pub latency: Duration,
    /// Fraction of real-endpoint answers replaced by 500/503 (default 0).
    pub error_rate_5xx: f64,
    /// Fraction of real-endpoint answers replaced by 429 + `Retry-After: 1` (default 0).
    pub error_rate_429: f64,
    /// Seed of the deterministic fault sequence (default 42).
    pub seed: u64,
    /// Multiplies what `billing_usage` reports (default 1.0).
    pub report_factor: f64,
    /// Pause between the ~100 ms audio chunks of `/stream` (default 5 ms).
    pub stream_chunk_delay: Duration,
    /// Requests per second per API key; `None` = unlimited (default). Resemble documents 40.
    pub rate_limit_per_sec: Option<u32>,
    /// actix worker threads (default 2).
    pub workers: usize,
    /// Async jobs stay `pending` this long, then `processing` this long, then finish
    /// (default 200 ms).
    pub job_delay: Duration,
    /// Fraction of new async jobs that end `failed` (default 0).
    pub job_failure_rate: f64,
    /// Send no job callbacks at all (default false).
    pub drop_callbacks: bool,
    /// Secret for the test-only `X-Resemble-Signature` header on callbacks
    /// (default `"sim-callback-secret"`).
    pub callback_secret: String,
    /// Accept loopback/private/link-local (and plain `http`) media and callback URLs.
    /// The real API refuses them; default true so local tests can serve from 127.0.0.1.
    pub allow_private_urls: bool,
    /// How long a custom voice trains after `POST /voices/{uuid}/build` before it is
    /// `finished` (or `failed`) (default 300 ms).
    pub voice_training_delay: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "sim-key".to_owned(),
            extra_api_keys: Vec::new(),
            latency: Duration::ZERO,
            error_rate_5xx: 0.0,
            error_rate_429: 0.0,
            seed: 42,
            report_factor: 1.0,
            stream_chunk_delay: Duration::from_millis(5),
            rate_limit_per_sec: None,
            workers: 2,
            job_delay: Duration::from_millis(200),
            job_failure_rate: 0.0,
            drop_callbacks: false,
            callback_secret: "sim-callback-secret".to_owned(),
            allow_private_urls: true,
            voice_training_delay: Duration::from_millis(300),
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    /// e.g. `http://127.0.0.1:PORT`.
    pub base_url: String,
    state: Arc<SimState>,
    server: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// Base URL of the app-host API: `{base_url}/api/v2`.
    pub fn app_url(&self) -> String {
        format!("{}/api/v2", self.base_url)
    }

    /// Base URL of the synthesis host (`POST /synthesize`, `POST /stream`): `{base_url}`.
    pub fn synth_url(&self) -> String {
        self.base_url.clone()
    }

    /// Snapshot of the request statistics.
    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// Shared state, for changing knobs directly from tests.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops the server gracefully and waits for it to finish.
    pub async fn stop(self) {
        self.server.stop(true).await;
        // The server task only fails if the listener failed; there is nothing left to do then.
        let _ = self.task.await;
    }
}

/// Largest request body on the app host (recordings, secure uploads): 50 MiB.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

/// Registers every route on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/synthesize", web::post().to(tts::synthesize))
        .route("/stream", web::post().to(tts::stream))
        .service(
            web::scope("/api/v2")
                // Recordings and media uploads are whole files (actix's default is 256 KiB).
                .app_data(web::PayloadConfig::new(MAX_UPLOAD_BYTES))
                .route("/voices", web::get().to(voices::list))
                .route("/voices", web::post().to(cloning::create_voice))
                .route("/voices/{uuid}", web::get().to(voices::get))
                .route("/voices/{uuid}", web::delete().to(cloning::delete_voice))
                .route("/voices/{uuid}/build", web::post().to(cloning::build))
                .route(
                    "/voices/{uuid}/recordings",
                    web::post().to(cloning::recording_create),
                )
                .route(
                    "/voices/{uuid}/recordings",
                    web::get().to(cloning::recording_list),
                )
                .route(
                    "/voices/{uuid}/recordings/{recording_uuid}",
                    web::get().to(cloning::recording_get),
                )
                .route(
                    "/voices/{uuid}/recordings/{recording_uuid}",
                    web::delete().to(cloning::recording_delete),
                )
                .route("/voice-design", web::post().to(cloning::design_create))
                .route("/voice-design", web::get().to(cloning::design_list))
                .route(
                    "/voice-design/{design_uuid}/{sample_index}/create_rapid_voice",
                    web::post().to(cloning::design_voice),
                )
                .route(
                    "/voice-design/{design_uuid}/{sample_index}/create",
                    web::post().to(cloning::design_voice),
                )
                .route("/account/billing_usage", web::get().to(billing::usage))
                .route("/secure_uploads", web::post().to(jobs::api::secure_upload))
                .route("/speech-to-text", web::post().to(jobs::api::stt_create))
                .route("/speech-to-text/{uuid}", web::get().to(jobs::api::stt_get))
                .route(
                    "/audio_enhancements",
                    web::post().to(jobs::api::enhance_create),
                )
                .route(
                    "/audio_enhancements/{uuid}",
                    web::get().to(jobs::api::enhance_get),
                )
                .route("/edit", web::post().to(jobs::api::edit_create))
                .route("/edit/{uuid}", web::get().to(jobs::api::edit_get))
                .route("/detect", web::post().to(jobs::api::detect_create))
                .route("/detect/{uuid}", web::get().to(jobs::api::detect_get))
                .route(
                    "/intelligence",
                    web::post().to(jobs::api::intelligence_create),
                )
                .route(
                    "/intelligences/{uuid}",
                    web::get().to(jobs::api::intelligence_get),
                )
                .route(
                    "/watermark/{op}",
                    web::post().to(jobs::api::watermark_create),
                )
                .route(
                    "/watermark/{op}/{uuid}/result",
                    web::get().to(jobs::api::watermark_get),
                )
                .route("/identity", web::post().to(jobs::api::identity_create))
                .route(
                    "/identity/search",
                    web::post().to(jobs::api::identity_search),
                ),
        )
        .route("/_media/{id}", web::get().to(jobs::api::media_get))
        .service(
            web::scope("/_sim")
                .route("/faults", web::post().to(faults::update))
                .route("/faults", web::get().to(faults::current))
                .route("/config", web::post().to(faults::update))
                .route("/config", web::get().to(faults::current))
                .route("/stats", web::get().to(faults::stats))
                .route("/reset", web::post().to(faults::reset))
                .route("/health", web::get().to(faults::health)),
        )
        .default_service(web::to(|req: HttpRequest| async move {
            Err::<actix_web::HttpResponse, _>(SimError::NoRoute(format!(
                "{} {}",
                req.method(),
                req.path()
            )))
        }));
}

/// Starts the simulator on `listener`, spawning it on the current tokio runtime.
pub async fn start(
    config: SimConfig,
    listener: std::net::TcpListener,
) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let state = Arc::new(SimState::new(&config));
    let own = if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    state.set_base_url(format!("http://{own}"));
    let data = web::Data::from(Arc::clone(&state));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap_fn(|req, srv| {
                let plan = req
                    .app_data::<web::Data<SimState>>()
                    .map(|s| (faults::plan(&req, s), Arc::clone(s)));
                let (latency, route, state) = match &plan {
                    Some((p, s)) => (p.latency, p.route.clone(), Some(Arc::clone(s))),
                    None => (Duration::ZERO, None, None),
                };
                let injected = plan.and_then(|(p, _)| p.injected);
                let outcome = match injected {
                    Some(resp) => Err(req.into_response(resp)),
                    None => Ok(srv.call(req)),
                };
                async move {
                    if !latency.is_zero() {
                        tokio::time::sleep(latency).await;
                    }
                    let res = match outcome {
                        Ok(fut) => fut.await?.map_into_boxed_body(),
                        Err(res) => res.map_into_boxed_body(),
                    };
                    if let (Some(state), Some(route)) = (state, route) {
                        state.record(&route, res.status().as_u16());
                    }
                    Ok(res)
                }
            })
            .configure(routes)
    })
    .workers(config.workers.max(1))
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let server_handle = server.handle();
    let task = tokio::spawn(server);
    Ok(SimHandle {
        base_url: format!("http://{addr}"),
        state,
        server: server_handle,
        task,
    })
}
