use super::{ParseError, StoredEmail};

/// The identity provider's stable id of an account (a Cognito `sub`). A
/// username can pass to a new account once the old one is deleted; this id
/// never does, so data belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if !(1..=Self::MAX_LEN).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError::new(
                "must be 1 to 128 printable ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose data a store call may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Staff (admin, fulfilment) and `AUTH_MODE=off`: any customer's.
    Any,
    /// A customer: only data that belongs to this account. A profile that
    /// belongs to no account yet (the replaced system's customers, or one an
    /// admin registered) is claimed only by an account whose token proves
    /// the profile's email.
    Account {
        account: AccountId,
        /// The address the token's issuer verified, as it wrote it: an ID
        /// token's `email` with `email_verified`.
        verified_email: Option<String>,
    },
}

impl Access {
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Access::Any => None,
            Access::Account { account, .. } => Some(account),
        }
    }

    /// Whether this caller may claim an unclaimed profile holding `email`:
    /// its token proves that address (letter case aside).
    pub fn proves(&self, email: &StoredEmail) -> bool {
        match self {
            Access::Any => false,
            // ASCII case only: a Unicode fold would let another spelling
            // (a Kelvin sign for a K) prove someone else's address.
            Access::Account { verified_email, .. } => {
                verified_email.as_deref().is_some_and(|verified| {
                    !verified.is_empty() && verified.eq_ignore_ascii_case(email.as_str())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_email_equal_to_the_stored_one_proves_it() {
        let customer = |verified: Option<&str>| Access::Account {
            account: AccountId::parse("sub-1").unwrap(),
            verified_email: verified.map(str::to_owned),
        };
        let stored = StoredEmail::new("Ann@Example.com");
        assert!(customer(Some("ann@example.com")).proves(&stored));
        assert!(!customer(Some("ann@example.org")).proves(&stored));
        assert!(!customer(None).proves(&stored));
        assert!(
            !customer(Some("\u{212A}ate@example.com"))
                .proves(&StoredEmail::new("kate@example.com"))
        );
        assert!(
            !customer(Some("")).proves(&StoredEmail::new("")),
            "no address proves none"
        );
        assert!(!Access::Any.proves(&stored), "staff act, never claim");
    }

    #[test]
    fn accepts_cognito_subs_and_refuses_the_rest() {
        let sub = "c8e1b2f0-7f6a-4c1e-9a55-0d3f2b9f1a11";
        assert_eq!(AccountId::parse(sub).unwrap().as_str(), sub);
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("has space").is_err());
        assert!(AccountId::parse(&"a".repeat(129)).is_err());
    }
}
