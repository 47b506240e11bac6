//! `RedisRateLimitStore`: the pool, the bounded script call and the `RateLimitStore` impl.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{self, ErrorKind, ServerErrorKind};
use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts};
use indox_ratelimit::{Decision, RateLimitError, RateLimitStore, WindowCheck};

use crate::config::redact_url;
use crate::script::{decode, AcquireScript};
use crate::{RedisConfig, RedisError};

/// Sliding logs in Redis, shared by every gateway process.
pub struct RedisRateLimitStore {
    pool: Pool,
    timeout: Duration,
    script: AcquireScript,
    url: String,
}

impl fmt::Debug for RedisRateLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimitStore")
            .field("url", &redact_url(&self.url))
            .field("pool", &self.pool.status())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimitStore {
    /// Builds the pool. Does not dial Redis: connections are made on first use, so the
    /// gateway starts (and falls back to its local store) while Redis is down.
    ///
    /// # Errors
    /// [`RedisError::Config`] for an unparsable URL, a zero pool size or a zero timeout.
    pub fn connect(cfg: RedisConfig) -> Result<Self, RedisError> {
        if cfg.pool_size == 0 {
            return Err(RedisError::Config("pool_size must be at least 1".into()));
        }
        if cfg.timeout.is_zero() {
            return Err(RedisError::Config(
                "timeout must be greater than zero".into(),
            ));
        }
        // Parse up front so a bad URL fails here rather than on every call.
        redis::parse_redis_url(&cfg.url).ok_or_else(|| {
            RedisError::Config(format!("not a redis URL: {}", redact_url(&cfg.url)))
        })?;
        let mut pool_cfg = PoolConfig::new(cfg.pool_size);
        pool_cfg.timeouts = Timeouts {
            wait: Some(cfg.timeout),
            create: Some(cfg.timeout),
            recycle: Some(cfg.timeout),
        };
        let mut dp = Config::from_url(cfg.url.clone());
        dp.pool = Some(pool_cfg);
        let pool = dp
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| RedisError::Config(e.to_string()))?;
        Ok(Self {
            pool,
            timeout: cfg.timeout,
            script: AcquireScript::new(),
            url: cfg.url,
        })
    }

    /// Checks that Redis answers `PING` within the timeout (readiness).
    ///
    /// # Errors
    /// Any [`RedisError`] when it does not.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let pong: String = redis::cmd("PING")
                .query_async(&mut conn)
                .await
                .map_err(command)?;
            if pong == "PONG" {
                Ok(())
            } else {
                Err(RedisError::Reply(format!("PING answered {pong:?}")))
            }
        })
        .await
    }

    /// Runs the acquire script for `checks`, bounded by the timeout.
    ///
    /// # Errors
    /// Any [`RedisError`]; nothing is admitted then, or the request is admitted into all
    /// windows (the script is atomic, but its reply may be lost on a timeout).
    pub async fn try_acquire(&self, checks: &[WindowCheck]) -> Result<Vec<Decision>, RedisError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        self.bounded(async {
            let mut conn = self.conn().await?;
            let reply: Vec<Vec<i64>> =
                match self.script.evalsha(checks).query_async(&mut conn).await {
                    Ok(r) => r,
                    Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                        tracing::debug!(
                            "rate-limit script not cached by redis; sending it with EVAL"
                        );
                        AcquireScript::eval(checks)
                            .query_async(&mut conn)
                            .await
                            .map_err(command)?
                    }
                    Err(e) => return Err(command(e)),
                };
            decode(reply, checks.len())
        })
        .await
    }

    async fn conn(&self) -> Result<Connection, RedisError> {
        self.pool
            .get()
            .await
            .map_err(|e| RedisError::Pool(e.to_string()))
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| RedisError::Timeout(self.timeout))?
    }
}

fn command(e: redis::RedisError) -> RedisError {
    RedisError::Command(e.to_string())
}

#[async_trait]
impl RateLimitStore for RedisRateLimitStore {
    async fn acquire(&self, checks: &[WindowCheck]) -> Result<Vec<Decision>, RateLimitError> {
        self.try_acquire(checks).await.map_err(RateLimitError::from)
    }
}
