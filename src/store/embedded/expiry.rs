//! What time removes: items past their `ExpiresAt` (as DynamoDB's TTL
//! does), and change records older than a stream keeps them. A few of each
//! go with every write batch, so a backlog after a long stop is worked off
//! without holding any batch up for long.

use std::time::SystemTime;

use redb::{ReadableTable, WriteTransaction};

use super::ChangeFeed;
use super::tables::{CHANGE_RETENTION, CHANGES, EXPIRIES, ITEMS, Tables, epoch_seconds};
use crate::store::keys::Key;
use crate::telemetry::metrics;

/// Expired items deleted with one write batch at most.
pub(super) const EXPIRED_PER_BATCH: usize = 64;

/// Drops change records past the retention, oldest first. Every record in
/// the feed is one the notification consumer has not handled yet (it
/// forgets what it handled), so dropping one loses its notification: that
/// is logged at ERROR with the count and counted in `ChangesLost`.
pub(super) fn expire_changes(txn: &WriteTransaction) -> anyhow::Result<usize> {
    let cutoff = epoch_seconds(
        SystemTime::now()
            .checked_sub(CHANGE_RETENTION)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let mut changes = txn.open_table(CHANGES)?;
    let mut expired = Vec::new();
    for entry in changes.iter()?.take(EXPIRED_PER_BATCH) {
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
    for sequence in &expired {
        changes.remove(sequence)?;
    }
    if !expired.is_empty() {
        tracing::error!(
            count = expired.len(),
            first_sequence = expired[0],
            "change records expired unpublished (older than 24 h): their notifications are lost"
        );
        metrics::changes_lost("embedded", expired.len());
    }
    Ok(expired.len())
}

/// Deletes items whose `ExpiresAt` has passed, oldest first, each with a
/// REMOVE in the change feed as DynamoDB's TTL deletions have in the stream.
pub(super) fn expire_items(txn: &WriteTransaction, feed: ChangeFeed) -> anyhow::Result<()> {
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
    let mut tables = Tables::open(txn, txn.open_table(ITEMS)?, feed)?;
    for key in &expired {
        tables.delete(key)?;
    }
    Ok(())
}
