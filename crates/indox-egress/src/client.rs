//! The IO half: a DNS resolver that refuses non-public addresses, the hardened reqwest client,
//! and `fetch` / `post_json`, which check the URL first and never follow redirects.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use reqwest::redirect;

use crate::{EgressError, EgressPolicy};

/// A [`Resolve`] that fails the whole lookup if ANY resolved address is not permitted by the
/// policy. reqwest dials exactly the addresses returned here, so a name cannot be re-resolved
/// to a private address between the check and the connection (DNS rebinding).
#[derive(Debug, Clone)]
pub struct SafeResolver {
    policy: Arc<EgressPolicy>,
    timeout: Duration,
}

impl SafeResolver {
    /// Default limit on one DNS lookup.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A resolver enforcing `policy`, with [`Self::DEFAULT_TIMEOUT`].
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self {
            policy,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Limits each lookup to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Resolves `host` and checks every address; the addresses are returned with port 0.
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<SocketAddr>, EgressError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.policy.check_ip_for_host(host, ip)?;
            return Ok(vec![SocketAddr::new(ip, 0)]);
        }
        let resolve_err = |message: String| EgressError::Resolve {
            host: host.to_owned(),
            message,
        };
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, 0)))
                .await
                .map_err(|_| resolve_err("DNS lookup timed out".to_owned()))?
                .map_err(|e| resolve_err(e.to_string()))?
                .collect();
        if addrs.is_empty() {
            return Err(resolve_err("no addresses".to_owned()));
        }
        for addr in &addrs {
            self.policy.check_ip_for_host(host, addr.ip())?;
        }
        Ok(addrs)
    }
}

impl Resolve for SafeResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.resolve_checked(name.as_str()).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Timeouts and identity of the hardened client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Limit on DNS plus TCP/TLS connect.
    pub connect_timeout: Duration,
    /// Limit on the whole request, body included.
    pub timeout: Duration,
    /// Limit on each DNS lookup.
    pub dns_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            dns_timeout: SafeResolver::DEFAULT_TIMEOUT,
            user_agent: "indoxhub-voice-gateway".to_owned(),
        }
    }
}

/// Builds the one client for user-supplied URLs: the [`SafeResolver`], no proxy (an
/// `HTTP_PROXY` would bypass the resolver), no redirects, connect and total timeouts.
///
/// reqwest does not consult the resolver for IP-literal hosts, so always go through
/// [`fetch`] / [`post_json`] (or call [`EgressPolicy::check_url`] yourself) first.
pub fn safe_client(
    policy: Arc<EgressPolicy>,
    cfg: ClientConfig,
) -> Result<reqwest::Client, EgressError> {
    let resolver = SafeResolver::new(policy).with_timeout(cfg.dns_timeout);
    reqwest::Client::builder()
        .dns_resolver(Arc::new(resolver))
        .no_proxy()
        .redirect(redirect::Policy::none())
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.timeout)
        .user_agent(cfg.user_agent)
        .build()
        .map_err(|e| EgressError::Http(chain(&e)))
}

/// A fetched response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The HTTP status (never 3xx).
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, at most the requested `max_bytes`.
    pub bytes: Vec<u8>,
}

/// GETs a user-supplied URL: checks it with `policy`, refuses any 3xx as
/// [`EgressError::Redirect`] (never followed), and reads at most `max_bytes` of body
/// ([`EgressError::TooLarge`] beyond). Non-2xx statuses are returned, not errors.
///
/// `client` must come from [`safe_client`] built with the same policy.
pub async fn fetch(
    client: &reqwest::Client,
    policy: &EgressPolicy,
    url: &str,
    max_bytes: u64,
) -> Result<Fetched, EgressError> {
    let target = policy.check_url(url)?;
    let mut response = client
        .get(target.into_url())
        .send()
        .await
        .map_err(classify_reqwest)?;
    refuse_redirect(&response)?;
    let too_large = EgressError::TooLarge { limit: max_bytes };
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(too_large);
    }
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify_reqwest)? {
        if (bytes.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        content_type,
        bytes,
    })
}

/// POSTs a JSON `body` to a user-supplied callback URL with extra `headers` (a
/// `Content-Type` among them replaces the default `application/json`). Same checks as
/// [`fetch`]; a 3xx is [`EgressError::Redirect`]. Returns the status; the response body is
/// not read.
pub async fn post_json(
    client: &reqwest::Client,
    policy: &EgressPolicy,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> Result<u16, EgressError> {
    let target = policy.check_url(url)?;
    let mut map = reqwest::header::HeaderMap::new();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| EgressError::InvalidHeader(name.clone()))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| EgressError::InvalidHeader(name.to_string()))?;
        if name == CONTENT_TYPE {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
    let response = client
        .post(target.into_url())
        .headers(map)
        .body(body.to_vec())
        .send()
        .await
        .map_err(classify_reqwest)?;
    refuse_redirect(&response)?;
    Ok(response.status().as_u16())
}

fn refuse_redirect(response: &reqwest::Response) -> Result<(), EgressError> {
    if response.status().is_redirection() {
        return Err(EgressError::Redirect {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
    }
    Ok(())
}

/// Maps a reqwest failure, recovering an [`EgressError`] raised by the resolver.
fn classify_reqwest(err: reqwest::Error) -> EgressError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(egress) = e.downcast_ref::<EgressError>() {
            return egress.clone();
        }
        source = e.source();
    }
    if err.is_timeout() {
        EgressError::Timeout
    } else if err.is_connect() {
        EgressError::Connect(chain(&err))
    } else {
        EgressError::Http(chain(&err))
    }
}

/// The error and its sources, joined by `: `.
fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
