//! Builds the application: the engine, the store and the HTTP server bound to
//! its listener. `main` and the tests start the very same thing.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::admission::Admission;
use crate::auth::Authenticator;
use crate::config::{Settings, SourceSettings, StoreSettings};
use crate::http;
use crate::store::Store;
use crate::store::dynamodb::DynamoDbEngine;
use crate::store::embedded::{ChangeFeed, EmbeddedEngine};
use crate::store::engine::Engine;
use crate::telemetry::RequestSpan;

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        // The embedded feed is written only if its consumer reads it.
        let feed = match settings.notifications.source {
            SourceSettings::Embedded => ChangeFeed::On,
            _ => ChangeFeed::Off,
        };
        let engine = open_engine(&settings.store, feed).await?;
        let authenticator = web::Data::new(Authenticator::build(&settings.auth).await?);
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let store = store_on(engine, &settings.store);
        store.check_table_for_serving().await;
        let shared = web::Data::new(store.clone());
        let client_timeout = settings.client_timeout;
        let document = http::openapi::served_document(&settings.auth);
        let admission = Admission::start(&settings.overload);
        let gates = web::Data::new(admission.clone());
        let server = HttpServer::new(move || {
            let mut app = App::new();
            // Each worker's own line, probed on its thread (`admission::queue`).
            if let Some(queue) = admission.worker_queue() {
                app = app.app_data(queue);
            }
            app.app_data(shared.clone())
                .app_data(gates.clone())
                .app_data(authenticator.clone())
                .app_data(web::Data::new(http::extract::BodyTimeout(client_timeout)))
                .app_data(http::query_config())
                .app_data(http::path_config())
                .configure(|config| http::configure(config, document.clone()))
                .default_service(web::to(http::route_not_found))
                .wrap(from_fn(http::limits::storage_budget))
                .wrap(from_fn(http::admission::admit))
                .wrap(from_fn(http::limits::header_size))
                .wrap(from_fn(crate::telemetry::request_id::echo))
                .wrap(TracingLogger::<RequestSpan>::new())
        })
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        // A client that trickles its request head or body cannot hold a
        // connection for longer than this (the body's limit is in JsonBody).
        .client_request_timeout(client_timeout)
        // Longer than the ALB's 60 s idle timeout, so the balancer, not the
        // service, closes idle connections and never reuses a closing one.
        .keep_alive(Duration::from_secs(75))
        // A client that closes its side has gone (`http::client_gone`).
        .on_connect(http::client_gone::on_connect)
        // main decides when to stop, so the consumer stops with the server.
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The number of requests sent to DynamoDB so far, when that is the engine.
    pub fn dynamodb_requests(&self) -> Option<Arc<AtomicU64>> {
        self.store.dynamodb_request_count()
    }

    /// Serves until stopped through `handle()`, then lets requests in flight
    /// finish within the shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The store alone, for a maintenance command: no server, no change feed
/// (what a command changes is no news for subscribers).
pub async fn open_store(settings: &StoreSettings) -> anyhow::Result<Store> {
    Ok(store_on(
        open_engine(settings, ChangeFeed::Off).await?,
        settings,
    ))
}

fn store_on(engine: Engine, settings: &StoreSettings) -> Store {
    let store = Store::new(engine);
    match settings {
        StoreSettings::Embedded { .. } => store,
        StoreSettings::DynamoDb { queue_settle, .. } => store.with_queue_settle(*queue_settle),
    }
}

async fn open_engine(settings: &StoreSettings, feed: ChangeFeed) -> anyhow::Result<Engine> {
    match settings {
        StoreSettings::Embedded { data_dir } => {
            Ok(Engine::Embedded(EmbeddedEngine::open(data_dir, feed)?))
        }
        StoreSettings::DynamoDb {
            table_name,
            create_table,
            timeouts,
            table_key_arn,
            ..
        } => Ok(Engine::DynamoDb(
            DynamoDbEngine::connect(table_name, *create_table, *timeouts, table_key_arn.clone())
                .await?,
        )),
    }
}
