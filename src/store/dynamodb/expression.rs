//! DynamoDB's side of the engine interface's values: conditions as
//! condition expressions (with their placeholders), write ops as
//! transaction items, and items as attribute maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use super::internal;
use crate::store::engine::{AttributeCheck, Condition, EngineError, Index, Item, Value, WriteOp};
use crate::store::keys::{GSI1PK, GSI1SK, GSI2PK, GSI2SK, Key, PK, SK};

pub(super) type AttributeMap = HashMap<String, AttributeValue>;

pub(super) fn transact_item(table: &str, op: WriteOp) -> Result<TransactWriteItem, EngineError> {
    let mut expression = Expression::default();
    let on_failure = ReturnValuesOnConditionCheckFailure::AllOld;
    let built = match op {
        WriteOp::Put { item, condition } => {
            let condition = expression.condition(&condition);
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(to_attributes(item)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(expression.names_if_any())
                .set_expression_attribute_values(expression.values_if_any())
                .return_values_on_condition_check_failure(on_failure)
                .build()
                .map_err(internal)?;
            TransactWriteItem::builder().put(put).build()
        }
        WriteOp::Delete { key, condition } => {
            let condition = expression.condition(&condition);
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key_map(&key)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(expression.names_if_any())
                .set_expression_attribute_values(expression.values_if_any())
                .return_values_on_condition_check_failure(on_failure)
                .build()
                .map_err(internal)?;
            TransactWriteItem::builder().delete(delete).build()
        }
        WriteOp::Check { key, condition } => {
            // A check needs an expression; "always" is spelled as one that
            // always holds. `#pk` is declared only when the expression uses it.
            let condition = expression.condition(&condition).unwrap_or_else(|| {
                expression.names.insert("#pk".into(), PK.into());
                "attribute_exists(#pk) OR attribute_not_exists(#pk)".into()
            });
            let check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key_map(&key)))
                .condition_expression(condition)
                .set_expression_attribute_names(expression.names_if_any())
                .set_expression_attribute_values(expression.values_if_any())
                .return_values_on_condition_check_failure(on_failure)
                .build()
                .map_err(internal)?;
            TransactWriteItem::builder().condition_check(check).build()
        }
    };
    Ok(built)
}

/// Placeholders for one request's expressions.
#[derive(Default)]
pub(super) struct Expression {
    pub(super) names: HashMap<String, String>,
    pub(super) values: AttributeMap,
}

impl Expression {
    pub(super) fn name(&mut self, prefix: &str, name: &str) -> String {
        let placeholder = format!("#{prefix}{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, prefix: &str, value: Value) -> String {
        let placeholder = format!(":{prefix}{}", self.values.len());
        self.values.insert(placeholder.clone(), to_attribute(value));
        placeholder
    }

    /// The condition expression, or `None` for an unconditional write.
    pub(super) fn condition(&mut self, condition: &Condition) -> Option<String> {
        let exists = |e: &mut Self| {
            e.names.insert("#pk".into(), PK.into());
            "attribute_exists(#pk)".to_owned()
        };
        match condition {
            Condition::Always => None,
            Condition::Exists => Some(exists(self)),
            Condition::NotExists => {
                self.names.insert("#pk".into(), PK.into());
                Some("attribute_not_exists(#pk)".into())
            }
            Condition::ExistsAnd(checks) | Condition::Holds(checks) => {
                let mut terms = match condition {
                    Condition::ExistsAnd(_) => vec![exists(self)],
                    _ => Vec::new(),
                };
                for check in checks {
                    let term = match check {
                        // `IN ()` is a syntax error to DynamoDB; an empty
                        // list holds for no value, so it is spelled false.
                        AttributeCheck::In(name, values) if values.is_empty() => {
                            let name = self.name("c", name);
                            format!("(attribute_exists({name}) AND attribute_not_exists({name}))")
                        }
                        AttributeCheck::In(name, values) => {
                            let name = self.name("c", name);
                            let values: Vec<String> =
                                values.iter().map(|v| self.value("c", v.clone())).collect();
                            format!("{name} IN ({})", values.join(", "))
                        }
                        AttributeCheck::Absent(name) => {
                            format!("attribute_not_exists({})", self.name("c", name))
                        }
                        AttributeCheck::Present(name) => {
                            format!("attribute_exists({})", self.name("c", name))
                        }
                        AttributeCheck::EqualsOrAbsent(name, value) => {
                            let name = self.name("c", name);
                            let value = self.value("c", value.clone());
                            format!("({name} = {value} OR attribute_not_exists({name}))")
                        }
                        // "Condition expressions": attribute_type(path, type),
                        // with the type as a value (`S`, `N`).
                        AttributeCheck::IsString(name) => self.attribute_type(name, "S"),
                        AttributeCheck::IsNumber(name) => self.attribute_type(name, "N"),
                    };
                    terms.push(term);
                }
                (!terms.is_empty()).then(|| terms.join(" AND "))
            }
            Condition::NotExistsOrBelow(name, limit) => {
                self.names.insert("#pk".into(), PK.into());
                let name = self.name("c", name);
                let limit = self.value("c", Value::N(limit.to_string()));
                Some(format!("attribute_not_exists(#pk) OR {name} < {limit}"))
            }
        }
    }

    fn attribute_type(&mut self, name: &str, kind: &str) -> String {
        let name = self.name("c", name);
        let kind = self.value("c", Value::S(kind.to_owned()));
        format!("attribute_type({name}, {kind})")
    }

    fn names_if_any(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values_if_any(&self) -> Option<AttributeMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

pub(super) fn key_map(key: &Key) -> AttributeMap {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// DynamoDB's exclusive start key: the key attributes of the last item seen.
pub(super) fn start_key(item: &Item, index: Index) -> AttributeMap {
    let names: &[&str] = match index {
        Index::Table => &[PK, SK],
        Index::Gsi1 => &[PK, SK, GSI1PK, GSI1SK],
        Index::Gsi2 => &[PK, SK, GSI2PK, GSI2SK],
    };
    names
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), to_attribute(item.get(*name)?.clone()))))
        .collect()
}

