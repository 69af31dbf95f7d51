//! The shared AWS SDK configuration: the standard chain (region,
//! credentials, `AWS_ENDPOINT_URL[_<SERVICE>]`) with explicit, bounded
//! timeouts and retries, so an unreachable dependency fails fast.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(call_timeouts(
            Duration::from_secs(3),
            Duration::from_secs(8),
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// At most `attempt` per HTTP attempt (connecting within 1 s, or within the
/// attempt if that is shorter) and `call` for the whole call with retries.
pub fn call_timeouts(attempt: Duration, call: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(1)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(call)
        .build()
}

/// Long polls wait up to 20 s for messages: their attempts need more room.
pub fn long_poll_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(65))
        .build()
}
