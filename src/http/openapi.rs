//! The OpenAPI document and Swagger UI, served offline.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{health, orders, users};

pub const SPEC_PATH: &str = "/api-docs/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecommerce-service",
        description = "Users and their orders on a DynamoDB single-table design. \
            Every error is `{\"message\",\"success\":false,\"status\",\"error\":{\"code\",\"details\"?}}` \
            with a stable code. A trailing slash is optional on every route.",
        license(name = "MIT"),
    ),
    paths(
        users::add_user, users::get_user, users::edit_address, users::delete_user,
        orders::place_order, orders::list_orders, orders::get_order, orders::update_order,
        health::root, health::live, health::ready,
    ),
    tags(
        (name = "users", description = "Customer profiles"),
        (name = "orders", description = "Orders and their status"),
        (name = "health", description = "Probes for load balancers and orchestrators"),
    )
)]
pub struct ApiDoc;

/// The document as committed in `openapi/openapi.json`.
pub fn spec_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}

pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/swagger-ui/{_:.*}")
        .url(SPEC_PATH, ApiDoc::openapi())
        // The public validator badge would call a host on the internet.
        // "Try it out" stays a deliberate click, as in FastAPI's /docs.
        .config(
            Config::new([SPEC_PATH])
                .validator_url("none")
                .try_it_out_enabled(false),
        )
}

pub async fn swagger_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/swagger-ui/"))
        .finish()
}

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/swagger-ui", web::get().to(swagger_redirect))
        .service(swagger_ui());
}
