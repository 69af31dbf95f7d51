//! The SDK's floor: the DynamoDB calls the service makes, in a bare loop
//! against the fake (no HTTP serving, no logging, no JSON responses of our
//! own), CPU per call from /proc/self/stat. What the service spends above
//! this is its own overhead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem,
};

/// Calls in flight at once, as under the HTTP benchmark's connections, on
/// as many threads as actix-web runs workers here.
const IN_FLIGHT: usize = 32;
const THREADS: usize = 2;
const TABLE: &str = "floor";

/// How the client is configured, layer by layer, so each layer's cost shows.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Setup {
    /// Timeouts on every attempt and on the call, as the service sets them.
    pub timeouts: bool,
    /// The SDK's stalled-stream protection (on by default).
    pub stalled_stream_protection: bool,
    /// A client (so a connection pool) per thread, rather than one shared:
    /// a pooled connection's I/O runs on the runtime that opened it.
    pub client_per_thread: bool,
}

impl Setup {
    fn label(self) -> String {
        let on = |flag: bool| if flag { "on" } else { "off" };
        format!(
            "timeouts {}, stalled-stream protection {}, client per thread {}",
            on(self.timeouts),
            on(self.stalled_stream_protection),
            on(self.client_per_thread)
        )
    }
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: &str) -> AttributeValue {
    AttributeValue::N(number.to_owned())
}

async fn client(endpoint: &str, setup: Setup) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if !setup.stalled_stream_protection {
        loader = loader.stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        );
    }
    if setup.timeouts {
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        );
    }
    Client::new(&loader.load().await)
}

