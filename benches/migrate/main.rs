//! A tool of the benchmarks, not of the service: `bench-migrate <engine>
//! <orders>` writes `orders` orders in the original system's shapes (100
//! per customer, every tenth customer's name in mixed case, so its profile
//! and orders move), runs `migrate` over them unpaced, and prints one JSON
//! line: items per second, and on DynamoDB the requests it took per
//! migrated item. `engine` is `embedded` (a fresh temporary directory) or
//! `dynamodb` (a fresh table behind AWS_ENDPOINT_URL_DYNAMODB).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ecommerce_service::config::{
    AuthSettings, DynamoDbTimeouts, LogFormat, NotificationSettings, OverloadSettings, Settings,
    StoreSettings,
};
use ecommerce_service::migrate::{Kind, MigrateOptions, MigrationProgress};
use ecommerce_service::startup::Application;
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ORDERS_PER_CUSTOMER: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (engine, orders) = match args.as_slice() {
        [engine, orders] => (engine.clone(), orders.parse::<usize>()?),
        _ => return Err("usage: bench-migrate <embedded|dynamodb> <orders>".into()),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(&engine, orders))
}

async fn run(engine: &str, orders: usize) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = tempfile::TempDir::new()?;
    let store = match engine {
        "embedded" => StoreSettings::Embedded {
            data_dir: data_dir.path().to_owned(),
        },
        "dynamodb" => StoreSettings::DynamoDb {
            table_name: format!("bench-migrate-{}", ulid::Ulid::generate()),
            create_table: true,
            timeouts: DynamoDbTimeouts {
                attempt: Duration::from_secs(20),
                call: Duration::from_secs(60),
            },
            queue_settle: Duration::ZERO,
            table_key_arn: None,
        },
        other => return Err(format!("unknown engine {other}").into()),
    };
    let settings = Settings {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        store,
        log_format: LogFormat::Json,
        metrics_interval: None,
        trace_caller_sampled_per_second: 0,
        shutdown_timeout: Duration::from_secs(1),
        client_timeout: Duration::from_secs(2),
        notifications: NotificationSettings::off(),
        auth: AuthSettings::Off,
        overload: OverloadSettings::off(),
    };
    let app = Application::build(&settings).await?;
    let store = app.store().clone();
    let requests = app.dynamodb_requests();
    let items = legacy_items(orders);
    store.put_raw_items(&items).await?;

    let options = MigrateOptions {
        dry_run: false,
        delete_orphans: false,
        max_writes_per_second: None,
        segments: 1,
    };
    let before = requests.as_ref().map(|r| r.load(Ordering::SeqCst));
    let started = Instant::now();
    let summary =
        ecommerce_service::migrate::run(&store, options, Arc::new(MigrationProgress::default()))
            .await?;
    let seconds = started.elapsed().as_secs_f64();
    let sent = requests
        .as_ref()
        .zip(before)
        .map(|(r, before)| r.load(Ordering::SeqCst) - before);
    let migrated = summary.counts.get(Kind::OrdersNormalized)
        + summary.counts.get(Kind::OrdersMoved)
        + summary.counts.get(Kind::UsersNormalized)
        + summary.counts.get(Kind::UsersMoved)
        + summary.counts.get(Kind::ReservationsLinked)
        + summary.counts.get(Kind::ReservationsMoved);
    println!(
        "{}",
        json!({
            "engine": engine,
            "legacy_items": items.len(),
            "orders": orders,
            "seconds": (seconds * 100.0).round() / 100.0,
            "items_per_second": (items.len() as f64 / seconds).round(),
            "items_migrated": migrated,
            "dynamodb_requests": sent,
            "requests_per_migrated_item": sent.map(|n| (n as f64 / migrated as f64 * 100.0).round() / 100.0),
            "counts": summary.counts,
        })
    );
    Ok(())
}

fn s(value: &str) -> Value {
    json!({ "S": value })
}

/// The original system's items: per customer a profile (no `CreatedAt`,
/// address in `address`), an unlinked reservation, and 100 KSUID orders
/// with naive timestamps.
fn legacy_items(orders: usize) -> Vec<Value> {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let customers = orders.div_ceil(ORDERS_PER_CUSTOMER);
    let mut items = Vec::with_capacity(orders + 2 * customers);
    for c in 0..customers {
        let name = if c % 10 == 0 {
            format!("Customer{c}")
        } else {
            format!("customer{c}")
        };
        let pk = format!("CUSTOMER#{name}");
        let email = format!("{name}@example.com");
        items.push(json!({
            "PK": s(&pk), "SK": s(&pk), "Username": s(&name), "Name": s("a customer"),
            "Email": s(&email), "address": s("1 Queen St Akl NZ"),
        }));
        let reservation = format!("CUSTOMEREMAIL#{email}");
        items.push(json!({ "PK": s(&reservation), "SK": s(&reservation) }));
        for o in 0..ORDERS_PER_CUSTOMER.min(orders - c * ORDERS_PER_CUSTOMER) {
            let n = c * ORDERS_PER_CUSTOMER + o;
            let mut id = *b"2UJT4m2UkBAWG7DHDLfk0000000";
            let mut rest = n;
            for slot in id.iter_mut().rev().take(7) {
                *slot = BASE62[rest % 62];
                rest /= 62;
            }
            let id = String::from_utf8_lossy(&id).into_owned();
            items.push(json!({
                "PK": s(&pk), "SK": s(&format!("#ORDER#{id}")), "OrderId": s(&id),
                "Status": s("PLACED"), "Amount": {"N": "19.99"}, "NumberItems": {"N": "2"},
                "CreatedAt": s(&format!("2023-08-21T22:{:02}:{:02}.811747", (n / 60) % 60, n % 60)),
            }));
        }
    }
    items
}
