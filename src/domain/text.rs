use super::ParseError;

/// Trimmed free text with a length range counted in characters. Control
/// characters are refused: they have no place in a name or an address.
fn parse_text(raw: &str, max: usize) -> Result<String, ParseError> {
    // Counted before trimming, so the limit is the document's maxLength.
    let trimmed = raw.trim();
    let len = raw.chars().count();
    if trimmed.is_empty() || len > max {
        return Err(ParseError::new(format!(
            "must be 1 to {max} characters long"
        )));
    }
    // Anywhere in what was sent, as the document's pattern says: a tab or
    // a newline at the end is a control character too, not padding.
    if raw.chars().any(char::is_control) {
        return Err(ParseError::new("must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// A person's display name: 1–100 characters, not all whitespace, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        parse_text(raw, 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address: 1–300 characters, not all whitespace, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        parse_text(raw, 300).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds_names() {
        assert_eq!(Name::parse("  Test Name ").unwrap().as_str(), "Test Name");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(101)).is_err());
        assert!(Name::parse(&"é".repeat(100)).is_ok());
        assert!(Name::parse("a\u{0}b").is_err());
        // Trimming takes whitespace, never a control character with it.
        assert!(Name::parse("Test Name\n").is_err());
        assert!(Address::parse("\u{b3}~\u{b}").is_err());
    }

    #[test]
    fn bounds_addresses() {
        assert!(Address::parse("124 Street Akl NZ").is_ok());
        assert!(Address::parse(&"x".repeat(300)).is_ok());
        assert!(Address::parse(&"x".repeat(301)).is_err());
    }
}
