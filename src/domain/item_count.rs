use super::ParseError;

/// Number of items in an order: a whole number from 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCount(u32);

impl ItemCount {
    pub const MAX: u32 = 10_000;

    /// Parses the text of a JSON number; `2.0` and `2e0` are not integers.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let error = || ParseError::new("must be a whole number from 1 to 10000");
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        let value: u32 = text.parse().map_err(|_| error())?;
        if !(1..=Self::MAX).contains(&value) {
            return Err(error());
        }
        Ok(Self(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_to_ten_thousand() {
        assert_eq!(ItemCount::parse("1").unwrap().get(), 1);
        assert_eq!(ItemCount::parse("10000").unwrap().get(), 10_000);
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["0", "-1", "10001", "2.0", "2e0", "", "99999999999999999999"] {
            assert!(ItemCount::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
