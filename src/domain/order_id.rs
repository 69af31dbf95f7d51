use ulid::Ulid;

use super::ParseError;

/// A ULID: order ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(Ulid);

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        // The first character carries only 3 bits: anything above 7 would
        // overflow, and some decoders would wrap it onto another id.
        if raw.len() != ulid::ULID_LEN || !matches!(raw.as_bytes()[0], b'0'..=b'7') {
            return Err(ParseError::new("must be a 26-character ULID"));
        }
        Ulid::from_string(raw)
            .map(Self)
            .map_err(|_| ParseError::new("must be a 26-character ULID"))
    }

    pub fn from_ulid(ulid: Ulid) -> Self {
        Self(ulid)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Ulid::from_bytes(bytes))
    }
}

impl std::fmt::Display for OrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buffer = [0; ulid::ULID_LEN];
        f.write_str(self.0.array_to_str(&mut buffer))
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
    fn rejects_non_ulids() {
        for bad in [
            "",
            "2UJuYiRSoBMgAiXg7jBp0V0UqxU",
            "01ARZ3NDEKTSV4RRFFQ69G5FA#",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
        ] {
            assert!(OrderId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
