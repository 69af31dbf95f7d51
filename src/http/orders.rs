//! The order routes of the original OrderService.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::allow;
use super::error::{ApiError, BodyErrors, ErrorBody, RouteErrors};
use super::extract::{JsonBody, created, field, idempotency_key, optional_field};
use super::resource;
use super::views::{
    Envelope, ListingEntry, OrderFetched, OrderView, OrdersListing, RecipientView, UserView,
};
use crate::auth::Caller;
use crate::domain::{NewOrder, OrderId, OrderStatus, PageToken, QueueToken, Username};
use crate::store::{ScopedKey, Store, StoreError};

const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"amount": 5.5, "numItems": 2, "username": "john"}))]
pub struct PlaceOrderRequest {
    /// Greater than 0 and at most 1,000,000, with at most 4 decimal places; kept exact.
    #[schema(value_type = f64, exclusive_minimum = 0, maximum = 1000000, multiple_of = 0.0001)]
    amount: Option<serde_json::Number>,
    /// A whole number from 1 to 10,000.
    #[serde(rename = "numItems")]
    #[schema(value_type = u32, minimum = 1, maximum = 10000)]
    num_items: Option<serde_json::Number>,
    /// A stored username: new names follow the registration rules; a name the
    /// replaced system stored may hold any other characters.
    #[schema(value_type = String, min_length = 1, max_length = 253)]
    username: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "john", "status": "CANCEL"}))]
pub struct UpdateOrderRequest {
    /// A stored username: new names follow the registration rules; a name the
    /// replaced system stored may hold any other characters.
    #[schema(value_type = String, min_length = 1, max_length = 253)]
    username: Option<String>,
    /// PLACED, PROCESSING, SHIPPED, DELIVERED or CANCEL. Allowed moves:
    /// PLACED→PROCESSING|SHIPPED|CANCEL, PROCESSING→SHIPPED|CANCEL, SHIPPED→DELIVERED.
    #[schema(value_type = OrderStatusName)]
    status: Option<String>,
}

/// The status names, as the document lists them; `OrderStatus::parse` is
/// what reads them.
#[derive(ToSchema)]
#[schema(as = OrderStatus)]
#[allow(dead_code, clippy::upper_case_acronyms)]
enum OrderStatusName {
    PLACED,
    PROCESSING,
    SHIPPED,
    DELIVERED,
    CANCEL,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    /// A customer's orders, after their profile, e.g. `john`. Give this or
    /// `status`. (No example value, so that Swagger UI's "Try it out" sends
    /// only the status example.)
    /// A stored username: new names follow the registration rules; a name the
    /// replaced system stored may hold any other characters.
    #[param(value_type = Option<String>, min_length = 1, max_length = 253)]
    username: Option<String>,
    /// The work queue: orders in this status across all customers, oldest
    /// in the status first (`fulfilment` and `admin` only). Give this or
    /// `username`.
    #[param(value_type = Option<OrderStatusName>, example = "PLACED")]
    status: Option<String>,
    /// Orders per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `nextToken` of the previous page (opaque; the pattern is only
    /// there so that generated clients and fuzzers know its shape).
    #[serde(rename = "nextToken")]
    #[param(value_type = Option<String>, rename = "nextToken", pattern = r"^[A-Za-z0-9_-]{4,6000}$")]
    next_token: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetOrderQuery {
    /// The owner's username; without it the order is found by id alone.
    /// A stored username: new names follow the registration rules; a name the
    /// replaced system stored may hold any other characters.
    #[param(value_type = Option<String>, example = "john", min_length = 1, max_length = 253)]
    customer_id: Option<String>,
}

/// The order routes; a trailing slash is optional on each.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/orders", "GET, POST")
                .route(web::get().to(list_orders))
                .route(web::post().to(place_order)),
        )
        .service(
            resource("/orders/{order_id}", "GET, PUT")
                .route(web::get().to(get_order))
                .route(web::put().to(update_order)),
        );
}

/// An id that is not an order id names no order.
fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    raw.parse().map_err(|_| ApiError::OrderNotFound)
}

