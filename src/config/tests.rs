//! The settings as an operator writes them, read back.

use super::*;
use std::collections::HashMap;

fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match Settings::from_lookup(|name| env.get(name).cloned()) {
        Ok(settings) => Ok(settings),
        Err(CliError::Config(error)) => Err(error),
        Err(CliError::Usage(usage)) => panic!("not a settings error: {usage}"),
    }
}

#[test]
fn every_variable_is_declared_once_with_its_documented_name() {
    let names = env_vars();
    for documented in [
        "HOST",
        "PORT",
        "STORE",
        "DATA_DIR",
        "TABLE_NAME",
        "CREATE_TABLE",
        "DYNAMODB_ATTEMPT_TIMEOUT_MS",
        "DYNAMODB_TIMEOUT_MS",
        "LOG_FORMAT",
        "METRICS",
        "METRICS_INTERVAL",
        "SHUTDOWN_TIMEOUT",
        "CLIENT_TIMEOUT",
        "NOTIFICATIONS_SOURCE",
        "NOTIFICATIONS_PUBLISHER",
        "NOTIFICATIONS_QUEUE_URL",
        "NOTIFICATIONS_CONCURRENCY",
        "NOTIFICATIONS_VISIBILITY_TIMEOUT",
        "NOTIFICATIONS_RETRY_CAP",
        "ORDER_TOPIC_ARN",
        "EVENT_BUS_NAME",
        "AUTH_MODE",
        "AUTH_ISSUER",
        "AUTH_JWKS_URL",
        "AUTH_AUDIENCE",
        "AUTH_JWKS_REFRESH_INTERVAL",
    ] {
        assert!(names.iter().any(|n| n == documented), "{documented}");
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "each once: {names:?}");
}

#[test]
fn defaults_match_the_readme() {
    let settings = settings(&[]).unwrap();
    assert_eq!(settings.host.to_string(), "0.0.0.0");
    assert_eq!(settings.client_timeout, Duration::from_secs(10));
    assert_eq!(settings.log_format, LogFormat::Pretty);
    assert_eq!(settings.metrics_interval, None);
    assert_eq!(settings.notifications.concurrency, 2);
    assert_eq!(
        settings.notifications.visibility_timeout,
        Duration::from_secs(60)
    );
    assert_eq!(settings.notifications.retry_cap, Duration::from_secs(3600));
    assert_eq!(settings.notifications.publisher, PublisherSettings::Log);
    let metrics = settings_with_metrics();
    assert_eq!(metrics, Some(Duration::from_secs(60)));
}

fn settings_with_metrics() -> Option<Duration> {
    settings(&[("METRICS", "on")]).unwrap().metrics_interval
}

#[test]
fn defaults_to_the_embedded_engine_on_8080() {
    let settings = settings(&[]).unwrap();
    assert_eq!(settings.port, 8080);
    assert_eq!(settings.shutdown_timeout, Duration::from_secs(20));
    assert!(matches!(settings.store, StoreSettings::Embedded { .. }));
}

#[test]
fn jwt_mode_needs_an_issuer_and_an_audience_and_derives_the_jwks_url() {
    assert_eq!(settings(&[]).unwrap().auth, AuthSettings::Off);
    let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool";
    let auth = settings(&[
        ("AUTH_MODE", "jwt"),
        ("AUTH_ISSUER", issuer),
        ("AUTH_AUDIENCE", "client-a, client-b"),
    ])
    .unwrap()
    .auth;
    assert_eq!(
        auth,
        AuthSettings::Jwt {
            issuer: issuer.into(),
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            audiences: vec!["client-a".into(), "client-b".into()],
            refresh_interval: Duration::from_secs(60),
        }
    );
    let missing_audience = settings(&[("AUTH_MODE", "jwt"), ("AUTH_ISSUER", issuer)]);
    assert_eq!(missing_audience.unwrap_err().name, "AUTH_AUDIENCE");
    let missing_issuer = settings(&[("AUTH_MODE", "jwt"), ("AUTH_AUDIENCE", "a")]);
    assert_eq!(missing_issuer.unwrap_err().name, "AUTH_ISSUER");
    assert_eq!(
        settings(&[("AUTH_MODE", "basic")]).unwrap_err().name,
        "AUTH_MODE"
    );
}

