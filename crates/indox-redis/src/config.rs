//! Connection settings for the Redis rate-limit store; `Debug` hides the URL's password.

use std::fmt;
use std::time::Duration;

/// How to reach Redis.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`.
    pub url: String,
    /// Maximum number of pooled connections.
    pub pool_size: usize,
    /// Upper bound for one call (pool checkout, connect and script), so a hung Redis
    /// makes the limiter fall back instead of holding requests.
    pub timeout: Duration,
}

impl RedisConfig {
    /// The default pool size.
    pub const DEFAULT_POOL_SIZE: usize = 16;
    /// The default bound for one call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

    /// Settings for `url` with the default pool size and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: Self::DEFAULT_POOL_SIZE,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self::new("redis://127.0.0.1:6379")
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with any user information (`user:password@`) replaced by `***@`.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let redacted = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{redacted}"),
        None => redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let cfg = RedisConfig::new("redis://:s3cret@cache.internal:6380/2");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("redis://***@cache.internal:6380/2"),
            "{shown}"
        );
    }

    #[test]
    fn redacts_only_user_information() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("rediss://u:p@h:1"), "rediss://***@h:1");
        assert_eq!(redact_url("redis://h:1/0?x=a@b"), "redis://h:1/0?x=a@b");
    }
}
