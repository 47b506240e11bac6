//! Settings: every knob of the gateway, read from the environment in one place.

use std::time::Duration;

use anyhow::{anyhow, Context};
use indox_postgres::PgConfig;
use indox_ratelimit::LimitConfig;
use indox_redis::RedisConfig;
use indox_resemble::ResembleConfig;
use indox_s3::S3Config;
use rust_decimal::Decimal;

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: String,
    pub postgres: PgConfig,
    pub redis: RedisConfig,
    pub s3: S3Config,
    pub resemble: ResembleConfig,
    /// Global markup as a fraction (0.20 = 20 %).
    pub markup_default: Decimal,
    /// Rate limits per capability plus the upstream budget.
    pub rate_limits: LimitConfig,
    /// Prefix of every rate-limit key in Redis.
    pub rate_limit_prefix: String,
    /// How long each process caches an account's rate-limit overrides
    /// (`INDOX_RATE_LIMIT_OVERRIDE_TTL_MS`, default 5000; 0 reads them on every request).
    pub rate_limit_override_ttl: Duration,
    /// How long presigned URLs handed out stay valid (clipped to the asset's expiry).
    pub presign_ttl: chrono::Duration,
    /// A price book file to use instead of the shipped one.
    pub price_book_path: Option<String>,
    /// Create the bucket at start when missing (local development).
    pub s3_create_bucket: bool,
    /// Whether the background mirror retrier runs in this process.
    pub run_mirror_worker: bool,
    /// Whether this process runs the job task runner (submit, poll).
    pub run_job_runner: bool,
    /// How often the mirror retrier looks for work.
    pub mirror_interval: Duration,
    /// Networks the gateway may fetch from or post to although they are not public
    /// (`127.0.0.0/8,::1/128` for the local stack and tests; empty in production).
    pub egress_allowlist: String,
    /// Largest input media the gateway fetches for a job.
    pub max_input_bytes: u64,
    /// Largest `multipart/form-data` body accepted by `POST /resemble/uploads`.
    pub max_upload_bytes: u64,
    /// This gateway's public base URL (e.g. `https://api.indoxhub.com`), for the provider
    /// webhook; without it jobs finish through polling only.
    pub public_url: Option<String>,
    /// The shared secret of provider webhooks (`X-Resemble-Signature`); without it the
    /// webhook endpoint refuses every delivery.
    pub webhook_secret: Option<String>,
    /// Delays between callback delivery attempts (about a day in all by default).
    pub callback_schedule: Vec<chrono::Duration>,
    /// How often a running job is polled when no webhook arrives.
    pub job_poll_interval: chrono::Duration,
    /// How long a claimed background task stays leased to its process; a task whose process
    /// died is run again by another (or the restarted) process once its lease runs out
    /// (`INDOX_TASK_LEASE_SECS`, default 120; keep it above the longest task).
    pub task_lease: chrono::Duration,
    /// How long in-flight requests (and the job runner's task in hand) get at shutdown
    /// (`INDOX_SHUTDOWN_TIMEOUT_SECS`, 30).
    pub shutdown_timeout: std::time::Duration,
    /// How long `/readyz` answers 503 before the listener closes at shutdown
    /// (`INDOX_SHUTDOWN_DRAIN_SECS`, 0: on Kubernetes the preStop sleep does this).
    pub shutdown_drain: std::time::Duration,
    /// Voice cloning and design need a Resemble Business plan.
    pub business_plan_active: bool,
    /// The SHA-256 of the admin key (`INDOX_ADMIN_KEY_SHA256`, hex; or `INDOX_ADMIN_KEY`,
    /// hashed as it is read). `None` disables the admin API.
    pub admin_key_hash: Option<indox_accounts::key::SecretHash>,
    /// The 32-byte key that seals accounts' own Resemble keys (`INDOX_SECRETS_KEY`, 64 hex
    /// digits); `None` disables bring-your-own-key.
    pub secrets_key: Option<SecretBytes>,
    /// How often the retention sweep runs.
    pub sweep_interval: std::time::Duration,
    /// Open holds older than this are released by the housekeeping loop.
    pub hold_ttl: chrono::Duration,
    /// actix worker threads (0 = one per core).
    pub workers: usize,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// Log as JSON lines (production) or human text.
    pub json_logs: bool,
}

