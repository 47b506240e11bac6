//! The API key format, its generation, hashing and constant-time verification.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::AccountError;

/// The prefix every IndoxHub API key starts with.
pub const KEY_PREFIX: &str = "ixk";
const KEY_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// The SHA-256 of a key secret; the only form in which secrets are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl SecretHash {
    /// Hashes a secret.
    pub fn of(secret: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// Builds a hash from stored bytes; `None` if the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// Compares two hashes without a data-dependent early exit.
    pub fn ct_eq(&self, other: &SecretHash) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        // `black_box` keeps the optimiser from turning the fold back into an early exit.
        std::hint::black_box(diff) == 0
    }
}

/// A key as presented by a caller: its public id and its secret part.
/// The secret is never printed by `Debug`.
#[derive(Clone)]
pub struct ApiKey {
    key_id: String,
    secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Parses `ixk_<key id>_<secret>`.
    ///
    /// # Errors
    /// Returns [`AccountError::MalformedKey`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let mut parts = raw.splitn(3, '_');
        let (Some(prefix), Some(id), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AccountError::MalformedKey);
        };
        let id_ok = id.len() == KEY_ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let secret_ok = (20..=128).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if prefix != KEY_PREFIX || !id_ok || !secret_ok {
            return Err(AccountError::MalformedKey);
        }
        Ok(Self {
            key_id: id.to_ascii_lowercase(),
            secret: secret.to_owned(),
        })
    }

    /// The public lookup handle.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether this key's secret hashes to `stored`, compared in constant time.
    pub fn matches(&self, stored: &SecretHash) -> bool {
        SecretHash::of(&self.secret).ct_eq(stored)
    }
}

/// A newly generated key. The plaintext is shown to the user once and never stored.
pub struct GeneratedKey {
    key_id: String,
    plaintext: String,
    hash: SecretHash,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// Generates a key from the operating system's secure random source.
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let mut id = [0u8; KEY_ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        // `SystemRandom::fill` only fails when the OS has no entropy source at all;
        // falling back to a weaker source would be worse than refusing, so we retry.
        while rng.fill(&mut id).is_err() || rng.fill(&mut secret).is_err() {
            std::thread::yield_now();
        }
        let key_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let hash = SecretHash::of(&secret);
        Self {
            plaintext: format!("{KEY_PREFIX}_{key_id}_{secret}"),
            key_id,
            hash,
        }
    }

    /// The public id (safe to log).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The full key, to hand to the user once.
    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }

    /// The hash to store.
    pub fn secret_hash(&self) -> &SecretHash {
        &self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match() {
        let k = GeneratedKey::generate();
        let parsed = ApiKey::parse(k.plaintext()).unwrap();
        assert_eq!(parsed.key_id(), k.key_id());
        assert!(parsed.matches(k.secret_hash()));
        let other = GeneratedKey::generate();
        assert!(!parsed.matches(other.secret_hash()));
        assert_ne!(k.plaintext(), other.plaintext());
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in [
            "",
            "ixk",
            "ixk_abc_def",
            "sk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ixk_0123456789abcdeg_aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ixk_0123456789abcdef_short",
            "ixk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaa aaaaaaa",
        ] {
            assert!(
                matches!(ApiKey::parse(bad), Err(AccountError::MalformedKey)),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let k = GeneratedKey::generate();
        let secret = k.plaintext().rsplit('_').next().unwrap().to_owned();
        assert!(!format!("{k:?}").contains(&secret));
        let parsed = ApiKey::parse(k.plaintext()).unwrap();
        assert!(!format!("{parsed:?}").contains(&secret));
    }

    #[test]
    fn ct_eq_compares_every_byte() {
        let a = SecretHash([7; 32]);
        let mut b = a.clone();
        assert!(a.ct_eq(&b));
        b.0[31] ^= 1;
        assert!(!a.ct_eq(&b));
    }
}
