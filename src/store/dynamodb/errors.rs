//! What DynamoDB's errors mean to the engine: a transaction's per-item
//! cancellation reasons, a single item's failed condition, and which
//! failures are worth a retry later (503) rather than a fault of ours (500).

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use super::expression::{AttributeMap, from_attributes};
use crate::store::engine::{ConditionFailed, EngineError, Failure};

pub(super) enum Cancellation {
    Conditions(ConditionFailed),
    Conflict,
    InProgress,
    Other,
}

/// Reads DynamoDB's per-item cancellation reasons (in request order).
pub(super) fn cancellation(
    error: &SdkError<TransactWriteItemsError, HttpResponse>,
) -> Cancellation {
    let cancelled = match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled,
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
            return Cancellation::InProgress;
        }
        _ => return Cancellation::Other,
    };
    let reasons = cancelled.cancellation_reasons();
    if reasons
        .iter()
        .any(|r| r.code() == Some("ConditionalCheckFailed"))
    {
        let failures = reasons
            .iter()
            .map(|reason| {
                (reason.code() == Some("ConditionalCheckFailed")).then(|| Failure {
                    current: reason
                        .item()
                        .cloned()
                        .and_then(|item| from_attributes(item).ok()),
                })
            })
            .collect();
        return Cancellation::Conditions(ConditionFailed { failures });
    }
    // A conflicting transaction, or a throttled item within this one.
    const RETRYABLE: [&str; 3] = [
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    ];
    if reasons
        .iter()
        .any(|r| r.code().is_some_and(|code| RETRYABLE.contains(&code)))
    {
        Cancellation::Conflict
    } else {
        Cancellation::Other
    }
}

pub(super) fn single_failure(current: Option<AttributeMap>) -> EngineError {
    let current = current.and_then(|item| from_attributes(item).ok());
    EngineError::ConditionFailed(ConditionFailed {
        failures: vec![Some(Failure { current })],
    })
}

/// Throttling, timeouts, unreachable endpoints and server faults are worth a
/// retry later (503); anything else is a fault of ours (500).
pub(super) fn classify<E>(error: SdkError<E, HttpResponse>) -> EngineError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    const THROTTLING_CODES: [&str; 5] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        // A transaction that may still commit: the client retries later.
        "TransactionInProgressException",
    ];
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service
                    .err()
                    .code()
                    .is_some_and(|code| THROTTLING_CODES.contains(&code))
        }
        _ => false,
    };
    let error = anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&error));
    if retryable {
        EngineError::Unavailable(error)
    } else {
        EngineError::Internal(error)
    }
}

pub(super) fn internal(error: impl Into<anyhow::Error>) -> EngineError {
    EngineError::Internal(error.into())
}
