//! The embedded engine: a redb database file under `DATA_DIR`.
//!
//! Reads run on the caller's thread against a snapshot. Writes go to a single
//! writer thread that evaluates each write's conditions and applies it inside
//! one redb transaction per batch: conditions are checked against the latest
//! committed-or-batched state (so they hold under any concurrency), and one
//! fsync covers every write waiting in the queue (group commit). Like
//! DynamoDB's TTL, the writer deletes items whose `ExpiresAt` has passed, a
//! few with each batch.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::{Notify, mpsc, oneshot};

use super::engine::{
    Condition, ConditionFailed, Direction, EngineError, Failure, Index, Item, Query, Value,
    WriteOp, key_of, text,
};
use super::keys::{EXPIRES_AT, GSI1PK, GSI1SK, Key, PK, SK};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
/// GSI1 entries: (GSI1PK, GSI1SK, PK, SK), pointing into `ITEMS`.
const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");
/// The change feed: sequence number to a DynamoDB-stream-shaped record of
/// one item change, written in the same transaction as the change itself.
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// Like a DynamoDB stream, the feed keeps changes for 24 hours.
const CHANGE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Items with an `ExpiresAt`, by when: (epoch seconds, PK, SK).
const EXPIRIES: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("expiries");
/// Facts about the file's layout. `EXPIRIES_INDEXED` is set once `EXPIRIES`
/// covers every item: files written before the index existed get it built
/// on their first open.
const LAYOUT: TableDefinition<&str, u64> = TableDefinition::new("layout");
const EXPIRIES_INDEXED: &str = "expiries-indexed";
/// Expired items deleted with one write batch at most, so a backlog (after a
/// long stop) is worked off without holding any batch up for long.
const EXPIRED_PER_BATCH: usize = 64;

const FILE_NAME: &str = "ecommerce.redb";
/// redb's page cache (default 1 GiB) grew the process past 400 MiB under a
/// write-heavy benchmark. The OS page cache still holds the file, so a small
/// cache costs reads a copy, not a disk seek.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Writes waiting beyond this are refused with `Unavailable` (back-pressure)
/// rather than queued without bound.
const QUEUE_CAPACITY: usize = 4096;
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct EmbeddedEngine {
    db: Arc<Database>,
    jobs: mpsc::Sender<Job>,
    changed: Arc<Notify>,
}

/// A write for the writer thread. It answers with the updated item for an
/// update and `None` for a multi-item write.
struct Job {
    request: Request,
    reply: oneshot::Sender<Result<Option<Item>, EngineError>>,
}

enum Request {
    Write(Vec<WriteOp>),
    Update {
        key: Key,
        set: Vec<(&'static str, Value)>,
        condition: Condition,
    },
    /// Drop change records that were handled.
    Forget(Vec<u64>),
}

impl EmbeddedEngine {
    /// Opens (or creates) the database in `data_dir` and starts its writer.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        let setup = db.begin_write()?;
        setup.open_table(ITEMS)?;
        setup.open_table(GSI1)?;
        setup.open_table(CHANGES)?;
        index_expiries(&setup)?;
        setup.commit()?;

        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let writer_db = Arc::clone(&db);
        let changed = Arc::new(Notify::new());
        let writer_changed = Arc::clone(&changed);
        std::thread::Builder::new()
            .name("embedded-writer".into())
            .spawn(move || run_writer(&writer_db, queue, &writer_changed))
            .context("cannot start the embedded writer thread")?;
        Ok(Self { db, jobs, changed })
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Item>, EngineError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let items = txn.open_table(ITEMS).map_err(internal)?;
        let found = items
            .get((key.pk.as_str(), key.sk.as_str()))
            .map_err(internal)?;
        found.map(|bytes| decode(bytes.value())).transpose()
    }

