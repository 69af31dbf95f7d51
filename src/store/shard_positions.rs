//! Where the stream reader got to in each shard, kept in the table.

use super::engine::{self, Condition, Value, set};
use super::{Store, StoreError, keys, records};
use crate::domain::Timestamp;

/// How far the stream reader got in one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPosition {
    New,
    After(String),
    Finished,
}

impl Store {
    pub(crate) async fn shard_position(&self, shard_id: &str) -> Result<ShardPosition, StoreError> {
        let item = self.engine.get(&keys::shard_position_key(shard_id)).await?;
        Ok(match item {
            None => ShardPosition::New,
            Some(item) if item.contains_key(records::FINISHED) => ShardPosition::Finished,
            Some(item) => engine::text(&item, records::SEQUENCE_NUMBER)
                .map_or(ShardPosition::New, |sequence| {
                    ShardPosition::After(sequence.to_owned())
                }),
        })
    }

    pub(crate) async fn save_shard_position(
        &self,
        shard_id: &str,
        position: &ShardPosition,
    ) -> Result<(), StoreError> {
        let changes = match position {
            ShardPosition::New => return Ok(()),
            ShardPosition::After(sequence) => {
                vec![set(records::SEQUENCE_NUMBER, Value::S(sequence.clone()))]
            }
            ShardPosition::Finished => vec![set(
                records::FINISHED,
                records::timestamp_value(Timestamp::now()),
            )],
        };
        self.engine
            .update(
                &keys::shard_position_key(shard_id),
                changes,
                Condition::Always,
            )
            .await?;
        Ok(())
    }
}
