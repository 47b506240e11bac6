//! API-key checks. Accepts the four forms seen for Resemble: `Authorization: Bearer K`,
//! `Authorization: Token token=K` (optionally quoted), a raw `Authorization: K`, and
//! `x-access-token: K`.

use actix_web::HttpRequest;

use crate::error::SimError;
use crate::state::SimState;

/// Extracts the API key a request presents, in any accepted form.
pub fn presented_key(req: &HttpRequest) -> Option<String> {
    let headers = req.headers();
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let key = if let Some(rest) = strip_prefix_ci(v, "bearer ") {
            rest.trim()
        } else if let Some(rest) = strip_prefix_ci(v, "token ") {
            let rest = rest.trim();
            let rest = strip_prefix_ci(rest, "token=").unwrap_or(rest);
            rest.trim_matches('"')
        } else {
            v
        };
        if !key.is_empty() {
            return Some(key.to_owned());
        }
    }
    headers
        .get("x-access-token")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Rejects the request with 401 unless it presents the platform's key or one of the extra
/// accounts' keys; counts it per key.
pub fn require(req: &HttpRequest, state: &SimState) -> Result<(), SimError> {
    match presented_key(req) {
        Some(k) if k == state.api_key || state.extra_api_keys.contains(&k) => {
            state.record_key(&k);
            Ok(())
        }
        _ => Err(SimError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn all_forms_are_recognised() {
        let forms = [
            ("authorization", "Bearer k1"),
            ("authorization", "Token token=k1"),
            ("authorization", "Token token=\"k1\""),
            ("authorization", "k1"),
            ("x-access-token", "k1"),
        ];
        for (name, value) in forms {
            let req = TestRequest::default()
                .insert_header((name, value))
                .to_http_request();
            assert_eq!(
                presented_key(&req).as_deref(),
                Some("k1"),
                "{name}: {value}"
            );
        }
        let req = TestRequest::default().to_http_request();
        assert_eq!(presented_key(&req), None);
    }
}
