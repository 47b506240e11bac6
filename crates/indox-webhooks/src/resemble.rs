//! The gateway's OWN signature scheme for inbound provider callbacks (Resemble publishes none).
//!
//! Resemble AI documents no signature, shared secret or timestamp on its callbacks. This
//! module defines the scheme the gateway's Resemble simulator uses to sign the callbacks it
//! sends, and that the gateway's callback endpoint checks:
//!
//! ```text
//! X-Resemble-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{raw body}")>[,v1=<hex>...]
//! ```
//!
//! Several `v1=` entries allow rotating the shared secret. A valid signature is necessary but
//! not sufficient: the gateway re-fetches the job with an authenticated GET before trusting
//! anything in the payload.

use ring::hmac;

use crate::{check_timestamp, WebhookError};

/// The header that carries the gateway-defined provider signature.
pub const PROVIDER_SIGNATURE_HEADER: &str = "X-Resemble-Signature";
/// At most this many comma-separated parts are read from the header.
pub const MAX_HEADER_PARTS: usize = 16;

const SHA256_LEN: usize = 32;

/// A parsed `X-Resemble-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSignatureHeader {
    /// The signing time, unix seconds (`t=`).
    pub timestamp: i64,
    /// The decoded `v1=` MACs, in header order. Entries that were not 64 hex digits are
    /// dropped; the list may be empty.
    pub signatures: Vec<[u8; SHA256_LEN]>,
}

/// The `X-Resemble-Signature` header value for `body` signed at unix time `t`.
pub fn sign_provider(secret: &[u8], t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, &signed_content(t, body));
    format!("t={t},v1={}", to_hex(tag.as_ref()))
}