    pub async fn query(&self, query: Query) -> Result<Vec<Item>, EngineError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let items = txn.open_table(ITEMS).map_err(internal)?;
        match query.index {
            Index::Table => query_table(&items, &query),
            Index::Gsi1 => {
                let index = txn.open_table(GSI1).map_err(internal)?;
                query_gsi1(&items, &index, &query)
            }
        }
    }

    pub async fn update(
        &self,
        key: &Key,
        set: Vec<(&'static str, Value)>,
        condition: Condition,
    ) -> Result<Item, EngineError> {
        let request = Request::Update {
            key: key.clone(),
            set,
            condition,
        };
        self.submit(request)
            .await?
            .ok_or_else(|| internal(anyhow::anyhow!("an update returned no item")))
    }

    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), EngineError> {
        self.submit(Request::Write(ops)).await.map(drop)
    }

    /// The oldest change records not yet forgotten, as (sequence, JSON).
    pub fn pending_changes(&self, limit: usize) -> Result<Vec<(u64, String)>, EngineError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let changes = txn.open_table(CHANGES).map_err(internal)?;
        changes
            .iter()
            .map_err(internal)?
            .take(limit)
            .map(|entry| {
                let (sequence, record) = entry.map_err(internal)?;
                let record = String::from_utf8(record.value().to_vec()).map_err(internal)?;
                Ok((sequence.value(), record))
            })
            .collect()
    }

    /// Removes handled change records.
    pub async fn forget_changes(&self, sequences: Vec<u64>) -> Result<(), EngineError> {
        self.submit(Request::Forget(sequences)).await.map(drop)
    }

    /// Woken after every commit that recorded a change.
    pub fn change_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.changed)
    }

    async fn submit(&self, request: Request) -> Result<Option<Item>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job { request, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => {
                    EngineError::Unavailable(anyhow::anyhow!("the embedded write queue is full"))
                }
                mpsc::error::TrySendError::Closed(_) => writer_gone(),
            })?;
        answer.await.map_err(|_| writer_gone())?
    }
}

type ItemsTable = redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>;
type Gsi1Table = redb::ReadOnlyTable<(&'static str, &'static str, &'static str, &'static str), ()>;

fn query_table(items: &ItemsTable, query: &Query) -> Result<Vec<Item>, EngineError> {
    let pk = query.partition.as_str();
    // The smallest string greater than `pk`: every key of the partition is below it.
    let next_partition = format!("{pk}\0");
    let end = Bound::Excluded((next_partition.as_str(), ""));
    let start_sk = query.start_after.as_ref().and_then(|item| text(item, SK));
    let bounds = match (query.direction, start_sk) {
        (Direction::Ascending, Some(sk)) => (Bound::Excluded((pk, sk)), end),
        (Direction::Descending, Some(sk)) => (Bound::Included((pk, "")), Bound::Excluded((pk, sk))),
        (_, None) => (Bound::Included((pk, "")), end),
    };
    let range = items.range::<(&str, &str)>(bounds).map_err(internal)?;
    let entries: Box<dyn Iterator<Item = _>> = match query.direction {
        Direction::Ascending => Box::new(range),
        Direction::Descending => Box::new(range.rev()),
    };
    entries
        .take(query.limit)
        .map(|entry| {
            let (_, bytes) = entry.map_err(internal)?;
            decode(bytes.value())
        })
        .collect()
}

