//! The DynamoDB engine: the engine primitives mapped onto single DynamoDB
//! requests. Conditional failures and cancellation reasons are read from the
//! typed SDK errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use crate::config::DynamoDbTimeouts;

use super::engine::{
    AttributeCheck, Change, Changes, Condition, ConditionFailed, Direction, EngineError, Failure,
    Index, Item, MAX_TRANSACTION_ITEMS, Query, Value, WriteOp,
};
use super::keys::{GSI1, GSI1PK, GSI1SK, Key, PK, SK};

mod table;

type AttributeMap = HashMap<String, AttributeValue>;

/// Bounded retries of a transaction that DynamoDB cancelled only because
/// another transaction touched the same items at the same moment.
const CONFLICT_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct DynamoDbEngine {
    client: Client,
    table: Arc<str>,
    requests: Arc<AtomicU64>,
}

impl DynamoDbEngine {
    /// Connects with the shared AWS configuration and `timeouts`, so an
    /// unreachable or slow endpoint fails within a known time, never hangs.
    pub async fn connect(
        table: &str,
        create_table: bool,
        timeouts: DynamoDbTimeouts,
    ) -> anyhow::Result<Self> {
        let sdk_config = crate::aws::sdk_config().await;
        let requests = Arc::new(AtomicU64::new(0));
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .timeout_config(crate::aws::call_timeouts(timeouts.attempt, timeouts.call))
            .interceptor(CountRequests(Arc::clone(&requests)))
            .build();
        let engine = Self {
            client: Client::from_conf(config),
            table: table.into(),
            requests,
        };
        if create_table {
            table::create_if_missing(&engine.client, table)
                .await
                .with_context(|| format!("cannot create the table {table}"))?;
        }
        Ok(engine)
    }

    /// How many HTTP requests this engine has sent to DynamoDB, retries included.
    pub fn request_count(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.requests)
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Item>, EngineError> {
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item.map(from_attributes).transpose()
    }

    pub async fn query(&self, query: Query) -> Result<Vec<Item>, EngineError> {
        let partition_attribute = match query.index {
            Index::Table => PK,
            Index::Gsi1 => GSI1PK,
        };
        let start_key = query
            .start_after
            .as_ref()
            .map(|item| start_key(item, query.index));
        let output = self
            .client
            .query()
            .table_name(&*self.table)
            .set_index_name((query.index == Index::Gsi1).then(|| GSI1.to_owned()))
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", partition_attribute)
            .expression_attribute_values(":p", AttributeValue::S(query.partition))
            .scan_index_forward(query.direction == Direction::Ascending)
            .limit(i32::try_from(query.limit).unwrap_or(i32::MAX))
            // Consistent reads exist only on the table, not on a global index.
            .set_consistent_read((query.index == Index::Table).then_some(true))
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(classify)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attributes)
            .collect()
    }

    pub async fn update(
        &self,
        key: &Key,
        set: Changes,
        condition: Condition,
    ) -> Result<Item, EngineError> {
        let mut expression = Expression::default();
        let assignments: Vec<String> = set
            .into_iter()
            .map(|(name, change)| {
                let name = expression.name("u", name);
                match change {
                    Change::Set(value) => format!("{name} = {}", expression.value("u", value)),
                    Change::Increment => {
                        let one = expression.value("u", Value::N("1".into()));
                        format!("{name} = if_not_exists({name}, {one}) + {one}")
                    }
                }
            })
            .collect();
        let update = format!("SET {}", assignments.join(", "));
        let condition = expression.condition(&condition);
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key_map(key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(expression.names))
            .set_expression_attribute_values(Some(expression.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => from_attributes(output.attributes.unwrap_or_default()),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Err(single_failure(failed.item.clone()))
                }
                _ => Err(classify(error)),
            },
        }
    }

    /// One `TransactWriteItems`: the conditions and the writes are one atomic
    /// request, with per-item cancellation reasons when a condition fails.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), EngineError> {
        if ops.len() > MAX_TRANSACTION_ITEMS {
            return Err(EngineError::Internal(anyhow::anyhow!(
                "a transaction of {} items exceeds DynamoDB's limit of {MAX_TRANSACTION_ITEMS}",
                ops.len()
            )));
        }
        let items = ops
            .into_iter()
            .map(|op| transact_item(&self.table, op))
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 1;
        loop {
            // One token per attempt: the SDK's own retries of this request
            // (after a timeout, say) send the same token, so DynamoDB applies
            // it once ("ClientRequestToken": idempotent for 10 minutes) and
            // answers the retry as it would have answered the first.
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(ulid::Ulid::generate().to_string())
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            match cancellation(&error) {
                Cancellation::Conditions(failed) => {
                    return Err(EngineError::ConditionFailed(failed));
                }
                Cancellation::Conflict if attempt < CONFLICT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
                }
                // Contention or throttling that outlasted the retries: worth
                // a retry later (503), not a fault of ours.
                Cancellation::Conflict => {
                    let detail = aws_sdk_dynamodb::error::DisplayErrorContext(&error);
                    return Err(EngineError::Unavailable(anyhow::anyhow!("{detail}")));
                }
                Cancellation::Other => return Err(classify(error)),
            }
        }
    }
}

