//! The one place where failures become HTTP responses. Clients get a stable
//! code and a clear message; internal causes go to the log, never the body.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::admission::Verdict;
use crate::auth::AuthError;
use crate::domain::{OrderStatus, ParseError, StoredStatus};
use crate::store::StoreError;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("Request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("Query string is malformed: {0}")]
    MalformedQuery(String),
    #[error("nextToken is not a token this service issued")]
    InvalidPageToken,
    #[error("Request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("Request headers are larger than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("The request body did not arrive in time")]
    RequestTimeout,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("Invalid {field}: {reason}")]
    Validation { field: String, reason: String },
    #[error("{}", taken_message(*username, *email))]
    Taken { username: bool, email: bool },
    #[error("User not found")]
    UserNotFound,
    #[error("Order not found")]
    OrderNotFound,
    #[error("This Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("An order cannot move from {from} to {to}")]
    InvalidTransition { from: StoredStatus, to: OrderStatus },
    #[error("The profile belongs to an account already")]
    AlreadyBound,
    #[error("Authentication required: {0}")]
    Unauthorized(AuthError),
    #[error("The token's user may not do this")]
    Forbidden,
    #[error("Registering needs an ID token whose verified email is the one registered")]
    EmailNotVerified,
    #[error("No such route")]
    RouteNotFound,
    #[error("Method not allowed on this route")]
    MethodNotAllowed { allow: &'static str },
    #[error("The service is temporarily unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    /// Refused before any work: the service is past what it can answer in
    /// time. Clients are told to wait `retry_after` seconds.
    #[error("The service is overloaded; retry later")]
    Overloaded { retry_after: u64 },
    /// The caller's token bucket is empty (`admission::callers`).
    #[error("Too many requests from this caller; retry later")]
    RateLimited(Verdict),
    /// The client went away before a write started: nobody reads this
    /// answer, but the log and the metrics do.
    #[error("The client closed the request")]
    ClientGone,
    /// The table lacks an index this route reads (or it is still being
    /// built): said plainly, never a 500; `/health/ready` names it too.
    #[error("The table lacks what the service needs")]
    TableNotReady(Vec<String>),
    #[error(
        "The table's index {0} is missing or still being built; this route is unavailable until it is ACTIVE"
    )]
    IndexUnavailable(&'static str),
    /// A 500 that says what it is: the data, not the service, is at fault
    /// (the item is logged with its key and counted in `UnreadableItems`).
    #[error("The stored {kind} cannot be read; it has been reported to the operators")]
    UnreadableItem { kind: &'static str },
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

fn taken_message(username: bool, email: bool) -> &'static str {
    match (username, email) {
        (true, true) => "Username and email are already registered",
        (true, false) => "Username is already registered",
        _ => "Email is already registered",
    }
}

impl ApiError {
    /// A validation failure of the named input field.
    pub fn invalid(field: &str) -> impl FnOnce(ParseError) -> ApiError + '_ {
        move |error| ApiError::Validation {
            field: field.to_owned(),
            reason: error.reason,
        }
    }

    pub fn missing(field: &str) -> ApiError {
        ApiError::Validation {
            field: field.to_owned(),
            reason: "is required".to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "MALFORMED_JSON",
            ApiError::MalformedQuery(_) => "MALFORMED_QUERY",
            ApiError::InvalidPageToken => "INVALID_PAGE_TOKEN",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::RequestTimeout => "REQUEST_TIMEOUT",
            ApiError::HeadersTooLarge { .. } => "HEADERS_TOO_LARGE",
            ApiError::Validation { .. } => "VALIDATION_FAILED",
            ApiError::Taken { username: true, .. } => "USERNAME_TAKEN",
            ApiError::Taken { .. } => "EMAIL_TAKEN",
            ApiError::UserNotFound => "USER_NOT_FOUND",
            ApiError::OrderNotFound => "ORDER_NOT_FOUND",
            ApiError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ApiError::InvalidTransition { .. } => "INVALID_STATUS_TRANSITION",
            ApiError::AlreadyBound => "ACCOUNT_ALREADY_BOUND",
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            ApiError::RouteNotFound => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Overloaded { .. } => "OVERLOADED",
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::ClientGone => "CLIENT_CLOSED_REQUEST",
            ApiError::IndexUnavailable(_) => "INDEX_NOT_READY",
            ApiError::TableNotReady(_) => "TABLE_NOT_READY",
            ApiError::UnreadableItem { .. } => "STORED_ITEM_UNREADABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ApiError::Validation { field, reason } => {
                Some(json!({ "field": field, "reason": reason }))
            }
            ApiError::Taken { username, email } => {
                let conflicts: Vec<&str> = [(*username, "USERNAME_TAKEN"), (*email, "EMAIL_TAKEN")]
                    .into_iter()
                    .filter_map(|(taken, code)| taken.then_some(code))
                    .collect();
                Some(json!({ "conflicts": conflicts }))
            }
            ApiError::InvalidTransition { from, to } => {
                Some(json!({ "from": from.as_str(), "to": to.as_str() }))
            }
            ApiError::TableNotReady(problems) => Some(json!({ "problems": problems })),
            _ => None,
        }
    }
}

