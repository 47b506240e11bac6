//! Settings for the S3 adapter; `Debug` never shows the secret key.

use std::fmt;
use std::time::Duration;

/// How to reach the object store.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Base URL of the store as the gateway reaches it, e.g. `http://minio:9000`.
    pub endpoint: String,
    /// Region name used for signing (`us-east-1`, `auto` for R2, ...).
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    /// Never logged; `Debug` shows `<redacted>`.
    pub secret_key: String,
    /// Path-style addressing (`endpoint/bucket/key`) instead of `bucket.endpoint/key`.
    pub path_style: bool,
    /// Base URL put in presigned URLs when clients reach the store elsewhere than `endpoint`.
    pub public_endpoint: Option<String>,
    /// Upper bound for every request to the store.
    pub timeout: Duration,
}

impl S3Config {
    /// The default bound for one request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Settings with path-style addressing, no public endpoint and the default timeout.
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        bucket: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: region.into(),
            bucket: bucket.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            path_style: true,
            public_endpoint: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &mask_access_key(&self.access_key))
            .field("secret_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .field("public_endpoint", &self.public_endpoint)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The first four characters of an access key, enough to tell keys apart in logs.
pub(crate) fn mask_access_key(key: &str) -> String {
    let shown: String = key.chars().take(4).collect();
    format!("{shown}***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let cfg = S3Config::new(
            "http://s3",
            "us-east-1",
            "b",
            "AKIAEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG",
        );
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("AKIAEXAMPLEKEY"), "{shown}");
        assert!(shown.contains("AKIA***"), "{shown}");
    }
}
