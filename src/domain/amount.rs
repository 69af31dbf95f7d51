use rust_decimal::Decimal;

use super::ParseError;
use super::number::parse_decimal;

/// A money amount, kept as an exact decimal from the request text to storage
/// and back: `19.99` never passes through a binary float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(Decimal);

impl Amount {
    pub const MAX_FRACTION_DIGITS: u32 = 4;

    /// Parses the decimal text of a JSON number (plain or exponent form).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let value = parse_decimal(text)
            .ok_or_else(|| ParseError::new("must be a number greater than 0 and at most 1000000"))?
            .normalize();
        if value <= Decimal::ZERO || value > Decimal::from(1_000_000) {
            return Err(ParseError::new(
                "must be greater than 0 and at most 1000000",
            ));
        }
        if value.scale() > Self::MAX_FRACTION_DIGITS {
            return Err(ParseError::new(format!(
                "must have at most {} decimal places",
                Self::MAX_FRACTION_DIGITS
            )));
        }
        Ok(Self(value))
    }

    /// The canonical decimal text, e.g. `19.99` or `100`.
    pub fn to_text(&self) -> String {
        self.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_decimal_text_exact() {
        assert_eq!(Amount::parse("19.99").unwrap().to_text(), "19.99");
        assert_eq!(Amount::parse("5.50").unwrap().to_text(), "5.5");
        assert_eq!(Amount::parse("0.0001").unwrap().to_text(), "0.0001");
        assert_eq!(Amount::parse("1e2").unwrap().to_text(), "100");
        assert_eq!(Amount::parse("1000000").unwrap().to_text(), "1000000");
    }

    #[test]
    fn rejects_out_of_range_and_junk() {
        for bad in [
            "0",
            "-0",
            "-1",
            "1000000.01",
            "1e400",
            "1e-400",
            "0.00001",
            "NaN",
            "",
            "abc",
            "99999999999999999999999999999999",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
