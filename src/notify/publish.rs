//! Where events go: SNS and EventBridge in AWS, or one log line per event.
//! Every per-entry failure of a batch call is reported against its event.

use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::error::{Destination, NotifyError, PublishFailure};
use super::event::OrderEvent;
use crate::telemetry::{metrics, trace};

/// Both PublishBatch and PutEvents take at most 10 entries.
const BATCH: usize = 10;
pub const EVENT_SOURCE: &str = "ecommerce.orders";

pub enum Publisher {
    Log,
    Aws(AwsPublisher),
}

pub struct AwsPublisher {
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub events: aws_sdk_eventbridge::Client,
    pub bus_name: String,
}

/// An event ready to send, with its index in the chunk, its payload and its
/// span (the message carries the span's trace onwards).
struct Ready<'a> {
    index: usize,
    event: &'a OrderEvent,
    payload: &'a str,
    span: &'a Span,
}

/// Per event, in order: published everywhere, or why not (the first
/// destination's refusal).
pub type Outcomes = Vec<Result<(), PublishFailure>>;

impl Publisher {
    pub async fn publish(&self, events: &[OrderEvent]) -> Outcomes {
        let spans: Vec<Span> = events.iter().map(message_span).collect();
        let outcomes = match self {
            Publisher::Log => events
                .iter()
                .zip(&spans)
                .map(|(event, span)| span.in_scope(|| log_event(event)))
                .collect(),
            Publisher::Aws(aws) => {
                let mut outcomes = Vec::with_capacity(events.len());
                for (chunk, spans) in events.chunks(BATCH).zip(spans.chunks(BATCH)) {
                    outcomes.extend(aws.publish_chunk(chunk, spans).await);
                }
                let published = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
                if published > 0 {
                    tracing::info!(target: "notifications", published, topic = %aws.topic_arn, bus = %aws.bus_name, "order events published");
                }
                outcomes
            }
        };
        metrics::notification_batch(events.len());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        for ((event, span), outcome) in events.iter().zip(&spans).zip(&outcomes) {
            if outcome.is_err() {
                span.record("otel.status_code", "ERROR");
            }
            let lag = event
                .changed_at_epoch
                .and_then(|at| Duration::try_from_secs_f64(now - at).ok());
            metrics::notification(event.event_type.as_str(), outcome.is_ok(), lag);
        }
        outcomes
    }
}

/// One span per message, the root of its own trace and linked to the trace
/// of the request whose write caused it. Its context travels with the SNS
/// message and the EventBridge event, so their consumers continue it.
fn message_span(event: &OrderEvent) -> Span {
    if !trace::enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        parent: None,
        "order event",
        otel.name = %format_args!("publish {}", event.event_type.as_str()),
        otel.kind = "producer",
        messaging.message.id = %event.event_id,
        event_type = event.event_type.as_str(),
        otel.status_code = Empty,
    );
    if let Some(cause) = &event.cause {
        span.add_link(cause.clone());
    }
    span
}

impl Publisher {
    /// Publishes all or reports the failures: for sources that retry a
    /// whole batch.
    pub async fn publish_all(&self, events: &[OrderEvent]) -> Result<(), NotifyError> {
        let failures: Vec<PublishFailure> = self
            .publish(events)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        let failed = failures.len();
        match failures.into_iter().next() {
            None => Ok(()),
            Some(first) => Err(NotifyError::Publish {
                failed,
                total: events.len(),
                first,
            }),
        }
    }
}

fn log_event(event: &OrderEvent) -> Result<(), PublishFailure> {
    let payload = event
        .payload()
        .map_err(|error| unencodable(Destination::Log, &error))?;
    tracing::info!(
        target: "notifications",
        event_type = event.event_type.as_str(),
        messaging.message.id = %event.event_id,
        order_id = %event.order.id,
        %payload,
        "order event"
    );
    Ok(())
}

