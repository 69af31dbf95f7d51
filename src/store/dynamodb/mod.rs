//! The DynamoDB engine: the engine primitives mapped onto single DynamoDB
//! requests. Conditional failures and cancellation reasons are read from the
//! typed SDK errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::config::DynamoDbTimeouts;

use super::engine::{
    Change, Changes, Condition, Direction, EngineError, Index, Item, MAX_TRANSACTION_ITEMS, Query,
    Segment, Value, WriteOp,
};
use super::keys::{GSI1, GSI1PK, GSI2, GSI2PK, Key, PK};

mod clients;
mod errors;
mod expression;
pub mod preflight;
mod table;

use clients::Clients;
use errors::{Cancellation, cancellation, classify, internal, single_failure};

use expression::{Expression, from_attributes, key_map, start_key, transact_item};

/// Bounded retries of a transaction that DynamoDB cancelled only because
/// another transaction touched the same items at the same moment; all of
/// them within the request's budget (see `store::budget`).
const CONFLICT_ATTEMPTS: u32 = 3;

/// The first pause before asking again about a transaction DynamoDB says is
/// still in progress; doubled each time.
const IN_PROGRESS_PAUSE: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct DynamoDbEngine {
    clients: Arc<Clients>,
    table: Arc<str>,
    requests: Arc<AtomicU64>,
    /// `DYNAMODB_TIMEOUT_MS`: one request's DynamoDB time, all its calls.
    call_budget: Duration,
    /// What the table lacks, checked at start-up (see `preflight`).
    health: Arc<preflight::TableHealth>,
}

