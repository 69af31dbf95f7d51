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

use tokio::sync::watch;

use crate::config::StoreSettings;
use crate::config::{NotificationSettings, PublisherSettings, SourceSettings};
use crate::store::Store;
use crate::store::engine::Engine;
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
        store_settings: &StoreSettings,
        store: &Store,
    ) -> anyhow::Result<Option<Self>> {
        if settings.source == SourceSettings::Off {
            return Ok(None);
        }
        let create = matches!(
            store_settings,
            StoreSettings::DynamoDb {
                create_table: true,
                ..
            }
        );
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
        let source = match (&settings.source, store.engine()) {
            (SourceSettings::Off, _) => return Ok(None),
            (SourceSettings::Embedded, Engine::Embedded(engine)) => {
                Source::Embedded(EmbeddedFeed {
                    engine: engine.clone(),
                })
            }
            (SourceSettings::Embedded, _) => {
                anyhow::bail!("NOTIFICATIONS_SOURCE=embedded needs STORE=embedded")
            }
            (SourceSettings::DynamoDbStreams, _) => {
                let StoreSettings::DynamoDb { table_name, .. } = store_settings else {
                    anyhow::bail!("NOTIFICATIONS_SOURCE=dynamodb-streams needs STORE=dynamodb");
                };
                let sdk = crate::aws::sdk_config().await;
                Source::Streams(StreamsSource {
                    dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
                    streams: aws_sdk_dynamodbstreams::Client::new(&sdk),
                    table: table_name.clone(),
                    store: store.clone(),
                })
            }
            (SourceSettings::Sqs { queue_url }, _) => {
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
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        match &self.source {
            Source::Sqs(source) => {
                tracing::info!(queue = %source.queue_url, "consuming order changes");
                source.run(&self.publisher, shutdown).await;
            }
            Source::Embedded(feed) => {
                tracing::info!("consuming the embedded change feed");
                feed.run(&self.publisher, shutdown).await;
            }
            Source::Streams(source) => {
                tracing::info!(table = %source.table, "consuming the table stream");
                source.run(&self.publisher, shutdown).await;
            }
        }
        tracing::info!("order change consumer stopped");
    }
}
