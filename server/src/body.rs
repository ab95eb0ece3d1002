//! Request bodies: JSON read through `warden_api::from_json` (errors name
//! the field), and raw bytes; an oversized body is `INPUT_TOO_LARGE` (413)
//! with the limit, never a bare text answer.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use warden_api::ErrorCode;

use crate::error::ApiError;

/// The most bytes a request body may have (set by the server's
/// `DefaultBodyLimit`; kept here to name it in the error).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn body_error(e: axum::extract::rejection::BytesRejection, limit: Option<usize>) -> ApiError {
    use axum::extract::rejection::BytesRejection;
    let too_large = matches!(&e, BytesRejection::FailedToBufferBody(inner)
        if std::error::Error::source(inner)
            .is_some_and(|s| s.to_string().contains("length limit")))
        || e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
    if too_large {
        let mut err = ApiError::new(
            ErrorCode::InputTooLarge,
            "the request body is larger than the server accepts",
        );
        if let Some(limit) = limit {
            err = err.with("limit_bytes", limit as u64);
        }
        err
    } else {
        ApiError::invalid(format!("reading the request body: {e}"))
    }
}

/// The raw body, with the size limit's error typed.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| body_error(e, limit))
    }
}

/// A JSON body of type `T`: bad JSON or a wrong field is `INVALID_INPUT`
/// naming the path (`config.limits.timeout: …`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parse a JSON body.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::invalid(format!("the body is not UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(ApiError::invalid("the body is empty; expected JSON"));
    }
    warden_api::from_json(text).map_err(|e| {
        ApiError::invalid(format!("the body is not a valid request: {e}"))
            .with("path", e.path.clone())
    })
}