pub(super) fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::S(text) => AttributeValue::S(text),
        Value::N(number) => AttributeValue::N(number),
    }
}

pub(super) fn to_attributes(item: Item) -> AttributeMap {
    item.into_iter()
        .map(|(name, value)| (name, to_attribute(value)))
        .collect()
}

pub(super) fn from_attributes(attributes: AttributeMap) -> Result<Item, EngineError> {
    attributes
        .into_iter()
        .map(|(name, value)| match value {
            AttributeValue::S(text) => Ok((name, Value::S(text))),
            AttributeValue::N(number) => Ok((name, Value::N(number))),
            other => Err(internal(anyhow::anyhow!(
                "attribute {name} has an unsupported type: {other:?}"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(condition: &Condition) -> (Option<String>, Vec<String>) {
        let mut expression = Expression::default();
        let text = expression.condition(condition);
        let mut names: Vec<String> = expression.names.into_keys().collect();
        names.sort();
        (text, names)
    }

    #[test]
    fn conditions_render_as_dynamodb_condition_expressions() {
        assert_eq!(render(&Condition::Always), (None, vec![]));
        assert_eq!(
            render(&Condition::NotExists),
            (Some("attribute_not_exists(#pk)".into()), vec!["#pk".into()])
        );
        let owned = Condition::ExistsAnd(vec![
            AttributeCheck::Absent("Deleting"),
            AttributeCheck::EqualsOrAbsent("Sub", Value::S("a".into())),
        ]);
        assert_eq!(
            render(&owned).0.unwrap(),
            "attribute_exists(#pk) AND attribute_not_exists(#c1) AND (#c2 = :c0 OR attribute_not_exists(#c2))"
        );
        let reservation = Condition::Holds(vec![AttributeCheck::EqualsOrAbsent(
            "Username",
            Value::S("john".into()),
        )]);
        let (text, names) = render(&reservation);
        assert_eq!(text.unwrap(), "(#c0 = :c0 OR attribute_not_exists(#c0))");
        assert_eq!(names, ["#c0"], "no name the expression does not use");
        let typed = Condition::Holds(vec![AttributeCheck::IsNumber("Amount")]);
        assert_eq!(render(&typed).0.unwrap(), "attribute_type(#c0, :c0)");
        let nothing = Condition::ExistsAnd(vec![AttributeCheck::In("Status", vec![])]);
        assert_eq!(
            render(&nothing).0.unwrap(),
            "attribute_exists(#pk) AND (attribute_exists(#c1) AND attribute_not_exists(#c1))"
        );
    }
}