impl DynamoDbEngine {
    /// Connects with the shared AWS configuration and `timeouts`, so an
    /// unreachable or slow endpoint fails within a known time, never hangs.
    /// `key_arn` is the KMS key the deployment grants (`TABLE_KEY_ARN`).
    pub async fn connect(
        table: &str,
        create_table: bool,
        timeouts: DynamoDbTimeouts,
        key_arn: Option<String>,
    ) -> anyhow::Result<Self> {
        let sdk_config = crate::aws::sdk_config().await;
        let requests = Arc::new(AtomicU64::new(0));
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .timeout_config(crate::aws::call_timeouts(timeouts.attempt, timeouts.call))
            // The attempt timeout already bounds an answer that stalls: every
            // DynamoDB answer is read whole within its attempt. The SDK's
            // stream watchdog on top cost CPU on every call.
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            )
            .interceptor(CountRequests(Arc::clone(&requests)))
            .build();
        let clients = Arc::new(Clients::new(config));
        if create_table {
            table::create_if_missing(&clients.get(), table)
                .await
                .with_context(|| format!("cannot create the table {table}"))?;
        }
        let health = preflight::TableHealth::new(table, key_arn);
        Ok(Self {
            clients,
            table: table.into(),
            requests,
            call_budget: timeouts.call,
            health: Arc::new(health),
        })
    }

    /// What the table lacks now (a fresh `DescribeTable`), for `preflight`.
    pub async fn check_table(&self) -> anyhow::Result<Vec<preflight::Finding>> {
        preflight::check(&self.clients.get(), &self.table, self.health.key_arn()).await
    }

    /// Checks the table for a serving task: what it lacks is kept for
    /// readiness and the index guards (see `preflight`).
    pub async fn check_table_for_serving(&self) {
        self.health.refresh(&self.clients.get()).await;
    }

    /// What the table lacked when last checked, for readiness.
    pub async fn table_findings(&self) -> Arc<Vec<preflight::Finding>> {
        self.health.findings(&self.clients.get()).await
    }

    /// One request's DynamoDB time (see `store::budget`).
    pub fn call_budget(&self) -> Duration {
        self.call_budget
    }

    /// How many HTTP requests this engine has sent to DynamoDB, retries included.
    pub fn request_count(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.requests)
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Item>, EngineError> {
        let output = self
            .clients
            .get()
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
        let (index_name, partition_attribute) = match query.index {
            Index::Table => (None, PK),
            Index::Gsi1 => (Some(GSI1), GSI1PK),
            Index::Gsi2 => (Some(GSI2), GSI2PK),
        };
        if let Some(name) = index_name
            && !self.health.usable(query.index, &self.clients.get()).await
        {
            return Err(EngineError::IndexUnavailable(name));
        }
        let start_key = query
            .start_after
            .as_ref()
            .map(|item| start_key(item, query.index));
        let output = self
            .clients
            .get()
            .query()
            .table_name(&*self.table)
            .set_index_name(index_name.map(str::to_owned))
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

    /// A page of one segment of a parallel scan, and where the next starts
    /// ("Parallel scan" in the
    /// DynamoDB Developer Guide: each segment is scanned on its own, and
    /// its `LastEvaluatedKey` continues that segment only).
    pub async fn scan(
        &self,
        segment: Segment,
        start_after: Option<Key>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Key>), EngineError> {
        let parallel = segment.total > 1;
        let output = self
            .clients
            .get()
            .scan()
            .table_name(&*self.table)
            .set_segment(parallel.then_some(segment.index as i32))
            .set_total_segments(parallel.then_some(segment.total as i32))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .set_exclusive_start_key(start_after.as_ref().map(key_map))
            .send()
            .await
            .map_err(classify)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attributes)
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB says where it stopped (a page may also end at 1 MB).
        let next = output
            .last_evaluated_key
            .map(from_attributes)
            .transpose()?
            .and_then(|key| super::engine::key_of(&key));
        Ok((items, next))
    }

    pub async fn approximate_item_count(&self) -> Result<u64, EngineError> {
        let output = self
            .clients
            .get()
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await
            .map_err(classify)?;
        let count = output.table.and_then(|table| table.item_count);
        Ok(count.unwrap_or_default().max(0) as u64)
    }

    pub async fn update(
        &self,
        key: &Key,
        set: Changes,
        condition: Condition,
    ) -> Result<Item, EngineError> {
        let mut expression = Expression::default();
        let mut assignments = Vec::new();
        let mut removals = Vec::new();
        for (name, change) in set {
            let name = expression.name("u", name);
            match change {
                Change::Set(value) => {
                    assignments.push(format!("{name} = {}", expression.value("u", value)));
                }
                Change::Increment => {
                    let one = expression.value("u", Value::N("1".into()));
                    assignments.push(format!("{name} = if_not_exists({name}, {one}) + {one}"));
                }
                Change::Remove => removals.push(name),
            }
        }
        let mut update = format!("SET {}", assignments.join(", "));
        if !removals.is_empty() {
            update.push_str(&format!(" REMOVE {}", removals.join(", ")));
        }
        let condition = expression.condition(&condition);
        let result = self
            .clients
            .get()
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
        let deadline = super::budget::deadline(self.call_budget);
        let retry_later = |why: &str, error: &SdkError<TransactWriteItemsError, HttpResponse>| {
            let detail = aws_sdk_dynamodb::error::DisplayErrorContext(error);
            EngineError::Unavailable(anyhow::anyhow!("{why}: {detail}"))
        };
        let (mut conflicts, mut in_progress_pause) = (0, IN_PROGRESS_PAUSE);
        // One token per transaction: the SDK's own retries of this request
        // (after a timeout, say) send the same token, so DynamoDB applies it
        // once ("ClientRequestToken": idempotent for 10 minutes after it
        // completes) and answers a retry as it answered the first.
        let mut token = ulid::Ulid::generate().to_string();
        loop {
            let result = self
                .clients
                .get()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let pause = match cancellation(&error) {
                Cancellation::Conditions(failed) => {
                    return Err(EngineError::ConditionFailed(failed));
                }
                // Contention or throttling that outlasts the retries or the
                // budget: worth a retry later (503), not a fault of ours.
                Cancellation::Conflict if conflicts + 1 >= CONFLICT_ATTEMPTS => {
                    return Err(retry_later("conflicting transactions", &error));
                }
                Cancellation::Conflict => {
                    // Cancelled, so nothing was applied: the retry is a new
                    // write, which a request whose client left never starts.
                    if super::budget::client_gone() {
                        return Err(EngineError::ClientGone);
                    }
                    conflicts += 1;
                    token = ulid::Ulid::generate().to_string();
                    Duration::from_millis(25 * u64::from(conflicts + 1))
                }
                // An attempt that timed out is still running at DynamoDB,
                // and the SDK's retry with its token met it
                // ("TransactionInProgressException"). It may yet commit:
                // asking again with the same token gets its outcome, and
                // one asked 5 s after the first attempt makes DynamoDB
                // complete it. Past the budget, a 503; the client's retry
                // with its Idempotency-Key then finds the write if it
                // committed.
                Cancellation::InProgress => {
                    let pause = in_progress_pause;
                    in_progress_pause *= 2;
                    pause
                }
                Cancellation::Other => return Err(classify(error)),
            };
            if tokio::time::Instant::now() + pause >= deadline {
                return Err(retry_later(
                    "out of the request's DynamoDB time budget",
                    &error,
                ));
            }
            tokio::time::sleep(pause).await;
        }
    }
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
