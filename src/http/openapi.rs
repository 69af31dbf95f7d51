//! The OpenAPI document and Swagger UI, served offline.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{health, orders, users};
use crate::config::AuthSettings;

pub const SPEC_PATH: &str = "/api-docs/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecommerce-service",
        description = "Users and their orders on a DynamoDB single-table design. \
            Every error is `{\"message\",\"success\":false,\"status\",\"error\":{\"code\",\"details\"?}}` \
            with a stable code. A trailing slash is optional on every route. \
            With AUTH_MODE=jwt every users and orders route needs `Authorization: Bearer <JWT>` \
            (a Cognito ID or access token); users act only on their own data, the `fulfilment` \
            group moves orders, `admin` may act on any user.",
        license(name = "MIT"),
    ),
    paths(
        users::add_user, users::get_user, users::edit_address, users::delete_user,
        users::bind_account,
        orders::place_order, orders::list_orders, orders::get_order, orders::update_order,
        health::root, health::live, health::ready,
    ),
    // Not an HTTP body: what subscribers of the order topic and bus receive.
    components(schemas(crate::notify::event::Payload)),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Customer profiles"),
        (name = "orders", description = "Orders and their status"),
        (name = "health", description = "Probes for load balancers and orchestrators"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the protected operations name, so Swagger
/// UI's "Authorize" button takes a token.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document this instance serves. With AUTH_MODE=off nothing asks for a
/// token, so it declares no security: a client or fuzzer reading it would
/// otherwise expect 401s that never come.
pub fn served_document(auth: &AuthSettings) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    if *auth == AuthSettings::Off {
        for item in document.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation.security = None;
            }
        }
        if let Some(components) = document.components.as_mut() {
            components.security_schemes.clear();
        }
    }
    document
}

/// The document as committed in `openapi/openapi.json`: the production one,
/// with bearer security.
pub fn spec_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}

pub fn swagger_ui(document: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new("/swagger-ui/{_:.*}")
        .url(SPEC_PATH, document)
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

pub fn configure(config: &mut web::ServiceConfig, document: utoipa::openapi::OpenApi) {
    config
        .route("/swagger-ui", web::get().to(swagger_redirect))
        .service(swagger_ui(document));
}