/// Reads a variable; `None` when unset or empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn var_or(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<T>()
            .map_err(|e| anyhow!("{name}={v:?} is invalid: {e}")),
    }
}

impl Settings {
    /// Reads the settings from the environment (see `.env.sample`).
    ///
    /// # Errors
    /// When a variable is malformed, or no Resemble key is configured.
    pub fn from_env() -> anyhow::Result<Self> {
        let resemble_key = var("RESEMBLE_API_KEY").context(
            "RESEMBLE_API_KEY is not set: set it (and RESEMBLE_APP_URL / RESEMBLE_SYNTH_URL) to use Resemble, \
             or run `cargo xtask up`, which starts the local simulator and points the gateway at it",
        )?;
        let rate_limits = LimitConfig::parse(&var_or("INDOX_RATE_LIMITS", ""))
            .map_err(|e| anyhow!("INDOX_RATE_LIMITS: {e}"))?;
        Ok(Self {
            bind: var_or("INDOX_BIND", "127.0.0.1:8080"),
            postgres: PgConfig {
                url: var_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/indox"),
                max_connections: parsed("INDOX_PG_POOL", 16usize)?,
            },
            redis: RedisConfig {
                url: var_or("REDIS_URL", "redis://127.0.0.1:6379"),
                pool_size: parsed("INDOX_REDIS_POOL", 16usize)?,
                timeout: Duration::from_millis(parsed("INDOX_REDIS_TIMEOUT_MS", 50u64)?),
            },
            s3: S3Config {
                endpoint: var_or("S3_ENDPOINT", "http://127.0.0.1:9000"),
                region: var_or("S3_REGION", "auto"),
                bucket: var_or("S3_BUCKET", "indox-audio"),
                access_key: var_or("S3_ACCESS_KEY", "indox"),
                secret_key: var_or("S3_SECRET_KEY", "indox-secret"),
                path_style: parsed("S3_PATH_STYLE", true)?,
                public_endpoint: var("S3_PUBLIC_ENDPOINT"),
                timeout: Duration::from_millis(parsed("S3_TIMEOUT_MS", 2_000u64)?),
            },
            resemble: ResembleConfig {
                api_key: resemble_key,
                app_url: var_or("RESEMBLE_APP_URL", "https://app.resemble.ai/api/v2"),
                synth_url: var_or("RESEMBLE_SYNTH_URL", "https://f.cluster.resemble.ai"),
                timeout: Duration::from_secs(parsed("RESEMBLE_TIMEOUT_SECS", 30u64)?),
                connect_timeout: Duration::from_secs(parsed(
                    "RESEMBLE_CONNECT_TIMEOUT_SECS",
                    5u64,
                )?),
            },
            markup_default: parsed("INDOX_MARKUP_DEFAULT", Decimal::new(20, 2))?,
            rate_limits,
            rate_limit_prefix: var_or("INDOX_RATE_LIMIT_PREFIX", "rl"),
            rate_limit_override_ttl: Duration::from_millis(parsed(
                "INDOX_RATE_LIMIT_OVERRIDE_TTL_MS",
                5_000u64,
            )?),
            presign_ttl: chrono::Duration::seconds(parsed("INDOX_PRESIGN_TTL_SECS", 3600i64)?),
            price_book_path: var("INDOX_PRICE_BOOK"),
            s3_create_bucket: parsed("S3_CREATE_BUCKET", false)?,
            run_mirror_worker: parsed("INDOX_MIRROR_WORKER", true)?,
            run_job_runner: parsed("INDOX_JOB_RUNNER", true)?,
            mirror_interval: Duration::from_millis(parsed("INDOX_MIRROR_INTERVAL_MS", 5_000u64)?),
            egress_allowlist: var_or("INDOX_EGRESS_ALLOWLIST", ""),
            max_input_bytes: parsed("INDOX_MAX_INPUT_BYTES", 50 * 1024 * 1024u64)?,
            max_upload_bytes: parsed("INDOX_MAX_UPLOAD_BYTES", 50 * 1024 * 1024u64)?,
            public_url: var("INDOX_PUBLIC_URL"),
            webhook_secret: var("RESEMBLE_WEBHOOK_SECRET"),
            callback_schedule: var_or(
                "INDOX_CALLBACK_SCHEDULE_MS",
                "5000,300000,1800000,7200000,18000000,36000000,36000000",
            )
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map(chrono::Duration::milliseconds)
                    .map_err(|_| {
                        anyhow!("INDOX_CALLBACK_SCHEDULE_MS takes milliseconds separated by commas")
                    })
            })
            .collect::<anyhow::Result<_>>()?,
            job_poll_interval: chrono::Duration::milliseconds(parsed(
                "INDOX_JOB_POLL_MS",
                5_000i64,
            )?),
            task_lease: chrono::Duration::seconds(parsed("INDOX_TASK_LEASE_SECS", 120i64)?),
            shutdown_timeout: Duration::from_secs(parsed("INDOX_SHUTDOWN_TIMEOUT_SECS", 30u64)?),
            shutdown_drain: Duration::from_secs(parsed("INDOX_SHUTDOWN_DRAIN_SECS", 0u64)?),
            business_plan_active: parsed("RESEMBLE_BUSINESS_PLAN_ACTIVE", false)?,
            admin_key_hash: admin_key_hash()?,
            secrets_key: match var("INDOX_SECRETS_KEY") {
                None => None,
                Some(hex) => Some(SecretBytes(
                    decode_hex(&hex).filter(|b| b.len() == 32).ok_or_else(|| {
                        anyhow!("INDOX_SECRETS_KEY must be 64 hex digits (32 random bytes)")
                    })?,
                )),
            },
            sweep_interval: Duration::from_secs(parsed("INDOX_SWEEP_INTERVAL_SECS", 3600u64)?),
            hold_ttl: chrono::Duration::seconds(parsed("INDOX_HOLD_TTL_SECS", 3600i64)?),
            workers: parsed("INDOX_WORKERS", 0usize)?,
            max_json_bytes: parsed("INDOX_MAX_JSON_BYTES", 64 * 1024usize)?,
            json_logs: parsed("INDOX_JSON_LOGS", false)?,
        })
    }
}

/// The admin key's hash from `INDOX_ADMIN_KEY_SHA256` (64 hex digits) or `INDOX_ADMIN_KEY`
/// (hashed here; the plaintext is not kept).
fn admin_key_hash() -> anyhow::Result<Option<indox_accounts::key::SecretHash>> {
    if let Some(hex) = var("INDOX_ADMIN_KEY_SHA256") {
        return decode_hex(&hex)
            .as_deref()
            .and_then(indox_accounts::key::SecretHash::from_slice)
            .map(Some)
            .ok_or_else(|| {
                anyhow!(
                    "INDOX_ADMIN_KEY_SHA256 must be 64 hex digits (the SHA-256 of the admin key)"
                )
            });
    }
    match var("INDOX_ADMIN_KEY") {
        Some(k) if k.len() < 32 => Err(anyhow!("INDOX_ADMIN_KEY must be at least 32 characters")),
        Some(k) => Ok(Some(indox_accounts::key::SecretHash::of(&k))),
        None => Ok(None),
    }
}

/// Bytes of a hex string; `None` for an odd length or a non-hex digit.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Secret bytes that never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}
