//! Keys, request fingerprints, stored responses and the pure decision rule.

use chrono::{DateTime, Duration, Utc};

use crate::IdempotencyError;

/// A validated `Idempotency-Key` header value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted, as Stripe does.
    pub const MAX_LEN: usize = 255;

    /// Validates a header value.
    ///
    /// # Errors
    /// [`IdempotencyError::InvalidKey`] for empty, over-long or non-visible-ASCII values.
    pub fn parse(raw: &str) -> Result<Self, IdempotencyError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdempotencyError::InvalidKey)
        }
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 over method, path and body: two requests are "the same" when these match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprints a request. The body should be in a canonical form (the server
    /// re-serialises the parsed JSON) so whitespace or key order do not matter.
    pub fn of(method: &str, path: &str, body: &[u8]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [method.as_bytes(), path.as_bytes(), body] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }
}

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The state of a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A request holds the key and has not finished.
    InFlight,
    /// The request finished; this is its response.
    Completed(StoredResponse),
}

/// A key as found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub fingerprint: Fingerprint,
    pub state: KeyState,
    pub locked_at: DateTime<Utc>,
}

/// What to do with a request whose key already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Same request, finished: answer with the stored response.
    Replay(StoredResponse),
    /// Different request under the same key: 422.
    Mismatch,
    /// Same request, still running: 409.
    InFlight,
    /// Same request, but its holder stopped long ago (crashed): take the key over and run.
    TakeOver,
}

/// The outcome of trying to start a request under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginOutcome {
    /// The key is now held by this request: run it.
    Started,
    /// Answer with the stored response; do not run.
    Replay(StoredResponse),
    /// 422.
    Mismatch,
    /// 409.
    InFlight,
}

/// The rule for a key that already exists.
pub fn decide(
    existing: &Existing,
    fingerprint: &Fingerprint,
    now: DateTime<Utc>,
    lock_timeout: Duration,
) -> Decision {
    if existing.fingerprint != *fingerprint {
        return Decision::Mismatch;
    }
    match &existing.state {
        KeyState::Completed(resp) => Decision::Replay(resp.clone()),
        KeyState::InFlight if now - existing.locked_at >= lock_timeout => Decision::TakeOver,
        KeyState::InFlight => Decision::InFlight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(body: &str) -> Fingerprint {
        Fingerprint::of("POST", "/x", body.as_bytes())
    }

    #[test]
    fn key_validation() {
        assert!(IdempotencyKey::parse("abc-123").is_ok());
        assert!(IdempotencyKey::parse(&"a".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"a".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse("naïve").is_err());
    }

    #[test]
    fn fingerprint_separates_fields() {
        // Length-prefixing means moving bytes between fields changes the hash.
        assert_ne!(
            Fingerprint::of("POST", "/ab", b"c"),
            Fingerprint::of("POST", "/a", b"bc")
        );
        assert_eq!(fp("x"), fp("x"));
    }

    #[test]
    fn decision_table() {
        let now = Utc::now();
        let timeout = Duration::seconds(60);
        let done = StoredResponse {
            status: 200,
            body: b"{}".to_vec(),
        };
        let cases = [
            (
                KeyState::Completed(done.clone()),
                "a",
                0,
                Decision::Replay(done.clone()),
            ),
            (
                KeyState::Completed(done.clone()),
                "b",
                0,
                Decision::Mismatch,
            ),
            (KeyState::InFlight, "a", 1, Decision::InFlight),
            (KeyState::InFlight, "a", 59, Decision::InFlight),
            (KeyState::InFlight, "a", 60, Decision::TakeOver),
            (KeyState::InFlight, "b", 600, Decision::Mismatch),
        ];
        for (state, body, age, want) in cases {
            let existing = Existing {
                fingerprint: fp("a"),
                state,
                locked_at: now - Duration::seconds(age),
            };
            assert_eq!(
                decide(&existing, &fp(body), now, timeout),
                want,
                "{body} {age}"
            );
        }
    }
}
