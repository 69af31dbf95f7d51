//! ecommerce-service: users and orders over HTTP, stored in a DynamoDB
//! single-table design, with an embedded engine for local use.
//!
//! Data flows one way: `http` parses requests into `domain` values and calls
//! the `store`, which writes the single-table model through an engine.
//! `migrate`, a one-off tool, sits beside `http` above the store.

// What the binary and the tests use is public; the rest is the crate's own,
// so the compiler reports what nothing uses.
pub mod admission;
pub(crate) mod auth;
pub(crate) mod aws;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod http;
pub mod migrate;
pub(crate) mod notify;
pub mod startup;
pub mod store;
pub mod telemetry;

pub use notify::Notifier;

/// An error and its causes on one line, for a message to an operator.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
