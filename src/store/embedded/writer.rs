//! The writer thread: every write goes through it, in batches of one redb
//! transaction and one fsync each (group commit).

use anyhow::Context;
use redb::{Database, WriteTransaction};
use tokio::sync::{Notify, mpsc, oneshot};

use super::ChangeFeed;
use super::expiry;
use super::tables::{CHANGES, ITEMS, Tables, read};
use crate::store::engine::{
    Change, Changes, Condition, ConditionFailed, EngineError, Failure, Item, WriteOp, apply,
    key_item, key_of,
};
use crate::store::keys::Key;

const MAX_BATCH: usize = 256;

/// A write for the writer thread. It answers with the updated item for an
/// update and `None` for a multi-item write.
pub(super) struct Job {
    pub request: Request,
    pub reply: oneshot::Sender<Result<Option<Item>, EngineError>>,
}

pub(super) enum Request {
    Write(Vec<WriteOp>),
    Update {
        key: Key,
        set: Changes,
        condition: Condition,
    },
    /// Drop change records that were handled.
    Forget(Vec<u64>),
}

type Outcome = Result<Option<Item>, EngineError>;

/// Drains the queue in batches, one transaction and one fsync per batch. It
/// ends when every engine handle is dropped.
pub(super) fn run(
    db: &Database,
    mut queue: mpsc::Receiver<Job>,
    changed: &Notify,
    feed: ChangeFeed,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match apply_batch(db, &batch, feed) {
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

fn apply_batch(db: &Database, batch: &[Job], feed: ChangeFeed) -> anyhow::Result<Vec<Outcome>> {
    let txn = db.begin_write()?;
    let outcomes = batch
        .iter()
        .map(|job| apply_job(&txn, job, feed))
        .collect::<anyhow::Result<Vec<_>>>()?;
    expiry::expire_changes(&txn)?;
    expiry::expire_items(&txn, feed)?;
    txn.commit()?;
    Ok(outcomes)
}

fn apply_job(txn: &WriteTransaction, job: &Job, feed: ChangeFeed) -> anyhow::Result<Outcome> {
    match &job.request {
        Request::Write(ops) => apply_write(txn, ops, feed),
        Request::Update {
            key,
            set,
            condition,
        } => apply_update(txn, key, set, condition, feed),
        Request::Forget(sequences) => {
            let mut changes = txn.open_table(CHANGES)?;
            for sequence in sequences {
                changes.remove(sequence)?;
            }
            Ok(Ok(None))
        }
    }
}

pub(super) fn target_key(op: &WriteOp) -> anyhow::Result<Key> {
    match op {
        WriteOp::Put { item, .. } => key_of(item).context("a put item lacks its PK or SK"),
        WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Ok(key.clone()),
    }
}

fn apply_write(
    txn: &WriteTransaction,
    ops: &[WriteOp],
    feed: ChangeFeed,
) -> anyhow::Result<Outcome> {
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
    let mut tables = Tables::open(txn, items, feed)?;
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
    set: &[(&'static str, Change)],
    condition: &Condition,
    feed: ChangeFeed,
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
    let mut item = current.unwrap_or_else(|| key_item(key));
    apply(&mut item, set);
    let mut tables = Tables::open(txn, items, feed)?;
    tables.put(key, &item)?;
    Ok(Ok(Some(item)))
}