/// Place an order for an existing user.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    request_body = PlaceOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,126}[!-~])?$", description = "1 to 128 printable characters. A retry with the same key and body within 24 hours gets the first answer (with `Idempotent-Replayed: true`) and places nothing; a different body under the key is a 422 IDEMPOTENCY_KEY_REUSED.")),
    security(("bearer" = [])),
    responses(
        RouteErrors, BodyErrors,
        (status = 201, description = "Order placed", body = Envelope<OrderView>, links(
            ("GetOrder" = (operation_id = "get_order", parameters(
                ("order_id" = "$response.body#/data/OrderId"),
                ("customer_id" = "$request.body#/username"),
            ))),
            ("UpdateOrder" = (operation_id = "update_order",
                parameters(("order_id" = "$response.body#/data/OrderId")),
                request_body = json!({"username": "$request.body#/username", "status": "PROCESSING"}),
            )),
            ("ListOrders" = (operation_id = "list_orders", parameters(("username" = "$request.body#/username")))),
        )),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid field, or IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
    )
)]
pub async fn place_order(
    request: HttpRequest,
    store: web::Data<Store>,
    caller: Caller,
    JsonBody(body): JsonBody<PlaceOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_order = NewOrder {
        amount: field(
            "amount",
            body.amount.as_ref().map(serde_json::Number::as_str),
        )?,
        items: field(
            "numItems",
            body.num_items.as_ref().map(serde_json::Number::as_str),
        )?,
        username: field("username", body.username)?,
    };
    let access = allow(caller.profile_access(&new_order.username))?;
    let key = idempotency_key(&request)?;
    let scoped = key.as_ref().map(|key| ScopedKey {
        caller: caller.idempotency_scope(),
        key,
    });
    let placement = store.place_order(new_order, &access, scoped).await?;
    Ok(created(placement.replayed).json(Envelope::new(
        "Order placed successfully",
        OrderView::from(placement.value),
    )))
}

/// List a user's orders, newest first, after the user's profile (for the
/// `fulfilment` group: only the username, name and address); or, with
/// `status`, the work queue: orders in that status across all customers,
/// oldest first, each with its customer's username.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(ListOrdersQuery),
    security(("bearer" = [])),
    responses(
        RouteErrors,
        (status = 200, description = "One page: the profile (first page only), then orders newest first; or, with `status`, queued orders oldest first", body = OrdersListing),
        (status = 400, description = "Malformed query or forged nextToken", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid or missing parameter", body = ErrorBody),
    )
)]
pub async fn list_orders(
    store: web::Data<Store>,
    caller: Caller,
    query: web::Query<ListOrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if let Some(status) = query.status {
        if query.username.is_some() {
            return Err(ApiError::Validation {
                field: "status".into(),
                reason: "cannot be combined with username".into(),
            });
        }
        let status: OrderStatus = field("status", Some(status))?;
        return list_queue(&store, &caller, status, query.limit, query.next_token).await;
    }
    let username: Username = field("username", query.username)?;
    let access = allow(caller.order_access(&username))?;
    let limit = page_size(query.limit)?;
    let after = query
        .next_token
        .map(|raw| PageToken::parse(&raw, &username).map_err(|_| ApiError::InvalidPageToken))
        .transpose()?
        .map(PageToken::last_order);
    let page = store.orders_page(&username, limit, after, &access).await?;
    // Fulfilment ships orders: it sees the name and address, not the rest.
    let customer = page.customer.map(|user| {
        if caller.sees_whole_profile(&user) {
            ListingEntry::Customer(UserView::from(user))
        } else {
            ListingEntry::Recipient(RecipientView::from(user))
        }
    });
    let orders = page
        .orders
        .into_iter()
        .map(|order| ListingEntry::Order(order.into()));
    Ok(HttpResponse::Ok().json(OrdersListing {
        message: "orders fetched successfully".into(),
        success: true,
        data: customer.into_iter().chain(orders).collect(),
        next_token: page.next.map(|id| PageToken::after(id).encode(&username)),
    }))
}

