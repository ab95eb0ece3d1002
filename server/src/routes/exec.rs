//! `POST /v1/execute`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use warden_api::{ErrorCode, ExecuteRequest};

use super::Caller;
use crate::body::ApiJson;
use crate::error::retry_after_value;
use crate::state::Shared;

/// Run code: the `ExecutionReport`, with the status of its error code (200
/// when it produced an output). The call stops when the client goes away.
pub async fn execute(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(request): ApiJson<ExecuteRequest>,
) -> Response {
    let ceiling = state.ceiling_for(&caller);
    let report = state
        .controller
        .execute_within(request, &ceiling)
        .await
        .report();
    let status = report
        .error
        .as_ref()
        .map(|e| StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::OK))
        .unwrap_or(StatusCode::OK);
    let busy = report
        .error
        .as_ref()
        .is_some_and(|e| e.code == ErrorCode::Busy);
    let mut response = (status, Json(report)).into_response();
    if busy {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            retry_after_value(std::time::Duration::from_secs(1)),
        );
    }
    response
}
