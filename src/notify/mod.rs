//! The background task: order change records in, notifications out.
//! `record` decodes stream records, `event` turns them into domain events,
//! `publish` sends those on; `sqs` (the Pipe's queue, in AWS) and `embedded`
//! (the embedded engine's change feed) are where the records come from.

mod backoff;
mod embedded;
mod error;
pub(crate) mod event;
mod publish;
mod record;
mod sqs;
mod streams;
mod worker;

use tokio::sync::watch;

use crate::config::{NotificationSettings, PublisherSettings, SourceSettings};
use crate::store::Store;
use embedded::EmbeddedFeed;
use publish::{AwsPublisher, Publisher};
use sqs::SqsSource;
use streams::StreamsSource;

pub struct Notifier {
    source: Source,
    publisher: Publisher,
}

enum Source {
    Sqs(SqsSource),
    Embedded(EmbeddedFeed),
    Streams(StreamsSource),
}

impl Notifier {
    /// `None` when notifications are off. AWS clients are built only when a
    /// setting asks for them. With `CREATE_TABLE=true` (local emulators) the
    /// topic and bus are created too when missing.
    pub async fn build(
        settings: &NotificationSettings,
        store: &Store,
    ) -> anyhow::Result<Option<Self>> {
        let create = settings.create_missing;
        let publisher = match &settings.publisher {
            PublisherSettings::Log => Publisher::Log,
            PublisherSettings::Aws {
                topic_arn,
                bus_name,
            } => {
                let sdk = crate::aws::sdk_config().await;
                let publisher = AwsPublisher {
                    sns: aws_sdk_sns::Client::new(&sdk),
                    topic_arn: topic_arn.clone(),
                    events: aws_sdk_eventbridge::Client::new(&sdk),
                    bus_name: bus_name.clone(),
                };
                if create {
                    publisher.create_destinations().await?;
                }
                Publisher::Aws(publisher)
            }
        };
        // The configuration has paired each source with its store already.
        let source = match &settings.source {
            SourceSettings::Off => return Ok(None),
            SourceSettings::Embedded => match store.embedded_change_feed() {
                Some(engine) => Source::Embedded(EmbeddedFeed::new(engine)),
                None => anyhow::bail!("the embedded change feed needs the embedded store"),
            },
            SourceSettings::DynamoDbStreams { table_name } => {
                let sdk = crate::aws::sdk_config().await;
                Source::Streams(StreamsSource::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    aws_sdk_dynamodbstreams::Client::new(&sdk),
                    table_name.clone(),
                    store.clone(),
                ))
            }
            SourceSettings::Sqs { queue_url } => {
                let sdk = crate::aws::sdk_config().await;
                let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
                    .timeout_config(crate::aws::long_poll_timeouts())
                    .build();
                let source = SqsSource {
                    client: aws_sdk_sqs::Client::from_conf(sqs),
                    queue_url: queue_url.clone(),
                    visibility_timeout: settings.visibility_timeout,
                    retry_cap: settings.retry_cap,
                    concurrency: settings.concurrency,
                };
                if create {
                    source.create_queue().await?;
                }
                Source::Sqs(source)
            }
        };
        Ok(Some(Self { source, publisher }))
    }

    /// Runs until `shutdown` turns true, then returns once the batches in
    /// hand are finished.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let publisher = &self.publisher;
        match self.source {
            Source::Sqs(source) => {
                tracing::info!(queue = %source.queue_url, "consuming order changes");
                source.run(publisher, shutdown).await;
            }
            Source::Embedded(mut feed) => {
                tracing::info!("consuming the embedded change feed");
                worker::run(&mut feed, publisher, embedded::PACING, shutdown).await;
            }
            Source::Streams(mut source) => {
                tracing::info!(table = %source.table, "consuming the table stream");
                worker::run(&mut source, publisher, streams::PACING, shutdown).await;
            }
        }
        tracing::info!("order change consumer stopped");
    }
}
