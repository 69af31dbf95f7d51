//! The production source: the queue an EventBridge Pipe fills from the table
//! stream. A message is deleted only after every event it holds was
//! published. What happens to one that was not depends on why:
//!
//! - **Transient** (throttling, a 5xx, a timeout or a network error): it is
//!   hidden for longer with each receive (`ChangeMessageVisibility`),
//!   starting at the visibility timeout and growing fourfold up to
//!   `NOTIFICATIONS_RETRY_CAP`. With the stack's 60 s and 5 receives, the
//!   fifth comes about 81 minutes after the first: an hour of SNS or
//!   EventBridge being down costs delay, not a dead-letter redrive.
//! - **Permanent** (no such topic, access denied, an undecodable message):
//!   it comes back after the plain visibility timeout and reaches the DLQ
//!   after the queue's `maxReceiveCount`, minutes after it first failed.
//!
//! SQS moves a message to the DLQ when its receive count passes
//! `maxReceiveCount` ("Using dead-letter queues in Amazon SQS"); a message
//! hidden longer is received fewer times in the same span.

use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use futures_util::future::join_all;
use tokio::sync::watch;

use super::error::NotifyError;
use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::decode_body;
use super::worker::{self, Pacing, Pass, Source};
use crate::error_chain as chain;

const WAIT_SECONDS: i32 = 20;
const MAX_MESSAGES: i32 = 10;
/// SQS's longest visibility timeout: 12 hours.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

pub struct SqsSource {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// Longer than a batch may take to publish.
    pub visibility_timeout: Duration,
    /// The longest a message is hidden after a transient failure.
    pub retry_cap: Duration,
    pub concurrency: usize,
}

/// A long poll is its own rest: an empty receive is followed by the next at
/// once.
const PACING: Pacing = Pacing {
    idle: Duration::ZERO,
    first_retry: Duration::from_millis(500),
};

/// One of the source's long-pollers.
struct Poller<'a>(&'a SqsSource);

impl Source for Poller<'_> {
    const NAME: &'static str = "sqs";

    async fn pass(
        &mut self,
        publisher: &Publisher,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Pass, NotifyError> {
        let messages = tokio::select! {
            // A receive still waiting is dropped: SQS hands its messages
            // to nobody, or they come back after the visibility timeout.
            () = worker::stopping(shutdown) => return Ok(Pass::Idle),
            received = self.0.receive() => received?,
        };
        if messages.is_empty() {
            return Ok(Pass::Idle);
        }
        self.0.process(publisher, messages).await;
        Ok(Pass::Worked)
    }
}

/// What became of one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Every event published: delete it.
    Done,
    /// Failed for a while: hide it for longer, by how often it came already.
    RetryLater,
    /// Failed for good: leave it to come back and reach the DLQ.
    Leave,
}

impl SqsSource {
    /// Creates the queue if missing: for local emulators only.
    pub async fn create_queue(&self) -> anyhow::Result<()> {
        let name = self.queue_url.rsplit('/').next().unwrap_or_default();
        let created = self
            .client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        if created.queue_url() != Some(self.queue_url.as_str()) {
            anyhow::bail!(
                "NOTIFICATIONS_QUEUE_URL={} but the emulator named the queue {:?}",
                self.queue_url,
                created.queue_url()
            );
        }
        Ok(())
    }

    /// Polls with `concurrency` long-pollers until `shutdown` turns true. A
    /// batch in hand is always finished: published and deleted, or left.
    pub async fn run(&self, publisher: &Publisher, shutdown: watch::Receiver<bool>) {
        let pollers = (0..self.concurrency.max(1)).map(|_| async {
            worker::run(&mut Poller(self), publisher, PACING, shutdown.clone()).await
        });
        join_all(pollers).await;
    }

