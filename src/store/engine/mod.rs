//! The narrow interface between the single-table model and a storage engine:
//! get, query one partition, update one item, and an atomic conditional write
//! of several items. Both engines implement exactly these semantics.

use std::collections::BTreeMap;

use std::time::Instant;

use tracing::Instrument;

use crate::telemetry::{metrics, trace};

use super::keys::Key;
use super::{dynamodb::DynamoDbEngine, embedded::EmbeddedEngine};

mod condition;
mod error;

pub use condition::{AttributeCheck, Condition};
pub use error::{ConditionFailed, EngineError, Failure};

/// The most actions one atomic write may hold: DynamoDB's limit for
/// `TransactWriteItems`, which both engines enforce.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// An attribute value. Numbers are kept as their decimal text, as DynamoDB does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    S(String),
    N(String),
}

/// An item: attribute name to value.
pub type Item = BTreeMap<String, Value>;

/// What an update does to one attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Set(Value),
    /// Adds one to a number, an absent one counting as 1 (so the first
    /// increment of an item written before the attribute existed gives 2).
    Increment,
    /// Removes the attribute (an update also sets at least one).
    Remove,
}

/// The changes of one update, attribute by attribute.
pub type Changes = Vec<(&'static str, Change)>;

/// `name = value`, as one of an update's changes.
pub fn set(name: &'static str, value: Value) -> (&'static str, Change) {
    (name, Change::Set(value))
}

/// Applies `changes` to `item`: the embedded engine's counterpart of an
/// update expression.
pub fn apply(item: &mut Item, changes: &[(&'static str, Change)]) {
    for (name, change) in changes {
        let value = match change {
            Change::Set(value) => value.clone(),
            Change::Increment => {
                let current = number(item, name)
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(1);
                Value::N((current + 1).to_string())
            }
            Change::Remove => {
                item.remove(*name);
                continue;
            }
        };
        item.insert((*name).to_owned(), value);
    }
}

/// One part of an atomic write.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Put { item: Item, condition: Condition },
    Delete { key: Key, condition: Condition },
    Check { key: Key, condition: Condition },
}

impl WriteOp {
    pub fn condition(&self) -> &Condition {
        match self {
            WriteOp::Put { condition, .. }
            | WriteOp::Delete { condition, .. }
            | WriteOp::Check { condition, .. } => condition,
        }
    }
}

/// Which sorted view of the table a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Table,
    /// Orders by id.
    Gsi1,
    /// Orders by status, in shards ([`super::keys::STATUS_SHARDS`]).
    Gsi2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// One of the parts a parallel scan splits the table into: `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub total: u32,
}

impl Segment {
    pub const WHOLE: Segment = Segment { index: 0, total: 1 };
}

/// Items of one partition in sort-key order, continuing after `start_after`
/// (the last item of the previous page) when given.
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub direction: Direction,
    pub limit: usize,
    pub start_after: Option<Item>,
}

/// The ops of one atomic write. Each op added is known afterwards by its
/// [`Slot`], never by its position in a list.
#[derive(Debug, Default)]
pub struct Transaction {
    ops: Vec<WriteOp>,
}

/// Where an op sits in its [`Transaction`]: how its failure is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

impl Transaction {
    pub fn add(&mut self, op: WriteOp) -> Slot {
        self.ops.push(op);
        Slot(self.ops.len() - 1)
    }

    /// Adds every op; for ops whose failures nobody reads apart.
    pub fn extend(&mut self, ops: impl IntoIterator<Item = WriteOp>) {
        self.ops.extend(ops);
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }
}

/// The engines, dispatched statically.
#[derive(Clone)]
pub enum Engine {
    Embedded(EmbeddedEngine),
    DynamoDb(DynamoDbEngine),
}

