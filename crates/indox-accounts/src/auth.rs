//! Authentication: from an `Authorization` header to the calling account.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::key::{ApiKey, GeneratedKey};
use crate::ports::{Account, AccountRepository};
use crate::AccountError;

/// Who is calling, as established by a valid key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub account: Account,
}

/// Checks keys against the repository and manages accounts.
#[derive(Clone)]
pub struct Authenticator {
    repo: Arc<dyn AccountRepository>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

/// Extracts the key from `Bearer <key>` (scheme case-insensitive).
///
/// # Errors
/// [`AccountError::MissingCredentials`] when the header is absent or of another scheme.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AccountError> {
    let header = header.ok_or(AccountError::MissingCredentials)?.trim();
    let (scheme, token) = header
        .split_once(' ')
        .ok_or(AccountError::MissingCredentials)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AccountError::MissingCredentials);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AccountError::MissingCredentials);
    }
    Ok(token)
}

impl Authenticator {
    /// Wraps a repository.
    pub fn new(repo: Arc<dyn AccountRepository>) -> Self {
        Self { repo }
    }

    /// The repository, for admin operations.
    pub fn repository(&self) -> &Arc<dyn AccountRepository> {
        &self.repo
    }

    /// Authenticates an `Authorization` header value.
    ///
    /// # Errors
    /// `MissingCredentials`, `MalformedKey`, `UnknownKey` or `RevokedKey` for a caller problem
    /// (all map to 401), `Store` when the repository fails.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AccountError> {
        let key = ApiKey::parse(bearer_token(header)?)?;
        let stored = self
            .repo
            .find_key(key.key_id())
            .await?
            .ok_or(AccountError::UnknownKey)?;
        // The hash comparison runs whether or not the key is revoked, so timing does not
        // tell a revoked key from a wrong secret.
        let secret_ok = key.matches(&stored.secret_hash);
        if !secret_ok {
            return Err(AccountError::UnknownKey);
        }
        if stored.revoked {
            return Err(AccountError::RevokedKey);
        }
        Ok(Principal {
            key_id: stored.key_id,
            account: stored.account,
        })
    }

    /// Creates a key for an account and returns it; the plaintext is not kept anywhere.
    pub async fn issue_key(
        &self,
        account: indox_core::AccountId,
        label: &str,
    ) -> Result<GeneratedKey, AccountError> {
        let key = GeneratedKey::generate();
        self.repo
            .create_key(account, key.key_id(), key.secret_hash(), label)
            .await?;
        Ok(key)
    }

    /// Tops an account up.
    ///
    /// # Errors
    /// [`AccountError::NonPositiveAmount`] for zero or negative amounts.
    pub async fn top_up(
        &self,
        account: indox_core::AccountId,
        amount: Decimal,
        note: &str,
    ) -> Result<Account, AccountError> {
        if amount <= Decimal::ZERO {
            return Err(AccountError::NonPositiveAmount);
        }
        self.repo.top_up(account, amount, note).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockAccountRepository, StoredKey};
    use chrono::Utc;
    use indox_core::AccountId;

    fn account() -> Account {
        Account {
            id: AccountId::new(),
            name: "acme".into(),
            balance: Decimal::new(1000, 2),
            held: Decimal::ZERO,
            markup_rate: None,
            created_at: Utc::now(),
            byok: false,
        }
    }

    fn repo_with(key: &GeneratedKey, revoked: bool) -> MockAccountRepository {
        let stored = StoredKey {
            key_id: key.key_id().to_owned(),
            secret_hash: key.secret_hash().clone(),
            revoked,
            account: account(),
        };
        let id = key.key_id().to_owned();
        let mut repo = MockAccountRepository::new();
        repo.expect_find_key()
            .returning(move |k| Ok(if k == id { Some(stored.clone()) } else { None }));
        repo
    }

    #[tokio::test]
    async fn valid_key_authenticates() {
        let key = GeneratedKey::generate();
        let auth = Authenticator::new(Arc::new(repo_with(&key, false)));
        let header = format!("Bearer {}", key.plaintext());
        let p = auth.authenticate(Some(&header)).await.unwrap();
        assert_eq!(p.key_id, key.key_id());
        assert_eq!(p.account.name, "acme");
    }

    #[tokio::test]
    async fn revoked_unknown_and_missing_keys_fail() {
        let key = GeneratedKey::generate();
        let auth = Authenticator::new(Arc::new(repo_with(&key, true)));
        let header = format!("Bearer {}", key.plaintext());
        assert!(matches!(
            auth.authenticate(Some(&header)).await,
            Err(AccountError::RevokedKey)
        ));

        let other = GeneratedKey::generate();
        let header = format!("Bearer {}", other.plaintext());
        assert!(matches!(
            auth.authenticate(Some(&header)).await,
            Err(AccountError::UnknownKey)
        ));

        // Right id, wrong secret.
        let forged = format!("Bearer ixk_{}_{}", key.key_id(), "A".repeat(43));
        assert!(matches!(
            auth.authenticate(Some(&forged)).await,
            Err(AccountError::UnknownKey)
        ));

        assert!(matches!(
            auth.authenticate(None).await,
            Err(AccountError::MissingCredentials)
        ));
        assert!(matches!(
            auth.authenticate(Some("Basic abc")).await,
            Err(AccountError::MissingCredentials)
        ));
    }

    #[tokio::test]
    async fn top_up_rejects_non_positive_amounts_without_touching_storage() {
        let repo = MockAccountRepository::new(); // any call would panic: no expectations
        let auth = Authenticator::new(Arc::new(repo));
        let r = auth.top_up(AccountId::new(), Decimal::ZERO, "x").await;
        assert!(matches!(r, Err(AccountError::NonPositiveAmount)));
    }
}
