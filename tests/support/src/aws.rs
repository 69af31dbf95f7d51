//! Fresh SNS, SQS and EventBridge resources in moto for one test: the
//! queue a Pipe would fill, its dead-letter queue, a topic and a bus, each
//! with an inbox queue subscribed, and the service binary consuming them.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::Value;
use tempfile::TempDir;

use super::moto_endpoint;
use crate::process::{Running, start_with};

pub const INSERT: &str = include_str!("../../fixtures/pipe-insert.json");
pub const MODIFY_BATCH: &str = include_str!("../../fixtures/pipe-modify-batch.json");
pub const FIXTURE_ORDER: &str = "01JDHZ4Q5T8V0K3M7N2P6R9S1W";

/// For the tests that wait for a message to come back until it reaches the
/// DLQ: redelivery after 1 s.
pub const QUICK_RETRY: &[(&str, &str)] = &[("NOTIFICATIONS_VISIBILITY_TIMEOUT", "1")];

pub struct Aws {
    pub sqs: aws_sdk_sqs::Client,
    pub changes: String,
    pub dead_letters: String,
    pub topic_arn: String,
    pub bus: String,
    /// Subscribed to the topic with raw delivery.
    pub topic_inbox: String,
    /// The target of a rule on the bus for `source: ecommerce.orders`.
    pub bus_inbox: String,
}

pub async fn sdk() -> aws_config::SdkConfig {
    moto_endpoint();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

impl Aws {
    /// Fresh, uniquely named resources, so tests share the emulator safely.
    /// A message reaches the DLQ on its third receive: quick for the tests
    /// that want it there.
    pub async fn new() -> Self {
        Self::with_max_receives(2).await
    }

    pub async fn with_max_receives(max_receives: u32) -> Self {
        let sdk = sdk().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let id = ulid::Ulid::generate().to_string().to_lowercase();

        let dead_letters = create_queue(&sqs, &format!("dlq-{id}"), None).await;
        let dlq_arn = queue_arn(&sqs, &dead_letters).await;
        let redrive =
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#);
        let changes = create_queue(&sqs, &format!("changes-{id}"), Some(redrive)).await;

        let topic_arn = sns
            .create_topic()
            .name(format!("orders-{id}"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let topic_inbox = create_queue(&sqs, &format!("topic-inbox-{id}"), None).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn(&sqs, &topic_inbox).await)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();

        let bus = format!("bus-{id}");
        events.create_event_bus().name(&bus).send().await.unwrap();
        let bus_inbox = create_queue(&sqs, &format!("bus-inbox-{id}"), None).await;
        events
            .put_rule()
            .name(format!("orders-{id}"))
            .event_bus_name(&bus)
            .event_pattern(r#"{"source":["ecommerce.orders"]}"#)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule(format!("orders-{id}"))
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("inbox")
                    .arn(queue_arn(&sqs, &bus_inbox).await)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Self {
            sqs,
            changes,
            dead_letters,
            topic_arn,
            bus,
            topic_inbox,
            bus_inbox,
        }
    }

    /// The service binary consuming the changes queue.
    pub fn start_service(&self, data_dir: &TempDir, topic_arn: &str) -> Running {
        self.start_service_with(data_dir, topic_arn, &[])
    }

    pub fn start_service_with(
        &self,
        data_dir: &TempDir,
        topic_arn: &str,
        extra: &[(&str, &str)],
    ) -> Running {
        let endpoint = moto_endpoint();
        let mut settings = vec![
            ("NOTIFICATIONS_SOURCE", "sqs"),
            ("NOTIFICATIONS_QUEUE_URL", &self.changes),
            // Far longer than a batch takes on a loaded 2-core machine, so
            // a message comes back only when a test wants it to (QUICK_RETRY).
            ("NOTIFICATIONS_VISIBILITY_TIMEOUT", "30"),
            ("NOTIFICATIONS_CONCURRENCY", "2"),
            ("ORDER_TOPIC_ARN", topic_arn),
            ("EVENT_BUS_NAME", &self.bus),
            ("AWS_ENDPOINT_URL", &endpoint),
        ];
        settings.extend_from_slice(extra);
        start_with(data_dir, &settings)
    }

    pub async fn send(&self, bodies: &[String]) {
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .unwrap()
                })
                .collect();
            let sent = self
                .sqs
                .send_message_batch()
                .queue_url(&self.changes)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert!(sent.failed().is_empty());
        }
    }

    /// Receives and deletes what arrives in `queue` until `done` says so.
    /// The deadline only bounds a hang: moto serves about 200 requests a
    /// second to the whole suite, and hundreds of messages can take a minute.
    pub async fn collect_until(
        &self,
        queue: &str,
        done: impl Fn(&[Message]) -> bool,
    ) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        while !done(&seen) {
            if Instant::now() >= deadline {
                panic!(
                    "gave up waiting on {queue}: {} messages so far, {} on the dead-letter queue",
                    seen.len(),
                    self.depth(&self.dead_letters).await
                );
            }
            let received = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            for message in received.messages.unwrap_or_default() {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                seen.push(message);
            }
        }
        seen
    }

    /// What SQS's `StartMessageMoveTask` does with the dead-letter queue
    /// (moto has no such operation): every message moves back to the queue
    /// it came from as a new message (a new id and enqueue time, its body as
    /// it was: "Learn how to configure a dead-letter queue redrive"), and
    /// leaves the dead-letter queue. Returns how many moved.
    pub async fn redrive(&self) -> usize {
        let mut moved = Vec::new();
        loop {
            let more = self
                .sqs
                .receive_message()
                .queue_url(&self.dead_letters)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if more.is_empty() {
                break;
            }
            for message in more {
                self.sqs
                    .delete_message()
                    .queue_url(&self.dead_letters)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                moved.push(message);
            }
        }
        let bodies: Vec<String> = moved
            .iter()
            .map(|message| message.body().unwrap_or_default().to_owned())
            .collect();
        self.send(&bodies).await;
        bodies.len()
    }

    pub async fn depth(&self, queue: &str) -> u64 {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        attributes.values().map(|v| v.parse::<u64>().unwrap()).sum()
    }

    pub async fn wait_until_drained(&self, queue: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.depth(queue).await > 0 {
            assert!(Instant::now() < deadline, "{queue} never drained");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    redrive: Option<String>,
) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    if let Some(policy) = redrive {
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    request.send().await.unwrap().queue_url.unwrap()
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes[&QueueAttributeName::QueueArn].clone()
}

/// A fixture with a fresh order id and fresh event ids.
pub fn with_new_order(fixture: &str) -> (String, String) {
    let order = ulid::Ulid::generate().to_string();
    let mut body = fixture.replace(FIXTURE_ORDER, &order);
    for event_id in [
        "7de3041dd709b024af6f29e4fa13d34c",
        "c81e728d9d4c2f636f067f89cc14862c",
        "eccbc87e4b5ce2fe28308fd9f2a7baf3",
    ] {
        body = body.replace(event_id, &ulid::Ulid::generate().to_string());
    }
    (order, body)
}

/// The distinct events among `messages`: a redelivered message is one event
/// however often it arrives (SQS is at-least-once).
pub fn event_ids(messages: &[Message]) -> std::collections::HashSet<String> {
    messages
        .iter()
        .map(|message| json(message)["eventId"].as_str().unwrap().to_owned())
        .collect()
}

pub fn json(message: &Message) -> Value {
    serde_json::from_str(message.body().unwrap()).unwrap()
}
