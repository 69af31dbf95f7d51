//! The HTTP edge: routes, extractors, error mapping and the API document.

pub(crate) mod admission;
mod auth;
pub(crate) mod client_gone;
mod error;
pub(crate) mod extract;
mod health;
pub(crate) mod limits;
pub mod openapi;
mod orders;
mod users;
mod views;

use actix_web::{HttpResponse, web};

use error::ApiError;

/// Mounts every route. A trailing slash is optional: each resource answers
/// on both spellings. `document` is the OpenAPI document to serve.
pub fn configure(config: &mut web::ServiceConfig, document: utoipa::openapi::OpenApi) {
    config
        .service(resource("/", "GET").route(web::get().to(health::root)))
        .service(resource("/health/live", "GET").route(web::get().to(health::live)))
        .service(resource("/health/ready", "GET").route(web::get().to(health::ready)))
        .configure(users::configure)
        .configure(orders::configure)
        .configure(|config| openapi::configure(config, document));
}

/// `allow` lists the resource's methods for the `Allow` header of its 405s
/// (RFC 9110); keep it in step with the routes added to the resource.
pub(crate) fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    let paths = if path == "/" {
        vec![path.to_owned()]
    } else {
        vec![path.to_owned(), format!("{path}/")]
    };
    web::resource(paths).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// Query strings that cannot be decoded are a 400 in the common error shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|error, _| ApiError::MalformedQuery(error.to_string()).into())
}

/// A path segment that does not decode (invalid UTF-8) is a 422 naming it.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _| {
        ApiError::Validation {
            field: "path".to_owned(),
            reason: error.to_string(),
        }
        .into()
    })
}
