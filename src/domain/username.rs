use super::ParseError;

/// 2–64 characters of `[A-Za-z0-9._-]`. The restricted alphabet means a
/// username can never carry a key separator such as `#`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 2;
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(ParseError::new(format!(
                "must be {} to {} characters long",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(ParseError::new(
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Usernames are unique regardless of letter case; this is the form that
    /// identifies the account.
    pub fn canonical(&self) -> Username {
        Self(self.0.to_ascii_lowercase())
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["jo", "john", "John.Smith_1-2", &"a".repeat(64)] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_separators_and_bad_lengths() {
        for bad in [
            "",
            "j",
            "a#b",
            "CUSTOMER#x",
            "john smith",
            "jöhn",
            &"a".repeat(65),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn canonical_form_ignores_case() {
        assert_eq!(
            Username::parse("John").unwrap().canonical(),
            Username::parse("jOHN").unwrap().canonical()
        );
    }
}
