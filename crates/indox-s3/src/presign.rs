//! AWS Signature Version 4 query-string presigning for GET, done locally with `ring`:
//! no await, no allocation-heavy URL machinery, so it stays cheap on the request path.
//! (The object operations themselves go through rust-s3.)

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use ring::{digest, hmac};

/// Everything needed to sign for one bucket.
#[derive(Clone)]
pub(crate) struct Presigner {
    /// `http` or `https`.
    scheme: String,
    /// `host[:port]` exactly as a client will send it in `Host`.
    host: String,
    /// Path prefix before the key: `/<bucket>` (path style) or empty (virtual-host style).
    path_prefix: String,
    region: String,
    access_key: String,
    secret_key: String,
}

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presigner")
            .field("host", &self.host)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes per SigV4: unreserved characters stay, everything else is `%XX`;
/// `/` stays only when `keep_slash` (object paths).
fn uri_encode(s: &str, keep_slash: bool, out: &mut String) {
    for b in s.bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

impl Presigner {
    /// A presigner for `endpoint` (e.g. `http://127.0.0.1:9000`) and `bucket`.
    pub(crate) fn new(
        endpoint: &str,
        bucket: &str,
        path_style: bool,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Option<Self> {
        let (scheme, rest) = endpoint.trim_end_matches('/').split_once("://")?;
        let authority = rest.split('/').next()?.to_owned();
        if authority.is_empty() || !(scheme == "http" || scheme == "https") {
            return None;
        }
        let (host, path_prefix) = if path_style {
            (authority, format!("/{bucket}"))
        } else {
            (format!("{bucket}.{authority}"), String::new())
        };
        Some(Self {
            scheme: scheme.to_owned(),
            host,
            path_prefix,
            region: region.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    /// A presigned GET URL for `key`, signed at `now`, valid for `expires_secs`.
    pub(crate) fn presign_get(&self, key: &str, expires_secs: u32, now: DateTime<Utc>) -> String {
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.region);

        let mut path = String::with_capacity(self.path_prefix.len() + key.len() + 8);
        path.push_str(&self.path_prefix);
        path.push('/');
        uri_encode(key, true, &mut path);

        let mut credential = String::new();
        uri_encode(
            &format!("{}/{scope}", self.access_key),
            false,
            &mut credential,
        );
        // Parameters in byte order of their names, as the canonical query requires.
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={amz_date}&X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders=host"
        );
        let canonical = format!(
            "GET\n{path}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
            self.host
        );
        let hashed = hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashed}");

        let k_date = hmac_sha256(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac_sha256(k_date.as_ref(), self.region.as_bytes());
        let k_service = hmac_sha256(k_region.as_ref(), b"s3");
        let k_signing = hmac_sha256(k_service.as_ref(), b"aws4_request");
        let signature = hex(hmac_sha256(k_signing.as_ref(), string_to_sign.as_bytes()).as_ref());

        format!(
            "{}://{}{path}?{query}&X-Amz-Signature={signature}",
            self.scheme, self.host
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_aws_documentation_example() {
        // The presigned-URL example of the SigV4 documentation ("Authenticating Requests:
        // Using Query Parameters"): GET /test.txt from examplebucket, us-east-1, 86400 s.
        let p = Presigner::new(
            "https://s3.amazonaws.com",
            "examplebucket",
            false,
            "us-east-1",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .unwrap();
        let at = DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let url = p.presign_get("test.txt", 86_400, at);
        assert!(url.starts_with(
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        ));
        assert!(
            url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{url}"
        );
    }

    #[test]
    fn encodes_keys_but_keeps_slashes() {
        let mut out = String::new();
        uri_encode("tts-output/a b/ü+x.mp3", true, &mut out);
        assert_eq!(out, "tts-output/a%20b/%C3%BC%2Bx.mp3");
        let mut out = String::new();
        uri_encode("AK/2026", false, &mut out);
        assert_eq!(out, "AK%2F2026");
    }
}
