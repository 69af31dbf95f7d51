//! Liveness, readiness and the service root.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::views::Envelope;
use crate::store::Store;

#[derive(Serialize, ToSchema)]
pub struct ServiceInfo {
    #[schema(example = "ecommerce-service")]
    service: &'static str,
    #[schema(example = "0.1.0")]
    version: &'static str,
    #[schema(example = "/swagger-ui/")]
    docs: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    status: &'static str,
}

/// What this service is and where its documentation lives.
#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "Service information", body = Envelope<ServiceInfo>)))]
pub async fn root() -> HttpResponse {
    HttpResponse::Ok().json(Envelope::new(
        "ecommerce-service is running",
        ServiceInfo {
            service: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            docs: "/swagger-ui/",
        },
    ))
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = HealthStatus)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// The storage engine answers, and the table has what the service needs
/// (its indexes ACTIVE, its stream, TTL, a granted key: `preflight`). For
/// people and dashboards: the load balancer and ECS check `/health/live`,
/// so a DynamoDB brownout does not make every task look dead at once.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthStatus),
        (status = 503, description = "SERVICE_UNAVAILABLE: the storage engine does not answer; TABLE_NOT_READY: the table lacks what the service needs (details.problems)", body = ErrorBody),
    ))]
pub async fn ready(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    store.ready().await?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" }))
}
