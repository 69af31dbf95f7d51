//! CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout, the
//! format Lambda Powertools writes: CloudWatch Logs turns each line into
//! metric data points, with no agent and no PutMetricData calls.
//!
//! Values are aggregated in the process and written once per interval: a
//! count as one number, a latency as up to 100 values (every value when there
//! were at most 100, else a uniform sample of them, so percentiles stay
//! honest within sampling error). Dimensions are route templates, operations,
//! engines and event types: bounded sets, never a username or an order id.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "EcommerceService";
/// EMF takes at most 100 values per metric in one line.
const MAX_VALUES: usize = 100;

static RECORDER: OnceLock<Recorder> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Count,
    Milliseconds,
}

/// How values of one metric within an interval become what a line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    /// Added up: counts.
    Sum,
    /// Every value (up to 100, then a uniform sample): distributions.
    Sample,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One dimension set's values: what one EMF line reports.
type Dimensions = Vec<(&'static str, String)>;

struct Recorder {
    series: Mutex<HashMap<Dimensions, Series>>,
    sink: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct Series {
    metrics: Vec<(&'static str, Unit, Aggregate)>,
}

enum Aggregate {
    Sum(f64),
    Sample { values: Vec<f64>, seen: u64 },
}

impl Series {
    fn add(&mut self, name: &'static str, unit: Unit, stat: Stat, value: f64) {
        let position = self.metrics.iter().position(|(n, ..)| *n == name);
        let index = position.unwrap_or_else(|| {
            let aggregate = match stat {
                Stat::Sum => Aggregate::Sum(0.0),
                Stat::Sample => Aggregate::Sample {
                    values: Vec::new(),
                    seen: 0,
                },
            };
            self.metrics.push((name, unit, aggregate));
            self.metrics.len() - 1
        });
        match &mut self.metrics[index].2 {
            Aggregate::Sum(sum) => *sum += value,
            Aggregate::Sample { values, seen } => {
                *seen += 1;
                if values.len() < MAX_VALUES {
                    values.push(value);
                } else {
                    // Reservoir sampling: each value seen so far stays with
                    // probability 100 / seen.
                    let slot = fastrand::u64(..*seen) as usize;
                    if slot < MAX_VALUES {
                        values[slot] = value;
                    }
                }
            }
        }
    }
}

/// Turns metrics on: values are written to `sink` every `interval` (and by
/// `flush`). Without it every recording call returns at once.
pub fn install(sink: Box<dyn Write + Send>, interval: Duration) {
    let recorder = Recorder {
        series: Mutex::new(HashMap::new()),
        sink: Mutex::new(sink),
    };
    if RECORDER.set(recorder).is_ok() {
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    flush();
                }
            })
            .expect("the metrics thread starts");
    }
}

/// Whether values are being recorded (`METRICS=on`).
pub(crate) fn enabled() -> bool {
    RECORDER.get().is_some()
}

/// Writes what was recorded since the last flush, one EMF line per
/// dimension set.
pub fn flush() {
    let Some(recorder) = RECORDER.get() else {
        return;
    };
    let series = std::mem::take(&mut *recorder.series.lock().unwrap_or_else(|e| e.into_inner()));
    if series.is_empty() {
        return;
    }
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let mut sink = recorder.sink.lock().unwrap_or_else(|e| e.into_inner());
    for (dimensions, series) in series {
        let mut line = emf_line(timestamp, &dimensions, &series).to_string();
        line.push('\n');
        // One write per line: the log writer never splits or interleaves it.
        let _ = sink.write_all(line.as_bytes());
    }
    let _ = sink.flush();
}

fn emf_line(timestamp: u64, dimensions: &Dimensions, series: &Series) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = series
        .metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        line.insert((*name).into(), json!(value));
    }
    for (name, _, aggregate) in &series.metrics {
        let value = match aggregate {
            Aggregate::Sum(sum) => json!(sum),
            Aggregate::Sample { values, .. } => json!(values),
        };
        line.insert((*name).into(), value);
    }
    Value::Object(line)
}

