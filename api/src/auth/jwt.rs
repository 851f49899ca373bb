//! Access tokens: HS256 JWTs with `sub`, `iat`, `exp`, `iss` and `aud`.
//!
//! The algorithm is pinned: a token whose header names another algorithm
//! (including `none`) is refused before its signature is even looked at.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::identity_provider::{ExternalIdentity, IdentityProvider};
use crate::Error;
use crate::services::Remembered;

/// Shortest accepted signing secret: HS256 wants at least 256 bits of key.
pub const MIN_SECRET_BYTES: usize = 32;

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
    identity_provider: Option<std::sync::Arc<IdentityProvider>>,
    verified: Arc<VerifiedTokens>,
}

/// Our own tokens verified lately, by their text, with their subject and
/// expiry. A client presents the same token with every request until it
/// expires, and decoding and checking it each time took ≈ 6 % of the
/// server's CPU time for a sent message. A token found here passed every
/// check but the clock's, which it passes again on each use; a token that
/// differs by one character is not found.
type VerifiedTokens = Remembered<Box<str>, (Uuid, u64)>;

/// Most tokens remembered at once (a few hundred bytes each).
const REMEMBERED_TOKENS: usize = 4_096;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| now.as_secs())
}

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// A Chatshop user (our own token).
    User(Uuid),
    /// A user of the integrator's identity provider.
    External(ExternalIdentity),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
}

