//! Standard Webhooks signing for the callbacks the gateway sends to its users.
//!
//! The signed content is `"{msg_id}.{timestamp}.{body}"`, the MAC is HMAC-SHA256 keyed with
//! the raw bytes of a `whsec_<base64>` secret, and the `webhook-signature` header carries one
//! or more space-separated `v1,<base64 MAC>` entries so an endpoint can rotate keys without
//! downtime.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::{check_timestamp, WebhookError};

/// Header carrying the message id (also the receiver's idempotency key).
pub const WEBHOOK_ID: &str = "webhook-id";
/// Header carrying the signing time in unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the space-separated `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The prefix of the textual form of a secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The shortest secret allowed, in bytes.
pub const MIN_SECRET_LEN: usize = 24;
/// The longest secret allowed, in bytes.
pub const MAX_SECRET_LEN: usize = 64;
/// The length [`WebhookSecret::generate`] uses, in bytes.
pub const DEFAULT_SECRET_LEN: usize = 32;
/// At most this many entries are read from a `webhook-signature` header.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;

const VERSION_LABEL: &str = "v1";

/// A symmetric Standard Webhooks secret: 24 to 64 random bytes, written `whsec_<base64>`.
///
/// `Debug` never shows the key; there is deliberately no `Display`.
#[derive(Clone)]
pub struct WebhookSecret {
    bytes: Vec<u8>,
}

impl WebhookSecret {
    /// A fresh secret of [`DEFAULT_SECRET_LEN`] bytes from the system random generator.
    pub fn generate() -> Result<Self, WebhookError> {
        Self::generate_with_len(DEFAULT_SECRET_LEN)
    }

    /// A fresh secret of `len` bytes (24 to 64) from the system random generator.
    pub fn generate_with_len(len: usize) -> Result<Self, WebhookError> {
        check_len(len)?;
        let mut bytes = vec![0u8; len];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| WebhookError::Random)?;
        Ok(Self { bytes })
    }

    /// A secret from raw key bytes (24 to 64 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WebhookError> {
        check_len(bytes.len())?;
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }

    /// Parses the `whsec_<base64>` form strictly: exact prefix, canonical padded standard
    /// base64, no whitespace, 24 to 64 decoded bytes.
    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookError::InvalidSecret("missing `whsec_` prefix"))?;
        let bytes = B64
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret("invalid base64"))?;
        check_len(bytes.len())?;
        Ok(Self { bytes })
    }

    /// The `whsec_<base64>` form, for showing the secret to its owner exactly once.
    pub fn to_whsec_string(&self) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(&self.bytes))
    }

    /// The raw key bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.bytes)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_<redacted>)")
    }
}

impl FromStr for WebhookSecret {
    type Err = WebhookError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

fn check_len(len: usize) -> Result<(), WebhookError> {
    if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&len) {
        Ok(())
    } else {
        Err(WebhookError::InvalidSecret("length must be 24 to 64 bytes"))
    }
}

fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let prefix = format!("{msg_id}.{timestamp}.");
    let mut content = Vec::with_capacity(prefix.len() + body.len());
    content.extend_from_slice(prefix.as_bytes());
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` value for one secret: `v1,<base64(HMAC-SHA256)>` over
/// `"{msg_id}.{timestamp}.{body}"`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = hmac::sign(&secret.key(), &signed_content(msg_id, timestamp, body));
    format!("{VERSION_LABEL},{}", B64.encode(tag.as_ref()))
}

/// The three headers to attach to an outbound callback, in the order
/// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
pub fn headers(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (WEBHOOK_ID, msg_id.to_owned()),
        (WEBHOOK_TIMESTAMP, timestamp.to_string()),
        (WEBHOOK_SIGNATURE, sign(secret, msg_id, timestamp, body)),
    ]
}

/// Verifies a Standard Webhooks message against any of `secrets` (rotation).
///
/// Checks, in order: all three headers present (`MissingHeader`), the timestamp is an integer
/// (`InvalidHeader`), it lies within `tolerance_secs` of `now` in both directions (`TooOld`,
/// `TooNew`), and some `v1` entry of the signature header matches some secret
/// (`NoValidSignature`). Entries with other labels or undecodable base64 are ignored. MACs
/// are compared in constant time by `ring::hmac::verify`.
pub fn verify(
    secrets: &[WebhookSecret],
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    if msg_id.is_empty() {
        return Err(WebhookError::MissingHeader(WEBHOOK_ID));
    }
    let timestamp_text = timestamp_header.trim();
    if timestamp_text.is_empty() {
        return Err(WebhookError::MissingHeader(WEBHOOK_TIMESTAMP));
    }
    if signature_header.trim().is_empty() {
        return Err(WebhookError::MissingHeader(WEBHOOK_SIGNATURE));
    }
    let timestamp = parse_timestamp(timestamp_text)?;
    check_timestamp(timestamp, now, tolerance_secs)?;

    let mut entries = signature_header.split_ascii_whitespace();
    let candidates: Vec<Vec<u8>> = entries
        .by_ref()
        .take(MAX_SIGNATURE_ENTRIES)
        .filter_map(|entry| match entry.split_once(',') {
            Some((VERSION_LABEL, encoded)) => B64.decode(encoded).ok(),
            _ => None,
        })
        .collect();
    if entries.next().is_some() {
        return Err(WebhookError::InvalidHeader {
            header: WEBHOOK_SIGNATURE,
            reason: "too many signatures",
        });
    }

    let content = signed_content(msg_id, timestamp, body);
    // Every secret is tried against every candidate; no early exit on a partial match
    // leaks anything, since each comparison is itself constant-time.
    let matched = secrets.iter().any(|secret| {
        let key = secret.key();
        candidates
            .iter()
            .any(|tag| hmac::verify(&key, &content, tag).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(WebhookError::NoValidSignature)
    }
}

fn parse_timestamp(text: &str) -> Result<i64, WebhookError> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::InvalidHeader {
            header: WEBHOOK_TIMESTAMP,
            reason: "not unix seconds",
        });
    }
    text.parse().map_err(|_| WebhookError::InvalidHeader {
        header: WEBHOOK_TIMESTAMP,
        reason: "not unix seconds",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Known-answer vector, produced independently of this crate with Python's standard
    // library (python3 3.x, `hmac` + `hashlib` + `base64`):
    //
    //   raw = b"indoxhub-gateway-test-secret-32b"
    //   "whsec_" + base64.b64encode(raw).decode()
    //   "v1," + base64.b64encode(hmac.new(raw, f"{msg_id}.{ts}.".encode() + body,
    //                                     hashlib.sha256).digest()).decode()
    const KAT_SECRET: &str = "whsec_aW5kb3hodWItZ2F0ZXdheS10ZXN0LXNlY3JldC0zMmI=";
    const KAT_MSG_ID: &str = "msg_2Lx9VbQhPZ3oTtG7cY1kWq";
    const KAT_TS: i64 = 1_767_225_600;
    const KAT_BODY: &[u8] =
        br#"{"type":"job.finished","job_id":"0190f0c2-7b1e-7c3a-9d2e-5f6a7b8c9d0e"}"#;
    const KAT_SIGNATURE: &str = "v1,GF2po60KjlZmqz3OSvY6MRr+WXmZ9dasvuI1a7kd02k=";
    const TOL: i64 = 300;

    fn kat_secret() -> WebhookSecret {
        WebhookSecret::parse(KAT_SECRET).unwrap()
    }

    fn verify_kat(sig: &str, now: i64) -> Result<(), WebhookError> {
        verify(
            &[kat_secret()],
            KAT_MSG_ID,
            &KAT_TS.to_string(),
            sig,
            KAT_BODY,
            now,
            TOL,
        )
    }

    #[test]
    fn known_answer_vector() {
        let secret = kat_secret();
        assert_eq!(secret.expose_bytes(), b"indoxhub-gateway-test-secret-32b");
        assert_eq!(sign(&secret, KAT_MSG_ID, KAT_TS, KAT_BODY), KAT_SIGNATURE);
        assert_eq!(verify_kat(KAT_SIGNATURE, KAT_TS), Ok(()));
    }

    #[test]
    fn headers_carry_id_timestamp_signature() {
        let h = headers(&kat_secret(), KAT_MSG_ID, KAT_TS, KAT_BODY);
        assert_eq!(h[0], ("webhook-id", KAT_MSG_ID.to_owned()));
        assert_eq!(h[1], ("webhook-timestamp", "1767225600".to_owned()));
        assert_eq!(h[2], ("webhook-signature", KAT_SIGNATURE.to_owned()));
    }

    #[test]
    fn secret_round_trips_and_debug_is_redacted() {
        let secret = WebhookSecret::generate().unwrap();
        assert_eq!(secret.expose_bytes().len(), DEFAULT_SECRET_LEN);
        let text = secret.to_whsec_string();
        assert!(text.starts_with("whsec_"));
        let parsed: WebhookSecret = text.parse().unwrap();
        assert_eq!(parsed.expose_bytes(), secret.expose_bytes());
        let debug = format!("{secret:?}");
        assert!(!debug.contains(&text["whsec_".len()..]));
        assert_eq!(debug, "WebhookSecret(whsec_<redacted>)");
        assert_ne!(
            WebhookSecret::generate().unwrap().expose_bytes(),
            secret.expose_bytes()
        );
    }

    #[test]
    fn secret_lengths_are_bounded() {
        assert!(WebhookSecret::generate_with_len(24).is_ok());
        assert!(WebhookSecret::generate_with_len(64).is_ok());
        assert!(WebhookSecret::generate_with_len(23).is_err());
        assert!(WebhookSecret::generate_with_len(65).is_err());
        assert!(WebhookSecret::from_bytes(&[7; 23]).is_err());
        assert!(WebhookSecret::from_bytes(&[7; 65]).is_err());
    }

    #[test]
    fn secret_parse_is_strict() {
        let good = B64.encode([1u8; 32]);
        assert!(WebhookSecret::parse(&format!("whsec_{good}")).is_ok());
        for bad in [
            good.clone(),
            format!("WHSEC_{good}"),
            format!("whsk_{good}"),
            format!(" whsec_{good}"),
            format!("whsec_{good} "),
            format!("whsec_{}", good.trim_end_matches('=')),
            format!("whsec_{}", B64.encode([1u8; 23])),
            format!("whsec_{}", B64.encode([1u8; 65])),
            "whsec_!!!!".to_owned(),
            "whsec_".to_owned(),
            String::new(),
        ] {
            let err = WebhookSecret::parse(&bad).unwrap_err();
            assert!(matches!(err, WebhookError::InvalidSecret(_)), "{bad:?}");
        }
    }

    #[test]
    fn rotation_old_and_new_secret_both_verify() {
        let old = kat_secret();
        let new = WebhookSecret::generate().unwrap();
        let header = format!(
            "{} {}",
            sign(&old, KAT_MSG_ID, KAT_TS, KAT_BODY),
            sign(&new, KAT_MSG_ID, KAT_TS, KAT_BODY)
        );
        let ts = KAT_TS.to_string();
        for secrets in [
            vec![old.clone()],
            vec![new.clone()],
            vec![old.clone(), new.clone()],
        ] {
            assert_eq!(
                verify(&secrets, KAT_MSG_ID, &ts, &header, KAT_BODY, KAT_TS, TOL),
                Ok(())
            );
        }
        // A receiver holding both keys accepts a header signed by either alone.
        let only_new = sign(&new, KAT_MSG_ID, KAT_TS, KAT_BODY);
        let both = [old, new];
        assert_eq!(
            verify(&both, KAT_MSG_ID, &ts, &only_new, KAT_BODY, KAT_TS, TOL),
            Ok(())
        );
        let stranger = WebhookSecret::generate().unwrap();
        assert_eq!(
            verify(&[stranger], KAT_MSG_ID, &ts, &header, KAT_BODY, KAT_TS, TOL),
            Err(WebhookError::NoValidSignature)
        );
        assert_eq!(
            verify(&[], KAT_MSG_ID, &ts, &header, KAT_BODY, KAT_TS, TOL),
            Err(WebhookError::NoValidSignature)
        );
    }

    #[test]
    fn tampering_fails() {
        let secrets = [kat_secret()];
        let ts = KAT_TS.to_string();
        let tampered_body =
            br#"{"type":"job.finished","job_id":"0190f0c2-7b1e-7c3a-9d2e-5f6a7b8c9d0f"}"#;
        assert_eq!(
            verify(
                &secrets,
                KAT_MSG_ID,
                &ts,
                KAT_SIGNATURE,
                tampered_body,
                KAT_TS,
                TOL
            ),
            Err(WebhookError::NoValidSignature)
        );
        assert_eq!(
            verify(
                &secrets,
                "msg_other",
                &ts,
                KAT_SIGNATURE,
                KAT_BODY,
                KAT_TS,
                TOL
            ),
            Err(WebhookError::NoValidSignature)
        );
        let ts_plus_one = (KAT_TS + 1).to_string();
        assert_eq!(
            verify(
                &secrets,
                KAT_MSG_ID,
                &ts_plus_one,
                KAT_SIGNATURE,
                KAT_BODY,
                KAT_TS,
                TOL
            ),
            Err(WebhookError::NoValidSignature)
        );
    }

    #[test]
    fn truncated_and_malformed_entries() {
        for sig in [
            "v1,",
            "v1",
            "v1,GF2po60KjlZmqz3OSvY6MRr+WXmZ9dasvuI1a7kd02",
            "v1,GF2po60KjlZmqz3OSvY6MRr+WXmZ9dasvuI1a7kd02k",
            "v1,GF2po60KjlZmqz3OSvY6MRr+WXmZ9dasvuI1a7kd02k=x",
            "v1,****",
            ",GF2po60KjlZmqz3OSvY6MRr+WXmZ9dasvuI1a7kd02k=",
        ] {
            assert_eq!(
                verify_kat(sig, KAT_TS),
                Err(WebhookError::NoValidSignature),
                "{sig}"
            );
        }
    }

    #[test]
    fn non_v1_labels_are_ignored() {
        let b64 = &KAT_SIGNATURE[3..];
        for label in ["v1a", "v2", "V1", "v0"] {
            assert_eq!(
                verify_kat(&format!("{label},{b64}"), KAT_TS),
                Err(WebhookError::NoValidSignature)
            );
        }
        // A valid v1 entry is found among other labels and garbage, in any position.
        let mixed = format!("v1a,{b64} v2,xyz {KAT_SIGNATURE} junk");
        assert_eq!(verify_kat(&mixed, KAT_TS), Ok(()));
        let spaced = format!("  v1,AAAA   {KAT_SIGNATURE}  ");
        assert_eq!(verify_kat(&spaced, KAT_TS), Ok(()));
    }

    #[test]
    fn tolerance_both_directions() {
        assert_eq!(verify_kat(KAT_SIGNATURE, KAT_TS + TOL), Ok(()));
        assert_eq!(verify_kat(KAT_SIGNATURE, KAT_TS - TOL), Ok(()));
        assert_eq!(
            verify_kat(KAT_SIGNATURE, KAT_TS + TOL + 1),
            Err(WebhookError::TooOld)
        );
        assert_eq!(
            verify_kat(KAT_SIGNATURE, KAT_TS - TOL - 1),
            Err(WebhookError::TooNew)
        );
    }

    #[test]
    fn missing_and_invalid_headers() {
        let s = [kat_secret()];
        let ts = KAT_TS.to_string();
        let sig = KAT_SIGNATURE;
        let body = KAT_BODY;
        assert_eq!(
            verify(&s, "", &ts, sig, body, KAT_TS, TOL),
            Err(WebhookError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            verify(&s, KAT_MSG_ID, " ", sig, body, KAT_TS, TOL),
            Err(WebhookError::MissingHeader("webhook-timestamp"))
        );
        assert_eq!(
            verify(&s, KAT_MSG_ID, &ts, "  ", body, KAT_TS, TOL),
            Err(WebhookError::MissingHeader("webhook-signature"))
        );
        for bad_ts in [
            "abc",
            "-1767225600",
            "1767225600.5",
            "+1767225600",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    verify(&s, KAT_MSG_ID, bad_ts, sig, body, KAT_TS, TOL),
                    Err(WebhookError::InvalidHeader {
                        header: "webhook-timestamp",
                        ..
                    })
                ),
                "{bad_ts}"
            );
        }
        let many = vec!["v1,AAAA"; MAX_SIGNATURE_ENTRIES + 1].join(" ");
        assert!(matches!(
            verify(&s, KAT_MSG_ID, &ts, &many, body, KAT_TS, TOL),
            Err(WebhookError::InvalidHeader {
                header: "webhook-signature",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn sign_then_verify_always_passes(
            key in proptest::collection::vec(any::<u8>(), MIN_SECRET_LEN..=MAX_SECRET_LEN),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            msg_id in "[A-Za-z0-9_-]{1,64}",
            ts in 0i64..4_000_000_000,
            skew in -TOL..=TOL,
        ) {
            let secret = WebhookSecret::from_bytes(&key).unwrap();
            let [(_, id), (_, ts_text), (_, sig)] = headers(&secret, &msg_id, ts, &body);
            prop_assert_eq!(
                verify(&[secret], &id, &ts_text, &sig, &body, ts + skew, TOL),
                Ok(())
            );
        }

        #[test]
        fn verify_never_panics(
            msg_id in ".{0,40}",
            ts_header in ".{0,24}",
            sig_header in ".{0,200}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
            now in any::<i64>(),
            tol in any::<i64>(),
        ) {
            let _ = verify(&[], &msg_id, &ts_header, &sig_header, &body, now, tol);
        }
    }
}
