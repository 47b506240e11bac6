//! The `Caller` and `AdminCaller` extractors: authenticate `Authorization: Bearer <key>`
//! (an account's API key, or the operator's admin key) before a handler runs, and the
//! [`AuthThrottle`] that refuses a client address after too many failed attempts.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use indox_accounts::{AccountError, Principal};
use indox_core::RequestId;
use indox_ratelimit::limiter::Admission;
use indox_ratelimit::{window, Decision, Limit};

use crate::app::AppState;
use crate::http::{ApiError, ErrorKind};

/// Failed authentications a client address may make per window before it is refused.
pub const FAILED_AUTH_LIMIT: Limit = Limit::new(50, 60_000);
/// Addresses whose failures are remembered at once (beyond it new addresses are not counted).
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// Failed authentications (a malformed, unknown or revoked API key, a wrong admin key) per
/// client address, in process, as a sliding log: once an address has [`FAILED_AUTH_LIMIT`]
/// failures in the window, every request it makes that needs a key is answered 429 before
/// the key is looked up or compared, valid keys included (else a right guess would still
/// answer), until its oldest failure leaves the window (docs/decisions.md, A1).
#[derive(Debug)]
pub struct AuthThrottle {
    started: Instant,
    limit: Limit,
    failures: Mutex<HashMap<IpAddr, VecDeque<u64>>>,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self::new(FAILED_AUTH_LIMIT)
    }
}

impl AuthThrottle {
    /// A throttle allowing `limit` failures per window and address.
    pub fn new(limit: Limit) -> Self {
        Self {
            started: Instant::now(),
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The refusal for `client` when it used up its failures (`None`: it may try).
    pub fn check(&self, client: IpAddr) -> Option<Decision> {
        let now = self.now_ms();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let log = map.get_mut(&client)?;
        window::expire(log, now, self.limit);
        let decision = window::judge(log, now, self.limit, 1);
        (!decision.allowed).then_some(decision)
    }

    /// Counts one failed authentication from `client`.
    pub fn record_failure(&self, client: IpAddr) {
        let now = self.now_ms();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED_CLIENTS && !map.contains_key(&client) {
            let limit = self.limit;
            map.retain(|_, log| {
                window::expire(log, now, limit);
                !log.is_empty()
            });
            if map.len() >= MAX_TRACKED_CLIENTS {
                tracing::warn!("too many addresses with failed authentications to track");
                return;
            }
        }
        let log = map.entry(client).or_default();
        window::expire(log, now, self.limit);
        // The log never needs more entries than the limit.
        if log.len() < self.limit.max as usize {
            window::admit(log, now, 1);
        }
    }
}

/// The address failures are counted against: the peer's, or, when the peer is on a private
/// network (loopback, private, link-local…: a load balancer of ours), the last address of
/// its `X-Forwarded-For` (the one that balancer saw). IPv6 clients count per /64.
pub fn client_address(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let forwarded = || {
        req.headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
    };
    let client = if indox_egress::is_public(peer) {
        peer
    } else {
        forwarded().map_or(peer, |a| a.to_canonical())
    };
    Some(match client {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    })
}

/// The 429 for an address that failed too often.
fn throttled(decision: Decision) -> ApiError {
    ApiError::new(
        ErrorKind::RateLimited(Admission {
            account: decision,
            upstream: None,
            degraded: false,
        }),
        "too many failed authentications from your address; wait for Retry-After, then use a valid key",
    )
}

/// The throttle's refusal for this request's client, if it is refused.
fn refused(req: &HttpRequest) -> Option<ApiError> {
    let throttle = req.app_data::<web::Data<AuthThrottle>>()?;
    throttle.check(client_address(req)?).map(throttled)
}

/// Counts a failed authentication of this request's client.
fn count_failure(req: &HttpRequest) {
    if let (Some(throttle), Some(client)) = (
        req.app_data::<web::Data<AuthThrottle>>(),
        client_address(req),
    ) {
        throttle.record_failure(client);
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .copied()
            .unwrap_or_default();
        let refusal = refused(req);
        let req = req.clone();
        Box::pin(async move {
            if let Some(e) = refusal {
                return Err(e.with_request_id(request_id));
            }
            let Some(state) = state else {
                return Err(
                    ApiError::store_unavailable("configuration").with_request_id(request_id)
                );
            };
            let result = state.auth.authenticate(header.as_deref()).await;
            if let Err(
                AccountError::MalformedKey | AccountError::UnknownKey | AccountError::RevokedKey,
            ) = &result
            {
                count_failure(&req);
            }
            result
                .map(|p| {
                    crate::telemetry::set_account(p.account.id);
                    Caller(p)
                })
                .map_err(|e| ApiError::from(e).with_request_id(request_id))
        })
    }
}

/// An operator holding the admin key (`INDOX_ADMIN_KEY_SHA256`): compared as SHA-256 hashes
/// in constant time; account API keys never pass.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller;

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(e) = refused(req) {
            return std::future::ready(Err(e.with_request_id(request_id_of(req))));
        }
        let result = admin_check(req);
        let enabled = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.admin_key_hash.is_some());
        if result.is_err() && enabled && req.headers().contains_key(AUTHORIZATION) {
            count_failure(req);
        }
        std::future::ready(result)
    }
}

/// Whether the request carries the admin key (a probe: a miss is not counted as a failure,
/// but an address the throttle refuses is never the admin).
pub fn is_admin(req: &HttpRequest) -> bool {
    refused(req).is_none() && admin_check(req).is_ok()
}

fn request_id_of(req: &HttpRequest) -> RequestId {
    req.extensions()
        .get::<RequestId>()
        .copied()
        .unwrap_or_default()
}

fn admin_check(req: &HttpRequest) -> Result<AdminCaller, ApiError> {
    let request_id = request_id_of(req);
    let stored = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.admin_key_hash.clone());
    let Some(stored) = stored else {
        return Err(ApiError::new(
            ErrorKind::Unauthorized {
                code: "admin_disabled",
            },
            "the admin API is disabled on this gateway (set INDOX_ADMIN_KEY_SHA256)",
        )
        .with_request_id(request_id));
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if indox_accounts::key::SecretHash::of(given).ct_eq(&stored) {
        Ok(AdminCaller)
    } else {
        Err(ApiError::new(
            ErrorKind::Unauthorized {
                code: "invalid_admin_key",
            },
            "this route needs the admin key: Authorization: Bearer <admin key>",
        )
        .with_request_id(request_id))
    }
}