fn query_gsi1(
    items: &ItemsTable,
    index: &Gsi1Table,
    query: &Query,
) -> Result<Vec<Item>, EngineError> {
    let gpk = query.partition.as_str();
    let next_partition = format!("{gpk}\0");
    let end = Bound::Excluded((next_partition.as_str(), "", "", ""));
    let start = query
        .start_after
        .as_ref()
        .and_then(|item| Some((text(item, GSI1SK)?, text(item, PK)?, text(item, SK)?)));
    let bounds = match (query.direction, start) {
        (Direction::Ascending, Some((gsk, pk, sk))) => (Bound::Excluded((gpk, gsk, pk, sk)), end),
        (Direction::Descending, Some((gsk, pk, sk))) => (
            Bound::Included((gpk, "", "", "")),
            Bound::Excluded((gpk, gsk, pk, sk)),
        ),
        (_, None) => (Bound::Included((gpk, "", "", "")), end),
    };
    let range = index
        .range::<(&str, &str, &str, &str)>(bounds)
        .map_err(internal)?;
    let entries: Box<dyn Iterator<Item = _>> = match query.direction {
        Direction::Ascending => Box::new(range),
        Direction::Descending => Box::new(range.rev()),
    };
    let mut found = Vec::new();
    for entry in entries.take(query.limit) {
        let (entry, _) = entry.map_err(internal)?;
        let (_, _, pk, sk) = entry.value();
        let bytes = items
            .get((pk, sk))
            .map_err(internal)?
            .ok_or_else(|| EngineError::Internal(anyhow::anyhow!("GSI1 entry without its item")))?;
        found.push(decode(bytes.value())?);
    }
    Ok(found)
}

/// The writer thread: drains the queue in batches, one transaction and one
/// fsync per batch. It ends when every engine handle is dropped.
fn run_writer(db: &Database, mut queue: mpsc::Receiver<Job>, changed: &Notify) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match apply_batch(db, &batch) {
            Ok(outcomes) => {
                changed.notify_one();
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    // A caller that went away (request cancelled) needs no answer.
                    let _ = job.reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(error = ?error, "embedded write batch failed");
                for job in batch {
                    let failure = anyhow::anyhow!("the embedded write batch failed: {error}");
                    let _ = job.reply.send(Err(EngineError::Internal(failure)));
                }
            }
        }
    }
}

type Outcome = Result<Option<Item>, EngineError>;

fn apply_batch(db: &Database, batch: &[Job]) -> anyhow::Result<Vec<Outcome>> {
    let txn = db.begin_write()?;
    let outcomes = batch
        .iter()
        .map(|job| apply_job(&txn, job))
        .collect::<anyhow::Result<Vec<_>>>()?;
    expire_changes(&txn)?;
    expire_items(&txn)?;
    txn.commit()?;
    Ok(outcomes)
}