impl Engine {
    /// Runs one storage call in its client span (a child of the request's)
    /// and records its latency and outcome. Operations carry DynamoDB's
    /// names on both engines.
    async fn observe<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let system = match self {
            Engine::Embedded(_) => "redb",
            Engine::DynamoDb(_) => "dynamodb",
        };
        let started = Instant::now();
        let call = async {
            let Engine::DynamoDb(engine) = self else {
                return call.await;
            };
            // The request's budget, shared by all its calls (see `budget`).
            let deadline = super::budget::deadline(engine.call_budget());
            tokio::time::timeout_at(deadline, call)
                .await
                .unwrap_or_else(|_| {
                    Err(EngineError::Unavailable(anyhow::anyhow!(
                        "{operation} ran out of the request's DynamoDB time budget"
                    )))
                })
        };
        let outcome = if trace::traced_here() {
            let span = tracing::info_span!(
                "storage call",
                otel.name = operation,
                otel.kind = "client",
                db.system.name = system,
                db.operation.name = operation,
            );
            call.instrument(span).await
        } else {
            call.await
        };
        // A condition that did not hold is an answer, not a failure.
        let failed = matches!(
            outcome,
            Err(EngineError::Unavailable(_)
                | EngineError::Internal(_)
                | EngineError::IndexUnavailable(_))
        );
        metrics::storage_call(system, operation, started.elapsed(), failed);
        outcome
    }

    /// Starts the work under way's DynamoDB budget if it has not yet (see
    /// `budget`), and returns its deadline; the embedded engine has none.
    pub fn start_budget(&self) -> Option<tokio::time::Instant> {
        match self {
            Engine::Embedded(_) => None,
            Engine::DynamoDb(engine) => Some(super::budget::deadline(engine.call_budget())),
        }
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Item>, EngineError> {
        match self {
            Engine::Embedded(engine) => self.observe("GetItem", engine.get(key)).await,
            Engine::DynamoDb(engine) => self.observe("GetItem", engine.get(key)).await,
        }
    }

    pub async fn query(&self, query: Query) -> Result<Vec<Item>, EngineError> {
        match self {
            Engine::Embedded(engine) => self.observe("Query", engine.query(query)).await,
            Engine::DynamoDb(engine) => self.observe("Query", engine.query(query)).await,
        }
    }

    /// One page of one segment of the whole table, and the key the next
    /// page starts after (`None` at the end): for maintenance commands,
    /// never for requests. The embedded engine has one segment.
    pub async fn scan(
        &self,
        segment: Segment,
        start_after: Option<Key>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Key>), EngineError> {
        match self {
            Engine::Embedded(engine) => self.observe("Scan", engine.scan(start_after, limit)).await,
            Engine::DynamoDb(engine) => {
                let page = engine.scan(segment, start_after, limit);
                self.observe("Scan", page).await
            }
        }
    }

    /// How many segments a scan of this engine can be split into at most.
    pub fn max_segments(&self) -> u32 {
        match self {
            Engine::Embedded(_) => 1,
            Engine::DynamoDb(_) => crate::config::MAX_SEGMENTS,
        }
    }

    /// About how many items the table holds, for a progress bar: exact on
    /// the embedded engine, DynamoDB's estimate (updated about every six
    /// hours) on DynamoDB.
    pub async fn approximate_item_count(&self) -> Result<u64, EngineError> {
        match self {
            Engine::Embedded(engine) => engine.item_count(),
            Engine::DynamoDb(engine) => engine.approximate_item_count().await,
        }
    }

    /// Sets attributes of one existing item if `condition` holds, and returns
    /// the item as it is afterwards.
    pub async fn update(
        &self,
        key: &Key,
        set: Changes,
        condition: Condition,
    ) -> Result<Item, EngineError> {
        if super::budget::client_gone() {
            return Err(EngineError::ClientGone);
        }
        match self {
            Engine::Embedded(engine) => {
                self.observe("UpdateItem", engine.update(key, set, condition))
                    .await
            }
            Engine::DynamoDb(engine) => {
                self.observe("UpdateItem", engine.update(key, set, condition))
                    .await
            }
        }
    }

    /// What the table lacks that the service needs (see
    /// `dynamodb::preflight`), checked now; the embedded engine makes its
    /// own tables and lacks nothing.
    pub async fn check_table(&self) -> anyhow::Result<Vec<super::dynamodb::preflight::Finding>> {
        match self {
            Engine::Embedded(_) => Ok(Vec::new()),
            Engine::DynamoDb(engine) => engine.check_table().await,
        }
    }

    /// Checks the table for a serving task (the embedded engine's is its own).
    pub async fn check_table_for_serving(&self) {
        if let Engine::DynamoDb(engine) = self {
            engine.check_table_for_serving().await;
        }
    }

    /// What the table lacked when last checked (refreshed while stale).
    pub async fn table_findings(&self) -> Vec<super::dynamodb::preflight::Finding> {
        match self {
            Engine::Embedded(_) => Vec::new(),
            Engine::DynamoDb(engine) => engine.table_findings().await.as_ref().clone(),
        }
    }

    /// Applies all ops or none: every condition holds at the moment of the write.
    pub async fn write(&self, transaction: Transaction) -> Result<(), EngineError> {
        if super::budget::client_gone() {
            return Err(EngineError::ClientGone);
        }
        let ops = transaction.into_ops();
        match self {
            Engine::Embedded(engine) => self.observe("TransactWriteItems", engine.write(ops)).await,
            Engine::DynamoDb(engine) => self.observe("TransactWriteItems", engine.write(ops)).await,
        }
    }
}