fn profile(user: usize) -> std::collections::HashMap<String, AttributeValue> {
    let pk = format!("CUSTOMER#floor{user}");
    [
        ("PK", s(&pk)),
        ("SK", s(&pk)),
        ("Username", s(&format!("floor{user}"))),
        ("Email", s(&format!("floor{user}@example.com"))),
        ("Name", s("Floor")),
        ("CreatedAt", s("2026-11-30T00:00:00.000000Z")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

fn order(user: usize, id: &str) -> std::collections::HashMap<String, AttributeValue> {
    [
        ("PK", s(&format!("CUSTOMER#floor{user}"))),
        ("SK", s(&format!("#ORDER#{id}"))),
        ("GSI1PK", s(&format!("ORDER#{id}"))),
        ("GSI1SK", s(&format!("CUSTOMER#floor{user}"))),
        ("OrderId", s(id)),
        ("Status", s("PLACED")),
        ("Amount", n("5.5")),
        ("NumberItems", n("2")),
        ("Version", n("1")),
        ("CreatedAt", s("2026-11-30T00:00:00.000000Z")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// One call of `operation`, the `i`th of the run.
async fn call(client: &Client, operation: &str, i: usize) -> Result<(), String> {
    let user = i % 100;
    let pk = format!("CUSTOMER#floor{user}");
    match operation {
        "GetItem" => client
            .get_item()
            .table_name(TABLE)
            .key("PK", s(&pk))
            .key("SK", s(&pk))
            .consistent_read(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}")),
        "Query" => client
            .query()
            .table_name(TABLE)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", "PK")
            .expression_attribute_values(":p", s(&pk))
            .scan_index_forward(false)
            .limit(11)
            .consistent_read(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}")),
        "UpdateItem" => client
            .update_item()
            .table_name(TABLE)
            .key("PK", s(&pk))
            .key("SK", s("#ORDER#seed"))
            .update_expression("SET #u0 = :u0, #u1 = if_not_exists(#u1, :u2) + :u2")
            .condition_expression("attribute_exists(#pk) AND #c2 IN (:c3, :c4)")
            .expression_attribute_names("#u0", "UpdatedAt")
            .expression_attribute_names("#u1", "Version")
            .expression_attribute_names("#pk", "PK")
            .expression_attribute_names("#c2", "Status")
            .expression_attribute_values(":u0", s("2026-11-30T00:00:01.000000Z"))
            .expression_attribute_values(":u2", n("1"))
            .expression_attribute_values(":c3", s("PLACED"))
            .expression_attribute_values(":c4", s("PROCESSING"))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}")),
        "TransactWriteItems" => {
            let check = ConditionCheck::builder()
                .table_name(TABLE)
                .key("PK", s(&pk))
                .key("SK", s(&pk))
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", "PK")
                .build()
                .map_err(|e| e.to_string())?;
            // Unique across runs against one fake: the process id and the call.
            let id = format!("{:010}{i:016}", std::process::id());
            let put = Put::builder()
                .table_name(TABLE)
                .set_item(Some(order(user, &id)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", "PK")
                .build()
                .map_err(|e| e.to_string())?;
            client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().condition_check(check).build())
                .transact_items(TransactWriteItem::builder().put(put).build())
                .client_request_token(format!("{:010}{i:026}", std::process::id()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }
        other => Err(format!("no such operation {other}")),
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks of 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

const OPERATIONS: [&str; 4] = ["GetItem", "Query", "UpdateItem", "TransactWriteItems"];

/// Seeds the profiles and one order each, then runs `calls` of each
/// operation and prints one JSON line per operation. Like actix-web, it
/// runs two threads, each with a single-threaded runtime for the whole run;
/// a barrier starts and ends each pass, so the CPU read between two
/// barriers is one pass's.
pub fn run(endpoint: &str, calls: usize, setup: Setup) -> Result<(), String> {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    };
    // The seeding client's connections die with its runtime; the shared
    // client opens none until a worker thread uses it.
    let shared = runtime()?.block_on(async {
        seed(&client(endpoint, setup).await).await?;
        Ok::<_, String>(client(endpoint, setup).await)
    })?;
    let barrier = Arc::new(std::sync::Barrier::new(THREADS + 1));
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (shared, barrier, next) = (shared.clone(), Arc::clone(&barrier), Arc::clone(&next));
            let endpoint = endpoint.to_owned();
            let runtime = runtime();
            std::thread::spawn(move || {
                runtime?.block_on(async move {
                    let client = if setup.client_per_thread {
                        client(&endpoint, setup).await
                    } else {
                        shared
                    };
                    for operation in OPERATIONS {
                        for pass in 0..2 {
                            wait(&barrier).await?;
                            let tasks: Vec<_> = (0..IN_FLIGHT / THREADS)
                                .map(|_| {
                                    let (client, next) = (client.clone(), Arc::clone(&next));
                                    tokio::spawn(async move {
                                        loop {
                                            let i = next.fetch_add(1, Ordering::Relaxed);
                                            if i >= calls {
                                                return Ok::<(), String>(());
                                            }
                                            // A failed call ends the run: the
                                            // other threads would wait at the
                                            // barrier for ever.
                                            if let Err(error) =
                                                call(&client, operation, i + pass * calls).await
                                            {
                                                eprintln!("{operation} failed: {error}");
                                                std::process::exit(1);
                                            }
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.map_err(|e| e.to_string())??;
                            }
                            wait(&barrier).await?;
                        }
                    }
                    Ok::<(), String>(())
                })
            })
        })
        .collect();
    for operation in OPERATIONS {
        // A warm-up pass, then the measured one.
        for measured in [false, true] {
            next.store(0, Ordering::Relaxed);
            barrier.wait();
            let cpu_before = cpu_seconds();
            let started = Instant::now();
            barrier.wait();
            if measured {
                let cpu = cpu_seconds() - cpu_before;
                println!(
                    "{}",
                    serde_json::json!({
                        "operation": operation,
                        "setup": setup.label(),
                        "calls": calls,
                        "seconds": started.elapsed().as_secs_f64(),
                        "cpu_us_per_call": cpu / calls as f64 * 1e6,
                    })
                );
            }
        }
    }
    for thread in threads {
        thread.join().map_err(|_| "a floor thread panicked")??;
    }
    Ok(())
}

/// Waits at the barrier while this thread's runtime keeps running: with a
/// shared client, the other thread's calls may go out through a connection
/// this runtime drives.
async fn wait(barrier: &Arc<std::sync::Barrier>) -> Result<(), String> {
    let barrier = Arc::clone(barrier);
    tokio::task::spawn_blocking(move || {
        barrier.wait();
    })
    .await
    .map_err(|e| e.to_string())
}

async fn seed(client: &Client) -> Result<(), String> {
    for user in 0..100 {
        let seed = Put::builder()
            .table_name(TABLE)
            .set_item(Some(profile(user)))
            .build()
            .map_err(|e| e.to_string())?;
        let seeded_order = Put::builder()
            .table_name(TABLE)
            .set_item(Some(order(user, "seed")))
            .build()
            .map_err(|e| e.to_string())?;
        client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(seed).build())
            .transact_items(TransactWriteItem::builder().put(seeded_order).build())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}