#[test]
fn reads_the_dynamodb_settings() {
    let settings = settings(&[
        ("STORE", "dynamodb"),
        ("CREATE_TABLE", "true"),
        ("SHUTDOWN_TIMEOUT", "5s"),
    ])
    .unwrap();
    assert_eq!(settings.shutdown_timeout, Duration::from_secs(5));
    match settings.store {
        StoreSettings::DynamoDb {
            table_name,
            create_table,
            timeouts,
            queue_settle,
            ..
        } => {
            // The call budget (8 s) plus the index lag's allowance.
            assert_eq!(queue_settle, Duration::from_secs(10));
            assert_eq!(table_name, "EcommerceTable");
            assert!(create_table);
            assert_eq!(timeouts, DynamoDbTimeouts::default());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn reads_the_notification_settings() {
    let notifications = settings(&[
        ("NOTIFICATIONS_SOURCE", "sqs"),
        ("NOTIFICATIONS_QUEUE_URL", "http://localhost/queue"),
        (
            "ORDER_TOPIC_ARN",
            "arn:aws:sns:us-east-1:000000000000:orders",
        ),
    ])
    .unwrap()
    .notifications;
    assert_eq!(
        notifications.source,
        SourceSettings::Sqs {
            queue_url: "http://localhost/queue".into()
        }
    );
    assert_eq!(
        notifications.publisher,
        PublisherSettings::Aws {
            topic_arn: "arn:aws:sns:us-east-1:000000000000:orders".into(),
            bus_name: "default".into()
        }
    );
    assert!(
        settings(&[("NOTIFICATIONS_SOURCE", "sqs")]).is_err(),
        "the queue is required"
    );
    assert!(
        settings(&[("NOTIFICATIONS_PUBLISHER", "aws")]).is_err(),
        "the topic is required"
    );
    assert_eq!(
        settings(&[("NOTIFICATIONS_CONCURRENCY", "0")])
            .unwrap_err()
            .name,
        "NOTIFICATIONS_CONCURRENCY"
    );
    assert_eq!(
        settings(&[("AUTH_JWKS_REFRESH_INTERVAL", "0")])
            .unwrap_err()
            .name,
        "AUTH_JWKS_REFRESH_INTERVAL"
    );
    assert_eq!(
        settings(&[]).unwrap().notifications.source,
        SourceSettings::Embedded,
        "the embedded engine publishes from its own change feed by default"
    );
    assert!(settings(&[("STORE", "dynamodb"), ("NOTIFICATIONS_SOURCE", "embedded")]).is_err());
}

#[test]
fn a_bad_value_names_the_variable() {
    let error = settings(&[("PORT", "eighty")]).unwrap_err().to_string();
    assert!(error.contains("PORT=\"eighty\""), "{error}");
    assert!(settings(&[("STORE", "postgres")]).is_err());
    assert!(settings(&[("STORE", "dynamodb"), ("TABLE_NAME", "a#b")]).is_err());
    assert!(settings(&[("LOG_FORMAT", "xml")]).is_err());
}

/// A walk must not pass an order's place before its write can have landed:
/// a settle time shorter than the write's budget is refused at start-up,
/// and the default follows the budget.
#[test]
fn the_queue_settle_time_is_never_shorter_than_the_dynamodb_budget() {
    let settle = |pairs: &[(&str, &str)]| {
        let mut all = vec![("STORE", "dynamodb")];
        all.extend_from_slice(pairs);
        settings(&all).map(|settings| match settings.store {
            StoreSettings::DynamoDb { queue_settle, .. } => queue_settle,
            other => panic!("unexpected {other:?}"),
        })
    };
    let error = settle(&[("QUEUE_SETTLE_MS", "2000")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("QUEUE_SETTLE_MS=\"2000\""), "{error}");
    assert!(error.contains("DYNAMODB_TIMEOUT_MS (8000 ms)"), "{error}");
    assert_eq!(
        settle(&[("QUEUE_SETTLE_MS", "8000")]).unwrap(),
        Duration::from_secs(8)
    );
    assert_eq!(
        settle(&[("DYNAMODB_TIMEOUT_MS", "1000"), ("QUEUE_SETTLE_MS", "1000")]).unwrap(),
        Duration::from_secs(1)
    );
    assert_eq!(
        settle(&[("DYNAMODB_TIMEOUT_MS", "4000")]).unwrap(),
        Duration::from_secs(6)
    );
}

#[test]
fn migrate_takes_at_most_64_segments() {
    use clap::Parser;
    let segments = |n: &str| {
        Cli::try_parse_from(["ecommerce-service", "migrate", "--segments", n]).map(|cli| match cli
            .command
        {
            Some(Command::Migrate(args)) => args.segments,
            other => panic!("unexpected {other:?}"),
        })
    };
    assert_eq!(segments("64").unwrap(), 64);
    assert!(segments("65").is_err());
    assert!(segments("0").is_err());
}
