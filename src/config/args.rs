//! Every setting, declared once: its environment variable, its default, its
//! unit and what it accepts live beside the field. `--help` prints them;
//! the list of variables the service reads is derived from here.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ecommerce-service",
    version,
    about = "Users and their orders over HTTP, on DynamoDB or an embedded database"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API (what runs without a command).
    Serve,
    /// Ask the running service's /health/live on PORT; exit 0 if it is up
    /// (the container's health check).
    Healthcheck,
    /// Print the OpenAPI document.
    Openapi,
    /// Turn what the replaced system wrote into today's shapes on the
    /// configured engine (safe beside a running service, idempotent,
    /// resumable), with progress on stderr and a JSON summary on stdout.
    /// Also puts orders from before the work queue onto it.
    #[command(alias = "backfill-queues")]
    Migrate(MigrateArgs),
    /// Check that the DynamoDB table has what the service needs (its keys,
    /// GSI1 and GSI2 ACTIVE, a NEW_AND_OLD_IMAGES stream, TTL on ExpiresAt,
    /// a KMS key the deployment grants); print each thing missing with the
    /// change that fixes it, and exit 1 if anything is.
    Preflight,
    /// Print docs/configuration.md, rendered from these declarations.
    #[command(hide = true)]
    ConfigReference,
}

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// Count what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove partial items and orphans (orders and email reservations of
    /// no profile) instead of only reporting them.
    #[arg(long)]
    pub delete_orphans: bool,
    /// At most this many item writes a second, across all segments (0: no limit).
    #[arg(long, default_value_t = 250)]
    pub max_writes_per_second: u32,
    /// Parallel scan segments on DynamoDB (the embedded engine has one), at
    /// most 64. An interrupted run resumes only with the same number.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SEGMENTS)))]
    pub segments: u32,
    /// Milliseconds between progress lines when stderr is not a terminal.
    #[arg(long, default_value_t = 5_000, hide = true)]
    pub progress_interval_ms: u64,
}

/// `migrate --segments`' bound. DynamoDB takes up to 1,000,000, but every
/// segment of one process is a task holding a scan page in memory, reads
/// its checkpoint when a run resumes and writes it after every page, while
/// all of them share one write rate (`--max-writes-per-second`, 250 by
/// default): past a few dozen, more segments add checkpoint writes and
/// memory, not speed. 64 also covers AWS's starting point of one segment
/// per 2 GB ("Parallel scan", DynamoDB Developer Guide) up to a 128 GB table.
pub const MAX_SEGMENTS: u32 = 64;

