//! Typed settings, read once from the environment at start-up. A bad value
//! stops start-up with one line that says what to fix.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every environment variable the service reads (besides the AWS SDK's own
/// and `RUST_LOG`). Deployment files are checked against this list.
pub const ENV_VARS: &[&str] = &[
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
];

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub store: StoreSettings,
    pub log_format: LogFormat,
    /// CloudWatch EMF lines on stdout, every interval; `None` when off.
    pub metrics_interval: Option<Duration>,
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request's head, and its body.
    pub client_timeout: Duration,
    pub notifications: NotificationSettings,
    pub auth: AuthSettings,
}

/// Who may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// Anyone may do anything: for local trials only.
    Off,
    /// RS256 bearer tokens from `issuer`, verified against its JWKS.
    Jwt {
        issuer: String,
        jwks_url: String,
        /// Accepted `aud` (ID tokens) or `client_id` (Cognito access tokens).
        audiences: Vec<String>,
        /// An unknown `kid` refreshes the keys at most once per interval.
        refresh_interval: Duration,
    },
}

/// The background task that turns order changes into notifications.
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    pub source: SourceSettings,
    pub publisher: PublisherSettings,
    pub concurrency: usize,
    pub visibility_timeout: Duration,
    /// The longest the `sqs` source hides a message after a transient
    /// publishing failure.
    pub retry_cap: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSettings {
    Off,
    /// The embedded engine's own change feed.
    Embedded,
    /// The queue an EventBridge Pipe fills from the table stream.
    Sqs {
        queue_url: String,
    },
    /// The table's stream, read by the service itself (no Pipe locally).
    DynamoDbStreams,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherSettings {
    /// One log line per event.
    Log,
    /// SNS and EventBridge.
    Aws { topic_arn: String, bus_name: String },
}

impl NotificationSettings {
    pub fn off() -> Self {
        Self {
            source: SourceSettings::Off,
            publisher: PublisherSettings::Log,
            concurrency: 2,
            visibility_timeout: Duration::from_secs(60),
            retry_cap: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone)]
pub enum StoreSettings {
    Embedded {
        data_dir: PathBuf,
    },
    DynamoDb {
        table_name: String,
        create_table: bool,
        timeouts: DynamoDbTimeouts,
    },
}

/// How long one DynamoDB call may take. A request that needs DynamoDB answers
/// within `call` (then 503 with Retry-After), however the network misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamoDbTimeouts {
    /// One HTTP attempt, connecting included; a slow attempt is retried.
    pub attempt: Duration,
    /// The whole call, retries and back-off included.
    pub call: Duration,
}

impl Default for DynamoDbTimeouts {
    fn default() -> Self {
        Self {
            attempt: Duration::from_secs(3),
            call: Duration::from_secs(8),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {name}={value:?}: {expected}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    expected: &'static str,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &'static str, default: &str| -> (&'static str, String) {
            (
                name,
                lookup(name)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_owned()),
            )
        };
        let store = match read("STORE", "embedded") {
            (_, value) if value == "embedded" => StoreSettings::Embedded {
                data_dir: PathBuf::from(read("DATA_DIR", "./data").1),
            },
            (_, value) if value == "dynamodb" => StoreSettings::DynamoDb {
                table_name: table_name(read("TABLE_NAME", "EcommerceTable"))?,
                create_table: boolean(read("CREATE_TABLE", "false"))?,
                timeouts: DynamoDbTimeouts {
                    attempt: milliseconds(read("DYNAMODB_ATTEMPT_TIMEOUT_MS", "3000"))?,
                    call: milliseconds(read("DYNAMODB_TIMEOUT_MS", "8000"))?,
                },
            },
            (name, value) => return Err(invalid(name, value, "expected embedded or dynamodb")),
        };
        let notifications = notifications(&read, &store)?;
        Ok(Self {
            host: parse(
                read("HOST", "0.0.0.0"),
                "expected an IP address such as 0.0.0.0",
            )?,
            port: parse(
                read("PORT", "8080"),
                "expected a port number from 0 to 65535",
            )?,
            store,
            metrics_interval: match read("METRICS", "off") {
                (_, value) if value == "on" => Some(seconds(read("METRICS_INTERVAL", "60"))?)
                    .filter(|interval| !interval.is_zero()),
                (_, value) if value == "off" => None,
                (name, value) => return Err(invalid(name, value, "expected on or off")),
            },
            log_format: match read("LOG_FORMAT", "pretty") {
                (_, value) if value == "json" => LogFormat::Json,
                (_, value) if value == "pretty" => LogFormat::Pretty,
                (name, value) => return Err(invalid(name, value, "expected json or pretty")),
            },
            shutdown_timeout: seconds(read("SHUTDOWN_TIMEOUT", "20"))?,
            client_timeout: seconds(read("CLIENT_TIMEOUT", "10"))?,
            notifications,
            auth: auth(&read)?,
        })
    }
}

fn notifications(
    read: &impl Fn(&'static str, &str) -> (&'static str, String),
    store: &StoreSettings,
) -> Result<NotificationSettings, ConfigError> {
    let required = |name: &'static str| -> Result<String, ConfigError> {
        let (name, value) = read(name, "");
        if value.is_empty() {
            Err(invalid(
                name,
                value,
                "must be set for the chosen notifications source or publisher",
            ))
        } else {
            Ok(value)
        }
    };
    let embedded_store = matches!(store, StoreSettings::Embedded { .. });
    let topic_set = !read("ORDER_TOPIC_ARN", "").1.is_empty();
    let default_source = match (embedded_store, topic_set) {
        (true, _) => "embedded",
        (false, true) => "dynamodb-streams",
        (false, false) => "off",
    };
    let source = match read("NOTIFICATIONS_SOURCE", default_source) {
        (_, value) if value == "off" => SourceSettings::Off,
        (_, value) if value == "embedded" && embedded_store => SourceSettings::Embedded,
        (name, value) if value == "embedded" => {
            return Err(invalid(
                name,
                value,
                "the embedded change feed needs STORE=embedded",
            ));
        }
        (_, value) if value == "sqs" => SourceSettings::Sqs {
            queue_url: required("NOTIFICATIONS_QUEUE_URL")?,
        },
        (_, value) if value == "dynamodb-streams" && !embedded_store => {
            SourceSettings::DynamoDbStreams
        }
        (name, value) if value == "dynamodb-streams" => {
            return Err(invalid(
                name,
                value,
                "reading a table stream needs STORE=dynamodb",
            ));
        }
        (name, value) => {
            return Err(invalid(
                name,
                value,
                "expected off, embedded, dynamodb-streams or sqs",
            ));
        }
    };
    let publisher = match read(
        "NOTIFICATIONS_PUBLISHER",
        if topic_set { "aws" } else { "log" },
    ) {
        (_, value) if value == "log" => PublisherSettings::Log,
        (_, value) if value == "aws" => PublisherSettings::Aws {
            topic_arn: required("ORDER_TOPIC_ARN")?,
            bus_name: read("EVENT_BUS_NAME", "default").1,
        },
        (name, value) => return Err(invalid(name, value, "expected aws or log")),
    };
    let (name, value) = read("NOTIFICATIONS_CONCURRENCY", "2");
    let concurrency = value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| invalid(name, value, "expected a whole number from 1 to 64"))?;
    Ok(NotificationSettings {
        source,
        publisher,
        concurrency,
        visibility_timeout: seconds(read("NOTIFICATIONS_VISIBILITY_TIMEOUT", "60"))?,
        retry_cap: seconds(read("NOTIFICATIONS_RETRY_CAP", "3600"))?,
    })
}

