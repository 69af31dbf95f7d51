//! Request-head limits beyond actix's own (a 128 KiB head): a request whose
//! headers add up to more than [`MAX_HEADER_BYTES`] is refused with 431
//! before any handler runs. And one DynamoDB time budget per request.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::error::ApiError;

/// Generous for tokens and tracing headers; far below what would let one
/// request pin memory.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub async fn header_size(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let total: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if total > MAX_HEADER_BYTES {
        let error = ApiError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        };
        return Ok(request.error_response(error).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// Every storage call of one request shares one DynamoDB time budget
/// (`store::budget`), counted from its arrival: the request answers within
/// it, whatever it does. And a request whose client went away stops before
/// its next write.
pub async fn storage_budget(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let client = super::client_gone::probe(&request);
    crate::store::budget::per_request(client, next.call(request)).await
}
