use super::ParseError;

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
    /// belongs to no account yet (written before accounts were recorded) is
    /// claimed by the first account that uses it under its username.
    Account(AccountId),
}

impl Access {
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Access::Any => None,
            Access::Account(account) => Some(account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cognito_subs_and_refuses_the_rest() {
        let sub = "c8e1b2f0-7f6a-4c1e-9a55-0d3f2b9f1a11";
        assert_eq!(AccountId::parse(sub).unwrap().as_str(), sub);
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("has space").is_err());
        assert!(AccountId::parse(&"a".repeat(129)).is_err());
    }
}
