//! ecommerce-service: users and orders over HTTP, stored in a DynamoDB
//! single-table design, with an embedded engine for local use.
//!
//! Data flows one way: `http` parses requests into `domain` values and calls
//! the `store`, which writes the single-table model through an engine.

pub mod auth;
pub mod aws;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod http;
pub mod notify;
pub mod startup;
pub mod store;
pub mod telemetry;