/// Parses a header value without checking any signature. Never panics.
///
/// Errors: `MissingHeader` for an empty value; `InvalidHeader` when a part is not `key=value`,
/// `t` is absent, repeated or not unix seconds, or there are more than
/// [`MAX_HEADER_PARTS`] parts. Unknown keys and undecodable `v1` values are ignored.
pub fn parse_provider_header(header: &str) -> Result<ProviderSignatureHeader, WebhookError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(WebhookError::MissingHeader(PROVIDER_SIGNATURE_HEADER));
    }
    let invalid = |reason| WebhookError::InvalidHeader {
        header: PROVIDER_SIGNATURE_HEADER,
        reason,
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (index, part) in header.split(',').enumerate() {
        if index >= MAX_HEADER_PARTS {
            return Err(invalid("too many parts"));
        }
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| invalid("part is not key=value"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(invalid("repeated t"));
                }
                timestamp = Some(parse_unix_seconds(value).ok_or_else(|| invalid("bad t"))?);
            }
            "v1" => {
                if let Some(mac) = from_hex_32(value) {
                    signatures.push(mac);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| invalid("missing t"))?;
    Ok(ProviderSignatureHeader {
        timestamp,
        signatures,
    })
}

/// Verifies a provider callback against any of `secrets` and returns its signed time `t`.
///
/// Order of checks: the header parses ([`parse_provider_header`]), `t` lies within
/// `tolerance_secs` of `now` in both directions (`TooOld`, `TooNew`), and some `v1` entry
/// matches some secret (`NoValidSignature`), compared in constant time by
/// `ring::hmac::verify`. Empty secrets never match, so a blank configuration cannot accept
/// callbacks signed with an empty key.
pub fn verify_provider(
    secrets: &[&[u8]],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, WebhookError> {
    let parsed = parse_provider_header(header)?;
    check_timestamp(parsed.timestamp, now, tolerance_secs)?;
    let content = signed_content(parsed.timestamp, body);
    let matched = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .any(|secret| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
            parsed
                .signatures
                .iter()
                .any(|mac| hmac::verify(&key, &content, mac).is_ok())
        });
    if matched {
        Ok(parsed.timestamp)
    } else {
        Err(WebhookError::NoValidSignature)
    }
}

fn signed_content(t: i64, body: &[u8]) -> Vec<u8> {
    let prefix = format!("{t}.");
    let mut content = Vec::with_capacity(prefix.len() + body.len());
    content.extend_from_slice(prefix.as_bytes());
    content.extend_from_slice(body);
    content
}

fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn from_hex_32(text: &str) -> Option<[u8; SHA256_LEN]> {
    let digits = text.as_bytes();
    if digits.len() != SHA256_LEN * 2 {
        return None;
    }
    let mut out = [0u8; SHA256_LEN];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Known-answer vector, produced independently of this crate with Python's standard
    // library:
    //
    //   "t=%d,v1=%s" % (t, hmac.new(b"sim-shared-secret", f"{t}.".encode() + body,
    //                               hashlib.sha256).hexdigest())
    const KAT_SECRET: &[u8] = b"sim-shared-secret";
    const KAT_T: i64 = 1_767_225_600;
    const KAT_BODY: &[u8] = br#"{"id":"3f2c1a9e-0b7d-4c5e-8f6a-1b2c3d4e5f60","status":"finished"}"#;
    const KAT_HEADER: &str =
        "t=1767225600,v1=559d42fa9551dc88ad3e7872ca654e231e614cb9d321d940386bb5d58b2f58d7";
    const KAT_MAC_HEX: &str = "559d42fa9551dc88ad3e7872ca654e231e614cb9d321d940386bb5d58b2f58d7";
    const TOL: i64 = 300;

    fn verify_kat(header: &str, now: i64) -> Result<i64, WebhookError> {
        verify_provider(&[KAT_SECRET], header, KAT_BODY, now, TOL)
    }

    #[test]
    fn known_answer_vector() {
        assert_eq!(sign_provider(KAT_SECRET, KAT_T, KAT_BODY), KAT_HEADER);
        assert_eq!(verify_kat(KAT_HEADER, KAT_T), Ok(KAT_T));
        let upper = format!("t={KAT_T},v1={}", KAT_MAC_HEX.to_uppercase());
        assert_eq!(verify_kat(&upper, KAT_T), Ok(KAT_T));
    }

    #[test]
    fn rotation_old_and_new_secret_both_verify() {
        let old: &[u8] = KAT_SECRET;
        let new: &[u8] = b"sim-shared-secret-2";
        let new_header = sign_provider(new, KAT_T, KAT_BODY);
        let new_mac = new_header.split_once(",v1=").map(|(_, m)| m).unwrap();
        let both = format!("{KAT_HEADER},v1={new_mac}");
        for secrets in [[old].as_slice(), &[new], &[old, new], &[new, old]] {
            assert_eq!(
                verify_provider(secrets, &both, KAT_BODY, KAT_T, TOL),
                Ok(KAT_T)
            );
        }
        assert_eq!(
            verify_provider(&[old, new], &new_header, KAT_BODY, KAT_T, TOL),
            Ok(KAT_T)
        );
        assert_eq!(
            verify_provider(&[b"someone-else".as_slice()], &both, KAT_BODY, KAT_T, TOL),
            Err(WebhookError::NoValidSignature)
        );
        assert_eq!(
            verify_provider(&[], &both, KAT_BODY, KAT_T, TOL),
            Err(WebhookError::NoValidSignature)
        );
    }

    #[test]
    fn empty_secret_never_matches() {
        let header = sign_provider(b"", KAT_T, KAT_BODY);
        assert_eq!(
            verify_provider(&[b"".as_slice()], &header, KAT_BODY, KAT_T, TOL),
            Err(WebhookError::NoValidSignature)
        );
    }

    #[test]
    fn tampering_fails() {
        let tampered = br#"{"id":"3f2c1a9e-0b7d-4c5e-8f6a-1b2c3d4e5f60","status":"failed"}"#;
        assert_eq!(
            verify_provider(&[KAT_SECRET], KAT_HEADER, tampered, KAT_T, TOL),
            Err(WebhookError::NoValidSignature)
        );
        let moved_t = format!("t={},v1={KAT_MAC_HEX}", KAT_T + 1);
        assert_eq!(
            verify_kat(&moved_t, KAT_T),
            Err(WebhookError::NoValidSignature)
        );
        let mut flipped = KAT_MAC_HEX.to_owned();
        flipped.replace_range(0..1, "6");
        assert_eq!(
            verify_kat(&format!("t={KAT_T},v1={flipped}"), KAT_T),
            Err(WebhookError::NoValidSignature)
        );
    }

    #[test]
    fn truncated_and_non_v1_entries_are_ignored() {
        for header in [
            format!("t={KAT_T},v1="),
            format!("t={KAT_T},v1={}", &KAT_MAC_HEX[..63]),
            format!("t={KAT_T},v1={}0", KAT_MAC_HEX),
            format!("t={KAT_T},v1={}zz", &KAT_MAC_HEX[..62]),
            format!("t={KAT_T},v0={KAT_MAC_HEX}"),
            format!("t={KAT_T},v2={KAT_MAC_HEX}"),
            format!("t={KAT_T},V1={KAT_MAC_HEX}"),
            format!("t={KAT_T}"),
        ] {
            assert_eq!(
                verify_kat(&header, KAT_T),
                Err(WebhookError::NoValidSignature),
                "{header}"
            );
        }
        let mixed = format!("v0=abc, t={KAT_T} ,v1=00, v1={KAT_MAC_HEX} ,x=y");
        assert_eq!(verify_kat(&mixed, KAT_T), Ok(KAT_T));
    }

    #[test]
    fn tolerance_both_directions() {
        assert_eq!(verify_kat(KAT_HEADER, KAT_T + TOL), Ok(KAT_T));
        assert_eq!(verify_kat(KAT_HEADER, KAT_T - TOL), Ok(KAT_T));
        assert_eq!(
            verify_kat(KAT_HEADER, KAT_T + TOL + 1),
            Err(WebhookError::TooOld)
        );
        assert_eq!(
            verify_kat(KAT_HEADER, KAT_T - TOL - 1),
            Err(WebhookError::TooNew)
        );
    }

    #[test]
    fn missing_and_invalid_headers() {
        assert_eq!(
            verify_kat("", KAT_T),
            Err(WebhookError::MissingHeader("X-Resemble-Signature"))
        );
        assert_eq!(
            verify_kat("   ", KAT_T),
            Err(WebhookError::MissingHeader("X-Resemble-Signature"))
        );
        for header in [
            format!("v1={KAT_MAC_HEX}"),
            format!("t=,v1={KAT_MAC_HEX}"),
            format!("t=-5,v1={KAT_MAC_HEX}"),
            format!("t=12a,v1={KAT_MAC_HEX}"),
            format!("t=99999999999999999999,v1={KAT_MAC_HEX}"),
            format!("t={KAT_T},t={KAT_T},v1={KAT_MAC_HEX}"),
            format!("t={KAT_T},v1={KAT_MAC_HEX},"),
            format!("t={KAT_T};v1={KAT_MAC_HEX}"),
            format!("t={KAT_T},{}", vec!["v1=00"; MAX_HEADER_PARTS].join(",")),
        ] {
            assert!(
                matches!(
                    verify_kat(&header, KAT_T),
                    Err(WebhookError::InvalidHeader {
                        header: "X-Resemble-Signature",
                        ..
                    })
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn parse_exposes_timestamp_and_macs() {
        let parsed = parse_provider_header(KAT_HEADER).unwrap();
        assert_eq!(parsed.timestamp, KAT_T);
        assert_eq!(parsed.signatures.len(), 1);
        assert_eq!(to_hex(&parsed.signatures[0]), KAT_MAC_HEX);
    }

    proptest! {
        #[test]
        fn sign_then_verify_always_passes(
            secret in proptest::collection::vec(any::<u8>(), 1..80),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            t in 0i64..4_000_000_000,
            skew in -TOL..=TOL,
        ) {
            let header = sign_provider(&secret, t, &body);
            prop_assert_eq!(
                verify_provider(&[secret.as_slice()], &header, &body, t + skew, TOL),
                Ok(t)
            );
        }

        #[test]
        fn parser_never_panics_on_arbitrary_text(header in any::<String>()) {
            let _ = parse_provider_header(&header);
            let _ = verify_provider(&[b"k".as_slice()], &header, b"", 0, TOL);
        }

        #[test]
        fn parser_never_panics_on_header_like_text(
            header in "[tv01=, a-fA-F0-9xyz;-]{0,200}",
            now in any::<i64>(),
            tol in any::<i64>(),
        ) {
            let _ = parse_provider_header(&header);
            let _ = verify_provider(&[b"k".as_slice()], &header, b"", now, tol);
        }
    }
}