impl AwsPublisher {
    /// Creates the topic and the bus if missing: for local emulators only.
    pub async fn create_destinations(&self) -> anyhow::Result<()> {
        let topic_name = self.topic_arn.rsplit(':').next().unwrap_or_default();
        let mut topic = self.sns.create_topic().name(topic_name);
        if topic_name.ends_with(".fifo") {
            topic = topic.attributes("FifoTopic", "true");
        }
        let created = topic
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sns::error::DisplayErrorContext(e)))?;
        if created.topic_arn() != Some(self.topic_arn.as_str()) {
            anyhow::bail!(
                "ORDER_TOPIC_ARN={} but the emulator named the topic {:?}",
                self.topic_arn,
                created.topic_arn()
            );
        }
        if self.bus_name != "default" {
            match self
                .events
                .create_event_bus()
                .name(&self.bus_name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
                Err(error) => {
                    anyhow::bail!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(error))
                }
            }
        }
        Ok(())
    }

    async fn publish_chunk(&self, events: &[OrderEvent], spans: &[Span]) -> Outcomes {
        let payloads: Vec<Result<String, PublishFailure>> = events
            .iter()
            .map(|event| {
                event
                    .payload()
                    .map_err(|error| unencodable(Destination::Sns, &error))
            })
            .collect();
        let mut outcomes: Outcomes = payloads
            .iter()
            .map(|p| p.as_ref().map(drop).map_err(Clone::clone))
            .collect();
        let ready: Vec<Ready> = events
            .iter()
            .zip(&payloads)
            .zip(spans)
            .enumerate()
            .filter_map(|(index, ((event, payload), span))| {
                payload.as_ref().ok().map(|payload| Ready {
                    index,
                    event,
                    payload,
                    span,
                })
            })
            .collect();
        if ready.is_empty() {
            return outcomes;
        }
        for (index, failure) in self
            .send_to_sns(&ready)
            .await
            .into_iter()
            .chain(self.send_to_eventbridge(&ready).await)
        {
            if outcomes[index].is_ok() {
                outcomes[index] = Err(failure);
            }
        }
        outcomes
    }

    /// `PublishBatch`; returns the failed events' indexes with the reason.
    async fn send_to_sns(&self, ready: &[Ready<'_>]) -> Vec<(usize, PublishFailure)> {
        let fifo = self.topic_arn.ends_with(".fifo");
        let mut entries = Vec::with_capacity(ready.len());
        for item in ready {
            let attribute = |value: &str| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
            };
            let order_id = item.event.order.id.to_string();
            let trace_context = trace::outgoing(item.span);
            let entry = PublishBatchRequestEntry::builder()
                .id(item.index.to_string())
                .message(item.payload)
                .set_message_attributes(Some(
                    [
                        ("eventType", attribute(item.event.event_type.as_str())),
                        ("orderId", attribute(&order_id)),
                        ("username", attribute(item.event.order.owner.as_str())),
                    ]
                    .into_iter()
                    .chain(
                        trace_context
                            .iter()
                            .map(|(name, value)| (name.as_str(), attribute(value))),
                    )
                    .filter_map(|(name, value)| Some((name.to_owned(), value.ok()?)))
                    .collect(),
                ))
                // On a FIFO topic, one order's messages share a group, so
                // SNS delivers them in the order they were published, and a
                // redelivered stream record is dropped by its id.
                .set_message_group_id(fifo.then(|| order_id.clone()))
                .set_message_deduplication_id(fifo.then(|| item.event.event_id.clone()))
                .build();
            match entry {
                Ok(entry) => entries.push(entry),
                Err(error) => {
                    let failure = unencodable(Destination::Sns, &error);
                    return ready.iter().map(|r| (r.index, failure.clone())).collect();
                }
            }
        }
        let sent = self
            .sns
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(output) => output
                .failed()
                .iter()
                .filter_map(|failed| {
                    let index = failed.id().parse().ok()?;
                    let mut failure = PublishFailure::of_entry(
                        Destination::Sns,
                        failed.code(),
                        failed.message().unwrap_or_default(),
                    );
                    // SNS says whose fault it was: the sender's never heals.
                    failure.transient = failure.transient || !failed.sender_fault();
                    Some((index, failure))
                })
                .collect(),
            Err(error) => {
                let failure = PublishFailure::of_call(Destination::Sns, &error);
                ready.iter().map(|r| (r.index, failure.clone())).collect()
            }
        }
    }

    /// `PutEvents`; its result entries are in request order.
    async fn send_to_eventbridge(&self, ready: &[Ready<'_>]) -> Vec<(usize, PublishFailure)> {
        let entries = ready
            .iter()
            .map(|item| {
                PutEventsRequestEntry::builder()
                    .set_trace_header(trace::xray_header(item.span))
                    .source(EVENT_SOURCE)
                    .detail_type(item.event.event_type.as_str())
                    .detail(item.payload)
                    .event_bus_name(&self.bus_name)
                    .build()
            })
            .collect();
        let sent = self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(output) if output.failed_entry_count() == 0 => Vec::new(),
            Ok(output) => ready
                .iter()
                .zip(output.entries())
                .filter_map(|(item, result)| {
                    let code = result.error_code()?;
                    let message = result.error_message().unwrap_or_default();
                    Some((
                        item.index,
                        PublishFailure::of_entry(Destination::EventBridge, code, message),
                    ))
                })
                .collect(),
            Err(error) => {
                let failure = PublishFailure::of_call(Destination::EventBridge, &error);
                ready.iter().map(|r| (r.index, failure.clone())).collect()
            }
        }
    }
}

/// An event that cannot be turned into a message: no retry makes it one.
fn unencodable(destination: Destination, error: &dyn std::error::Error) -> PublishFailure {
    PublishFailure {
        destination,
        code: "Unencodable".to_owned(),
        message: error.to_string(),
        transient: false,
    }
}
