//! A DynamoDB client for each thread that calls DynamoDB.
//!
//! hyper runs a pooled connection's I/O on the runtime that opened it, and
//! actix-web runs a single-threaded runtime per worker. With one client (one
//! pool) shared by the workers, a worker's call often went out through a
//! connection another worker's runtime owns: a cross-thread hand-off each
//! way, and, in the floor benchmark, about a fifth of the SDK's CPU per call
//! (BENCHMARKS.md, "The production engine's cost"). It also ties calls to a
//! runtime that may be gone ("runtime dropped the dispatch task"). So each
//! thread gets its own client, with its own HTTP client and pool, built once
//! from the same configuration.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::{Client, Config};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

pub struct Clients {
    config: Config,
    /// Tells this engine's clients apart from another engine's (tests run
    /// many engines in one process).
    id: u64,
}

thread_local! {
    static BY_ENGINE: RefCell<Vec<(u64, Client)>> = const { RefCell::new(Vec::new()) };
}

impl Clients {
    pub fn new(config: Config) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            config,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// This thread's client (a cheap handle; the first call on a thread builds it).
    pub fn get(&self) -> Client {
        BY_ENGINE.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, client)) = clients.iter().find(|(id, _)| *id == self.id) {
                return client.clone();
            }
            // The SDK's default HTTPS client: rustls with aws-lc.
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https();
            let client = Client::from_conf(self.config.to_builder().http_client(http).build());
            clients.push((self.id, client.clone()));
            client
        })
    }
}
