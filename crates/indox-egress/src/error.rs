//! [`EgressError`]: the one error type of the crate, for refused targets and failed requests.

use std::net::IpAddr;

/// Why an outbound request was refused or failed.
///
/// The error is `Clone` and carries only owned text so that the DNS resolver can hand it
/// through reqwest and [`crate::fetch`] can recover it intact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The URL does not parse.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The scheme is not one of the allowed schemes (http, https).
    #[error("scheme `{0}` is not allowed (only http and https)")]
    Scheme(String),
    /// The URL carries a user name or password (`http://user:pass@host/`).
    #[error("URLs with credentials (user:password@) are not allowed")]
    Userinfo,
    /// The URL has no host.
    #[error("the URL has no host")]
    EmptyHost,
    /// The port is not in the allowed list.
    #[error("port {0} is not allowed")]
    Port(u16),
    /// The target address is not public and not allowlisted.
    #[error("{host} -> {ip} is not allowed: {reason}")]
    Blocked {
        /// The host as written in the URL (or the address itself).
        host: String,
        /// The refused address.
        ip: IpAddr,
        /// Which range it falls in.
        reason: &'static str,
    },
    /// DNS resolution failed or returned no address.
    #[error("could not resolve {host}: {message}")]
    Resolve {
        /// The host name.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// An allowlist entry is not a valid CIDR network.
    #[error("invalid CIDR network `{0}`")]
    InvalidCidr(String),
    /// A header name or value given to [`crate::post_json`] is invalid.
    #[error("invalid header `{0}`")]
    InvalidHeader(String),
    /// The server answered with a redirect; redirects are never followed.
    #[error("redirect ({status}) to {location:?} not followed")]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
    },
    /// The response body is larger than the limit.
    #[error("response body exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The connect or total timeout elapsed.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be established.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Any other HTTP failure (including building the client).
    #[error("http error: {0}")]
    Http(String),
}
