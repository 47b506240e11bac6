//! [`ResembleClient`]: the HTTP implementation of [`VoiceUpstream`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::{stream, StreamExt as _};
use indox_voice::{
    AsyncOp, ByteStream, Created, Synthesis, SynthesisRequest, UpstreamError, UpstreamJob,
    VoicePage, VoiceUpstream,
};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, Response};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::error::{classify_reqwest, classify_status, ResembleError};
use crate::parse;
use crate::ResembleConfig;

/// Idle connections kept per host.
const POOL_MAX_IDLE_PER_HOST: usize = 32;
/// Idle connections are dropped after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A Resemble API client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct ResembleClient {
    pub(crate) http: reqwest::Client,
    pub(crate) app_url: String,
    synth_url: String,
    timeout: Duration,
}

impl fmt::Debug for ResembleClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResembleClient")
            .field("app_url", &self.app_url)
            .field("synth_url", &self.synth_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ResembleClient {
    /// Builds the client: one pooled `reqwest::Client`, no proxy, no redirects, the
    /// configured connect timeout, and `Authorization: Bearer <key>` on every request.
    ///
    /// # Errors
    /// [`ResembleError::Config`] if the key is empty or not a valid header value, a URL is
    /// not `http(s)://`, or the TLS backend cannot start.
    pub fn new(config: ResembleConfig) -> Result<Self, ResembleError> {
        let key = config.api_key.trim();
        if key.is_empty() {
            return Err(ResembleError::Config("the API key is empty".into()));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            ResembleError::Config("the API key contains characters not allowed in a header".into())
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        let app_url = base_url("app_url", &config.app_url)?;
        let synth_url = base_url("synth_url", &config.synth_url)?;
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("indox-resemble/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ResembleError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            app_url,
            synth_url,
            timeout: config.timeout,
        })
    }

    /// `GET {app_url}/voices?page=&page_size=`.
    ///
    /// # Errors
    /// Classified [`ResembleError`].
    pub async fn fetch_voices(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<VoicePage, ResembleError> {
        let req = self
            .http
            .get(format!("{}/voices", self.app_url))
            .query(&[("page", page), ("page_size", page_size)]);
        let (status, body) = self.send_json(req).await?;
        parse::parse_voice_page(status, &body, (page, page_size))
    }

    /// `POST {synth_url}/synthesize`, decoding the base64 audio.
    ///
    /// # Errors
    /// Classified [`ResembleError`]; invalid base64 is [`ResembleError::Protocol`].
    pub async fn fetch_synthesis(
        &self,
        req: &SynthesisRequest,
    ) -> Result<Synthesis, ResembleError> {
        let body = request_body(req, false);
        let builder = self
            .http
            .post(format!("{}/synthesize", self.synth_url))
            .json(&body);
        let (status, bytes) = self.send_json(builder).await?;
        parse::parse_synthesis(status, &bytes, req.output_format)
    }

    /// `POST {synth_url}/stream`: checks the status, then yields the WAV bytes as they come.
    ///
    /// # Errors
    /// Failures before the body starts; later ones are items of the stream, which then ends.
    pub async fn open_stream(&self, req: &SynthesisRequest) -> Result<ByteStream, ResembleError> {
        let body = request_body(req, true);
        let builder = self
            .http
            .post(format!("{}/stream", self.synth_url))
            .header(
                ACCEPT,
                "audio/wav, application/octet-stream, application/json",
            )
            .json(&body);
        let resp = tokio::time::timeout(self.timeout, builder.send())
            .await
            .map_err(|_| ResembleError::Timeout)?
            .map_err(|e| classify_reqwest(&e))?;
        let status = resp.status().as_u16();
        let is_json = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        if !(200..300).contains(&status) || is_json {
            let retry_after = header_text(&resp, RETRY_AFTER);
            let bytes = self.read_body(resp).await?;
            if (200..300).contains(&status) {
                // A JSON body instead of audio: a failure envelope, or nonsense.
                return Err(match parse::envelope(status, &bytes) {
                    Err(e) => e,
                    Ok(_) => {
                        ResembleError::Protocol("the stream answered JSON instead of audio".into())
                    }
                });
            }
            return Err(classify_status(status, retry_after.as_deref(), &bytes));
        }
        Ok(idle_limited(resp, self.timeout))
    }

    /// `GET {app_url}/account/billing_usage?start_date=&end_date=` (both inclusive).
    ///
    /// # Errors
    /// Classified [`ResembleError`].
    pub async fn fetch_billing_usage(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<BTreeMap<String, Decimal>, ResembleError> {
        let req = self
            .http
            .get(format!("{}/account/billing_usage", self.app_url))
            .query(&[
                ("start_date", start.format("%Y-%m-%d").to_string()),
                ("end_date", end.format("%Y-%m-%d").to_string()),
            ]);
        let (status, body) = self.send_json(req).await?;
        parse::parse_billing_usage(status, &body)
    }

    /// Sends a JSON request with the whole-request timeout; returns a 2xx status and body,
    /// or the classified failure.
    pub(crate) async fn send_json(
        &self,
        req: RequestBuilder,
    ) -> Result<(u16, Bytes), ResembleError> {
        let resp = req
            .header(ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        let status = resp.status().as_u16();
        let retry_after = header_text(&resp, RETRY_AFTER);
        let body = self.read_body(resp).await?;
        if (200..300).contains(&status) {
            Ok((status, body))
        } else {
            Err(classify_status(status, retry_after.as_deref(), &body))
        }
    }

    async fn read_body(&self, resp: Response) -> Result<Bytes, ResembleError> {
        // The request timeout (when set) already covers the body; this bounds the stream case.
        tokio::time::timeout(self.timeout, resp.bytes())
            .await
            .map_err(|_| ResembleError::Timeout)?
            .map_err(|e| classify_reqwest(&e))
    }
}

fn base_url(field: &str, url: &str) -> Result<String, ResembleError> {
    let url = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ResembleError::Config(format!("{field} `{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ResembleError::Config(format!(
            "{field} `{url}` must be http(s)"
        )));
    }
    Ok(url.to_owned())
}

fn header_text(resp: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The upstream request body: `{voice_uuid, data, output_format?, sample_rate?, precision?}`
/// (`output_format` is not part of `/stream`).
fn request_body(req: &SynthesisRequest, streaming: bool) -> Value {
    let mut body = json!({ "voice_uuid": req.voice_uuid, "data": req.text });
    if !streaming {
        body["output_format"] = json!(req.output_format.as_str());
    }
    if let Some(rate) = req.sample_rate {
        body["sample_rate"] = json!(rate);
    }
    if let Some(p) = req.precision {
        body["precision"] = json!(p.as_str());
    }
    body
}

/// Maps the body into a [`ByteStream`]; a gap longer than `idle` between chunks is a timeout.
/// After the first error the stream ends.
fn idle_limited(resp: Response, idle: Duration) -> ByteStream {
    let chunks = resp.bytes_stream();
    let s = stream::unfold(Some(Box::pin(chunks)), move |state| async move {
        let mut chunks = state?;
        loop {
            return match tokio::time::timeout(idle, chunks.next()).await {
                Err(_) => Some((Err(UpstreamError::Timeout), None)),
                Ok(None) => None,
                Ok(Some(Ok(bytes))) if bytes.is_empty() => continue,
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
                Ok(Some(Err(e))) => Some((Err(UpstreamError::from(classify_reqwest(&e))), None)),
            };
        }
    });
    Box::pin(s)
}

#[async_trait]
impl VoiceUpstream for ResembleClient {
    async fn list_voices(&self, page: u32, page_size: u32) -> Result<VoicePage, UpstreamError> {
        Ok(self.fetch_voices(page, page_size).await?)
    }

    async fn synthesize(&self, req: &SynthesisRequest) -> Result<Synthesis, UpstreamError> {
        Ok(self.fetch_synthesis(req).await?)
    }

    async fn stream(&self, req: &SynthesisRequest) -> Result<ByteStream, UpstreamError> {
        Ok(self.open_stream(req).await?)
    }

    async fn billing_usage(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<BTreeMap<String, Decimal>, UpstreamError> {
        Ok(self.fetch_billing_usage(start, end).await?)
    }

    async fn create_job(
        &self,
        op: AsyncOp,
        media_url: &str,
        params: &serde_json::Value,
        callback_url: Option<String>,
    ) -> Result<Created, UpstreamError> {
        let body = crate::jobs::create_body(op, media_url, params, callback_url.as_deref());
        let req = self
            .http
            .post(format!("{}/{}", self.app_url, crate::jobs::path(op)))
            .json(&body);
        let (status, body) = self.send_json(req).await?;
        if crate::jobs::is_synchronous(op) {
            return Ok(Created::Done(crate::jobs::parse_sync(op, status, &body)?));
        }
        Ok(Created::Started(crate::jobs::parse_created(status, &body)?))
    }

    async fn get_job(&self, op: AsyncOp, id: &str) -> Result<UpstreamJob, UpstreamError> {
        let req = self.http.get(format!(
            "{}/{}",
            self.app_url,
            crate::jobs::get_path(op, id)
        ));
        let (status, body) = self.send_json(req).await?;
        Ok(crate::jobs::parse_job(op, status, &body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indox_audio::AudioFormat;
    use indox_voice::Precision;

    fn req(format: AudioFormat) -> SynthesisRequest {
        SynthesisRequest {
            voice_uuid: "55592656".into(),
            text: "Hello".into(),
            output_format: format,
            sample_rate: Some(22_050),
            precision: Some(Precision::Pcm16),
        }
    }

    #[test]
    fn request_bodies() {
        let b = request_body(&req(AudioFormat::Mp3), false);
        assert_eq!(
            b,
            json!({"voice_uuid":"55592656","data":"Hello","output_format":"mp3","sample_rate":22050,"precision":"PCM_16"})
        );
        let mut r = req(AudioFormat::Wav);
        r.sample_rate = None;
        r.precision = None;
        assert_eq!(
            request_body(&r, true),
            json!({"voice_uuid":"55592656","data":"Hello"})
        );
    }

    #[test]
    fn construction_checks_config_and_hides_the_key() {
        let mut cfg = ResembleConfig::new("secret-key-abc");
        let client = ResembleClient::new(cfg.clone()).unwrap();
        assert!(!format!("{client:?}").contains("secret-key-abc"));
        cfg.app_url = "ftp://x".into();
        assert!(matches!(
            ResembleClient::new(cfg.clone()),
            Err(ResembleError::Config(_))
        ));
        cfg.app_url = "http://127.0.0.1:1/api/v2/".into();
        let client = ResembleClient::new(cfg.clone()).unwrap();
        assert_eq!(client.app_url, "http://127.0.0.1:1/api/v2");
        assert!(matches!(
            ResembleClient::new(ResembleConfig::new("  ")),
            Err(ResembleError::Config(_))
        ));
        assert!(matches!(
            ResembleClient::new(ResembleConfig::new("a\nb")),
            Err(ResembleError::Config(_))
        ));
    }
}
