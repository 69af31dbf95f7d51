//! The admission gates (`crate::admission`) at the edge, cheapest first:
//! the worker's line, the caller's bucket, the limit on requests in flight.
//! A refusal is answered on the spot, before any body is read or storage
//! touched. The health routes pass no gate: a task that sheds load answers
//! its health checks, so it is never taken for a dead one and replaced
//! while the fleet is short of capacity.

use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::error::{ApiError, rate_limit_fields};
use crate::admission::{Admission, CallerKey, Outcome, Tier, Verdict, WorkerQueue};
use crate::auth::{Authenticator, Caller};
use crate::telemetry::Refused;

pub async fn admit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if is_health_check(request.path()) {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    if let Some(queue) = request.app_data::<Rc<WorkerQueue>>()
        && !queue.admit()
    {
        return Ok(refuse(request, overloaded(QUEUE_RETRY_AFTER)));
    }
    let Some(admission) = request.app_data::<web::Data<Admission>>().cloned() else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let verdict = match &admission.callers {
        Some(callers) => {
            let (key, tier) = caller_key(&request).await;
            let verdict = callers.check(key, tier);
            if !verdict.admitted {
                return Ok(refuse(request, ApiError::RateLimited(verdict)));
            }
            Some(verdict)
        }
        None => None,
    };
    let permit = match &admission.concurrency {
        Some(limit) => match limit.try_acquire() {
            Some(permit) => Some(permit),
            None => return Ok(refuse(request, overloaded(IN_FLIGHT_RETRY_AFTER))),
        },
        None => None,
    };
    let answered = next.call(request).await;
    if let Some(permit) = permit {
        // A dependency that failed or timed out, not a 503 the service
        // chose (an index still being built says nothing about load).
        let failed = |error: &actix_web::Error| {
            matches!(error.as_error::<ApiError>(), Some(ApiError::Unavailable(_)))
        };
        let unavailable = match &answered {
            Ok(response) => response.response().error().is_some_and(failed),
            Err(error) => failed(error),
        };
        permit.finish(if unavailable {
            Outcome::Dropped
        } else {
            Outcome::Answered
        });
    }
    let mut response = answered?;
    if let Some(verdict) = verdict {
        add_rate_limit_fields(response.headers_mut(), &verdict);
    }
    Ok(response.map_into_left_body())
}

/// Refused by a worker's line: told to come back in 1 to 10 seconds, drawn
/// at random. Clients sent away in one busy moment must not return as the
/// next wave: with a fixed second (and with 1 to 3) benches/overload.py's
/// clients came back together, the line re-formed, and the service sat
/// idle between waves; with 1 to 10 the flood's p99 stayed under 100 ms.
const QUEUE_RETRY_AFTER: u64 = 10;
/// Refused at the limit on requests in flight: a slow dependency, whose
/// recovery the limit follows within a second or two, so 1 to 3 seconds.
const IN_FLIGHT_RETRY_AFTER: u64 = 3;

fn overloaded(most: u64) -> ApiError {
    ApiError::Overloaded {
        retry_after: 1 + fastrand::u64(..most),
    }
}

/// `/health/live` and `/health/ready`, with or without the trailing slash.
fn is_health_check(path: &str) -> bool {
    matches!(path.trim_end_matches('/'), "/health/live" | "/health/ready")
}

fn refuse<B>(request: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    let mut response = request.error_response(error);
    // Refusing is the service working as meant, not failing: no error line
    // per refused request (the admission monitor logs each episode).
    response.response_mut().extensions_mut().insert(Refused);
    response.map_into_right_body()
}

/// Whose bucket a request draws from: its token's account, with staff's
/// larger bucket for the admin and fulfilment groups; else (no tokens, or a
/// token that is refused) its client address. The caller is kept for the
/// handler, so a token is verified once.
async fn caller_key(request: &ServiceRequest) -> (CallerKey, Tier) {
    let by_address = || {
        let address = request
            .peer_addr()
            .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |peer| peer.ip());
        (CallerKey::Address(address), Tier::Customer)
    };
    let Some(authenticator) = request.app_data::<web::Data<Authenticator>>() else {
        return by_address();
    };
    let authorization = request.headers().get(header::AUTHORIZATION);
    match authenticator
        .caller(authorization.map(|value| value.as_bytes()))
        .await
    {
        Ok(Caller::Authenticated(principal)) => {
            let tier = if principal.groups.admin || principal.groups.fulfilment {
                Tier::Staff
            } else {
                Tier::Customer
            };
            let key = CallerKey::Account(principal.account.as_str().to_owned());
            request
                .extensions_mut()
                .insert(Caller::Authenticated(principal));
            (key, tier)
        }
        Ok(Caller::Unauthenticated) | Err(_) => by_address(),
    }
}

fn add_rate_limit_fields(headers: &mut header::HeaderMap, verdict: &Verdict) {
    for (name, value) in rate_limit_fields(verdict) {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            headers.insert(header::HeaderName::from_static(name), value);
        }
    }
}
