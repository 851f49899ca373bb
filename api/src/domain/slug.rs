//! Shop slugs: the short name in a shop's address.

use crate::Error;

/// 3 to 64 characters of `a-z`, `0-9` and single inner hyphens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    /// Parses user input (lower-casing it); `field` names the input field.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Error> {
        let slug = raw.trim().to_lowercase();
        let valid_chars = slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let well_placed_hyphens =
            !slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--");
        if !(3..=64).contains(&slug.len()) || !valid_chars || !well_placed_hyphens {
            return Err(Error::invalid(
                field,
                "slug must be 3 to 64 characters of a-z, 0-9 and single hyphens inside",
            ));
        }
        Ok(Self(slug))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_cased() {
        assert_eq!(
            Slug::parse("slug", "Acme-Coffee").unwrap().as_str(),
            "acme-coffee"
        );
    }

    #[test]
    fn malformed_slugs_are_refused() {
        for raw in [
            "ab",
            "-acme",
            "acme-",
            "ac--me",
            "ac me",
            "acmé",
            &"a".repeat(65),
        ] {
            assert!(Slug::parse("slug", raw).is_err(), "{raw}");
        }
    }
}
