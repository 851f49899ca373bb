//! Human-entered text: names and descriptions.

use crate::Error;

/// Checks free text typed by a person: no control characters except line
/// breaks and tabs (when `multiline`), at most `max_chars` characters.
fn check(field: &'static str, value: &str, max_chars: usize, multiline: bool) -> Result<(), Error> {
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A required one-line name: trimmed, 1 to `max_chars` characters.
pub fn name(field: &'static str, value: &str, max_chars: usize) -> Result<String, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    check(field, trimmed, max_chars, false)?;
    Ok(trimmed.to_owned())
}

/// An optional multi-line description: trimmed, at most `max_chars` characters.
pub fn description(field: &'static str, value: &str, max_chars: usize) -> Result<String, Error> {
    let trimmed = value.trim();
    check(field, trimmed, max_chars, true)?;
    Ok(trimmed.to_owned())
}

/// Longest shop or product name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest shop or product description.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(name("name", "  Acme  ", 10).unwrap(), "Acme");
    }

    #[test]
    fn empty_names_are_refused() {
        assert!(name("name", "   ", 10).is_err());
    }

    #[test]
    fn overlong_names_are_refused_by_characters_not_bytes() {
        assert!(name("name", "ééééé", 5).is_ok());
        assert!(name("name", "éééééé", 5).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(name("name", "Ac\u{0}me", 10).is_err());
        assert!(name("name", "Ac\nme", 10).is_err());
        assert!(description("description", "line one\nline two", 100).is_ok());
        assert!(description("description", "bell\u{7}", 100).is_err());
    }
}
