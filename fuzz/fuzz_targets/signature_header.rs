//! Fuzz target for the webhook signature headers of `indox-webhooks`: the gateway's own
//! provider scheme (`X-Resemble-Signature: t=..,v1=<hex>`, `parse_provider_header` /
//! `verify_provider`) and Standard Webhooks (`webhook-signature: v1,<base64> ...`, `verify`,
//! `WebhookSecret::parse`).
//!
//! Input layout (text, split on `\n`): the first byte picks the scheme (`b % 2`; ASCII `'0'`
//! is the provider scheme, `'1'` Standard Webhooks), then
//!
//! - provider: `<header template>\n<body>`;
//! - Standard Webhooks: `<signature template>\n<webhook-id>\n<webhook-timestamp>\n<body>`.
//!
//! Templates may contain placeholders that the target replaces by the real MAC of this very
//! message, so the fuzzer can explore header syntax around a valid signature: `$A` and `$B`
//! (the two configured secrets), `$E` (an empty key, provider only), `$U` (`$A` upper-case,
//! provider only) and `$T` (the reference time, also in the timestamp field).
//!
//! Properties: a header that verifies re-verifies identically, its canonical re-serialization
//! verifies identically, it contains an entry equal to an independently computed HMAC of this
//! message, the timestamp is inside the window, and a tampered body or a foreign secret fails;
//! conversely a well-formed header that contains the right MAC inside the window verifies
//! (no false rejections); parse errors and verify errors agree; an empty secret never matches;
//! a secret that parses prints back to exactly the text it came from.

#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use indox_webhooks::resemble::MAX_HEADER_PARTS;
use indox_webhooks::standard::{MAX_SECRET_LEN, MAX_SIGNATURE_ENTRIES, MIN_SECRET_LEN};
use indox_webhooks::{
    parse_provider_header, sign, sign_provider, verify, verify_provider, WebhookError,
    WebhookSecret,
};
use libfuzzer_sys::fuzz_target;
use ring::hmac;

/// The reference "now" (2026-01-01T00:00:00Z) and tolerance used for every verification.
const NOW: i64 = 1_767_225_600;
const TOL: i64 = 300;

const PROVIDER_A: &[u8] = b"sim-shared-secret";
const PROVIDER_B: &[u8] = b"sim-shared-secret-rotated";
const STANDARD_A: &str = "whsec_aW5kb3hodWItZ2F0ZXdheS10ZXN0LXNlY3JldC0zMmI=";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        provider(&text);
    } else {
        standard(&text);
    }
});

/// HMAC-SHA256, computed here rather than through the crate under test.
fn mac(key: &[u8], content: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), content);
    tag.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn provider_content(t: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{t}.").into_bytes();
    content.extend_from_slice(body);
    content
}

// ---------------------------------------------------------------------------------------
// The provider scheme.

