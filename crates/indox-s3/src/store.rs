//! `S3Store`: the rust-s3 bucket handles, bounded requests and the `ObjectStore` impl.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use bytes::Bytes;
use indox_retention::{ObjectStore, RetentionError};
use s3::creds::Credentials;
use s3::request::ResponseData;
use s3::{Bucket, BucketConfiguration, Region};

use crate::config::mask_access_key;
use crate::presign::Presigner;
use crate::{S3Config, S3Error};

/// The longest lifetime SigV4 allows for a presigned URL.
const MAX_PRESIGN_SECS: i64 = 7 * 24 * 3600;
/// How much of an error body goes into an error message.
const MAX_BODY_CHARS: usize = 300;

/// An S3-compatible bucket.
pub struct S3Store {
    bucket: Box<Bucket>,
    /// Signs GET URLs for the bucket as reached through `public_endpoint` (or `endpoint`).
    presigner: Presigner,
    cfg: S3Config,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Bucket`'s own Debug would print the credentials.
        f.debug_struct("S3Store")
            .field("endpoint", &self.cfg.endpoint)
            .field("bucket", &self.cfg.bucket)
            .field("region", &self.cfg.region)
            .field("access_key", &mask_access_key(&self.cfg.access_key))
            .field("public_endpoint", &self.cfg.public_endpoint)
            .field("timeout", &self.cfg.timeout)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds the client. Does not contact the store.
    ///
    /// # Errors
    /// [`S3Error::Config`] for empty names, a zero timeout or unusable credentials.
    pub fn new(cfg: S3Config) -> Result<Self, S3Error> {
        for (what, value) in [
            ("endpoint", &cfg.endpoint),
            ("bucket", &cfg.bucket),
            ("region", &cfg.region),
        ] {
            if value.trim().is_empty() {
                return Err(S3Error::Config(format!("{what} must not be empty")));
            }
        }
        if cfg.timeout.is_zero() {
            return Err(S3Error::Config("timeout must be greater than zero".into()));
        }
        let bucket = make_bucket(&cfg, &cfg.endpoint)?;
        let presigner = Presigner::new(
            cfg.public_endpoint.as_deref().unwrap_or(&cfg.endpoint),
            &cfg.bucket,
            cfg.path_style,
            &cfg.region,
            &cfg.access_key,
            &cfg.secret_key,
        )
        .ok_or_else(|| S3Error::Config("endpoint must look like http(s)://host[:port]".into()))?;
        Ok(Self {
            bucket,
            presigner,
            cfg,
        })
    }

    /// The bucket name.
    pub fn bucket_name(&self) -> &str {
        &self.cfg.bucket
    }

    /// Creates the bucket when it does not exist yet (tests and local development;
    /// production buckets are provisioned outside the gateway).
    ///
    /// # Errors
    /// Any [`S3Error`] when the store cannot be reached or refuses.
    pub async fn ensure_bucket(&self) -> Result<(), S3Error> {
        const OP: &str = "create bucket";
        if self.ping().await.is_ok() {
            return Ok(());
        }
        let region = region(&self.cfg, &self.cfg.endpoint);
        let creds = credentials(&self.cfg)?;
        let config = BucketConfiguration::default();
        let created = self
            .bounded(OP, async {
                if self.cfg.path_style {
                    Bucket::create_with_path_style(&self.cfg.bucket, region, creds, config).await
                } else {
                    Bucket::create(&self.cfg.bucket, region, creds, config).await
                }
                .map_err(|source| S3Error::Client { op: OP, source })
            })
            .await?;
        match created.response_code {
            200..=299 => {
                tracing::info!(bucket = %self.cfg.bucket, "created bucket");
                Ok(())
            }
            // Created meanwhile by someone else: fine when it is usable with these credentials.
            409 => self.ping().await,
            status => Err(S3Error::Status {
                op: OP,
                status,
                body: truncate(&created.response_text),
            }),
        }
    }

    /// Checks that the bucket answers a one-key listing (readiness).
    ///
    /// # Errors
    /// Any [`S3Error`] when it does not.
    pub async fn ping(&self) -> Result<(), S3Error> {
        self.list_page("ping", String::new(), None, Some(1))
            .await
            .map(|_| ())
    }

    /// Stores `bytes` under `key`.
    ///
    /// # Errors
    /// Any [`S3Error`] when the store cannot be reached or refuses.
    pub async fn put_object(
        &self,
        key: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<(), S3Error> {
        const OP: &str = "put";
        let resp = self
            .bounded(OP, async {
                self.bucket
                    .put_object_with_content_type(key, bytes, content_type)
                    .await
                    .map_err(|source| S3Error::Client { op: OP, source })
            })
            .await?;
        check(OP, &resp)
    }

    /// Reads the object at `key`; `None` when there is none.
    ///
    /// # Errors
    /// Any [`S3Error`] when the store cannot be reached or refuses.
    pub async fn get_object(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        const OP: &str = "get";
        let resp = self
            .bounded(OP, async {
                self.bucket
                    .get_object(key)
                    .await
                    .map_err(|source| S3Error::Client { op: OP, source })
            })
            .await?;
        if resp.status_code() == 404 {
            return Ok(None);
        }
        check(OP, &resp)?;
        Ok(Some(resp.bytes().to_vec()))
    }

    /// Deletes `key`; a missing key is not an error.
    ///
    /// # Errors
    /// Any [`S3Error`] when the store cannot be reached or refuses.
    pub async fn delete_object(&self, key: &str) -> Result<(), S3Error> {
        const OP: &str = "delete";
        let resp = self
            .bounded(OP, async {
                self.bucket
                    .delete_object(key)
                    .await
                    .map_err(|source| S3Error::Client { op: OP, source })
            })
            .await?;
        if resp.status_code() == 404 {
            return Ok(());
        }
        check(OP, &resp)
    }

    /// Lists every key under `prefix`, following continuation tokens.
    ///
    /// # Errors
    /// Any [`S3Error`] when the store cannot be reached or refuses.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .list_page("list", prefix.to_owned(), token, None)
                .await?;
            keys.extend(page.contents.into_iter().map(|o| o.key));
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    async fn list_page(
        &self,
        op: &'static str,
        prefix: String,
        token: Option<String>,
        max_keys: Option<usize>,
    ) -> Result<s3::serde_types::ListBucketResult, S3Error> {
        let (page, status) = self
            .bounded(op, async {
                self.bucket
                    .list_page(prefix, None, token, None, max_keys)
                    .await
                    .map_err(|source| S3Error::Client { op, source })
            })
            .await?;
        if (200..300).contains(&status) {
            Ok(page)
        } else {
            Err(S3Error::Status {
                op,
                status,
                body: String::new(),
            })
        }
    }

    /// Whether an object exists (HEAD): 2xx is yes, 404 is no, anything else an error.
    pub async fn object_exists(&self, key: &str) -> Result<bool, S3Error> {
        const OP: &str = "head";
        let (_, status) = self
            .bounded(OP, async {
                self.bucket
                    .head_object(key)
                    .await
                    .map_err(|source| S3Error::Client { op: OP, source })
            })
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            status => Err(S3Error::Status {
                op: OP,
                status,
                body: String::new(),
            }),
        }
    }

    /// A presigned GET URL for `key`, valid for `ttl_secs` (1 s to 7 days). Signs locally.
    ///
    /// # Errors
    /// [`S3Error::InvalidTtl`] for a lifetime out of range.
    pub async fn presign_get_url(&self, key: &str, ttl_secs: u32) -> Result<String, S3Error> {
        if ttl_secs == 0 || i64::from(ttl_secs) > MAX_PRESIGN_SECS {
            return Err(S3Error::InvalidTtl(i64::from(ttl_secs)));
        }
        Ok(self
            .presigner
            .presign_get(key, ttl_secs, chrono::Utc::now()))
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, S3Error>>,
    ) -> Result<T, S3Error> {
        let after = self.cfg.timeout;
        tokio::time::timeout(after, fut)
            .await
            .map_err(|_| S3Error::Timeout { op, after })?
    }
}

fn region(cfg: &S3Config, endpoint: &str) -> Region {
    Region::Custom {
        region: cfg.region.clone(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
    }
}

fn credentials(cfg: &S3Config) -> Result<Credentials, S3Error> {
    Credentials::new(
        Some(&cfg.access_key),
        Some(&cfg.secret_key),
        None,
        None,
        None,
    )
    .map_err(|e| S3Error::Config(format!("credentials: {e}")))
}

fn make_bucket(cfg: &S3Config, endpoint: &str) -> Result<Box<Bucket>, S3Error> {
    let client = |source| S3Error::Client {
        op: "configure",
        source,
    };
    let mut bucket =
        Bucket::new(&cfg.bucket, region(cfg, endpoint), credentials(cfg)?).map_err(client)?;
    if cfg.path_style {
        bucket.set_path_style();
    }
    bucket.set_request_timeout(Some(cfg.timeout));
    Ok(bucket)
}

fn check(op: &'static str, resp: &ResponseData) -> Result<(), S3Error> {
    let status = resp.status_code();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        let body = String::from_utf8_lossy(resp.as_slice());
        Err(S3Error::Status {
            op,
            status,
            body: truncate(&body),
        })
    }
}

fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_BODY_CHARS).collect();
    if s.chars().nth(MAX_BODY_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Whole seconds for a presigned URL's lifetime: sub-second remainders round up.
fn ttl_secs(ttl: chrono::Duration) -> Result<u32, S3Error> {
    let ms = ttl.num_milliseconds();
    let secs = ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0);
    if secs <= 0 || secs > MAX_PRESIGN_SECS {
        return Err(S3Error::InvalidTtl(secs));
    }
    u32::try_from(secs).map_err(|_| S3Error::InvalidTtl(secs))
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), RetentionError> {
        Ok(self.put_object(key, &bytes, content_type).await?)
    }

    async fn presign_get(
        &self,
        key: &str,
        ttl: chrono::Duration,
    ) -> Result<String, RetentionError> {
        Ok(self.presign_get_url(key, ttl_secs(ttl)?).await?)
    }

    async fn delete(&self, key: &str) -> Result<(), RetentionError> {
        Ok(self.delete_object(key).await?)
    }

    async fn get(&self, key: &str) -> Result<bytes::Bytes, RetentionError> {
        match self.get_object(key).await? {
            Some(b) => Ok(bytes::Bytes::from(b)),
            None => Err(RetentionError::NotFound),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, RetentionError> {
        Ok(self.object_exists(key).await?)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, RetentionError> {
        Ok(self.list_keys(prefix).await?)
    }

    async fn ping(&self) -> Result<(), RetentionError> {
        Ok(S3Store::ping(self).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_rounded_up_and_bounded() {
        assert_eq!(ttl_secs(chrono::Duration::seconds(60)).unwrap(), 60);
        assert_eq!(ttl_secs(chrono::Duration::milliseconds(1_500)).unwrap(), 2);
        assert_eq!(ttl_secs(chrono::Duration::days(7)).unwrap(), 604_800);
        assert!(ttl_secs(chrono::Duration::days(7) + chrono::Duration::seconds(1)).is_err());
        assert!(ttl_secs(chrono::Duration::zero()).is_err());
        assert!(ttl_secs(chrono::Duration::seconds(-5)).is_err());
    }

    #[test]
    fn debug_hides_credentials() {
        let store = S3Store::new(S3Config::new(
            "http://127.0.0.1:1",
            "us-east-1",
            "b",
            "AKIAEXAMPLEKEY",
            "TOPSECRETVALUE",
        ))
        .unwrap();
        let shown = format!("{store:?}");
        assert!(
            !shown.contains("TOPSECRETVALUE") && !shown.contains("AKIAEXAMPLEKEY"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn presigns_for_the_public_endpoint_without_contacting_the_store() {
        let mut cfg = S3Config::new("http://127.0.0.1:1", "us-east-1", "assets", "AK", "SK");
        cfg.public_endpoint = Some("https://cdn.example.test".into());
        let store = S3Store::new(cfg).unwrap();
        let url = store.presign_get_url("a/b.mp3", 300).await.unwrap();
        assert!(
            url.starts_with("https://cdn.example.test/assets/a/b.mp3?"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=300"), "{url}");
        assert!(store.presign_get_url("a", 0).await.is_err());
        assert!(store.presign_get_url("a", 604_801).await.is_err());
    }
}
