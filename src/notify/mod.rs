//! The background task: order change records in, notifications out.
//! `record` decodes stream records, `event` turns them into domain events,
//! `publish` sends those on; `sqs` (the Pipe's queue, in AWS) and `embedded`
//! (the embedded engine's change feed) are where the records come from.

pub mod embedded;
pub mod event;
pub mod publish;
pub mod record;
pub mod sqs;

use tokio::sync::watch;

use crate::config::{NotificationSettings, PublisherSettings, SourceSettings};
use crate::store::engine::Engine;
use embedded::EmbeddedFeed;
use publish::{AwsPublisher, Publisher};
use sqs::SqsSource;

pub struct Notifier {
    source: Source,
    publisher: Publisher,
}

enum Source {
    Sqs(SqsSource),
    Embedded(EmbeddedFeed),
}

impl Notifier {
    /// `None` when notifications are off. AWS clients are built only when a
    /// setting asks for them.
    pub async fn build(
        settings: &NotificationSettings,
        engine: &Engine,
    ) -> anyhow::Result<Option<Self>> {
        let publisher = match &settings.publisher {
            PublisherSettings::Log => Publisher::Log,
            PublisherSettings::Aws {
                topic_arn,
                bus_name,
            } => {
                let sdk = crate::aws::sdk_config().await;
                Publisher::Aws(AwsPublisher {
                    sns: aws_sdk_sns::Client::new(&sdk),
                    topic_arn: topic_arn.clone(),
                    events: aws_sdk_eventbridge::Client::new(&sdk),
                    bus_name: bus_name.clone(),
                })
            }
        };
        let source = match (&settings.source, engine) {
            (SourceSettings::Off, _) => return Ok(None),
            (SourceSettings::Embedded, Engine::Embedded(engine)) => {
                Source::Embedded(EmbeddedFeed {
                    engine: engine.clone(),
                })
            }
            (SourceSettings::Embedded, _) => {
                anyhow::bail!("NOTIFICATIONS_SOURCE=embedded needs STORE=embedded")
            }
            (SourceSettings::Sqs { queue_url }, _) => {
                let sdk = crate::aws::sdk_config().await;
                let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
                    .timeout_config(crate::aws::long_poll_timeouts())
                    .build();
                Source::Sqs(SqsSource {
                    client: aws_sdk_sqs::Client::from_conf(sqs),
                    queue_url: queue_url.clone(),
                    visibility_timeout: settings.visibility_timeout,
                    concurrency: settings.concurrency,
                })
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
        }
        tracing::info!("order change consumer stopped");
    }
}
