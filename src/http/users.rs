//! The user routes of the original UserService.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::allow;
use super::error::{ApiError, BodyErrors, ErrorBody, RouteErrors};
use super::extract::{JsonBody, created, field, idempotency_key};
use super::resource;
use super::views::{DeletedUser, Envelope, UserView};
use crate::auth::Caller;
use crate::domain::{AccountId, Address, NewUser, NewUsername, Username};
use crate::store::{ScopedKey, Store};

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "john@example.com", "name": "john smith", "username": "john"}))]
pub struct AddUserRequest {
    /// At most 254 characters; unique regardless of letter case.
    #[schema(value_type = String, max_length = 254, pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    email: Option<String>,
    /// 1 to 100 characters, not all whitespace, no control characters; stored trimmed.
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<String>,
    /// 2 to 64 characters of `A-Z a-z 0-9 . _ -`, not `..` (a path's parent
    /// segment, which no URL can name); unique regardless of letter case.
    #[schema(value_type = String, pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{1,63}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\.\.[A-Za-z0-9._-]{1,62})$")]
    username: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EditAddressQuery {
    /// A stored username: new names follow the registration rules; a name the
    /// replaced system stored may hold any other characters.
    #[param(value_type = String, example = "john", min_length = 1, max_length = 253)]
    username: Option<String>,
    /// 1 to 300 characters, not all whitespace, no control characters; stored trimmed.
    #[param(value_type = String, example = "124 Street Akl NZ", min_length = 1, max_length = 300, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    new_address: Option<String>,
}

/// The user routes; a trailing slash is optional on each.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(resource("/add_user", "POST").route(web::post().to(add_user)))
        .service(resource("/add-user", "POST").route(web::post().to(add_user)))
        .service(resource("/edit-address", "POST").route(web::post().to(edit_address)))
        .service(
            resource("/users/{username}", "GET, DELETE")
                .route(web::get().to(get_user))
                .route(web::delete().to(delete_user)),
        )
        .service(resource("/users/{username}/account", "PUT").route(web::put().to(bind_account)));
}

/// Register a user. The username and the email must both be unused.
/// `POST /add-user` is the same operation.
#[utoipa::path(
    post, path = "/add_user", tag = "users",
    request_body = AddUserRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,126}[!-~])?$", description = "1 to 128 printable characters. A retry with the same key and body within 24 hours gets the first answer (with `Idempotent-Replayed: true`) and writes nothing; a different body under the key is a 422 IDEMPOTENCY_KEY_REUSED.")),
    security(("bearer" = [])),
    responses(
        RouteErrors, BodyErrors,
        (status = 201, description = "User created", body = Envelope<UserView>, links(
            ("GetUser" = (operation_id = "get_user", parameters(("username" = "$response.body#/data/Username")))),
            ("PlaceOrder" = (operation_id = "place_order",
                request_body = json!({"username": "$response.body#/data/Username", "amount": 5.5, "numItems": 2}),
            )),
            ("EditAddress" = (operation_id = "edit_address", parameters(("username" = "$response.body#/data/Username")))),
            ("DeleteUser" = (operation_id = "delete_user", parameters(("username" = "$response.body#/data/Username")))),
            ("BindAccount" = (operation_id = "bind_account",
                parameters(("username" = "$response.body#/data/Username")),
                request_body = json!({"sub": "c8e1b2f0-7f6a-4c1e-9a55-0d3f2b9f1a11"}),
            )),
        )),
        (status = 403, description = "FORBIDDEN: the token's user may not act on this user's data; EMAIL_NOT_VERIFIED: a customer registers with an ID token whose verified email is the body's", body = ErrorBody),
        (status = 409, description = "USERNAME_TAKEN or EMAIL_TAKEN (details.conflicts lists both when both are taken)", body = ErrorBody),
        (status = 422, description = "Invalid field, or IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
    )
)]
pub async fn add_user(
    request: HttpRequest,
    store: web::Data<Store>,
    caller: Caller,
    JsonBody(body): JsonBody<AddUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_user = NewUser {
        email: field("email", body.email)?,
        name: field("name", body.name)?,
        username: field::<NewUsername>("username", body.username)?,
    };
    let access = allow(caller.profile_access(new_user.username.as_username()))?;
    if !caller.may_register_email(&new_user.email) {
        return Err(ApiError::EmailNotVerified);
    }
    let key = idempotency_key(&request)?;
    let scoped = key.as_ref().map(|key| ScopedKey {
        caller: caller.idempotency_scope(),
        key,
    });
    let registered = store.register(new_user, &access, scoped).await?;
    let user = registered.value;
    let message = format!("User {} added successfully", user.username);
    Ok(created(registered.replayed).json(Envelope::new(message, UserView::from(user))))
}

