//! Values as any writer stored them. The replaced system validated almost
//! nothing (an email, a name or an address was any string; an amount any
//! number above 0; an item count any integer), so what it stored is served
//! as stored: today's input rules (`Email`, `Name`, `Address`, `Amount`,
//! `ItemCount`) apply to new input only, and each converts into its stored
//! form here.

use serde::{Serialize, Serializer};

use super::{Address, Amount, Email, ItemCount, Name, ParseError};

/// An email address as stored: any string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEmail(String);

impl StoredEmail {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Email uniqueness ignores letter case, as [`Email::canonical`] does.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl From<Email> for StoredEmail {
    fn from(email: Email) -> Self {
        Self(email.as_str().to_owned())
    }
}

/// Free text as stored (a name, an address): any string, empty included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredText(String);

impl StoredText {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Name> for StoredText {
    fn from(name: Name) -> Self {
        Self(name.as_str().to_owned())
    }
}

impl From<&Address> for StoredText {
    fn from(address: &Address) -> Self {
        Self(address.as_str().to_owned())
    }
}

/// A number as stored, kept as its exact decimal text: DynamoDB keeps up
/// to 38 significant digits ("Supported data types and naming rules in
/// Amazon DynamoDB": "Number"), more than any binary float or `Decimal`
/// holds, and the answer shows what is stored, digit for digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNumber(String);

impl StoredNumber {
    /// Takes a stored number's text if it is a JSON number, as DynamoDB's
    /// are (it trims leading and trailing zeros and keeps no `+`).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if is_json_number(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::new("is not a number"))
        }
    }

    /// A whole number's text (an item count): no fraction or exponent.
    pub fn parse_integer(text: &str) -> Result<Self, ParseError> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        if is_json_number(text) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::new("is not a whole number"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Amount> for StoredNumber {
    fn from(amount: Amount) -> Self {
        Self(amount.to_text())
    }
}

impl From<ItemCount> for StoredNumber {
    fn from(count: ItemCount) -> Self {
        Self(count.get().to_string())
    }
}

/// Written as a JSON number with exactly the stored digits.
impl Serialize for StoredNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let number: serde_json::Number = self.0.parse().map_err(serde::ser::Error::custom)?;
        number.serialize(serializer)
    }
}

/// RFC 8259's number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = usize::from(bytes.first() == Some(&b'-'));
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let whole = digits(at);
    if whole == 0 || (whole > 1 && bytes[at] == b'0') {
        return false;
    }
    at += whole;
    if bytes.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent = digits(at);
        if exponent == 0 {
            return false;
        }
        at += exponent;
    }
    at == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_every_stored_digit() {
        for stored in [
            "5.5",
            "2500000",
            "3.14159265358979",
            // DynamoDB's 38 significant digits.
            "12345678901234567890.123456789012345678",
            "-1",
            "0.0001",
            "1e+2",
            "1e-130",
        ] {
            let number = StoredNumber::parse(stored).unwrap();
            assert_eq!(serde_json::to_string(&number).unwrap(), stored);
        }
        for not_a_number in ["", "-", "+1", ".5", "5.", "01", "1e", "NaN", "1,5", "1 "] {
            assert!(
                StoredNumber::parse(not_a_number).is_err(),
                "{not_a_number:?}"
            );
        }
    }

    #[test]
    fn item_counts_are_whole_numbers_of_any_size() {
        assert!(StoredNumber::parse_integer("20000").is_ok());
        assert!(StoredNumber::parse_integer("123456789012345678901234567890").is_ok());
        for not_whole in ["2.5", "1e3", "x"] {
            assert!(
                StoredNumber::parse_integer(not_whole).is_err(),
                "{not_whole:?}"
            );
        }
    }

    #[test]
    fn emails_compare_ignoring_case() {
        let stored = StoredEmail::new("Ann@LocalHost");
        assert_eq!(stored.canonical(), "ann@localhost");
        assert_eq!(stored.as_str(), "Ann@LocalHost");
    }
}