/// A freshly issued token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Expiry, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl TokenKeys {
    /// Builds the keys from a secret of at least [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Result<Self, Error> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::internal(format!(
                "the token secret must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Small clock drift between instances is tolerated, nothing more.
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            identity_provider: None,
            verified: Arc::new(Remembered::with_limit(REMEMBERED_TOKENS)),
        })
    }

    /// Also accepts tokens from an integrator's identity provider.
    pub fn with_identity_provider(mut self, provider: IdentityProvider) -> Self {
        self.identity_provider = Some(std::sync::Arc::new(provider));
        self
    }

    /// Verifies a bearer token: our own (HS256), or one of the identity
    /// provider's (RS256/ES256, by `kid`) when one is configured. The header
    /// decides which verifier looks at it, and each verifier pins its own
    /// algorithms, so neither can be tricked into the other's.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for any fault.
    pub fn verify_any(&self, token: &str) -> Result<Verified, Error> {
        let now = now_secs();
        if let Some(subject) = self.remembered_subject(token, now) {
            return subject.map(Verified::User);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthenticated)?;
        if IdentityProvider::claims_token(&header) {
            let provider = self
                .identity_provider
                .as_ref()
                .ok_or(Error::Unauthenticated)?;
            return provider.verify(token, &header).map(Verified::External);
        }
        self.verify_signed(token).map(Verified::User)
    }

    /// [`Self::verify_any`] on an `Authorization` header (`Bearer <token>`).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for any fault.
    pub fn verify_any_header(&self, header: &str) -> Result<Verified, Error> {
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or(Error::Unauthenticated)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthenticated);
        }
        self.verify_any(token.trim())
    }

    /// Issues a token for a user.
    pub fn issue(&self, user_id: Uuid) -> Result<IssuedToken, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(Error::internal)?;
        self.issue_at(user_id, now.as_secs())
    }

    fn issue_at(&self, user_id: Uuid, now_secs: u64) -> Result<IssuedToken, Error> {
        let expires_at = now_secs.saturating_add(self.ttl.as_secs());
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now_secs,
            exp: expires_at,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::internal)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// The subject of a token verified before, if it is remembered: an
    /// error once it has expired by `now`, and it is forgotten.
    fn remembered_subject(&self, token: &str, now: u64) -> Option<Result<Uuid, Error>> {
        let ((subject, expires_at), _) = self.verified.get(token)?;
        if expires_at.saturating_add(self.validation.leeway) >= now {
            Some(Ok(subject))
        } else {
            self.verified.forget(token);
            Some(Err(Error::Unauthenticated))
        }
    }

    /// Checks our own token's signature and claims, and remembers it.
    fn verify_signed(&self, token: &str) -> Result<Uuid, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::Unauthenticated)?;
        let id = Uuid::try_parse(&data.claims.sub).map_err(|_| Error::Unauthenticated)?;
        self.verified.remember(token.into(), (id, data.claims.exp));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::new(
            SECRET,
            "chatshop",
            "chatshop-api",
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    #[test]
    fn a_signed_token_verifies() {
        let user = Uuid::now_v7();
        let issued = keys().issue(user).unwrap();
        assert_eq!(
            keys().verify_any(&issued.token).unwrap(),
            Verified::User(user)
        );
        assert_eq!(
            keys()
                .verify_any_header(&format!("Bearer {}", issued.token))
                .unwrap(),
            Verified::User(user)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let issued = keys().issue_at(Uuid::now_v7(), 1_000).unwrap();
        assert!(matches!(
            keys().verify_any(&issued.token),
            Err(Error::Unauthenticated)
        ));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = TokenKeys::new(
            b"another-secret-another-secret-xx",
            "chatshop",
            "chatshop-api",
            Duration::from_secs(60),
        )
        .unwrap();
        let issued = other.issue(Uuid::now_v7()).unwrap();
        assert!(keys().verify_any(&issued.token).is_err());
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_refused() {
        for (iss, aud) in [("chatshop", "someone-else"), ("evil", "chatshop-api")] {
            let other = TokenKeys::new(SECRET, iss, aud, Duration::from_secs(60)).unwrap();
            let issued = other.issue(Uuid::now_v7()).unwrap();
            assert!(keys().verify_any(&issued.token).is_err(), "{iss} {aud}");
        }
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","iat":1,"exp":99999999999,"iss":"chatshop","aud":"chatshop-api"}}"#,
            Uuid::now_v7()
        ));
        assert!(keys().verify_any(&format!("{header}.{claims}.")).is_err());
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_changed_one_is_checked_again() {
        let keys = keys();
        let user = Uuid::now_v7();
        let issued = keys.issue(user).unwrap();
        assert_eq!(
            keys.verify_any(&issued.token).unwrap(),
            Verified::User(user)
        );
        // Remembered: valid until its expiry (and the leeway), not after.
        let leeway = keys.validation.leeway;
        let subject = |now| keys.remembered_subject(&issued.token, now);
        assert!(matches!(subject(issued.expires_at), Some(Ok(id)) if id == user));
        assert!(matches!(
            subject(issued.expires_at + leeway + 1),
            Some(Err(Error::Unauthenticated))
        ));
        // Refused once is forgotten, and verified again from scratch.
        assert!(subject(issued.expires_at).is_none());
        // One character of the signature changed: refused, though its
        // original is remembered.
        assert!(keys.verify_any(&issued.token).is_ok());
        let signature = issued.token.rfind('.').unwrap() + 1;
        let mut forged = issued.token.clone();
        let first = if forged[signature..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        forged.replace_range(signature..=signature, first);
        assert!(keys.verify_any(&forged).is_err());
    }

    #[test]
    fn remembered_tokens_are_bounded() {
        let keys = keys();
        for _ in 0..=REMEMBERED_TOKENS {
            let token = keys.issue(Uuid::now_v7()).unwrap().token;
            assert!(keys.verify_any(&token).is_ok());
        }
        let first = keys.issue(Uuid::now_v7()).unwrap().token;
        assert!(keys.verify_any(&first).is_ok());
        assert!(keys.remembered_subject(&first, now_secs()).is_some());
        // Full, it starts over: the earliest are gone, the latest kept.
        for _ in 0..REMEMBERED_TOKENS {
            let token = keys.issue(Uuid::now_v7()).unwrap().token;
            assert!(keys.verify_any(&token).is_ok());
        }
        assert!(keys.remembered_subject(&first, now_secs()).is_none());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::new(b"short", "i", "a", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn other_authorization_schemes_are_refused() {
        let issued = keys().issue(Uuid::now_v7()).unwrap();
        assert!(
            keys()
                .verify_any_header(&format!("Basic {}", issued.token))
                .is_err()
        );
        assert!(keys().verify_any_header("Bearer").is_err());
    }
}
