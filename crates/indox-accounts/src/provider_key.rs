//! Bring-your-own-key: an account's own Resemble API key, sealed with AES-256-GCM under the
//! gateway's secrets key before it is stored (it must be usable, so it cannot be hashed),
//! bound to its account, never printed; and the port where sealed keys are kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use indox_core::AccountId;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::AccountError;

/// Shortest and longest key accepted.
const KEY_LEN: std::ops::RangeInclusive<usize> = 16..=256;

/// A provider API key in clear; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderKey(String);

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProviderKey(…{})", self.hint())
    }
}

impl ProviderKey {
    /// Validates a key as given by a user: visible ASCII, 16 to 256 characters.
    ///
    /// # Errors
    /// [`AccountError::InvalidProviderKey`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let k = raw.trim();
        if !KEY_LEN.contains(&k.len()) || !k.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AccountError::InvalidProviderKey(
                "must be your Resemble API key: 16 to 256 visible ASCII characters".into(),
            ));
        }
        Ok(Self(k.to_owned()))
    }

    /// The key itself, to put in the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, for display.
    pub fn hint(&self) -> String {
        let n = self.0.len();
        self.0
            .get(n.saturating_sub(4)..)
            .unwrap_or_default()
            .to_owned()
    }
}

/// Seals and opens provider keys with the gateway's 32-byte secrets key.
pub struct KeySealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySealer(..)")
    }
}

impl KeySealer {
    /// A sealer from the 32-byte secrets key.
    ///
    /// # Errors
    /// [`AccountError::InvalidProviderKey`] when the secrets key is not 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, AccountError> {
        let unbound = UnboundKey::new(&AES_256_GCM, secret).map_err(|_| {
            AccountError::InvalidProviderKey("the secrets key must be 32 bytes".into())
        })?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// `nonce ‖ ciphertext ‖ tag`, with the account id as associated data so a sealed key
    /// only opens for the account it was sealed for.
    ///
    /// # Errors
    /// [`AccountError::Store`] when the system's random source fails.
    pub fn seal(&self, account: AccountId, key: &ProviderKey) -> Result<Vec<u8>, AccountError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| AccountError::Store("no randomness for a nonce".into()))?;
        let mut data = key.0.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(account.0.as_bytes()),
                &mut data,
            )
            .map_err(|_| AccountError::Store("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Opens what [`KeySealer::seal`] produced for `account`.
    ///
    /// # Errors
    /// [`AccountError::Store`] when the bytes were not sealed by this secrets key for this
    /// account (tampered, swapped between accounts, or the secrets key changed).
    pub fn open(&self, account: AccountId, sealed: &[u8]) -> Result<ProviderKey, AccountError> {
        let broken = || AccountError::Store("a stored provider key does not open".into());
        if sealed.len() < NONCE_LEN {
            return Err(broken());
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| broken())?;
        let mut data = rest.to_vec();
        let clear = self
            .key
            .open_in_place(nonce, Aad::from(account.0.as_bytes()), &mut data)
            .map_err(|_| broken())?;
        String::from_utf8(clear.to_vec())
            .map(ProviderKey)
            .map_err(|_| broken())
    }
}

/// A sealed key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProviderKey {
    pub sealed: Vec<u8>,
    pub hint: String,
    pub created_at: DateTime<Utc>,
}

/// Where sealed provider keys are kept.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProviderKeyStore: Send + Sync {
    /// Stores (or replaces) the account's sealed key.
    async fn put_provider_key(
        &self,
        account: AccountId,
        sealed: Vec<u8>,
        hint: String,
    ) -> Result<(), AccountError>;

    /// The account's sealed key, if any.
    async fn provider_key(
        &self,
        account: AccountId,
    ) -> Result<Option<StoredProviderKey>, AccountError>;

    /// Removes the account's key; `false` when there was none.
    async fn delete_provider_key(&self, account: AccountId) -> Result<bool, AccountError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> KeySealer {
        KeySealer::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_for_its_account_only() {
        let s = sealer();
        let a = AccountId(uuid::Uuid::from_u128(1));
        let b = AccountId(uuid::Uuid::from_u128(2));
        let key = ProviderKey::parse("  rsmbl_live_0123456789abcdef ").unwrap();
        assert_eq!(key.expose(), "rsmbl_live_0123456789abcdef");
        let sealed = s.seal(a, &key).unwrap();
        assert!(
            !sealed.windows(8).any(|w| w == b"rsmbl_li"),
            "the key is not in clear"
        );
        assert_eq!(s.open(a, &sealed).unwrap(), key);
        assert!(s.open(b, &sealed).is_err(), "swapped between accounts");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(s.open(a, &tampered).is_err());
        let other = KeySealer::new(&[8u8; 32]).unwrap();
        assert!(other.open(a, &sealed).is_err(), "another secrets key");
        // Two seals of the same key differ (fresh nonces).
        assert_ne!(s.seal(a, &key).unwrap(), sealed);
    }

    #[test]
    fn keys_are_validated_and_never_printed() {
        assert!(ProviderKey::parse("short").is_err());
        assert!(ProviderKey::parse("has spaces in the middle of it").is_err());
        let k = ProviderKey::parse("abcdefghijklmnopWXYZ").unwrap();
        assert_eq!(k.hint(), "WXYZ");
        assert_eq!(format!("{k:?}"), "ProviderKey(…WXYZ)");
        assert!(KeySealer::new(&[0u8; 16]).is_err());
    }
}