    async fn receive(&self) -> Result<Vec<Message>, NotifyError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(WAIT_SECONDS)
            .visibility_timeout(seconds(self.visibility_timeout))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|error| NotifyError::aws("SQS ReceiveMessage", error))?;
        Ok(output.messages.unwrap_or_default())
    }

    async fn process(&self, publisher: &Publisher, messages: Vec<Message>) {
        tracing::debug!(messages = messages.len(), "order changes received");
        let mut events: Vec<OrderEvent> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        let mut fates = vec![Fate::Done; messages.len()];
        for (index, message) in messages.iter().enumerate() {
            match events_of(message) {
                Ok(found) => {
                    owners.extend(std::iter::repeat_n(index, found.len()));
                    events.extend(found);
                }
                Err(error) => {
                    fates[index] = Fate::Leave;
                    tracing::error!(
                        message_id = message.message_id().unwrap_or_default(),
                        error = chain(&error),
                        "an undecodable order change stays in the queue until it reaches the DLQ"
                    );
                }
            }
        }
        for ((outcome, owner), event) in publisher
            .publish(&events)
            .await
            .into_iter()
            .zip(&owners)
            .zip(&events)
        {
            let Err(failure) = outcome else { continue };
            let fate = if failure.transient {
                Fate::RetryLater
            } else {
                Fate::Leave
            };
            // One permanent failure decides: retrying later cannot publish that event.
            if fates[*owner] != Fate::Leave {
                fates[*owner] = fate;
            }
            tracing::error!(event_id = %event.event_id, order_id = %event.order.id,
                destination = %failure.destination, code = %failure.code, transient = failure.transient,
                error = %failure, "publishing failed; the message will be received again");
        }
        let chosen = |wanted: Fate| -> Vec<&Message> {
            messages
                .iter()
                .zip(&fates)
                .filter(|(_, f)| **f == wanted)
                .map(|(m, _)| m)
                .collect()
        };
        self.delete(&chosen(Fate::Done)).await;
        self.hide_for_longer(&chosen(Fate::RetryLater)).await;
    }

    /// How long a message that failed transiently stays hidden, by how many
    /// times it was received: the visibility timeout, then four times as
    /// long with each receive, up to the cap.
    fn retry_after(&self, receive_count: u32) -> Duration {
        let growth = 4u32.saturating_pow(receive_count.saturating_sub(1));
        self.visibility_timeout
            .saturating_mul(growth)
            .min(self.retry_cap)
            .min(MAX_VISIBILITY)
    }

    async fn hide_for_longer(&self, messages: &[&Message]) {
        if messages.is_empty() {
            return;
        }
        let entries = messages
            .iter()
            .enumerate()
            .filter_map(|(index, message)| {
                let count = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                    .visibility_timeout(seconds(self.retry_after(count)))
                    .build()
                    .ok()
            })
            .collect();
        let changed = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        // A message whose visibility did not change comes back after the
        // plain timeout: sooner, never lost.
        match changed {
            Ok(output) => {
                for failed in output.failed() {
                    tracing::warn!(
                        entry = failed.id(),
                        code = failed.code(),
                        "could not hide a message for longer"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "could not hide messages for longer")
            }
        }
    }

    async fn delete(&self, messages: &[&Message]) {
        if messages.is_empty() {
            return;
        }
        let entries = messages
            .iter()
            .enumerate()
            .filter_map(|(index, message)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        let deleted = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match deleted {
            // A message not deleted is published again later: a duplicate,
            // which the event id lets consumers drop, never a loss.
            Ok(output) => {
                for failed in output.failed() {
                    tracing::error!(
                        entry = failed.id(),
                        code = failed.code(),
                        "could not delete a published message"
                    );
                }
            }
            Err(error) => {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "could not delete published messages");
            }
        }
    }
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

fn events_of(message: &Message) -> Result<Vec<OrderEvent>, NotifyError> {
    let body = message.body().unwrap_or_default();
    let mut events = Vec::new();
    for record in &decode_body(body)? {
        events.extend(OrderEvent::from_record(record)?);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(visibility: u64, cap: u64) -> SqsSource {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .build();
        SqsSource {
            client: aws_sdk_sqs::Client::from_conf(config),
            queue_url: String::new(),
            visibility_timeout: Duration::from_secs(visibility),
            retry_cap: Duration::from_secs(cap),
            concurrency: 1,
        }
    }

    #[test]
    fn a_transient_failure_hides_the_message_four_times_longer_each_receive() {
        let stack = source(60, 3600);
        let waits: Vec<u64> = (1..=5)
            .map(|count| stack.retry_after(count).as_secs())
            .collect();
        assert_eq!(waits, [60, 240, 960, 3600, 3600]);
        // The stack's queue (maxReceiveCount 5) receives a message for the
        // fifth and last time this long after the first:
        let fifth: u64 = waits[..4].iter().sum();
        assert!(fifth > 3600, "an hour's outage is survived ({fifth} s)");
        assert_eq!(source(1, 3600).retry_after(40), Duration::from_secs(3600));
    }
}
