//! Password hashing with argon2id at OWASP's recommended parameters
//! (m = 19 MiB, t = 2, p = 1: the argon2 crate's defaults).
//!
//! A hash costs ~15 ms of CPU and 19 MiB, so it runs on the blocking pool,
//! never on the async runtime, and behind a semaphore so that a burst of
//! sign-ins queues instead of exhausting memory.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use tokio::sync::Semaphore;

use crate::Error;

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the account
    /// does not exist, so that "unknown email" and "wrong password" take the
    /// same time and cannot be told apart.
    decoy_hash: Arc<String>,
}

impl PasswordHasher {
    /// Allows `concurrency` hashes at a time.
    pub async fn new(concurrency: usize) -> Result<Self, Error> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let decoy = uuid::Uuid::new_v4().to_string();
        let decoy_hash = tokio::task::spawn_blocking(move || hash_now(&decoy)).await??;
        Ok(Self {
            permits,
            decoy_hash: Arc::new(decoy_hash),
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, Error> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_now(&password)).await?
    }

    /// Checks a password against a stored hash; with `None` (no such account)
    /// it checks against the decoy and returns `false`.
    pub async fn verify(&self, password: &str, stored_hash: Option<&str>) -> Result<bool, Error> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let known = stored_hash.is_some();
        let hash = stored_hash.map_or_else(|| self.decoy_hash.as_str().to_owned(), str::to_owned);
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| Error::internal(e.to_string()))?;
            Ok::<_, Error>(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await??;
        Ok(known && matches)
    }
}

fn hash_now(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(2).await.unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse battery", Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse battery", Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(1).await.unwrap();
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }
}
