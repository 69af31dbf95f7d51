use super::ParseError;

/// An email address of at most 254 characters: a dot-atom local part, one
/// `@`, and a dotted domain of letters, digits and hyphens. Exactly what the
/// OpenAPI pattern says (no whitespace is trimmed), so clients that validate
/// against the document never disagree with the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.len() > Self::MAX_LEN {
            return Err(ParseError::new("must be at most 254 characters long"));
        }
        let (local, domain) = raw
            .split_once('@')
            .ok_or_else(|| ParseError::new("must contain '@'"))?;
        if local.is_empty() || !local.chars().all(is_local_char) {
            return Err(ParseError::new("has an invalid local part"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(ParseError::new("has an invalid local part"));
        }
        if !is_valid_domain(domain) {
            return Err(ParseError::new("has an invalid domain"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Email uniqueness ignores letter case.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c)
}

fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "john@example.com",
            "a.b+tag@sub.example.co.nz",
            "X_Y@ex-ample.org",
        ] {
            assert_eq!(Email::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "john",
            "@example.com",
            "john@",
            "john@localhost",
            "jo hn@example.com",
            " john@example.com",
            "john@exa mple.com",
            "john@@example.com",
            ".john@example.com",
            "john@-ex.com",
            &too_long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn canonical_form_ignores_case() {
        assert_eq!(
            Email::parse("John@Example.COM").unwrap().canonical(),
            "john@example.com"
        );
    }
}
