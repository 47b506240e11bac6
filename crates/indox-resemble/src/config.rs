//! Connection settings for the Resemble API; `Debug` never shows the API key.

use std::fmt;
use std::time::Duration;

/// Resemble's app host (everything except synthesis).
pub const DEFAULT_APP_URL: &str = "https://app.resemble.ai/api/v2";
/// Resemble's synthesis host (`POST /synthesize`, `POST /stream`).
pub const DEFAULT_SYNTH_URL: &str = "https://f.cluster.resemble.ai";
/// Default limit for a whole request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach Resemble.
#[derive(Clone, PartialEq, Eq)]
pub struct ResembleConfig {
    /// The shared API key, sent as `Authorization: Bearer <key>`. Never logged.
    pub api_key: String,
    /// App host base URL, e.g. `https://app.resemble.ai/api/v2`.
    pub app_url: String,
    /// Synthesis host base URL, e.g. `https://f.cluster.resemble.ai`.
    pub synth_url: String,
    /// Limit for a whole request (JSON calls). For `stream` it bounds the wait for the
    /// response head and every gap between two chunks.
    pub timeout: Duration,
    /// Limit for establishing a TCP/TLS connection.
    pub connect_timeout: Duration,
}

impl ResembleConfig {
    /// Production hosts and default timeouts for `api_key`.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            app_url: DEFAULT_APP_URL.to_owned(),
            synth_url: DEFAULT_SYNTH_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl Default for ResembleConfig {
    /// Production hosts and default timeouts, with an empty key.
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl fmt::Debug for ResembleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.api_key.is_empty() {
            "<empty>"
        } else {
            "<redacted>"
        };
        f.debug_struct("ResembleConfig")
            .field("api_key", &key)
            .field("app_url", &self.app_url)
            .field("synth_url", &self.synth_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let cfg = ResembleConfig::new("super-secret-key-123");
        let shown = format!("{cfg:?} {cfg:#?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains(DEFAULT_APP_URL));
        assert_eq!(cfg.timeout, Duration::from_secs(30));
    }
}