fn provider(text: &str) {
    let (template, body) = text.split_once('\n').unwrap_or((text, ""));
    let body = body.as_bytes();
    let template = template.replace("$T", &NOW.to_string());

    // The `t` the header will carry: parse it with placeholder-sized dummies in place.
    let dummy = "0".repeat(64);
    let probe = ["$A", "$B", "$E", "$U"]
        .iter()
        .fold(template.clone(), |acc, p| acc.replace(p, &dummy));
    let t = parse_provider_header(&probe)
        .map(|p| p.timestamp)
        .unwrap_or(NOW);
    let content = provider_content(t, body);
    let mac_a = mac(PROVIDER_A, &content);
    let mac_b = mac(PROVIDER_B, &content);
    let mac_e = mac(b"", &content);
    let header = template
        .replace("$A", &hex(&mac_a))
        .replace("$B", &hex(&mac_b))
        .replace("$E", &hex(&mac_e))
        .replace("$U", &hex(&mac_a).to_uppercase());

    let secrets: [&[u8]; 2] = [PROVIDER_A, PROVIDER_B];
    let parsed = parse_provider_header(&header);
    let result = verify_provider(&secrets, &header, body, NOW, TOL);

    // An empty key never verifies anything.
    assert!(
        verify_provider(&[b"".as_slice()], &header, body, NOW, TOL).is_err(),
        "{header:?} verified with an empty secret"
    );

    let parsed = match parsed {
        Err(err) => {
            assert!(
                matches!(
                    err,
                    WebhookError::MissingHeader(_) | WebhookError::InvalidHeader { .. }
                ),
                "parse error {err:?}"
            );
            assert_eq!(result, Err(err), "{header:?}: verify and parse disagree");
            return;
        }
        Ok(parsed) => parsed,
    };
    assert_eq!(parsed.timestamp, t, "{header:?}: the probe saw another t");
    assert!(parsed.timestamp >= 0, "t is unix seconds (digits only)");
    assert!(
        header.split(',').count() <= MAX_HEADER_PARTS,
        "{header:?}: parsed with too many parts"
    );

    // The canonical form parses to the same thing and verifies the same way.
    let mut canonical = format!("t={}", parsed.timestamp);
    for sig in &parsed.signatures {
        canonical.push_str(",v1=");
        canonical.push_str(&hex(sig));
    }
    assert_eq!(
        parse_provider_header(&canonical).as_ref(),
        Ok(&parsed),
        "{header:?}: canonical {canonical:?} parses differently"
    );
    assert_eq!(
        verify_provider(&secrets, &canonical, body, NOW, TOL),
        result,
        "{header:?} and its canonical form {canonical:?} verify differently"
    );

    let in_window = (i128::from(NOW) - i128::from(parsed.timestamp)).abs() <= i128::from(TOL);
    let has_a = parsed.signatures.contains(&mac_a);
    let has_b = parsed.signatures.contains(&mac_b);
    match &result {
        Ok(t) => {
            assert_eq!(*t, parsed.timestamp);
            assert!(in_window, "{header:?} verified outside the window");
            assert!(
                has_a || has_b,
                "{header:?} verified without the MAC of this message"
            );
            assert_eq!(
                verify_provider(&secrets, &header, body, NOW, TOL),
                result,
                "re-verification differs"
            );
            // Rotation: each secret alone accepts exactly when its own MAC is present.
            assert_eq!(
                verify_provider(&[PROVIDER_A], &header, body, NOW, TOL).is_ok(),
                has_a
            );
            assert_eq!(
                verify_provider(&[PROVIDER_B], &header, body, NOW, TOL).is_ok(),
                has_b
            );
            assert_eq!(
                verify_provider(&[b"foreign".as_slice()], &header, body, NOW, TOL),
                Err(WebhookError::NoValidSignature)
            );
            let mut tampered = body.to_vec();
            tampered.push(b'!');
            assert_eq!(
                verify_provider(&secrets, &header, &tampered, NOW, TOL),
                Err(WebhookError::NoValidSignature),
                "{header:?} also verifies a tampered body"
            );
            // Replayed later, or signed too far ahead.
            let late = parsed.timestamp + TOL + 1;
            assert_eq!(
                verify_provider(&secrets, &header, body, late, TOL),
                Err(WebhookError::TooOld)
            );
            let early = parsed.timestamp - TOL - 1;
            assert_eq!(
                verify_provider(&secrets, &header, body, early, TOL),
                Err(WebhookError::TooNew)
            );
        }
        Err(err) => {
            // No false rejection of a well-formed, timely, correctly signed header.
            assert!(
                !(in_window && (has_a || has_b)),
                "{header:?} carries the right MAC in the window but failed: {err:?}"
            );
            let expected = if in_window {
                WebhookError::NoValidSignature
            } else if parsed.timestamp < NOW {
                WebhookError::TooOld
            } else {
                WebhookError::TooNew
            };
            assert_eq!(err, &expected, "{header:?}");
        }
    }

    // Signing at this `t` always verifies.
    let signed = sign_provider(PROVIDER_A, t, body);
    assert_eq!(
        verify_provider(&[PROVIDER_A], &signed, body, t, 0),
        Ok(t),
        "sign_provider output {signed:?} does not verify"
    );
}

// ---------------------------------------------------------------------------------------
// Standard Webhooks.

