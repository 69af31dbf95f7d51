//! Which notifications source and publisher run, from the settings that
//! choose them and the engine they fit.

use super::args::{PublisherKind, SettingsArgs, SourceKind, StoreKind};
use super::{ConfigError, NotificationSettings, PublisherSettings, SourceSettings};

pub(super) fn notifications(args: &SettingsArgs) -> Result<NotificationSettings, ConfigError> {
    let embedded_store = args.store == StoreKind::Embedded;
    let topic = args.order_topic_arn.clone().filter(|arn| !arn.is_empty());
    let source = args
        .notifications_source
        .unwrap_or(match (embedded_store, topic.is_some()) {
            (true, _) => SourceKind::Embedded,
            (false, true) => SourceKind::DynamodbStreams,
            (false, false) => SourceKind::Off,
        });
    let invalid = |name: &str, value: &str, expected: &str| ConfigError {
        name: name.to_owned(),
        value: value.to_owned(),
        expected: expected.to_owned(),
    };
    let required = |name: &str, value: &Option<String>| {
        value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
            invalid(
                name,
                "",
                "must be set for the chosen notifications source or publisher",
            )
        })
    };
    let source = match source {
        SourceKind::Off => SourceSettings::Off,
        SourceKind::Embedded if embedded_store => SourceSettings::Embedded,
        SourceKind::Embedded => {
            return Err(invalid(
                "NOTIFICATIONS_SOURCE",
                "embedded",
                "the embedded change feed needs STORE=embedded",
            ));
        }
        SourceKind::Sqs => SourceSettings::Sqs {
            queue_url: required("NOTIFICATIONS_QUEUE_URL", &args.notifications_queue_url)?,
        },
        SourceKind::DynamodbStreams if !embedded_store => SourceSettings::DynamoDbStreams {
            table_name: args.table_name.clone(),
        },
        SourceKind::DynamodbStreams => {
            return Err(invalid(
                "NOTIFICATIONS_SOURCE",
                "dynamodb-streams",
                "reading a table stream needs STORE=dynamodb",
            ));
        }
    };
    let publisher = match args.notifications_publisher.unwrap_or(if topic.is_some() {
        PublisherKind::Aws
    } else {
        PublisherKind::Log
    }) {
        PublisherKind::Log => PublisherSettings::Log,
        PublisherKind::Aws => PublisherSettings::Aws {
            topic_arn: required("ORDER_TOPIC_ARN", &topic)?,
            bus_name: args.event_bus_name.clone(),
        },
    };
    Ok(NotificationSettings {
        source,
        publisher,
        concurrency: usize::from(args.notifications_concurrency),
        visibility_timeout: args.notifications_visibility_timeout,
        retry_cap: args.notifications_retry_cap,
        create_missing: !embedded_store && args.create_table,
    })
}
