//! Fault injection and observation: added latency, deterministic 5xx/429 answers, the optional
//! per-key rate limit, request statistics, and the unauthenticated `/_sim/*` control endpoints.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServiceRequest;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth;
use crate::error::SimError;
use crate::state::{Knobs, SimState};

/// What the middleware does with one request.
#[derive(Debug)]
pub struct Plan {
    /// Sleep this long before answering.
    pub latency: Duration,
    /// `Some` = answer with this instead of calling the handler.
    pub injected: Option<HttpResponse>,
    /// `Some(route key)` = count the answer in the statistics.
    pub route: Option<String>,
}

/// SplitMix64 step: a well-mixed 64-bit value from any input.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The `index`-th value in `[0, 1)` of the sequence for `seed`, and a second independent bit.
pub fn draw(seed: u64, index: u64) -> (f64, bool) {
    let x = mix(seed ^ mix(index));
    ((x >> 11) as f64 / (1u64 << 53) as f64, x & 1 == 1)
}

/// Which injected answer (if any) the `index`-th request gets.
pub fn injected_status(seed: u64, index: u64, knobs: &Knobs) -> Option<u16> {
    let (u, coin) = draw(seed, index);
    if u < knobs.error_rate_5xx {
        Some(if coin { 503 } else { 500 })
    } else if u < knobs.error_rate_5xx + knobs.error_rate_429 {
        Some(429)
    } else {
        None
    }
}

fn error_response(status: u16, message: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(code);
    if status == 429 {
        resp.insert_header(("Retry-After", "1"));
    }
    resp.json(json!({"success": false, "message": message}))
}

/// Decides latency, injected faults and statistics for a request.
pub fn plan(req: &ServiceRequest, state: &SimState) -> Plan {
    let pattern = req.match_pattern();
    // `/_sim` control calls and `/_media` downloads (the simulator's own signed-URL stand-in)
    // are never faulted nor counted.
    let is_control = req.path().starts_with("/_sim") || req.path().starts_with("/_media");
    let Some(pattern) = pattern.filter(|_| !is_control) else {
        let route = (!is_control).then(|| format!("{} (unmatched)", req.method()));
        return Plan {
            latency: Duration::ZERO,
            injected: None,
            route,
        };
    };
    let knobs = state.knobs();
    let index = state.next_fault_index();
    let mut injected = injected_status(state.seed, index, &knobs).map(|status| match status {
        429 => error_response(429, "Too many requests (simulated)"),
        503 => error_response(503, "Service temporarily unavailable (simulated)"),
        other => error_response(other, "Internal server error (simulated)"),
    });
    if injected.is_none() {
        if let Some(limit) = knobs.rate_limit_per_sec {
            let key = auth::presented_key(req.request()).unwrap_or_default();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if !state.admit(&key, now, limit) {
                injected = Some(error_response(429, "Rate limit exceeded"));
            }
        }
    }
    Plan {
        latency: knobs.latency,
        injected,
        route: Some(format!("{} {}", req.method(), pattern)),
    }
}

/// Body of `POST /_sim/faults` and `POST /_sim/config`; absent fields are left unchanged.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobUpdate {
    latency_ms: Option<u64>,
    error_rate_5xx: Option<f64>,
    error_rate_429: Option<f64>,
    report_factor: Option<f64>,
    stream_chunk_delay_ms: Option<u64>,
    /// `0` turns the rate limit off.
    rate_limit_per_sec: Option<u32>,
    job_delay_ms: Option<u64>,
    job_failure_rate: Option<f64>,
    drop_callbacks: Option<bool>,
    voice_training_delay_ms: Option<u64>,
}

fn knobs_json(k: &Knobs) -> serde_json::Value {
    json!({
        "latency_ms": k.latency.as_millis() as u64,
        "error_rate_5xx": k.error_rate_5xx,
        "error_rate_429": k.error_rate_429,
        "report_factor": k.report_factor,
        "stream_chunk_delay_ms": k.stream_chunk_delay.as_millis() as u64,
        "rate_limit_per_sec": k.rate_limit_per_sec,
        "job_delay_ms": k.job_delay.as_millis() as u64,
        "job_failure_rate": k.job_failure_rate,
        "drop_callbacks": k.drop_callbacks,
        "voice_training_delay_ms": k.voice_training_delay.as_millis() as u64,
    })
}

fn check_rate(name: &'static str, v: Option<f64>) -> Result<(), SimError> {
    match v {
        Some(r) if !(0.0..=1.0).contains(&r) => Err(SimError::field(
            name,
            format!("{name} must be within 0..=1"),
        )),
        _ => Ok(()),
    }
}

