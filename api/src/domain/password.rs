//! Password rules (hashing lives in `auth::password`).

use crate::Error;

/// A password that meets the rules below. Its `Debug` never shows it.
pub struct Password(String);

/// NIST SP 800-63B asks for at least 8 characters.
const MIN_PASSWORD_CHARS: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap.
const MAX_PASSWORD_CHARS: usize = 128;

/// The most common passwords of breach corpora; refusing them is what
/// NIST recommends instead of composition rules.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "11111111",
    "00000000",
    "abc12345",
    "letmein1",
    "welcome1",
    "sunshine",
    "football",
    "baseball",
    "princess",
    "trustno1",
    "passw0rd",
    "admin123",
];

impl Password {
    /// Checks a new password. `email` is refused as a password too.
    pub fn parse_new(field: &'static str, raw: &str, email: &str) -> Result<Self, Error> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(Error::invalid(
                field,
                format!("password must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(Error::invalid(
                field,
                format!("password must be at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let lowered = raw.to_lowercase();
        let single_character = raw.chars().all(|c| raw.starts_with(c));
        if single_character || COMMON_PASSWORDS.contains(&lowered.as_str()) || lowered == email {
            return Err(Error::invalid(field, "password is too easy to guess"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        for weak in [
            "short",
            "password123",
            "PASSWORD",
            "aaaaaaaaaaaa",
            "ada@example.com",
        ] {
            assert!(
                Password::parse_new("password", weak, "ada@example.com").is_err(),
                "{weak}"
            );
        }
        assert!(Password::parse_new("password", &"x1".repeat(65), "a@b.co").is_err());
    }

    #[test]
    fn reasonable_passwords_are_accepted() {
        assert!(
            Password::parse_new("password", "correct horse battery", "ada@example.com").is_ok()
        );
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let password = Password::parse_new("password", "correct horse battery", "a@b.co").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
