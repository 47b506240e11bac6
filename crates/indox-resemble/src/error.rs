//! The adapter's internal error enum, the classification of HTTP answers and transport
//! failures, and the mapping to the port's [`UpstreamError`].

use std::time::Duration;

use indox_voice::UpstreamError;
use serde_json::Value;

/// Longest upstream message passed on (characters).
const MAX_MESSAGE_CHARS: usize = 500;

/// Everything that can go wrong talking to Resemble.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResembleError {
    /// The configuration cannot be used (e.g. the key is not a valid header value).
    #[error("invalid Resemble configuration: {0}")]
    Config(String),
    /// Resemble refused the request (400/422, other 4xx, or `success:false` with a 2xx).
    #[error("Resemble rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// 404, or a `success:false` answer saying "not found".
    #[error("Resemble says not found: {0}")]
    NotFound(String),
    /// 401/402/403.
    #[error("Resemble refused our credentials or plan ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// 429.
    #[error("Resemble is rate limiting (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx.
    #[error("Resemble unavailable ({status}): {message}")]
    Unavailable { status: u16, message: String },
    /// No answer (or no next chunk) in time.
    #[error("Resemble timed out")]
    Timeout,
    /// Could not connect, or the connection broke.
    #[error("could not reach Resemble: {0}")]
    Connect(String),
    /// The answer could not be understood.
    #[error("unexpected answer from Resemble: {0}")]
    Protocol(String),
}

impl From<ResembleError> for UpstreamError {
    fn from(e: ResembleError) -> Self {
        match e {
            ResembleError::Rejected { message, .. } => Self::BadRequest(message),
            ResembleError::NotFound(m) => Self::NotFound(m),
            ResembleError::Unauthorized { status, .. } => Self::Unauthorized { status },
            ResembleError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            ResembleError::Unavailable { status, .. } => Self::Unavailable { status },
            ResembleError::Timeout => Self::Timeout,
            ResembleError::Connect(m) => Self::Connect(m),
            ResembleError::Protocol(m) | ResembleError::Config(m) => Self::Protocol(m),
        }
    }
}

/// Classifies a non-success HTTP answer from its status, `Retry-After` header value and body.
pub fn classify_status(status: u16, retry_after: Option<&str>, body: &[u8]) -> ResembleError {
    let message = || error_message(body).unwrap_or_else(|| default_message(status, body));
    match status {
        404 => ResembleError::NotFound(message()),
        401..=403 => ResembleError::Unauthorized {
            status,
            message: message(),
        },
        429 => ResembleError::RateLimited {
            retry_after: retry_after.and_then(parse_retry_after),
        },
        408 => ResembleError::Timeout,
        400..=499 => ResembleError::Rejected {
            status,
            message: message(),
        },
        500..=599 => ResembleError::Unavailable {
            status,
            message: message(),
        },
        _ => ResembleError::Protocol(format!("unexpected HTTP status {status}: {}", message())),
    }
}

/// Classifies a 2xx answer whose envelope says it failed (`success:false`, or a billing-API
/// `{error,error_code}` body).
pub fn classify_failed_envelope(status: u16, body: &Value) -> ResembleError {
    let message = message_of(body).unwrap_or_else(|| "the upstream reported failure".to_owned());
    if message.to_ascii_lowercase().contains("not found") {
        ResembleError::NotFound(message)
    } else {
        ResembleError::Rejected { status, message }
    }
}

/// `Retry-After` as delay-seconds (integer or decimal); HTTP dates are not honoured.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

/// The message of an error body in any documented envelope: `message`, `error` (a string or
/// an object with a `message`), `errors` (`{field:[str]}`, `[str]` or a string),
/// `validation_errors`, `error_name`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    message_of(&value)
}

/// Like [`error_message`], on a parsed body.
pub fn message_of(value: &Value) -> Option<String> {
    let obj = value.as_object()?;
    let found = non_empty_str(obj.get("message"))
        .or_else(|| match obj.get("error") {
            Some(Value::Object(inner)) => non_empty_str(inner.get("message")),
            other => non_empty_str(other),
        })
        .or_else(|| obj.get("errors").and_then(flatten_errors))
        .or_else(|| obj.get("validation_errors").and_then(flatten_errors))
        .or_else(|| non_empty_str(obj.get("error_name")))?;
    Some(truncate(&found))
}

