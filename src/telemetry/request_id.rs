//! The request id: the caller's `x-request-id` when it sent a sensible one,
//! otherwise the id the tracing middleware generated. It is logged with
//! every line of the request and echoed on the response.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

pub fn resolve(request: &ServiceRequest) -> String {
    let incoming = request
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            (1..=MAX_LEN).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
        });
    match incoming {
        Some(id) => id.to_owned(),
        None => request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

/// Middleware: echoes the request id on every response, errors included.
pub async fn echo(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = resolve(&request);
    let mut response = next.call(request).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}
