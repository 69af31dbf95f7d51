//! Conditions on the item a write targets, and how the embedded engine
//! evaluates them (the DynamoDB engine spells them as condition
//! expressions: `dynamodb/expression.rs`).

use super::{Item, Value};

/// A condition on the current state of the item a write targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Always,
    Exists,
    NotExists,
    /// The item exists and every attribute check holds.
    ExistsAnd(Vec<AttributeCheck>),
    /// Every attribute check holds, an absent item's attributes counting as
    /// absent (as in a DynamoDB condition on a missing item).
    Holds(Vec<AttributeCheck>),
    /// The item is absent, or its numeric attribute is below the value: an
    /// expired record that TTL has not removed yet counts as absent.
    NotExistsOrBelow(&'static str, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeCheck {
    /// The attribute's value is one of these.
    In(&'static str, Vec<Value>),
    /// The item has no such attribute.
    Absent(&'static str),
    /// The item has the attribute, whatever its value.
    Present(&'static str),
    /// The attribute has this value, or the item has no such attribute.
    EqualsOrAbsent(&'static str, Value),
    /// The attribute is present and a string: a write whose answer reads
    /// it happens only if the item can be read ("no write, then fail").
    IsString(&'static str),
    /// The attribute is present and a number.
    IsNumber(&'static str),
}

impl AttributeCheck {
    fn holds_for(&self, item: &Item) -> bool {
        match self {
            AttributeCheck::In(name, values) => {
                item.get(*name).is_some_and(|value| values.contains(value))
            }
            AttributeCheck::Absent(name) => !item.contains_key(*name),
            AttributeCheck::Present(name) => item.contains_key(*name),
            AttributeCheck::EqualsOrAbsent(name, value) => {
                item.get(*name).is_none_or(|current| current == value)
            }
            AttributeCheck::IsString(name) => matches!(item.get(*name), Some(Value::S(_))),
            AttributeCheck::IsNumber(name) => matches!(item.get(*name), Some(Value::N(_))),
        }
    }

    /// The attribute has exactly this value.
    pub fn equals(name: &'static str, value: Value) -> Self {
        AttributeCheck::In(name, vec![value])
    }
}

impl Condition {
    /// Evaluates the condition against the item's current state; the embedded
    /// engine's counterpart of a DynamoDB condition expression.
    pub fn holds_for(&self, current: Option<&Item>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::Exists, current) => current.is_some(),
            (Condition::NotExists, current) => current.is_none(),
            (Condition::ExistsAnd(_), None) => false,
            (Condition::ExistsAnd(checks), Some(item)) | (Condition::Holds(checks), Some(item)) => {
                checks.iter().all(|check| check.holds_for(item))
            }
            (Condition::Holds(checks), None) => {
                checks.iter().all(|check| check.holds_for(&Item::new()))
            }
            (Condition::NotExistsOrBelow(_, _), None) => true,
            (Condition::NotExistsOrBelow(name, limit), Some(item)) => match item.get(*name) {
                Some(Value::N(number)) => number.parse::<i64>().is_ok_and(|n| n < *limit),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: &str) -> Item {
        Item::from([("Status".to_owned(), Value::S(status.to_owned()))])
    }

    #[test]
    fn conditions_evaluate_like_dynamodb() {
        let placed = item("PLACED");
        let in_placed = Condition::ExistsAnd(vec![AttributeCheck::In(
            "Status",
            vec![Value::S("PLACED".into())],
        )]);
        assert!(in_placed.holds_for(Some(&placed)));
        assert!(!in_placed.holds_for(Some(&item("SHIPPED"))));
        assert!(!in_placed.holds_for(None));
        assert!(Condition::NotExists.holds_for(None));
        assert!(!Condition::NotExists.holds_for(Some(&placed)));
        assert!(Condition::Exists.holds_for(Some(&placed)));
        let absent = Condition::ExistsAnd(vec![AttributeCheck::Absent("Deleting")]);
        assert!(absent.holds_for(Some(&placed)));
        assert!(!absent.holds_for(None));
        let owned = |sub: &str| {
            Condition::ExistsAnd(vec![AttributeCheck::EqualsOrAbsent(
                "Sub",
                Value::S(sub.into()),
            )])
        };
        let mut claimed = placed.clone();
        claimed.insert("Sub".into(), Value::S("a".into()));
        assert!(owned("a").holds_for(Some(&claimed)));
        assert!(!owned("b").holds_for(Some(&claimed)));
        assert!(owned("b").holds_for(Some(&placed)), "unclaimed");
        let typed = |check| Condition::ExistsAnd(vec![check]);
        assert!(typed(AttributeCheck::IsString("Status")).holds_for(Some(&placed)));
        assert!(!typed(AttributeCheck::IsNumber("Status")).holds_for(Some(&placed)));
        assert!(!typed(AttributeCheck::IsString("Amount")).holds_for(Some(&placed)));
    }

    #[test]
    fn an_expired_record_counts_as_absent() {
        let expires_at = |at: i64| Item::from([("ExpiresAt".to_owned(), Value::N(at.to_string()))]);
        let now = 1_800_000_000;
        let unexpired_or_absent = Condition::NotExistsOrBelow("ExpiresAt", now);
        assert!(unexpired_or_absent.holds_for(None));
        assert!(unexpired_or_absent.holds_for(Some(&expires_at(now - 1))));
        assert!(!unexpired_or_absent.holds_for(Some(&expires_at(now))));
        assert!(!unexpired_or_absent.holds_for(Some(&expires_at(now + 86_400))));
        assert!(!unexpired_or_absent.holds_for(Some(&item("PLACED"))));
    }
}
