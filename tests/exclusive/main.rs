//! Tests that time themselves against a budget (dependency faults, bounded
//! retries) or load the machine (thousands of orders): each holds the
//! `alone()` lock for its whole run, so they run one at a time whatever
//! `--test-threads` says, and cargo runs this binary after the main suite
//! (tests/api), never beside it.

// The black-box harness every test binary shares (tests/support).
pub use ecommerce_test_support as helpers;

mod budget;
mod faults;
mod load;
mod throttling;

/// Held for a test's whole run: no two tests of this binary overlap. An
/// async lock (each test has a runtime of its own), which a test that
/// panics releases as it unwinds.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ALONE.lock().await
}
