use time::OffsetDateTime;
use ulid::Ulid;

use super::{ParseError, Timestamp};

/// An order's id. This service places orders under ULIDs, which sort by
/// creation time; the system it replaced placed them under KSUIDs (27
/// characters of base62), and those orders keep their ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrderId {
    Ulid(Ulid),
    Ksuid(Ksuid),
}

const INVALID: &str = "must be a 26-character ULID or a 27-character KSUID";

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        match raw.len() {
            ulid::ULID_LEN => {
                // The first character carries only 3 bits: anything above 7
                // would overflow, and some decoders would wrap it onto another id.
                if !matches!(raw.as_bytes()[0], b'0'..=b'7') {
                    return Err(ParseError::new(INVALID));
                }
                Ulid::from_string(raw)
                    .map(Self::Ulid)
                    .map_err(|_| ParseError::new(INVALID))
            }
            KSUID_LEN => Ksuid::parse(raw)
                .map(Self::Ksuid)
                .ok_or_else(|| ParseError::new(INVALID)),
            _ => Err(ParseError::new(INVALID)),
        }
    }

    pub fn from_ulid(ulid: Ulid) -> Self {
        Self::Ulid(ulid)
    }

    /// The id's binary form: 16 bytes for a ULID, 20 for a KSUID.
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Self::Ulid(ulid) => ulid.to_bytes().to_vec(),
            Self::Ksuid(ksuid) => ksuid.0.to_vec(),
        }
    }

    /// Reads back [`OrderId::to_vec`]; the length tells the kind.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            16 => Some(Self::Ulid(Ulid::from_bytes(bytes.try_into().ok()?))),
            // Every 160-bit number prints in 27 base62 characters.
            20 => Some(Self::Ksuid(Ksuid(bytes.try_into().ok()?))),
            _ => None,
        }
    }

    /// The last byte of the id's random part: evenly spread whatever the
    /// owner or the time.
    pub fn random_low_byte(&self) -> u8 {
        match self {
            Self::Ulid(ulid) => ulid.to_bytes()[15],
            Self::Ksuid(ksuid) => ksuid.0[19],
        }
    }

    /// When the id was made: a ULID to the millisecond, a KSUID to the second.
    pub fn minted_at(&self) -> Timestamp {
        let at = match self {
            Self::Ulid(ulid) => OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(ulid.timestamp_ms()) * 1_000_000,
            ),
            Self::Ksuid(ksuid) => OffsetDateTime::from_unix_timestamp(ksuid.unix_seconds()),
        };
        Timestamp::from_datetime(at.unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }
}

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ulid(ulid) => {
                let mut buffer = [0; ulid::ULID_LEN];
                f.write_str(ulid.array_to_str(&mut buffer))
            }
            Self::Ksuid(ksuid) => ksuid.fmt(f),
        }
    }
}

/// A KSUID (segmentio/ksuid): a 4-byte big-endian count of seconds since
/// 2014-05-13T16:53:20Z, then 16 random bytes, written as 27 base62
/// characters (`0-9A-Za-z`, so letter case matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ksuid([u8; 20]);

const KSUID_LEN: usize = 27;
const KSUID_EPOCH: i64 = 1_400_000_000;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Ksuid {
    fn parse(raw: &str) -> Option<Self> {
        if raw.len() != KSUID_LEN {
            return None;
        }
        let mut bytes = [0u8; 20];
        for character in raw.bytes() {
            let digit = BASE62.iter().position(|&b| b == character)?;
            // bytes = bytes * 62 + digit, refusing what overflows 160 bits.
            let mut carry = digit as u32;
            for byte in bytes.iter_mut().rev() {
                let value = u32::from(*byte) * 62 + carry;
                *byte = (value & 0xff) as u8;
                carry = value >> 8;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(Self(bytes))
    }

    fn unix_seconds(&self) -> i64 {
        let since_epoch = u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        KSUID_EPOCH + i64::from(since_epoch)
    }
}

impl std::fmt::Display for Ksuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut number = self.0;
        let mut text = [b'0'; KSUID_LEN];
        for slot in text.iter_mut().rev() {
            // number, remainder = number / 62, number % 62
            let mut remainder = 0u32;
            for byte in number.iter_mut() {
                let value = (remainder << 8) | u32::from(*byte);
                *byte = (value / 62) as u8;
                remainder = value % 62;
            }
            *slot = BASE62[remainder as usize];
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_prints_canonical() {
        let id = OrderId::parse("01arz3ndektsv4rrffq69g5fav").unwrap();
        assert_eq!(id.to_string(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    }

    #[test]
    fn reads_the_original_systems_ksuids_exactly() {
        let raw = "2UJT4m2UkBAWG7DHDLfkXxbMN04";
        let id = OrderId::parse(raw).unwrap();
        assert!(matches!(id, OrderId::Ksuid(_)));
        assert_eq!(id.to_string(), raw);
        // Letter case is part of a KSUID: another case is another id.
        let other = OrderId::parse("2ujt4m2UkBAWG7DHDLfkXxbMN04").unwrap();
        assert_ne!(other, id);
        assert_eq!(OrderId::from_slice(&id.to_vec()), Some(id));
        // Minted in 2023, when the original system ran.
        assert_eq!(id.minted_at().as_datetime().year(), 2023);
        for edge in ["000000000000000000000000000", "aWgEPTl1tmebfsQzFP4bxwgy80V"] {
            assert_eq!(OrderId::parse(edge).unwrap().to_string(), edge);
        }
    }

    #[test]
    fn rejects_what_is_neither() {
        for bad in [
            "",
            "01ARZ3NDEKTSV4RRFFQ69G5FA#",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
            "2UJT4m2UkBAWG7DHDLfkXxbMN0#",
            "2UJT4m2UkBAWG7DHDLfkXxbMN0",
            "aWgEPTl1tmebfsQzFP4bxwgy80W",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            assert!(OrderId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            OrderId::from_slice(&[0xff; 20]).map(|id| id.to_string()),
            Some("aWgEPTl1tmebfsQzFP4bxwgy80V".to_owned())
        );
        assert_eq!(OrderId::from_slice(&[0; 17]), None);
    }
}