/// Drops change records past the retention, a few per batch, oldest first.
fn expire_changes(txn: &WriteTransaction) -> anyhow::Result<()> {
    let cutoff = epoch_seconds(
        SystemTime::now()
            .checked_sub(CHANGE_RETENTION)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let mut changes = txn.open_table(CHANGES)?;
    let mut expired = Vec::new();
    for entry in changes.iter()?.take(64) {
        let (sequence, record) = entry?;
        let record: serde_json::Value = serde_json::from_slice(record.value())?;
        let at = record["dynamodb"]["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap_or(0.0);
        if at >= cutoff {
            break;
        }
        expired.push(sequence.value());
    }
    for sequence in expired {
        changes.remove(sequence)?;
    }
    Ok(())
}

/// Deletes items whose `ExpiresAt` has passed, oldest first, each with a
/// REMOVE in the change feed as DynamoDB's TTL deletions have in the stream.
fn expire_items(txn: &WriteTransaction) -> anyhow::Result<()> {
    let now = epoch_seconds(SystemTime::now()) as u64;
    let expired = {
        let expiries = txn.open_table(EXPIRIES)?;
        expiries
            .range(..(now, "", ""))?
            .take(EXPIRED_PER_BATCH)
            .map(|entry| {
                let (entry, _) = entry?;
                let (_, pk, sk) = entry.value();
                Ok(Key {
                    pk: pk.to_owned(),
                    sk: sk.to_owned(),
                })
            })
            .collect::<anyhow::Result<Vec<Key>>>()?
    };
    if expired.is_empty() {
        return Ok(());
    }
    let mut tables = Tables::open(txn, txn.open_table(ITEMS)?)?;
    for key in &expired {
        tables.delete(key)?;
    }
    Ok(())
}

/// Builds the expiry index over every item once, for a file written before
/// it existed.
fn index_expiries(txn: &WriteTransaction) -> anyhow::Result<()> {
    let mut layout = txn.open_table(LAYOUT)?;
    if layout.get(EXPIRIES_INDEXED)?.is_some() {
        return Ok(());
    }
    let items = txn.open_table(ITEMS)?;
    let mut expiries = txn.open_table(EXPIRIES)?;
    for entry in items.iter()? {
        let (key, bytes) = entry?;
        let (pk, sk) = key.value();
        if let Some(at) = expires_at(&decode(bytes.value())?) {
            expiries.insert((at, pk, sk), ())?;
        }
    }
    layout.insert(EXPIRIES_INDEXED, 1)?;
    Ok(())
}

/// When an item expires; `None` when it never does (no numeric `ExpiresAt`).
fn expires_at(item: &Item) -> Option<u64> {
    match item.get(EXPIRES_AT)? {
        Value::N(seconds) => seconds.parse().ok(),
        Value::S(_) => None,
    }
}

fn apply_job(txn: &WriteTransaction, job: &Job) -> anyhow::Result<Outcome> {
    match &job.request {
        Request::Write(ops) => apply_write(txn, ops),
        Request::Update {
            key,
            set,
            condition,
        } => apply_update(txn, key, set, condition),
        Request::Forget(sequences) => {
            let mut changes = txn.open_table(CHANGES)?;
            for sequence in sequences {
                changes.remove(sequence)?;
            }
            Ok(Ok(None))
        }
    }
}

fn apply_write(txn: &WriteTransaction, ops: &[WriteOp]) -> anyhow::Result<Outcome> {
    let items = txn.open_table(ITEMS)?;
    let mut any_failed = false;
    let mut failures = Vec::with_capacity(ops.len());
    for op in ops {
        let key = target_key(op)?;
        let current = read(&items, &key)?;
        if op.condition().holds_for(current.as_ref()) {
            failures.push(None);
        } else {
            any_failed = true;
            failures.push(Some(Failure { current }));
        }
    }
    if any_failed {
        return Ok(Err(EngineError::ConditionFailed(ConditionFailed {
            failures,
        })));
    }
    let mut tables = Tables::open(txn, items)?;
    for op in ops {
        match op {
            WriteOp::Put { item, .. } => tables.put(&target_key(op)?, item)?,
            WriteOp::Delete { key, .. } => tables.delete(key)?,
            WriteOp::Check { .. } => {}
        }
    }
    Ok(Ok(None))
}

fn apply_update(
    txn: &WriteTransaction,
    key: &Key,
    set: &[(&'static str, Value)],
    condition: &Condition,
) -> anyhow::Result<Outcome> {
    let items = txn.open_table(ITEMS)?;
    let current = read(&items, key)?;
    if !condition.holds_for(current.as_ref()) {
        let failures = vec![Some(Failure { current })];
        return Ok(Err(EngineError::ConditionFailed(ConditionFailed {
            failures,
        })));
    }
    // Like DynamoDB's UpdateItem, an update without a condition creates the item.
    let mut item = current.unwrap_or_else(|| {
        Item::from([
            (PK.to_owned(), Value::S(key.pk.clone())),
            (SK.to_owned(), Value::S(key.sk.clone())),
        ])
    });
    for (name, value) in set {
        item.insert((*name).to_owned(), value.clone());
    }
    let mut tables = Tables::open(txn, items)?;
    tables.put(key, &item)?;
    Ok(Ok(Some(item)))
}

type WriteItems<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;
type WriteGsi1<'t> = redb::Table<'t, (&'static str, &'static str, &'static str, &'static str), ()>;

fn target_key(op: &WriteOp) -> anyhow::Result<Key> {
    match op {
        WriteOp::Put { item, .. } => key_of(item).context("a put item lacks its PK or SK"),
        WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Ok(key.clone()),
    }
}

fn read(items: &WriteItems<'_>, key: &Key) -> anyhow::Result<Option<Item>> {
    let found = items.get((key.pk.as_str(), key.sk.as_str()))?;
    Ok(found.map(|bytes| decode(bytes.value())).transpose()?)
}

/// The tables one write touches: items, their GSI1 and expiry entries, and
/// the change feed.
struct Tables<'t> {
    items: WriteItems<'t>,
    index: WriteGsi1<'t>,
    expiries: redb::Table<'t, (u64, &'static str, &'static str), ()>,
    changes: redb::Table<'t, u64, &'static [u8]>,
}

impl<'t> Tables<'t> {
    /// The rest of the tables, for a write that has read `items` already.
    fn open(txn: &'t WriteTransaction, items: WriteItems<'t>) -> anyhow::Result<Self> {
        Ok(Self {
            items,
            index: txn.open_table(GSI1)?,
            expiries: txn.open_table(EXPIRIES)?,
            changes: txn.open_table(CHANGES)?,
        })
    }

    fn put(&mut self, key: &Key, item: &Item) -> anyhow::Result<()> {
        let old = read(&self.items, key)?;
        self.unindex(key, old.as_ref())?;
        let bytes = serde_json::to_vec(item)?;
        self.items
            .insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())?;
        if let (Some(gpk), Some(gsk)) = (text(item, GSI1PK), text(item, GSI1SK)) {
            self.index
                .insert((gpk, gsk, key.pk.as_str(), key.sk.as_str()), ())?;
        }
        if let Some(at) = expires_at(item) {
            self.expiries
                .insert((at, key.pk.as_str(), key.sk.as_str()), ())?;
        }
        self.record_change(key, old.as_ref(), Some(item))
    }

    fn delete(&mut self, key: &Key) -> anyhow::Result<()> {
        let old = read(&self.items, key)?;
        if old.is_some() {
            self.unindex(key, old.as_ref())?;
            self.items.remove((key.pk.as_str(), key.sk.as_str()))?;
            self.record_change(key, old.as_ref(), None)?;
        }
        Ok(())
    }

    fn unindex(&mut self, key: &Key, old: Option<&Item>) -> anyhow::Result<()> {
        let Some(old) = old else { return Ok(()) };
        if let (Some(gpk), Some(gsk)) = (text(old, GSI1PK), text(old, GSI1SK)) {
            self.index
                .remove((gpk, gsk, key.pk.as_str(), key.sk.as_str()))?;
        }
        if let Some(at) = expires_at(old) {
            self.expiries
                .remove((at, key.pk.as_str(), key.sk.as_str()))?;
        }
        Ok(())
    }

    /// Appends a record in the shape of a DynamoDB stream record with
    /// NEW_AND_OLD_IMAGES, so one decoder serves every source.
    fn record_change(
        &mut self,
        key: &Key,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> anyhow::Result<()> {
        let sequence = match self.changes.last()? {
            Some((last, _)) => last.value() + 1,
            None => 1,
        };
        let kind = match (old, new) {
            (None, _) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
        };
        let keys = Item::from([
            (PK.to_owned(), Value::S(key.pk.clone())),
            (SK.to_owned(), Value::S(key.sk.clone())),
        ]);
        let mut change = serde_json::json!({
            "Keys": keys,
            "SequenceNumber": sequence.to_string(),
            "ApproximateCreationDateTime": epoch_seconds(SystemTime::now()),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(new) = new {
            change["NewImage"] = serde_json::to_value(new)?;
        }
        if let Some(old) = old {
            change["OldImage"] = serde_json::to_value(old)?;
        }
        let record = serde_json::json!({
            "eventID": ulid::Ulid::generate().to_string(),
            "eventName": kind,
            "eventSource": "embedded",
            "dynamodb": change,
        });
        self.changes
            .insert(sequence, serde_json::to_vec(&record)?.as_slice())?;
        Ok(())
    }
}

fn epoch_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn decode(bytes: &[u8]) -> Result<Item, EngineError> {
    serde_json::from_slice(bytes).map_err(internal)
}

fn internal(error: impl Into<anyhow::Error>) -> EngineError {
    EngineError::Internal(error.into())
}

fn writer_gone() -> EngineError {
    EngineError::Internal(anyhow::anyhow!("the embedded writer thread has stopped"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        epoch_seconds(SystemTime::now()) as i64
    }

    fn item(pk: &str, expires_at: Option<i64>) -> Item {
        let mut item = Item::from([
            (PK.to_owned(), Value::S(pk.to_owned())),
            (SK.to_owned(), Value::S(pk.to_owned())),
        ]);
        if let Some(at) = expires_at {
            item.insert(EXPIRES_AT.to_owned(), Value::N(at.to_string()));
        }
        item
    }

    fn put(item: Item) -> WriteOp {
        WriteOp::Put {
            item,
            condition: Condition::Always,
        }
    }

    fn key(pk: &str) -> Key {
        Key {
            pk: pk.to_owned(),
            sk: pk.to_owned(),
        }
    }

    fn removals(engine: &EmbeddedEngine) -> Vec<String> {
        engine
            .pending_changes(100)
            .unwrap()
            .into_iter()
            .map(|(_, record)| serde_json::from_str::<serde_json::Value>(&record).unwrap())
            .filter(|record| record["eventName"] == "REMOVE")
            .map(|record| {
                record["dynamodb"]["Keys"]["PK"]["S"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn items_past_their_expiry_are_deleted_by_the_writer_and_others_kept() {
        let dir = tempfile::TempDir::new().unwrap();
        let engine = EmbeddedEngine::open(dir.path()).unwrap();
        let later = now() + 3600;
        engine
            .write(vec![
                put(item("EXPIRED", Some(now() - 10))),
                put(item("LATER", Some(later - 60))),
                put(item("FOREVER", None)),
            ])
            .await
            .unwrap();
        // A renewed item is indexed by its new expiry only; a deleted one not at all.
        engine
            .write(vec![put(item("RENEWED", Some(later + 3600)))])
            .await
            .unwrap();
        engine
            .write(vec![
                put(item("RENEWED", Some(later + 7200))),
                WriteOp::Delete {
                    key: key("LATER"),
                    condition: Condition::Always,
                },
                put(item("LATER", Some(later))),
            ])
            .await
            .unwrap();

        assert_eq!(engine.get(&key("EXPIRED")).await.unwrap(), None);
        for kept in ["LATER", "FOREVER", "RENEWED"] {
            assert!(engine.get(&key(kept)).await.unwrap().is_some(), "{kept}");
        }
        assert_eq!(removals(&engine), ["EXPIRED", "LATER"]);
        assert_eq!(
            indexed_expiries(&engine),
            [
                ("LATER".to_owned(), later),
                ("RENEWED".to_owned(), later + 7200)
            ]
        );
    }

    fn indexed_expiries(engine: &EmbeddedEngine) -> Vec<(String, i64)> {
        let txn = engine.db.begin_read().unwrap();
        let expiries = txn.open_table(EXPIRIES).unwrap();
        expiries
            .iter()
            .unwrap()
            .map(|entry| {
                let (guard, _) = entry.unwrap();
                let (at, pk, _) = guard.value();
                (pk.to_owned(), at as i64)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_file_from_before_the_expiry_index_is_indexed_on_open() {
        let dir = tempfile::TempDir::new().unwrap();
        {
            // The layout of a file written before expiries were indexed.
            let db = Database::create(dir.path().join(FILE_NAME)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut items = txn.open_table(ITEMS).unwrap();
                for (pk, at) in [("OLD", now() - 10), ("YOUNG", now() + 3600)] {
                    let bytes = serde_json::to_vec(&item(pk, Some(at))).unwrap();
                    items.insert((pk, pk), bytes.as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let engine = EmbeddedEngine::open(dir.path()).unwrap();
        assert!(engine.get(&key("OLD")).await.unwrap().is_some());

        engine
            .write(vec![put(item("ANY WRITE", None))])
            .await
            .unwrap();

        assert_eq!(engine.get(&key("OLD")).await.unwrap(), None);
        assert!(engine.get(&key("YOUNG")).await.unwrap().is_some());
    }
}