/// The settings, as environment variables (or the matching flags).
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// Listening address.
    #[arg(long, env = "HOST", default_value = "0.0.0.0", global = true)]
    pub host: IpAddr,
    /// Listening port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080, global = true)]
    pub port: u16,
    /// Storage engine.
    #[arg(long, env = "STORE", value_enum, default_value_t = StoreKind::Embedded, global = true)]
    pub store: StoreKind,
    /// The embedded engine's directory.
    #[arg(long, env = "DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// The DynamoDB table: 3 to 255 characters of A-Z a-z 0-9 _ . -
    #[arg(long, env = "TABLE_NAME", default_value = "EcommerceTable", value_parser = table_name, global = true)]
    pub table_name: String,
    /// Create the table (and the topic, bus and queue) if missing: for local emulators.
    #[arg(long, env = "CREATE_TABLE", default_value = "false", value_parser = boolean, action = clap::ArgAction::Set, global = true)]
    pub create_table: bool,
    /// The KMS key the deployment grants its roles for the table (the
    /// stack's TableKeyArn), when the table is encrypted with one:
    /// `preflight` checks the table's key against it.
    #[arg(long, env = "TABLE_KEY_ARN", global = true)]
    pub table_key_arn: Option<String>,
    /// Milliseconds for one DynamoDB HTTP attempt; a slow attempt is retried.
    #[arg(long, env = "DYNAMODB_ATTEMPT_TIMEOUT_MS", default_value = "3000", value_parser = milliseconds, global = true)]
    pub dynamodb_attempt_timeout_ms: Duration,
    /// Milliseconds for one DynamoDB call with its retries; past it, a 503.
    #[arg(long, env = "DYNAMODB_TIMEOUT_MS", default_value = "8000", value_parser = milliseconds, global = true)]
    pub dynamodb_timeout_ms: Duration,
    /// Milliseconds an order must have been in its status before the work
    /// queue (`GET /orders?status=`) shows it, on DynamoDB: a write may land
    /// up to DYNAMODB_TIMEOUT_MS after its order's place was stamped, and
    /// the index lags the table, so a younger entry could still be
    /// overtaken by an older one and a page walk would pass it by. At least
    /// DYNAMODB_TIMEOUT_MS; by default that plus 2000 for the index's lag.
    #[arg(long, env = "QUEUE_SETTLE_MS", value_parser = milliseconds_or_zero, global = true)]
    pub queue_settle_ms: Option<Duration>,
    /// Log lines as JSON or for people.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// CloudWatch EMF metric lines on stdout.
    #[arg(long, env = "METRICS", value_enum, default_value_t = Toggle::Off, global = true)]
    pub metrics: Toggle,
    /// With tracing on: a caller's sampled `traceparent` is honoured at most
    /// this many times a second; past it, its requests are not traced.
    #[arg(
        long,
        env = "TRACE_CALLER_SAMPLED_PER_SECOND",
        default_value_t = 10,
        global = true
    )]
    pub trace_caller_sampled_per_second: u32,
    /// Seconds between EMF flushes (and one at exit); 0 turns metrics off.
    #[arg(long, env = "METRICS_INTERVAL", default_value = "60", value_parser = seconds, global = true)]
    pub metrics_interval: Duration,
    /// Seconds to finish requests in flight after SIGTERM or SIGINT.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "20", value_parser = seconds, global = true)]
    pub shutdown_timeout: Duration,
    /// Seconds a client may take to send a request head, and again its body.
    #[arg(long, env = "CLIENT_TIMEOUT", default_value = "10", value_parser = seconds, global = true)]
    pub client_timeout: Duration,
    /// Where order changes come from [default: embedded on the embedded
    /// engine; dynamodb-streams on DynamoDB when ORDER_TOPIC_ARN is set; else off].
    #[arg(long, env = "NOTIFICATIONS_SOURCE", value_enum, global = true)]
    pub notifications_source: Option<SourceKind>,
    /// Where order events go [default: aws when ORDER_TOPIC_ARN is set, else log].
    #[arg(long, env = "NOTIFICATIONS_PUBLISHER", value_enum, global = true)]
    pub notifications_publisher: Option<PublisherKind>,
    /// The Pipe's queue, for the sqs source.
    #[arg(long, env = "NOTIFICATIONS_QUEUE_URL", global = true)]
    pub notifications_queue_url: Option<String>,
    /// Long pollers on the queue.
    #[arg(long, env = "NOTIFICATIONS_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64), global = true)]
    pub notifications_concurrency: u16,
    /// Seconds a received message stays hidden (longer than a batch takes).
    #[arg(long, env = "NOTIFICATIONS_VISIBILITY_TIMEOUT", default_value = "60", value_parser = seconds, global = true)]
    pub notifications_visibility_timeout: Duration,
    /// The longest (seconds) a message is hidden after a transient publishing failure.
    #[arg(long, env = "NOTIFICATIONS_RETRY_CAP", default_value = "3600", value_parser = seconds, global = true)]
    pub notifications_retry_cap: Duration,
    /// The SNS topic, for the aws publisher.
    #[arg(long, env = "ORDER_TOPIC_ARN", global = true)]
    pub order_topic_arn: Option<String>,
    /// The EventBridge bus, for the aws publisher.
    #[arg(long, env = "EVENT_BUS_NAME", default_value = "default", global = true)]
    pub event_bus_name: String,
    /// Refuse requests with 503 OVERLOADED when the service is past what it
    /// can answer in time: the requests in flight reach their adaptive limit,
    /// or a worker's queue stands longer than ADMISSION_QUEUE_TARGET_MS.
    /// /health/live and /health/ready are never refused.
    #[arg(long, env = "ADMISSION", value_enum, default_value_t = Toggle::On, global = true)]
    pub admission: Toggle,
    /// The floor of the adaptive limit on requests in flight.
    #[arg(long, env = "ADMISSION_MIN_IN_FLIGHT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub admission_min_in_flight: u32,
    /// The ceiling (and starting value) of the adaptive limit on requests in flight.
    #[arg(long, env = "ADMISSION_MAX_IN_FLIGHT", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub admission_max_in_flight: u32,
    /// Milliseconds: an answer slower than this (or a 503 from storage)
    /// cuts the limit on requests in flight; faster ones raise it.
    #[arg(long, env = "ADMISSION_LATENCY_TARGET_MS", default_value = "250", value_parser = milliseconds, global = true)]
    pub admission_latency_target_ms: Duration,
    /// Milliseconds a worker may stay behind (requests waiting for it) before
    /// it refuses a share of new requests, growing while it stays behind.
    #[arg(long, env = "ADMISSION_QUEUE_TARGET_MS", default_value = "20", value_parser = milliseconds, global = true)]
    pub admission_queue_target_ms: Duration,
    /// A token bucket per caller (the token's account; the client address
    /// with AUTH_MODE=off): past it, 429 RATE_LIMITED with Retry-After and
    /// the RateLimit fields. Per task, not across the fleet.
    #[arg(long, env = "RATE_LIMIT", value_enum, default_value_t = Toggle::On, global = true)]
    pub rate_limit: Toggle,
    /// Requests a second a customer (or a client address) may make, sustained.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub rate_limit_per_second: u32,
    /// Requests a customer may make at once, above the sustained rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub rate_limit_burst: u32,
    /// Requests a second for staff (the admin and fulfilment groups).
    #[arg(long, env = "RATE_LIMIT_STAFF_PER_SECOND", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub rate_limit_staff_per_second: u32,
    /// Requests staff may make at once, above their sustained rate.
    #[arg(long, env = "RATE_LIMIT_STAFF_BURST", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub rate_limit_staff_burst: u32,
    /// Callers whose buckets are kept; past it, idle buckets are dropped,
    /// and new callers share one bucket until some are.
    #[arg(long, env = "RATE_LIMIT_MAX_CALLERS", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub rate_limit_max_callers: u32,
    /// jwt requires a bearer token on every users and orders route.
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Off, global = true)]
    pub auth_mode: AuthMode,
    /// The token issuer's URL, e.g. https://cognito-idp.<region>.amazonaws.com/<pool id>.
    #[arg(long, env = "AUTH_ISSUER", global = true)]
    pub auth_issuer: Option<String>,
    /// Where the signing keys are [default: ${AUTH_ISSUER}/.well-known/jwks.json].
    #[arg(long, env = "AUTH_JWKS_URL", global = true)]
    pub auth_jwks_url: Option<String>,
    /// Accepted app client ids, comma-separated.
    #[arg(long, env = "AUTH_AUDIENCE", global = true)]
    pub auth_audience: Option<String>,
    /// Seconds between scheduled key refreshes, and at least between
    /// refreshes an unknown kid causes.
    #[arg(long, env = "AUTH_JWKS_REFRESH_INTERVAL", default_value = "60", value_parser = positive_seconds, global = true)]
    pub auth_jwks_refresh_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Embedded,
    Dynamodb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    Off,
    Embedded,
    Sqs,
    DynamodbStreams,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublisherKind {
    Aws,
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    Off,
    Jwt,
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn milliseconds_or_zero(raw: &str) -> Result<Duration, String> {
    raw.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| "expected a whole number of milliseconds".into())
}

fn milliseconds(raw: &str) -> Result<Duration, String> {
    match raw.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err("expected a positive whole number of milliseconds".into()),
    }
}

/// Whole seconds, optionally with an `s` suffix: `20` or `20s`.
fn seconds(raw: &str) -> Result<Duration, String> {
    raw.strip_suffix('s')
        .unwrap_or(raw)
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| "expected whole seconds, such as 20 or 20s".into())
}

/// Whole seconds, at least one: an interval that drives a timer.
fn positive_seconds(raw: &str) -> Result<Duration, String> {
    match seconds(raw)? {
        duration if duration.is_zero() => Err("expected at least 1 second".into()),
        duration => Ok(duration),
    }
}

/// DynamoDB's table-name rules: 3–255 characters of `[A-Za-z0-9_.-]`.
fn table_name(raw: &str) -> Result<String, String> {
    let valid = (3..=255).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err("expected 3 to 255 characters of A-Z a-z 0-9 _ . -".into())
    }
}
