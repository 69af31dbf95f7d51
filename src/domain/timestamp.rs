use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::ParseError;

/// A UTC instant with microsecond precision, written as
/// `2023-08-22T02:07:33.696174Z` (the original service's format, plus the zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        let micros = at.microsecond();
        Self(at.replace_microsecond(micros).unwrap_or(at))
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        PrimitiveDateTime::parse(raw, FORMAT)
            .map(|at| Self(at.assume_utc()))
            .map_err(|_| {
                ParseError::new("must be a UTC timestamp like 2023-08-22T02:07:33.696174Z")
            })
    }

    pub fn as_datetime(&self) -> OffsetDateTime {
        self.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.format(FORMAT).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()), Ok(now));
        let text = "2023-08-22T02:07:33.696174Z";
        assert_eq!(Timestamp::parse(text).unwrap().to_string(), text);
    }
}
