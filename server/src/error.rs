//! Every failure of the API as one JSON shape, `{ "error": ErrorBody }`, with
//! the HTTP status from [`ErrorCode::http_status`] (so the CLI's exit codes,
//! the Node error classes and the server's statuses all come from one
//! table), and `Retry-After` when trying again later can help.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use warden_api::{ErrorBody, ErrorCode};

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What went wrong, on the wire.
    pub body: ErrorBody,
    /// When to try again (`Retry-After`, whole seconds rounded up).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            body: ErrorBody::new(code, message),
            retry_after: None,
        }
    }

    /// Add one detail.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.body = self.body.with(key, value);
        self
    }

    /// Say when to try again.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// A `NOT_FOUND` for `kind` `id` (also what another token's ids get).
    pub fn not_found(kind: &str, id: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("no {kind} `{id}`"))
            .with("kind", kind)
            .with("id", id)
    }

    /// `INVALID_INPUT`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidInput, message)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.body.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<ErrorBody> for ApiError {
    fn from(body: ErrorBody) -> Self {
        let retry_after = (body.code == ErrorCode::Busy).then_some(Duration::from_secs(1));
        ApiError { body, retry_after }
    }
}

impl From<warden_host::Error> for ApiError {
    fn from(e: warden_host::Error) -> Self {
        ApiError::from(e.body())
    }
}

impl From<warden_api::OverCeiling> for ApiError {
    fn from(e: warden_api::OverCeiling) -> Self {
        ApiError::from(ErrorBody::from(&e))
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub(crate) fn retry_after_value(after: Duration) -> HeaderValue {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response =
            (status, Json(serde_json::json!({ "error": self.body }))).into_response();
        if let Some(after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value(after));
        }
        response
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;
