//! The black-box suite: one binary, so it links once. Tests that time
//! themselves or load the machine are in tests/exclusive, run one at a time.

mod auth;
mod concurrency;
mod decided_before_written;
mod deletion;
mod deployment;
mod docs;
mod dynamodb_requests;
mod errors;
pub use ecommerce_test_support as helpers;
pub use ecommerce_test_support::on_both_engines;
mod hostile;
mod idempotency;
mod identity;
mod legacy;
mod notifications;
mod openapi;
mod orders;
mod overload;
mod preflight;
mod process;
mod queue;
mod roles;
mod runbook;
mod users;