/// What every users and orders route may answer besides its own answers:
/// declared once for the API document (the answers themselves are
/// `ApiError`s, so the variants are never built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum RouteErrors {
    /// UNAUTHORIZED: a missing or invalid bearer token (AUTH_MODE=jwt).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// FORBIDDEN: the token's account may not act on this data.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// RATE_LIMITED: the caller's token bucket is empty; see Retry-After, and the RateLimit and RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers), which every answer of these routes carries while rate limiting is on.
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// SERVICE_UNAVAILABLE: storage throttled, unreachable or overloaded; OVERLOADED: refused before any work, the service is past what it can answer in time; INDEX_NOT_READY: the table lacks an index the route reads (see /health/ready); see Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What every route with a JSON body may answer about the body itself, for
/// the API document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// MALFORMED_JSON: the body is not JSON.
    #[response(status = 400)]
    Malformed(ErrorBody),
    /// PAYLOAD_TOO_LARGE: a body over 16 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// UNSUPPORTED_MEDIA_TYPE: a Content-Type other than JSON.
    #[response(status = 415)]
    NotJson(ErrorBody),
}

/// Every error response: `{"message","success":false,"status","error":{"code","details"?}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Order not found")]
    pub message: String,
    #[schema(example = false)]
    pub success: bool,
    #[schema(example = 404)]
    pub status: u16,
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code.
    #[schema(example = "ORDER_NOT_FOUND")]
    pub code: String,
    /// Specifics: the invalid field, the conflicting keys, or the refused move.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_)
            | ApiError::MalformedQuery(_)
            | ApiError::InvalidPageToken => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Validation { .. } | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Taken { .. }
            | ApiError::InvalidTransition { .. }
            | ApiError::AlreadyBound => StatusCode::CONFLICT,
            ApiError::UserNotFound | ApiError::OrderNotFound | ApiError::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::EmailNotVerified => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            // nginx's code for it: never sent (the client is gone), logged.
            ApiError::ClientGone => {
                StatusCode::from_u16(499).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::Unavailable(_)
            | ApiError::Overloaded { .. }
            | ApiError::IndexUnavailable(_)
            | ApiError::TableNotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::UnreadableItem { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = ErrorBody {
            message: self.to_string(),
            success: false,
            status: status.as_u16(),
            error: ErrorDetail {
                code: self.code().to_owned(),
                details: self.details(),
            },
        };
        let mut response = HttpResponse::build(status);
        if let ApiError::Overloaded { retry_after } = self {
            response.insert_header((header::RETRY_AFTER, *retry_after));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        if let ApiError::RateLimited(verdict) = self {
            response.insert_header((header::RETRY_AFTER, whole_seconds(verdict.reset)));
            for field in rate_limit_fields(verdict) {
                response.insert_header(field);
            }
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        if let ApiError::Unauthorized(error) = self {
            response.insert_header((header::WWW_AUTHENTICATE, www_authenticate(error)));
        }
        response.json(body)
    }
}

/// The `RateLimit-Policy` and `RateLimit` fields of
/// draft-ietf-httpapi-ratelimit-headers-10 (a quota `q` over a window `w`
/// seconds; `r` left, restored in `t` seconds): on every admitted answer of
/// a rate-limited route, and on its 429s.
pub fn rate_limit_fields(verdict: &Verdict) -> [(&'static str, String); 2] {
    let quota = verdict.quota;
    let window = quota.burst.div_ceil(quota.per_second.max(1));
    let name = verdict.tier.as_str();
    [
        (
            "ratelimit-policy",
            format!(r#""{name}";q={};w={window}"#, quota.burst),
        ),
        (
            "ratelimit",
            format!(
                r#""{name}";r={};t={}"#,
                verdict.remaining,
                whole_seconds(verdict.reset)
            ),
        ),
    ]
}

/// Whole seconds, rounded up (`Retry-After` and `t` take no fractions), at
/// least one when anything is left to wait.
fn whole_seconds(duration: std::time::Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// RFC 6750's challenge (section 3.1): no error code when the request
/// carried no credentials, `invalid_request` when the Authorization header
/// is not a usable bearer token, `invalid_token` when the token itself was
/// refused.
fn www_authenticate(error: &AuthError) -> String {
    const REALM: &str = r#"Bearer realm="ecommerce-service""#;
    let code = match error {
        AuthError::Missing => return REALM.to_owned(),
        AuthError::Malformed => "invalid_request",
        _ => "invalid_token",
    };
    format!(r#"{REALM}, error="{code}", error_description="{error}""#)
}

/// The log shows the whole cause chain; the client sees only the message.
impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::KeysUnavailable(source) => ApiError::Unavailable(source),
            other => ApiError::Unauthorized(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Taken { username, email } => ApiError::Taken { username, email },
            StoreError::UserNotFound => ApiError::UserNotFound,
            StoreError::OrderNotFound => ApiError::OrderNotFound,
            StoreError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            StoreError::InvalidTransition { from, to } => ApiError::InvalidTransition { from, to },
            StoreError::InvalidPageToken => ApiError::InvalidPageToken,
            StoreError::Forbidden => ApiError::Forbidden,
            StoreError::AlreadyBound => ApiError::AlreadyBound,
            error @ (StoreError::Unclaimed | StoreError::Claimable(_)) => {
                ApiError::Internal(error.into())
            }
            StoreError::Unavailable(source) => ApiError::Unavailable(source),
            StoreError::IndexUnavailable(index) => ApiError::IndexUnavailable(index),
            StoreError::TableNotReady(problems) => ApiError::TableNotReady(problems),
            StoreError::Unreadable { kind, .. } => ApiError::UnreadableItem { kind },
            StoreError::ClientGone => ApiError::ClientGone,
            StoreError::Internal(source) => ApiError::Internal(source),
        }
    }
}
