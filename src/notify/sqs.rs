//! The production source: the queue an EventBridge Pipe fills from the table
//! stream. A message is deleted only after every event it holds was
//! published; anything else comes back after the visibility timeout, and a
//! message that keeps failing (or cannot be decoded) reaches the DLQ after
//! the queue's `maxReceiveCount`.

use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use futures_util::future::join_all;
use tokio::sync::watch;

use super::event::OrderEvent;
use super::publish::Publisher;
use super::record::decode_body;

const WAIT_SECONDS: i32 = 20;
const MAX_MESSAGES: i32 = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct SqsSource {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// Longer than a batch may take to publish.
    pub visibility_timeout: Duration,
    pub concurrency: usize,
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
        let pollers = (0..self.concurrency.max(1)).map(|_| self.poll(publisher, shutdown.clone()));
        join_all(pollers).await;
    }

    async fn poll(&self, publisher: &Publisher, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        while !*shutdown.borrow() {
            let received = tokio::select! {
                // A receive still waiting is dropped: SQS hands its messages
                // to nobody, or they come back after the visibility timeout.
                _ = shutdown.changed() => break,
                received = self.receive() => received,
            };
            match received {
                Ok(messages) => {
                    backoff = Duration::from_millis(500);
                    if !messages.is_empty() {
                        self.process(publisher, messages).await;
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, queue = %self.queue_url, "cannot receive order changes; retrying");
                    tokio::select! {
                        _ = shutdown.changed() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn receive(&self) -> Result<Vec<Message>, String> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(WAIT_SECONDS)
            .visibility_timeout(
                i32::try_from(self.visibility_timeout.as_secs()).unwrap_or(i32::MAX),
            )
            .send()
            .await
            .map_err(|error| aws_sdk_sqs::error::DisplayErrorContext(error).to_string())?;
        Ok(output.messages.unwrap_or_default())
    }

    async fn process(&self, publisher: &Publisher, messages: Vec<Message>) {
        tracing::debug!(messages = messages.len(), "order changes received");
        // Per message: its events, or None when it could not be read.
        let mut events: Vec<OrderEvent> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        let mut readable = vec![true; messages.len()];
        for (index, message) in messages.iter().enumerate() {
            match events_of(message) {
                Ok(found) => {
                    owners.extend(std::iter::repeat_n(index, found.len()));
                    events.extend(found);
                }
                Err(reason) => {
                    readable[index] = false;
                    tracing::error!(message_id = message.message_id().unwrap_or_default(), error = %reason,
                        "an undecodable order change stays in the queue until it reaches the DLQ");
                }
            }
        }
        let mut published = readable;
        for ((outcome, owner), event) in publisher
            .publish(&events)
            .await
            .into_iter()
            .zip(&owners)
            .zip(&events)
        {
            if let Err(reason) = outcome {
                published[*owner] = false;
                tracing::error!(event_id = %event.event_id, order_id = %event.order.id, error = %reason,
                    "publishing failed; the message will be received again");
            }
        }
        let done: Vec<&Message> = messages
            .iter()
            .zip(published)
            .filter(|(_, ok)| *ok)
            .map(|(m, _)| m)
            .collect();
        self.delete(&done).await;
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

fn events_of(message: &Message) -> Result<Vec<OrderEvent>, String> {
    let body = message.body().ok_or("the message has no body")?;
    let records = decode_body(body).map_err(|error| error.to_string())?;
    let mut events = Vec::new();
    for record in &records {
        if let Some(event) = OrderEvent::from_record(record).map_err(|error| error.to_string())? {
            events.push(event);
        }
    }
    Ok(events)
}