fn standard_content(msg_id: &str, t: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{t}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// Unix seconds as the spec writes them: ASCII digits only (surrounding whitespace trimmed).
fn timestamp_of(header: &str) -> Option<i64> {
    let text = header.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn standard(text: &str) {
    let mut fields = text.splitn(4, '\n');
    let template = fields.next().unwrap_or_default();
    let msg_id = fields.next().unwrap_or_default();
    let ts_header = fields
        .next()
        .unwrap_or_default()
        .replace("$T", &NOW.to_string());
    let body = fields.next().unwrap_or_default().as_bytes();

    // Secret parsing is strict: what parses prints back to the very same text.
    for candidate in [msg_id, template] {
        if let Ok(secret) = WebhookSecret::parse(candidate) {
            assert_eq!(secret.to_whsec_string(), candidate);
            assert!((MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.expose_bytes().len()));
        }
    }

    let secret_a = WebhookSecret::parse(STANDARD_A).expect("the reference secret parses");
    let secret_b = WebhookSecret::from_bytes(&[0x42; 32]).expect("32 bytes is a valid length");
    let t = timestamp_of(&ts_header);
    let content = standard_content(msg_id, t.unwrap_or(NOW), body);
    let mac_a = mac(secret_a.expose_bytes(), &content);
    let mac_b = mac(secret_b.expose_bytes(), &content);
    let header = template
        .replace("$A", &B64.encode(mac_a))
        .replace("$B", &B64.encode(mac_b));

    let secrets = [secret_a.clone(), secret_b.clone()];
    let run = |secrets: &[WebhookSecret], body: &[u8], now: i64| {
        verify(secrets, msg_id, &ts_header, &header, body, now, TOL)
    };
    let result = run(&secrets, body, NOW);

    // The documented order of checks.
    let entries: Vec<&str> = header.split_ascii_whitespace().collect();
    let expected_early = if msg_id.is_empty() {
        Some(WebhookError::MissingHeader("webhook-id"))
    } else if ts_header.trim().is_empty() {
        Some(WebhookError::MissingHeader("webhook-timestamp"))
    } else if header.trim().is_empty() {
        Some(WebhookError::MissingHeader("webhook-signature"))
    } else {
        None
    };
    if let Some(expected) = expected_early {
        assert_eq!(result, Err(expected));
        return;
    }
    let Some(t) = t else {
        assert!(
            matches!(
                result,
                Err(WebhookError::InvalidHeader {
                    header: "webhook-timestamp",
                    ..
                })
            ),
            "{ts_header:?} is not unix seconds but verify said {result:?}"
        );
        return;
    };
    let age = i128::from(NOW) - i128::from(t);
    if age > i128::from(TOL) {
        assert_eq!(result, Err(WebhookError::TooOld));
        return;
    }
    if -age > i128::from(TOL) {
        assert_eq!(result, Err(WebhookError::TooNew));
        return;
    }
    if entries.len() > MAX_SIGNATURE_ENTRIES {
        assert!(
            matches!(
                result,
                Err(WebhookError::InvalidHeader {
                    header: "webhook-signature",
                    ..
                })
            ),
            "{} entries but verify said {result:?}",
            entries.len()
        );
        return;
    }
    let decoded: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|e| e.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
        .collect();
    let has_a = decoded.iter().any(|d| d[..] == mac_a[..]);
    let has_b = decoded.iter().any(|d| d[..] == mac_b[..]);
    assert_eq!(
        result.is_ok(),
        has_a || has_b,
        "{header:?}: verify said {result:?}, MAC of A present {has_a}, of B {has_b}"
    );
    if result.is_err() {
        assert_eq!(result, Err(WebhookError::NoValidSignature));
        return;
    }

    // It verifies: again, identically; per secret exactly when its MAC is there; not with
    // a foreign secret; not for a tampered body or id; canonical signatures verify too.
    assert_eq!(run(&secrets, body, NOW), result, "re-verification differs");
    assert_eq!(
        run(std::slice::from_ref(&secret_a), body, NOW).is_ok(),
        has_a
    );
    assert_eq!(
        run(std::slice::from_ref(&secret_b), body, NOW).is_ok(),
        has_b
    );
    let foreign = WebhookSecret::from_bytes(&[0x17; 24]).expect("24 bytes is a valid length");
    assert_eq!(
        run(&[foreign], body, NOW),
        Err(WebhookError::NoValidSignature)
    );
    let mut tampered = body.to_vec();
    tampered.push(b'!');
    assert_eq!(
        run(&secrets, &tampered, NOW),
        Err(WebhookError::NoValidSignature),
        "{header:?} also verifies a tampered body"
    );
    let other_id = format!("{msg_id}x");
    assert_eq!(
        verify(&secrets, &other_id, &ts_header, &header, body, NOW, TOL),
        Err(WebhookError::NoValidSignature),
        "{header:?} also verifies another webhook-id"
    );
    let canonical = sign(&secret_a, msg_id, t, body);
    assert_eq!(canonical, format!("v1,{}", B64.encode(mac_a)));
    assert_eq!(
        verify(&secrets, msg_id, &t.to_string(), &canonical, body, NOW, TOL),
        Ok(())
    );
}
