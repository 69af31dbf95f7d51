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
use actix_web::http::{StatusCode, header};
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
        return Ok(refuse(request, ApiError::Overloaded));
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
            None => return Ok(refuse(request, ApiError::Overloaded)),
        },
        None => None,
    };
    let answered = next.call(request).await;
    if let Some(permit) = permit {
        let unavailable = match &answered {
            Ok(response) => response.status() == StatusCode::SERVICE_UNAVAILABLE,
            Err(error) => {
                error.as_response_error().status_code() == StatusCode::SERVICE_UNAVAILABLE
            }
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
