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

/// The hash of a random password nobody kept, at the parameters new hashes
/// get: verified against when the account does not exist, so that "unknown
/// email" and "wrong password" take the same time and cannot be told apart.
/// A constant rather than a hash made at start-up: a hash frees a 19 MiB
/// work area, which an allocator may hand out again before it returns it
/// to the system (the server's, mimalloc, does), and a server that hashed
/// as it started held 10 MiB more for as long as it ran.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$deVNS1hxzaz7gTTha2YntQ$kjS8FHYkXJrcbysji7oUIqq0e0WYzPhMQ4SIJNuhC3s";

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    /// Allows `concurrency` hashes at a time.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
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
        let hash = stored_hash.unwrap_or(DECOY_HASH).to_owned();
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
        let hasher = PasswordHasher::new(2);
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
        let hasher = PasswordHasher::new(1);
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }

    #[test]
    fn the_decoy_costs_what_a_real_hash_costs() {
        // Verifying against the decoy must take as long as against any
        // account's hash: same algorithm, version and parameters.
        let decoy = PasswordHash::new(DECOY_HASH).unwrap();
        let fresh = hash_now("correct horse battery").unwrap();
        let fresh = PasswordHash::new(&fresh).unwrap();
        assert_eq!(decoy.algorithm, fresh.algorithm);
        assert_eq!(decoy.version, fresh.version);
        assert_eq!(decoy.params, fresh.params);
        assert_eq!(
            decoy.hash.map(|output| output.len()),
            fresh.hash.map(|output| output.len())
        );
    }
}
