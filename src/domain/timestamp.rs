use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::ParseError;

/// A UTC instant with microsecond precision, written as
/// `2023-08-22T02:07:33.696174Z` (the original service's format, plus the zone).
///
/// Read leniently: the original system wrote Python's
/// `datetime.utcnow().isoformat()`, naive UTC with the fraction left out when
/// it is zero (`2023-08-21T22:21:34.811747`, `2023-08-21T22:21:34`), so any
/// ISO 8601 date-time reads: with or without a fraction (up to nanoseconds,
/// kept to the microsecond), with `Z`, an offset, or no zone (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
const LOCAL_PART: &[FormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond digits:1+]]]"
);
const OFFSET: &[FormatItem<'static>] =
    format_description!("[offset_hour sign:mandatory]:[offset_minute]");

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_datetime(at: OffsetDateTime) -> Self {
        // Only a date at the very edge of the range overflows in UTC.
        let at = at
            .checked_to_offset(time::UtcOffset::UTC)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let micros = at.microsecond();
        Self(at.replace_microsecond(micros).unwrap_or(at))
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let invalid =
            || ParseError::new("must be an ISO 8601 date-time like 2023-08-22T02:07:33.696174Z");
        let (local, offset) = match raw.len().checked_sub(6).and_then(|at| raw.get(at..)) {
            Some(zone) if zone.starts_with(['+', '-']) => {
                let offset = time::UtcOffset::parse(zone, OFFSET).map_err(|_| invalid())?;
                (&raw[..raw.len() - 6], offset)
            }
            _ => (
                raw.strip_suffix(['Z', 'z']).unwrap_or(raw),
                time::UtcOffset::UTC,
            ),
        };
        let at = PrimitiveDateTime::parse(local, LOCAL_PART).map_err(|_| invalid())?;
        at.assume_offset(offset)
            .checked_to_offset(time::UtcOffset::UTC)
            .map(Self::from_datetime)
            .ok_or_else(invalid)
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

    #[test]
    fn reads_what_the_original_system_and_other_writers_wrote() {
        for (raw, read) in [
            ("2023-08-21T22:21:34.811747", "2023-08-21T22:21:34.811747Z"),
            ("2023-08-21T22:21:34", "2023-08-21T22:21:34.000000Z"),
            ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000Z"),
            ("2026-11-25T10:00:00.5z", "2026-11-25T10:00:00.500000Z"),
            (
                "2026-11-25T12:00:00.123456789+02:00",
                "2026-11-25T10:00:00.123456Z",
            ),
            ("2026-11-25T05:30:00-04:30", "2026-11-25T10:00:00.000000Z"),
        ] {
            assert_eq!(Timestamp::parse(raw).unwrap().to_string(), read, "{raw}");
        }
        for bad in [
            "",
            "2023-08-21",
            "2023-08-21 22:21:34",
            "2023-08-21T22:21",
            "2023-08-21T22:21:34.",
            "2023-08-21T22:21:34+2:00",
            "9999-12-31T23:59:59-01:00",
            "2023-13-21T22:21:34",
            "yesterday",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?}");
        }
    }
}
