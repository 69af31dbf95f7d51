//! Request extractors that turn transport failures into `ApiError`s naming
//! what was wrong.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::{IdempotencyKey, ParseError};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How long reading a request body may take, from the first byte awaited.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// A JSON request body of at most [`MAX_BODY_BYTES`]. Syntax errors are a
/// 400; a value of the wrong shape is a 422 naming the offending field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(request);
        let declared_length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let mut payload = payload.take();
        let timeout = request
            .app_data::<web::Data<BodyTimeout>>()
            .map_or(Duration::from_secs(10), |limit| limit.0);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType);
            }
            let too_large = ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            };
            if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
                return Err(too_large);
            }
            let read = async {
                let mut body = Vec::with_capacity(declared_length.unwrap_or(256));
                while let Some(chunk) = payload.next().await {
                    let chunk =
                        chunk.map_err(|error| ApiError::MalformedJson(error.to_string()))?;
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(too_large);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            };
            let body = tokio::time::timeout(timeout, read)
                .await
                .map_err(|_| ApiError::RequestTimeout)??;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// No Content-Type is taken as JSON (as curl without `-H` sends it, the
/// original service accepted that); any other type is refused.
fn is_json(request: &HttpRequest) -> bool {
    if request.headers().get(header::CONTENT_TYPE).is_none() {
        return true;
    }
    match request.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// Every body of this API is a JSON object. serde would also fill a struct
/// from an array, so anything else is refused before it gets the chance.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let starts_as_object = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|&byte| byte == b'{');
    if !starts_as_object {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => ApiError::Validation {
                    field: "body".to_owned(),
                    reason: "must be a JSON object".to_owned(),
                },
                Err(error) => ApiError::MalformedJson(error.to_string()),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Validation {
                field: path,
                reason: data_error_reason(&inner),
            },
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    Ok(value)
}

/// serde's message without its "at line 1 column 9" suffix.
fn data_error_reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(position) => message[..position].to_owned(),
        None => message,
    }
}

/// A required input, parsed into its domain type: a 422 naming `name` when
/// it is missing or invalid.
pub fn field<T>(name: &str, raw: Option<impl AsRef<str>>) -> Result<T, ApiError>
where
    T: FromStr<Err = ParseError>,
{
    let raw = raw.ok_or_else(|| ApiError::missing(name))?;
    raw.as_ref().parse().map_err(ApiError::invalid(name))
}

/// An optional input: absent stays absent, present must parse.
pub fn optional_field<T>(name: &str, raw: Option<impl AsRef<str>>) -> Result<Option<T>, ApiError>
where
    T: FromStr<Err = ParseError>,
{
    raw.map(|raw| raw.as_ref().parse().map_err(ApiError::invalid(name)))
        .transpose()
}

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Set on an answer that repeats an earlier placement under the same key.
const REPLAYED_HEADER: &str = "Idempotent-Replayed";

pub fn idempotency_key(request: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let raw = value.to_str().map_err(|_| ApiError::Validation {
        field: IDEMPOTENCY_HEADER.into(),
        reason: "must be printable ASCII".into(),
    })?;
    field(IDEMPOTENCY_HEADER, Some(raw)).map(Some)
}

/// `201 Created`, marked when it repeats an earlier write's answer.
pub fn created(replayed: bool) -> actix_web::HttpResponseBuilder {
    let mut response = actix_web::HttpResponse::Created();
    if replayed {
        response.insert_header((REPLAYED_HEADER, "true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Probe {
        #[allow(dead_code)]
        name: Option<String>,
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in [
            &b"{"[..],
            b"{\"name\":}",
            b"{} trailing",
            b"",
            &[0xff, 0xfe],
        ] {
            let error = parse_json::<Probe>(body).unwrap_err();
            assert_eq!(error.code(), "MALFORMED_JSON", "{body:?}");
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        match parse_json::<Probe>(br#"{"name": 5}"#).unwrap_err() {
            ApiError::Validation { field, .. } => assert_eq!(field, "name"),
            other => panic!("unexpected {other:?}"),
        }
        match parse_json::<Probe>(b"[1]").unwrap_err() {
            ApiError::Validation { field, .. } => assert_eq!(field, "body"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
