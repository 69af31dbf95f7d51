//! The caller of a request, from its `Authorization` header. Handlers take a
//! `Caller` argument, so a route cannot forget to authenticate, and check
//! what the caller may do before they touch the store.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::error::ApiError;
use crate::auth::{Authenticator, Caller};
use crate::domain::Access;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Verified already by the caller's rate limit (`admission`).
        if let Some(caller) = request.extensions().get::<Caller>().cloned() {
            return Box::pin(async move { Ok(caller) });
        }
        let authenticator = request
            .app_data::<web::Data<Authenticator>>()
            .map(|data| data.get_ref().clone());
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes().to_vec());
        Box::pin(async move {
            let authenticator = authenticator.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("no authenticator configured"))
            })?;
            Ok(authenticator.caller(authorization.as_deref()).await?)
        })
    }
}

/// The access a rule granted, or 403.
pub fn allow(granted: Option<Access>) -> Result<Access, ApiError> {
    granted.ok_or(ApiError::Forbidden)
}
