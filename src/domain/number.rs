use rust_decimal::Decimal;

/// The exact value of a JSON number's text, plain (`19.99`) or in exponent
/// form (`1.5e3`); `None` when it is not a number or does not fit.
pub(super) fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        // Exponents beyond what fits in a decimal (1e400) are out of range.
        let (mantissa, exponent) = text.split_once(['e', 'E'])?;
        let exponent: i32 = exponent.parse().ok()?;
        if exponent.abs() > 28 {
            return None;
        }
        Decimal::from_scientific(&format!("{mantissa}e{exponent}")).ok()
    } else {
        Decimal::from_str_exact(text).ok()
    }
}
