//! Tokens from an integrator's identity provider: RS256 or ES256 JWTs (or
//! HS256 with a shared secret, as an `oct` key), verified against the keys of
//! a local JWKS file, by `kid`.
//!
//! Key rotation: when a token names a `kid` we do not know, the file is read
//! again (at most once every few seconds, so a flood of made-up kids cannot
//! turn into a flood of reads), and a provider that publishes its next key in
//! the file before signing with it is followed without a restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::Error;

/// The shortest time between two reads of the JWKS file.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Who the provider says the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider (`iss`).
    pub issuer: String,
    /// The user at the provider (`sub`).
    pub subject: String,
    /// The `email` claim, if any.
    pub email: Option<String>,
    /// The `name` claim, if any.
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    name: Option<String>,
}

/// A configured identity provider.
pub struct IdentityProvider {
    issuer: String,
    audience: String,
    jwks_file: PathBuf,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    last_read: Mutex<Option<Instant>>,
}

impl IdentityProvider {
    /// Reads the JWKS file once, so a misconfiguration fails at start.
    ///
    /// # Errors
    /// `INTERNAL` when the file cannot be read or holds no usable key.
    pub fn new(issuer: &str, audience: &str, jwks_file: PathBuf) -> Result<Self, Error> {
        let provider = Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_file,
            keys: RwLock::new(HashMap::new()),
            last_read: Mutex::new(None),
        };
        provider.reload()?;
        if provider.keys.read().map_or(true, |keys| keys.is_empty()) {
            return Err(Error::internal(
                "the identity provider's JWKS file has no RS256, ES256 or HS256 key with a kid",
            ));
        }
        // The first unknown kid may reload at once.
        if let Ok(mut last_read) = provider.last_read.lock() {
            *last_read = None;
        }
        Ok(provider)
    }

    fn reload(&self) -> Result<(), Error> {
        if let Ok(mut last_read) = self.last_read.lock() {
            if last_read.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return Ok(());
            }
            *last_read = Some(Instant::now());
        }
        let text = std::fs::read_to_string(&self.jwks_file).map_err(Error::internal)?;
        let set: JwkSet = serde_json::from_str(&text).map_err(Error::internal)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let algorithm = match jwk.common.key_algorithm {
                Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                Some(KeyAlgorithm::ES256) => Algorithm::ES256,
                // A shared secret ("oct" key), when the provider uses one.
                Some(KeyAlgorithm::HS256) => Algorithm::HS256,
                // Keys for other algorithms (or none stated) are not used:
                // the algorithm is pinned per key, never taken from a token.
                _ => continue,
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            keys.insert(kid, (key, algorithm));
        }
        if let Ok(mut current) = self.keys.write() {
            *current = keys;
        }
        Ok(())
    }

    /// Whether a token is meant for the provider rather than for Chatshop's
    /// own verifier: it names a key (`kid`; Chatshop's own tokens never do)
    /// or uses an asymmetric algorithm (which Chatshop itself never signs with).
    pub fn claims_token(header: &jsonwebtoken::Header) -> bool {
        header.kid.is_some() || matches!(header.alg, Algorithm::RS256 | Algorithm::ES256)
    }

    /// Verifies a token from the provider.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for an unknown `kid`, an algorithm other than the
    /// key's, a bad signature, the wrong issuer or audience, or expiry.
    pub fn verify(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
    ) -> Result<ExternalIdentity, Error> {
        let kid = header.kid.as_deref().ok_or(Error::Unauthenticated)?;
        let known = |kid: &str| {
            self.keys
                .read()
                .ok()
                .and_then(|keys| keys.get(kid).cloned())
        };
        let (key, algorithm) = match known(kid) {
            Some(found) => found,
            None => {
                // Perhaps the provider rotated its keys.
                self.reload().map_err(|err| {
                    tracing::warn!(error = %err, "could not reload the identity provider's keys");
                    Error::Unauthenticated
                })?;
                known(kid).ok_or(Error::Unauthenticated)?
            }
        };
        if header.alg != algorithm {
            return Err(Error::Unauthenticated);
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|_| Error::Unauthenticated)?;
        if data.claims.sub.is_empty() || data.claims.sub.len() > 512 {
            return Err(Error::Unauthenticated);
        }
        Ok(ExternalIdentity {
            issuer: self.issuer.clone(),
            subject: data.claims.sub,
            email: data.claims.email,
            name: data.claims.name,
        })
    }
}
