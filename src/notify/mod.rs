//! The background task: order change records in, notifications out.
//! `record` decodes stream records, `event` turns them into domain events,
//! `publish` sends those on, and `sqs` is where the records come from.

pub mod event;
pub mod publish;
pub mod record;
pub mod sqs;

use tokio::sync::watch;

use crate::config::{NotificationSettings, PublisherSettings, SourceSettings};
use publish::{AwsPublisher, Publisher};
use sqs::SqsSource;

pub struct Notifier {
    source: SqsSource,
    publisher: Publisher,
}

impl Notifier {
    /// `None` when notifications are off. AWS clients are built only when a
    /// setting asks for them.
    pub async fn build(settings: &NotificationSettings) -> Option<Self> {
        let SourceSettings::Sqs { queue_url } = &settings.source else {
            return None;
        };
        let sdk = crate::aws::sdk_config().await;
        let publisher = match &settings.publisher {
            PublisherSettings::Log => Publisher::Log,
            PublisherSettings::Aws {
                topic_arn,
                bus_name,
            } => Publisher::Aws(AwsPublisher {
                sns: aws_sdk_sns::Client::new(&sdk),
                topic_arn: topic_arn.clone(),
                events: aws_sdk_eventbridge::Client::new(&sdk),
                bus_name: bus_name.clone(),
            }),
        };
        let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
            .timeout_config(crate::aws::long_poll_timeouts())
            .build();
        let source = SqsSource {
            client: aws_sdk_sqs::Client::from_conf(sqs),
            queue_url: queue_url.clone(),
            visibility_timeout: settings.visibility_timeout,
            concurrency: settings.concurrency,
        };
        Some(Self { source, publisher })
    }

    /// Runs until `shutdown` turns true, then returns once the batches in
    /// hand are finished.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        tracing::info!(queue = %self.source.queue_url, "consuming order changes");
        self.source.run(&self.publisher, shutdown).await;
        tracing::info!("order change consumer stopped");
    }
}
