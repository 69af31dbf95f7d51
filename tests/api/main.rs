//! The black-box suite: one binary, so it links once.

mod auth;
mod concurrency;
mod deletion;
mod deployment;
mod dynamodb_requests;
mod errors;
mod faults;
pub mod helpers;
mod hostile;
mod idempotency;
mod identity;
mod load;
mod notifications;
mod openapi;
mod orders;
mod process;
mod roles;
mod throttling;
mod users;
