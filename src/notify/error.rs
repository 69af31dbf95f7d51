//! The notification consumer's errors: why one event was not published (per
//! destination, with the service's code, and whether a retry later can help),
//! and why a source's pass failed, each keeping its cause.

// Every AWS SDK crate re-exports the same smithy error types.
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::event::EventError;
use super::record::DecodeError;
use crate::store::StoreError;
use crate::store::engine::EngineError;

/// Where an event was to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Sns,
    EventBridge,
    Log,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Destination::Sns => "SNS",
            Destination::EventBridge => "EventBridge",
            Destination::Log => "the log",
        })
    }
}

/// Why one event was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{destination} did not take the event: {code}: {message}")]
pub struct PublishFailure {
    pub destination: Destination,
    /// The service's error code, or what kind of failure it was (`Timeout`,
    /// `Dispatch` for a network error).
    pub code: String,
    pub message: String,
    /// Throttling, a server-side fault, a timeout or a network error: the
    /// same request may succeed later. Anything else (no such topic, access
    /// denied, an invalid request) will not.
    pub transient: bool,
}

/// Error codes that mean "later" rather than "never" (SNS, EventBridge and
/// the KMS key behind an encrypted topic).
const TRANSIENT_CODES: [&str; 11] = [
    "Throttled",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "InternalError",
    "InternalFailure",
    "InternalException",
    "ServiceUnavailable",
    "KMSThrottling",
    "KMSThrottlingException",
];

impl PublishFailure {
    /// A whole call failed.
    pub fn of_call<E, R>(destination: Destination, error: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let (code, transient) = match error {
            SdkError::TimeoutError(_) => ("Timeout".to_owned(), true),
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                ("Dispatch".to_owned(), true)
            }
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("Unknown").to_owned();
                let transient = is_transient_code(&code);
                (code, transient)
            }
            _ => ("Request".to_owned(), false),
        };
        Self {
            destination,
            code,
            message: DisplayErrorContext(error).to_string(),
            transient,
        }
    }

    /// One entry of a batch call was refused.
    pub fn of_entry(destination: Destination, code: &str, message: &str) -> Self {
        Self {
            destination,
            code: code.to_owned(),
            message: message.to_owned(),
            transient: is_transient_code(code),
        }
    }
}

pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Why a source's pass did not complete.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{failed} of {total} events were not published")]
    Publish {
        failed: usize,
        total: usize,
        #[source]
        first: PublishFailure,
    },
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the embedded engine failed")]
    Engine(#[from] EngineError),
    #[error("{operation} failed")]
    Aws {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the table {0} has no stream")]
    NoStream(String),
    #[error("a change record is unreadable")]
    Decode(#[from] DecodeError),
    #[error("an order change is unreadable")]
    Event(#[from] EventError),
}

impl NotifyError {
    pub fn aws(
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        NotifyError::Aws {
            operation,
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_faults_are_transient_the_rest_permanent() {
        for code in [
            "Throttled",
            "ThrottlingException",
            "InternalError",
            "KMSThrottling",
        ] {
            assert!(
                PublishFailure::of_entry(Destination::Sns, code, "").transient,
                "{code}"
            );
        }
        for code in [
            "NotFound",
            "AuthorizationError",
            "InvalidParameter",
            "KMSDisabled",
            "AccessDeniedException",
        ] {
            assert!(
                !PublishFailure::of_entry(Destination::Sns, code, "").transient,
                "{code}"
            );
        }
    }
}
