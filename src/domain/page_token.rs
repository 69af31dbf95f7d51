use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{OrderId, ParseError};

/// An opaque, URL-safe continuation token for a listing: a version byte and
/// the id of the last order of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken(OrderId);

const VERSION: u8 = 1;

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
            Some((&VERSION, id)) => {
                let id: [u8; 16] = id.try_into().map_err(|_| invalid())?;
                Ok(Self(OrderId::from_bytes(id)))
            }
            _ => Err(invalid()),
        }
    }

    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(17);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.0.to_bytes());
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
    }

    #[test]
    fn rejects_forged_tokens() {
        for bad in ["", "abc", "not base64!", "AQ", &"A".repeat(40)] {
            assert!(PageToken::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
