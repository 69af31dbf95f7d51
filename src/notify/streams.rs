//! The local source when the table is in DynamoDB (or an emulator) and no
//! Pipe runs: the service reads the table's stream itself, as the DynamoDB
//! Streams documentation says a reader must ("DynamoDB Streams low-level
//! API", "Reading and processing a stream"):
//!
//! - a shard can answer empty pages before it answers records, so the reader
//!   keeps following `NextShardIterator` (a few pages per pass, and on from
//!   there in the next pass), and only a missing iterator means a closed
//!   shard was read to its end;
//! - a child shard is read only once its parent is finished;
//! - a shard's error (throttling, a trimmed or expired iterator) is that
//!   shard's alone: the others go on, and it is retried after its own backoff;
//! - records are kept for 24 hours: a position older than that is trimmed
//!   away, and the reader resumes at the oldest record still there, with an
//!   ERROR line and a `ChangesLost` metric.
//!
//! Shard positions are saved in the table, so a restart neither replays
//! everything nor skips records. The position writes are stream records
//! too; they are passed over and never count as work, so an idle reader
//! sleeps between passes instead of reading its own writes forever.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::config::http::HttpResponse;
use aws_sdk_dynamodbstreams::error::SdkError;
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
use aws_sdk_dynamodbstreams::operation::get_shard_iterator::{
    GetShardIteratorError, GetShardIteratorOutput,
};
use aws_sdk_dynamodbstreams::types::{
    AttributeValue, OperationType, Record, Shard, ShardIteratorType,
};
use tokio::sync::watch;

use super::backoff::Backoff;
use super::error::NotifyError;
use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::{ChangeKind, StreamRecord};
use super::worker::{Pacing, Pass, Source};
use crate::error_chain as chain;
use crate::store::engine::{Item, Value};
use crate::store::{ShardPosition, Store, keys};
use crate::telemetry::metrics;

/// How often the shard list is read again (shards split every few hours).
const DESCRIBE_EVERY: Duration = Duration::from_secs(10);
/// Empty pages one shard may answer in a row within one pass; the next
/// pass goes on from the last of them.
const EMPTY_PAGES_PER_PASS: usize = 2;
/// Pages of records one shard may answer within one pass, so no shard
/// starves the others.
const PAGES_PER_PASS: usize = 10;
const RECORDS_PER_READ: i32 = 100;
const SOURCE: &str = "dynamodb-streams";

pub struct StreamsSource {
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    pub table: String,
    store: Store,
    reader: Reader,
}

/// What the reader knows of the stream between passes.
#[derive(Default)]
struct Reader {
    stream_arn: Option<String>,
    described_at: Option<Instant>,
    shards: Vec<ShardState>,
}

struct ShardState {
    id: String,
    parent: Option<String>,
    position: ShardPosition,
    /// Where the next page comes from; `None` until one is asked for.
    iterator: Option<String>,
    backoff: Backoff,
    retry_at: Option<Instant>,
}

/// Streams have no signal of new records: an idle reader polls once a second.
pub(super) const PACING: Pacing = Pacing {
    idle: Duration::from_secs(1),
    first_retry: Duration::from_millis(500),
};

impl Source for StreamsSource {
    const NAME: &'static str = SOURCE;

    async fn pass(
        &mut self,
        publisher: &Publisher,
        _: &watch::Receiver<bool>,
    ) -> Result<Pass, NotifyError> {
        // After a failure the reader starts afresh: the stream may have
        // been replaced, and the next pass finds it again.
        let mut reader = std::mem::take(&mut self.reader);
        let handled = self.read_shards(&mut reader, publisher).await?;
        self.reader = reader;
        Ok(if handled == 0 {
            Pass::Idle
        } else {
            Pass::Worked
        })
    }
}