/// Fetch a user's profile.
#[utoipa::path(
    get, path = "/users/{username}", tag = "users",
    params(("username" = String, Path, example = "john", min_length = 1, max_length = 253, description = "A stored username. New names follow the registration rules; a name the replaced system stored may hold any other characters, percent-encoded in a path.")),
    security(("bearer" = [])),
    responses(
        RouteErrors,
        (status = 200, description = "The profile", body = Envelope<UserView>),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid username", body = ErrorBody),
    )
)]
pub async fn get_user(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username: Username = field("username", Some(path.as_str()))?;
    // Checked before the lookup: a 403 must not tell whether the user exists.
    let access = allow(caller.profile_access(&username))?;
    let user = store.user(&username, &access).await?;
    Ok(HttpResponse::Ok().json(Envelope::new(
        "User fetched successfully",
        UserView::from(user),
    )))
}

/// Add or replace a user's address. Never creates a user.
#[utoipa::path(
    post, path = "/edit-address", tag = "users",
    params(EditAddressQuery),
    security(("bearer" = [])),
    responses(
        RouteErrors,
        (status = 200, description = "The updated profile", body = Envelope<UserView>),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid or missing parameter", body = ErrorBody),
    )
)]
pub async fn edit_address(
    store: web::Data<Store>,
    caller: Caller,
    query: web::Query<EditAddressQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let username: Username = field("username", query.username)?;
    let access = allow(caller.profile_access(&username))?;
    let address: Address = field("new_address", query.new_address)?;
    let user = store.set_address(&username, &address, &access).await?;
    let message = format!("Address of user {} updated successfully", user.username);
    Ok(HttpResponse::Ok().json(Envelope::new(message, UserView::from(user))))
}

/// Delete a user with their email reservation and all their orders. The
/// username and email can then be registered again, with no orders.
#[utoipa::path(
    delete, path = "/users/{username}", tag = "users",
    params(("username" = String, Path, example = "john", min_length = 1, max_length = 253, description = "A stored username. New names follow the registration rules; a name the replaced system stored may hold any other characters, percent-encoded in a path.")),
    security(("bearer" = [])),
    responses(
        RouteErrors,
        (status = 200, description = "Deleted", body = Envelope<DeletedUser>),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid username", body = ErrorBody),
    )
)]
pub async fn delete_user(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username: Username = field("username", Some(path.as_str()))?;
    let access = allow(caller.profile_access(&username))?;
    store.delete_user(&username, &access).await?;
    let message = format!("User {username} deleted successfully");
    let deleted = DeletedUser {
        username: username.to_string(),
    };
    Ok(HttpResponse::Ok().json(Envelope::new(message, deleted)))
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"sub": "c8e1b2f0-7f6a-4c1e-9a55-0d3f2b9f1a11"}))]
pub struct BindAccountRequest {
    /// The account's `sub` (Cognito: `aws cognito-idp admin-get-user`).
    #[schema(value_type = String, pattern = r"^[!-~]{1,128}$")]
    sub: Option<String>,
}

/// Bind an account to a profile that belongs to none (admins only). A
/// customer of the replaced system claims their profile themselves with an
/// ID token whose verified email is the profile's; this is the way for one
/// whose stored email no token can prove (mistyped, or not an address).
#[utoipa::path(
    put, path = "/users/{username}/account", tag = "users",
    params(("username" = String, Path, example = "john", min_length = 1, max_length = 253, description = "A stored username. New names follow the registration rules; a name the replaced system stored may hold any other characters, percent-encoded in a path.")),
    request_body = BindAccountRequest,
    security(("bearer" = [])),
    responses(
        RouteErrors, BodyErrors,
        (status = 200, description = "Bound (or bound to this account already)", body = Envelope<UserView>),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "ACCOUNT_ALREADY_BOUND: the profile belongs to another account", body = ErrorBody),
        (status = 422, description = "Invalid username or sub", body = ErrorBody),
    )
)]
pub async fn bind_account(
    store: web::Data<Store>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<BindAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    if !caller.may_bind_accounts() {
        return Err(ApiError::Forbidden);
    }
    let username: Username = field("username", Some(path.as_str()))?;
    let account: AccountId = field("sub", body.sub)?;
    let user = store.bind_account(&username, &account).await?;
    let message = format!(
        "User {} belongs to account {}",
        user.username,
        account.as_str()
    );
    Ok(HttpResponse::Ok().json(Envelope::new(message, UserView::from(user))))
}
