//! Typed settings, read once from the environment (or the matching flags)
//! at start-up. `args` declares each setting; this module turns them into
//! the settings the service runs with, checking the rules that span
//! settings in one place ([`validate`]). A bad value stops start-up with one
//! line naming the variable and what it expects.

mod args;
mod notifications;
mod overload;
mod reference;

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use args::{AuthMode, SettingsArgs, StoreKind, Toggle};
pub use args::{Cli, Command, LogFormat, MAX_SEGMENTS, MigrateArgs};
pub use overload::{AdmissionSettings, OverloadSettings, Quota, RateLimitSettings};
pub use reference::reference_markdown;

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub store: StoreSettings,
    pub log_format: LogFormat,
    /// CloudWatch EMF lines on stdout, every interval; `None` when off.
    pub metrics_interval: Option<Duration>,
    /// A caller's sampled flag is honoured at most this often a second.
    pub trace_caller_sampled_per_second: u32,
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request's head, and its body.
    pub client_timeout: Duration,
    pub notifications: NotificationSettings,
    pub auth: AuthSettings,
    pub overload: OverloadSettings,
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
    /// Local emulators (`CREATE_TABLE=true`): the queue, topic and bus are
    /// created when missing.
    pub create_missing: bool,
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
    DynamoDbStreams {
        table_name: String,
    },
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
            create_missing: false,
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
        /// How long an order waits in its status before the work queue
        /// shows it (the index lags the table).
        queue_settle: Duration,
        /// The KMS key the deployment grants for the table (`TABLE_KEY_ARN`).
        table_key_arn: Option<String>,
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

#[derive(Debug, thiserror::Error)]
#[error("invalid {name}={value:?}: {expected}")]
pub struct ConfigError {
    name: String,
    value: String,
    expected: String,
}

/// Every environment variable the service reads (besides the AWS SDK's
/// own, `OTEL_*` and `RUST_LOG`), from the declaration itself. Deployment
/// files are checked against it.
pub fn env_vars() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

impl Cli {
    /// The command line and the environment. `--help` and `--version` come
    /// back as errors that print themselves.
    pub fn from_env() -> Result<Self, CliError> {
        Self::try_parse_args(std::env::args_os(), true)
    }

    /// Reads the settings through `lookup` instead of the process
    /// environment, so tests need not touch it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CliError> {
        let mut argv = vec![OsString::from("ecommerce-service")];
        for arg in Cli::command().get_arguments() {
            let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if let Some(value) = lookup(&env.to_string_lossy()) {
                argv.push(format!("--{long}={value}").into());
            }
        }
        Self::try_parse_args(argv, false)
    }

    fn try_parse_args(
        argv: impl IntoIterator<Item = OsString>,
        with_env: bool,
    ) -> Result<Self, CliError> {
        let mut command = Cli::command();
        if !with_env {
            command = command.mut_args(|arg| arg.env(None));
        }
        let mut matches = command
            .try_get_matches_from(argv)
            .map_err(CliError::from_clap)?;
        Self::from_arg_matches_mut(&mut matches).map_err(CliError::from_clap)
    }
}

/// Why the command line or the environment could not be read.
#[derive(Debug)]
pub enum CliError {
    /// A setting's value is wrong: one line names it.
    Config(ConfigError),
    /// `--help`, `--version`, or a command-line mistake: clap's own text.
    Usage(clap::Error),
}

impl CliError {
    fn from_clap(error: clap::Error) -> Self {
        let invalid = matches!(
            error.kind(),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation
        );
        let arg = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) if invalid => arg.clone(),
            _ => return CliError::Usage(error),
        };
        let long = arg
            .trim_start_matches("--")
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .to_owned();
        let name = Cli::command()
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .and_then(|a| a.get_env().map(|env| env.to_string_lossy().into_owned()))
            .unwrap_or(arg);
        let value = match error.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(value)) => value.clone(),
            _ => String::new(),
        };
        let expected = match (
            std::error::Error::source(&error),
            error.get(ContextKind::ValidValue),
        ) {
            (Some(reason), _) => reason.to_string(),
            (None, Some(ContextValue::Strings(valid))) => {
                format!("expected {}", valid.join(" or "))
            }
            _ => "not a valid value".to_owned(),
        };
        CliError::Config(ConfigError {
            name,
            value,
            expected,
        })
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Config(error) => write!(f, "{error}"),
            CliError::Usage(error) => write!(f, "{error}"),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, CliError> {
        validate(Cli::from_env()?.settings).map_err(CliError::Config)
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CliError> {
        validate(Cli::from_lookup(lookup)?.settings).map_err(CliError::Config)
    }
}