impl StreamsSource {
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: String,
        store: Store,
    ) -> Self {
        Self {
            dynamodb,
            streams,
            table,
            store,
            reader: Reader::default(),
        }
    }

    /// One pass over the shards that may be read now; returns how many
    /// change records of others (not the reader's saved positions) it handled.
    async fn read_shards(
        &self,
        reader: &mut Reader,
        publisher: &Publisher,
    ) -> Result<usize, NotifyError> {
        let arn = match &reader.stream_arn {
            Some(arn) => arn.clone(),
            None => {
                let arn = self.latest_stream_arn().await?;
                reader.stream_arn = Some(arn.clone());
                arn
            }
        };
        if reader
            .described_at
            .is_none_or(|at| at.elapsed() >= DESCRIBE_EVERY)
        {
            self.refresh_shards(&arn, reader).await?;
        }
        let finished: HashMap<String, bool> = reader
            .shards
            .iter()
            .map(|s| (s.id.clone(), s.position == ShardPosition::Finished))
            .collect();
        let mut handled = 0;
        for shard in &mut reader.shards {
            // A child waits until its parent is read to the end, unless the
            // parent has aged out of the stream.
            let parent_done = shard
                .parent
                .as_ref()
                .is_none_or(|parent| finished.get(parent).copied().unwrap_or(true));
            let waiting = shard.retry_at.is_some_and(|at| Instant::now() < at);
            if shard.position == ShardPosition::Finished || !parent_done || waiting {
                continue;
            }
            match self.read_shard(&arn, shard, publisher).await {
                Ok(records) => {
                    handled += records;
                    shard.backoff.succeeded();
                    shard.retry_at = None;
                }
                Err(error) => {
                    let wait = shard.backoff.failed();
                    tracing::error!(shard = %shard.id, error = chain(&error), retry_in_ms = wait.as_millis() as u64,
                        "reading a stream shard failed; the other shards go on");
                    shard.retry_at = Some(Instant::now() + wait);
                }
            }
        }
        Ok(handled)
    }

    /// Reads one shard from where it got to, for a bounded number of pages.
    async fn read_shard(
        &self,
        arn: &str,
        shard: &mut ShardState,
        publisher: &Publisher,
    ) -> Result<usize, NotifyError> {
        let mut handled = 0;
        let (mut pages, mut empty_in_a_row) = (0, 0);
        while pages < PAGES_PER_PASS && empty_in_a_row < EMPTY_PAGES_PER_PASS {
            pages += 1;
            let iterator = match shard.iterator.clone() {
                Some(iterator) => iterator,
                None => self.start_iterator(arn, shard).await?,
            };
            let output = match self
                .streams
                .get_records()
                .shard_iterator(&iterator)
                .limit(RECORDS_PER_READ)
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => match page_refusal(&error) {
                    // Iterators last 15 minutes: start again from the saved position.
                    Refusal::Expired => {
                        shard.iterator = None;
                        continue;
                    }
                    Refusal::Trimmed => {
                        self.resume_after_trim(shard);
                        continue;
                    }
                    Refusal::Other => {
                        return Err(NotifyError::aws("DynamoDB Streams GetRecords", error));
                    }
                },
            };
            let records: Vec<StreamRecord> = output.records().iter().filter_map(convert).collect();
            let ours = |r: &StreamRecord| {
                crate::store::engine::text(&r.keys, keys::PK).is_some_and(keys::is_shard_position)
            };
            let theirs: Vec<StreamRecord> = records.iter().filter(|r| !ours(r)).cloned().collect();
            // Published before the iterator moves on: a failure re-reads this page.
            self.publish(publisher, &theirs).await?;
            let last = records.iter().rev().find_map(|r| r.sequence_number.clone());
            // Saving a position after nothing but our own position writes would
            // write a record that the next page holds: it would feed itself.
            if let Some(last) = last.filter(|_| !theirs.is_empty()) {
                let position = ShardPosition::After(last);
                self.save(&shard.id, position.clone()).await?;
                shard.position = position;
            }
            handled += theirs.len();
            empty_in_a_row = if records.is_empty() {
                empty_in_a_row + 1
            } else {
                0
            };
            shard.iterator = output.next_shard_iterator;
            if shard.iterator.is_none() {
                self.save(&shard.id, ShardPosition::Finished).await?;
                shard.position = ShardPosition::Finished;
                break;
            }
        }
        Ok(handled)
    }

    /// An iterator at the shard's saved position; if that has been
    /// trimmed away, at the oldest record still there.
    async fn start_iterator(
        &self,
        arn: &str,
        shard: &mut ShardState,
    ) -> Result<String, NotifyError> {
        let started = match self.iterator_at(arn, &shard.id, &shard.position).await {
            Err(error) if is_trimmed(&error) => {
                self.resume_after_trim(shard);
                self.iterator_at(arn, &shard.id, &shard.position).await
            }
            started => started,
        };
        started
            .map_err(|error| NotifyError::aws("DynamoDB Streams GetShardIterator", error))?
            .shard_iterator
            .ok_or_else(|| {
                NotifyError::aws(
                    "DynamoDB Streams GetShardIterator",
                    MissingIterator(shard.id.clone()),
                )
            })
    }

    async fn iterator_at(
        &self,
        arn: &str,
        shard_id: &str,
        position: &ShardPosition,
    ) -> Result<GetShardIteratorOutput, SdkError<GetShardIteratorError, HttpResponse>> {
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
        request.send().await
    }

    /// The shard's position is older than the stream keeps: what lay between
    /// it and the oldest record left is gone. Say so, and go on from there.
    fn resume_after_trim(&self, shard: &mut ShardState) {
        tracing::error!(shard = %shard.id, position = ?shard.position,
            "stream records were trimmed before they were read (more than 24 h behind): their notifications are lost; resuming at the oldest record");
        metrics::changes_lost(SOURCE, 1);
        shard.position = ShardPosition::New;
        shard.iterator = None;
    }

    async fn refresh_shards(&self, arn: &str, reader: &mut Reader) -> Result<(), NotifyError> {
        let described = self.shards(arn).await?;
        let mut kept = Vec::with_capacity(described.len());
        for shard in described {
            let Some(id) = shard.shard_id().map(str::to_owned) else {
                continue;
            };
            match reader.shards.iter().position(|s| s.id == id) {
                Some(known) => kept.push(reader.shards.swap_remove(known)),
                None => kept.push(ShardState {
                    position: self.store.shard_position(&id).await?,
                    parent: shard.parent_shard_id().map(str::to_owned),
                    id,
                    iterator: None,
                    backoff: Backoff::new(PACING.first_retry),
                    retry_at: None,
                }),
            }
        }
        reader.shards = kept;
        reader.described_at = Some(Instant::now());
        Ok(())
    }

    async fn publish(
        &self,
        publisher: &Publisher,
        records: &[StreamRecord],
    ) -> Result<(), NotifyError> {
        let mut events = Vec::new();
        for record in records {
            match OrderEvent::from_record(record) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                // Retrying cannot make it readable; say so once and go on.
                Err(error) => {
                    tracing::error!(
                        error = chain(&error),
                        "an unreadable order change is skipped"
                    )
                }
            }
        }
        publisher.publish_all(&events).await
    }

    async fn save(&self, shard_id: &str, position: ShardPosition) -> Result<(), NotifyError> {
        Ok(self.store.save_shard_position(shard_id, &position).await?)
    }

    async fn latest_stream_arn(&self) -> Result<String, NotifyError> {
        let table = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|error| NotifyError::aws("DynamoDB DescribeTable", error))?;
        table
            .table
            .and_then(|table| table.latest_stream_arn)
            .ok_or_else(|| NotifyError::NoStream(self.table.clone()))
    }

    async fn shards(&self, arn: &str) -> Result<Vec<Shard>, NotifyError> {
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
                .map_err(|error| NotifyError::aws("DynamoDB Streams DescribeStream", error))?;
            let Some(description) = output.stream_description else {
                return Ok(shards);
            };
            shards.extend(description.shards.unwrap_or_default());
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                return Ok(shards);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("GetShardIterator answered no iterator for shard {0}")]
struct MissingIterator(String);

enum Refusal {
    Expired,
    Trimmed,
    Other,
}

fn page_refusal<R>(error: &SdkError<GetRecordsError, R>) -> Refusal {
    match error.as_service_error() {
        Some(e) if e.is_expired_iterator_exception() => Refusal::Expired,
        Some(e) if e.is_trimmed_data_access_exception() => Refusal::Trimmed,
        _ => Refusal::Other,
    }
}

fn is_trimmed<R>(error: &SdkError<GetShardIteratorError, R>) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_trimmed_data_access_exception())
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