fn record(dimensions: impl FnOnce() -> Dimensions, values: &[(&'static str, Unit, Stat, f64)]) {
    let Some(recorder) = RECORDER.get() else {
        return;
    };
    let mut series = recorder.series.lock().unwrap_or_else(|e| e.into_inner());
    let series = series.entry(dimensions()).or_default();
    for (name, unit, stat, value) in values {
        series.add(name, *unit, *stat, *value);
    }
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One answered request: `route` is the method and route template.
pub(crate) fn request(route: &str, status: u16, latency: Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    record(
        || {
            vec![
                ("Route", route.to_owned()),
                ("StatusClass", class.to_owned()),
            ]
        },
        &[
            ("Requests", Unit::Count, Stat::Sum, 1.0),
            (
                "Latency",
                Unit::Milliseconds,
                Stat::Sample,
                milliseconds(latency),
            ),
        ],
    );
}

/// One storage engine call.
pub(crate) fn storage_call(
    engine: &'static str,
    operation: &'static str,
    latency: Duration,
    failed: bool,
) {
    record(
        || {
            vec![
                ("Engine", engine.to_owned()),
                ("Operation", operation.to_owned()),
            ]
        },
        &[
            ("StorageCalls", Unit::Count, Stat::Sum, 1.0),
            (
                "StorageErrors",
                Unit::Count,
                Stat::Sum,
                f64::from(u8::from(failed)),
            ),
            (
                "StorageLatency",
                Unit::Milliseconds,
                Stat::Sample,
                milliseconds(latency),
            ),
        ],
    );
}

/// One order event, published everywhere or not. `lag` is from the change
/// record's creation to now, when the record says when it was made.
pub(crate) fn notification(event_type: &'static str, published: bool, lag: Option<Duration>) {
    let mut values = vec![
        (
            "NotificationsPublished",
            Unit::Count,
            Stat::Sum,
            f64::from(u8::from(published)),
        ),
        (
            "NotificationsFailed",
            Unit::Count,
            Stat::Sum,
            f64::from(u8::from(!published)),
        ),
    ];
    if let (true, Some(lag)) = (published, lag) {
        values.push((
            "NotificationLag",
            Unit::Milliseconds,
            Stat::Sample,
            milliseconds(lag),
        ));
    }
    record(|| vec![("EventType", event_type.to_owned())], &values);
}

/// How many order events one consumer batch carried.
pub(crate) fn notification_batch(size: usize) {
    record(
        || vec![("Consumer", "notifications".to_owned())],
        &[("BatchSize", Unit::Count, Stat::Sample, size as f64)],
    );
}

/// A stored item that could not be read as a profile or an order (`kind`):
/// its data is not what this service or the system it replaced wrote.
pub(crate) fn unreadable_item(kind: &'static str) {
    record(
        || vec![("ItemKind", kind.to_owned())],
        &[("UnreadableItems", Unit::Count, Stat::Sum, 1.0)],
    );
}

/// An account claimed a profile that belonged to none (`how`: by its
/// verified email, or an admin's bind): audited, and counted.
pub(crate) fn profile_claim(how: &'static str) {
    record(
        || vec![("ClaimedBy", how.to_owned())],
        &[("ProfileClaims", Unit::Count, Stat::Sum, 1.0)],
    );
}

/// A fetch of the issuer's signing keys failed while none was in hand:
/// authenticated requests answer 503 until one succeeds.
pub(crate) fn signing_keys_unavailable() {
    record(
        || vec![("Dependency", "jwks".to_owned())],
        &[("SigningKeysUnavailable", Unit::Count, Stat::Sum, 1.0)],
    );
}

/// Change records a source lost before they were published: expired from
/// the embedded feed, or trimmed from a stream while the reader was away.
pub(crate) fn changes_lost(source: &'static str, count: usize) {
    record(
        || vec![("Source", source.to_owned())],
        &[("ChangesLost", Unit::Count, Stat::Sum, count as f64)],
    );
}

/// Requests an admission gate refused since the last call (`queue`,
/// `in-flight` or `caller`).
pub(crate) fn refused(gate: &'static str, count: u64) {
    record(
        || vec![("Gate", gate.to_owned())],
        &[("Refused", Unit::Count, Stat::Sum, count as f64)],
    );
}

/// The requests in flight and their adaptive limit, once a second.
pub(crate) fn in_flight(in_flight: usize, limit: usize) {
    record(
        || vec![("Gate", "in-flight".to_owned())],
        &[
            ("InFlight", Unit::Count, Stat::Sample, in_flight as f64),
            ("InFlightLimit", Unit::Count, Stat::Sample, limit as f64),
        ],
    );
}
