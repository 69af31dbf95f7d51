//! The continuation token of a customer's order listing: the last order of
//! the page, bound to the customer it was issued for.

use serde::{Deserialize, Serialize};

use super::token::{self, Decoded, exactly};
use super::{OrderId, ParseError, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken(OrderId);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listing {
    /// The customer's canonical username.
    customer: String,
    after: String,
}

impl PageToken {
    pub fn after(last: OrderId) -> Self {
        Self(last)
    }

    pub fn last_order(self) -> OrderId {
        self.0
    }

    /// Reads a token issued for `customer`'s listing; one of another
    /// customer (or of a status queue) is refused.
    pub fn parse(raw: &str, customer: &Username) -> Result<Self, ParseError> {
        match token::decode::<Listing>(raw)? {
            Decoded::Current(listing) => {
                if listing.customer != customer.canonical().as_str() {
                    return Err(token::invalid());
                }
                exactly(&listing.after, OrderId::parse, OrderId::to_string).map(Self)
            }
            // Binary tokens named no customer.
            Decoded::Legacy(bytes) => token::legacy::listing(&bytes)
                .map(Self)
                .ok_or_else(token::invalid),
        }
    }

    pub fn encode(self, customer: &Username) -> String {
        token::encode(Listing {
            customer: customer.canonical().as_str().to_owned(),
            after: self.0.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> Username {
        Username::parse("Ann").unwrap()
    }

    #[test]
    fn round_trips_for_its_customer_in_any_case_and_is_url_safe() {
        for id in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "2UJT4m2UkBAWG7DHDLfkXxbMN04"] {
            let id = OrderId::parse(id).unwrap();
            let raw = PageToken::after(id).encode(&ann());
            assert!(
                raw.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            let again = PageToken::parse(&raw, &Username::parse("ann").unwrap());
            assert_eq!(again.map(PageToken::last_order), Ok(id));
        }
    }

    #[test]
    fn refuses_another_customers_token_and_forged_ones() {
        let id = OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let raw = PageToken::after(id).encode(&ann());
        assert!(PageToken::parse(&raw, &Username::parse("bob").unwrap()).is_err());
        let lower_case_id = token::encode(Listing {
            customer: "ann".into(),
            after: id.to_string().to_lowercase(),
        });
        assert!(PageToken::parse(&lower_case_id, &ann()).is_err());
        for bad in ["", "abc", "not base64!", "AQ", &"A".repeat(40), "e30"] {
            assert!(PageToken::parse(bad, &ann()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_token_issued_before_the_json_format_still_reads() {
        for id in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "2UJT4m2UkBAWG7DHDLfkXxbMN04"] {
            let id = OrderId::parse(id).unwrap();
            let raw = token::legacy::written::listing(id);
            assert_eq!(
                PageToken::parse(&raw, &ann()).map(PageToken::last_order),
                Ok(id)
            );
        }
    }
}
