use super::ParseError;
use super::number::parse_decimal;

/// Number of items in an order: a whole number from 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCount(u32);

impl ItemCount {
    pub const MAX: u32 = 10_000;

    /// Parses the text of a JSON number. As in JSON Schema's `integer`,
    /// `2.0` and `2e0` are the integer 2; `2.5` is not an integer.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let error = || ParseError::new("must be a whole number from 1 to 10000");
        let value = parse_decimal(text).ok_or_else(error)?.normalize();
        if value.scale() != 0 {
            return Err(error());
        }
        match u32::try_from(value) {
            Ok(count) if (1..=Self::MAX).contains(&count) => Ok(Self(count)),
            _ => Err(error()),
        }
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
        assert_eq!(ItemCount::parse("2.0").unwrap().get(), 2);
        assert_eq!(ItemCount::parse("1.5e3").unwrap().get(), 1_500);
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "0",
            "-1",
            "-0",
            "10001",
            "2.5",
            "1e-1",
            "1e400",
            "",
            "0x10",
            "99999999999999999999",
        ] {
            assert!(ItemCount::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