fn auth(
    read: &impl Fn(&'static str, &str) -> (&'static str, String),
) -> Result<AuthSettings, ConfigError> {
    match read("AUTH_MODE", "off") {
        (_, mode) if mode == "off" => Ok(AuthSettings::Off),
        (_, mode) if mode == "jwt" => {
            let (name, issuer) = read("AUTH_ISSUER", "");
            if !issuer.starts_with("https://") && !issuer.starts_with("http://") {
                return Err(invalid(name, issuer, "expected the token issuer's URL"));
            }
            let issuer = issuer.trim_end_matches('/').to_owned();
            // Cognito (and any OpenID provider) serves its keys here.
            let jwks_url = read("AUTH_JWKS_URL", &format!("{issuer}/.well-known/jwks.json")).1;
            let (name, audience) = read("AUTH_AUDIENCE", "");
            let audiences: Vec<String> = audience
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            if audiences.is_empty() {
                return Err(invalid(
                    name,
                    audience,
                    "expected the app client id(s), comma-separated",
                ));
            }
            Ok(AuthSettings::Jwt {
                issuer,
                jwks_url,
                audiences,
                refresh_interval: positive_seconds(read("AUTH_JWKS_REFRESH_INTERVAL", "60"))?,
            })
        }
        (name, value) => Err(invalid(name, value, "expected off or jwt")),
    }
}

fn invalid(name: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError {
        name,
        value,
        expected,
    }
}

fn parse<T: std::str::FromStr>(
    (name, value): (&'static str, String),
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.parse().map_err(|_| invalid(name, value, expected))
}

fn boolean((name, value): (&'static str, String)) -> Result<bool, ConfigError> {
    match value.as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(name, value, "expected true or false")),
    }
}

fn milliseconds((name, value): (&'static str, String)) -> Result<Duration, ConfigError> {
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(invalid(
            name,
            value,
            "expected a positive whole number of milliseconds",
        )),
    }
}

/// Whole seconds, optionally with an `s` suffix: `20` or `20s`.
fn seconds((name, value): (&'static str, String)) -> Result<Duration, ConfigError> {
    let expected = "expected whole seconds, such as 20 or 20s";
    let number = value.strip_suffix('s').unwrap_or(&value);
    number
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| invalid(name, value.clone(), expected))
}

/// Whole seconds, at least one: an interval that drives a timer.
fn positive_seconds(setting: (&'static str, String)) -> Result<Duration, ConfigError> {
    let (name, value) = (setting.0, setting.1.clone());
    match seconds(setting)? {
        duration if duration.is_zero() => Err(invalid(name, value, "expected at least 1 second")),
        duration => Ok(duration),
    }
}

/// DynamoDB's table-name rules: 3–255 characters of `[A-Za-z0-9_.-]`.
fn table_name((name, value): (&'static str, String)) -> Result<String, ConfigError> {
    let valid = (3..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(value)
    } else {
        Err(invalid(
            name,
            value,
            "expected 3 to 255 characters of A-Z a-z 0-9 _ . -",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| env.get(name).cloned())
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
            } => {
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
        assert!(settings(&[("NOTIFICATIONS_CONCURRENCY", "0")]).is_err());
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
}
