//! Where a migration stands, one item per scan segment in the table itself
//! (so a run resumed on another machine, or in a new task, continues it):
//! the pass, the key the segment's scan continues after, and the counts so
//! far. Written after each scan page; removed when the migration is done.

use crate::store::StoreError;
use crate::store::TableAccess;
use crate::store::engine::{Item, Transaction, Value, WriteOp, number, text};
use crate::store::keys::{self, Key, PK, SK};

use super::MigrateError;
use super::counts::Counts;

const PASS: &str = "Pass";
const SEGMENTS: &str = "Segments";
const AFTER_PK: &str = "AfterPK";
const AFTER_SK: &str = "AfterSK";
const FINISHED: &str = "Finished";
const COUNTS: &str = "Counts";
const DELETE_ORPHANS: &str = "DeleteOrphans";

/// The two passes: today's shapes first, then (once every profile has
/// claimed its reservation) the reservations nobody claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pass {
    Shapes = 1,
    Reservations = 2,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checkpoint {
    pub pass: Pass,
    pub segments: u32,
    /// The run's `--delete-orphans`: a run resumed without it (or with it
    /// where it had none) would act on part of the table only.
    pub delete_orphans: bool,
    pub after: Option<Key>,
    /// The segment finished this pass.
    pub finished: bool,
    pub counts: Counts,
}

impl Checkpoint {
    pub(super) fn start(segments: u32, delete_orphans: bool) -> Self {
        Self {
            pass: Pass::Shapes,
            segments,
            delete_orphans,
            after: None,
            finished: false,
            counts: Counts::default(),
        }
    }

    fn item(&self, segment: u32) -> Item {
        let key = keys::migration_checkpoint(segment);
        let mut item = Item::from([
            (PK.to_owned(), Value::S(key.pk)),
            (SK.to_owned(), Value::S(key.sk)),
            (PASS.to_owned(), Value::N((self.pass as u8).to_string())),
            (SEGMENTS.to_owned(), Value::N(self.segments.to_string())),
            (
                DELETE_ORPHANS.to_owned(),
                Value::N(u8::from(self.delete_orphans).to_string()),
            ),
            (
                FINISHED.to_owned(),
                Value::N(u8::from(self.finished).to_string()),
            ),
            (
                COUNTS.to_owned(),
                Value::S(serde_json::to_string(&self.counts).unwrap_or_default()),
            ),
        ]);
        if let Some(after) = &self.after {
            item.insert(AFTER_PK.to_owned(), Value::S(after.pk.clone()));
            item.insert(AFTER_SK.to_owned(), Value::S(after.sk.clone()));
        }
        item
    }

    fn from_item(item: &Item) -> Option<Self> {
        let pass = match number(item, PASS)? {
            "1" => Pass::Shapes,
            "2" => Pass::Reservations,
            _ => return None,
        };
        let after = match (text(item, AFTER_PK), text(item, AFTER_SK)) {
            (Some(pk), Some(sk)) => Some(Key {
                pk: pk.to_owned(),
                sk: sk.to_owned(),
            }),
            _ => None,
        };
        Some(Self {
            pass,
            segments: number(item, SEGMENTS)?.parse().ok()?,
            delete_orphans: number(item, DELETE_ORPHANS).is_some_and(|n| n == "1"),
            after,
            finished: number(item, FINISHED)? == "1",
            counts: serde_json::from_str(text(item, COUNTS)?).ok()?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "an interrupted migration ran with --segments {0}: resume it with the same number of segments"
    )]
    OtherSegments(u32),
    #[error("the migration checkpoint of segment {0} cannot be read")]
    Unreadable(u32),
    #[error(
        "an interrupted migration ran {}: resume it the same way",
        if *.0 { "with --delete-orphans" } else { "without --delete-orphans" }
    )]
    OtherOptions(bool),
}

/// The checkpoint of each of `segments` segments (`None` where a segment
/// has none: it starts from the beginning), or an error if an
/// interrupted migration ran with another number of segments.
pub(super) async fn load(
    engine: &TableAccess,
    segments: u32,
    delete_orphans: bool,
) -> Result<Vec<Option<Checkpoint>>, MigrateError> {
    let mut found = Vec::with_capacity(segments as usize);
    for segment in 0..segments {
        let item = engine.get(&keys::migration_checkpoint(segment)).await?;
        let Some(item) = item else {
            found.push(None);
            continue;
        };
        let Some(checkpoint) = Checkpoint::from_item(&item) else {
            return Err(CheckpointError::Unreadable(segment).into());
        };
        if checkpoint.segments != segments {
            return Err(CheckpointError::OtherSegments(checkpoint.segments).into());
        }
        if checkpoint.delete_orphans != delete_orphans {
            return Err(CheckpointError::OtherOptions(checkpoint.delete_orphans).into());
        }
        found.push(Some(checkpoint));
    }
    // A run with more segments leaves one where this run has none.
    if let Some(item) = engine.get(&keys::migration_checkpoint(segments)).await?
        && let Some(checkpoint) = Checkpoint::from_item(&item)
    {
        return Err(CheckpointError::OtherSegments(checkpoint.segments).into());
    }
    Ok(found)
}

pub(super) async fn save(
    engine: &TableAccess,
    segment: u32,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    let mut transaction = Transaction::default();
    transaction.add(WriteOp::Put {
        item: checkpoint.item(segment),
        condition: crate::store::engine::Condition::Always,
    });
    Ok(engine.write(transaction).await?)
}

pub(super) async fn clear(engine: &TableAccess, segments: u32) -> Result<(), StoreError> {
    for segment in 0..segments {
        let mut transaction = Transaction::default();
        transaction.add(WriteOp::Delete {
            key: keys::migration_checkpoint(segment),
            condition: crate::store::engine::Condition::Always,
        });
        engine.write(transaction).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::counts::Kind;

    #[test]
    fn round_trips_through_its_item() {
        let mut counts = Counts::default();
        counts.add(Kind::OrdersMoved, 120);
        let checkpoint = Checkpoint {
            pass: Pass::Reservations,
            segments: 4,
            delete_orphans: true,
            after: Some(Key {
                pk: "CUSTOMER#ann".into(),
                sk: "#ORDER#2UJT4m2UkBAWG7DHDLfkXxbMN04".into(),
            }),
            finished: false,
            counts,
        };
        assert_eq!(Checkpoint::from_item(&checkpoint.item(3)), Some(checkpoint));
    }
}
