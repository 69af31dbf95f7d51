//! The embedded engine: a redb database file under `DATA_DIR`.
//!
//! Reads (`reads`) run on the caller's thread against a snapshot. Writes go
//! to a single writer thread (`writer`) that evaluates each write's
//! conditions and applies it inside one redb transaction per batch:
//! conditions are checked against the latest committed-or-batched state (so
//! they hold under any concurrency), and one fsync covers every write waiting
//! in the queue (group commit). `tables` keeps an item's indexes and its
//! change record in step with it; `expiry` deletes what has expired, as
//! DynamoDB's TTL and a stream's 24-hour retention do.

mod expiry;
mod reads;
mod tables;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::{Notify, mpsc, oneshot};

use super::engine::{
    Changes, Condition, EngineError, Index, Item, MAX_TRANSACTION_ITEMS, Query, WriteOp,
};
use super::keys::{GSI1SK, GSI2SK, Key};
use tables::{CHANGES, GSI1, GSI2, ITEMS, decode};
use writer::{Job, Request};

const FILE_NAME: &str = "ecommerce.redb";
/// redb's page cache (default 1 GiB) grew the process past 400 MiB under a
/// write-heavy benchmark. The OS page cache still holds the file, so a small
/// cache costs reads a copy, not a disk seek.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Writes waiting beyond this are refused with `Unavailable` (back-pressure)
/// rather than queued without bound.
const QUEUE_CAPACITY: usize = 4096;

/// Whether writes record their changes for the notification consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeFeed {
    On,
    /// Notifications are off: nothing would ever read or forget the records.
    Off,
}

#[derive(Clone)]
pub struct EmbeddedEngine {
    db: Arc<Database>,
    jobs: mpsc::Sender<Job>,
    changed: Arc<Notify>,
    /// After `jobs`: fields drop in declaration order, so the last handle's
    /// sender is gone (and the writer's queue closed) before this waits for
    /// the thread.
    _writer: Arc<WriterThread>,
}

/// The writer thread, waited for when the last engine handle goes. The
/// thread holds the database too; without the wait the file (and redb's
/// lock on it) stayed open a moment after the engine was dropped, and the
/// next process to open `DATA_DIR` (`migrate` after a fixture, a service
/// after `migrate`) could find it locked.
struct WriterThread(Option<std::thread::JoinHandle<()>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        // At most one batch (one fsync) to finish: every sender is gone.
        if let Some(thread) = self.0.take()
            && thread.join().is_err()
        {
            tracing::error!("the embedded writer thread panicked");
        }
    }
}

impl EmbeddedEngine {
    /// Opens (or creates) the database in `data_dir` and starts its writer.
    pub fn open(data_dir: &Path, feed: ChangeFeed) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        tables::prepare(&db)?;
        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let writer_db = Arc::clone(&db);
        let changed = Arc::new(Notify::new());
        let writer_changed = Arc::clone(&changed);
        let thread = std::thread::Builder::new()
            .name("embedded-writer".into())
            .spawn(move || writer::run(&writer_db, queue, &writer_changed, feed))
            .context("cannot start the embedded writer thread")?;
        Ok(Self {
            db,
            jobs,
            changed,
            _writer: Arc::new(WriterThread(Some(thread))),
        })
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
            Index::Table => reads::query_table(&items, &query),
            Index::Gsi1 => {
                let index = txn.open_table(GSI1).map_err(internal)?;
                reads::query_index(&items, &index, GSI1SK, &query)
            }
            Index::Gsi2 => {
                let index = txn.open_table(GSI2).map_err(internal)?;
                reads::query_index(&items, &index, GSI2SK, &query)
            }
        }
    }

    /// One page of the whole table in key order, and where the next starts.
    pub fn item_count(&self) -> Result<u64, EngineError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let items = txn.open_table(ITEMS).map_err(internal)?;
        redb::ReadableTableMetadata::len(&items).map_err(internal)
    }

    pub async fn scan(
        &self,
        start_after: Option<Key>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Key>), EngineError> {
        let txn = self.db.begin_read().map_err(internal)?;
        let items = txn.open_table(ITEMS).map_err(internal)?;
        let range = match &start_after {
            Some(key) => items.range::<(&str, &str)>((
                std::ops::Bound::Excluded((key.pk.as_str(), key.sk.as_str())),
                std::ops::Bound::Unbounded,
            )),
            None => items.range::<(&str, &str)>(..),
        }
        .map_err(internal)?;
        let page = range
            .take(limit)
            .map(|entry| decode(entry.map_err(internal)?.1.value()))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if page.len() < limit {
            None
        } else {
            page.last().and_then(super::engine::key_of)
        };
        Ok((page, next))
    }

    pub async fn update(
        &self,
        key: &Key,
        set: Changes,
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

    /// One atomic write, held to DynamoDB's transaction rules: at most 100
    /// actions, and no two on one item ("TransactWriteItems"), so a
    /// chunking mistake shows on this engine as it would on DynamoDB.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), EngineError> {
        if ops.len() > MAX_TRANSACTION_ITEMS {
            return Err(internal(anyhow::anyhow!(
                "a transaction of {} items exceeds DynamoDB's limit of {MAX_TRANSACTION_ITEMS}",
                ops.len()
            )));
        }
        let mut targets = HashSet::with_capacity(ops.len());
        for op in &ops {
            if !targets.insert(writer::target_key(op).map_err(internal)?) {
                return Err(internal(anyhow::anyhow!(
                    "a transaction has two actions on one item, which DynamoDB refuses"
                )));
            }
        }
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

    /// Woken after every commit.
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

fn internal(error: impl Into<anyhow::Error>) -> EngineError {
    EngineError::Internal(error.into())
}

fn writer_gone() -> EngineError {
    EngineError::Internal(anyhow::anyhow!("the embedded writer thread has stopped"))
}
