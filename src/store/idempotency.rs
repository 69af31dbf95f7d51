//! Idempotency records: written in the same atomic write as the item they
//! guard, keyed by operation, caller and key, so two callers' keys never
//! meet and a replay gets the first answer back.

use std::time::Duration;

use super::StoreError;
use super::engine::{Condition, ConditionFailed, Item, Slot, Transaction, WriteOp};
use super::keys::{self, IdempotentWrite};
use super::records;
use crate::domain::{AccountId, IdempotencyKey};

/// How long a retry with the same `Idempotency-Key` gets the first answer.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A client's key within its caller's scope (`None` with `AUTH_MODE=off`).
#[derive(Debug, Clone, Copy)]
pub struct ScopedKey<'a> {
    pub caller: Option<&'a AccountId>,
    pub key: &'a IdempotencyKey,
}

/// The record of a write under an idempotency key, once added to its
/// transaction: where it sits, and what the request was.
pub(super) struct Guard {
    slot: Slot,
    fingerprint: String,
}

/// Adds the record of `written` under `key` to `transaction`, conditioned
/// on the key having no unexpired record. Without a key: nothing, and no work.
pub(super) fn guard(
    transaction: &mut Transaction,
    write: IdempotentWrite,
    key: Option<ScopedKey<'_>>,
    written: &Item,
    fingerprint: impl FnOnce() -> String,
) -> Option<Guard> {
    let key = key?;
    let key = keys::idempotency(write, key.caller.map(AccountId::as_str), key.key);
    let fingerprint = fingerprint();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = now + IDEMPOTENCY_TTL.as_secs() as i64;
    let slot = transaction.add(WriteOp::Put {
        item: records::idempotency_item(&key, written, &fingerprint, expires_at),
        condition: Condition::NotExistsOrBelow(keys::EXPIRES_AT, now),
    });
    Some(Guard { slot, fingerprint })
}

/// When the guard's condition failed: the first write's item if the request
/// (its fingerprint) is the same, `IdempotencyKeyReused` if it is not.
/// `None` when the guard held (or there was none) and another condition failed.
pub(super) fn replay(
    failed: &ConditionFailed,
    guard: Option<&Guard>,
) -> Result<Option<Item>, StoreError> {
    let Some((guard, failure)) = guard.and_then(|g| Some((g, failed.at(g.slot)?))) else {
        return Ok(None);
    };
    let record = failure.current.as_ref().ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "an idempotency record's condition failed without its item"
        ))
    })?;
    let (recorded, first) = records::from_idempotency_item(record)?;
    if recorded != guard.fingerprint {
        return Err(StoreError::IdempotencyKeyReused);
    }
    Ok(Some(first))
}
