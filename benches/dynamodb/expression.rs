//! The subset of DynamoDB's expression language the service writes:
//! condition expressions (`attribute_exists`, `attribute_not_exists`,
//! `attribute_type`, `=`, `<`, `IN`, `AND`, `OR`, parentheses) and `SET` update expressions
//! (`#a = :v`, `#a = if_not_exists(#a, :v) + :v`), evaluated on items in
//! DynamoDB's JSON form (`{"S": ...}`, `{"N": ...}`).

use serde_json::{Map, Value};

pub type Item = Map<String, Value>;

/// Placeholders (`#n`, `:v`) of one request.
pub struct Placeholders<'a> {
    pub names: &'a Map<String, Value>,
    pub values: &'a Map<String, Value>,
}

impl Placeholders<'_> {
    fn name(&self, token: &str) -> Result<String, String> {
        match token.strip_prefix('#') {
            Some(_) => self.names[token]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("unknown name {token}")),
            None => Ok(token.to_owned()),
        }
    }

    fn value(&self, token: &str) -> Result<Value, String> {
        self.values
            .get(token)
            .cloned()
            .ok_or_else(|| format!("unknown value {token}"))
    }
}

fn tokens(text: &str) -> Vec<String> {
    let spaced = text
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " , ");
    spaced.split_whitespace().map(str::to_owned).collect()
}

/// Whether `condition` holds for `item` (empty when the item is absent).
pub fn holds(condition: &str, item: &Item, placeholders: &Placeholders) -> Result<bool, String> {
    let tokens = tokens(condition);
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        item,
        placeholders,
    };
    let result = parser.or()?;
    if parser.at != tokens.len() {
        return Err(format!("trailing tokens in {condition:?}"));
    }
    Ok(result)
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    item: &'a Item,
    placeholders: &'a Placeholders<'a>,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Result<&'a str, String> {
        let tokens: &'a [String] = self.tokens;
        let token = tokens.get(self.at).ok_or("unexpected end")?;
        self.at += 1;
        Ok(token)
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn expect(&mut self, wanted: &str) -> Result<(), String> {
        let token = self.next()?;
        if token == wanted {
            Ok(())
        } else {
            Err(format!("expected {wanted}, got {token}"))
        }
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut result = self.and()?;
        while self.peek() == Some("OR") {
            self.at += 1;
            result |= self.and()?;
        }
        Ok(result)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut result = self.primary()?;
        while self.peek() == Some("AND") {
            self.at += 1;
            result &= self.primary()?;
        }
        Ok(result)
    }

    fn primary(&mut self) -> Result<bool, String> {
        let token = self.next()?;
        match token {
            "(" => {
                let result = self.or()?;
                self.expect(")")?;
                Ok(result)
            }
            "attribute_exists" | "attribute_not_exists" => {
                self.expect("(")?;
                let name = self.placeholders.name(self.next()?)?;
                self.expect(")")?;
                Ok(self.item.contains_key(&name) == (token == "attribute_exists"))
            }
            "attribute_type" => {
                self.expect("(")?;
                let name = self.placeholders.name(self.next()?)?;
                self.expect(",")?;
                let kind = self.placeholders.value(self.next()?)?;
                self.expect(")")?;
                let kind = kind["S"].as_str().unwrap_or_default().to_owned();
                Ok(self
                    .item
                    .get(&name)
                    .and_then(Value::as_object)
                    .is_some_and(|typed| typed.contains_key(&kind)))
            }
            operand => {
                let name = self.placeholders.name(operand)?;
                let actual = self.item.get(&name);
                match self.next()? {
                    "=" => {
                        let value = self.placeholders.value(self.next()?)?;
                        Ok(actual == Some(&value))
                    }
                    "<" => {
                        let value = self.placeholders.value(self.next()?)?;
                        Ok(actual.is_some_and(|actual| number(actual) < number(&value)))
                    }
                    "IN" => {
                        self.expect("(")?;
                        let mut found = false;
                        loop {
                            let value = self.placeholders.value(self.next()?)?;
                            found |= actual == Some(&value);
                            match self.next()? {
                                "," => continue,
                                ")" => break,
                                other => return Err(format!("unexpected {other} in IN")),
                            }
                        }
                        Ok(found)
                    }
                    other => Err(format!("unsupported operator {other}")),
                }
            }
        }
    }
}

fn number(value: &Value) -> f64 {
    value["N"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Applies a `SET` update expression, with an optional `REMOVE` clause
/// after it, to `item`.
pub fn apply_update(
    update: &str,
    item: &mut Item,
    placeholders: &Placeholders,
) -> Result<(), String> {
    let update = update.strip_prefix("SET ").ok_or("only SET updates")?;
    let (update, removals) = match update.split_once(" REMOVE ") {
        Some((set, removals)) => (set, Some(removals)),
        None => (update, None),
    };
    for name in removals.into_iter().flat_map(|r| r.split(',')) {
        item.remove(&placeholders.name(name.trim())?);
    }
    let tokens = tokens(update);
    let mut at = 0;
    let mut next = || {
        let token = tokens.get(at).cloned().ok_or("unexpected end of update");
        at += 1;
        token
    };
    loop {
        let name = placeholders.name(&next()?)?;
        if next()? != "=" {
            return Err("expected =".into());
        }
        let first = next()?;
        let value = if first == "if_not_exists" {
            // if_not_exists ( #a , :default ) + :step
            next()?;
            let existing = placeholders.name(&next()?)?;
            next()?;
            let default = placeholders.value(&next()?)?;
            next()?;
            if next()? != "+" {
                return Err("expected + after if_not_exists".into());
            }
            let step = placeholders.value(&next()?)?;
            let base = item.get(&existing).cloned().unwrap_or(default);
            let sum = number(&base) + number(&step);
            serde_json::json!({"N": format!("{sum}")})
        } else {
            placeholders.value(&first)?
        };
        item.insert(name, value);
        match next() {
            Ok(comma) if comma == "," => continue,
            Ok(other) => return Err(format!("unexpected {other} in update")),
            Err(_) => return Ok(()),
        }
    }
}