enum Cancellation {
    Conditions(ConditionFailed),
    Conflict,
    Other,
}

/// Reads DynamoDB's per-item cancellation reasons (in request order).
fn cancellation(error: &SdkError<TransactWriteItemsError, HttpResponse>) -> Cancellation {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return Cancellation::Other;
    };
    let reasons = cancelled.cancellation_reasons();
    if reasons
        .iter()
        .any(|r| r.code() == Some("ConditionalCheckFailed"))
    {
        let failures = reasons
            .iter()
            .map(|reason| {
                (reason.code() == Some("ConditionalCheckFailed")).then(|| Failure {
                    current: reason
                        .item()
                        .cloned()
                        .and_then(|item| from_attributes(item).ok()),
                })
            })
            .collect();
        return Cancellation::Conditions(ConditionFailed { failures });
    }
    // A conflicting transaction, or a throttled item within this one.
    const RETRYABLE: [&str; 3] = [
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    ];
    if reasons
        .iter()
        .any(|r| r.code().is_some_and(|code| RETRYABLE.contains(&code)))
    {
        Cancellation::Conflict
    } else {
        Cancellation::Other
    }
}

fn transact_item(table: &str, op: WriteOp) -> Result<TransactWriteItem, EngineError> {
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
struct Expression {
    names: HashMap<String, String>,
    values: AttributeMap,
}

impl Expression {
    fn name(&mut self, prefix: &str, name: &str) -> String {
        let placeholder = format!("#{prefix}{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, prefix: &str, value: Value) -> String {
        let placeholder = format!(":{prefix}{}", self.values.len());
        self.values.insert(placeholder.clone(), to_attribute(value));
        placeholder
    }

    /// The condition expression, or `None` for an unconditional write.
    fn condition(&mut self, condition: &Condition) -> Option<String> {
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
                        AttributeCheck::EqualsOrAbsent(name, value) => {
                            let name = self.name("c", name);
                            let value = self.value("c", value.clone());
                            format!("({name} = {value} OR attribute_not_exists({name}))")
                        }
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

    fn names_if_any(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values_if_any(&self) -> Option<AttributeMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn single_failure(current: Option<AttributeMap>) -> EngineError {
    let current = current.and_then(|item| from_attributes(item).ok());
    EngineError::ConditionFailed(ConditionFailed {
        failures: vec![Some(Failure { current })],
    })
}

/// Throttling, timeouts, unreachable endpoints and server faults are worth a
/// retry later (503); anything else is a fault of ours (500).
fn classify<E>(error: SdkError<E, HttpResponse>) -> EngineError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    const THROTTLING_CODES: [&str; 4] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
    ];
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service
                    .err()
                    .code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        _ => false,
    };
    let error = anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&error));
    if retryable {
        EngineError::Unavailable(error)
    } else {
        EngineError::Internal(error)
    }
}

fn internal(error: impl Into<anyhow::Error>) -> EngineError {
    EngineError::Internal(error.into())
}

fn key_map(key: &Key) -> AttributeMap {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// DynamoDB's exclusive start key: the key attributes of the last item seen.
fn start_key(item: &Item, index: Index) -> AttributeMap {
    let names: &[&str] = match index {
        Index::Table => &[PK, SK],
        Index::Gsi1 => &[PK, SK, GSI1PK, GSI1SK],
    };
    names
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), to_attribute(item.get(*name)?.clone()))))
        .collect()
}

fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::S(text) => AttributeValue::S(text),
        Value::N(number) => AttributeValue::N(number),
    }
}

fn to_attributes(item: Item) -> AttributeMap {
    item.into_iter()
        .map(|(name, value)| (name, to_attribute(value)))
        .collect()
}

fn from_attributes(attributes: AttributeMap) -> Result<Item, EngineError> {
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

/// Counts every HTTP request the client sends, retries included.
#[derive(Debug)]
struct CountRequests(Arc<AtomicU64>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
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
        let nothing = Condition::ExistsAnd(vec![AttributeCheck::In("Status", vec![])]);
        assert_eq!(
            render(&nothing).0.unwrap(),
            "attribute_exists(#pk) AND (attribute_exists(#c1) AND attribute_not_exists(#c1))"
        );
    }
}