/// The rules that span settings: which notifications source fits which
/// engine, what each source and publisher needs, and what JWT mode needs.
pub fn validate(args: SettingsArgs) -> Result<Settings, ConfigError> {
    let store = match args.store {
        StoreKind::Embedded => StoreSettings::Embedded {
            data_dir: args.data_dir.clone(),
        },
        StoreKind::Dynamodb => {
            let timeouts = DynamoDbTimeouts {
                attempt: args.dynamodb_attempt_timeout_ms,
                call: args.dynamodb_timeout_ms,
            };
            StoreSettings::DynamoDb {
                table_name: args.table_name.clone(),
                create_table: args.create_table,
                timeouts,
                queue_settle: queue_settle(args.queue_settle_ms, timeouts)?,
                table_key_arn: args.table_key_arn.clone().filter(|arn| !arn.is_empty()),
            }
        }
    };
    let notifications = notifications::notifications(&args)?;
    Ok(Settings {
        host: args.host,
        port: args.port,
        store,
        log_format: args.log_format,
        metrics_interval: (args.metrics == Toggle::On)
            .then_some(args.metrics_interval)
            .filter(|interval| !interval.is_zero()),
        trace_caller_sampled_per_second: args.trace_caller_sampled_per_second,
        shutdown_timeout: args.shutdown_timeout,
        client_timeout: args.client_timeout,
        notifications,
        auth: auth(&args)?,
        overload: overload::overload(&args)?,
    })
}

/// What the default settle time allows for DynamoDB's index lag on top of
/// the write's own budget: AWS puts the lag at typically within a second
/// (AWS Knowledge Center, "dynamodb-missing-table-items-gsi").
pub const INDEX_LAG_ALLOWANCE: Duration = Duration::from_secs(2);

/// How long an order waits in its status before the work queue shows it.
/// Its place is stamped before its write, and the write may land as late as
/// the request's DynamoDB budget allows (`store::budget`): a walk that had
/// passed the place by then would never come back for it. So never less
/// than the budget, and by default the budget plus the index's lag.
fn queue_settle(
    configured: Option<Duration>,
    timeouts: DynamoDbTimeouts,
) -> Result<Duration, ConfigError> {
    match configured {
        None => Ok(timeouts.call + INDEX_LAG_ALLOWANCE),
        Some(settle) if settle >= timeouts.call => Ok(settle),
        Some(settle) => Err(ConfigError {
            name: "QUEUE_SETTLE_MS".into(),
            value: settle.as_millis().to_string(),
            expected: format!(
                "at least DYNAMODB_TIMEOUT_MS ({} ms): a write may land that long after its \
                 order's place in the work queue was taken, and a walk past the place never \
                 comes back for it",
                timeouts.call.as_millis()
            ),
        }),
    }
}

fn auth(args: &SettingsArgs) -> Result<AuthSettings, ConfigError> {
    if args.auth_mode == AuthMode::Off {
        return Ok(AuthSettings::Off);
    }
    let issuer = args.auth_issuer.clone().unwrap_or_default();
    if !issuer.starts_with("https://") && !issuer.starts_with("http://") {
        return Err(ConfigError {
            name: "AUTH_ISSUER".into(),
            value: issuer,
            expected: "expected the token issuer's URL".into(),
        });
    }
    let issuer = issuer.trim_end_matches('/').to_owned();
    // Cognito (and any OpenID provider) serves its keys here.
    let jwks_url = args
        .auth_jwks_url
        .clone()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
    let audience = args.auth_audience.clone().unwrap_or_default();
    let audiences: Vec<String> = audience
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if audiences.is_empty() {
        return Err(ConfigError {
            name: "AUTH_AUDIENCE".into(),
            value: audience,
            expected: "expected the app client id(s), comma-separated".into(),
        });
    }
    Ok(AuthSettings::Jwt {
        issuer,
        jwks_url,
        audiences,
        refresh_interval: args.auth_jwks_refresh_interval,
    })
}

#[cfg(test)]
mod tests;