/// Applies a knob update, validating it first.
pub fn apply(state: &SimState, u: &KnobUpdate) -> Result<Knobs, SimError> {
    check_rate("error_rate_5xx", u.error_rate_5xx)?;
    check_rate("error_rate_429", u.error_rate_429)?;
    check_rate("job_failure_rate", u.job_failure_rate)?;
    if let Some(f) = u.report_factor {
        if !f.is_finite() || f < 0.0 {
            return Err(SimError::field(
                "report_factor",
                "report_factor must be >= 0",
            ));
        }
    }
    Ok(state.update_knobs(|k| {
        if let Some(ms) = u.latency_ms {
            k.latency = Duration::from_millis(ms);
        }
        if let Some(r) = u.error_rate_5xx {
            k.error_rate_5xx = r;
        }
        if let Some(r) = u.error_rate_429 {
            k.error_rate_429 = r;
        }
        if let Some(f) = u.report_factor {
            k.report_factor = f;
        }
        if let Some(ms) = u.stream_chunk_delay_ms {
            k.stream_chunk_delay = Duration::from_millis(ms);
        }
        if let Some(l) = u.rate_limit_per_sec {
            k.rate_limit_per_sec = (l > 0).then_some(l);
        }
        if let Some(ms) = u.job_delay_ms {
            k.job_delay = Duration::from_millis(ms);
        }
        if let Some(r) = u.job_failure_rate {
            k.job_failure_rate = r;
        }
        if let Some(d) = u.drop_callbacks {
            k.drop_callbacks = d;
        }
        if let Some(ms) = u.voice_training_delay_ms {
            k.voice_training_delay = Duration::from_millis(ms);
        }
    }))
}

fn parse_update(body: &[u8]) -> Result<KnobUpdate, SimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(KnobUpdate::default());
    }
    serde_json::from_slice(body).map_err(|e| SimError::bad_request(format!("bad knob update: {e}")))
}

/// `POST /_sim/faults` and `POST /_sim/config`: update knobs, answer with all current knobs.
pub async fn update(
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let u = parse_update(&body)?;
    let knobs = apply(&state, &u)?;
    Ok(HttpResponse::Ok().json(knobs_json(&knobs)))
}

/// `GET /_sim/faults` and `GET /_sim/config`: current knobs.
pub async fn current(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(knobs_json(&state.knobs()))
}

/// `GET /_sim/stats`.
pub async fn stats(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats())
}

/// `POST /_sim/reset`: clear statistics, billing ledger, rate windows and fault sequence.
pub async fn reset(state: web::Data<SimState>) -> HttpResponse {
    state.reset();
    HttpResponse::Ok().json(json!({"success": true}))
}

/// `GET /_sim/health`.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(e5: f64, e429: f64) -> Knobs {
        Knobs {
            latency: Duration::ZERO,
            error_rate_5xx: e5,
            error_rate_429: e429,
            report_factor: 1.0,
            stream_chunk_delay: Duration::ZERO,
            rate_limit_per_sec: None,
            job_delay: Duration::ZERO,
            job_failure_rate: 0.0,
            drop_callbacks: false,
            voice_training_delay: Duration::ZERO,
        }
    }

    #[test]
    fn fault_rates_are_roughly_honoured_and_deterministic() {
        let k = knobs(0.2, 0.1);
        let outcomes: Vec<Option<u16>> = (0..10_000).map(|i| injected_status(7, i, &k)).collect();
        let again: Vec<Option<u16>> = (0..10_000).map(|i| injected_status(7, i, &k)).collect();
        assert_eq!(outcomes, again);
        let count = |f: &dyn Fn(&Option<u16>) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let n5 = count(&|o| matches!(o, Some(500 | 503)));
        let n429 = count(&|o| *o == Some(429));
        assert!((1_800..2_200).contains(&n5), "{n5}");
        assert!((800..1_200).contains(&n429), "{n429}");
        assert!(count(&|o| *o == Some(500)) > 500 && count(&|o| *o == Some(503)) > 500);
        let other_seed = (0..100)
            .filter(|i| injected_status(8, *i, &k) != outcomes[*i as usize])
            .count();
        assert!(other_seed > 0);
    }

    #[test]
    fn zero_rates_never_inject() {
        let k = knobs(0.0, 0.0);
        assert!((0..5_000).all(|i| injected_status(1, i, &k).is_none()));
        let k = knobs(1.0, 0.0);
        assert!((0..100).all(|i| matches!(injected_status(1, i, &k), Some(500 | 503))));
    }

    #[test]
    fn knob_updates_validate() {
        let state = SimState::new(&crate::SimConfig::default());
        let bad = KnobUpdate {
            error_rate_5xx: Some(1.5),
            ..KnobUpdate::default()
        };
        assert!(apply(&state, &bad).is_err());
        let good =
            parse_update(br#"{"latency_ms":25,"error_rate_429":0.5,"rate_limit_per_sec":40}"#)
                .unwrap();
        let k = apply(&state, &good).unwrap();
        assert_eq!(k.latency, Duration::from_millis(25));
        assert_eq!(k.error_rate_429, 0.5);
        assert_eq!(k.rate_limit_per_sec, Some(40));
        assert!(parse_update(br#"{"nope":1}"#).is_err());
    }
}
