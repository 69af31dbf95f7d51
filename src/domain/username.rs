use super::ParseError;

/// A customer's username as it names a stored profile: whatever any writer
/// stored, or a caller names. The replaced system took any string of two or
/// more characters after trimming, so a lookup takes any text that fits in
/// a key; today's rules for a new name are [`NewUsername`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// A profile's sort key is `CUSTOMER#<username>`, and DynamoDB keeps a
    /// sort key to 1,024 bytes ("Service, account, and table quotas in
    /// Amazon DynamoDB": "Sort key length"), so no writer stored a longer one.
    pub const MAX_BYTES: usize = 1024 - "CUSTOMER#".len();

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.is_empty() || raw.len() > Self::MAX_BYTES {
            return Err(ParseError::new(format!(
                "must be 1 to {} bytes long",
                Self::MAX_BYTES
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Usernames are unique regardless of (ASCII) letter case; this is the
    /// form that identifies the account.
    pub fn canonical(&self) -> Username {
        Self(self.0.to_ascii_lowercase())
    }

    /// Whether today's rules for a new name would take it: a name they
    /// refuse came from the replaced system.
    pub fn is_todays(&self) -> bool {
        NewUsername::parse(&self.0).is_ok()
    }

    /// Whether a URL path segment can carry it: not `.` or `..`, which
    /// clients resolve away, percent-encoded or not (RFC 3986, "Remove Dot
    /// Segments"; the WHATWG URL standard treats `%2e` as `.`).
    pub fn fits_a_path(&self) -> bool {
        !matches!(self.0.as_str(), "." | "..")
    }
}

/// A name a caller sends (a path segment, a query parameter, a body field).
/// A U+FFFD in it is what a lossy decode leaves of bytes that were no UTF-8
/// (a query string's `%FF`): no stored name can be meant, so it is refused
/// here, at the edge; a stored name holding one still reads.
impl std::str::FromStr for Username {
    type Err = ParseError;

    fn from_str(raw: &str) -> Result<Self, ParseError> {
        if raw.contains(char::REPLACEMENT_CHARACTER) {
            return Err(ParseError::new("is not valid UTF-8"));
        }
        Self::parse(raw)
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username being registered: 2–64 characters of `[A-Za-z0-9._-]`, and
/// not `..`. The restricted alphabet keeps every new name usable in a URL
/// path, a key and a token's claim; `..` is a path's "parent" segment,
/// which clients resolve away (RFC 3986, "Remove Dot Segments"), so
/// `/users/..` could never name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUsername(Username);

impl NewUsername {
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
        if raw == ".." {
            return Err(ParseError::new("must not be '..'"));
        }
        Ok(Self(Username(raw.to_owned())))
    }

    pub fn as_username(&self) -> &Username {
        &self.0
    }

    pub fn into_username(self) -> Username {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_name_takes_the_allowed_alphabet() {
        for ok in ["jo", "john", "John.Smith_1-2", "...", ".a", &"a".repeat(64)] {
            assert_eq!(NewUsername::parse(ok).unwrap().as_username().as_str(), ok);
        }
    }

    #[test]
    fn a_new_name_refuses_separators_and_bad_lengths() {
        for bad in [
            "",
            "j",
            "a#b",
            "CUSTOMER#x",
            "john smith",
            "jöhn",
            &"a".repeat(65),
        ] {
            assert!(
                NewUsername::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn a_stored_name_is_any_text_that_fits_in_a_key() {
        // What the replaced system took: two characters or more after trimming.
        for stored in ["ann smith", "jöhn", "o'brien", "a/b", "a#b", " ..", "x"] {
            let username = Username::parse(stored).unwrap();
            assert_eq!(username.as_str(), stored);
            assert!(!username.is_todays(), "{stored:?} is no new name");
        }
        assert!(Username::parse("").is_err());
        assert!(
            "jo\u{FFFD}hn".parse::<Username>().is_err(),
            "a caller's lossy decode"
        );
        assert!(
            Username::parse("jo\u{FFFD}hn").is_ok(),
            "a stored name reads"
        );
        assert!(Username::parse(&"a".repeat(Username::MAX_BYTES)).is_ok());
        assert!(Username::parse(&"a".repeat(Username::MAX_BYTES + 1)).is_err());
        assert!(Username::parse("john").unwrap().is_todays());
    }

    #[test]
    fn canonical_form_ignores_ascii_case() {
        assert_eq!(
            Username::parse("John").unwrap().canonical(),
            Username::parse("jOHN").unwrap().canonical()
        );
        assert_eq!(
            Username::parse("JÖHN").unwrap().canonical().as_str(),
            "jÖhn"
        );
    }
}
