//! The tables in the file, and what one write does to them: an item, its
//! GSI1, GSI2 and expiry entries, and its change record, all in one
//! transaction.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use super::{ChangeFeed, internal};
use crate::store::engine::{EngineError, Item, Value, key_item, text};
use crate::store::keys::{EXPIRES_AT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, Key};

pub(super) const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
/// GSI1 entries: (GSI1PK, GSI1SK, PK, SK), pointing into `ITEMS`.
pub(super) const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");
/// GSI2 entries (the status queue), in the same shape.
pub(super) const GSI2: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi2");
/// Each index table with the item attributes that key it.
const INDEXES: [(IndexTable, &str, &str); 2] = [(GSI1, GSI1PK, GSI1SK), (GSI2, GSI2PK, GSI2SK)];
type IndexTable =
    TableDefinition<'static, (&'static str, &'static str, &'static str, &'static str), ()>;
/// The change feed: sequence number to a DynamoDB-stream-shaped record of
/// one item change, written in the same transaction as the change itself.
pub(super) const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// Like a DynamoDB stream, the feed keeps changes for 24 hours.
pub(super) const CHANGE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Items with an `ExpiresAt`, by when: (epoch seconds, PK, SK).
pub(super) const EXPIRIES: TableDefinition<(u64, &str, &str), ()> =
    TableDefinition::new("expiries");
/// Facts about the file: whether `EXPIRIES` covers every item (files written
/// before the index existed get it built on their first open), and the last
/// change sequence number handed out.
const LAYOUT: TableDefinition<&str, u64> = TableDefinition::new("layout");
const EXPIRIES_INDEXED: &str = "expiries-indexed";
/// Sequence numbers only grow, across restarts and an empty feed: an
/// acknowledgement of an old number can never forget a new record.
const LAST_CHANGE: &str = "last-change-sequence";

pub(super) type WriteItems<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;
type WriteIndex<'t> = redb::Table<'t, (&'static str, &'static str, &'static str, &'static str), ()>;

/// Creates the tables, and builds the expiry index for an older file.
pub(super) fn prepare(db: &Database) -> anyhow::Result<()> {
    let setup = db.begin_write()?;
    setup.open_table(ITEMS)?;
    setup.open_table(GSI1)?;
    setup.open_table(GSI2)?;
    setup.open_table(CHANGES)?;
    index_expiries(&setup)?;
    setup.commit()?;
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
pub(super) fn expires_at(item: &Item) -> Option<u64> {
    match item.get(EXPIRES_AT)? {
        Value::N(seconds) => seconds.parse().ok(),
        Value::S(_) => None,
    }
}

pub(super) fn read(items: &WriteItems<'_>, key: &Key) -> anyhow::Result<Option<Item>> {
    let found = items.get((key.pk.as_str(), key.sk.as_str()))?;
    Ok(found.map(|bytes| decode(bytes.value())).transpose()?)
}

pub(super) fn decode(bytes: &[u8]) -> Result<Item, EngineError> {
    serde_json::from_slice(bytes).map_err(internal)
}

pub(super) fn epoch_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The tables one write touches: items, their index and expiry entries,
/// and (when the feed is on) the change feed.
pub(super) struct Tables<'t> {
    items: WriteItems<'t>,
    /// In the order of [`INDEXES`].
    indexes: [WriteIndex<'t>; 2],
    expiries: redb::Table<'t, (u64, &'static str, &'static str), ()>,
    feed: Option<Feed<'t>>,
}

struct Feed<'t> {
    changes: redb::Table<'t, u64, &'static [u8]>,
    layout: redb::Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    /// The rest of the tables, for a write that has read `items` already.
    pub(super) fn open(
        txn: &'t WriteTransaction,
        items: WriteItems<'t>,
        feed: ChangeFeed,
    ) -> anyhow::Result<Self> {
        let feed = match feed {
            ChangeFeed::On => Some(Feed {
                changes: txn.open_table(CHANGES)?,
                layout: txn.open_table(LAYOUT)?,
            }),
            ChangeFeed::Off => None,
        };
        Ok(Self {
            items,
            indexes: [txn.open_table(INDEXES[0].0)?, txn.open_table(INDEXES[1].0)?],
            expiries: txn.open_table(EXPIRIES)?,
            feed,
        })
    }

    pub(super) fn put(&mut self, key: &Key, item: &Item) -> anyhow::Result<()> {
        let old = read(&self.items, key)?;
        self.unindex(key, old.as_ref())?;
        let bytes = serde_json::to_vec(item)?;
        self.items
            .insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())?;
        for (index, (_, pk_name, sk_name)) in self.indexes.iter_mut().zip(INDEXES) {
            if let (Some(gpk), Some(gsk)) = (text(item, pk_name), text(item, sk_name)) {
                index.insert((gpk, gsk, key.pk.as_str(), key.sk.as_str()), ())?;
            }
        }
        if let Some(at) = expires_at(item) {
            self.expiries
                .insert((at, key.pk.as_str(), key.sk.as_str()), ())?;
        }
        self.record_change(key, old.as_ref(), Some(item))
    }

    pub(super) fn delete(&mut self, key: &Key) -> anyhow::Result<()> {
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
        for (index, (_, pk_name, sk_name)) in self.indexes.iter_mut().zip(INDEXES) {
            if let (Some(gpk), Some(gsk)) = (text(old, pk_name), text(old, sk_name)) {
                index.remove((gpk, gsk, key.pk.as_str(), key.sk.as_str()))?;
            }
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
        let Some(feed) = &mut self.feed else {
            return Ok(());
        };
        let sequence = feed.next_sequence()?;
        let kind = match (old, new) {
            (None, _) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
        };
        let keys = key_item(key);
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
        feed.changes
            .insert(sequence, serde_json::to_vec(&record)?.as_slice())?;
        Ok(())
    }
}

impl Feed<'_> {
    /// One more than any number handed out before: the recorded high-water
    /// mark, or (a file from before it was recorded) the feed's last record.
    fn next_sequence(&mut self) -> anyhow::Result<u64> {
        let recorded = self.layout.get(LAST_CHANGE)?.map(|v| v.value());
        let in_feed = self.changes.last()?.map(|(last, _)| last.value());
        let next = recorded
            .max(in_feed)
            .unwrap_or(0)
            .checked_add(1)
            .context("sequence overflow")?;
        self.layout.insert(LAST_CHANGE, next)?;
        Ok(next)
    }
}