fn non_empty_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn flatten_errors(v: &Value) -> Option<String> {
    let joined = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Array(items) => items
            .iter()
            .filter_map(scalar_text)
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(fields) => fields
            .iter()
            .map(|(field, msgs)| {
                let text = match msgs {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(scalar_text)
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => scalar_text(other).unwrap_or_default(),
                };
                format!("{field} {text}").trim().to_owned()
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    (!joined.is_empty()).then_some(joined)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => non_empty_str(o.get("message")),
        _ => None,
    }
}

fn default_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') || text.starts_with('{') || text.starts_with('[') {
        format!("HTTP {status}")
    } else {
        truncate(text)
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
        out
    }
}

/// Classifies a transport failure (timeouts first: a connect timeout is a timeout).
pub fn classify_reqwest(e: &reqwest::Error) -> ResembleError {
    if e.is_timeout() {
        ResembleError::Timeout
    } else if e.is_decode() {
        ResembleError::Protocol(chain(e))
    } else if e.is_builder() {
        ResembleError::Config(chain(e))
    } else {
        ResembleError::Connect(chain(e))
    }
}

/// The error and its sources in one line (reqwest hides the interesting part in sources).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(status: u16, retry: Option<&str>, body: &str) -> UpstreamError {
        classify_status(status, retry, body.as_bytes()).into()
    }

    #[test]
    fn bad_request_takes_the_message_from_any_envelope() {
        assert_eq!(
            up(
                400,
                None,
                r#"{"success":false,"message":"data is required"}"#
            ),
            UpstreamError::BadRequest("data is required".into())
        );
        assert_eq!(
            up(
                422,
                None,
                r#"{"success":false,"error":"File must be valid media format"}"#
            ),
            UpstreamError::BadRequest("File must be valid media format".into())
        );
        assert_eq!(
            up(
                400,
                None,
                r#"{"error":"insufficient funds","error_code":"wallet_empty"}"#
            ),
            UpstreamError::BadRequest("insufficient funds".into())
        );
        assert_eq!(
            up(
                422,
                None,
                r#"{"success":false,"errors":{"name":["is too long","is invalid"],"text":["is blank"]}}"#
            ),
            UpstreamError::BadRequest("name is too long, is invalid; text is blank".into())
        );
        assert_eq!(
            up(400, None, r#"{"success":false,"errors":["a","b"]}"#),
            UpstreamError::BadRequest("a; b".into())
        );
        assert_eq!(
            up(
                400,
                None,
                r#"{"success":false,"validation_errors":["voice_uuid missing"]}"#
            ),
            UpstreamError::BadRequest("voice_uuid missing".into())
        );
        assert_eq!(
            up(
                400,
                None,
                r#"{"success":false,"error":{"message":"nested"}}"#
            ),
            UpstreamError::BadRequest("nested".into())
        );
        // message wins over error; blank message falls back.
        assert_eq!(
            up(400, None, r#"{"success":false,"message":"m","error":"e"}"#),
            UpstreamError::BadRequest("m".into())
        );
        assert_eq!(
            up(400, None, r#"{"success":false,"message":" ","error":"e"}"#),
            UpstreamError::BadRequest("e".into())
        );
        assert_eq!(
            up(400, None, "not json at all"),
            UpstreamError::BadRequest("not json at all".into())
        );
        assert_eq!(
            up(400, None, ""),
            UpstreamError::BadRequest("HTTP 400".into())
        );
        assert_eq!(
            up(409, None, r#"{"message":"conflict"}"#),
            UpstreamError::BadRequest("conflict".into())
        );
    }

    #[test]
    fn not_found_auth_rate_limit_and_5xx() {
        assert_eq!(
            up(
                404,
                None,
                r#"{"success":false,"item":null,"message":"Not found"}"#
            ),
            UpstreamError::NotFound("Not found".into())
        );
        assert_eq!(
            up(
                404,
                None,
                r#"{"success":false,"error":"Transcript not found"}"#
            ),
            UpstreamError::NotFound("Transcript not found".into())
        );
        for s in [401, 402, 403] {
            assert_eq!(
                up(s, None, r#"{"success":false,"message":"no"}"#),
                UpstreamError::Unauthorized { status: s }
            );
        }
        assert_eq!(
            up(429, Some("7"), ""),
            UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            up(429, Some(" 1.5 "), ""),
            UpstreamError::RateLimited {
                retry_after: Some(Duration::from_millis(1500))
            }
        );
        assert_eq!(
            up(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), ""),
            UpstreamError::RateLimited { retry_after: None }
        );
        assert_eq!(
            up(429, None, ""),
            UpstreamError::RateLimited { retry_after: None }
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(
                up(s, None, "<html>bad gateway</html>"),
                UpstreamError::Unavailable { status: s }
            );
        }
        assert_eq!(up(408, None, ""), UpstreamError::Timeout);
        assert!(matches!(up(302, None, ""), UpstreamError::Protocol(_)));
    }

    #[test]
    fn failed_envelopes_with_2xx() {
        let nf = serde_json::json!({"success":false,"item":null,"message":"Voice not found"});
        assert_eq!(
            UpstreamError::from(classify_failed_envelope(200, &nf)),
            UpstreamError::NotFound("Voice not found".into())
        );
        let bad = serde_json::json!({"success":false,"error_name":"VoiceNotReady","message":"voice is still training"});
        assert_eq!(
            UpstreamError::from(classify_failed_envelope(200, &bad)),
            UpstreamError::BadRequest("voice is still training".into())
        );
        let bare = serde_json::json!({"success":false});
        assert!(matches!(
            UpstreamError::from(classify_failed_envelope(200, &bare)),
            UpstreamError::BadRequest(_)
        ));
    }

    #[test]
    fn long_messages_are_truncated() {
        let body = format!(r#"{{"message":"{}"}}"#, "x".repeat(2_000));
        match up(400, None, &body) {
            UpstreamError::BadRequest(m) => assert!(m.chars().count() <= MAX_MESSAGE_CHARS + 1),
            other => panic!("{other:?}"),
        }
    }
}
