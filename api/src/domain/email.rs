//! Email addresses, normalised so that uniqueness is case-insensitive.

use crate::Error;

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

/// RFC 5321 caps a forward path at 254 characters.
const MAX_EMAIL_CHARS: usize = 254;

impl Email {
    /// Parses user input; `field` names the input field in errors.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Error> {
        let normalised = raw.trim().to_lowercase();
        if normalised.len() > MAX_EMAIL_CHARS {
            return Err(Error::invalid(field, "email address is too long"));
        }
        if !email_address::EmailAddress::is_valid(&normalised) || !normalised.contains('.') {
            return Err(Error::invalid(field, "not a valid email address"));
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_trimmed() {
        assert_eq!(
            Email::parse("email", " Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_refused() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@@example.com",
            "ada example@x.com",
            "ada@localhost",
        ] {
            assert!(
                Email::parse("email", raw).is_err(),
                "{raw:?} should be refused"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse("email", &long).is_err());
    }
}