/// An attribute of an item in DynamoDB's JSON form that is not a typed
/// value (`{"S": ...}`).
#[derive(Debug, thiserror::Error)]
#[error("attribute {0} is not a typed value")]
pub struct UntypedAttribute(pub String);

/// An item from DynamoDB's JSON form (`{"PK": {"S": "..."}, "Amount":
/// {"N": "5"}}`), as stream records and the Pipe carry it. The item model
/// has strings and numbers only; attributes of other types are passed over.
pub fn item_from_json(
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> Result<Item, UntypedAttribute> {
    let mut item = Item::new();
    for (name, typed) in attributes {
        let serde_json::Value::Object(typed) = typed else {
            return Err(UntypedAttribute(name.clone()));
        };
        let value = match (typed.get("S"), typed.get("N")) {
            (Some(serde_json::Value::String(text)), _) => Value::S(text.clone()),
            (_, Some(serde_json::Value::String(number))) => Value::N(number.clone()),
            _ => continue,
        };
        item.insert(name.clone(), value);
    }
    Ok(item)
}

/// An item in DynamoDB's JSON form: [`item_from_json`]'s inverse.
pub fn item_to_json(item: &Item) -> serde_json::Value {
    let attributes = item
        .iter()
        .map(|(name, value)| {
            let typed = match value {
                Value::S(text) => serde_json::json!({ "S": text }),
                Value::N(number) => serde_json::json!({ "N": number }),
            };
            (name.clone(), typed)
        })
        .collect();
    serde_json::Value::Object(attributes)
}

/// Reads a string attribute.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(Value::S(value)) => Some(value),
        _ => None,
    }
}

/// Reads a number attribute's decimal text.
pub fn number<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(Value::N(value)) => Some(value),
        _ => None,
    }
}

/// An item holding only `key`'s attributes: a query's start position, or
/// the item an update creates.
pub fn key_item(key: &Key) -> Item {
    Item::from([
        (super::keys::PK.to_owned(), Value::S(key.pk.clone())),
        (super::keys::SK.to_owned(), Value::S(key.sk.clone())),
    ])
}

/// The primary key of an item.
pub fn key_of(item: &Item) -> Option<Key> {
    Some(Key {
        pk: text(item, super::keys::PK)?.to_owned(),
        sk: text(item, super::keys::SK)?.to_owned(),
    })
}
