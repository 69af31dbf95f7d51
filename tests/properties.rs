//! Property tests for every domain parser: arbitrary input never panics, and
//! every valid value survives a round trip through its text form.

use ecommerce_service::domain::{Amount, Email, OrderId, OrderStatus, PageToken, Username};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(raw in any::<String>()) {
        let _ = Username::parse(&raw);
        let _ = Email::parse(&raw);
        let _ = Amount::parse(&raw);
        let _ = OrderStatus::parse(&raw);
        let _ = PageToken::parse(&raw, &Username::parse("ann").unwrap());
        let _ = OrderId::parse(&raw);
    }

    #[test]
    fn number_like_text_never_panics(raw in "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][-+]?[0-9]{0,12})?") {
        if let Ok(amount) = Amount::parse(&raw) {
            // Whatever is accepted is in range (README: greater than 0, at
            // most 1,000,000, at most 4 decimal places) and prints back to itself.
            let text = amount.to_text();
            let value = rust_decimal::Decimal::from_str_exact(&text).unwrap();
            prop_assert!(value > rust_decimal::Decimal::ZERO, "{} from {}", text, raw);
            prop_assert!(value <= rust_decimal::Decimal::from(1_000_000), "{} from {}", text, raw);
            prop_assert!(value.normalize().scale() <= 4, "{} from {}", text, raw);
            prop_assert_eq!(Amount::parse(&text), Ok(amount));
        }
    }

    #[test]
    fn valid_usernames_round_trip(raw in "[A-Za-z0-9._-]{2,64}") {
        let username = Username::parse(&raw).unwrap();
        prop_assert_eq!(username.as_str(), raw.as_str());
        let canonical = username.canonical();
        prop_assert_eq!(canonical.as_str(), raw.to_ascii_lowercase());
    }

    #[test]
    fn valid_emails_round_trip(local in "[a-z0-9]([a-z0-9._+-]{0,30}[a-z0-9])?", domain in "[a-z0-9]{1,20}\\.[a-z]{2,6}") {
        prop_assume!(!local.contains(".."));
        let raw = format!("{local}@{domain}");
        let email = Email::parse(&raw).unwrap();
        prop_assert_eq!(email.as_str(), raw.as_str());
    }

    #[test]
    fn amounts_keep_their_exact_value(units in 0u32..1_000_000, fraction in 0u32..10_000) {
        prop_assume!(units > 0 || fraction > 0);
        let raw = format!("{units}.{fraction:04}");
        let amount = Amount::parse(&raw).unwrap();
        let expected = rust_decimal::Decimal::from_str_exact(&raw).unwrap().normalize();
        prop_assert_eq!(amount.to_text(), expected.to_string());
        prop_assert_eq!(Amount::parse(&amount.to_text()), Ok(amount));
    }

    #[test]
    fn every_status_round_trips(index in 0usize..OrderStatus::ALL.len()) {
        let status = OrderStatus::ALL[index];
        prop_assert_eq!(OrderStatus::parse(status.as_str()), Ok(status));
    }

    #[test]
    fn page_tokens_round_trip_and_tampering_is_refused(bits in any::<u128>(), flip in 0usize..512) {
        let id = OrderId::from_ulid(ulid::Ulid(bits >> 3));
        let ann = Username::parse("ann").unwrap();
        let token = PageToken::after(id).encode(&ann);
        prop_assert_eq!(PageToken::parse(&token, &ann).map(PageToken::last_order), Ok(id));
        // Replacing one character gives a token that either fails or names another order.
        let mut tampered: Vec<char> = token.chars().collect();
        let at = flip % tampered.len();
        tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        if let Ok(other) = PageToken::parse(&tampered, &ann) {
            prop_assert_ne!(other.last_order(), id);
        }
    }
}
