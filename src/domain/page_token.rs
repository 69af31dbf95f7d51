use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{OrderId, ParseError};

/// An opaque, URL-safe continuation token for a listing: a version byte and
/// the id of the last order of the previous page (version 1: a ULID's 16
/// bytes; version 3: a KSUID's 20, an order the original system placed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken(OrderId);

const VERSION: u8 = 1;
const VERSION_KSUID: u8 = 3;

impl PageToken {
    pub fn after(last: OrderId) -> Self {
        Self(last)
    }

    pub fn last_order(self) -> OrderId {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let invalid = || ParseError::new("is not a token this service issued");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        match bytes.split_first() {
            Some((&VERSION, id)) if id.len() == 16 => {}
            Some((&VERSION_KSUID, id)) if id.len() == 20 => {}
            _ => return Err(invalid()),
        }
        OrderId::from_slice(&bytes[1..])
            .map(Self)
            .ok_or_else(invalid)
    }

    pub fn encode(self) -> String {
        let id = self.0.to_vec();
        let mut bytes = Vec::with_capacity(1 + id.len());
        bytes.push(match self.0 {
            OrderId::Ulid(_) => VERSION,
            OrderId::Ksuid(_) => VERSION_KSUID,
        });
        bytes.extend_from_slice(&id);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_url_safe() {
        let id = OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let token = PageToken::after(id).encode();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(PageToken::parse(&token).unwrap().last_order(), id);
        let ksuid = OrderId::parse("2UJT4m2UkBAWG7DHDLfkXxbMN04").unwrap();
        let token = PageToken::after(ksuid).encode();
        assert_eq!(PageToken::parse(&token).unwrap().last_order(), ksuid);
    }

    #[test]
    fn rejects_forged_tokens() {
        for bad in ["", "abc", "not base64!", "AQ", &"A".repeat(40)] {
            assert!(PageToken::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
