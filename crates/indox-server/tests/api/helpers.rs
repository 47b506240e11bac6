//! Test harness: a real gateway on port 0 over a fresh Postgres database, a Redis key
//! prefix of its own, a real S3 server with its own bucket, and the Resemble simulator.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use indox_accounts::{Account, AccountRepository, Authenticator};
use indox_billing::UsageRecord;
use indox_core::AccountId;
use indox_postgres::{PgConfig, PgStore, TestDatabase};
use indox_ratelimit::LimitConfig;
use indox_redis::RedisConfig;
use indox_resemble::ResembleConfig;
use indox_s3::{LocalS3, S3Store};
use indox_server::{Application, Settings};
use indox_simulator::{SimConfig, SimHandle};
use rust_decimal::Decimal;

/// The admin key of every test gateway.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

/// Knobs a test can turn before the gateway starts.
pub struct Options {
    pub rate_limits: String,
    pub redis_url: String,
    pub resemble_timeout: Duration,
    pub sim: SimConfig,
    pub mirror_worker: bool,
    /// Give the simulator our webhook URL (otherwise jobs finish through polling only).
    pub webhooks: bool,
    pub job_poll_interval: chrono::Duration,
    pub egress_allowlist: String,
    /// Share another test app's database (several gateway processes on one Postgres).
    pub database_url: Option<String>,
    /// Share another test app's upstream (app URL, synthesis URL) and bucket.
    pub peer_of: Option<(String, String, indox_s3::S3Config)>,
    /// A clock the test moves (default: the real one).
    pub clock: Option<Arc<indox_core::FixedClock>>,
    /// Largest upload body (`POST /resemble/uploads`).
    pub max_upload_bytes: u64,
    /// `RESEMBLE_BUSINESS_PLAN_ACTIVE`: opens the cloning and design routes.
    pub business_plan: bool,
    /// How long readiness fails before the listener closes at shutdown.
    pub shutdown_drain: Duration,
    /// How long the gateway caches rate-limit overrides (0: read on every request).
    pub override_ttl: Duration,
    /// Use this S3 server instead of starting one (e.g. to put a proxy in front of it).
    pub s3_server: Option<LocalS3>,
    /// Reach the S3 server at this endpoint (e.g. a chaos proxy) instead of its own.
    pub s3_endpoint: Option<String>,
    /// How long a claimed background task is leased (`INDOX_TASK_LEASE_SECS`).
    pub task_lease: chrono::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate_limits: "default=1000/1m,upstream=1000/1s".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            resemble_timeout: Duration::from_secs(10),
            sim: SimConfig {
                stream_chunk_delay: Duration::from_millis(2),
                ..SimConfig::default()
            },
            mirror_worker: false,
            webhooks: true,
            job_poll_interval: chrono::Duration::milliseconds(300),
            egress_allowlist: "127.0.0.0/8,::1/128".into(),
            database_url: None,
            peer_of: None,
            clock: None,
            max_upload_bytes: 50 * 1024 * 1024,
            business_plan: false,
            shutdown_drain: Duration::ZERO,
            override_ttl: Duration::from_secs(5),
            s3_server: None,
            s3_endpoint: None,
            task_lease: chrono::Duration::seconds(120),
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>/api/v1`
    pub base: String,
    pub root: String,
    pub client: reqwest::Client,
    pub pg: PgStore,
    pub s3: LocalS3,
    pub bucket: String,
    pub sim: SimHandle,
    pub app: indox_server::app::AppState,
    pub database_url: String,
    server: actix_web::dev::ServerHandle,
    workers: Vec<tokio::task::AbortHandle>,
    /// The graceful shutdown sequence (SIGTERM in production).
    pub shutdown: indox_server::Shutdown,
    _db: Option<TestDatabase>,
}

/// A caller: an account with a key.
pub struct User {
    pub account: AccountId,
    pub key: String,
    pub key_id: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    let db = match &opts.database_url {
        Some(_) => None,
        None => Some(TestDatabase::new().await),
    };
    let db_url = opts
        .database_url
        .clone()
        .or_else(|| db.as_ref().map(|d| d.url.clone()))
        .unwrap();
    let s3 = match opts.s3_server {
        Some(s3) => s3,
        None => LocalS3::start().await.expect("s3s-fs starts"),
    };
    let bucket = LocalS3::unique_bucket("gw");
    let sim_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = indox_simulator::start(opts.sim, sim_listener)
        .await
        .expect("simulator starts");
    let mut s3_cfg = match &opts.peer_of {
        Some((_, _, cfg)) => cfg.clone(),
        None => s3.config(&bucket),
    };
    let (app_url, synth_url) = match &opts.peer_of {
        Some((a, s, _)) => (a.clone(), s.clone()),
        None => (sim.app_url(), sim.synth_url()),
    };
    s3_cfg.timeout = Duration::from_millis(1_500);
    if let Some(endpoint) = &opts.s3_endpoint {
        s3_cfg.endpoint.clone_from(endpoint);
    }
    // Reserve a port so the gateway knows its own URL for the provider webhook.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = Settings {
        bind: format!("127.0.0.1:{port}"),
        postgres: PgConfig {
            url: db_url.clone(),
            max_connections: 8,
        },
        redis: RedisConfig {
            url: opts.redis_url,
            pool_size: 4,
            timeout: Duration::from_millis(200),
        },
        s3: s3_cfg,
        resemble: ResembleConfig {
            api_key: "sim-key".into(),
            app_url,
            synth_url,
            timeout: opts.resemble_timeout,
            connect_timeout: Duration::from_secs(2),
        },
        markup_default: Decimal::new(20, 2),
        rate_limits: LimitConfig::parse(&opts.rate_limits).unwrap(),
        rate_limit_prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        rate_limit_override_ttl: opts.override_ttl,
        presign_ttl: chrono::Duration::hours(1),
        price_book_path: None,
        s3_create_bucket: true,
        run_mirror_worker: opts.mirror_worker,
        run_job_runner: true,
        mirror_interval: Duration::from_millis(100),
        egress_allowlist: opts.egress_allowlist,
        max_input_bytes: 10 * 1024 * 1024,
        max_upload_bytes: opts.max_upload_bytes,
        public_url: opts.webhooks.then(|| format!("http://127.0.0.1:{port}")),
        webhook_secret: Some("sim-callback-secret".into()),
        job_poll_interval: opts.job_poll_interval,
        task_lease: opts.task_lease,
        shutdown_timeout: Duration::from_secs(5),
        shutdown_drain: opts.shutdown_drain,
        callback_schedule: vec![chrono::Duration::milliseconds(50); 3],
        business_plan_active: opts.business_plan,
        admin_key_hash: Some(indox_accounts::key::SecretHash::of(ADMIN_KEY)),
        secrets_key: Some(indox_server::config::SecretBytes(vec![42; 32])),
        sweep_interval: Duration::from_secs(3600),
        hold_ttl: chrono::Duration::hours(1),
        workers: 2,
        max_json_bytes: 64 * 1024,
        json_logs: false,
    };
    let s3_cfg_bucket = settings.s3.bucket.clone();
    let clock: Arc<dyn indox_core::Clock> = match &opts.clock {
        Some(c) => c.clone(),
        None => Arc::new(indox_core::SystemClock),
    };
    let app = Application::build_with_clock(settings, clock)
        .await
        .expect("gateway builds");
    let port = app.port();
    let pg = app.postgres().clone();
    let state = app.state().clone();
    let server = app.handle();
    let workers = app.worker_aborts();
    let shutdown = app.shutdown();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}/api/v1"),
        root: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        pg,
        bucket: s3_cfg_bucket,
        s3,
        sim,
        app: state,
        database_url: db_url,
        server,
        workers,
        shutdown,
        _db: db,
    }
}

/// A second gateway process on the same Postgres, Redis, upstream and bucket as `app`.
pub async fn spawn_peer(app: &TestApp, mut opts: Options) -> TestApp {
    opts.database_url = Some(app.database_url.clone());
    opts.peer_of = Some((
        app.sim.app_url(),
        app.sim.synth_url(),
        app.s3.config(&app.bucket),
    ));
    spawn_app_with(opts).await
}

impl TestApp {
    /// Stops this gateway as a crash would: its background work is aborted mid-flight and it
    /// stops answering.
    pub async fn kill(&self) {
        for w in &self.workers {
            w.abort();
        }
        self.server.stop(false).await;
    }

    /// Creates an account with `balance` USD and a key for it.
    pub async fn user(&self, balance: &str) -> User {
        let repo: Arc<dyn AccountRepository> = Arc::new(self.pg.clone());
        let account = repo.create_account("test", None).await.unwrap();
        let auth = Authenticator::new(repo.clone());
        let key = auth.issue_key(account.id, "test").await.unwrap();
        let amount: Decimal = balance.parse().unwrap();
        if amount > Decimal::ZERO {
            auth.top_up(account.id, amount, "test").await.unwrap();
        }
        User {
            account: account.id,
            key: key.plaintext().to_owned(),
            key_id: key.key_id().to_owned(),
        }
    }

    pub async fn account(&self, id: AccountId) -> Account {
        let repo: Arc<dyn AccountRepository> = Arc::new(self.pg.clone());
        repo.get_account(id).await.unwrap()
    }

    pub async fn usage(&self, id: AccountId) -> Vec<UsageRecord> {
        self.pg.usage_rows_for_account(id).await.unwrap()
    }

    pub async fn synthesize(&self, user: &User, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/resemble/tts/synthesize", self.base))
            .bearer_auth(&user.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub fn store(&self) -> S3Store {
        S3Store::new(self.s3.config(&self.bucket)).unwrap()
    }

    /// Sets the simulator's fault knobs.
    pub async fn sim_faults(&self, body: serde_json::Value) {
        let r = self
            .client
            .post(format!("{}/_sim/faults", self.sim.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// How many synthesis calls reached the simulator.
    pub fn sim_synth_calls(&self) -> u64 {
        self.sim.stats().route("POST /synthesize")
    }
}

/// `{"voice_uuid":…, "text":…, "output_format":…}`
pub fn tts_body(text: &str, format: &str) -> serde_json::Value {
    serde_json::json!({"voice_uuid": "55592656", "text": text, "output_format": format})
}

/// The error body's `code`.
pub async fn error_code(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("error bodies are JSON");
    (status, body)
}

impl TestApp {
    /// The bytes the object store serves for `key`, fetched through a presigned URL.
    pub async fn stored_bytes(&self, key: &str) -> Vec<u8> {
        let url = self
            .app
            .objects
            .presign_get(key, chrono::Duration::minutes(5))
            .await
            .unwrap();
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }
}

/// Polls `probe` every 20 ms, up to 5 s, until it yields a value (for effects that happen
/// just after an answer, like batched confirmations or a stream's billing).
pub async fn eventually<T, F, Fut>(mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..250 {
        if let Some(v) = probe().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

impl TestApp {
    /// Synthesizes `text` through the gateway with the given extra fields (format, rate…)
    /// and returns a fresh presigned URL of the stored copy, once its upload is confirmed:
    /// a "local URL" of real audio for the job tests.
    pub async fn stored_audio_url(
        &self,
        user: &User,
        text: &str,
        extra: serde_json::Value,
    ) -> String {
        let mut req = serde_json::json!({"voice_uuid": "55592656", "text": text});
        if let (Some(r), Some(e)) = (req.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        let body: serde_json::Value = self.synthesize(user, req).await.json().await.unwrap();
        let asset_id = body["asset_id"].as_str().unwrap().to_owned();
        eventually(|| async {
            let r = self
                .client
                .get(format!("{}/resemble/assets/{asset_id}", self.base))
                .bearer_auth(&user.key)
                .send()
                .await
                .unwrap();
            (r.status() == 200).then_some(())?;
            Some(
                r.json::<serde_json::Value>().await.unwrap()["audio_url"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .await
        .expect("the synthesized audio is stored")
    }
}

/// Runs a Python script in a fresh directory; returns its standard output.
pub async fn run_python(script: &str) -> String {
    let dir = std::env::temp_dir().join(format!("indox-snippet-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s.py"), script).unwrap();
    let out = tokio::process::Command::new("python3")
        .arg("s.py")
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "snippet failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    stdout
}

impl TestApp {
    /// Runs one SQL statement with `psql` against this gateway's database and returns what
    /// it printed (unaligned, tuples only), or `Err` with its error output.
    pub async fn psql(&self, sql: &str) -> Result<String, String> {
        let out = tokio::process::Command::new("psql")
            .args([
                self.database_url.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl TestApp {
    /// A call with `key` to `{base}{path}` with an optional JSON body: the status and the
    /// body (`Null` when it is not JSON).
    pub async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// As [`TestApp::call_as`] with `user`'s key.
    pub async fn call(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.call_as(&user.key, method, path, body).await
    }
}

/// An amount from a JSON body (amounts are decimal strings).
pub fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap()
}
