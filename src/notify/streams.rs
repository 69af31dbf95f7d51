//! The local source when the table is in DynamoDB (or an emulator) and no
//! Pipe runs: the service reads the table's stream itself. It follows
//! shards and their children, parents first, and checkpoints its position in
//! the table, so a restart neither replays everything nor skips records.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{
    AttributeValue, OperationType, Record, Shard, ShardIteratorType,
};
use tokio::sync::watch;

use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::{ChangeKind, StreamRecord};
use crate::store::engine::{Item, Value};
use crate::store::{ShardPosition, Store, keys};

const IDLE_POLL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const RECORDS_PER_READ: i32 = 100;

pub struct StreamsSource {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub table: String,
    pub store: Store,
}

impl StreamsSource {
    pub async fn run(&self, publisher: &Publisher, mut shutdown: watch::Receiver<bool>) {
        let mut stream_arn = None;
        let mut backoff = Duration::from_millis(500);
        while !*shutdown.borrow() {
            let wait = match self.poll(publisher, &mut stream_arn).await {
                Ok(0) => IDLE_POLL,
                Ok(_) => {
                    backoff = Duration::from_millis(500);
                    continue;
                }
                Err(reason) => {
                    tracing::error!(error = %reason, table = %self.table, "reading the table stream failed; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass over the shards that may be read now; returns how many
    /// records were handled.
    async fn poll(
        &self,
        publisher: &Publisher,
        stream_arn: &mut Option<String>,
    ) -> Result<usize, String> {
        let arn = match stream_arn {
            Some(arn) => arn.clone(),
            None => {
                let arn = self.latest_stream_arn().await?;
                *stream_arn = Some(arn.clone());
                arn
            }
        };
        let shards = self.shards(&arn).await?;
        let mut positions = HashMap::new();
        for shard in &shards {
            let id = shard.shard_id().unwrap_or_default();
            positions.insert(
                id.to_owned(),
                self.store
                    .shard_position(id)
                    .await
                    .map_err(|e| format!("{e:?}"))?,
            );
        }
        let mut handled = 0;
        for shard in &shards {
            let id = shard.shard_id().unwrap_or_default();
            // A child waits until its parent is read to the end, unless the
            // parent has aged out of the stream.
            let parent_done = shard.parent_shard_id().is_none_or(|parent| {
                matches!(positions.get(parent), None | Some(ShardPosition::Finished))
            });
            match &positions[id] {
                ShardPosition::Finished => {}
                position if parent_done => {
                    handled += self.read_shard(publisher, &arn, id, position).await?
                }
                _ => {}
            }
        }
        Ok(handled)
    }

    async fn read_shard(
        &self,
        publisher: &Publisher,
        arn: &str,
        shard_id: &str,
        position: &ShardPosition,
    ) -> Result<usize, String> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard_id);
        let request = match position {
            ShardPosition::After(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            _ => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let mut iterator = request.send().await.map_err(display)?.shard_iterator;
        let mut handled = 0;
        while let Some(current) = iterator {
            let output = self
                .streams
                .get_records()
                .shard_iterator(current)
                .limit(RECORDS_PER_READ)
                .send()
                .await
                .map_err(display)?;
            let records: Vec<StreamRecord> = output.records().iter().filter_map(convert).collect();
            self.publish(publisher, &records).await?;
            handled += records.len();
            // Checkpoint writes are stream records too: saving a position
            // for a batch of nothing else would feed itself forever.
            let ours = |r: &StreamRecord| {
                crate::store::engine::text(&r.keys, keys::PK)
                    .is_some_and(keys::is_stream_checkpoint)
            };
            let last = records.iter().rev().find_map(|r| r.sequence_number.clone());
            if let Some(last) = last.filter(|_| !records.iter().all(ours)) {
                self.save(shard_id, &ShardPosition::After(last)).await?;
            }
            iterator = output.next_shard_iterator;
            if iterator.is_none() {
                self.save(shard_id, &ShardPosition::Finished).await?;
            } else if records.is_empty() {
                break;
            }
        }
        Ok(handled)
    }

    async fn publish(&self, publisher: &Publisher, records: &[StreamRecord]) -> Result<(), String> {
        let mut events = Vec::new();
        for record in records {
            match OrderEvent::from_record(record) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                // Retrying cannot make it readable; say so once and go on.
                Err(error) => {
                    tracing::error!(error = %error, "an unreadable order change is skipped")
                }
            }
        }
        publisher.publish_all(&events).await
    }

    async fn save(&self, shard_id: &str, position: &ShardPosition) -> Result<(), String> {
        self.store
            .save_shard_position(shard_id, position)
            .await
            .map_err(|e| format!("{e:?}"))
    }

    async fn latest_stream_arn(&self) -> Result<String, String> {
        let table = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(display)?;
        table
            .table
            .and_then(|table| table.latest_stream_arn)
            .ok_or_else(|| format!("the table {} has no stream", self.table))
    }

    async fn shards(&self, arn: &str) -> Result<Vec<Shard>, String> {
        let mut shards = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(display)?;
            let description = output
                .stream_description
                .ok_or("the stream has no description")?;
            shards.extend(description.shards.unwrap_or_default());
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                return Ok(shards);
            }
        }
    }
}

fn display<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    error: aws_sdk_dynamodbstreams::error::SdkError<E, R>,
) -> String {
    aws_sdk_dynamodbstreams::error::DisplayErrorContext(error).to_string()
}

fn convert(record: &Record) -> Option<StreamRecord> {
    let change = record.dynamodb()?;
    let kind = match record.event_name()? {
        OperationType::Insert => ChangeKind::Insert,
        OperationType::Modify => ChangeKind::Modify,
        OperationType::Remove => ChangeKind::Remove,
        _ => return None,
    };
    Some(StreamRecord {
        event_id: record.event_id()?.to_owned(),
        kind,
        keys: item(change.keys()?),
        new_image: change.new_image().map(item),
        old_image: change.old_image().map(item),
        sequence_number: change.sequence_number().map(str::to_owned),
        created_at_epoch: change
            .approximate_creation_date_time()
            .map(|at| at.as_secs_f64()),
    })
}

fn item(attributes: &HashMap<String, AttributeValue>) -> Item {
    attributes
        .iter()
        .filter_map(|(name, value)| match value {
            AttributeValue::S(text) => Some((name.clone(), Value::S(text.clone()))),
            AttributeValue::N(number) => Some((name.clone(), Value::N(number.clone()))),
            _ => None,
        })
        .collect()
}