fn page_size(raw: Option<String>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE_SIZE).contains(limit))
            .ok_or_else(|| ApiError::Validation {
                field: "limit".into(),
                reason: format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
            }),
    }
}

/// One page of a status's work queue: staff only, every customer's orders.
async fn list_queue(
    store: &Store,
    caller: &Caller,
    status: OrderStatus,
    limit: Option<String>,
    next_token: Option<String>,
) -> Result<HttpResponse, ApiError> {
    if !caller.may_read_queues() {
        return Err(ApiError::Forbidden);
    }
    let limit = page_size(limit)?;
    let after = next_token
        .map(|raw| QueueToken::parse(&raw, status).map_err(|_| ApiError::InvalidPageToken))
        .transpose()?;
    let page = store.status_queue(status, limit, after).await?;
    Ok(HttpResponse::Ok().json(OrdersListing {
        message: "orders fetched successfully".into(),
        success: true,
        data: page
            .orders
            .into_iter()
            .map(|order| ListingEntry::Order(OrderView::queued(order)))
            .collect(),
        next_token: page.next.map(|token| token.encode()),
    }))
}

/// Fetch one order.
#[utoipa::path(
    get, path = "/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path, example = "01K9Z8Y7X6W5V4T3S2R1Q0P9N8"), GetOrderQuery),
    security(("bearer" = [])),
    responses(
        RouteErrors,
        (status = 200, description = "The order", body = OrderFetched),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 404, description = "Order not found", body = ErrorBody),
        (status = 422, description = "Invalid customer_id", body = ErrorBody),
    )
)]
pub async fn get_order(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<GetOrderQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner: Option<Username> = optional_field("customer_id", query.into_inner().customer_id)?;
    let id = order_id(&path)?;
    let order = match &owner {
        Some(owner) => {
            let access = allow(caller.order_access(owner))?;
            let order = store.order(id, Some(owner), access.account()).await?;
            store.check_order_access(&order, &access).await?;
            order
        }
        // Found by id alone: someone else's order is reported as not found,
        // so order ids cannot be probed.
        None => {
            let viewer = caller.customer_account();
            let order = match store.order(id, None, viewer).await {
                Err(StoreError::Forbidden) => return Err(ApiError::OrderNotFound),
                found => found?,
            };
            let access = caller
                .order_access(&order.owner)
                .ok_or(ApiError::OrderNotFound)?;
            // Whatever the reason, an order that is not the caller's is
            // simply not there: the answer must not tell it exists.
            match store.check_order_access(&order, &access).await {
                Err(StoreError::Forbidden | StoreError::UserNotFound) => {
                    return Err(ApiError::OrderNotFound);
                }
                checked => checked?,
            }
            order
        }
    };
    Ok(HttpResponse::Ok().json(OrderFetched {
        message: "Order fetched successfully".into(),
        success: true,
        data: order.into(),
        status: 200,
    }))
}

/// Move an order to a new status. A move to the status the order has
/// already answers 200 with the order unchanged, so a retried move succeeds.
#[utoipa::path(
    put, path = "/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path, example = "01K9Z8Y7X6W5V4T3S2R1Q0P9N8")),
    request_body = UpdateOrderRequest,
    security(("bearer" = [])),
    responses(
        RouteErrors, BodyErrors,
        (status = 200, description = "The updated order", body = Envelope<OrderView>),
        (status = 404, description = "Order not found", body = ErrorBody),
        (status = 409, description = "The move is not allowed from the current status (a move to the current status is a 200)", body = ErrorBody),
        (status = 422, description = "Invalid field or unknown status", body = ErrorBody),
    )
)]
pub async fn update_order(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<UpdateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let owner: Username = field("username", body.username)?;
    let status: OrderStatus = field("status", body.status)?;
    let access = allow(caller.move_access(&owner, status))?;
    let id = order_id(&path)?;
    let order = store.move_order(&owner, id, status, &access).await?;
    Ok(HttpResponse::Ok().json(Envelope::new(
        "Order updated successfully",
        OrderView::from(order),
    )))
}
